// Logins must equal logouts also when a client pipelines requests on one connection and then hangs up: the
// responses queued behind the first one never emit 'close', but their connection does.
import { connect } from 'node:net'
import type { AddressInfo } from 'node:net'
import Fastify from 'fastify'
import type { FastifyInstance } from 'fastify'
import basicAuth from '@fastify/basic-auth'
import t from 'tap'
import type { Test } from 'tap'
import cred, { Portal, SimpleRealm, portalValidate } from '../../lib/index.js'
import { AnonymousChecker, MemoryChecker } from '../../lib/checkers/index.js'
import { formatBasic } from '../../lib/http/index.js'
import { IUser } from '../helpers/app.js'

const QUEUED = 30

async function eventually (predicate: () => boolean, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error('condition not reached in time')
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

interface Counted {
  readonly realm: SimpleRealm
  logins: number
  logouts: number
}

function countingRealm (): Counted {
  const counted = { logins: 0, logouts: 0 } as Counted
  Object.assign(counted, {
    realm: new SimpleRealm().serve(IUser, (id) => { counted.logins++; return { name: String(id) } }, () => { counted.logouts++ })
  })
  return counted
}

/**
 * One connection: a request to /slow (whose handler waits), then QUEUED more pipelined behind it, all in one
 * write; once every login happened, the client hangs up.
 */
async function pipelineThenHangUp (app: FastifyInstance, counted: Counted, headers: string, started: Promise<void>): Promise<void> {
  const port = (app.server.address() as AddressInfo).port
  const socket = connect({ host: '127.0.0.1', port })
  socket.on('error', () => {})
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()))
  const request = (path: string): string => `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n${headers}\r\n`
  socket.write(request('/slow') + Array.from({ length: QUEUED }, () => request('/whoami')).join(''))
  await started
  await eventually(() => counted.logins === QUEUED + 1)
  socket.destroy()
}

/**
 * Listens with a `/slow` route held until `release()` and a `/whoami` route; closes the app when `t` ends.
 * `handlerStarted` settles once `/slow`'s handler runs.
 */
async function listen (t: Test, app: FastifyInstance): Promise<{ release: () => void, handlerStarted: Promise<void> }> {
  let release!: () => void
  const released = new Promise<void>((resolve) => { release = resolve })
  let started!: () => void
  const handlerStarted = new Promise<void>((resolve) => { started = resolve })
  app.get('/slow', async () => { started(); await released; return 'slow' })
  app.get('/whoami', async (request) => ({ avatarId: request.avatarId }))
  await app.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(async () => { release(); await app.close() })
  return { release, handlerStarted }
}

for (const [what, headers, anonymous] of [
  ['Basic', `Authorization: ${formatBasic('alice', 'wonderland')}\r\n`, false],
  ['anonymous access, no credentials at all', '', true]
] as const) {
  t.test(`the plugin, ${what}: every login pipelined on a connection the client closed is logged out once`, async (t) => {
    const counted = countingRealm()
    const checkers = anonymous ? [new AnonymousChecker()] : [new MemoryChecker({ alice: 'wonderland' })]
    const app = Fastify()
    await app.register(cred, { realm: counted.realm, checkers, interfaces: [IUser] })
    const { release, handlerStarted } = await listen(t, app)
    await pipelineThenHangUp(app, counted, headers, handlerStarted)
    await eventually(() => counted.logouts === counted.logins)
    t.equal(counted.logins, QUEUED + 1)
    t.equal(counted.logouts, counted.logins, 'logins == logouts')
    release()
    await new Promise((resolve) => setTimeout(resolve, 30))
    t.equal(counted.logouts, counted.logins, 'and none twice once the slow handler finishes')
  })
}

t.test('portalValidate behind @fastify/basic-auth: the same for pipelined requests', async (t) => {
  const counted = countingRealm()
  const app = Fastify()
  app.decorateRequest('avatar', null)
  app.decorateRequest('avatarId', null)
  app.decorateRequest('avatarInterface', null)
  await app.register(basicAuth, { validate: portalValidate(new Portal(counted.realm, [new MemoryChecker({ alice: 'wonderland' })]), [IUser]) })
  app.addHook('onRequest', app.basicAuth)
  const { handlerStarted } = await listen(t, app)
  await pipelineThenHangUp(app, counted, `Authorization: ${formatBasic('alice', 'wonderland')}\r\n`, handlerStarted)
  await eventually(() => counted.logouts === counted.logins)
  t.equal(counted.logins, QUEUED + 1)
  t.equal(counted.logouts, counted.logins, 'logins == logouts')
})

t.test('keep-alive connections do not collect listeners: many requests, one connection listener', async (t) => {
  const counted = countingRealm()
  const app = Fastify()
  await app.register(cred, { realm: counted.realm, checkers: [new MemoryChecker({ alice: 'wonderland' })], interfaces: [IUser] })
  let socketListeners = -1
  app.get('/whoami', async (request) => { socketListeners = request.raw.socket.listenerCount('close'); return 'ok' })
  await app.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(() => app.close())
  const port = (app.server.address() as AddressInfo).port
  const socket = connect({ host: '127.0.0.1', port })
  t.teardown(() => socket.destroy())
  const seen: number[] = []
  let buffered = ''
  socket.on('data', (chunk: Buffer) => { buffered += chunk.toString('latin1') })
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()))
  for (let i = 0; i < 20; i++) {
    const before = buffered.length
    socket.write(`GET /whoami HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: ${formatBasic('alice', 'wonderland')}\r\n\r\n`)
    await eventually(() => buffered.length > before && buffered.endsWith('ok'))
    seen.push(socketListeners)
  }
  t.equal(new Set(seen).size, 1, `the connection's 'close' listeners stay constant (${seen[0]})`)
  await eventually(() => counted.logouts === 20)
  t.equal(counted.logins, 20)
})
