import { request as httpRequest } from 'node:http'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { IUsernamePassword, SimpleRealm, UnauthorizedLogin } from '../../lib/index.js'
import type { CredentialsChecker } from '../../lib/index.js'
import { IUser, basic, buildApp } from '../helpers/app.js'

const ALICE = { authorization: basic('alice', 'wonderland') }

/** Resolves once `predicate` holds, polling the event loop; fails the test after `ms`. */
async function eventually (predicate: () => boolean, ms = 2000): Promise<void> {
  const deadline = Date.now() + ms
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error('condition not reached in time')
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

/** Sends a request to a listening app and destroys the socket once the server has started on it. */
async function abortMidRequest (port: number, path: string, started: Promise<void>): Promise<void> {
  const req = httpRequest({ host: '127.0.0.1', port, path, headers: ALICE })
  req.on('error', () => {})
  req.end()
  await started
  req.destroy()
}

t.test('test_logout: logout runs once after a normal response', async (t) => {
  const { app, logouts } = await buildApp()
  const res = await app.inject({ url: '/whoami', headers: ALICE })
  t.equal(res.statusCode, 200)
  await eventually(() => logouts.length > 0)
  t.same(logouts, ['alice'])
  await app.inject({ url: '/whoami', headers: ALICE })
  await eventually(() => logouts.length > 1)
  t.same(logouts, ['alice', 'alice'], 'once per request')
})

t.test('test_logoutOnError: the handler throws, the client gets 500, logout still runs once', async (t) => {
  const { app, logouts } = await buildApp()
  const res = await app.inject({ url: '/boom', headers: ALICE })
  t.equal(res.statusCode, 500)
  await eventually(() => logouts.length > 0)
  await new Promise((resolve) => setTimeout(resolve, 20))
  t.same(logouts, ['alice'])
})

t.test('no logout for refused requests (nothing was handed out)', async (t) => {
  const { app, logouts } = await buildApp()
  await app.inject({ url: '/whoami', headers: { authorization: basic('alice', 'no') } })
  await app.inject({ url: '/whoami' })
  await new Promise((resolve) => setTimeout(resolve, 20))
  t.same(logouts, [])
})

t.test('the client aborts while the handler runs: logout runs exactly once', async (t) => {
  const { app, logouts } = await buildApp()
  let handlerStarted!: () => void
  const started = new Promise<void>((resolve) => { handlerStarted = resolve })
  let release!: () => void
  const released = new Promise<void>((resolve) => { release = resolve })
  app.get('/slow', async (request) => {
    handlerStarted()
    await released
    return { avatarId: request.avatarId }
  })
  await app.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(() => app.close())
  await abortMidRequest((app.server.address() as AddressInfo).port, '/slow', started)
  await eventually(() => logouts.length > 0)
  t.same(logouts, ['alice'], 'logged out when the client went away, before the handler finished')
  release()
  await new Promise((resolve) => setTimeout(resolve, 50))
  t.same(logouts, ['alice'], 'and not again when the handler finishes')
})

t.test('the client aborts while an async checker is still deciding: logout runs once the login completes', async (t) => {
  let checkerStarted!: () => void
  const started = new Promise<void>((resolve) => { checkerStarted = resolve })
  let answer!: () => void
  const answered = new Promise<void>((resolve) => { answer = resolve })
  const slowChecker: CredentialsChecker<IUsernamePassword> = {
    credentialInterfaces: [IUsernamePassword],
    requestAvatarId: async (creds) => {
      checkerStarted()
      await answered
      if (!creds.checkPassword('wonderland')) throw new UnauthorizedLogin('no')
      return creds.username
    }
  }
  const { app, logouts } = await buildApp({ checkers: [slowChecker] })
  let handled = 0
  app.get('/counted', async () => { handled++; return 'ok' })
  await app.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(() => app.close())
  await abortMidRequest((app.server.address() as AddressInfo).port, '/counted', started)
  await new Promise((resolve) => setTimeout(resolve, 30))
  t.same(logouts, [], 'nothing to log out yet')
  answer()
  await eventually(() => logouts.length > 0)
  await new Promise((resolve) => setTimeout(resolve, 30))
  t.same(logouts, ['alice'], 'the late avatar is logged out exactly once')
  t.equal(handled, 0, 'a login whose client is gone never reaches the handler')
})

t.test('a logout that throws or rejects is logged, and the server carries on', async (t) => {
  const throwing = await buildApp({ realm: new SimpleRealm().serve(IUser, (id) => ({ name: String(id) }), () => { throw new Error('logout sync failure') }) })
  t.equal((await throwing.app.inject({ url: '/whoami', headers: ALICE })).statusCode, 200)
  await eventually(() => throwing.logs.lines.some((l) => l.level === 50 && JSON.stringify(l).includes('logout sync failure')))
  t.equal((await throwing.app.inject({ url: '/whoami', headers: ALICE })).statusCode, 200, 'still serving')

  const rejecting = await buildApp({ realm: new SimpleRealm().serve(IUser, (id) => ({ name: String(id) }), async () => { throw new Error('logout async failure') }) })
  t.equal((await rejecting.app.inject({ url: '/whoami', headers: ALICE })).statusCode, 200)
  await eventually(() => rejecting.logs.lines.some((l) => l.level === 50 && JSON.stringify(l).includes('logout async failure')))
})
