import Fastify from 'fastify'
import t from 'tap'
import cred, { Portal, SimpleRealm, StoreUnavailable, TooManyAttempts, UsernamePassword } from '../../lib/index.js'
import { formatBasic } from '../../lib/http/index.js'
import { MemoryThrottle, addressGroup } from '../../lib/throttle/index.js'
import { IUser, buildApp } from '../helpers/app.js'
import { CountingChecker } from '../helpers/counting-checker.js'

/** A clock the test moves by hand: back-off is proven by stepping time, never by waiting. */
const clock = (): { now: () => number, advance: (ms: number) => void } => {
  let now = 1_764_000_000_000
  return { now: () => now, advance: (ms) => { now += ms } }
}

const retryAfterOf = (fn: () => void): number | undefined => {
  try { fn() } catch (err) { if (err instanceof TooManyAttempts) return err.retryAfter; throw err }
  return undefined
}

t.test('exponential back-off per user name, capped, forgotten after forgetAfter', async (t) => {
  const c = clock()
  const throttle = new MemoryThrottle({ userThreshold: 3, baseDelay: 1000, maxDelay: 8000, forgetAfter: 60_000, now: c.now })
  const alice = { username: 'alice', address: undefined }
  const fail = (): void => { throttle.acquire(alice); throttle.record(alice, false) }
  fail(); fail()
  t.equal(retryAfterOf(() => throttle.acquire(alice)), undefined, 'below the threshold: no wait')
  fail()
  t.equal(retryAfterOf(() => throttle.acquire(alice)), 1, 'the failure reaching the threshold: 1 s')
  c.advance(999)
  t.equal(retryAfterOf(() => throttle.acquire(alice)), 1, 'still waiting 1 ms before the end (rounded up to 1 s)')
  c.advance(1)
  fail()
  t.equal(retryAfterOf(() => throttle.acquire(alice)), 2, 'doubled')
  c.advance(2000); fail()
  t.equal(retryAfterOf(() => throttle.acquire(alice)), 4)
  c.advance(4000); fail()
  t.equal(retryAfterOf(() => throttle.acquire(alice)), 8)
  c.advance(8000); fail()
  t.equal(retryAfterOf(() => throttle.acquire(alice)), 8, 'capped at maxDelay')
  t.equal(retryAfterOf(() => throttle.acquire({ username: 'bob', address: undefined })), undefined, 'another user is not affected')
  t.equal(retryAfterOf(() => throttle.acquire({ username: 'ALICE', address: undefined })), 8, 'user names are counted without case')
  c.advance(60_000)
  fail()
  t.equal(retryAfterOf(() => throttle.acquire(alice)), undefined, 'after forgetAfter the count starts again at 1')
})

t.test('a success resets the user name, not the address', async (t) => {
  const c = clock()
  const throttle = new MemoryThrottle({ userThreshold: 3, addressThreshold: 4, now: c.now })
  const attempt = { username: 'alice', address: '192.0.2.7' }
  throttle.record(attempt, false); throttle.record(attempt, false)
  throttle.record(attempt, true)
  throttle.record(attempt, false); throttle.record(attempt, false)
  t.equal(retryAfterOf(() => throttle.acquire({ username: 'alice', address: '198.51.100.1' })), undefined, 'two failures since the success: alice is free')
  t.equal(retryAfterOf(() => throttle.acquire({ username: 'carol', address: '192.0.2.7' })), 1, 'the address kept its four failures')
})

t.test('Portal.login records a success also when the mind gives no address (a protocol that knows none)', async (t) => {
  const c = clock()
  const portal = new Portal(new SimpleRealm().serve(IUser, (id) => ({ name: String(id) })), [await CountingChecker.create({ alice: 'wonderland' })], { throttle: new MemoryThrottle({ userThreshold: 3, now: c.now }) })
  for (let i = 0; i < 2; i++) await t.rejects(portal.login(new UsernamePassword('alice', `wrong ${i}`), null, IUser))
  t.equal((await portal.login(new UsernamePassword('alice', 'wonderland'), null, IUser)).avatarId, 'alice', 'two failures, then the right password')
  for (let i = 0; i < 2; i++) await t.rejects(portal.login(new UsernamePassword('alice', `again ${i}`), null, IUser), { code: 'ERR_CRED_UNAUTHORIZED' }, 'the success cleared the earlier failures: no 429 yet')
})

t.test('per address: many user names from one network are throttled together', async (t) => {
  const c = clock()
  const throttle = new MemoryThrottle({ userThreshold: 100, addressThreshold: 5, now: c.now })
  for (let i = 0; i < 5; i++) throttle.record({ username: `user${i}`, address: '2001:db8:aa:bb::1' }, false)
  t.equal(retryAfterOf(() => throttle.acquire({ username: 'fresh', address: '2001:db8:aa:bb:ffff:ffff:ffff:fffe' })), 1, 'same /64, another address: throttled')
  t.equal(retryAfterOf(() => throttle.acquire({ username: 'fresh', address: '2001:db8:aa:bc::1' })), undefined, 'the next /64 is not')
  t.equal(retryAfterOf(() => throttle.acquire({ username: 'fresh', address: undefined })), undefined, 'no address, new user: not throttled')

  for (let i = 0; i < 5; i++) throttle.record({ username: `v${i}`, address: '::ffff:192.0.2.9' }, false)
  t.equal(retryAfterOf(() => throttle.acquire({ username: 'fresh', address: '192.0.2.9' })), 1, 'IPv4-mapped IPv6 is its IPv4 address')
  t.equal(retryAfterOf(() => throttle.acquire({ username: 'fresh', address: '192.0.2.10' })), undefined, 'IPv4 is counted per address')
})

t.test('addressGroup', async (t) => {
  t.equal(addressGroup('192.0.2.1', 64), '192.0.2.1')
  t.equal(addressGroup('::ffff:192.0.2.1', 64), '192.0.2.1')
  t.equal(addressGroup('::FFFF:c000:0201', 64), '192.0.2.1', 'mapped, written in hex')
  t.equal(addressGroup('0:0:0:0:0:ffff:c000:201', 64), '192.0.2.1', 'mapped, written in full')
  t.equal(addressGroup('2001:DB8:1:2:3:4:5:6', 64), '2001:db8:1:2:0:0:0:0/64')
  t.equal(addressGroup('2001:db8:1:2::%eth0', 64), '2001:db8:1:2:0:0:0:0/64', 'zone dropped')
  t.equal(addressGroup('fe80::1%lo', 64), 'fe80:0:0:0:0:0:0:0/64')
  t.equal(addressGroup('2001:db8:1:2:ffff::', 56), '2001:db8:1:0:0:0:0:0/56', 'another prefix length')
  t.equal(addressGroup('2001:db8::ff', 128), '2001:db8:0:0:0:0:0:ff/128')
  t.equal(addressGroup('::1', 64), '0:0:0:0:0:0:0:0/64')
  t.equal(addressGroup('64:ff9b::192.0.2.1', 128), '64:ff9b:0:0:0:0:c000:201/128', 'dotted tail parsed')
  t.equal(addressGroup('not an address', 64), 'not an address')
})

t.test('memory stays bounded: the oldest counts go first', async (t) => {
  const c = clock()
  const throttle = new MemoryThrottle({ userThreshold: 1, maxEntries: 1000, now: c.now })
  throttle.record({ username: 'target', address: undefined }, false)
  for (let i = 0; i < 20_000; i++) {
    c.advance(1)
    throttle.record({ username: `spray${i}`.padEnd(5000, 'x'), address: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}` }, false)
  }
  t.equal(throttle.size, 1000, 'never more than maxEntries')
  t.equal(retryAfterOf(() => throttle.acquire({ username: 'spray19999'.padEnd(5000, 'x'), address: undefined })), 1, 'a recent (long, hashed) name is still counted')
  t.equal(retryAfterOf(() => throttle.acquire({ username: 'target', address: undefined })), undefined, 'the oldest was dropped')
  throttle.clear()
  t.equal(throttle.size, 0)
})

t.test('at the cap: the count failed longest ago goes, a count that fails again moves to the back, forgotten counts free their place', async (t) => {
  const c = clock()
  const throttle = new MemoryThrottle({ userThreshold: 1, maxEntries: 4, forgetAfter: 3_600_000, now: c.now })
  const user = (name: string): { username: string, address: undefined } => ({ username: name, address: undefined })
  const counted = (name: string): boolean => retryAfterOf(() => throttle.acquire(user(name))) !== undefined
  const fail = (name: string): void => { c.advance(10); throttle.record(user(name), false) }
  for (const name of ['a', 'b', 'c', 'd']) fail(name)
  fail('a') // a's last failure is now the newest: b is the oldest
  fail('e')
  t.equal(throttle.size, 4, 'still at the cap')
  t.notOk(counted('b'), 'b (failed longest ago) was dropped')
  t.ok(counted('a') && counted('c') && counted('d') && counted('e'), 'a, which failed again, was kept')
  throttle.record(user('d'), true) // a success forgets d's count
  fail('f')
  t.equal(throttle.size, 4, 'f took the place d left')
  t.ok(counted('c'), 'nothing else was dropped for it')
  fail('g')
  t.notOk(counted('c'), 'then c, the oldest, goes')
  t.ok(counted('a') && counted('e') && counted('f') && counted('g'))
  // Spraying many times the cap keeps exactly the newest `maxEntries`, in order, with the links intact.
  for (let i = 0; i < 1000; i++) fail(`spray${i}`)
  t.equal(throttle.size, 4)
  t.same(['spray995', 'spray996', 'spray997', 'spray998', 'spray999'].map(counted), [false, true, true, true, true])
  // A count past forgetAfter is dropped when looked at, and its place is reused.
  c.advance(3_600_000)
  t.notOk(counted('spray999'), 'forgotten after forgetAfter')
  t.equal(throttle.size, 3)
  fail('h')
  t.equal(throttle.size, 4, 'h took the place spray999 left')
  fail('i')
  t.equal(throttle.size, 4)
  t.ok(counted('h') && counted('i'))
  throttle.clear()
  t.equal(throttle.size, 0)
  fail('j')
  t.ok(counted('j'), 'counts again after clear()')
})

t.test('options are checked', async (t) => {
  t.throws(() => new MemoryThrottle({ userThreshold: 0 }), { code: 'ERR_CRED_INVALID_OPTION' })
  t.throws(() => new MemoryThrottle({ baseDelay: 10_000, maxDelay: 1000 }), { code: 'ERR_CRED_INVALID_OPTION' })
  t.throws(() => new MemoryThrottle({ maxDelay: 60_000, forgetAfter: 1000 }), { code: 'ERR_CRED_INVALID_OPTION' })
  t.throws(() => new MemoryThrottle({ ipv6PrefixLength: 129 }), { code: 'ERR_CRED_INVALID_OPTION' })
  t.throws(() => new MemoryThrottle({ maxEntries: 1 }), { code: 'ERR_CRED_INVALID_OPTION' })
})

t.test('through the plugin: 429 with Retry-After, and a throttled pair computes no password hash', async (t) => {
  const c = clock()
  const checker = await CountingChecker.create({ alice: 'wonderland' })
  const throttle = new MemoryThrottle({ userThreshold: 3, addressThreshold: 1000, baseDelay: 30_000, now: c.now })
  const { app, logs } = await buildApp({ checkers: [checker], throttle })
  const get = async (user: string, password: string, remoteAddress = '127.0.0.1') =>
    await app.inject({ url: '/whoami', remoteAddress, headers: { authorization: formatBasic(user, password) } })

  for (let i = 0; i < 3; i++) t.equal((await get('alice', `guess${i}`)).statusCode, 401)
  t.equal(checker.hashes, 3)
  for (let i = 0; i < 50; i++) {
    const res = await get('alice', `guess-more${i}`, `198.51.100.${i}`)
    if (res.statusCode !== 429) { t.fail(`#${i} answered ${res.statusCode}`); break }
  }
  t.equal(checker.hashes, 3, '50 throttled guesses from 50 addresses: no hash computed')
  const blocked = await get('alice', 'wonderland')
  t.equal(blocked.statusCode, 429, 'the right password waits too (or the wait would tell it is right)')
  t.equal(blocked.headers['retry-after'], '30')
  t.equal(blocked.headers['www-authenticate'], undefined, 'no challenge: retrying now cannot help')
  t.same(JSON.parse(blocked.body), { statusCode: 429, code: 'ERR_CRED_TOO_MANY_ATTEMPTS', error: 'Too Many Requests', message: 'Too many failed attempts, try again later' })
  t.equal(checker.hashes, 3)
  t.equal((await get('bob', 'x')).statusCode, 401, 'another user name from the same address still gets checked')
  t.equal(checker.hashes, 4)

  c.advance(30_000)
  t.equal((await get('alice', 'wonderland')).statusCode, 200, 'after the wait, the right password logs in')
  t.equal((await get('alice', 'wrong again')).statusCode, 401, 'the success reset the count: one failure is not throttled')
  t.equal((await get('alice', 'wonderland')).statusCode, 200)
  t.notMatch(logs.text, /wonderland|guess/, 'no password in the logs')
})

t.test('through the plugin: per address, IPv6 by /64, address from trustProxy only', async (t) => {
  const c = clock()
  const checker = await CountingChecker.create({ alice: 'wonderland' })
  const build = async (trustProxy: boolean) => {
    const app = Fastify({ trustProxy })
    await app.register(cred, {
      realm: new SimpleRealm().serve(IUser, (id) => ({ name: String(id) })),
      checkers: [checker],
      interfaces: [IUser],
      throttle: new MemoryThrottle({ userThreshold: 1000, addressThreshold: 3, baseDelay: 60_000, now: c.now })
    })
    app.get('/whoami', async (request) => ({ avatarId: request.avatarId }))
    return app
  }
  const direct = await build(false)
  const get = async (app: Awaited<ReturnType<typeof build>>, user: string, remoteAddress: string, forwardedFor?: string) =>
    (await app.inject({
      url: '/whoami', remoteAddress, headers: { authorization: formatBasic(user, 'nope'), ...(forwardedFor === undefined ? {} : { 'x-forwarded-for': forwardedFor }) }
    })).statusCode

  for (let i = 0; i < 3; i++) t.equal(await get(direct, `u${i}`, `2001:db8:5:6::${i + 1}`, `203.0.113.${i}`), 401)
  t.equal(await get(direct, 'another', '2001:db8:5:6:abcd::1', '203.0.113.99'), 429, 'same /64, a new X-Forwarded-For: still throttled (the header is not trusted)')
  t.equal(await get(direct, 'another', '2001:db8:5:7::1'), 401, 'the next /64 is free')
  for (let i = 0; i < 3; i++) t.equal(await get(direct, `m${i}`, '::ffff:192.0.2.50'), 401)
  t.equal(await get(direct, 'another', '192.0.2.50'), 429, 'IPv4-mapped IPv6 and IPv4 are one client')

  const proxied = await build(true)
  for (let i = 0; i < 3; i++) t.equal(await get(proxied, `p${i}`, '10.0.0.1', '203.0.113.1'), 401)
  t.equal(await get(proxied, 'another', '10.0.0.1', '203.0.113.1'), 429, 'behind a trusted proxy the forwarded client is counted')
  t.equal(await get(proxied, 'another', '10.0.0.1', '203.0.113.2'), 401, 'and another forwarded client is not throttled with it')
})

t.test('a Portal without HTTP: the address comes from the mind (POP3, SSH)', async (t) => {
  const c = clock()
  const checker = await CountingChecker.create({ alice: 'wonderland' })
  const portal = new Portal(new SimpleRealm().serve(IUser, (id) => ({ name: String(id) })), [checker], {
    throttle: new MemoryThrottle({ userThreshold: 2, now: c.now })
  })
  const mind = { address: '192.0.2.1' }
  await t.rejects(portal.login(new UsernamePassword('alice', 'a'), mind, IUser), { code: 'ERR_CRED_UNAUTHORIZED' })
  await t.rejects(portal.login(new UsernamePassword('alice', 'b'), mind, IUser), { code: 'ERR_CRED_UNAUTHORIZED' })
  await t.rejects(portal.login(new UsernamePassword('alice', 'wonderland'), mind, IUser), { code: 'ERR_CRED_TOO_MANY_ATTEMPTS', retryAfter: 1 })
  t.equal(checker.hashes, 2)
  c.advance(1000)
  const { avatar } = await portal.login(new UsernamePassword('alice', 'wonderland'), mind, IUser)
  t.equal(avatar.name, 'alice')
})

t.test('close() is idempotent and final: every later acquire throws StoreUnavailable, record does nothing', async (t) => {
  const throttle = new MemoryThrottle({ userThreshold: 1, baseDelay: 60_000 })
  const alice = { username: 'alice', address: '192.0.2.1' }
  throttle.record(alice, false)
  t.throws(() => { throttle.acquire(alice) }, TooManyAttempts, 'open: alice waits')
  await throttle.close()
  await throttle.close()
  t.equal(throttle.size, 0, 'the counts are gone')
  t.throws(() => { throttle.acquire({ username: 'bob', address: undefined }) }, StoreUnavailable, 'closed: even a user with no count is refused')
  throttle.record(alice, false)
  t.equal(throttle.size, 0, 'record does nothing once closed')
})
