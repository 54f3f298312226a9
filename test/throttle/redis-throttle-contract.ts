import type { Test } from 'tap'
import { StoreUnavailable, TooManyAttempts } from '../../lib/index.js'
import type { StoreUnavailable as StoreUnavailableType } from '../../lib/index.js'
import type { LoginAttempt } from '../../lib/cred/index.js'
import { formatBasic } from '../../lib/http/index.js'
import { RedisThrottle } from '../../lib/throttle/index.js'
import type { RedisClientLike, RedisConnectionOptions, RedisThrottleOptions } from '../../lib/throttle/index.js'
import { buildApp } from '../helpers/app.js'
import { CountingChecker } from '../helpers/counting-checker.js'

/** An app's own client for the contract: any ioredis client (Redis, Cluster, a Sentinel-backed Redis). */
export interface AppClient extends RedisClientLike {
  ping (): Promise<string>
  disconnect (): void
}

let prefixes = 0
/** Each test its own keys, so tests sharing the server do not see each other's counts. */
export const throttlePrefix = (): string => `test${++prefixes}:throttle:`

/**
 * What RedisThrottle promises whatever Redis runs behind it (one server, a Redis Cluster, a Sentinel set-up): the
 * back-off per user name and per address, a success resetting the user name, instances sharing the counts, and
 * `close()` idempotent and final while an app's client stays open.
 *
 * @example
 * await redisThrottleContract(t, cluster.url, () => new Cluster(cluster.nodes))
 */
export async function redisThrottleContract (t: Test, connection: string | RedisConnectionOptions, appClient: () => AppClient): Promise<void> {
  const open: RedisThrottle[] = []
  const throttleFor = (options: RedisThrottleOptions): RedisThrottle => {
    const throttle = new RedisThrottle(connection, { timeout: 1000, ...options })
    open.push(throttle)
    return throttle
  }
  t.teardown(async () => { await Promise.all(open.map(async (th) => await th.close())) })

  await t.test('back-off per user name and per address, stepped with an injected clock; a success resets the user name', async (t) => {
    let now = 1_764_000_000_000
    for (const [name, throttle] of [
      ['own client', throttleFor({ keyPrefix: throttlePrefix(), userThreshold: 2, addressThreshold: 3, baseDelay: 1000, maxDelay: 4000, now: () => now })],
      ['app client', (() => {
        const client = appClient()
        t.teardown(() => { client.disconnect() })
        return new RedisThrottle(client, { keyPrefix: throttlePrefix(), userThreshold: 2, addressThreshold: 3, baseDelay: 1000, maxDelay: 4000, now: () => now })
      })()]
    ] as const) {
      const check = async (attempt: LoginAttempt): Promise<number | undefined> =>
        await throttle.acquire(attempt).then(() => undefined, (err: unknown) => { if (err instanceof TooManyAttempts) return err.retryAfter; throw err })
      const alice = { username: 'alice', address: '2001:db8:1:1::5' }
      t.equal(await check(alice), undefined, `${name}: nothing counted yet`)
      await throttle.record(alice, false)
      await throttle.record(alice, false)
      t.equal(await check(alice), 1, `${name}: the user threshold reached: 1 s`)
      t.equal(await check({ username: 'Alice', address: undefined }), 1, `${name}: user names without case`)
      t.equal(await check({ username: 'bob', address: '2001:db8:1:1::77' }), undefined, `${name}: the address (its /64) is below its threshold`)
      await throttle.record({ username: 'carol', address: '2001:db8:1:1::9' }, false)
      t.equal(await check({ username: 'bob', address: '2001:db8:1:1::77' }), 1, `${name}: three failures from the /64 throttle another user from it`)
      now += 1000
      await throttle.record(alice, false)
      t.equal(await check({ username: 'alice', address: undefined }), 2, `${name}: doubled`)
      now += 2000
      await throttle.record(alice, false)
      now += 4000
      await throttle.record(alice, false)
      t.equal(await check({ username: 'alice', address: undefined }), 4, `${name}: capped at maxDelay`)
      now += 4000
      await throttle.record(alice, true)
      await throttle.record({ username: 'alice', address: undefined }, false)
      t.equal(await check({ username: 'alice', address: undefined }), undefined, `${name}: the success reset the user name`)
      now += 10_000
    }
  })

  await t.test('two Fastify instances sharing one Redis throttle together', async (t) => {
    const keyPrefix = throttlePrefix()
    const checkerA = await CountingChecker.create({ alice: 'wonderland' })
    const checkerB = await CountingChecker.create({ alice: 'wonderland' })
    const a = await buildApp({ checkers: [checkerA], throttle: throttleFor({ keyPrefix, userThreshold: 4, addressThreshold: 100, baseDelay: 60_000 }) })
    const b = await buildApp({ checkers: [checkerB], throttle: throttleFor({ keyPrefix, userThreshold: 4, addressThreshold: 100, baseDelay: 60_000 }) })
    t.teardown(async () => { await Promise.all([a.app.close(), b.app.close()]) })
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
  })

  await t.test('close() is idempotent and final, also failing open; an app\'s client stays open', async (t) => {
    const client = appClient()
    t.teardown(() => { client.disconnect() })
    const errors: StoreUnavailableType[] = []
    for (const given of [connection, client] as const) {
      const throttle = new RedisThrottle(given, { keyPrefix: throttlePrefix(), failOpen: true, onError: (err) => { errors.push(err) } })
      await throttle.acquire({ username: 'alice', address: '192.0.2.1' })
      await throttle.close()
      await throttle.close()
      await t.rejects(throttle.acquire({ username: 'alice', address: '192.0.2.1' }), StoreUnavailable, 'closed: refused though failOpen')
      await throttle.record({ username: 'alice', address: '192.0.2.1' }, false)
    }
    t.same(errors, [], 'closing is no outage: onError heard nothing')
    t.equal(await client.ping(), 'PONG', "the app's client is still open")
  })
}
