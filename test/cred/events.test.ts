// Login events published by the Portal itself, for protocols other than HTTP (a POP3 or SSH server's mind carries
// `protocol` and `address`): each outcome on its channel with its payload, a logout event when the logout runs, and
// nothing read or built while nobody subscribes.
import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import t from 'tap'
import {
  CRED_CHANNELS, LoginDenied, Portal, SimpleRealm, StoreUnavailable, UnauthorizedLogin, UsernamePassword, defineInterface, IUsernamePassword
} from '../../lib/cred/index.js'
import type { CredentialsChecker, LoginFailedEvent, LoginSucceededEvent, LoginThrottledEvent, LogoutEvent, StoreUnavailableEvent } from '../../lib/cred/index.js'
import { MemoryChecker } from '../../lib/checkers/index.js'
import { MemoryThrottle } from '../../lib/throttle/index.js'
import { recordBody, secret } from '../helpers/hygiene.js'

const IUser = defineInterface<{ name: string }>('IUser')
const PASSWORD = 'wonderland'
const WRONG = 'not-the-password-42'
secret(WRONG)

/** Everything published on the five channels while `run` runs, by channel name; kept for the suite's hygiene check. */
async function collect (run: () => Promise<void>): Promise<Record<string, unknown[]>> {
  const seen: Record<string, unknown[]> = {}
  const handlers = Object.values(CRED_CHANNELS).map((name) => {
    const handler = (message: unknown): void => {
      (seen[name] ??= []).push(message)
      recordBody(`event ${name}`, JSON.stringify(message))
    }
    subscribe(name, handler)
    return [name, handler] as const
  })
  try {
    await run()
  } finally {
    for (const [name, handler] of handlers) unsubscribe(name, handler)
  }
  return seen
}

const mind = { protocol: 'pop3', address: '192.0.2.7' }
const logouts: string[] = []
const realm = new SimpleRealm().serve(IUser, (id) => ({ name: String(id) }), (user) => { logouts.push(user.name) })

t.test('a login: succeeded with the avatar id, protocol and address; its logout publishes a logout event', async (t) => {
  const portal = new Portal(realm, [new MemoryChecker({ alice: PASSWORD })])
  const seen = await collect(async () => {
    const login = await portal.login(new UsernamePassword('alice', PASSWORD), mind, IUser)
    t.equal(login.avatar.name, 'alice')
    await login.logout()
  })
  const [event] = (seen[CRED_CHANNELS.loginSucceeded] ?? []) as LoginSucceededEvent[]
  t.match(event, { protocol: 'pop3', client: '192.0.2.7', scheme: undefined, route: undefined, avatarId: 'alice', interfaceName: 'IUser' })
  t.ok(event !== undefined && event.durationMs >= 0, 'with a duration')
  const [logout] = (seen[CRED_CHANNELS.logout] ?? []) as LogoutEvent[]
  t.match(logout, { protocol: 'pop3', client: '192.0.2.7', avatarId: 'alice' })
  t.ok(logout !== undefined && logout.sessionMs >= 0)
  t.same(logouts, ['alice'], 'the realm\'s logout still ran')
  t.notOk(seen[CRED_CHANNELS.loginFailed], 'and nothing failed')
})

t.test('a wrong password: failed, naming the user tried, the code and the reason class, never the password', async (t) => {
  const portal = new Portal(realm, [new MemoryChecker({ alice: PASSWORD })])
  const seen = await collect(async () => {
    await t.rejects(portal.login(new UsernamePassword('alice', WRONG), mind, IUser), UnauthorizedLogin)
  })
  const events = (seen[CRED_CHANNELS.loginFailed] ?? []) as LoginFailedEvent[]
  t.equal(events.length, 1)
  t.match(events[0], { protocol: 'pop3', client: '192.0.2.7', username: 'alice', code: 'ERR_CRED_UNAUTHORIZED', reason: 'credentials' })
  t.notMatch(JSON.stringify(events), WRONG)
})

t.test('the realm refusing, a store down, a checker bug: each on its channel, synchronous or not', async (t) => {
  const down: CredentialsChecker = {
    credentialInterfaces: [IUsernamePassword],
    async requestAvatarId () { throw new StoreUnavailable('the user database is down') }
  }
  const buggy: CredentialsChecker = { credentialInterfaces: [IUsernamePassword], requestAvatarId () { throw new TypeError('oops') } }
  const denying = new SimpleRealm().serve(IUser, () => { throw new LoginDenied('suspended') })
  const seen = await collect(async () => {
    await t.rejects(new Portal(realm, [down]).login(new UsernamePassword('bob', WRONG), mind, IUser), StoreUnavailable)
    await t.rejects(new Portal(realm, [buggy]).login(new UsernamePassword('carol', WRONG), mind, IUser), TypeError)
    await t.rejects(new Portal(denying, [new MemoryChecker({ dave: PASSWORD })]).login(new UsernamePassword('dave', PASSWORD), mind, IUser), LoginDenied)
  })
  t.match(seen[CRED_CHANNELS.storeUnavailable], [{ username: 'bob', code: 'ERR_CRED_STORE_UNAVAILABLE', protocol: 'pop3' }])
  t.match(seen[CRED_CHANNELS.loginFailed], [
    { username: 'carol', code: 'ERR_CRED_INTERNAL', reason: 'error' },
    { username: 'dave', code: 'ERR_CRED_LOGIN_DENIED', reason: 'denied' }
  ])
  t.notOk(seen[CRED_CHANNELS.loginSucceeded], 'a login the realm refused did not succeed')
})

t.test('the throttle refusing: throttled, with the wait', async (t) => {
  const portal = new Portal(realm, [new MemoryChecker({ alice: PASSWORD })], { throttle: new MemoryThrottle({ userThreshold: 1, baseDelay: 60_000 }) })
  const seen = await collect(async () => {
    await t.rejects(portal.login(new UsernamePassword('alice', WRONG), mind, IUser), UnauthorizedLogin)
    await t.rejects(portal.login(new UsernamePassword('alice', PASSWORD), mind, IUser), { code: 'ERR_CRED_TOO_MANY_ATTEMPTS' })
  })
  const [event] = (seen[CRED_CHANNELS.loginThrottled] ?? []) as LoginThrottledEvent[]
  t.match(event, { protocol: 'pop3', client: '192.0.2.7', username: 'alice' })
  t.ok(event !== undefined && event.retryAfter > 0, 'with the seconds to wait')
  t.equal(seen[CRED_CHANNELS.loginFailed]?.length, 1, 'the first, wrong password, failed')
})

t.test('nobody subscribed: the portal reads nothing of the mind and builds no event', async (t) => {
  let reads = 0
  const spied = {
    get protocol () { reads++; return 'pop3' },
    get address () { reads++; return '192.0.2.7' }
  }
  const portal = new Portal(realm, [new MemoryChecker({ alice: PASSWORD })])
  const login = await portal.login(new UsernamePassword('alice', PASSWORD), spied, IUser)
  await t.rejects(portal.login(new UsernamePassword('alice', WRONG), spied, IUser))
  t.equal(reads, 0, 'no event was built')
  const seen = await collect(async () => { await (await portal.login(new UsernamePassword('alice', PASSWORD), spied, IUser)).logout() })
  t.ok(reads > 0, 'with a subscriber the same login reads the mind')
  t.equal(seen[CRED_CHANNELS.loginSucceeded]?.length, 1)
  // A login made while nobody listened for logouts keeps the realm's own logout (nothing wraps it).
  const before = logouts.length
  await login.logout()
  t.equal(logouts.length, before + 1)
})

t.test('a login that started before the first subscription is not reported', async (t) => {
  let release: (id: string) => void = () => {}
  const slow: CredentialsChecker = {
    credentialInterfaces: [IUsernamePassword],
    async requestAvatarId () { return await new Promise<string>((resolve) => { release = resolve }) }
  }
  const portal = new Portal(realm, [slow])
  const pending = portal.login(new UsernamePassword('alice', PASSWORD), mind, IUser)
  const seen = await collect(async () => {
    release('alice')
    await pending
  })
  t.notOk(seen[CRED_CHANNELS.loginSucceeded], 'no half-measured event')
})

t.test('only the logout channel subscribed: logouts are still reported', async (t) => {
  const portal = new Portal(realm, [new MemoryChecker({ alice: PASSWORD })])
  const seen: unknown[] = []
  const handler = (message: unknown): void => { seen.push(message) }
  subscribe(CRED_CHANNELS.logout, handler)
  t.teardown(() => { unsubscribe(CRED_CHANNELS.logout, handler) })
  await (await portal.login(new UsernamePassword('alice', PASSWORD), mind, IUser)).logout()
  t.match(seen, [{ protocol: 'pop3', avatarId: 'alice' }])
})
