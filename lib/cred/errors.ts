/**
 * Every error fastify-cred raises, one class each, with a stable `code`.
 *
 * The login failures keep Twisted's hierarchy (`LoginFailed` ⊃ `UnauthorizedLogin`, `UnhandledCredentials`,
 * `LoginDenied`) so code ported from Twisted reads the same. Protocol layers map them to their own answers
 * (HTTP: 401, 403, 400, 503, 500); the core knows nothing about those.
 *
 * @example
 * import { UnauthorizedLogin, LoginFailed } from 'fastify-cred'
 * try { await portal.login(creds, null, IUser) } catch (err) {
 *   if (err instanceof LoginFailed) console.log(err.code) // 'ERR_CRED_UNAUTHORIZED', …
 * }
 */

/**
 * Every `code` a fastify-cred error carries, one class each (`test/cred/error-codes.test.ts` holds the two lists
 * together). Each class's `code` is typed as its own literal, or, for a class with subclasses, as its own literal or
 * one of theirs (an `UnauthorizedLogin` may be a `StaleNonce`), so `switch (err.code)` narrows.
 */
export type CredErrorCode =
  | 'ERR_CRED' | 'ERR_CRED_LOGIN_FAILED' | 'ERR_CRED_UNAUTHORIZED' | 'ERR_CRED_STALE_NONCE' | 'ERR_CRED_UNHANDLED_CREDENTIALS'
  | 'ERR_CRED_TOO_MANY_ATTEMPTS' | 'ERR_CRED_LOGIN_DENIED' | 'ERR_CRED_NO_AVATAR_INTERFACE' | 'ERR_CRED_STORE_UNAVAILABLE'
  | 'ERR_CRED_ENTITY_TOO_LARGE' | 'ERR_CRED_LOGIN_TIMEOUT' | 'ERR_CRED_CONTRACT_VIOLATION' | 'ERR_CRED_MALFORMED_CREDENTIALS'
  | 'ERR_CRED_INVALID_OPTION' | 'ERR_CRED_MISSING_PEER_DEPENDENCY' | 'ERR_CRED_SERVER_AUTHENTICATION_FAILED' | 'ERR_CRED_INTERNAL'
  | 'ERR_CRED_CONNECTION_CLOSED' | 'ERR_CRED_VALID_PUBLIC_KEY'

/** Base of every error raised by fastify-cred. `code` never changes between versions. */
export class CredError extends Error {
  readonly code: CredErrorCode = 'ERR_CRED'
  /** The class's name (`UnauthorizedLogin`, …), so that logs and `String(err)` say which error it is. */
  override get name (): string { return this.constructor.name }
}

/** A login did not succeed. Base of the three reasons below. */
export class LoginFailed extends CredError {
  override readonly code: 'ERR_CRED_LOGIN_FAILED' | UnauthorizedLogin['code'] | UnhandledCredentials['code'] | TooManyAttempts['code'] | LoginDenied['code'] = 'ERR_CRED_LOGIN_FAILED'
}

/** A checker refused the credentials: unknown user, wrong password, replayed or forged nonce. */
export class UnauthorizedLogin extends LoginFailed {
  override readonly code: 'ERR_CRED_UNAUTHORIZED' | StaleNonce['code'] | ValidPublicKey['code'] = 'ERR_CRED_UNAUTHORIZED'
}

/**
 * The credentials were well formed and would be valid, but only with a fresh nonce: HTTP Digest answers with a new
 * challenge carrying `stale=true`, so the client retries without asking its user again.
 */
export class StaleNonce extends UnauthorizedLogin {
  override readonly code = 'ERR_CRED_STALE_NONCE'
}

/**
 * Public-key credentials without a signature whose key would be accepted for the user (SSH's `publickey` query,
 * RFC 4252 §7): the protocol answers "this key will do, now sign" (`SSH_MSG_USERAUTH_PK_OK`). Never a login: it is
 * an `UnauthorizedLogin`, so any code that does not know it refuses. Not counted as a failure by the throttle.
 * Twisted's `ValidPublicKey`.
 */
export class ValidPublicKey extends UnauthorizedLogin {
  override readonly code = 'ERR_CRED_VALID_PUBLIC_KEY'
}

/** No checker registered with the portal handles this kind of credentials. */
export class UnhandledCredentials extends LoginFailed {
  override readonly code = 'ERR_CRED_UNHANDLED_CREDENTIALS'
}

/**
 * Too many failed attempts for this user name or client address: try again after `retryAfter` seconds. Raised by a
 * `LoginThrottle` before any password is checked. HTTP answers 429 with `Retry-After`.
 */
export class TooManyAttempts extends LoginFailed {
  override readonly code = 'ERR_CRED_TOO_MANY_ATTEMPTS'
  /** Whole seconds until the next attempt may be made. */
  readonly retryAfter: number
  constructor (message: string, retryAfter: number, options?: ErrorOptions) {
    super(message, options)
    this.retryAfter = Math.max(1, Math.ceil(retryAfter))
  }
}

/** The realm refused an authenticated user (a quota, a maintenance window, an account switched off). */
export class LoginDenied extends LoginFailed {
  override readonly code = 'ERR_CRED_LOGIN_DENIED'
}

/**
 * A realm answered with an interface that was not asked for, or could serve none of those asked for.
 * This is a programming error in the realm, never a user's fault.
 */
export class NoAvatarInterface extends CredError {
  override readonly code = 'ERR_CRED_NO_AVATAR_INTERFACE'
}

/**
 * A store needed to decide the login (a user database, a directory, a nonce store) could not be reached.
 * Fail closed: protocols answer "try again later" (HTTP 503), never "wrong password" and never success.
 */
export class StoreUnavailable extends CredError {
  override readonly code = 'ERR_CRED_STORE_UNAVAILABLE'

  /**
   * `err` as the `StoreUnavailable` it means: `err` itself when it is one already, else a new one whose message is
   * `owner` followed by the failure's code and message (a driver's text names a host or a timeout, never a password
   * tried), with `err` as its `cause`.
   *
   * @param owner Who failed, and doing what: `'LdapChecker: bind failed at ldap://ldap.example.org'`.
   * @example
   * try { await pool.query(sql, params) } catch (err) { throw StoreUnavailable.from(err, 'The user database did not answer') }
   * // StoreUnavailable: The user database did not answer: connect ECONNREFUSED 127.0.0.1:5432
   */
  static from (err: unknown, owner: string): StoreUnavailable {
    if (err instanceof StoreUnavailable) return err
    const { code, message } = (typeof err === 'object' && err !== null ? err : { message: String(err) }) as { code?: unknown, message?: unknown }
    const text = typeof message === 'string' ? message : ''
    const named = (typeof code === 'string' || typeof code === 'number') && !text.includes(String(code)) ? `${String(code)} ${text}` : text
    return new StoreUnavailable(named.trim() === '' ? owner : `${owner}: ${named.trim()}`, { cause: err })
  }
}

/**
 * What the credentials cover (an HTTP body under Digest `auth-int`) is longer than the protocol reads for a login.
 * HTTP answers 413, as for any body past its limit.
 */
export class EntityTooLarge extends CredError {
  override readonly code = 'ERR_CRED_ENTITY_TOO_LARGE'
  /** HTTP's answer, for frameworks whose error handler reads it. */
  readonly statusCode = 413
}

/**
 * A login took longer than the protocol allows (the plugin's `loginTimeout`). Answered like an unavailable store
 * (HTTP 503 with `Retry-After`), but it blames no store: the slow step may be a checker, a realm or a scheme.
 */
export class LoginTimeout extends CredError {
  override readonly code = 'ERR_CRED_LOGIN_TIMEOUT'
}

/**
 * A checker or realm broke the cred contract: a checker answered something that is not an avatar id (a non-empty
 * string or `ANONYMOUS`), or something other than an `Error` was thrown. A programming error, never a user's fault.
 */
export class ContractViolation extends CredError {
  override readonly code = 'ERR_CRED_CONTRACT_VIOLATION'
}

/** The client sent credentials that cannot be parsed (bad base64, missing fields, control characters). */
export class MalformedCredentials extends CredError {
  override readonly code = 'ERR_CRED_MALFORMED_CREDENTIALS'
}

/** An option or argument given by the application is wrong; raised at set-up time, with what to change. */
export class InvalidOption extends CredError {
  override readonly code = 'ERR_CRED_INVALID_OPTION'
}

/** An optional peer dependency (a store driver) is needed but not installed. The message names the package. */
export class MissingPeerDependency extends CredError {
  override readonly code = 'ERR_CRED_MISSING_PEER_DEPENDENCY'
}

/**
 * A client's check of the server failed: its Digest `rspauth` does not follow from the password, so it does not
 * know the password and is not the server it claims to be (or a man in the middle rewrote the answer).
 */
export class ServerAuthenticationFailed extends CredError {
  override readonly code = 'ERR_CRED_SERVER_AUTHENTICATION_FAILED'
}

/**
 * Something failed that no class above describes: a bug in a checker, a realm or a scheme. Protocols answer it
 * without details (HTTP 500, `Internal Server Error`) and log the original error, its `cause`.
 */
export class InternalError extends CredError {
  override readonly code = 'ERR_CRED_INTERNAL'
}

/**
 * The connection a mind stands for is closed (or its handshake failed): what was sent through the mind did not
 * reach the client. A WebSocket mind's `send()` rejects with it.
 */
export class ConnectionClosed extends CredError {
  override readonly code = 'ERR_CRED_CONNECTION_CLOSED'
}
