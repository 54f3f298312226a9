import { InvalidOption, TooManyAttempts } from '../cred/index.js'
import type { LoginAttempt, LoginThrottle } from '../cred/index.js'
import { TOO_MANY, attemptKeys, backOff, resolvePolicy } from './policy.js'
import type { ThrottleOptions, ThrottlePolicy } from './policy.js'

export interface MemoryThrottleOptions extends ThrottleOptions {
  /**
   * The most counts kept (user names plus address networks). Default 100 000, a few MB. When full, the count whose
   * last failure is oldest is dropped first. Size it above the failures you expect within `forgetAfter`: an
   * attacker who can make more distinct failures than this can push a count out early.
   */
  maxEntries?: number
}

interface Count {
  failures: number
  /** When the last failure was recorded (the throttle's clock). */
  last: number
}

/**
 * A brute-force throttle for one process: failed logins counted per user name and per client address network
 * (IPv6 by /64), with exponential back-off. Once a count reaches its threshold, the next attempt for that user name
 * or from that network must wait `baseDelay`, doubled at each further failure up to `maxDelay`; until then the
 * Portal refuses it with `TooManyAttempts` (HTTP 429 with `Retry-After`) before any checker runs, so a throttled
 * attempt costs no password hash. A success resets the user name's count (not the address's: one good account must
 * not clear a network that is guessing other users' passwords). Counts are forgotten `forgetAfter` after their last
 * failure; memory is bounded by `maxEntries`.
 *
 * Synchronous: it adds no promise to a login. For several processes or machines, use `RedisThrottle`.
 *
 * @example
 * import cred, { MemoryThrottle } from 'fastify-cred'
 * await app.register(cred, {
 *   realm, checkers, interfaces: [IUser],
 *   throttle: new MemoryThrottle({ userThreshold: 5, addressThreshold: 20, maxDelay: 15 * 60_000 })
 * })
 */
export class MemoryThrottle implements LoginThrottle {
  readonly maxEntries: number
  readonly #policy: ThrottlePolicy
  /** Insertion order is the order of last failure: the first entry is the one to drop. */
  readonly #counts = new Map<string, Count>()

  constructor (options: MemoryThrottleOptions = {}) {
    this.#policy = resolvePolicy('MemoryThrottle', options)
    const maxEntries = options.maxEntries ?? 100_000
    if (typeof maxEntries !== 'number' || !Number.isSafeInteger(maxEntries) || maxEntries < 2) {
      throw new InvalidOption(`MemoryThrottle: \`maxEntries\` must be an integer of at least 2, got ${String(maxEntries)}`)
    }
    this.maxEntries = maxEntries
  }

  /** How many counts are held now. */
  get size (): number {
    return this.#counts.size
  }

  /**
   * Throws `TooManyAttempts` when the user name or the address must wait; returns otherwise.
   *
   * @throws TooManyAttempts with `retryAfter` in whole seconds.
   */
  acquire (attempt: LoginAttempt): void {
    const policy = this.#policy
    const now = policy.now()
    const { user, address } = attemptKeys(policy, attempt)
    const wait = Math.max(this.#wait(user, policy.userThreshold, now), this.#wait(address, policy.addressThreshold, now))
    if (wait > 0) throw new TooManyAttempts(TOO_MANY, wait / 1000)
  }

  /** Counts a failure against the user name and the address, or resets the user name's count on success. */
  record (attempt: LoginAttempt, succeeded: boolean): void {
    const policy = this.#policy
    const { user, address } = attemptKeys(policy, attempt)
    if (succeeded) {
      if (user !== undefined) this.#counts.delete(user)
      return
    }
    const now = policy.now()
    if (user !== undefined) this.#fail(user, now)
    if (address !== undefined) this.#fail(address, now)
  }

  /** Forgets every count (an operator's "unlock everyone"). */
  clear (): void {
    this.#counts.clear()
  }

  #wait (key: string | undefined, threshold: number, now: number): number {
    if (key === undefined) return 0
    const count = this.#counts.get(key)
    if (count === undefined) return 0
    if (now - count.last >= this.#policy.forgetAfter) {
      this.#counts.delete(key)
      return 0
    }
    return count.last + backOff(this.#policy, count.failures, threshold) - now
  }

  #fail (key: string, now: number): void {
    const counts = this.#counts
    const count = counts.get(key)
    const failures = count === undefined || now - count.last >= this.#policy.forgetAfter ? 1 : count.failures + 1
    // Re-inserted so the Map's order stays the order of last failure.
    counts.delete(key)
    counts.set(key, { failures, last: now })
    while (counts.size > this.maxEntries) {
      const oldest = counts.keys().next()
      if (oldest.done === true) break
      counts.delete(oldest.value)
    }
  }
}
