import type { Credentials } from './credentials/credentials.js'
import type { DigestAlgorithm } from './credentials/digest.js'
import type { Interface } from './interfaces.js'

/**
 * The avatar id of a user who did not authenticate. A unique symbol, so it can never collide with a user name
 * (not `''`, not `'anonymous'`, not `null`).
 */
export const ANONYMOUS: unique symbol = Symbol('fastify-cred.ANONYMOUS')

/** What a checker answers for good credentials: a user name, or `ANONYMOUS`. */
export type AvatarId = string | typeof ANONYMOUS

/**
 * Knows where passwords live (a file, a database, a directory) and decides whether credentials are good.
 * Answers the avatar id, or throws / rejects with `UnauthorizedLogin`. It may answer synchronously: the portal keeps
 * a synchronous login synchronous all the way through.
 */
export interface CredentialsChecker<C extends Credentials = Credentials> {
  /** The kinds of credentials this checker understands. */
  readonly credentialInterfaces: readonly Interface<C>[]
  /** The avatar id (a user name, or `ANONYMOUS`) these credentials prove; throws or rejects with `UnauthorizedLogin` when they prove none, `StoreUnavailable` when the store cannot say. */
  requestAvatarId (credentials: C): AvatarId | PromiseLike<AvatarId>
  /**
   * Optional: what this checker cannot serve of a protocol's set-up, as one message per problem (empty when all is
   * well). Asked once at set-up, so that a mismatch (an htdigest file's HA1s are bound to one realm and to MD5) is a
   * clear set-up error instead of every user being refused at run time.
   */
  setupProblems? (setup: CheckerSetup): readonly string[]
  /**
   * Optional: the key under which the store knows a typed user name, so that names the store takes for one user are
   * one user to the brute-force throttle (asked before the checker runs). An LDAP directory ignores case and
   * leading, trailing and repeated spaces (`" alice"` is `alice`); MySQL's default collations also ignore accents and
   * trailing spaces (`àlice ` is `alice`). Without it the throttle counts the name as typed (case-folded).
   * Must be cheap and synchronous: no store is asked.
   */
  throttleKey? (username: string): string
  /**
   * Optional: gets ready for the first login and proves that the set-up can work: loads the store's driver (an
   * optional peer dependency), checks what lives on this machine (a SQLite file exists), makes the decoy unknown
   * users are checked against. Rejects with `MissingPeerDependency` (naming the `npm install` line) or
   * `InvalidOption` when the set-up cannot work, so that a server refuses to start instead of answering every login
   * with an error; never because a server is unreachable at the moment (a network outage is a login's
   * `StoreUnavailable`, HTTP 503, and heals by itself). The Fastify plugin awaits it in `register()`. Idempotent;
   * after `close()` it rejects with `StoreUnavailable`.
   */
  prepare? (): Promise<void>
  /**
   * Optional: releases what the checker holds (pools, connections, worker threads, timers). Idempotent: a second
   * call resolves at once. Final: afterwards every login (and every other call that would ask the store) rejects
   * with `StoreUnavailable`; nothing reopens. What the caller passed in (a database object, a client) stays the
   * caller's to close; what the checker opened itself (from a URL or options) it closes. A checker wrapping another
   * (`CachingChecker`) closes the one it wraps.
   */
  close? (): Promise<void>
}

/** What a protocol tells checkers about itself at set-up (see `CredentialsChecker.setupProblems`). */
export interface CheckerSetup {
  /** The protection space Digest responses are computed for, when Digest is offered. */
  readonly authenticationRealm?: string | undefined
  /** The Digest algorithms offered; empty when Digest is not. */
  readonly digestAlgorithms: readonly DigestAlgorithm[]
}
