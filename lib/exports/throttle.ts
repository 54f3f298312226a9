/**
 * `fastify-cred/throttle`: brute-force throttles for the Portal's (and the plugin's) `throttle` option, in memory or
 * in Redis, for every protocol.
 *
 * @example
 * import { MemoryThrottle } from 'fastify-cred/throttle'
 */
export { MemoryThrottle, RedisThrottle, addressGroup } from '../throttle/index.js'
export type {
  MemoryThrottleOptions, RedisThrottleOptions, RedisClientLike, RedisConnectionOptions, ThrottleOptions
} from '../throttle/index.js'
