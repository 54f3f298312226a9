import { InvalidOption, StoreUnavailable } from '../cred/index.js'
import type { NonceClaim, NonceStore } from './nonce-store.js'

/** Options of `MemoryNonceStore`. */
export interface MemoryNonceStoreOptions {
  /** Most nonces remembered at once. Default 100,000 (about 18 MB, see the class comment). */
  maxEntries?: number
  /** Milliseconds between sweeps of expired nonces; `0` sweeps only lazily, on claims. Default 60,000. */
  sweepInterval?: number
  /**
   * The clocks, for tests: `now` the wall clock (ms since the epoch, as nonces carry it; default `Date.now`),
   * `monotonic` a clock that never steps (ms; default `performance.now`), which decides when an entry expires.
   */
  clock?: {
    /** The wall clock, in ms since the epoch. */
    readonly now: () => number
    /** A clock that never steps, in ms. */
    readonly monotonic: () => number
  }
}

const SYSTEM_CLOCK = { now: Date.now, monotonic: () => performance.now() }

/** One used nonce: its highest nonce count and a 64-wide bitmap of the counts below it (two 32-bit halves). */
class Entry {
  issuedAt: number
  /** When to forget the entry, on the store's monotonic clock: a step of the wall clock cannot make it go early. */
  expiresAt: number
  highest: number
  /** Bit i set: count `highest - i` was used (i = 0…31). */
  low: number
  /** Bit i set: count `highest - 32 - i` was used (i = 0…31). */
  high: number

  constructor (issuedAt: number, expiresAt: number, nc: number) {
    this.issuedAt = issuedAt
    this.expiresAt = expiresAt
    this.highest = nc
    this.low = 1
    this.high = 0
  }
}

/**
 * The default nonce store: synchronous, in this process's memory, bounded. Use a shared store (Redis) when several
 * processes serve the same users.
 *
 * Per nonce it keeps the highest nonce count seen and a 64-wide window below it (IPsec-style anti-replay): a count
 * above the highest is accepted and shifts the window; one inside the window is accepted once; one below it is
 * refused as replayed. So a client may have up to 64 requests in flight, answered in any order.
 *
 * **Bound**: at most `maxEntries` nonces (default 100,000). Each costs about 200 bytes of heap (197 B measured by
 * `npm run bench`'s memory experiment on Node 20, as docs/reference/performance.md reports: the 46-character key, the Map slot and the
 * entry), so the default holds ~20 MB at worst (a little more while the Map grows its table).
 * Expired nonces go lazily (a few per claim, oldest first) and on a periodic sweep (an unref'd timer: it never
 * keeps the process alive). When full, it evicts the oldest entries (in order of first use, which follows the
 * order of issue up to the nonce lifetime). Every entry it drops, evicted or expired, raises a floor to its
 * `issuedAt`: an unknown nonce issued at or before the floor answers `'forgotten'`, so the scheme asks for a fresh
 * nonce (`stale=true`) instead of letting a dropped nonce be replayed from count 1 (after the wall clock stepped
 * back, an expired nonce looks fresh again to the scheme: the floor still refuses it).
 *
 * **Clocks**: an entry expires on a monotonic clock (`performance.now()`), `expiresAt - Date.now()` after its first
 * claim, so a wall clock stepping forward does not drop entries early (which the floor would turn into `stale`
 * for live nonces), and stepping back keeps them longer (harmless).
 *
 * @example
 * import { MemoryNonceStore } from 'fastify-cred/http'
 * const store = new MemoryNonceStore({ maxEntries: 10_000 })
 * const now = Date.now()
 * store.claim('nonce-a', 1, now, now + 300_000) // 'accepted'
 * store.claim('nonce-a', 1, now, now + 300_000) // 'replayed'
 * store.claim('nonce-a', 3, now, now + 300_000) // 'accepted'
 * store.claim('nonce-a', 2, now, now + 300_000) // 'accepted' (inside the window, not used before)
 */
export class MemoryNonceStore implements NonceStore {
  readonly maxEntries: number
  readonly #entries = new Map<string, Entry>()
  #floor = -Infinity
  #timer: ReturnType<typeof setInterval> | undefined
  readonly #now: () => number
  readonly #monotonic: () => number
  #closed = false

  constructor (options: MemoryNonceStoreOptions = {}) {
    const maxEntries = options.maxEntries ?? 100_000
    if (!Number.isSafeInteger(maxEntries) || maxEntries < 1) throw new InvalidOption(`maxEntries must be a positive whole number, got ${String(maxEntries)}`)
    const sweepInterval = options.sweepInterval ?? 60_000
    if (!Number.isFinite(sweepInterval) || sweepInterval < 0) throw new InvalidOption(`sweepInterval must be a number of milliseconds >= 0, got ${String(sweepInterval)}`)
    this.maxEntries = maxEntries
    const clock = options.clock ?? SYSTEM_CLOCK
    if (typeof clock.now !== 'function' || typeof clock.monotonic !== 'function') throw new InvalidOption('clock must have now() and monotonic() functions')
    this.#now = clock.now
    this.#monotonic = clock.monotonic
    if (sweepInterval > 0) {
      this.#timer = setInterval(() => this.sweep(), sweepInterval)
      this.#timer.unref()
    }
  }

  /** How many nonces are remembered now. */
  get size (): number { return this.#entries.size }

  /** The highest `issuedAt` ever dropped, evicted or expired (`-Infinity` before any). */
  get floor (): number { return this.#floor }

  has (nonce: string): boolean {
    return this.#entries.has(nonce)
  }

  /** @throws StoreUnavailable once the store is closed. */
  claim (nonce: string, nc: number, issuedAt: number, expiresAt: number): NonceClaim {
    if (this.#closed) throw new StoreUnavailable('MemoryNonceStore is closed')
    const entry = this.#entries.get(nonce)
    if (entry === undefined) {
      if (issuedAt <= this.#floor) return 'forgotten'
      const monotonic = this.#monotonic()
      this.#makeRoom(monotonic)
      // Dropping expired entries may have raised the floor to this very nonce (the wall clock stepped back).
      if (issuedAt <= this.#floor) return 'forgotten'
      // A copy: the nonce is usually a slice of the Authorization header, and a slice would keep the whole header
      // alive as long as the entry (measured: 460 instead of 197 bytes per entry).
      this.#entries.set(Buffer.from(nonce, 'latin1').toString('latin1'), new Entry(issuedAt, monotonic + (expiresAt - this.#now()), nc))
      return 'accepted'
    }
    const behind = entry.highest - nc
    if (behind < 0) {
      const ahead = -behind
      if (ahead >= 64) {
        entry.low = 1
        entry.high = 0
      } else if (ahead >= 32) {
        entry.high = ahead === 32 ? entry.low : (entry.low << (ahead - 32)) >>> 0
        entry.low = 1
      } else {
        entry.high = ((entry.high << ahead) | (entry.low >>> (32 - ahead))) >>> 0
        entry.low = ((entry.low << ahead) | 1) >>> 0
      }
      entry.highest = nc
      return 'accepted'
    }
    if (behind >= 64) return 'replayed'
    if (behind < 32) {
      const bit = 1 << behind
      if ((entry.low & bit) !== 0) return 'replayed'
      entry.low = (entry.low | bit) >>> 0
    } else {
      const bit = 1 << (behind - 32)
      if ((entry.high & bit) !== 0) return 'replayed'
      entry.high = (entry.high | bit) >>> 0
    }
    return 'accepted'
  }

  /** Drops every expired nonce now (raising the floor). Runs by itself on the sweep interval. */
  sweep (): void {
    const now = this.#monotonic()
    for (const [nonce, entry] of this.#entries) {
      if (entry.expiresAt <= now) this.#drop(nonce, entry)
    }
  }

  /** Stops the sweep timer and forgets every nonce; afterwards `claim` throws `StoreUnavailable`. Idempotent. */
  async close (): Promise<void> {
    this.#closed = true
    if (this.#timer !== undefined) clearInterval(this.#timer)
    this.#timer = undefined
    this.#entries.clear()
  }

  /** Before an insertion (`now` on the monotonic clock): drops up to a few expired entries at the head, then evicts while full. */
  #makeRoom (now: number): void {
    let expired = 0
    for (const [nonce, entry] of this.#entries) {
      if (this.#entries.size < this.maxEntries && (expired >= 4 || entry.expiresAt > now)) break
      this.#drop(nonce, entry)
      if (entry.expiresAt <= now) expired++
    }
  }

  /**
   * Forgets an entry, evicted or expired, and raises the floor to its issue time, so it can never be claimed
   * afresh: not while still valid (evicted), nor after the wall clock stepped back (expired).
   */
  #drop (nonce: string, entry: Entry): void {
    this.#entries.delete(nonce)
    if (entry.issuedAt > this.#floor) this.#floor = entry.issuedAt
  }
}
