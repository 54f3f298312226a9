// Login events from the HTTP guard, through the plugin (inject): scheme, route and address on each event, the same
// outcome in request.log with its stable fields, no password or Authorization value in any event, and nothing built
// for a request while nobody subscribes.
import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import t from 'tap'
import type { Test } from 'tap'
import { CRED_CHANNELS, Portal, SimpleRealm, StoreUnavailable, IUsernamePassword } from '../../lib/index.js'
import type { CredentialsChecker, LoginFailedEvent, LoginSucceededEvent, LogoutEvent } from '../../lib/index.js'
import { MemoryChecker } from '../../lib/checkers/index.js'
import { BasicScheme, HttpAuthGuard } from '../../lib/http/index.js'
import { MemoryThrottle } from '../../lib/throttle/index.js'
import { IUser, basic, buildApp } from '../helpers/app.js'
import { recordBody, secret } from '../helpers/hygiene.js'

const WRONG = 'not-the-password-42'
secret(WRONG)

/** Subscribes to every login channel for the test; events are kept by channel and given to the hygiene check. */
function listen (t: Test): Record<string, unknown[]> {
  const seen: Record<string, unknown[]> = {}
  for (const name of Object.values(CRED_CHANNELS)) {
    const handler = (message: unknown): void => {
      (seen[name] ??= []).push(message)
      recordBody(`event ${name}`, JSON.stringify(message))
    }
    subscribe(name, handler)
    t.teardown(() => { unsubscribe(name, handler) })
  }
  return seen
}

async function eventually (predicate: () => boolean, ms = 2000): Promise<void> {
  const until = Date.now() + ms
  while (!predicate()) {
    if (Date.now() > until) throw new Error('timed out waiting')
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

t.test('Basic: succeeded with scheme, route pattern and address; logout when the response ends; a debug log line', async (t) => {
  const seen = listen(t)
  const { app, logs } = await buildApp()
  t.teardown(() => app.close())
  app.log.level = 'debug'
  app.get('/users/:id', async () => ({ ok: true }))
  const res = await app.inject({ url: '/users/42?token=abc', headers: { authorization: basic('alice', 'wonderland') } })
  t.equal(res.statusCode, 200)
  const [event] = (seen[CRED_CHANNELS.loginSucceeded] ?? []) as LoginSucceededEvent[]
  t.match(event, { protocol: 'http', scheme: 'basic', route: '/users/:id', client: '127.0.0.1', avatarId: 'alice', interfaceName: 'IUser' })
  await eventually(() => (seen[CRED_CHANNELS.logout]?.length ?? 0) > 0)
  t.match(seen[CRED_CHANNELS.logout]?.[0] as LogoutEvent, { protocol: 'http', scheme: 'basic', route: '/users/:id', avatarId: 'alice' })
  t.ok(logs.lines.some((l) => l.level === 20 && l.avatarId === 'alice' && l.authScheme === 'basic'), 'request.log: avatarId and authScheme at debug')
})

t.test('refusals: failed (wrong password, malformed), throttled, store unavailable; each logged with authScheme and authError', async (t) => {
  const seen = listen(t)
  const { app, logs } = await buildApp({ throttle: new MemoryThrottle({ userThreshold: 2, baseDelay: 60_000 }) })
  t.teardown(() => app.close())
  const wrong = basic('alice', WRONG)
  t.equal((await app.inject({ url: '/whoami', headers: { authorization: wrong } })).statusCode, 401)
  t.equal((await app.inject({ url: '/whoami', headers: { authorization: 'Basic !!!' } })).statusCode, 400)
  t.equal((await app.inject({ url: '/whoami', headers: { authorization: wrong } })).statusCode, 401)
  t.equal((await app.inject({ url: '/whoami', headers: { authorization: basic('alice', 'wonderland') } })).statusCode, 429)
  t.match(seen[CRED_CHANNELS.loginFailed], [
    { protocol: 'http', scheme: 'basic', route: '/whoami', username: 'alice', code: 'ERR_CRED_UNAUTHORIZED', reason: 'credentials' },
    { scheme: 'basic', username: undefined, code: 'ERR_CRED_MALFORMED_CREDENTIALS', reason: 'malformed' },
    { username: 'alice', code: 'ERR_CRED_UNAUTHORIZED' }
  ])
  t.match(seen[CRED_CHANNELS.loginThrottled], [{ protocol: 'http', scheme: 'basic', username: 'alice' }])
  t.notOk(seen[CRED_CHANNELS.loginSucceeded])
  const refused = logs.lines.filter((l) => l.msg === 'fastify-cred: login refused')
  t.match(refused.map((l) => [l.level, l.authScheme, l.authError]), [
    [30, 'basic', 'ERR_CRED_UNAUTHORIZED'], [30, 'basic', 'ERR_CRED_MALFORMED_CREDENTIALS'], [30, 'basic', 'ERR_CRED_UNAUTHORIZED'],
    [30, 'basic', 'ERR_CRED_TOO_MANY_ATTEMPTS']
  ])
  t.notOk(refused.some((l) => JSON.stringify(l).includes('alice')), 'the log names no user tried')
  const events = JSON.stringify(seen)
  t.notMatch(events, WRONG, 'no password in any event')
  t.notOk(events.includes(wrong.slice(6)), 'nor the Authorization value')

  const down: CredentialsChecker = {
    credentialInterfaces: [IUsernamePassword],
    async requestAvatarId () { throw new StoreUnavailable('connect ECONNREFUSED 127.0.0.1:5432') }
  }
  const outage = await buildApp({ checkers: [down] })
  t.teardown(() => outage.app.close())
  t.equal((await outage.app.inject({ url: '/whoami', headers: { authorization: basic('bob', WRONG) } })).statusCode, 503)
  t.match(seen[CRED_CHANNELS.storeUnavailable], [{ protocol: 'http', scheme: 'basic', route: '/whoami', username: 'bob', code: 'ERR_CRED_STORE_UNAVAILABLE' }])
  t.ok(outage.logs.lines.some((l) => l.level === 40 && l.authScheme === 'basic' && l.authError === 'ERR_CRED_STORE_UNAVAILABLE'), 'warned with authError')
})

t.test('a request without credentials is not a login: no event, no log line', async (t) => {
  const seen = listen(t)
  const { app, logs } = await buildApp()
  t.teardown(() => app.close())
  t.equal((await app.inject({ url: '/whoami' })).statusCode, 401)
  t.same(seen, {})
  t.notOk(logs.lines.some((l) => typeof l.msg === 'string' && l.msg.startsWith('fastify-cred')))
})

t.test('nobody subscribed: the guard builds no event (it never asks for the route)', async (t) => {
  let asked = 0
  const realm = new SimpleRealm().serve(IUser, (id) => ({ name: String(id) }))
  const guard = new HttpAuthGuard({
    portal: new Portal(realm, [new MemoryChecker({ alice: 'wonderland' })]),
    schemes: [new BasicScheme('test')],
    interfaces: [IUser],
    routeOf: () => { asked++; return '/r' }
  })
  const request = (password: string) => ({ method: 'GET', url: '/r', ip: '127.0.0.1', headers: { authorization: basic('alice', password) } })
  const accepted = guard.authenticate(request('wonderland'), null)
  t.match(accepted, { kind: 'accepted', scheme: 'basic' })
  t.match(guard.authenticate(request(WRONG), null), { kind: 'refused', status: 401, scheme: 'basic' })
  t.equal(asked, 0, 'no event built')
  const seen = listen(t)
  guard.authenticate(request('wonderland'), null)
  guard.authenticate(request(WRONG), null)
  t.equal(asked, 2, 'one origin per published event')
  t.match(seen[CRED_CHANNELS.loginSucceeded], [{ route: '/r' }])
  t.match(seen[CRED_CHANNELS.loginFailed] as LoginFailedEvent[], [{ route: '/r', reason: 'credentials' }])
})
