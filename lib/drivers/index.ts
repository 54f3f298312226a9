// Optional peer dependencies and the connections built on them, for the stores and hashers above: the core
// (`lib/cred`) imports nothing from here. Internal: nothing of this layer is exported from the package's entry points
// but the Redis types the stores' options name.
export { loadDriver, overrideDriver } from './load-driver.js'
export type { DriverName } from './load-driver.js'
export { optionalPeer } from './optional-peer.js'
export { RedisScripts } from './redis-scripts.js'
export type { RedisClientLike, RedisConnectionOptions } from './redis-scripts.js'
