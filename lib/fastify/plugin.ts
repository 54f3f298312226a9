import type {
  FastifyInstance, FastifyPluginCallback, FastifyReply, FastifyRequest, HookHandlerDoneFunction, RouteOptions
} from 'fastify'
import fp from 'fastify-plugin'
import {
  Anonymous, DigestedCredentials, InvalidOption, LoginDenied, LoginFailed, MalformedCredentials, NOOP_LOGOUT, Portal, StaleNonce,
  StoreUnavailable, UnauthorizedLogin, isThenable, withinDeadline
} from '../cred/index.js'
import type {
  AvatarId, AvatarInterfaces, Credentials, CredentialsChecker, Interface, LoginResultFor, Logout, Realm
} from '../cred/index.js'
import { hasScheme } from '../http/auth-params.js'
import { BasicScheme } from '../http/basic-scheme.js'
import { DigestScheme } from '../http/digest-scheme.js'
import type { DigestSchemeOptions, EntityBodyHasher } from '../http/digest-scheme.js'
import type { HttpAuthScheme } from '../http/scheme.js'

/**
 * The app's own avatar type, by declaration merging, so that `request.avatar` is typed in routes:
 *
 * ```ts
 * declare module 'fastify-cred' {
 *   interface CredTypes { avatar: User }
 * }
 * ```
 */
// eslint-disable-next-line @typescript-eslint/no-empty-interface
export interface CredTypes {}

/** The type of `request.avatar` once logged in: `CredTypes['avatar']` when the app declared it, else `unknown`. */
export type CredAvatar = CredTypes extends { avatar: infer A } ? A : unknown

declare module 'fastify' {
  interface FastifyInstance {
    /** The portal this plugin logs in through; other protocols can use the same one. */
    portal: Portal<unknown>
    /**
     * The authentication step as an `onRequest`-style hook, for routes of an `on-demand` plugin and for
     * `@fastify/auth` composition. On failure it sets the challenges and calls `done` with an error carrying
     * `statusCode` (401, 400, 403, 407, 503 or 500).
     */
    credAuthenticate: (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => void
  }
  interface FastifyRequest {
    /** The avatar the realm gave this request's user, or `null` when the request was not authenticated. */
    avatar: CredAvatar | null
    /** Who logged in: the checker's answer (a user name, or `ANONYMOUS`); `null` when not authenticated. */
    avatarId: AvatarId | null
    /** Which of the configured interfaces the realm chose; `null` when not authenticated. */
    avatarInterface: Interface<unknown> | null
  }
  interface FastifyContextConfig {
    /**
     * Per route: `false` makes a route public when the plugin authenticates every route (the default mode);
     * `true` makes it authenticated when the plugin is registered with `mode: 'on-demand'`.
     */
    cred?: boolean
  }
}

/** The schemes built in, by name; pass objects implementing `HttpAuthScheme` for others. */
export type SchemeName = 'basic' | 'digest'

/** Options of the `'digest'` scheme; its protection space is the plugin's `authenticationRealm`. */
export type DigestPluginOptions = Omit<DigestSchemeOptions, 'authenticationRealm'>

export interface CredPluginOptions<Mind = unknown> {
  /** What users become after login. Give `realm` (with `checkers`) or a ready `portal`. */
  realm?: Realm<Mind>
  /** Where passwords live, in order of preference per credentials kind. */
  checkers?: Iterable<CredentialsChecker>
  /** A portal made elsewhere, shared with other protocols. Replaces `realm` and `checkers`. */
  portal?: Portal<Mind>
  /** The avatar interfaces asked of the realm, in order of preference. */
  interfaces: AvatarInterfaces
  /** The protection space shown to users (`WWW-Authenticate: Basic realm="…"`). Default `'fastify-cred'`. */
  authenticationRealm?: string
  /** The schemes accepted and challenged, in the order the challenges are sent. Default `['basic']`. */
  schemes?: ReadonlyArray<SchemeName | HttpAuthScheme>
  /**
   * Options of the `'digest'` scheme (list `'digest'` in `schemes`): `algorithms` (default `['SHA-256', 'MD5']`),
   * `qop` (default `['auth']`; `'auth-int'` makes the plugin hash the raw body), `secret`, `nonceStore`,
   * `nonceLifetime`, `userhash` with `resolveUserhash`, `legacyRfc2069`.
   */
  digest?: DigestPluginOptions
  /** The mind given to the realm for each request. Default: `null`. */
  mind?: (request: FastifyRequest, reply: FastifyReply) => Mind
  /**
   * `'always'` (default): every route registered after the plugin is authenticated, unless its config says
   * `cred: false`. `'on-demand'`: only routes whose config says `cred: true`, or that use `fastify.credAuthenticate`.
   */
  mode?: 'always' | 'on-demand'
  /**
   * Authenticate to a proxy: read `Proxy-Authorization`, answer `407` with `Proxy-Authenticate`. Default `false`.
   */
  proxy?: boolean
  /**
   * Milliseconds each asynchronous step of a login (the scheme, the checker and realm, a nonce store) may take before the request is answered
   * 503 instead of hanging. Default 10,000; `0` waits forever. Synchronous logins are never timed.
   */
  loginTimeout?: number
}

const kPendingLogin = Symbol('fastify-cred.pendingLogin')
const kBodyHasher = Symbol('fastify-cred.bodyHasher')

/** A Digest `auth-int` login waiting for the body: run in preValidation, when the body has been read. */
interface PendingLogin {
  readonly scheme: HttpAuthScheme | undefined
  readonly credentials: DigestedCredentials
  readonly onFailure: (request: FastifyRequest, reply: FastifyReply, err: unknown, done: HookHandlerDoneFunction) => void
}

interface CredRequest extends FastifyRequest {
  [kPendingLogin]?: PendingLogin | null
  [kBodyHasher]?: EntityBodyHasher | null
}

/** Anonymous credentials hold nothing: one instance serves every request. */
const ANONYMOUS_CREDENTIALS = Object.freeze(new Anonymous())

const STATUS_TEXT: Readonly<Record<number, string>> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  407: 'Proxy Authentication Required',
  500: 'Internal Server Error',
  503: 'Service Unavailable'
}

/** An error for `done(err)` in composition: Fastify's error handler answers with its `statusCode`. */
class HttpAuthError extends Error {
  readonly statusCode: number
  readonly code: string
  constructor (statusCode: number, code: string, message: string) {
    super(message)
    this.statusCode = statusCode
    this.code = code
  }
}

interface Failure {
  readonly status: number
  readonly code: string
  readonly message: string
  readonly challenge: boolean
}

const validate = (options: CredPluginOptions): Required<Pick<CredPluginOptions, 'interfaces' | 'authenticationRealm' | 'mode' | 'proxy' | 'loginTimeout'>> & { portal: Portal<unknown>, schemes: HttpAuthScheme[], owned: DigestScheme[] } => {
  if (options === null || typeof options !== 'object') throw new InvalidOption('fastify-cred needs options: { realm, checkers, interfaces }')
  let portal = options.portal
  if (portal !== undefined) {
    if (!(portal instanceof Portal)) throw new InvalidOption('fastify-cred: `portal` must be a Portal')
    if (options.realm !== undefined || options.checkers !== undefined) {
      throw new InvalidOption('fastify-cred: give either `portal` or `realm` with `checkers`, not both')
    }
  } else {
    if (options.realm === undefined) throw new InvalidOption('fastify-cred: `realm` is required (or a ready `portal`)')
    portal = new Portal(options.realm, options.checkers ?? [])
  }
  if (portal.listCredentialsInterfaces().length === 0) {
    throw new InvalidOption('fastify-cred: no credentials checker is registered; pass `checkers`, e.g. [new InMemoryChecker({ alice: "pw" })]')
  }
  const interfaces = options.interfaces
  if (!Array.isArray(interfaces) || interfaces.length === 0 ||
      !interfaces.every((i: unknown) => typeof i === 'object' && i !== null && typeof (i as Interface<unknown>).name === 'string')) {
    throw new InvalidOption('fastify-cred: `interfaces` must be a non-empty array of tokens from defineInterface()')
  }
  const mode = options.mode ?? 'always'
  if (mode !== 'always' && mode !== 'on-demand') throw new InvalidOption(`fastify-cred: \`mode\` must be 'always' or 'on-demand', got ${JSON.stringify(mode)}`)
  if (options.mind !== undefined && typeof options.mind !== 'function') throw new InvalidOption('fastify-cred: `mind` must be a function (request, reply) => mind')
  const loginTimeout = options.loginTimeout ?? 10_000
  if (typeof loginTimeout !== 'number' || !Number.isInteger(loginTimeout) || loginTimeout < 0 || loginTimeout > 2 ** 31 - 1) {
    throw new InvalidOption(`fastify-cred: \`loginTimeout\` must be a whole number of milliseconds (0 for none), got ${JSON.stringify(loginTimeout)}`)
  }
  const authenticationRealm = options.authenticationRealm ?? 'fastify-cred'
  const schemeOptions = options.schemes ?? ['basic']
  if (!Array.isArray(schemeOptions) || schemeOptions.length === 0) throw new InvalidOption('fastify-cred: `schemes` must be a non-empty array, e.g. [\'basic\']')
  if (options.digest !== undefined && !schemeOptions.includes('digest')) {
    throw new InvalidOption('fastify-cred: `digest` options are given but `schemes` does not list \'digest\'')
  }
  const owned: DigestScheme[] = []
  const schemes = schemeOptions.map((scheme: SchemeName | HttpAuthScheme) => {
    if (scheme === 'basic') return new BasicScheme(authenticationRealm)
    if (scheme === 'digest') {
      const built = new DigestScheme({ ...options.digest, authenticationRealm })
      owned.push(built)
      return built
    }
    if (typeof scheme === 'object' && scheme !== null && typeof scheme.name === 'string' &&
        typeof scheme.credentials === 'function' && typeof scheme.challenges === 'function') return scheme
    throw new InvalidOption(`fastify-cred: unknown scheme ${JSON.stringify(scheme)}; use 'basic', 'digest' or an HttpAuthScheme object`)
  })
  const upper = schemes.find((s) => s.name !== s.name.toLowerCase())
  if (upper !== undefined) throw new InvalidOption(`fastify-cred: a scheme's name must be lower-case, as matched against Authorization (got ${JSON.stringify(upper.name)})`)
  const names = schemes.map((s) => s.name)
  if (new Set(names).size !== names.length) throw new InvalidOption(`fastify-cred: a scheme is listed twice in \`schemes\` (${names.join(', ')})`)
  return { portal: portal as Portal<unknown>, interfaces, authenticationRealm, mode, proxy: options.proxy === true, loginTimeout, schemes, owned }
}

// Callback style, so that every set-up error reaches `next` and so `register()`'s promise, never an uncaught throw.
const credPlugin: FastifyPluginCallback<CredPluginOptions> = (fastify: FastifyInstance, options, next) => {
  try {
    install(fastify, validate(options), options.mind ?? (() => null))
  } catch (err) {
    next(err as Error)
    return
  }
  next()
}

function install (fastify: FastifyInstance, settings: ReturnType<typeof validate>, mind: (request: FastifyRequest, reply: FastifyReply) => unknown): void {
  const { portal, interfaces, schemes, loginTimeout } = settings
  const authorizationHeader = settings.proxy ? 'proxy-authorization' : 'authorization'
  const challengeHeader = settings.proxy ? 'Proxy-Authenticate' : 'WWW-Authenticate'
  const refusedStatus = settings.proxy ? 407 : 401
  const singleScheme = schemes.length === 1 ? schemes[0] : undefined

  const failureFor = (err: unknown): Failure => {
    if (err instanceof MalformedCredentials) return { status: 400, code: err.code, message: 'Malformed credentials', challenge: true }
    if (err instanceof LoginDenied) return { status: 403, code: err.code, message: 'Access denied', challenge: false }
    if (err instanceof LoginFailed) return { status: refusedStatus, code: err.code, message: 'Invalid credentials', challenge: true }
    if (err instanceof StoreUnavailable) return { status: 503, code: err.code, message: 'Authentication is unavailable, try again later', challenge: false }
    return { status: 500, code: 'ERR_CRED_INTERNAL', message: 'Internal Server Error', challenge: false }
  }
  const NO_CREDENTIALS: Failure = { status: refusedStatus, code: 'ERR_CRED_UNAUTHORIZED', message: 'Authentication required', challenge: true }
  // The most frequent refusal (a browser's first request, a client that waits for the challenge) gets the shortest
  // body: measured, the full four-field body took the 401 path from 1.05 to about 0.8 of bare Fastify's req/s.
  const noCredentialsBody = JSON.stringify({ statusCode: refusedStatus, code: NO_CREDENTIALS.code, error: STATUS_TEXT[refusedStatus] })

  const challengesFor = (request: FastifyRequest, stale: boolean): string[] => {
    const all: string[] = []
    for (const scheme of schemes) all.push(...scheme.challenges(request, stale))
    return all
  }
  /** One challenge goes out as a plain header value, several as one header line each. */
  const challengeHeaderValue = (challenges: string[]): string | string[] => challenges.length === 1 ? challenges[0] as string : challenges

  const logFailure = (request: FastifyRequest, err: unknown, failure: Failure): void => {
    if (failure.status === 500) request.log.error({ err }, 'fastify-cred: unexpected error during login')
    else if (failure.status === 503) request.log.warn({ err }, 'fastify-cred: a store needed for login is unavailable')
  }

  /** What every refusal does before it is answered: log what deserves it, set the challenges and Retry-After. */
  const prepareRefusal = (request: FastifyRequest, reply: FastifyReply, err: unknown, appendChallenges: boolean): Failure => {
    const failure = err === undefined ? NO_CREDENTIALS : failureFor(err)
    if (err !== undefined) logFailure(request, err, failure)
    if (failure.challenge) {
      const ours = challengesFor(request, err instanceof StaleNonce)
      const existing = appendChallenges ? reply.getHeader(challengeHeader) : undefined
      const previous = existing === undefined ? [] : Array.isArray(existing) ? existing.map(String) : [String(existing)]
      reply.header(challengeHeader, challengeHeaderValue(previous.length === 0 ? ours : [...previous, ...ours]))
    }
    if (failure.status === 503) reply.header('Retry-After', '5')
    return failure
  }

  /** Answers a refused request from the hook itself: no error handler, and no Error at all on the hot 401 path. */
  const refuse = (request: FastifyRequest, reply: FastifyReply, err: unknown): void => {
    const failure = prepareRefusal(request, reply, err, false)
    reply.code(failure.status).type('application/json; charset=utf-8').send(failure === NO_CREDENTIALS
      ? noCredentialsBody
      : JSON.stringify({ statusCode: failure.status, code: failure.code, error: STATUS_TEXT[failure.status], message: failure.message }))
  }

  /** Fails through `done(err)` for composition, appending our challenges to any a sibling strategy set. */
  const fail = (request: FastifyRequest, reply: FastifyReply, err: unknown, done: HookHandlerDoneFunction): void => {
    const failure = prepareRefusal(request, reply, err, true)
    done(new HttpAuthError(failure.status, failure.code, failure.message))
  }

  const runLogout = (request: FastifyRequest, logout: Logout): void => {
    try {
      const outcome = logout()
      if (isThenable(outcome)) outcome.then(undefined, (err: unknown) => request.log.error({ err }, 'fastify-cred: logout failed'))
    } catch (err) {
      request.log.error({ err }, 'fastify-cred: logout failed')
    }
  }

  const accept = (request: FastifyRequest, reply: FastifyReply, scheme: HttpAuthScheme | undefined, credentials: Credentials, result: LoginResultFor<AvatarInterfaces>): void => {
    request.avatar = result.avatar as CredAvatar
    request.avatarId = result.avatarId
    request.avatarInterface = result.interface
    const logout = result.logout
    if (logout !== NOOP_LOGOUT) {
      // The response's 'close' comes exactly once: after it was sent (also a 500 from a failing handler) or when
      // the client went away first. Only logins with something to release pay for the listener.
      const raw = reply.raw
      if (raw.destroyed || request.raw.aborted || request.raw.socket?.destroyed === true) runLogout(request, logout)
      else raw.once('close', () => { runLogout(request, logout) })
    }
    const headers = scheme?.successHeaders?.(credentials, request)
    if (headers === undefined) return
    for (const [name, value] of Object.entries(headers)) {
      // RFC 7615: what answers Proxy-Authorization is Proxy-Authentication-Info.
      reply.header(settings.proxy && name.toLowerCase() === 'authentication-info' ? 'Proxy-Authentication-Info' : name, value)
    }
  }

  /**
   * The login succeeded: let the scheme confirm (Digest records its nonce count only now), then hand the avatar to
   * the request. A refusal at this point logs the avatar out at once.
   */
  const confirmAndAccept = (
    request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction,
    onFailure: (request: FastifyRequest, reply: FastifyReply, err: unknown, done: HookHandlerDoneFunction) => void,
    scheme: HttpAuthScheme | undefined, creds: Credentials, result: LoginResultFor<AvatarInterfaces>
  ): void => {
    const refuseAfterAll = (err: unknown): void => {
      runLogout(request, result.logout)
      onFailure(request, reply, err, done)
    }
    let confirmed: void | PromiseLike<void>
    try {
      confirmed = scheme?.confirm?.(creds)
      if (!isThenable(confirmed)) accept(request, reply, scheme, creds, result)
    } catch (err) {
      refuseAfterAll(err)
      return
    }
    if (!isThenable(confirmed)) { done(); return }
    withinDeadline(confirmed, loginTimeout, 'Login').then(() => {
      try {
        accept(request, reply, scheme, creds, result)
      } catch (err) {
        refuseAfterAll(err)
        return
      }
      done()
    }, refuseAfterAll)
  }

  const loginWith = (
    request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction,
    onFailure: (request: FastifyRequest, reply: FastifyReply, err: unknown, done: HookHandlerDoneFunction) => void,
    scheme: HttpAuthScheme | undefined, creds: Credentials
  ): void => {
    let result: LoginResultFor<AvatarInterfaces> | Promise<LoginResultFor<AvatarInterfaces>>
    try {
      result = portal.loginMaybeSync(creds, mind(request, reply), ...interfaces)
    } catch (err) {
      onFailure(request, reply, err, done)
      return
    }
    if (isThenable(result)) {
      // A login that finishes after the deadline was already answered with 503: release what it handed out.
      withinDeadline(result, loginTimeout, 'Login', { onLate: (late) => { runLogout(request, late.logout) } })
        .then((resolved) => { confirmAndAccept(request, reply, done, onFailure, scheme, creds, resolved) },
          (err: unknown) => onFailure(request, reply, err, done))
    } else {
      confirmAndAccept(request, reply, done, onFailure, scheme, creds, result)
    }
  }

  /** Digest schemes offering auth-int: their requests get the raw body hashed on its way to the parser. */
  const bodySchemes = schemes.filter((s): s is DigestScheme => s instanceof DigestScheme && s.qop.includes('auth-int'))

  /** Gives auth-int credentials the hash of the body; false when the body was not read (yet). */
  const supplyEntityBody = (request: FastifyRequest, creds: DigestedCredentials): boolean => {
    const hashed = (request as CredRequest)[kBodyHasher]?.hash
    if (hashed !== undefined) {
      creds.setEntityBody({ hash: hashed })
      return true
    }
    const headers = request.headers
    if (headers['transfer-encoding'] === undefined && (headers['content-length'] === undefined || headers['content-length'] === '0')) {
      creds.setEntityBody({ bytes: new Uint8Array(0) })
      return true
    }
    return false
  }

  /**
   * The whole authentication step. Stays synchronous when the scheme, the checker and the realm answer
   * synchronously; `onFailure` decides how a refusal is answered (directly, or through `done(err)`).
   */
  const authenticate = (
    request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction,
    onFailure: (request: FastifyRequest, reply: FastifyReply, err: unknown, done: HookHandlerDoneFunction) => void
  ): void => {
    // Already logged in by this plugin's hook (a route that also lists credAuthenticate): a second login would
    // hand out a second avatar, and a Digest nonce count cannot be used twice.
    if (request.avatarInterface !== null) { done(); return }
    const authorization = request.headers[authorizationHeader]
    let scheme: HttpAuthScheme | undefined
    let credentials: Credentials | PromiseLike<Credentials>
    try {
      if (authorization === undefined || authorization === '') {
        // Asked per request (the portal caches its choice), so a checker registered later on fastify.portal counts.
        if (portal.checkerFor(ANONYMOUS_CREDENTIALS) === undefined) { onFailure(request, reply, undefined, done); return }
        credentials = ANONYMOUS_CREDENTIALS
      } else {
        scheme = singleScheme !== undefined && hasScheme(authorization, singleScheme.name) ? singleScheme : schemes.find((s) => hasScheme(authorization, s.name))
        if (scheme === undefined) { onFailure(request, reply, undefined, done); return }
        credentials = scheme.credentials(authorization, request)
      }
    } catch (err) {
      onFailure(request, reply, err, done)
      return
    }
    if (isThenable(credentials)) {
      const chosen = scheme
      withinDeadline(credentials, loginTimeout, 'Login')
        .then((creds) => { login(request, reply, done, onFailure, chosen, creds) }, (err: unknown) => onFailure(request, reply, err, done))
    } else {
      login(request, reply, done, onFailure, scheme, credentials)
    }
  }

  /** Logs in with credentials a scheme made; Digest `auth-int` ones wait for the body. No closure on this path. */
  const login = (
    request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction,
    onFailure: (request: FastifyRequest, reply: FastifyReply, err: unknown, done: HookHandlerDoneFunction) => void,
    scheme: HttpAuthScheme | undefined, creds: Credentials
  ): void => {
    if (creds instanceof DigestedCredentials && creds.needsEntityBody) {
      // Digest auth-int covers the body, which is read after onRequest: finish in preValidation.
      if (onFailure === refuse && bodySchemes.length > 0) {
        (request as CredRequest)[kPendingLogin] = { scheme, credentials: creds, onFailure }
        done()
        return
      }
      if (!supplyEntityBody(request, creds)) {
        onFailure(request, reply, new UnauthorizedLogin('Digest auth-int: the request body was not read yet'), done)
        return
      }
    }
    loginWith(request, reply, done, onFailure, scheme, creds)
  }

  const hook = (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void => {
    authenticate(request, reply, done, refuse)
  }
  const credAuthenticate = (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void => {
    authenticate(request, reply, done, fail)
  }

  fastify.decorate('portal', portal)
  fastify.decorate('credAuthenticate', credAuthenticate)
  fastify.decorateRequest('avatar', null)
  fastify.decorateRequest('avatarId', null)
  fastify.decorateRequest('avatarInterface', null)

  fastify.addHook('onRoute', (route: RouteOptions) => {
    const wanted = route.config?.cred
    if (settings.mode === 'always' ? wanted === false : wanted !== true) return
    const existing = route.onRequest
    route.onRequest = existing === undefined ? [hook] : [hook, ...(Array.isArray(existing) ? existing : [existing])]
  })
  if (bodySchemes.length > 0) {
    fastify.decorateRequest(kPendingLogin, null)
    fastify.decorateRequest(kBodyHasher, null)
    fastify.addHook('preParsing', (request, _reply, payload, done) => {
      const authorization = request.headers[authorizationHeader]
      if (typeof authorization === 'string') {
        for (const scheme of bodySchemes) {
          const hasher = scheme.bodyHasher(authorization)
          if (hasher !== undefined) {
            (request as CredRequest)[kBodyHasher] = hasher
            done(null, hasher.wrap(payload))
            return
          }
        }
      }
      done(null, payload)
    })
    fastify.addHook('preValidation', (request, reply, done) => {
      const pending = (request as CredRequest)[kPendingLogin]
      if (pending === null || pending === undefined) { done(); return }
      (request as CredRequest)[kPendingLogin] = null
      if (!supplyEntityBody(request, pending.credentials)) {
        pending.onFailure(request, reply, new UnauthorizedLogin('Digest auth-int: the request body could not be read'), done)
        return
      }
      loginWith(request, reply, done, pending.onFailure, pending.scheme, pending.credentials)
    })
  }
  if (settings.owned.length > 0) {
    fastify.addHook('onClose', (_instance, done) => {
      Promise.all(settings.owned.map((scheme) => scheme.close())).then(() => done(), done)
    })
  }
}

/**
 * The fastify-cred plugin: logs every request in through a Portal, via HTTP Basic (and Digest, when enabled), and
 * puts the avatar on `request.avatar`. Its `logout` runs exactly once when the response is done or the client
 * goes away.
 *
 * @example
 * import Fastify from 'fastify'
 * import cred, { SimpleRealm, InMemoryChecker, defineInterface } from 'fastify-cred'
 * const IUser = defineInterface<{ name: string }>('IUser')
 * const app = Fastify()
 * await app.register(cred, {
 *   realm: new SimpleRealm().serve(IUser, (id) => ({ name: String(id) })),
 *   checkers: [new InMemoryChecker({ alice: 'wonderland' })],
 *   interfaces: [IUser],
 *   authenticationRealm: 'example'
 * })
 * app.get('/whoami', async (request) => ({ avatarId: request.avatarId }))
 */
export const cred = fp(credPlugin, { fastify: '5.x', name: 'fastify-cred' })
