import { Cluster } from 'ioredis'
import t from 'tap'
import { RedisThrottle } from '../../lib/throttle/index.js'
import type { RedisClientLike } from '../../lib/throttle/index.js'
import { redisServerProgram, slotOf, startRedisCluster } from '../helpers/redis-cluster.js'
import { redisThrottleContract, throttlePrefix } from './redis-throttle-contract.js'

// RedisThrottle on a real 3-node Redis Cluster: the user name's and the address's counts hash to different slots,
// so each is checked and counted by a script of its own; the same contract as on one Redis.

// Started before any test is queued: tap ends the root test once its queue drains.
const cluster = redisServerProgram.skip === false ? await startRedisCluster(t) : undefined

if (cluster === undefined) {
  t.test('against a real Redis Cluster', { skip: redisServerProgram.skip }, async () => {})
} else {
  t.test('the contract, with a redis+cluster:// URL and an app\'s ioredis Cluster', async (t) => {
    await redisThrottleContract(t, cluster.url, () => new Cluster(cluster.nodes))
  })

  t.test('the contract, with clusterNodes options', async (t) => {
    await redisThrottleContract(t, { clusterNodes: cluster.nodes }, () => new Cluster(cluster.nodes))
  })

  t.test('each script touches one key (one slot): a check is two scripts at once, a failure two counts', async (t) => {
    const client = new Cluster(cluster.nodes)
    t.teardown(() => { client.disconnect() })
    const keyCounts: number[] = []
    const counted: RedisClientLike = {
      evalsha: async (sha, numKeys, ...args) => { keyCounts.push(numKeys); return await client.evalsha(sha, numKeys, ...args) },
      eval: async (script, numKeys, ...args) => { keyCounts.push(numKeys); return await client.eval(script, numKeys, ...args) }
    }
    Object.defineProperty(counted, 'isCluster', { value: true })
    const keyPrefix = throttlePrefix()
    const throttle = new RedisThrottle(counted, { keyPrefix, userThreshold: 1 })
    const attempt = { username: 'alice', address: '192.0.2.1' }
    await throttle.acquire(attempt)
    await throttle.record(attempt, false)
    await t.rejects(throttle.acquire(attempt), { name: 'TooManyAttempts' })
    t.ok(keyCounts.length >= 6 && keyCounts.every((n) => n === 1), `every script ran with one key (${keyCounts.join(',')})`)
    const keys = (await cluster.keys()).filter((k) => k.startsWith(keyPrefix))
    t.equal(keys.length, 2, 'a count for the user name and one for the address')
    t.not(slotOf(keys[0] as string), slotOf(keys[1] as string), 'in two slots (no hash tag forces them together)')
  })
}
