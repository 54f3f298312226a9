import { Redis } from 'ioredis'
import { firstReply, runAs, startPrivateServer } from './private-server.js'
import type { PrivateServer, Teardownable } from './private-server.js'
import { redisServerProgram } from './redis-server.js'

// A real 3-node Redis Cluster and a real Sentinel set-up (primary, replica, sentinel), each started once per test
// file through startPrivateServer (loopback, free ports, temp folders, killed with us), without persistence.
// redis-server alone builds both (no redis-cli): the cluster is joined with CLUSTER MEET and its slots given with
// CLUSTER ADDSLOTSRANGE, as `redis-cli --cluster create` does; Sentinel gets its settings on the command line.

export { redisServerProgram }

const admin = (port: number): Redis => {
  const client = new Redis(port, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null })
  client.on('error', () => {})
  return client
}

/** Runs one command on the node at `port` over a connection of its own. */
export async function command (port: number, ...args: Array<string | number>): Promise<unknown> {
  const client = admin(port)
  try {
    await client.connect()
    return await client.call(String(args[0]), ...args.slice(1))
  } finally {
    client.disconnect()
  }
}

const sleep = async (ms: number): Promise<void> => await new Promise((resolve) => setTimeout(resolve, ms))

const until = async (what: string, ready: () => Promise<boolean>, ms = 15_000): Promise<void> => {
  const deadline = Date.now() + ms
  while (Date.now() < deadline) {
    if (await ready().catch(() => false)) return
    await sleep(50)
  }
  throw new Error(`${what} within ${ms / 1000} s`)
}

const pongs = async ([port]: readonly number[]): Promise<boolean> =>
  (await firstReply(port as number, 'PING\r\n'))?.toString('latin1').startsWith('+PONG') === true

/** One redis-server with `args` after the common ones (loopback, no persistence, its folder). */
async function startNode (t: Teardownable, name: string, args: (port: number, dir: string) => string[], init?: (dir: string) => Promise<void>): Promise<PrivateServer> {
  if (redisServerProgram.path === undefined) throw new Error(redisServerProgram.skip)
  const program = redisServerProgram.path
  return await startPrivateServer(t, {
    name,
    user: 'redis',
    ...(init === undefined ? {} : { init }),
    argv: ([port], dir) => [program, ...args(port as number, dir), '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
      '--daemonize', 'no', '--dir', dir, '--maxmemory-policy', 'noeviction', '--loglevel', 'warning'],
    ready: pongs
  })
}

export interface PrivateRedisCluster {
  /** The nodes' ports, each a primary with a third of the slots (0-5460, 5461-10922, 10923-16383). */
  readonly ports: readonly number[]
  /** `redis+cluster://127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3` */
  readonly url: string
  /** The seeds, as ioredis's `Cluster` and `clusterNodes` take them. */
  readonly nodes: Array<{ host: string, port: number }>
  /** The port of the node that serves `slot` now. */
  ownerOf (slot: number): Promise<number>
  /** Every key of every node (KEYS *), for tests to look at the layout. */
  keys (): Promise<string[]>
  /** Empties every node. */
  flush (): Promise<void>
}

/**
 * A real 3-node Redis Cluster for one test file (no replicas), stopped in `t.teardown`.
 *
 * @example
 * const cluster = await startRedisCluster(t)
 * const store = new RedisNonceStore(cluster.url)
 */
export async function startRedisCluster (t: Teardownable): Promise<PrivateRedisCluster> {
  const nodes: PrivateServer[] = []
  for (let i = 0; i < 3; i++) {
    nodes.push(await startNode(t, 'redis-cluster', (_port, dir) => ['--cluster-enabled', 'yes', '--cluster-config-file', `${dir}/nodes.conf`, '--cluster-node-timeout', '2000']))
  }
  const ports = nodes.map((n) => n.port)
  const ranges = [[0, 5460], [5461, 10922], [10923, 16383]] as const
  for (const [i, port] of ports.entries()) {
    const [from, to] = ranges[i] as readonly [number, number]
    await command(port, 'CLUSTER', 'ADDSLOTSRANGE', from, to)
    if (i > 0) await command(port, 'CLUSTER', 'MEET', '127.0.0.1', ports[0] as number)
  }
  await until('the Redis Cluster did not reach cluster_state:ok', async () => {
    for (const port of ports) {
      if (!String(await command(port, 'CLUSTER', 'INFO')).includes('cluster_state:ok')) return false
      // Every node must know every other node's slots before clients ask any of them.
      const slots = await command(port, 'CLUSTER', 'SLOTS') as unknown[]
      if (slots.length !== 3) return false
    }
    return true
  })
  const each = async <T>(fn: (port: number) => Promise<T>): Promise<T[]> => await Promise.all(ports.map(fn))
  return {
    ports,
    url: `redis+cluster://${ports.map((p) => `127.0.0.1:${p}`).join(',')}`,
    nodes: ports.map((port) => ({ host: '127.0.0.1', port })),
    ownerOf: async (slot) => {
      const slots = await command(ports[0] as number, 'CLUSTER', 'SLOTS') as Array<[number, number, [string, number]]>
      const owner = slots.find(([from, to]) => slot >= from && slot <= to)
      if (owner === undefined) throw new Error(`slot ${slot} is served by no node`)
      return owner[2][1]
    },
    keys: async () => (await each(async (port) => await command(port, 'KEYS', '*') as string[])).flat(),
    flush: async () => { await each(async (port) => await command(port, 'FLUSHALL')) }
  }
}

/**
 * Moves `slot` from the node at `from` to the node at `to`, as `redis-cli --cluster reshard` does, in steps the test
 * may run between: `begin` marks it MIGRATING/IMPORTING (clients get ASK for keys already moved), `moveKeys`
 * migrates its keys, `finish` gives it to `to` on every node (clients get MOVED).
 */
export async function migrateSlot (ports: readonly number[], slot: number, from: number, to: number): Promise<{ moveKeys: () => Promise<number>, finish: () => Promise<void> }> {
  const idOf = async (port: number): Promise<string> => String(await command(port, 'CLUSTER', 'MYID'))
  const [fromId, toId] = [await idOf(from), await idOf(to)]
  await command(to, 'CLUSTER', 'SETSLOT', slot, 'IMPORTING', fromId)
  await command(from, 'CLUSTER', 'SETSLOT', slot, 'MIGRATING', toId)
  return {
    moveKeys: async () => {
      let moved = 0
      for (;;) {
        const keys = await command(from, 'CLUSTER', 'GETKEYSINSLOT', slot, 100) as string[]
        if (keys.length === 0) return moved
        await command(from, 'MIGRATE', '127.0.0.1', to, '', 0, 5000, 'KEYS', ...keys)
        moved += keys.length
      }
    },
    finish: async () => {
      for (const port of [to, from, ...ports.filter((p) => p !== from && p !== to)]) await command(port, 'CLUSTER', 'SETSLOT', slot, 'NODE', toId)
    }
  }
}

/** The cluster hash slot of `key` (CRC16 of its hash tag or of the whole key, mod 16384), as Redis computes it. */
export function slotOf (key: string): number {
  const open = key.indexOf('{')
  if (open !== -1) {
    const close = key.indexOf('}', open + 1)
    if (close > open + 1) key = key.slice(open + 1, close)
  }
  let crc = 0
  for (const byte of Buffer.from(key, 'utf8')) {
    crc ^= byte << 8
    for (let i = 0; i < 8; i++) crc = (crc & 0x8000) !== 0 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff
  }
  return crc % 16384
}

export interface PrivateRedisSentinel {
  /** `redis+sentinel://127.0.0.1:S/mymaster` */
  readonly url: string
  /** ioredis's Sentinel options: `{ sentinels: [{ host, port }], name }`. */
  readonly options: { sentinels: Array<{ host: '127.0.0.1', port: number }>, name: string }
  /** The port of the primary the sentinel names now. */
  primaryPort (): Promise<number>
  /** Kills the current primary (SIGKILL) and waits until the sentinel has promoted the replica. Once per file. */
  failover (): Promise<{ oldPrimary: number, newPrimary: number }>
}

const NAME = 'mymaster'

/**
 * A real Sentinel set-up for one test file: a primary, its replica and one sentinel (quorum 1, down after 1 s), all
 * stopped in `t.teardown`.
 *
 * @example
 * const sentinel = await startRedisSentinel(t)
 * const store = new RedisNonceStore(sentinel.url)
 * await sentinel.failover()
 */
export async function startRedisSentinel (t: Teardownable): Promise<PrivateRedisSentinel> {
  const primary = await startNode(t, 'redis-primary', () => [])
  const replica = await startNode(t, 'redis-replica', () => ['--replicaof', '127.0.0.1', String(primary.port)])
  await until('the replica did not sync with the primary', async () => String(await command(replica.port, 'INFO', 'replication')).includes('master_link_status:up'))
  // Sentinel needs a config file it can rewrite (its own user's); the settings come on the command line.
  const sentinel = await startNode(t, 'redis-sentinel', (_port, dir) => [`${dir}/sentinel.conf`, '--sentinel',
    '--sentinel', 'monitor', NAME, '127.0.0.1', String(primary.port), '1',
    '--sentinel', 'down-after-milliseconds', NAME, '1000',
    '--sentinel', 'failover-timeout', NAME, '3000'], async (dir) => { await runAs('redis', ['touch', `${dir}/sentinel.conf`]) })
  const nodes = [primary, replica]
  const primaryPort = async (): Promise<number> => {
    const [, port] = await command(sentinel.port, 'SENTINEL', 'GET-MASTER-ADDR-BY-NAME', NAME) as [string, string]
    return Number(port)
  }
  await until('the sentinel did not find the replica', async () => {
    const replicas = await command(sentinel.port, 'SENTINEL', 'REPLICAS', NAME) as unknown[]
    return replicas.length === 1
  })
  let failedOver = false
  return {
    url: `redis+sentinel://127.0.0.1:${sentinel.port}/${NAME}`,
    options: { sentinels: [{ host: '127.0.0.1', port: sentinel.port }], name: NAME },
    primaryPort,
    failover: async () => {
      if (failedOver) throw new Error('failover(): once per file (the old primary is not restarted)')
      failedOver = true
      const oldPrimary = await primaryPort()
      const dead = nodes.find((n) => n.port === oldPrimary)
      if (dead === undefined) throw new Error(`no node of ours on port ${oldPrimary}`)
      // Killed, not shut down (which would wait for the replica): frozen first, stop() then uses SIGKILL.
      await dead.pause()
      await dead.stop()
      await until('the sentinel did not promote the replica', async () => {
        const port = await primaryPort()
        return port !== oldPrimary && String(await command(port, 'ROLE')).startsWith('master')
      }, 30_000)
      return { oldPrimary, newPrimary: await primaryPort() }
    }
  }
}
