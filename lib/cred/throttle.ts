/**
 * The hook a brute-force throttle plugs into: the Portal asks it before any checker runs (so a throttled attempt
 * costs no password hash) and tells it how each attempt ended. Protocol-agnostic: HTTP, POP3 and SSH logins through
 * one Portal share one throttle.
 */

/** Who is trying: the user name the credentials name (if any) and the client's address (if the protocol knows it). */
export interface LoginAttempt {
  /** The name as the checker's store keys it (`CredentialsChecker.throttleKey`), else as the credentials give it. */
  readonly username: string | undefined
  readonly address: string | undefined
}

/** What a protocol knows about the client beyond the credentials. */
export interface LoginClient {
  /** The client's IP address, as the protocol established it (for HTTP, behind `trustProxy` rules). */
  readonly address?: string | undefined
  /** The protocol's name (`'pop3'`, `'ssh'`): not counted by throttles, reported in login events. */
  readonly protocol?: string | undefined
}

/**
 * Brute-force throttling, asked by the portal before every checker and told every verdict. `MemoryThrottle` and
 * `RedisThrottle` (`fastify-cred/throttle`) implement it.
 */
export interface LoginThrottle {
  /**
   * Called before the checker. Throws (or rejects with) `TooManyAttempts` when this attempt must wait, and
   * `StoreUnavailable` when its store cannot decide and it fails closed. Returns nothing (or a promise of nothing)
   * to let the attempt through.
   */
  acquire (attempt: LoginAttempt): void | PromiseLike<void>
  /**
   * Called once a login attempt is decided: `succeeded` false when the checker refused the password
   * (`UnauthorizedLogin`), true when the login goes on to the realm (`Portal.recordSuccess`; a password the checker
   * accepted but the protocol then refused, such as a replayed Digest response, is neither). Never called for outages
   * or bugs. Its failures are ignored: it must not turn a login into an error.
   */
  record (attempt: LoginAttempt, succeeded: boolean): void | PromiseLike<void>
  /**
   * Optional: proves at set-up that the throttle can work (its driver is installed), as
   * `CredentialsChecker.prepare` does; never fails because its server is unreachable at the moment.
   */
  prepare? (): Promise<void>
  /**
   * Optional: releases connections and timers. Idempotent and final: afterwards `acquire` rejects (or throws) with
   * `StoreUnavailable` (also for a throttle that fails open) and `record` does nothing. A client the caller passed
   * in stays open (the caller closes it).
   */
  close? (): Promise<void>
}
