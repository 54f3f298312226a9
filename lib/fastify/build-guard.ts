import type { FastifyBaseLogger, FastifyReply, FastifyRequest } from 'fastify'
import { InvalidOption, Portal } from '../cred/index.js'
import type { AvatarInterfaces, CredentialsChecker, LoginThrottle, Realm } from '../cred/index.js'
import { buildSchemes } from '../http/build-schemes.js'
import type { DigestPluginOptions, SchemeName } from '../http/build-schemes.js'
import type { DigestScheme } from '../http/digest-scheme.js'
import { HttpAuthGuard } from '../http/guard.js'
import type { NonceStore } from '../http/nonce-store.js'
import type { HttpAuthScheme } from '../http/scheme.js'
import { closeCheckers, resolveCheckers } from '../strcred/index.js'
import { routeOf } from './route.js'
import type { CredMetricsOptions } from './metrics.js'
import { checkRefusalBody } from './refusal-reply.js'
import type { RefusalBodyOption } from './types.js'
import type { CredWebSocketOption } from './websocket.js'

/**
 * Options of the plugin, `app.register(cred, options)`; checked at register time (`InvalidOption` says what to change).
 *
 * @example
 * ```ts
 * await app.register(cred, { realm, checkers: [new MemoryChecker({ alice: 'wonderland' })], interfaces: [IUser] })
 * ```
 */
export interface CredPluginOptions<Mind = unknown> {
  /** What users become after login. Give `realm` (with `checkers`) or a ready `portal`. */
  realm?: Realm<Mind>
  /**
   * Where passwords live, in order of preference per credentials kind: checker objects, or checker specs such as
   * `'file:/etc/app/users.htpasswd'` (see `makeChecker`), which the plugin builds and closes with the server.
   */
  checkers?: Iterable<CredentialsChecker | string>
  /** A portal made elsewhere, shared with other protocols. Replaces `realm`, `checkers` and `throttle`. */
  portal?: Portal<Mind>
  /**
   * Brute-force throttling for the portal built from `realm` and `checkers`: failures counted per user name and per
   * client address (`request.ip`, which follows Fastify's `trustProxy`), refused with 429 and `Retry-After` before
   * any password is checked.
   */
  throttle?: LoginThrottle
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
  /**
   * The mind given to the realm for each request. Default: `null`. A WebSocket handshake's realm gets a
   * `WebSocketMind` instead (see `websocket`).
   */
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
   * Milliseconds a whole asynchronous login (the scheme, the checker, Digest's nonce store, the realm) may take
   * before the request is answered 503 (`LoginTimeout`) instead of hanging. Default 10,000; `0` waits forever.
   * Synchronous logins are never timed.
   */
  loginTimeout?: number
  /**
   * WebSocket sessions. Routes of `@fastify/websocket` (`{ websocket: true }`) are authenticated like any route,
   * their login lives as long as the socket and their realm gets a `WebSocketMind`, with or without this option.
   * `true` or `{ pingInterval }` also registers `@fastify/websocket` (an optional peer dependency) unless it already
   * is; `pingInterval` (ms, default 0: none) pings each authenticated socket and disconnects one that did not
   * answer the previous ping, which logs it out.
   */
  websocket?: boolean | CredWebSocketOption
  /**
   * Prometheus metrics of logins through `prom-client` (an optional peer dependency): `true` counts into
   * prom-client's global registry, `{ registry, prefix, buckets }` where you say (see `credMetrics`). The metrics
   * count every login of the process (they are built on the login events); serve them from a route of your own.
   */
  metrics?: boolean | CredMetricsOptions
  /**
   * The body of the refusals the plugin answers (401, 403, 429, 503, and 400, 407, 500). `'json'` (default):
   * `{ statusCode, code, error, message }`. A function `(refusal, request, reply) => body`: its result is sent
   * instead. `'error-handler'`: the refusal goes to Fastify's error handler as an `Error` with `statusCode`, `code`
   * and `message`. Either way the status, the challenges and `Retry-After` are set by the plugin and stay as they are.
   */
  refusalBody?: RefusalBodyOption
  /**
   * With `@fastify/swagger` registered, declare the schemes in the OpenAPI document
   * (`components.securitySchemes`) and give each route this plugin protects its `security`. Default `true`;
   * `false` leaves the document and the route schemas alone.
   */
  openapi?: boolean
}

/** What the plugin runs on: the guard, and the few options that are Fastify's business. */
export interface PluginSettings {
  readonly guard: HttpAuthGuard<unknown>
  readonly mode: 'always' | 'on-demand'
  readonly mind: (request: FastifyRequest, reply: FastifyReply) => unknown
  /** The `refusalBody` option; `undefined` for the default JSON body. */
  readonly refusalBody: Exclude<RefusalBodyOption, 'json'> | undefined
  /** Declare the schemes and the protected routes in `@fastify/swagger`'s document. */
  readonly openapi: boolean
  /** The protection space, for the schemes' descriptions in the OpenAPI document. */
  readonly authenticationRealm: string
  /** Digest schemes built here, closed with the server. */
  readonly owned: readonly DigestScheme[]
  /**
   * Closes the checkers the plugin built from specs (their pools, connections, worker threads). Checker objects the
   * app passed in stay the app's to close.
   */
  readonly close: () => Promise<void>
}

const noMind = (): null => null

/**
 * Checks the plugin's options and builds what they describe: the checkers from specs, the Portal (unless one is
 * given), the schemes and the guard; then has every store the logins will ask (checkers, throttle, Digest nonce
 * stores) `prepare()` itself, so that a set-up that cannot work (a driver not installed, a SQLite file that does not
 * exist, a decoy that cannot be made) fails here rather than at every login. A store whose server is down now does
 * not fail here: its logins answer 503 until it is back. Every mistake is an `InvalidOption` saying what to change,
 * or a `MissingPeerDependency` naming the package to install.
 */
export async function buildGuard (options: CredPluginOptions, log: FastifyBaseLogger): Promise<PluginSettings> {
  if (options === null || typeof options !== 'object') throw new InvalidOption('fastify-cred needs options: { realm, checkers, interfaces }')
  // Checked before any checker is built: nothing to close when they are wrong.
  const refusalBody = checkRefusalBody(options.refusalBody)
  if (options.openapi !== undefined && typeof options.openapi !== 'boolean') throw new InvalidOption('fastify-cred: `openapi` must be true or false')
  let portal = options.portal
  let built: readonly CredentialsChecker[] = []
  if (portal !== undefined) {
    if (!(portal instanceof Portal)) throw new InvalidOption('fastify-cred: `portal` must be a Portal')
    if (options.realm !== undefined || options.checkers !== undefined || options.throttle !== undefined) {
      throw new InvalidOption('fastify-cred: give either `portal` or `realm` with `checkers` (and `throttle`), not both')
    }
  } else {
    if (options.realm === undefined) throw new InvalidOption('fastify-cred: `realm` is required (or a ready `portal`)')
    const given = [...(options.checkers ?? [])]
    const checkers = await prefixedAsync(async () => await resolveCheckers(given))
    built = checkers.filter((checker) => !given.includes(checker))
    try {
      portal = new Portal(options.realm, checkers, { throttle: options.throttle })
    } catch (err) {
      await closeCheckers(built)
      throw err
    }
  }
  const close = async (): Promise<void> => { await closeCheckers(built) }
  const mode = options.mode ?? 'always'
  if (mode !== 'always' && mode !== 'on-demand') throw new InvalidOption(`fastify-cred: \`mode\` must be 'always' or 'on-demand', got ${JSON.stringify(mode)}`)
  if (options.mind !== undefined && typeof options.mind !== 'function') throw new InvalidOption('fastify-cred: `mind` must be a function (request, reply) => mind')
  const authenticationRealm = options.authenticationRealm ?? 'fastify-cred'
  let owned: readonly DigestScheme[] = []
  try {
    const built = prefixed(() => buildSchemes(options.schemes ?? ['basic'], authenticationRealm, options.digest))
    owned = built.owned
    const guard = prefixed(() => new HttpAuthGuard<unknown>({
      portal: portal as Portal<unknown>,
      schemes: built.schemes,
      interfaces: options.interfaces,
      proxy: options.proxy === true,
      loginTimeout: options.loginTimeout,
      onLogoutError: (err) => { log.error({ err }, 'fastify-cred: logout failed') },
      routeOf
    }))
    await prefixedAsync(async () => { await prepareStores(guard.portal, built.schemes) })
    return { guard, mode, mind: options.mind ?? noMind, refusalBody, openapi: options.openapi ?? true, authenticationRealm, owned, close }
  } catch (err) {
    await Promise.all([close(), ...owned.map(async (scheme) => { await scheme.close() })])
    throw err
  }
}

/**
 * Has every store the logins ask prepare itself (`CredentialsChecker.prepare`, `LoginThrottle.prepare`,
 * `NonceStore.prepare`), all at once; rejects with the first failure once all have settled.
 */
async function prepareStores (portal: Portal<unknown>, schemes: readonly HttpAuthScheme[]): Promise<void> {
  const stores: Array<{ prepare?: () => Promise<void> } | undefined> = [
    ...portal.listCheckers(),
    portal.throttle,
    ...schemes.map((scheme) => (scheme as { nonceStore?: NonceStore }).nonceStore)
  ]
  const outcomes = await Promise.allSettled(stores.map(async (store) => { await store?.prepare?.() }))
  const failure = outcomes.find((outcome): outcome is PromiseRejectedResult => outcome.status === 'rejected')
  if (failure !== undefined) throw failure.reason
}

async function prefixedAsync<T> (build: () => Promise<T>): Promise<T> {
  try {
    return await build()
  } catch (err) {
    if (err instanceof InvalidOption && !err.message.startsWith('fastify-cred')) throw new InvalidOption(`fastify-cred: ${err.message}`, { cause: err })
    throw err
  }
}

/** Set-up errors of the layers below, named as the plugin's. */
function prefixed<T> (build: () => T): T {
  try {
    return build()
  } catch (err) {
    if (err instanceof InvalidOption && !err.message.startsWith('fastify-cred')) throw new InvalidOption(`fastify-cred: ${err.message}`, { cause: err })
    throw err
  }
}
