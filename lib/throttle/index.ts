/**
 * Brute-force throttles for the Portal's `throttle` option (and the plugin's): counts failed logins per user name
 * and per client address network, and refuses with `TooManyAttempts` (HTTP 429 + `Retry-After`) before any password
 * hash is computed.
 */
export { MemoryThrottle } from './memory.js'
export type { MemoryThrottleOptions } from './memory.js'
export { RedisThrottle } from './redis.js'
export type { RedisClientLike, RedisConnectionOptions, RedisThrottleOptions } from './redis.js'
export { addressGroup } from './policy.js'
export type { ThrottleOptions } from './policy.js'
