import { needProgram } from './binaries.js'
import { firstReply, startPrivateServer } from './private-server.js'
import type { PrivateServer, Teardownable } from './private-server.js'

/** redis-server, or why the Redis tests are skipped (Debian package redis-server). Throws in CI when missing. */
export const redisServerProgram = needProgram('redis-server', 'redis-server')

/** What a test needs of the Redis server it owns. Its data lives in memory only: `stop()` loses it. */
export interface PrivateRedis extends PrivateServer {
  readonly url: string
}

/**
 * Starts a private redis-server for one test file (see `startPrivateServer`): no persistence, run as the `redis`
 * system user when we are root.
 *
 * @example
 * import t from 'tap'
 * import { redisServerProgram, startRedis } from './helpers/redis-server.js'
 * if (redisServerProgram.skip !== false) t.plan(0, redisServerProgram.skip)
 * else {
 *   const redis = await startRedis(t)
 *   // new Redis(redis.port, redis.host) ...; await redis.stop(); await redis.start()
 * }
 */
export async function startRedis (t: Teardownable): Promise<PrivateRedis> {
  if (redisServerProgram.path === undefined) throw new Error(redisServerProgram.skip)
  const program = redisServerProgram.path
  const server = await startPrivateServer(t, {
    name: 'redis-server',
    user: 'redis',
    argv: ([port], dir) => [program, '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
      '--daemonize', 'no', '--dir', dir, '--maxmemory-policy', 'noeviction', '--loglevel', 'warning'],
    ready: async ([port]) => (await firstReply(port as number, 'PING\r\n'))?.toString('latin1').startsWith('+PONG') === true
  })
  return { ...server, url: `redis://127.0.0.1:${server.port}` }
}
