// Logout accounting under load: a few thousand requests on 127.0.0.1, from clients that behave, that abort
// mid-request (while the checker decides, while the body uploads, while the handler runs), that pipeline and hang
// up, and against handlers that throw or never answer (the server's connection timeout ends them). Every avatar
// handed out must be logged out exactly once, and nothing else. Seeded, bounded in count and time.
import { request as httpRequest, Agent } from 'node:http'
import { connect } from 'node:net'
import type { AddressInfo } from 'node:net'
import Fastify from 'fastify'
import t from 'tap'
import cred, { IUsernamePassword, SimpleRealm, UnauthorizedLogin } from '../../lib/index.js'
import { MemoryChecker } from '../../lib/checkers/index.js'
import { formatBasic } from '../../lib/http/index.js'
import type { CredentialsChecker } from '../../lib/index.js'
import { IUser } from '../helpers/app.js'

/** mulberry32: a small seeded generator, so a failing mix can be replayed. */
function seeded (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let x = Math.imul(a ^ (a >>> 15), a | 1)
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61)
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296
  }
}
const SEED = Number(process.env.CRED_LOAD_SEED ?? 20261125)
const random = seeded(SEED)
const sleep = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }

const GOOD = formatBasic('alice', 'wonderland')
const WRONG = formatBasic('alice', 'not the password')

t.test(`logins == logouts, each exactly once, under a few thousand mixed requests (seed ${SEED})`, async (t) => {
  let serial = 0
  const loggedIn = new Set<number>()
  const logouts = new Map<number, number>()
  const realm = new SimpleRealm().serve(IUser, (id) => {
    const avatar = { name: String(id), serial: ++serial }
    loggedIn.add(avatar.serial)
    return avatar
  }, (avatar) => {
    const s = (avatar as unknown as { serial: number }).serial
    logouts.set(s, (logouts.get(s) ?? 0) + 1)
  })
  // An asynchronous checker that takes 0–3 ms, so clients also leave while a login is being decided.
  const inner = new MemoryChecker({ alice: 'wonderland' })
  const checker: CredentialsChecker<IUsernamePassword> = {
    credentialInterfaces: [IUsernamePassword],
    requestAvatarId: async (credentials) => {
      await sleep(Math.floor(random() * 4))
      return await inner.requestAvatarId(credentials)
    }
  }
  const app = Fastify({ connectionTimeout: 400, keepAliveTimeout: 400 })
  await app.register(cred, { realm, checkers: [checker], interfaces: [IUser], authenticationRealm: 'load' })
  let release!: () => void
  const never = new Promise<void>((resolve) => { release = resolve })
  app.get('/ok', async (request) => ({ avatarId: request.avatarId }))
  app.get('/boom', async () => { throw new Error('handler failed') })
  app.get('/slow', async () => { await sleep(20 + Math.floor(random() * 30)); return 'slow' })
  app.get('/hang', async () => { await never; return 'never' })
  app.post('/upload', async (request) => ({ size: JSON.stringify(request.body).length }))
  await app.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(async () => { release(); await app.close() })
  const port = (app.server.address() as AddressInfo).port
  const agent = new Agent({ keepAlive: true, maxSockets: 16 })
  t.teardown(() => { agent.destroy() })

  const statuses = new Map<string, number>()
  const count = (what: string): void => { statuses.set(what, (statuses.get(what) ?? 0) + 1) }

  /** A request through the keep-alive agent; `abortAfter` ms later the client gives up, if it has not finished. */
  const get = async (path: string, authorization: string, abortAfter?: number): Promise<void> => {
    await new Promise<void>((resolve) => {
      const req = httpRequest({ host: '127.0.0.1', port, path, agent, headers: { authorization } }, (res) => {
        count(`${path} ${res.statusCode ?? 0}`)
        res.resume()
        res.on('end', resolve)
        res.on('error', () => { resolve() })
        res.on('close', resolve)
      })
      req.on('error', () => { count(`${path} aborted`); resolve() })
      if (abortAfter !== undefined) setTimeout(() => { req.destroy() }, abortAfter)
      req.end()
    })
  }

  /** Raw socket: `requests` pipelined in one write, then a hang-up after `after` ms. */
  const pipelineThenHangUp = async (requests: string[], after: number): Promise<void> => {
    const socket = connect({ host: '127.0.0.1', port })
    socket.on('error', () => {})
    socket.on('data', () => {})
    await new Promise<void>((resolve) => socket.once('connect', () => { resolve() }))
    socket.write(requests.join(''))
    await sleep(after)
    socket.destroy()
    count('pipelined connection')
  }
  const raw = (method: string, path: string, extra = ''): string =>
    `${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: ${GOOD}\r\n${extra}\r\n`

  const jobs: Array<() => Promise<void>> = []
  for (let i = 0; i < 1400; i++) jobs.push(async () => { await get('/ok', GOOD) })
  for (let i = 0; i < 300; i++) jobs.push(async () => { await get('/boom', GOOD) })
  for (let i = 0; i < 300; i++) jobs.push(async () => { await get('/ok', WRONG) })
  for (let i = 0; i < 300; i++) jobs.push(async () => { await get(random() < 0.5 ? '/slow' : '/ok', GOOD, Math.floor(random() * 25)) })
  for (let i = 0; i < 40; i++) jobs.push(async () => { await get('/hang', GOOD) })
  for (let i = 0; i < 200; i++) {
    // The body promised by Content-Length never comes in full: the client hangs up mid-upload.
    jobs.push(async () => {
      await pipelineThenHangUp([raw('POST', '/upload', 'Content-Type: application/json\r\nContent-Length: 1000\r\n') + '{"data":"' + 'x'.repeat(100)], Math.floor(random() * 20))
    })
  }
  for (let i = 0; i < 100; i++) {
    const paths = Array.from({ length: 10 }, () => ['/ok', '/slow', '/boom'][Math.floor(random() * 3)] as string)
    jobs.push(async () => { await pipelineThenHangUp(paths.map((p) => raw('GET', p)), Math.floor(random() * 40)) })
  }
  // Shuffle, then run 32 at a time.
  for (let i = jobs.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    const swap = jobs[i] as () => Promise<void>
    jobs[i] = jobs[j] as () => Promise<void>
    jobs[j] = swap
  }
  t.ok(jobs.length >= 2500, `${jobs.length} clients`)
  let next = 0
  await Promise.all(Array.from({ length: 32 }, async () => {
    while (next < jobs.length) await (jobs[next++] as () => Promise<void>)()
  }))

  // Every connection is closed by now or within the server's connection timeout: wait for the accounts to settle.
  const deadline = Date.now() + 5000
  while (Date.now() < deadline && (loggedIn.size === 0 || [...loggedIn].some((s) => logouts.get(s) !== 1))) await sleep(20)
  await sleep(100) // a second logout would show up now
  t.ok(loggedIn.size >= 1400 + 300, `logins happened (${loggedIn.size})`)
  t.ok(loggedIn.size <= 1400 + 300 + 300 + 40 + 200 + 1000, 'no more logins than requests with good credentials')
  const missing = [...loggedIn].filter((s) => !logouts.has(s))
  const twice = [...logouts].filter(([, n]) => n !== 1)
  const strangers = [...logouts.keys()].filter((s) => !loggedIn.has(s))
  t.same(missing, [], 'every login was logged out')
  t.same(twice, [], 'none twice')
  t.same(strangers, [], 'nothing logged out that was not logged in')
  t.equal([...logouts.values()].reduce((a, b) => a + b, 0), loggedIn.size, 'logins == logouts')
  t.ok((statuses.get('/ok 200') ?? 0) >= 1400, 'the well-behaved clients were answered')
  t.equal(statuses.get('/boom 500'), 300, 'the throwing handler: 500')
  t.equal(statuses.get('/ok 401'), 300, 'wrong passwords: 401, no login')
  t.equal(statuses.get('/hang aborted'), 40, 'the hanging handler: the server\'s connection timeout closed them')
  t.comment(JSON.stringify(Object.fromEntries(statuses)))
})

t.test('refused logins hand out nothing: a wrong password is never logged out', async (t) => {
  let logins = 0
  let logouts = 0
  const app = Fastify()
  await app.register(cred, {
    realm: new SimpleRealm().serve(IUser, (id) => { logins++; return { name: String(id) } }, () => { logouts++ }),
    checkers: [{ credentialInterfaces: [IUsernamePassword], requestAvatarId: async () => { throw new UnauthorizedLogin('no') } }],
    interfaces: [IUser]
  })
  app.get('/ok', async () => 'ok')
  for (let i = 0; i < 50; i++) t.equal((await app.inject({ url: '/ok', headers: { authorization: GOOD } })).statusCode, 401)
  t.equal(logins, 0)
  t.equal(logouts, 0)
})

t.test('Digest auth-int: clients that hang up mid-body (while the plugin reads it before deciding) get no login', async (t) => {
  const { buildApp } = await import('../helpers/app.js')
  const { digestAuthorization, pickDigestChallenge } = await import('../../lib/client/index.js')
  const built = await buildApp({ schemes: ['digest'], digest: { qop: ['auth-int'] } })
  built.app.post('/echo', async (request) => ({ body: request.body }))
  await built.app.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(async () => { await built.app.close() })
  const port = (built.app.server.address() as AddressInfo).port
  const first = await built.app.inject({ method: 'POST', url: '/echo' })
  const challenge = pickDigestChallenge([first.headers['www-authenticate']].flat().join(', '))
  if (challenge === undefined) throw new Error('no challenge')
  const body = Buffer.from(JSON.stringify({ data: 'x'.repeat(5000) }))
  for (let i = 0; i < 50; i++) {
    const authorization = digestAuthorization(challenge, 'alice', 'wonderland', { method: 'POST', uri: '/echo', nc: i + 1, qop: 'auth-int', body }).authorization
    const socket = connect({ host: '127.0.0.1', port })
    socket.on('error', () => {})
    await new Promise<void>((resolve) => socket.once('connect', () => { resolve() }))
    socket.write(`POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: ${authorization}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`)
    socket.write(body.subarray(0, Math.floor(random() * body.length)))
    await sleep(Math.floor(random() * 5))
    socket.destroy()
  }
  const done = await built.app.inject({
    method: 'POST', url: '/echo', payload: body,
    headers: { 'content-type': 'application/json', authorization: digestAuthorization(challenge, 'alice', 'wonderland', { method: 'POST', uri: '/echo', nc: 100, qop: 'auth-int', body }).authorization }
  })
  t.equal(done.statusCode, 200, 'the server carries on')
  await sleep(50)
  t.same(built.logouts, ['alice'], 'only the completed request logged in, and it was logged out once')
})
