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
  evalsha (sha1: string, numKeys: number, ...args: Array<string | number>): Promise<unknown>
  eval (script: string, numKeys: number, ...args: Array<string | number>): Promise<unknown>
}

/** ioredis connection options (`host`, `port`, `path`, `username`, `password`, `db`, `tls`, ...). */
export interface RedisConnectionOptions {
  host?: string
  port?: number
  path?: string
  username?: string
  password?: string
  db?: number
  tls?: Readonly<Record<string, unknown>>
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

const isClient = (value: unknown): value is RedisClientLike =>
  typeof value === 'object' && value !== null &&
  typeof (value as RedisClientLike).evalsha === 'function' && typeof (value as RedisClientLike).eval === 'function'

const constructorOf = (mod: unknown): RedisConstructor | undefined => {
  const m = mod as { Redis?: unknown, default?: unknown } | null
  const candidates = [m?.Redis, (m?.default as { Redis?: unknown } | undefined)?.Redis, m?.default]
  return candidates.find((c): c is RedisConstructor => typeof c === 'function')
}

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
      if (!/^rediss?:\/\//i.test(connection)) throw new InvalidOption(`${owner}: a URL must start with redis:// or rediss://`)
      this.#connection = { url: connection, options: {} }
    } else if (typeof connection === 'object' && connection !== null) {
      this.#connection = { options: connection }
    } else {
      throw new InvalidOption(`${owner}: give an ioredis client, a redis:// URL or ioredis connection options`)
    }
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
      // Our own client times out by itself (commandTimeout, no offline queue); an app's client may queue forever.
      return this.#given === undefined ? ask : withinDeadline(ask, this.timeout, this.#timedOut, { unref: true })
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
    if (this.#given === undefined) this.#redisClass(await loadDriver('ioredis', this.#owner))
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

  #redisClass (mod: unknown): RedisConstructor {
    const Redis = constructorOf(mod)
    if (Redis === undefined) throw new MissingPeerDependency(`${this.#owner}: the ioredis module has no Redis class; install ioredis 5 or 6 (npm install ioredis)`)
    return Redis
  }

  async #start (): Promise<RedisClientLike> {
    let owned = this.#owned
    if (owned === undefined) {
      const Redis = this.#redisClass(await loadDriver('ioredis', this.#owner))
      const connection = this.#connection
      if (connection === undefined) throw new InvalidOption(`${this.#owner}: no connection to open`)
      const options: RedisConnectionOptions = {
        ...connection.options,
        lazyConnect: true,
        // A store must fail fast when Redis is away, never wait in a queue for a reconnection.
        enableOfflineQueue: false,
        maxRetriesPerRequest: 0,
        autoResendUnfulfilledCommands: false,
        commandTimeout: this.timeout,
        connectTimeout: this.timeout
      }
      owned = connection.url === undefined ? new Redis(options) : new Redis(connection.url, options)
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
