import { hash } from 'node:crypto'
import { InvalidOption, MissingPeerDependency, StoreUnavailable, TooManyAttempts } from '../cred/index.js'
import type { LoginAttempt, LoginThrottle } from '../cred/index.js'
import { RedisScripts } from '../drivers/index.js'
import type { RedisClientLike, RedisConnectionOptions } from '../drivers/index.js'

export type { RedisClientLike, RedisConnectionOptions }
import { TOO_MANY, attemptKeys, resolvePolicy } from './policy.js'
import type { ThrottleOptions, ThrottlePolicy } from './policy.js'

export interface RedisThrottleOptions extends ThrottleOptions {
  /**
   * Prefix of every key the throttle writes. Default `'fastify-cred:throttle:'`. No hash tag is needed on a Redis
   * Cluster: there each count is checked and raised by a script of its own, so the counts spread over the primaries.
   */
  keyPrefix?: string
  /** Milliseconds after which Redis counts as unavailable. Default 1000. */
  timeout?: number
  /**
   * What an attempt does when Redis cannot answer: `false` (the default) refuses it with `StoreUnavailable` (HTTP 503,
   * fail closed: no guessing while the throttle is blind); `true` lets it through unthrottled (fail open: logins keep
   * working during a Redis outage, and so does guessing). Use `onError` to hear about the outage either way.
   */
  failOpen?: boolean
  /** Told every Redis failure (a check or a count), e.g. to log it. Must not throw. */
  onError?: (error: StoreUnavailable) => void
}

/**
 * KEYS: the counts to check (user name, address). ARGV: now, baseDelay, maxDelay, forgetAfter, then one threshold
 * per key. A count is "failures:lastFailureMs". Returns the longest wait in ms (0: go ahead).
 */
const CHECK = `local now = tonumber(ARGV[1])
local base = tonumber(ARGV[2])
local max = tonumber(ARGV[3])
local forget = tonumber(ARGV[4])
local wait = 0
for i = 1, #KEYS do
  local state = redis.call('GET', KEYS[i])
  if state then
    local n, last = string.match(state, '^(%d+):(%d+)$')
    n = tonumber(n)
    last = tonumber(last)
    if not n or not last then return redis.error_reply('fastify-cred: unexpected throttle state') end
    local threshold = tonumber(ARGV[4 + i])
    if now - last < forget and n >= threshold then
      local e = n - threshold
      if e > 52 then e = 52 end
      local d = base * 2 ^ e
      if d > max then d = max end
      if last + d - now > wait then wait = last + d - now end
    end
  end
end
return math.ceil(wait)
`
/** KEYS: the counts to raise. ARGV: now, forgetAfter. Each key expires `forgetAfter` after its last failure. */
const FAIL = `local now = tonumber(ARGV[1])
local forget = tonumber(ARGV[2])
for i = 1, #KEYS do
  local n = 0
  local state = redis.call('GET', KEYS[i])
  if state then
    local c, last = string.match(state, '^(%d+):(%d+)$')
    if c and last and now - tonumber(last) < forget then n = tonumber(c) end
  end
  redis.call('SET', KEYS[i], string.format('%d:%d', n + 1, now), 'PX', ARGV[2])
end
return 1
`
const DEL = "redis.call('DEL', KEYS[1]) return 1"
const DEL_SHA = hash('sha1', DEL, 'hex')
const CHECK_SHA = hash('sha1', CHECK, 'hex')
const FAIL_SHA = hash('sha1', FAIL, 'hex')

/**
 * A brute-force throttle shared by every instance using one Redis: the same policy as `MemoryThrottle` (per user
 * name and per address network, exponential back-off, a success resets the user name), with the counts in Redis, so
 * a guesser spreading attempts over instances behind a load balancer is counted once.
 *
 * Each check is one round trip (a Lua script, `EVALSHA`, then `EVAL` when Redis lost its script cache); each failure
 * one more, each success one `DEL`. Keys expire by themselves `forgetAfter` after their last failure. The clock is
 * the app's (`now`): keep the instances' clocks in sync (NTP); a skew shifts waits by at most the skew.
 *
 * When Redis is down, slow (over `timeout`) or answers nonsense, a check fails closed by default (`StoreUnavailable`,
 * HTTP 503 with `Retry-After`) or, with `failOpen: true`, lets the attempt through. A failure to count is reported to
 * `onError` and otherwise ignored (it must not turn a login into an error).
 *
 * Redis Cluster (`redis+cluster://host:port,host:port`, `clusterNodes`, or an app's ioredis `Cluster`): the user
 * name's and the address's counts hash to different slots, so a check runs one script per key, both at once (the
 * same one round trip of latency, two commands), and a failure raises each count by a script of its own. Sentinel
 * (`redis+sentinel://host:port,…/name`): counts live on the primary; a failover loses the counts the replica had
 * not received yet (the replication lag), and the requests in flight get 503 (or pass, with `failOpen`).
 *
 * ioredis (5 or 6) is an optional peer dependency, imported on first use only; without it a check rejects with
 * `MissingPeerDependency` (whatever `failOpen` says: that is a set-up error, not an outage).
 *
 * @example
 * import { RedisThrottle } from 'fastify-cred/throttle'
 * const throttle = new RedisThrottle('redis://127.0.0.1:6379', { failOpen: false, onError: (err) => app.log.warn(err) })
 * // or a cluster: new RedisThrottle('redis+cluster://10.0.0.1:7000,10.0.0.2:7000,10.0.0.3:7000')
 * await app.register(cred, { realm, checkers, interfaces: [IUser], throttle })
 * app.addHook('onClose', () => throttle.close())
 */
export class RedisThrottle implements LoginThrottle {
  readonly keyPrefix: string
  readonly timeout: number
  readonly failOpen: boolean
  readonly #policy: ThrottlePolicy
  readonly #onError: ((error: StoreUnavailable) => void) | undefined
  readonly #redis: RedisScripts

  /**
   * @param connection An ioredis client of the app's (never closed by the throttle), a `redis://` URL or ioredis
   * options (the throttle then owns its client: no offline queue, no retries, `timeout` as command timeout).
   * @throws InvalidOption for a bad option.
   */
  constructor (connection: RedisClientLike | string | RedisConnectionOptions, options: RedisThrottleOptions = {}) {
    this.#policy = resolvePolicy('RedisThrottle', options)
    const keyPrefix = options.keyPrefix ?? 'fastify-cred:throttle:'
    if (typeof keyPrefix !== 'string' || keyPrefix === '') throw new InvalidOption('RedisThrottle: `keyPrefix` must be a non-empty string')
    const failOpen = options.failOpen ?? false
    if (typeof failOpen !== 'boolean') throw new InvalidOption('RedisThrottle: `failOpen` must be true or false')
    if (options.onError !== undefined && typeof options.onError !== 'function') throw new InvalidOption('RedisThrottle: `onError` must be a function')
    this.#redis = new RedisScripts('RedisThrottle', connection, options.timeout ?? 1000)
    this.keyPrefix = keyPrefix
    this.timeout = this.#redis.timeout
    this.failOpen = failOpen
    this.#onError = options.onError
  }

  /**
   * Connects now (loading ioredis for a throttle that owns its client). Optional: the first check connects.
   *
   * @throws StoreUnavailable, or MissingPeerDependency when ioredis is not installed.
   */
  async connect (): Promise<void> {
    await this.#redis.ready()
  }

  /**
   * Loads ioredis when the throttle makes its own client, without connecting (see `LoginThrottle.prepare`): a server
   * without ioredis does not start; one whose Redis is down does.
   *
   * @throws MissingPeerDependency when ioredis is not installed; StoreUnavailable once closed.
   */
  async prepare (): Promise<void> {
    await this.#redis.prepare()
  }

  /**
   * One round trip: rejects with `TooManyAttempts` when the user name or address must wait, with
   * `StoreUnavailable` when Redis cannot answer (unless `failOpen`).
   */
  acquire (attempt: LoginAttempt): Promise<void> {
    // Closed is final, whatever failOpen says: a closed throttle lets nothing through.
    if (this.#redis.closed) return Promise.reject(new StoreUnavailable('RedisThrottle is closed'))
    const policy = this.#policy
    const { user, address } = attemptKeys(policy, attempt)
    const keys: string[] = []
    const thresholds: number[] = []
    if (user !== undefined) { keys.push(this.keyPrefix + user); thresholds.push(policy.userThreshold) }
    if (address !== undefined) { keys.push(this.keyPrefix + address); thresholds.push(policy.addressThreshold) }
    if (keys.length === 0) return Promise.resolve()
    const settings = [Math.floor(policy.now()), policy.baseDelay, policy.maxDelay, policy.forgetAfter]
    const check = (keys: string[], thresholds: number[]): Promise<number> =>
      this.#eval(CHECK_SHA, CHECK, keys.length, [...keys, ...settings, ...thresholds]).then((reply) => {
        if (typeof reply !== 'number' || !Number.isFinite(reply)) throw new StoreUnavailable('Redis throttle: unexpected reply from the check script')
        return reply
      })
    // A cluster keeps the user name's and the address's counts in different slots, which one script may not touch
    // together: one check per key, at once, the longest wait wins (a check only reads, so nothing is lost).
    const waits = this.#redis.cluster && keys.length > 1
      ? Promise.all(keys.map(async (key, i) => await check([key], [thresholds[i] as number]))).then((all) => Math.max(...all))
      : check(keys, thresholds)
    return waits.then((wait) => {
      if (wait > 0) throw new TooManyAttempts(TOO_MANY, wait / 1000)
    }).then(undefined, (err: unknown) => {
      if (err instanceof TooManyAttempts || err instanceof MissingPeerDependency || err instanceof InvalidOption) throw err
      const outage = this.#redis.unavailable(err)
      this.#report(outage)
      if (!this.failOpen) throw outage
    })
  }

  /** One round trip: counts a failure against the user name and the address, or deletes the user name's count. Never rejects. */
  record (attempt: LoginAttempt, succeeded: boolean): Promise<void> {
    if (this.#redis.closed) return Promise.resolve()
    const policy = this.#policy
    const { user, address } = attemptKeys(policy, attempt)
    let done: Promise<unknown>
    if (succeeded) {
      if (user === undefined) return Promise.resolve()
      // DEL as a script too, so an app's client only needs eval/evalsha.
      done = this.#eval(DEL_SHA, DEL, 1, [this.keyPrefix + user])
    } else {
      const keys = [user, address].filter((k): k is string => k !== undefined).map((k) => this.keyPrefix + k)
      if (keys.length === 0) return Promise.resolve()
      const settings = [Math.floor(policy.now()), policy.forgetAfter]
      // On a cluster, one count per script (the keys are in different slots); each count is still raised atomically.
      done = this.#redis.cluster
        ? Promise.all(keys.map(async (key) => await this.#eval(FAIL_SHA, FAIL, 1, [key, ...settings])))
        : this.#eval(FAIL_SHA, FAIL, keys.length, [...keys, ...settings])
    }
    return done.then(() => undefined, (err: unknown) => { this.#report(this.#redis.unavailable(err)) })
  }

  /**
   * Quits the client the throttle created; a client given by the app is left open. Idempotent and final: afterwards
   * `acquire` rejects with `StoreUnavailable` (also with `failOpen`) and `record` does nothing.
   */
  async close (): Promise<void> {
    await this.#redis.close()
  }

  #report (error: StoreUnavailable): void {
    try { this.#onError?.(error) } catch {}
  }

  #eval (sha: string, script: string, numKeys: number, args: Array<string | number>): Promise<unknown> {
    return this.#redis.run(sha, script, numKeys, args)
  }
}
