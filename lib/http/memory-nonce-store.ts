import { InvalidOption } from '../cred/index.js'
import type { NonceClaim, NonceStore } from './nonce-store.js'

export interface MemoryNonceStoreOptions {
  /** Most nonces remembered at once. Default 100,000 (about 18 MB, see the class comment). */
  maxEntries?: number
  /** Milliseconds between sweeps of expired nonces; `0` sweeps only lazily, on claims. Default 60,000. */
  sweepInterval?: number
}

/** One used nonce: its highest nonce count and a 64-wide bitmap of the counts below it (two 32-bit halves). */
class Entry {
  issuedAt: number
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
 * **Bound**: at most `maxEntries` nonces (default 100,000). Each costs about 180 bytes of heap (measured on
 * Node 20: ~64 B for the 46-character key, ~115 B for the Map slot and the five-field entry), so the default holds
 * ~18 MB at worst (a little more while the Map grows its table).
 * Expired nonces go lazily (a few per claim, oldest first) and on a periodic sweep (an unref'd timer: it never
 * keeps the process alive). When full, it evicts the oldest entries (in order of first use, which follows the
 * order of issue up to the nonce lifetime) and remembers the highest `issuedAt` evicted as a floor: an unknown
 * nonce issued at or before the floor answers `'forgotten'`, so the scheme asks for a fresh nonce (`stale=true`)
 * instead of letting an evicted nonce be replayed from count 1.
 *
 * @example
 * import { MemoryNonceStore } from 'fastify-cred'
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

  constructor (options: MemoryNonceStoreOptions = {}) {
    const maxEntries = options.maxEntries ?? 100_000
    if (!Number.isSafeInteger(maxEntries) || maxEntries < 1) throw new InvalidOption(`maxEntries must be a positive whole number, got ${String(maxEntries)}`)
    const sweepInterval = options.sweepInterval ?? 60_000
    if (!Number.isFinite(sweepInterval) || sweepInterval < 0) throw new InvalidOption(`sweepInterval must be a number of milliseconds >= 0, got ${String(sweepInterval)}`)
    this.maxEntries = maxEntries
    if (sweepInterval > 0) {
      this.#timer = setInterval(() => this.sweep(), sweepInterval)
      this.#timer.unref()
    }
  }

  /** How many nonces are remembered now. */
  get size (): number { return this.#entries.size }

  /** The highest `issuedAt` ever evicted (`-Infinity` before any eviction). */
  get floor (): number { return this.#floor }

  has (nonce: string): boolean {
    return this.#entries.has(nonce)
  }

  claim (nonce: string, nc: number, issuedAt: number, expiresAt: number): NonceClaim {
    const entry = this.#entries.get(nonce)
    if (entry === undefined) {
      if (issuedAt <= this.#floor) return 'forgotten'
      this.#makeRoom(Date.now())
      // A copy: the nonce is usually a slice of the Authorization header, and a slice would keep the whole header
      // alive as long as the entry (measured: 460 instead of about 200 bytes per entry).
      this.#entries.set(Buffer.from(nonce, 'latin1').toString('latin1'), new Entry(issuedAt, expiresAt, nc))
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

  /** Drops every expired nonce now. Runs by itself on the sweep interval. */
  sweep (now: number = Date.now()): void {
    for (const [nonce, entry] of this.#entries) {
      if (entry.expiresAt <= now) this.#entries.delete(nonce)
    }
  }

  async close (): Promise<void> {
    if (this.#timer !== undefined) clearInterval(this.#timer)
    this.#timer = undefined
  }

  /** Before an insertion: drops up to a few expired entries at the head, then evicts while full. */
  #makeRoom (now: number): void {
    let expired = 0
    for (const [nonce, entry] of this.#entries) {
      if (this.#entries.size < this.maxEntries && (expired >= 4 || entry.expiresAt > now)) break
      this.#entries.delete(nonce)
      if (entry.expiresAt > now) {
        // Evicted while still valid: remember it, so it can never be claimed afresh.
        if (entry.issuedAt > this.#floor) this.#floor = entry.issuedAt
      } else {
        expired++
      }
    }
  }
}
