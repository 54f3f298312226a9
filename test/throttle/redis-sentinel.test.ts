import { Redis } from 'ioredis'
import t from 'tap'
import { TooManyAttempts } from '../../lib/index.js'
import { StoreUnavailable } from '../../lib/cred/index.js'
import { RedisThrottle } from '../../lib/throttle/index.js'
import { redisServerProgram, startRedisSentinel } from '../helpers/redis-cluster.js'
import { redisThrottleContract, throttlePrefix } from './redis-throttle-contract.js'

// RedisThrottle on a real Sentinel set-up: the contract, then the primary killed: the checks in flight fail closed
// (503), the counts the replica had received survive on the promoted replica.

// Started before any test is queued: tap ends the root test once its queue drains.
const sentinel = redisServerProgram.skip === false ? await startRedisSentinel(t) : undefined

if (sentinel === undefined) {
  t.test('against a real Sentinel set-up', { skip: redisServerProgram.skip }, async () => {})
} else {
  t.test('the contract, with a redis+sentinel:// URL and an app\'s Sentinel client', async (t) => {
    await redisThrottleContract(t, sentinel.url, () => new Redis(sentinel.options))
  })

  t.test('the contract, with ioredis Sentinel options', async (t) => {
    await redisThrottleContract(t, sentinel.options, () => new Redis(sentinel.options))
  })

  t.test('failover: checks fail closed while it runs, the counts survive on the promoted replica', async (t) => {
    const throttle = new RedisThrottle(sentinel.url, { keyPrefix: throttlePrefix(), userThreshold: 3, addressThreshold: 100, baseDelay: 60_000, timeout: 500 })
    t.teardown(async () => { await throttle.close() })
    const mallory = { username: 'mallory', address: '192.0.2.66' }
    for (let i = 0; i < 3; i++) {
      await throttle.acquire(mallory)
      await throttle.record(mallory, false)
    }
    await t.rejects(throttle.acquire(mallory), TooManyAttempts, 'throttled before the failover')
    const outcomes: string[] = []
    let running = true
    const probe = (async () => {
      while (running) {
        outcomes.push(await throttle.acquire({ username: 'alice', address: '192.0.2.1' }).then(() => 'through', (err: unknown) => err instanceof StoreUnavailable ? '503' : String(err)))
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
    })()
    await sentinel.failover()
    let after: unknown
    for (let i = 0; i < 100; i++) {
      after = await throttle.acquire(mallory).then(() => 'through', (err: unknown) => err)
      if (!(after instanceof StoreUnavailable)) break
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    running = false
    await probe
    t.type(after, TooManyAttempts, 'still throttled on the promoted replica: the counts were replicated')
    t.ok(outcomes.includes('503'), `checks during the failover failed closed (${outcomes.filter((o) => o === '503').length} of ${outcomes.length})`)
    t.same(outcomes.filter((o) => o !== '503' && o !== 'through'), [], 'nothing but 503 or through')
  })
}
