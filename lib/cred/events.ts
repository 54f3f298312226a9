import { channel } from 'node:diagnostics_channel'
import { performance } from 'node:perf_hooks'
import type { AvatarId } from './checker.js'
import type { Credentials } from './credentials/credentials.js'
import { LoginDenied, LoginFailed, LoginTimeout, MalformedCredentials, StoreUnavailable, TooManyAttempts, UnhandledCredentials, ValidPublicKey } from './errors.js'
import type { CredErrorCode } from './errors.js'
import type { Logout } from './realm.js'
import { isThenable } from './thenable.js'

/**
 * Login events on `node:diagnostics_channel`: what happened to each login, for audit logs, alerts and metrics,
 * published where the decision is made (the Portal's `login` for every protocol, the HTTP guard for HTTP) and built
 * only when someone subscribes. No event carries a password, a token or an Authorization header: a failed login
 * names the user name that was tried, a successful one the avatar id.
 */

/** The channel names, one per outcome. Subscribe with `diagnostics_channel.subscribe(CRED_CHANNELS.loginFailed, fn)`. */
export const CRED_CHANNELS = Object.freeze({
  /** A login reached the realm and got an avatar: `LoginSucceededEvent`. */
  loginSucceeded: 'fastify-cred:login:succeeded',
  /** A login was refused (wrong password, unknown user, realm refusal, malformed credentials, a bug): `LoginFailedEvent`. */
  loginFailed: 'fastify-cred:login:failed',
  /** The throttle refused a login before any password was checked: `LoginThrottledEvent`. */
  loginThrottled: 'fastify-cred:login:throttled',
  /** A store was down or too slow (`StoreUnavailable`, `LoginTimeout`): `StoreUnavailableEvent`. */
  storeUnavailable: 'fastify-cred:store:unavailable',
  /** A login's `logout` ran: `LogoutEvent`. */
  logout: 'fastify-cred:logout'
} as const)

/** What every login event says of where the login came from. */
export interface LoginEventBase {
  /** `'http'` from the HTTP guard; else the mind's `protocol` (`'pop3'`, `'ssh'`), or `undefined`. */
  readonly protocol: string | undefined
  /** The HTTP scheme (`'basic'`, `'digest'`, `'bearer'`, `'client-cert'`); `undefined` outside HTTP and for anonymous access. */
  readonly scheme: string | undefined
  /** The client's address as the protocol established it (HTTP: `request.ip`, which follows `trustProxy`). */
  readonly client: string | undefined
  /** The HTTP route's pattern (`'/users/:id'`, never the requested URL); `undefined` outside HTTP. */
  readonly route: string | undefined
  /** Milliseconds from the start of the login to its outcome. */
  readonly durationMs: number
}

export interface LoginSucceededEvent extends LoginEventBase {
  readonly avatarId: AvatarId
  /** The name of the avatar interface the realm chose. */
  readonly interfaceName: string
}

/**
 * Why a login failed, by class of reason: `'credentials'` (a checker refused: wrong password, unknown user, stale
 * Digest nonce), `'denied'` (the realm refused the user), `'malformed'` (credentials that could not be parsed),
 * `'unhandled'` (no checker for these credentials), `'error'` (a bug in a checker or realm: answered 500).
 */
export type LoginFailureReason = 'credentials' | 'denied' | 'malformed' | 'unhandled' | 'error'

export interface LoginFailedEvent extends LoginEventBase {
  /** The user name that was tried, when the credentials carry one (never the password). */
  readonly username: string | undefined
  /** The error's stable code (`ERR_CRED_UNAUTHORIZED`, …); `ERR_CRED_INTERNAL` for an error without one. */
  readonly code: CredErrorCode
  readonly reason: LoginFailureReason
}

export interface LoginThrottledEvent extends LoginEventBase {
  readonly username: string | undefined
  /** Seconds the client is told to wait. */
  readonly retryAfter: number
}

export interface StoreUnavailableEvent extends LoginEventBase {
  readonly username: string | undefined
  /** `ERR_CRED_STORE_UNAVAILABLE` (a store is down) or `ERR_CRED_LOGIN_TIMEOUT` (the login took too long). */
  readonly code: CredErrorCode
}

/** Published on `fastify-cred:logout` when a login's logout runs (once per successful login). */
export interface LogoutEvent {
  readonly protocol: string | undefined
  readonly scheme: string | undefined
  readonly client: string | undefined
  readonly route: string | undefined
  readonly avatarId: AvatarId
  /** Milliseconds the login lasted, from its success to its logout. */
  readonly sessionMs: number
}

const succeeded = channel(CRED_CHANNELS.loginSucceeded)
const failed = channel(CRED_CHANNELS.loginFailed)
const throttled = channel(CRED_CHANNELS.loginThrottled)
const unavailable = channel(CRED_CHANNELS.storeUnavailable)
const loggedOut = channel(CRED_CHANNELS.logout)

/** Where a login came from, as its publisher knows it; read only when an event is published. */
export interface LoginOrigin {
  readonly protocol: string | undefined
  readonly scheme: string | undefined
  readonly client: string | undefined
  readonly route: string | undefined
}

/**
 * The start of a login in `performance.now()` milliseconds when some channel has subscribers, else 0: a login that
 * starts while nobody listens is not reported, and costs these five checks and nothing more.
 * @internal
 */
export function loginWatchStart (): number {
  return succeeded.hasSubscribers || failed.hasSubscribers || throttled.hasSubscribers || unavailable.hasSubscribers || loggedOut.hasSubscribers
    ? performance.now()
    : 0
}

/** @internal Publishes a success; wraps `logout` when someone listens for logouts. Returns the logout to hand out. */
export function publishLoginSucceeded (startedAt: number, origin: LoginOrigin, avatarId: AvatarId, interfaceName: string, logout: Logout): Logout {
  if (startedAt !== 0 && succeeded.hasSubscribers) {
    const event: LoginSucceededEvent = { ...base(origin, startedAt), avatarId, interfaceName }
    succeeded.publish(event)
  }
  return loggedOut.hasSubscribers ? publishingLogout(origin, avatarId, logout) : logout
}

/** @internal Publishes a failed login on the channel its error belongs to. */
export function publishLoginFailed (startedAt: number, origin: LoginOrigin, credentials: Credentials | undefined, error: unknown): void {
  // An unsigned SSH public-key query (`ValidPublicKey`) is a question the protocol asks, not a failed login.
  if (startedAt === 0 || error instanceof ValidPublicKey) return
  if (error instanceof TooManyAttempts) {
    if (!throttled.hasSubscribers) return
    const event: LoginThrottledEvent = { ...base(origin, startedAt), username: usernameOf(credentials), retryAfter: error.retryAfter }
    throttled.publish(event)
  } else if (error instanceof StoreUnavailable || error instanceof LoginTimeout) {
    if (!unavailable.hasSubscribers) return
    const event: StoreUnavailableEvent = { ...base(origin, startedAt), username: usernameOf(credentials), code: error.code }
    unavailable.publish(event)
  } else {
    if (!failed.hasSubscribers) return
    const [code, reason] = classify(error)
    const event: LoginFailedEvent = { ...base(origin, startedAt), username: usernameOf(credentials), code, reason }
    failed.publish(event)
  }
}

function publishingLogout (origin: LoginOrigin, avatarId: AvatarId, logout: Logout): Logout {
  const loggedInAt = performance.now()
  const { protocol, scheme, client, route } = origin
  return () => {
    if (loggedOut.hasSubscribers) {
      const event: LogoutEvent = { protocol, scheme, client, route, avatarId, sessionMs: performance.now() - loggedInAt }
      loggedOut.publish(event)
    }
    return logout()
  }
}

/** The fields every event shares, copied one by one: an event holds plain data, never its publisher's objects. */
function base (origin: LoginOrigin, startedAt: number): LoginEventBase {
  return { protocol: origin.protocol, scheme: origin.scheme, client: origin.client, route: origin.route, durationMs: performance.now() - startedAt }
}

function usernameOf (credentials: Credentials | undefined): string | undefined {
  const username = (credentials as { username?: unknown } | undefined)?.username
  return typeof username === 'string' ? username : undefined
}

function classify (error: unknown): [CredErrorCode, LoginFailureReason] {
  if (error instanceof MalformedCredentials) return [error.code, 'malformed']
  if (error instanceof LoginDenied) return [error.code, 'denied']
  if (error instanceof UnhandledCredentials) return [error.code, 'unhandled']
  if (error instanceof LoginFailed) return [error.code, 'credentials']
  return ['ERR_CRED_INTERNAL', 'error']
}

/**
 * Runs `login` (a whole login of the Portal) and publishes its outcome: for `Portal.login`, where every protocol's
 * login passes. The result's `logout` is wrapped only when someone listens for logouts.
 * @internal
 */
export function observedLogin<R extends { readonly avatarId: AvatarId, readonly interface: { readonly name: string }, readonly logout: Logout }> (
  startedAt: number, origin: LoginOrigin, credentials: Credentials, login: () => R | Promise<R>
): R | Promise<R> {
  let result: R | Promise<R>
  try {
    result = login()
  } catch (err) {
    publishLoginFailed(startedAt, origin, credentials, err)
    throw err
  }
  const done = (settled: R): R => {
    const logout = publishLoginSucceeded(startedAt, origin, settled.avatarId, settled.interface.name, settled.logout)
    return logout === settled.logout ? settled : { ...settled, logout }
  }
  if (!isThenable(result)) return done(result)
  return result.then(done, (err: unknown) => {
    publishLoginFailed(startedAt, origin, credentials, err)
    throw err
  })
}
