import { InvalidOption, StoreUnavailable, TooManyAttempts } from '../cred/index.js'
import type { LoginAttempt, LoginThrottle } from '../cred/index.js'
import { TOO_MANY, attemptKeys, backOff, resolvePolicy } from './policy.js'
import type { ThrottleOptions, ThrottlePolicy } from './policy.js'

/** Slots are indexes of Int32Arrays. */
const MAX_ENTRIES = 2 ** 31 - 1

export interface MemoryThrottleOptions extends ThrottleOptions {
  /**
   * The most counts kept (user names plus address networks). Default 100 000: about 12 MB with short names and
   * IPv4 addresses, 32 MB at worst (every count a 200-character user name; longer names are kept as a 44-character
   * hash), measured on Node 20. When full, the count whose last failure is oldest is dropped first, in constant
   * time. Size it above the failures you expect within `forgetAfter`: an attacker who can make more distinct
   * failures than this can push a count out early.
   */
  maxEntries?: number
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
 * import cred from 'fastify-cred'
 * import { MemoryThrottle } from 'fastify-cred/throttle'
 * await app.register(cred, {
 *   realm, checkers, interfaces: [IUser],
 *   throttle: new MemoryThrottle({ userThreshold: 5, addressThreshold: 20, maxDelay: 15 * 60_000 })
 * })
 */
export class MemoryThrottle implements LoginThrottle {
  readonly maxEntries: number
  readonly #policy: ThrottlePolicy
  /**
   * Each key's slot in the arrays below. The counts live in typed arrays (no object, no boxed number per count) and
   * in a doubly linked list through `#older`/`#newer`, in the order of last failure: dropping the oldest, moving a
   * count to the newest end and forgetting one are O(1). (A Map's own insertion order looked enough, but V8 leaves
   * a hole for each deleted entry at the front of the table and every `keys().next()` walks over them again: at the
   * cap, each failure cost ~0.2 ms.)
   */
  readonly #slots = new Map<string, number>()
  #keys: Array<string | undefined> = []
  #failures = new Float64Array(0)
  #last = new Float64Array(0)
  #older = new Int32Array(0)
  #newer = new Int32Array(0)
  /** The count whose last failure is oldest (dropped first), and the newest; -1 when there is none. */
  #oldest = -1
  #newest = -1
  /** Slots free for reuse (forgotten counts), and how many slots were ever used. */
  #free: number[] = []
  #used = 0
  #closed = false

  constructor (options: MemoryThrottleOptions = {}) {
    this.#policy = resolvePolicy('MemoryThrottle', options)
    const maxEntries = options.maxEntries ?? 100_000
    if (typeof maxEntries !== 'number' || !Number.isSafeInteger(maxEntries) || maxEntries < 2 || maxEntries > MAX_ENTRIES) {
      throw new InvalidOption(`MemoryThrottle: \`maxEntries\` must be an integer from 2 to ${MAX_ENTRIES}, got ${String(maxEntries)}`)
    }
    this.maxEntries = maxEntries
  }

  /** How many counts are held now. */
  get size (): number {
    return this.#slots.size
  }

  /**
   * Throws `TooManyAttempts` when the user name or the address must wait; returns otherwise.
   *
   * @throws TooManyAttempts with `retryAfter` in whole seconds; StoreUnavailable once closed.
   */
  acquire (attempt: LoginAttempt): void {
    if (this.#closed) throw new StoreUnavailable('MemoryThrottle is closed')
    const policy = this.#policy
    const now = policy.now()
    const { user, address } = attemptKeys(policy, attempt)
    const wait = Math.max(this.#wait(user, policy.userThreshold, now), this.#wait(address, policy.addressThreshold, now))
    if (wait > 0) throw new TooManyAttempts(TOO_MANY, wait / 1000)
  }

  /** Counts a failure against the user name and the address, or resets the user name's count on success. */
  record (attempt: LoginAttempt, succeeded: boolean): void {
    if (this.#closed) return
    const policy = this.#policy
    const { user, address } = attemptKeys(policy, attempt)
    if (succeeded) {
      if (user !== undefined) this.#forget(user)
      return
    }
    const now = policy.now()
    if (user !== undefined) this.#fail(user, now)
    if (address !== undefined) this.#fail(address, now)
  }

  /** Forgets every count (an operator's "unlock everyone"). */
  clear (): void {
    this.#slots.clear()
    this.#keys = []
    this.#failures = new Float64Array(0)
    this.#last = new Float64Array(0)
    this.#older = new Int32Array(0)
    this.#newer = new Int32Array(0)
    this.#oldest = this.#newest = -1
    this.#free = []
    this.#used = 0
  }

  /** Forgets every count; afterwards `acquire` throws `StoreUnavailable` and `record` does nothing. Idempotent. */
  async close (): Promise<void> {
    this.#closed = true
    this.clear()
  }

  #wait (key: string | undefined, threshold: number, now: number): number {
    if (key === undefined) return 0
    const slot = this.#slots.get(key)
    if (slot === undefined) return 0
    const last = this.#last[slot] as number
    if (now - last >= this.#policy.forgetAfter) {
      this.#forget(key)
      return 0
    }
    return last + backOff(this.#policy, this.#failures[slot] as number, threshold) - now
  }

  #fail (key: string, now: number): void {
    let slot = this.#slots.get(key)
    if (slot === undefined) {
      if (this.#slots.size >= this.maxEntries) this.#forget(this.#keys[this.#oldest] as string)
      slot = this.#allocate()
      this.#slots.set(key, slot)
      this.#keys[slot] = key
      this.#failures[slot] = 1
    } else {
      this.#unlink(slot)
      this.#failures[slot] = now - (this.#last[slot] as number) >= this.#policy.forgetAfter ? 1 : (this.#failures[slot] as number) + 1
    }
    this.#last[slot] = now
    // The newest end: the list stays in the order of last failure.
    this.#older[slot] = this.#newest
    this.#newer[slot] = -1
    if (this.#newest === -1) this.#oldest = slot
    else this.#newer[this.#newest] = slot
    this.#newest = slot
  }

  #forget (key: string): void {
    const slot = this.#slots.get(key)
    if (slot === undefined) return
    this.#slots.delete(key)
    this.#unlink(slot)
    this.#keys[slot] = undefined
    this.#free.push(slot)
  }

  #unlink (slot: number): void {
    const older = this.#older[slot] as number
    const newer = this.#newer[slot] as number
    if (older === -1) this.#oldest = newer
    else this.#newer[older] = newer
    if (newer === -1) this.#newest = older
    else this.#older[newer] = older
  }

  /** A free slot; the arrays grow by doubling, never beyond `maxEntries`. */
  #allocate (): number {
    const reused = this.#free.pop()
    if (reused !== undefined) return reused
    const slot = this.#used++
    if (slot >= this.#last.length) {
      const length = Math.min(this.maxEntries, Math.max(64, this.#last.length * 2))
      const grow = <A extends Float64Array | Int32Array>(from: A, to: A): A => { to.set(from); return to }
      this.#failures = grow(this.#failures, new Float64Array(length))
      this.#last = grow(this.#last, new Float64Array(length))
      this.#older = grow(this.#older, new Int32Array(length))
      this.#newer = grow(this.#newer, new Int32Array(length))
    }
    return slot
  }
}
