import { InvalidOption, MissingPeerDependency, StoreUnavailable, withinDeadline } from '../cred/index.js'
import { loadDriver } from './load-driver.js'

/**
 * What the Redis-backed stores (the Digest nonce store, the login throttle) share: a client that is either the
 * app's own or made and owned here (ioredis, an optional peer dependency loaded on first use), Lua scripts run by
 * `EVALSHA` with an `EVAL` fallback, every failure a `StoreUnavailable` within `timeout`, and closing what is owned.
 */

/**
 * What a store needs of a Redis client the app already has. An ioredis `Redis` (or `Cluster`) instance fits as it
 * is; the store only runs its scripts on it and never closes it.
 */
export interface RedisClientLike {
  /** Runs a script Redis already holds, by its SHA-1 (ioredis's `evalsha`). */
  evalsha (sha1: string, numKeys: number, ...args: Array<string | number>): Promise<unknown>
  /** Runs a script given in full (ioredis's `eval`), when Redis does not hold it yet. */
  eval (script: string, numKeys: number, ...args: Array<string | number>): Promise<unknown>
}

/**
 * ioredis connection options (`host`, `port`, `path`, `username`, `password`, `db`, `tls`, ...). Sentinel: ioredis's
 * `sentinels` (`[{ host, port }]`) and `name` (the primary's name). Redis Cluster: `clusterNodes`, the seed nodes; the
 * other options then apply to each node's connection.
 */
export interface RedisConnectionOptions {
  host?: string
  port?: number
  path?: string
  username?: string
  password?: string
  db?: number
  tls?: Readonly<Record<string, unknown>>
  /** Sentinel: where the sentinels listen; `name` says which primary they watch. */
  sentinels?: ReadonlyArray<{ readonly host: string, readonly port: number }>
  /** Sentinel: the name of the primary (`sentinel monitor <name> …`). */
  name?: string
  /** Redis Cluster: some of its nodes (any will do; the client learns the others from them). */
  clusterNodes?: ReadonlyArray<{ readonly host: string, readonly port: number }>
  [option: string]: unknown
}

/** The parts of an ioredis client used on a client made here. */
interface OwnedClient extends RedisClientLike {
  readonly status: string
  connect (): Promise<void>
  quit (): Promise<unknown>
  disconnect (): void
  on (event: 'error', listener: (err: Error) => void): unknown
}
type RedisConstructor = new (...args: unknown[]) => OwnedClient

type Endpoint = { host: string, port: number }

const ENDPOINT = /^(\[[0-9a-f:.]+\]|[^\s/:@[\]]+)(?::(\d{1,5}))?$/i

/** `host:port,host:port` as endpoints (IPv6 in brackets), or a message saying what is wrong. */
function endpoints (list: string, defaultPort: number): Endpoint[] | string {
  const out: Endpoint[] = []
  for (const item of list.split(',')) {
    const m = ENDPOINT.exec(item.trim())
    const port = Number(m?.[2] ?? defaultPort)
    if (m === null || port < 1 || port > 65535) return `${JSON.stringify(item)} is not host:port`
    out.push({ host: (m[1] as string).replace(/^\[|\]$/g, ''), port })
  }
  return out
}

/**
 * The ioredis options a connection URL stands for:
 * - `redis://[user:password@]host[:port][/db]` (`rediss://` for TLS): one Redis, kept as the URL ioredis reads;
 * - `redis+cluster://[user:password@]host:port,host:port,…` (`rediss+cluster://`): a Redis Cluster from its seeds;
 * - `redis+sentinel://[user:password@]host:port,host:port,…/name[/db]` (`rediss+sentinel://`): the primary the
 *   sentinels call `name`; the password is the primary's (give `sentinelPassword` in options when sentinels need one).
 *
 * @throws InvalidOption naming what is wrong, never repeating the URL (it may hold a password).
 * @example
 * redisConnectionFromUrl('redis+cluster://10.0.0.1:7000,10.0.0.2:7000', 'RedisThrottle')
 * // { options: { clusterNodes: [{ host: '10.0.0.1', port: 7000 }, { host: '10.0.0.2', port: 7000 }] } }
 */
export function redisConnectionFromUrl (url: string, owner: string): { url?: string, options: RedisConnectionOptions } {
  const m = /^(rediss?)(?:\+(cluster|sentinel))?:\/\/(?:([^@/]*)@)?([^/?#]*)(\/[^?#]*)?$/i.exec(url)
  if (m === null) throw new InvalidOption(`${owner}: a Redis URL is redis://host:port[/db], redis+cluster://host:port,host:port,… or redis+sentinel://host:port,…/name (rediss… for TLS)`)
  const [, scheme = 'redis', kind, userinfo, hosts = '', path = ''] = m
  if (kind === undefined) return { url, options: {} }
  const auth: RedisConnectionOptions = {}
  const decode = (text: string): string => {
    try { return decodeURIComponent(text) } catch { throw new InvalidOption(`${owner}: a ${scheme}+${kind}:// URL has a bad %-escape`) }
  }
  if (userinfo !== undefined && userinfo !== '') {
    const colon = userinfo.indexOf(':')
    const user = decode(colon === -1 ? userinfo : userinfo.slice(0, colon))
    if (colon === -1) auth.password = user
    else {
      if (user !== '') auth.username = user
      auth.password = decode(userinfo.slice(colon + 1))
    }
  }
  const tls = scheme.toLowerCase() === 'rediss' ? { tls: {} } : {}
  const seeds = endpoints(hosts, kind.toLowerCase() === 'cluster' ? 6379 : 26379)
  if (typeof seeds === 'string') throw new InvalidOption(`${owner}: in a ${scheme}+${kind}:// URL, ${seeds}`)
  if (kind.toLowerCase() === 'cluster') {
    if (path !== '' && path !== '/') throw new InvalidOption(`${owner}: a Redis Cluster has only database 0: no /path in a ${scheme}+cluster:// URL`)
    return { options: { ...auth, ...tls, clusterNodes: seeds } }
  }
  const [, name = '', db] = path.split('/')
  if (name === '') throw new InvalidOption(`${owner}: a ${scheme}+sentinel:// URL ends with /<primary name>, e.g. redis+sentinel://127.0.0.1:26379/mymaster`)
  if (db !== undefined && !/^\d+$/.test(db)) throw new InvalidOption(`${owner}: the database after the primary name is a number`)
  return {
    options: {
      ...auth,
      ...tls,
      ...(tls.tls === undefined ? {} : { enableTLSForSentinelMode: true }),
      sentinels: seeds,
      name: decode(name),
      ...(db === undefined ? {} : { db: Number(db) })
    }
  }
}

const isClient = (value: unknown): value is RedisClientLike =>
  typeof value === 'object' && value !== null &&
  typeof (value as RedisClientLike).evalsha === 'function' && typeof (value as RedisClientLike).eval === 'function'

const constructorOf = (mod: unknown, name: 'Redis' | 'Cluster'): RedisConstructor | undefined => {
  const m = mod as Record<string, unknown> | null
  const candidates = [m?.[name], (m?.default as Record<string, unknown> | undefined)?.[name], name === 'Redis' ? m?.default : undefined]
  return candidates.find((c): c is RedisConstructor => typeof c === 'function')
}

/** True for an ioredis `Cluster` (it says so itself): its keys live in slots spread over nodes. */
const isClusterClient = (client: RedisClientLike): boolean => (client as { isCluster?: unknown }).isCluster === true

const isNoScript = (err: unknown): boolean => err instanceof Error && err.message.startsWith('NOSCRIPT')

/** A Redis connection for running Lua scripts, as one store needs it. */
export class RedisScripts {
  readonly timeout: number
  readonly #owner: string
  readonly #given: RedisClientLike | undefined
  readonly #connection: { url?: string, options: RedisConnectionOptions } | undefined
  readonly #timedOut: () => StoreUnavailable
  #client: RedisClientLike | undefined
  #owned: OwnedClient | undefined
  #starting: Promise<RedisClientLike> | undefined
  #closed = false

  /**
   * @param owner The store's name, for messages (`'RedisNonceStore'`).
   * @param connection An app's client (never closed here), a `redis://` URL or ioredis options (a client is then made
   * and owned here: no offline queue, no retries, `timeout` as its command and connect timeout).
   * @throws InvalidOption for anything else, or a bad timeout.
   */
  constructor (owner: string, connection: RedisClientLike | string | RedisConnectionOptions, timeout: number) {
    if (typeof timeout !== 'number' || !Number.isFinite(timeout) || timeout <= 0) {
      throw new InvalidOption(`${owner}: \`timeout\` must be a positive number of milliseconds, got ${String(timeout)}`)
    }
    this.#owner = owner
    this.timeout = timeout
    this.#timedOut = () => new StoreUnavailable(`${owner}: Redis did not answer within ${timeout} ms`)
    if (isClient(connection)) {
      this.#given = connection
      this.#client = connection
    } else if (typeof connection === 'string') {
      this.#connection = redisConnectionFromUrl(connection, owner)
    } else if (typeof connection === 'object' && connection !== null) {
      const nodes = connection.clusterNodes
      if (nodes !== undefined && (!Array.isArray(nodes) || nodes.length === 0)) throw new InvalidOption(`${owner}: \`clusterNodes\` lists at least one { host, port }`)
      this.#connection = { options: connection }
    } else {
      throw new InvalidOption(`${owner}: give an ioredis client, a redis:// URL or ioredis connection options`)
    }
  }

  /**
   * True when the keys live on a Redis Cluster (ours from `clusterNodes` or a `redis+cluster://` URL, or an app's
   * ioredis `Cluster`): a script may then only touch keys of one slot.
   */
  get cluster (): boolean {
    return this.#given === undefined ? this.#connection?.options.clusterNodes !== undefined : isClusterClient(this.#given)
  }

  /** True once `close()` was called: every run rejects with `StoreUnavailable`. */
  get closed (): boolean { return this.#closed }

  /** `err` as the `StoreUnavailable` it means (ioredis messages name the failure, never a password). */
  unavailable (err: unknown): StoreUnavailable {
    return StoreUnavailable.from(err, `${this.#owner}: Redis is unavailable`)
  }

  /**
   * Runs a script: `EVALSHA`, then `EVAL` when Redis lost its script cache. Rejects with `StoreUnavailable` (or
   * `MissingPeerDependency`) when Redis cannot answer within `timeout`.
   */
  run (sha: string, script: string, numKeys: number, args: ReadonlyArray<string | number>): Promise<unknown> {
    const client = this.#client
    const ready = client !== undefined && !this.#closed ? Promise.resolve(client) : this.ready()
    return ready.then((c) => {
      const ask = c.evalsha(sha, numKeys, ...args).then(undefined, (err: unknown) => {
        if (!isNoScript(err)) throw err
        return c.eval(script, numKeys, ...args)
      })
      // Our own single-node client times out by itself (commandTimeout, no offline queue); an app's client may queue
      // forever, and a cluster client follows MOVED/ASK redirections and waits out a failover's CLUSTERDOWN.
      return this.#given === undefined && !this.cluster ? ask : withinDeadline(ask, this.timeout, this.#timedOut, { unref: true })
    }).then(undefined, (err: unknown) => {
      if (err instanceof MissingPeerDependency || err instanceof InvalidOption) throw err
      throw this.unavailable(err)
    })
  }

  /** A connected client: the app's, or one made here on first use. */
  ready (): Promise<RedisClientLike> {
    if (this.#closed) return Promise.reject(new StoreUnavailable(`${this.#owner} is closed`))
    if (this.#client !== undefined) return Promise.resolve(this.#client)
    this.#starting ??= this.#start().then((client) => {
      this.#starting = undefined
      if (!this.#closed) this.#client = client
      return client
    }, (err: unknown) => {
      this.#starting = undefined
      throw err
    })
    return this.#starting
  }

  /**
   * Loads ioredis for a client made here (an app's client needs nothing), without connecting: a Redis that is down
   * now is a run-time `StoreUnavailable`.
   *
   * @throws MissingPeerDependency when ioredis is not installed (or has no Redis class); StoreUnavailable once closed.
   */
  async prepare (): Promise<void> {
    if (this.#closed) throw new StoreUnavailable(`${this.#owner} is closed`)
    if (this.#given === undefined) this.#redisClass(await loadDriver('ioredis', this.#owner), this.cluster ? 'Cluster' : 'Redis')
  }

  /** Quits the client made here; an app's client is left open (the app closes it). */
  async close (): Promise<void> {
    this.#closed = true
    this.#client = undefined
    const starting = this.#starting
    this.#starting = undefined
    if (starting !== undefined) await starting.catch(() => undefined)
    const owned = this.#owned
    this.#owned = undefined
    if (owned === undefined) return
    try {
      await withinDeadline(owned.quit(), this.timeout, this.#timedOut, { unref: true })
    } catch {
      owned.disconnect()
    }
  }

  #redisClass (mod: unknown, name: 'Redis' | 'Cluster'): RedisConstructor {
    const Redis = constructorOf(mod, name)
    if (Redis === undefined) throw new MissingPeerDependency(`${this.#owner}: the ioredis module has no ${name} class; install ioredis 5 or 6 (npm install ioredis)`)
    return Redis
  }

  async #start (): Promise<RedisClientLike> {
    let owned = this.#owned
    if (owned === undefined) {
      const connection = this.#connection
      if (connection === undefined) throw new InvalidOption(`${this.#owner}: no connection to open`)
      const { clusterNodes, ...given } = connection.options
      const Redis = this.#redisClass(await loadDriver('ioredis', this.#owner), clusterNodes === undefined ? 'Redis' : 'Cluster')
      const options: RedisConnectionOptions = {
        ...given,
        lazyConnect: true,
        // A store must fail fast when Redis is away, never wait in a queue for a reconnection.
        enableOfflineQueue: false,
        maxRetriesPerRequest: 0,
        autoResendUnfulfilledCommands: false,
        commandTimeout: this.timeout,
        connectTimeout: this.timeout
      }
      if (clusterNodes !== undefined) {
        const { lazyConnect, enableOfflineQueue, ...redisOptions } = options
        // The cluster client follows MOVED and ASK by itself (a reshard) and retries while the cluster elects a new
        // primary; the deadline in run() bounds every wait, so a request in flight gets a 503 at worst.
        owned = new Redis(clusterNodes.map((n) => ({ host: n.host, port: n.port })), { lazyConnect, enableOfflineQueue, redisOptions, slotsRefreshTimeout: this.timeout })
      } else {
        // A primary demoted by a Sentinel failover answers READONLY: reconnect, and Sentinel names the new one.
        options.reconnectOnError = (err: Error) => err.message.startsWith('READONLY')
        owned = connection.url === undefined ? new Redis(options) : new Redis(connection.url, options)
      }
      // ioredis reconnects by itself; without a listener each failed attempt would be printed as "Unhandled error event".
      owned.on('error', () => {})
      if (this.#closed) { owned.disconnect(); throw new StoreUnavailable(`${this.#owner} is closed`) }
      this.#owned = owned
    }
    if (owned.status === 'wait') {
      try {
        await withinDeadline(owned.connect(), this.timeout, this.#timedOut, { unref: true })
      } catch (err) {
        throw this.unavailable(err)
      }
    }
    return owned
  }
}
