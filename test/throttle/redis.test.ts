import { readFile } from 'node:fs/promises'
import { Redis } from 'ioredis'
import t from 'tap'
import { StoreUnavailable, TooManyAttempts } from '../../lib/index.js'
import { MissingPeerDependency } from '../../lib/cred/index.js'
import { formatBasic } from '../../lib/http/index.js'
import type { StoreUnavailable as StoreUnavailableType } from '../../lib/index.js'
import type { LoginAttempt } from '../../lib/cred/index.js'
import { RedisThrottle } from '../../lib/throttle/index.js'
import type { RedisClientLike, RedisThrottleOptions } from '../../lib/throttle/index.js'
import { overrideDriver } from '../../lib/drivers/index.js'
import { buildApp } from '../helpers/app.js'
import { CountingChecker } from '../helpers/counting-checker.js'
import { redisServerProgram, startRedis } from '../helpers/redis-server.js'

const sleep = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }
let prefixes = 0
/** Each test its own keys, so tests sharing the server do not see each other's counts. */
const prefix = (): string => `test${++prefixes}:throttle:`

// Started before any test is queued: tap ends the root test once its queue drains.
const redis = redisServerProgram.skip === false ? await startRedis(t) : undefined

t.test('the module never imports ioredis statically', async (t) => {
  const source = await readFile(new URL('../../lib/throttle/redis.ts', import.meta.url), 'utf8')
  t.same(source.split('\n').filter((line) => /^\s*(import|export)\b(?!\s+type\b).*['"]ioredis['"]/.test(line)), [])
  t.match(source, /new RedisScripts\(/, 'its client comes from the shared Redis connection, which loads ioredis dynamically (tested with the nonce store)')
})

t.test('missing ioredis: MissingPeerDependency, also when failing open (a set-up error, not an outage)', async (t) => {
  const missing = async (): Promise<unknown> => { throw Object.assign(new Error("Cannot find package 'ioredis'"), { code: 'ERR_MODULE_NOT_FOUND' }) }
  t.teardown(overrideDriver('ioredis', missing))
  const throttle = new RedisThrottle('redis://127.0.0.1:1', { failOpen: true })
  await t.rejects(throttle.acquire({ username: 'a', address: undefined }), MissingPeerDependency)
  await t.rejects(throttle.acquire({ username: 'a', address: undefined }), /install ioredis/)
  await t.rejects(throttle.prepare(), { name: 'MissingPeerDependency', message: 'RedisThrottle needs the ioredis package: install it (npm install ioredis)' }, 'prepare() says so without connecting')
  await t.rejects(buildApp({ throttle }), MissingPeerDependency, 'so register() refuses to start the server')
  await throttle.close()
})

t.test('bad options are refused', async (t) => {
  t.throws(() => new RedisThrottle('http://x'), { code: 'ERR_CRED_INVALID_OPTION' })
  t.throws(() => new RedisThrottle('redis://x', { keyPrefix: '' }), { code: 'ERR_CRED_INVALID_OPTION' })
  t.throws(() => new RedisThrottle('redis://x', { timeout: 0 }), { code: 'ERR_CRED_INVALID_OPTION' })
  t.throws(() => new RedisThrottle('redis://x', { failOpen: 'yes' as unknown as boolean }), { code: 'ERR_CRED_INVALID_OPTION' })
  t.throws(() => new RedisThrottle('redis://x', { userThreshold: -1 }), { code: 'ERR_CRED_INVALID_OPTION' })
})

t.test('with a real redis-server', { skip: redisServerProgram.skip }, async (t) => {
  if (redis === undefined) return
  const open: RedisThrottle[] = []
  const throttleFor = (options: RedisThrottleOptions): RedisThrottle => {
    const throttle = new RedisThrottle(redis.url, { timeout: 500, ...options })
    open.push(throttle)
    return throttle
  }
  t.teardown(async () => { await Promise.all(open.map(async (th) => await th.close())) })

  t.test('one round trip per check, back-off stepped with an injected clock, a success resets', async (t) => {
    let now = 1_764_000_000_000
    const client = new Redis(redis.port, redis.host)
    t.teardown(() => { client.disconnect() })
    let calls = 0
    const counted: RedisClientLike = {
      evalsha: async (...args) => { calls++; return await client.evalsha(...args) },
      eval: async (...args) => { calls++; return await client.eval(...args) }
    }
    const throttle = new RedisThrottle(counted, { keyPrefix: prefix(), userThreshold: 2, addressThreshold: 50, baseDelay: 1000, maxDelay: 4000, now: () => now })
    const alice = { username: 'alice', address: '2001:db8:1:1::5' }
    const check = async (attempt: LoginAttempt = alice): Promise<number | undefined> =>
      await throttle.acquire(attempt).then(() => undefined, (err: unknown) => { if (err instanceof TooManyAttempts) return err.retryAfter; throw err })

    t.equal(await check(), undefined)
    t.ok(calls <= 2, `one script run (plus EVAL once when Redis does not know the script): ${calls}`)
    calls = 0
    t.equal(await check(), undefined)
    t.equal(calls, 1, 'the script is cached now: exactly one round trip')
    await throttle.record(alice, false)
    await throttle.record(alice, false)
    calls = 0
    t.equal(await check(), 1, 'threshold reached: 1 s')
    t.equal(calls, 1, 'a throttled check is one round trip too')
    now += 1000
    await throttle.record(alice, false)
    t.equal(await check(), 2, 'doubled')
    now += 2000
    await throttle.record(alice, false)
    now += 4000
    await throttle.record(alice, false)
    t.equal(await check(), 4, 'capped at maxDelay')
    t.equal(await check({ username: 'Alice', address: undefined }), 4, 'user names without case')
    now += 4000
    await throttle.record(alice, true)
    await throttle.record(alice, false)
    t.equal(await check({ username: 'alice', address: undefined }), undefined, 'the success reset the user name')
  })

  t.test('two Fastify instances sharing one Redis throttle together', async (t) => {
    const keyPrefix = prefix()
    const checkerA = await CountingChecker.create({ alice: 'wonderland' })
    const checkerB = await CountingChecker.create({ alice: 'wonderland' })
    const a = await buildApp({ checkers: [checkerA], throttle: throttleFor({ keyPrefix, userThreshold: 4, addressThreshold: 100, baseDelay: 60_000 }) })
    const b = await buildApp({ checkers: [checkerB], throttle: throttleFor({ keyPrefix, userThreshold: 4, addressThreshold: 100, baseDelay: 60_000 }) })
    const get = async (app: typeof a, password: string, remoteAddress: string) =>
      await app.app.inject({ url: '/whoami', remoteAddress, headers: { authorization: formatBasic('alice', password) } })

    t.equal((await get(a, 'g1', '192.0.2.1')).statusCode, 401)
    t.equal((await get(b, 'g2', '192.0.2.2')).statusCode, 401)
    t.equal((await get(a, 'g3', '192.0.2.3')).statusCode, 401)
    t.equal((await get(b, 'g4', '192.0.2.4')).statusCode, 401, 'four failures spread over two instances and four addresses')
    const onA = await get(a, 'wonderland', '192.0.2.5')
    const onB = await get(b, 'g5', '192.0.2.6')
    t.equal(onA.statusCode, 429, 'instance A throttles alice')
    t.equal(onB.statusCode, 429, 'instance B throttles alice')
    const retryAfter = Number(onB.headers['retry-after'])
    t.ok(retryAfter >= 1 && retryAfter <= 60, `Retry-After ${String(onB.headers['retry-after'])} is the back-off's rest`)
    t.equal(checkerA.hashes + checkerB.hashes, 4, 'the throttled attempts computed no hash on either instance')
    t.equal((await get(b, 'wonderland', '192.0.2.7')).statusCode, 429, 'still throttled')
    t.equal(checkerA.hashes + checkerB.hashes, 4)
  })

  t.test('Redis stopped mid-test: 503 failing closed (the default), through failing open', async (t) => {
    const keyPrefix = prefix()
    const errors: StoreUnavailableType[] = []
    const closedChecker = await CountingChecker.create({ alice: 'wonderland' })
    const openChecker = await CountingChecker.create({ alice: 'wonderland' })
    const closed = await buildApp({ checkers: [closedChecker], throttle: throttleFor({ keyPrefix }) })
    const opened = await buildApp({ checkers: [openChecker], throttle: throttleFor({ keyPrefix, failOpen: true, onError: (err) => { errors.push(err) } }) })
    const get = async (app: typeof closed, password: string) =>
      await app.app.inject({ url: '/whoami', headers: { authorization: formatBasic('alice', password) } })

    t.equal((await get(closed, 'wonderland')).statusCode, 200, 'Redis up: logs in')
    t.equal((await get(opened, 'wonderland')).statusCode, 200)
    await redis.stop()

    const down = await get(closed, 'wonderland')
    t.equal(down.statusCode, 503, 'fail closed: 503')
    t.equal(down.headers['retry-after'], '5')
    t.equal(JSON.parse(down.body).code, 'ERR_CRED_STORE_UNAVAILABLE')
    t.equal(closedChecker.hashes, 1, 'no password checked while the throttle is blind')
    t.notMatch(closed.logs.text, /wonderland/, 'the outage is logged without the password')

    t.equal((await get(opened, 'wonderland')).statusCode, 200, 'fail open: the right password logs in')
    t.equal((await get(opened, 'wrong')).statusCode, 401, 'fail open: a wrong one is still refused')
    t.ok(errors.length >= 2 && errors.every((e) => e instanceof StoreUnavailable), `onError heard of the outage (${errors.length})`)

    await redis.start()
    // ioredis reconnects by itself, on its own schedule: poll (bounded), no timing asserted.
    let status = 0
    for (let i = 0; i < 100 && status !== 200; i++) {
      status = (await get(closed, 'wonderland')).statusCode
      if (status !== 200) await sleep(100)
    }
    t.equal(status, 200, 'Redis back: logs in again')
  })

  t.test('close() is idempotent and final, also failing open; an app\'s client stays open', async (t) => {
    const client = new Redis(redis.port, redis.host)
    t.teardown(() => { client.disconnect() })
    const errors: StoreUnavailableType[] = []
    for (const connection of [redis.url, client] as const) {
      const throttle = new RedisThrottle(connection, { keyPrefix: prefix(), failOpen: true, onError: (err) => { errors.push(err) } })
      await throttle.acquire({ username: 'alice', address: undefined })
      await throttle.close()
      await throttle.close()
      await t.rejects(throttle.acquire({ username: 'alice', address: undefined }), StoreUnavailable, 'closed: refused though failOpen')
      await throttle.record({ username: 'alice', address: undefined }, false)
    }
    t.same(errors, [], 'closing is no outage: onError heard nothing')
    t.equal(await client.ping(), 'PONG', "the app's client is still open")
  })

  t.test('Redis down when the server starts: register() succeeds (an outage is no set-up error), logins are 503 until it is back', async (t) => {
    await redis.stop()
    t.teardown(async () => { await redis.start() })
    const checker = await CountingChecker.create({ alice: 'wonderland' })
    const { app } = await buildApp({ checkers: [checker], throttle: throttleFor({ keyPrefix: prefix() }) })
    const down = await app.inject({ url: '/whoami', headers: { authorization: formatBasic('alice', 'wonderland') } })
    t.equal(down.statusCode, 503)
    await redis.start()
    let status = 0
    for (let i = 0; i < 100 && status !== 200; i++) {
      status = (await app.inject({ url: '/whoami', headers: { authorization: formatBasic('alice', 'wonderland') } })).statusCode
      if (status !== 200) await sleep(100)
    }
    t.equal(status, 200, 'Redis back: the same server logs in')
  })

  t.test('Redis frozen: a check gives up after the timeout', async (t) => {
    const throttle = throttleFor({ keyPrefix: prefix(), timeout: 200 })
    await throttle.acquire({ username: 'alice', address: undefined })
    await redis.pause()
    try {
      await t.rejects(throttle.acquire({ username: 'alice', address: undefined }), StoreUnavailable)
    } finally {
      redis.resume()
    }
  })
})
