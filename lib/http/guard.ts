import {
  Anonymous, InternalError, InvalidOption, LoginDenied, LoginFailed, LoginTimeout, MalformedCredentials, Portal,
  StaleNonce, StoreUnavailable, TooManyAttempts, isThenable, loginWatchStart, publishLoginFailed, publishLoginSucceeded,
  withinDeadline
} from '../cred/index.js'
import type {
  AvatarId, CredErrorCode, AvatarInterfaces, CheckerSetup, Credentials, DigestAlgorithm, Interface, LoginClient, LoginOrigin, Logout,
  PortalLogin
} from '../cred/index.js'
import { hasScheme } from './auth-params.js'
import { needsEntityBody } from './scheme.js'
import type { BodyBoundCredentials, EntityBody, HttpAuthScheme, HttpRequestLike, HttpRequestWithHeaders } from './scheme.js'

/**
 * The whole HTTP authentication decision, without a web framework (Twisted's `HTTPAuthSessionWrapper`): which
 * scheme, anonymous access, the login through the portal, the scheme's confirmation, the deadline, and the one
 * place where every failure becomes an HTTP answer. Framework adapters (the Fastify plugin, `portalValidate`) only
 * copy its outcome onto their request and reply.
 */

/** What the guard reads of a request: method, request-target and headers (names lower-case, as Node gives them). */
export interface GuardRequest extends HttpRequestWithHeaders {
  /** The client's address as the server established it (Fastify's `request.ip`, which follows `trustProxy`). */
  readonly ip?: string | undefined
}

/** The request is authenticated: copy the avatar onto the request, set `headers`, and call `logout` once it ends. */
export interface GuardAccepted<T = unknown> extends PortalLogin<T> {
  readonly kind: 'accepted'
  /** Headers for the response (Digest's `Authentication-Info`, or `Proxy-Authentication-Info` in proxy mode). */
  readonly headers: Readonly<Record<string, string>> | undefined
  /** The scheme whose credentials logged in (`'basic'`, …); `undefined` for anonymous access and `authenticateCredentials`. */
  readonly scheme: string | undefined
}

/** The request is refused: answer `status` with `body`, the challenges (if any) and `Retry-After` (if set). */
export interface GuardRefusal {
  readonly kind: 'refused'
  /** 400, 401 (407 in proxy mode), 403, 429, 500 or 503. */
  readonly status: number
  /** The stable code, also in `body`. `ERR_CRED_INTERNAL` (`InternalError`) for a bug (the real error is in `error`). */
  readonly code: CredErrorCode
  /** The message for clients: never an internal message, never a credential. */
  readonly message: string
  /** Challenges for `challengeHeader`, in order; empty when the answer carries none (403, 500, 503). */
  readonly challenges: readonly string[]
  /** Seconds for `Retry-After` (429 and 503). */
  readonly retryAfter: string | undefined
  /** The JSON body: `{ statusCode, code, error, message }` (just `{ statusCode, code, error }` with no credentials). */
  readonly body: string
  /** What caused it; `undefined` when the request carried no usable credentials. For logs, never for clients. */
  readonly error: unknown
  /** How the adapter should log it: bugs as errors, outages as warnings, the rest not at all. */
  readonly logLevel: 'error' | 'warn' | undefined
  /** The scheme whose credentials were refused; `undefined` when the request carried none this guard reads. */
  readonly scheme: string | undefined
}

/**
 * The credentials cover the request body (Digest `auth-int`), which has not been read yet: read it (through
 * `guard.bodyHasher`) and `resume` with it, or answer `refusal` when the body cannot be had at this point.
 */
export interface GuardAwaitingBody {
  readonly kind: 'awaiting-body'
  /** Goes on with the login once the body is read (through `guard.bodyHasher(request)`). */
  resume (body: EntityBody): GuardOutcome | Promise<GuardOutcome>
}

/** What `HttpAuthGuard.authenticate` answers: accepted, refused, or waiting for the body (Digest `auth-int`). */
export type GuardOutcome = GuardAccepted | GuardRefusal | GuardAwaitingBody

/** Options of `new HttpAuthGuard(options)`: the portal, the schemes and the avatar interfaces. */
export interface HttpAuthGuardOptions<Mind> {
  /** The portal every login goes through. */
  portal: Portal<Mind>
  /**
   * The schemes accepted, in the order their challenges are sent. Empty for a guard that only serves
   * `authenticateCredentials` (credentials parsed elsewhere, as `@fastify/basic-auth` does).
   */
  schemes: readonly HttpAuthScheme[]
  /** The avatar interfaces asked of the realm, in order of preference. */
  interfaces: AvatarInterfaces
  /** Read `Proxy-Authorization`, refuse with 407 and `Proxy-Authenticate` (RFC 9110 §11.7). Default `false`. */
  proxy?: boolean
  /**
   * Milliseconds a whole asynchronous login (scheme, checker, confirmation, realm) may take before it is refused
   * with `LoginTimeout` (503); an avatar that arrives later is logged out at once. `0` waits forever. Default 10,000.
   */
  loginTimeout?: number
  /** Where failures outside any request go: a late avatar's `logout` that threw. Default: `console.error`. */
  onLogoutError?: (err: unknown) => void
  /**
   * The route's pattern for login events (`'/users/:id'`), asked only when an event is published. Never return the
   * requested URL: it may carry a token. Default: none.
   */
  routeOf?: (request: GuardRequest) => string | undefined
}

const STATUS_TEXT: Readonly<Record<number, string>> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  407: 'Proxy Authentication Required',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable'
}

/** Anonymous credentials hold nothing: one instance serves every request. */
const ANONYMOUS_CREDENTIALS = Object.freeze(new Anonymous())

const RETRY_AFTER_SECONDS = '5'

/**
 * Runs a `logout`, sending what it throws or rejects with to `onError`; never throws.
 *
 * @example
 * runLogout(result.logout, (err) => log.error({ err }, 'logout failed'))
 */
export function runLogout (logout: Logout, onError: (err: unknown) => void): void {
  try {
    const outcome = logout()
    if (isThenable(outcome)) outcome.then(undefined, onError)
  } catch (err) {
    onError(err)
  }
}

/**
 * The HTTP authentication step of any server: give it a request, get an outcome to copy onto the response.
 * Synchronous when the scheme, the checker and the realm answer synchronously; a promise otherwise.
 *
 * The order of a login is: scheme (parse, check what can be checked without the password) → checker (the
 * password) → `scheme.confirm` (Digest claims its nonce count) → realm (the avatar). A replayed Digest header is
 * refused before the realm is asked; a forged one before any nonce count is claimed.
 *
 * @example
 * import { Portal } from 'fastify-cred'
 * import { HttpAuthGuard, BasicScheme } from 'fastify-cred/http'
 * import { MemoryChecker } from 'fastify-cred/checkers'
 * const guard = new HttpAuthGuard({ portal, schemes: [new BasicScheme('api')], interfaces: [IUser] })
 * const outcome = await guard.authenticate({ method: 'GET', url: '/', headers: { authorization: 'Basic …' } }, null)
 * if (outcome.kind === 'refused') { res.writeHead(outcome.status, { 'WWW-Authenticate': outcome.challenges }); res.end(outcome.body) }
 *
 * @throws `InvalidOption` from the constructor, for a set-up that cannot work (including what a checker reports
 * through `setupProblems`, such as an htdigest file offered to a Digest algorithm other than MD5).
 */
export class HttpAuthGuard<Mind = unknown> {
  readonly portal: Portal<Mind>
  readonly schemes: readonly HttpAuthScheme[]
  readonly interfaces: AvatarInterfaces
  readonly proxy: boolean
  readonly loginTimeout: number
  /** `authorization` or `proxy-authorization`: where credentials are read. */
  readonly authorizationHeader: string
  /** `WWW-Authenticate` or `Proxy-Authenticate`: where challenges go. */
  readonly challengeHeader: string
  /** The schemes that may need the body (they offer `bodyHasher`). */
  readonly bodySchemes: readonly HttpAuthScheme[]
  readonly #refusedStatus: number
  readonly #onLogoutError: (err: unknown) => void
  readonly #routeOf: ((request: GuardRequest) => string | undefined) | undefined
  readonly #onlyScheme: HttpAuthScheme | undefined
  /** The schemes that read credentials from the connection (client certificates). */
  readonly #connectionSchemes: readonly HttpAuthScheme[]
  readonly #noCredentialsBody: string
  #lastNoCredentials: GuardRefusal | undefined

  constructor (options: HttpAuthGuardOptions<Mind>) {
    if (options === null || typeof options !== 'object') throw new InvalidOption('HttpAuthGuard needs options: { portal, schemes, interfaces }')
    const { portal, schemes, interfaces } = options
    if (!(portal instanceof Portal)) throw new InvalidOption('HttpAuthGuard: `portal` must be a Portal')
    if (!Array.isArray(schemes)) throw new InvalidOption('HttpAuthGuard: `schemes` must be an array of HttpAuthScheme objects')
    for (const scheme of schemes as unknown[]) {
      if (typeof scheme !== 'object' || scheme === null || typeof (scheme as HttpAuthScheme).name !== 'string' ||
          typeof (scheme as HttpAuthScheme).credentials !== 'function' || typeof (scheme as HttpAuthScheme).challenges !== 'function') {
        throw new InvalidOption(`unknown scheme ${describe(scheme)}; use 'basic', 'digest' or an HttpAuthScheme object`)
      }
      const name = (scheme as HttpAuthScheme).name
      if (name !== name.toLowerCase()) throw new InvalidOption(`a scheme's name must be lower-case, as matched against Authorization (got ${JSON.stringify(name)})`)
    }
    const names = schemes.map((s) => s.name)
    if (new Set(names).size !== names.length) throw new InvalidOption(`a scheme is listed twice in \`schemes\` (${names.join(', ')})`)
    if (!Array.isArray(interfaces) || interfaces.length === 0 ||
        !interfaces.every((i: unknown) => typeof i === 'object' && i !== null && typeof (i as Interface<unknown>).name === 'string')) {
      throw new InvalidOption('`interfaces` must be a non-empty array of tokens from defineInterface()')
    }
    const loginTimeout = options.loginTimeout ?? 10_000
    if (typeof loginTimeout !== 'number' || !Number.isInteger(loginTimeout) || loginTimeout < 0 || loginTimeout > 2 ** 31 - 1) {
      throw new InvalidOption(`\`loginTimeout\` must be a whole number of milliseconds (0 for none), got ${JSON.stringify(loginTimeout)}`)
    }
    if (portal.listCredentialsInterfaces().length === 0) {
      throw new InvalidOption('no credentials checker is registered; pass `checkers`, e.g. [new MemoryChecker({ alice: "pw" })]')
    }
    this.portal = portal
    this.schemes = Object.freeze([...schemes])
    this.interfaces = interfaces
    this.proxy = options.proxy === true
    this.loginTimeout = loginTimeout
    this.authorizationHeader = this.proxy ? 'proxy-authorization' : 'authorization'
    this.challengeHeader = this.proxy ? 'Proxy-Authenticate' : 'WWW-Authenticate'
    this.bodySchemes = Object.freeze(this.schemes.filter((s) => typeof s.bodyHasher === 'function'))
    this.#refusedStatus = this.proxy ? 407 : 401
    this.#onLogoutError = options.onLogoutError ?? ((err) => { console.error('fastify-cred: logout failed', err) })
    this.#routeOf = typeof options.routeOf === 'function' ? options.routeOf : undefined
    this.#onlyScheme = this.schemes.length === 1 ? this.schemes[0] : undefined
    this.#connectionSchemes = this.schemes.filter((s) => typeof s.connectionCredentials === 'function')
    // The most frequent refusal (a browser's first request) gets the shortest body: measured, the four-field body
    // took the 401 path from 1.05 to about 0.8 of bare Fastify's req/s.
    this.#noCredentialsBody = JSON.stringify({ statusCode: this.#refusedStatus, code: 'ERR_CRED_UNAUTHORIZED', error: STATUS_TEXT[this.#refusedStatus] })
    this.#checkSetup()
  }

  /**
   * Authenticates one request. The login goes: scheme (parse the header) → body (only for credentials that cover
   * it, Digest `auth-int`) → checker (the password) → `scheme.confirm` (Digest claims its nonce count) → the throttle
   * hears of a success → realm (the avatar). Each step answers synchronously when it can; the first one that answers
   * a promise starts the login's deadline.
   *
   * @param request Method, request-target and headers.
   * @param mind Given to the realm (the client's address, a socket, …).
   * @param entityBody The body (or its hash) when it has been read already; only credentials that cover the body use it.
   * @returns The outcome, synchronously when every step answered synchronously. Never throws, never rejects.
   */
  authenticate (request: GuardRequest, mind: Mind, entityBody?: EntityBody): GuardOutcome | Promise<GuardOutcome> {
    const authorization = request.headers[this.authorizationHeader]
    const startedAt = loginWatchStart()
    let scheme: HttpAuthScheme | undefined
    let credentials: Credentials | PromiseLike<Credentials>
    try {
      if (authorization === undefined || authorization === '') {
        const fromConnection = this.#connectionSchemes.length === 0 ? undefined : this.#fromConnection(request)
        if (fromConnection !== undefined) {
          [scheme, credentials] = fromConnection
        } else {
          // Asked per request (the portal caches its choice), so a checker registered later counts.
          if (this.portal.checkerFor(ANONYMOUS_CREDENTIALS) === undefined) return this.refusal(undefined, request)
          credentials = ANONYMOUS_CREDENTIALS
        }
      } else {
        if (typeof authorization !== 'string') throw new MalformedCredentials('More than one credentials header')
        scheme = this.#schemeFor(authorization)
        if (scheme === undefined) return this.refusal(undefined, request)
        credentials = scheme.credentials(authorization, request)
      }
    } catch (err) {
      if (startedAt !== 0) publishLoginFailed(startedAt, this.#origin(request, scheme), undefined, err)
      return this.refusal(err, request, scheme)
    }
    const attempt = new Attempt(request, mind, scheme, entityBody, this.#clientOf(request), startedAt)
    if (isThenable(credentials)) return this.#later(attempt, credentials, this.#withCredentials)
    return this.#withCredentials(attempt, credentials)
  }

  /**
   * Authenticates credentials a caller parsed itself (`@fastify/basic-auth`'s user name and password): the same
   * login, deadline and refusals as `authenticate`, without a scheme.
   */
  authenticateCredentials (credentials: Credentials, request: GuardRequest, mind: Mind): GuardOutcome | Promise<GuardOutcome> {
    return this.#checkPassword(new Attempt(request, mind, undefined, undefined, this.#clientOf(request), loginWatchStart()), credentials)
  }

  /** Where a login came from, for its event: built only when one is published. */
  #origin (request: GuardRequest, scheme: HttpAuthScheme | undefined): LoginOrigin {
    return { protocol: 'http', scheme: scheme?.name, client: request.ip, route: this.#routeOf?.(request) }
  }

  /** What the portal's throttle learns of the client: the address, as the server established it. */
  #clientOf (request: GuardRequest): LoginClient | undefined {
    return this.portal.throttle === undefined ? undefined : { address: request.ip }
  }

  /** The credentials the connection carries (a client certificate), from the first scheme that finds some. */
  #fromConnection (request: GuardRequest): [HttpAuthScheme, Credentials] | undefined {
    for (const scheme of this.#connectionSchemes) {
      const credentials = scheme.connectionCredentials?.(request)
      if (credentials !== undefined) return [scheme, credentials]
    }
    return undefined
  }

  #schemeFor (authorization: string): HttpAuthScheme | undefined {
    const only = this.#onlyScheme
    if (only !== undefined) return hasScheme(authorization, only.name) ? only : undefined
    for (const scheme of this.schemes) if (hasScheme(authorization, scheme.name)) return scheme
    return undefined
  }

  #withCredentials (attempt: Attempt<Mind>, credentials: Credentials): GuardOutcome | Promise<GuardOutcome> {
    attempt.credentials = credentials
    const scheme = attempt.scheme
    if (scheme?.bodyHasher === undefined || !needsEntityBody(credentials)) return this.#checkPassword(attempt, credentials)
    const body = attempt.entityBody ?? (hasNoBody(attempt.request) ? EMPTY_BODY : undefined)
    if (body === undefined) return { kind: 'awaiting-body', resume: (read) => this.#withBody(attempt, credentials, read) }
    return this.#withBody(attempt, credentials, body)
  }

  #withBody (attempt: Attempt<Mind>, credentials: BodyBoundCredentials, body: EntityBody): GuardOutcome | Promise<GuardOutcome> {
    try {
      credentials.setEntityBody(body)
    } catch (err) {
      return this.#fail(attempt, err)
    }
    return this.#checkPassword(attempt, credentials)
  }

  #checkPassword (attempt: Attempt<Mind>, credentials: Credentials): GuardOutcome | Promise<GuardOutcome> {
    attempt.credentials = credentials
    let avatarId: AvatarId | Promise<AvatarId>
    try {
      avatarId = this.portal.requestAvatarId(credentials, attempt.client)
    } catch (err) {
      return this.#fail(attempt, err)
    }
    if (isThenable(avatarId)) return this.#later(attempt, avatarId, this.#confirm)
    return this.#confirm(attempt, avatarId)
  }

  #confirm (attempt: Attempt<Mind>, avatarId: AvatarId): GuardOutcome | Promise<GuardOutcome> {
    attempt.avatarId = avatarId
    const confirm = attempt.scheme?.confirm
    if (confirm === undefined) return this.#requestAvatar(attempt)
    let confirmed: void | PromiseLike<void>
    try {
      confirmed = confirm.call(attempt.scheme, attempt.credentials as Credentials)
    } catch (err) {
      return this.#fail(attempt, err)
    }
    if (isThenable(confirmed)) return this.#later(attempt, confirmed, this.#requestAvatar)
    return this.#requestAvatar(attempt)
  }

  #requestAvatar (attempt: Attempt<Mind>): GuardOutcome | Promise<GuardOutcome> {
    const credentials = attempt.credentials as Credentials
    // Only a login that reaches the realm is a success for the throttle (a replay refused by `confirm` is not).
    this.portal.recordSuccess(credentials, attempt.client)
    let result: PortalLogin<unknown> | Promise<PortalLogin<unknown>>
    try {
      // A slot on the request, not a WeakMap: a WeakMap entry per login cost a third of the guard's time (GC).
      (attempt.request as VerifiedSlot)[kVerifiedCredentials] = credentials
      result = this.portal.requestAvatar(attempt.avatarId as AvatarId, attempt.mind, ...this.interfaces)
    } catch (err) {
      return this.#fail(attempt, err)
    }
    // An avatar that arrives after the deadline was refused with 503 already: release what it holds.
    if (isThenable(result)) return this.#later(attempt, result, this.#accepted, (late) => { this.logout(late.logout) })
    return this.#accepted(attempt, result)
  }

  #accepted (attempt: Attempt<Mind>, result: PortalLogin<unknown>): GuardOutcome {
    let headers: Readonly<Record<string, string>> | undefined
    try {
      headers = attempt.scheme?.successHeaders?.(attempt.credentials as Credentials, attempt.request)
    } catch (err) {
      this.logout(result.logout)
      return this.#fail(attempt, err)
    }
    // RFC 7615: what answers Proxy-Authorization is Proxy-Authentication-Info.
    if (headers !== undefined && this.proxy && 'Authentication-Info' in headers) {
      const { 'Authentication-Info': info, ...others } = headers
      headers = { ...others, 'Proxy-Authentication-Info': info as string }
    }
    const logout = attempt.startedAt === 0
      ? result.logout
      : publishLoginSucceeded(attempt.startedAt, this.#origin(attempt.request, attempt.scheme), result.avatarId, result.interface.name, result.logout)
    return { kind: 'accepted', interface: result.interface, avatar: result.avatar, logout, avatarId: result.avatarId, headers, scheme: attempt.scheme?.name }
  }

  /**
   * The asynchronous half of every step: waits for `value` within the login's deadline (which starts with the first
   * step that answers a promise), then goes on with `next`, or refuses.
   */
  #later<T> (
    attempt: Attempt<Mind>, value: PromiseLike<T>,
    next: (this: HttpAuthGuard<Mind>, attempt: Attempt<Mind>, value: T) => GuardOutcome | Promise<GuardOutcome>,
    onLate?: (value: T) => void
  ): Promise<GuardOutcome> {
    if (attempt.deadlineAt === 0) attempt.deadlineAt = this.loginTimeout === 0 ? Infinity : Date.now() + this.loginTimeout
    const bounded = attempt.deadlineAt === Infinity
      ? Promise.resolve(value)
      : withinDeadline(value, Math.max(1, attempt.deadlineAt - Date.now()),
        () => new LoginTimeout(`Login did not finish within ${this.loginTimeout} ms`), onLate === undefined ? {} : { onLate })
    return bounded.then((settled) => next.call(this, attempt, settled), (err: unknown) => this.#fail(attempt, err))
  }

  /** A step failed: the refusal for its error; a logged error first has the password taken out of its messages. */
  #fail (attempt: Attempt<Mind>, error: unknown): GuardRefusal {
    const refusal = this.refusal(error, attempt.request, attempt.scheme)
    if (refusal.logLevel !== undefined && attempt.credentials !== undefined) withoutPassword(error, attempt.credentials)
    if (attempt.startedAt !== 0) publishLoginFailed(attempt.startedAt, this.#origin(attempt.request, attempt.scheme), attempt.credentials, error)
    return refusal
  }

  /**
   * The refusal for an error (or for no usable credentials, `undefined`): the one place where login failures
   * become HTTP answers. Adapters use it for failures of their own (a body that could not be read).
   *
   * | error | status |
   * | --- | --- |
   * | none, `UnauthorizedLogin`, `UnhandledCredentials`, `StaleNonce` | 401 (407 in proxy mode) with challenges |
   * | `MalformedCredentials` | 400 with challenges |
   * | `LoginDenied` | 403 |
   * | `TooManyAttempts` (a throttle) | 429 with `Retry-After` |
   * | `StoreUnavailable`, `LoginTimeout` | 503 with `Retry-After` |
   * | anything else | 500 |
   *
   * `scheme`: the scheme whose credentials the error refused, which may say so in its challenge (Bearer's
   * `error="invalid_token"`).
   */
  refusal (error: unknown, request: HttpRequestLike = NO_REQUEST, scheme?: HttpAuthScheme): GuardRefusal {
    let status: number
    let message: string
    let code: CredErrorCode
    let logLevel: 'error' | 'warn' | undefined
    let challenge = true
    let retryAfter: string | undefined
    if (error === undefined) {
      // Schemes whose challenges never change (Basic) hand back the same array: so is the refusal, then.
      const challenges = this.#challenges(request, false)
      const last = this.#lastNoCredentials
      if (last !== undefined && last.challenges === challenges) return last
      const refusal: GuardRefusal = {
        kind: 'refused', status: this.#refusedStatus, code: 'ERR_CRED_UNAUTHORIZED', message: 'Authentication required', challenges,
        retryAfter: undefined, body: this.#noCredentialsBody, error: undefined, logLevel: undefined, scheme: undefined
      }
      this.#lastNoCredentials = refusal
      return refusal
    } else if (error instanceof MalformedCredentials) {
      status = 400; code = error.code; message = 'Malformed credentials'
    } else if (error instanceof LoginDenied) {
      status = 403; code = error.code; message = 'Access denied'; challenge = false
    } else if (error instanceof TooManyAttempts) {
      status = 429; code = error.code; message = 'Too many failed attempts, try again later'; challenge = false; retryAfter = String(error.retryAfter)
    } else if (error instanceof LoginFailed) {
      status = this.#refusedStatus; code = error.code; message = 'Invalid credentials'
    } else if (error instanceof StoreUnavailable || error instanceof LoginTimeout) {
      status = 503; code = error.code; message = 'Authentication is unavailable, try again later'; challenge = false; logLevel = 'warn'
      retryAfter = RETRY_AFTER_SECONDS
    } else {
      // A bug: the client learns InternalError's code and nothing more; `error` keeps the original for the log.
      const internal = new InternalError('Internal Server Error', { cause: error })
      status = 500; code = internal.code; message = internal.message; challenge = false; logLevel = 'error'
    }
    const body = JSON.stringify({ statusCode: status, code, error: STATUS_TEXT[status], message })
    const challenges = challenge ? this.#challenges(request, error instanceof StaleNonce, scheme, error) : []
    return { kind: 'refused', status, code, message, challenges, retryAfter, body, error, logLevel, scheme: scheme?.name }
  }

  /**
   * For credentials that cover the body: before the body is read, something to pass it through that hashes it,
   * when this request's `Authorization` asks for it; `undefined` otherwise.
   */
  bodyHasher (request: GuardRequest): ReturnType<NonNullable<HttpAuthScheme['bodyHasher']>> {
    const authorization = request.headers[this.authorizationHeader]
    if (typeof authorization !== 'string') return undefined
    for (const scheme of this.bodySchemes) {
      if (!hasScheme(authorization, scheme.name)) continue
      return scheme.bodyHasher?.(authorization)
    }
    return undefined
  }

  /** Runs a late or refused avatar's `logout`, reporting failures to `onLogoutError`. */
  logout (logout: Logout): void {
    runLogout(logout, this.#onLogoutError)
  }

  #challenges (request: HttpRequestLike, stale: boolean, refusedScheme?: HttpAuthScheme, error?: unknown): readonly string[] {
    const only = this.#onlyScheme
    if (only !== undefined) return refusedScheme === only ? only.challenges(request, stale, error) : only.challenges(request, stale)
    const all: string[] = []
    for (const scheme of this.schemes) all.push(...(scheme === refusedScheme ? scheme.challenges(request, stale, error) : scheme.challenges(request, stale)))
    return all
  }

  /** Asks every checker what it cannot serve of this set-up, and refuses to start with what they say. */
  #checkSetup (): void {
    const digestAlgorithms: DigestAlgorithm[] = []
    let authenticationRealm: string | undefined
    for (const scheme of this.schemes) {
      digestAlgorithms.push(...(scheme.checkerSetup?.digestAlgorithms ?? []))
      authenticationRealm ??= scheme.checkerSetup?.authenticationRealm
    }
    const setup: CheckerSetup = { authenticationRealm, digestAlgorithms }
    const problems = this.portal.listCheckers().flatMap((checker) => [...(checker.setupProblems?.(setup) ?? [])])
    if (problems.length > 0) throw new InvalidOption(problems.join('; '))
  }
}

const NO_REQUEST: HttpRequestLike = Object.freeze({ method: 'GET', url: '/' })

/**
 * Where the guard leaves the credentials a checker accepted, on the request itself (`verifiedCredentials` reads it).
 * A framework adapter declares the slot when it builds its requests (Fastify: `decorateRequest`), so that setting it
 * does not change the request objects' shape.
 */
export const kVerifiedCredentials: unique symbol = Symbol('fastify-cred.verifiedCredentials')
interface VerifiedSlot { [kVerifiedCredentials]?: Credentials | null }

/**
 * The credentials a checker accepted for `request`, once the guard goes on to the realm: how a realm whose mind is
 * the request reads what the checker learned (a JWT's claims: `BearerToken.claims`). `undefined` before, and for
 * a request the guard did not authenticate.
 *
 * @example
 * import { verifiedCredentials } from 'fastify-cred/http'
 * await app.register(cred, { mind: (request) => request, realm: new SimpleRealm().serve(IUser, (id, request) => {
 *   const claims = (verifiedCredentials(request as object) as BearerToken | undefined)?.claims
 *   return { id, scopes: String(claims?.scope ?? '').split(' ') }
 * }), … })
 */
export function verifiedCredentials (request: object): Credentials | undefined {
  if (typeof request !== 'object' || request === null) return undefined
  return (request as VerifiedSlot)[kVerifiedCredentials] ?? undefined
}

/**
 * One login through the guard: what its steps share. One object per authenticated request instead of six positional
 * arguments; the fields are set as the login gets that far.
 */
class Attempt<Mind> {
  credentials: Credentials | undefined = undefined
  avatarId: AvatarId | undefined = undefined
  /** When the login must be over (ms since the epoch): 0 until a step answers a promise, Infinity with no timeout. */
  deadlineAt = 0

  constructor (
    readonly request: GuardRequest,
    readonly mind: Mind,
    readonly scheme: HttpAuthScheme | undefined,
    readonly entityBody: EntityBody | undefined,
    /** What the throttle learns of the client; undefined when the portal has no throttle. */
    readonly client: LoginClient | undefined,
    /** When the login started (`performance.now()`) when someone listens for login events; 0 otherwise. */
    readonly startedAt: number
  ) {}
}
const EMPTY_BODY: EntityBody = Object.freeze({ bytes: new Uint8Array(0) })

/**
 * A checker's unexpected error may quote what it was given (`JSON.parse(password)` does, in its message): the
 * password is taken out of the messages and stacks of the error and its causes before the error is logged.
 */
function withoutPassword (err: unknown, credentials: Credentials): unknown {
  const password = (credentials as { password?: unknown }).password
  if (typeof password !== 'string' || password === '') return err
  let current: unknown = err
  for (let depth = 0; depth < 8 && current instanceof Error; depth++) {
    try {
      if (current.message.includes(password)) current.message = current.message.split(password).join('[password]')
      if (typeof current.stack === 'string' && current.stack.includes(password)) current.stack = current.stack.split(password).join('[password]')
    } catch {
      // A frozen error cannot be scrubbed: it is logged as it is.
    }
    current = current.cause
  }
  return err
}

/** RFC 9112 §6.3: without Transfer-Encoding and with no (or a zero) Content-Length, a request has no body. */
function hasNoBody (request: GuardRequest): boolean {
  const headers = request.headers
  const length = headers['content-length']
  return headers['transfer-encoding'] === undefined && (length === undefined || length === '0')
}

function describe (value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value)
  } catch {
    return String(value)
  }
}
