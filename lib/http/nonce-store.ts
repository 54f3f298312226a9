/**
 * Where Digest remembers which nonce counts were used, so that a replayed request is refused. Nonces themselves
 * are stateless (an HMAC over their issue time): a store only holds nonces a client has actually used, which keeps
 * a flood of challenges from costing memory.
 */

/** What a store says of one use of a nonce. */
export type NonceClaim =
  /** First use of this nonce count: go on with the login. */
  | 'accepted'
  /** This nonce count was used before (or is too far behind the highest seen): refuse. */
  | 'replayed'
  /** The store can no longer vouch for this nonce (it was evicted under memory pressure): answer `stale=true`. */
  | 'forgotten'

/**
 * Where Digest nonce counts are claimed, so that a replayed request is refused: `MemoryNonceStore` in one process,
 * `RedisNonceStore` across instances.
 */
export interface NonceStore {
  /**
   * Atomically records that `nc` was used with `nonce`. `issuedAt` and `expiresAt` are milliseconds since the epoch
   * (from the nonce itself, already verified by the caller); the store may forget the nonce after `expiresAt`.
   * Rejects with `StoreUnavailable` when the store cannot be reached.
   */
  claim (nonce: string, nc: number, issuedAt: number, expiresAt: number): NonceClaim | Promise<NonceClaim>
  /**
   * True when the store has already recorded `nonce`, so the caller verified its MAC before and may skip that.
   * Only synchronous stores answer; others leave it out.
   */
  has? (nonce: string): boolean
  /**
   * Proves at set-up that the store can work (its driver is installed), as `CredentialsChecker.prepare` does; never
   * fails because its server is unreachable at the moment. The plugin awaits it in `register()`.
   */
  prepare? (): Promise<void>
  /**
   * Releases connections and timers. Idempotent and final: afterwards `claim` rejects (or throws) with
   * `StoreUnavailable` and `has` answers false. A client the caller passed in stays open (the caller closes it).
   */
  close? (): Promise<void>
}
