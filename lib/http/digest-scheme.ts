import { createHash } from 'node:crypto'
import { Transform, pipeline } from 'node:stream'
import type { Readable } from 'node:stream'
import {
  DigestedCredentials, EntityTooLarge, InvalidOption, MalformedCredentials, StaleNonce, StoreUnavailable, UnauthorizedLogin,
  digestHash, digestHashName, isThenable
} from '../cred/index.js'
import type { CheckerSetup, Credentials, DigestAlgorithm, DigestQop } from '../cred/index.js'
import { assertHeaderSafe } from './auth-params.js'
import { digestAlgorithm, digestChallenge, formatAuthenticationInfo, headerText, parseDigest } from './digest.js'
import type { DigestAuthorization } from './digest.js'
import { MemoryNonceStore } from './memory-nonce-store.js'
import { DEFAULT_NONCE_LIFETIME, NonceMinter } from './nonce.js'
import type { NonceClaim, NonceStore } from './nonce-store.js'
import type { EntityBodyHasher, HttpAuthScheme, HttpRequestLike } from './scheme.js'

/**
 * Finds the user a `userhash` stands for: given H(username ":" realm) (hex, of `algorithm`'s hash function), the
 * user name, or `undefined` when no user has that hash. A hash cannot be inverted, so the server needs a list of
 * its users; `userhashResolver` builds one from a list of names.
 */
export type UserhashResolver = (userhash: string, realm: string, algorithm: DigestAlgorithm) => string | undefined | PromiseLike<string | undefined>

/** Options of `DigestScheme` (RFC 7616): algorithms, qop, the nonce secret, lifetime and store, userhash. */
export interface DigestSchemeOptions {
  /** The protection space (`realm="…"`): printable ASCII. */
  authenticationRealm: string
  /**
   * Algorithms offered, one challenge each, in this order. Default `['SHA-256', 'MD5']`: curl and browsers answer
   * the first challenge, python-requests the last, so the strongest goes first and MD5 last.
   */
  algorithms?: readonly DigestAlgorithm[]
  /** qop values offered. Default `['auth']`. `auth-int` also protects the request body (the plugin hashes it). */
  qop?: readonly DigestQop[]
  /** HMAC key for nonces (≥ 16 bytes). Default: random per process. Give one to share nonces across instances. */
  secret?: string | Uint8Array
  /** Where used nonce counts are recorded. Default: a `MemoryNonceStore` of this scheme (closed by `close()`). */
  nonceStore?: NonceStore
  /** Milliseconds a nonce stays fresh. Default 300,000 (5 minutes). */
  nonceLifetime?: number
  /** Ask clients to send H(username ":" realm) instead of the name (RFC 7616 §3.4.4). Needs `resolveUserhash`. */
  userhash?: boolean
  /** Maps a userhash to its user; required by `userhash: true`, and accepted without it too. */
  resolveUserhash?: UserhashResolver
  /**
   * Also accept RFC 2069 responses (no qop, no cnonce, no nonce count). Such a nonce is good for one request
   * only: without a nonce count, a second use cannot be told from a replay. Default `false`.
   */
  legacyRfc2069?: boolean
  /**
   * Send `Authentication-Info` (RFC 7616 §3.5: `rspauth`, proving the server knows the password, and `nextnonce`
   * before a nonce expires) with every successful response. Default `true`. Off saves two hashes and about 120
   * bytes per response, at the price of mutual authentication and of nonces renewed ahead of expiry.
   */
  authenticationInfo?: boolean
  /**
   * The longest request body a `qop=auth-int` request may have, in bytes. Default 1,048,576 (Fastify's default
   * `bodyLimit`); the route's `bodyLimit` applies too, whichever is smaller. Such a body must be read and hashed
   * before the response can be checked: the Fastify plugin reads it (longer: 413 before a byte is read, or as soon
   * as the stream passes the bound), decides the login, and only then lets a content-type parser see it, so a
   * refused request costs reading and hashing at most this many bytes and parses none.
   */
  maxAuthIntBody?: number
}

/** Nonces this close to expiry (as a share of the lifetime) get a `nextnonce` in `Authentication-Info`. */
const NEXTNONCE_SHARE = 0.2

/**
 * HTTP Digest (RFC 7616; RFC 2617 and, when enabled, RFC 2069) as a scheme: SHA-256, SHA-512-256 and MD5 (with
 * their `-sess` variants), qop `auth` and `auth-int`, `userhash`, unforgeable expiring nonces, replay protection
 * through a nonce store, `stale=true` for expired nonces, `Authentication-Info` with `rspauth` and `nextnonce`.
 *
 * `credentials()` checks, in order: syntax; realm; that the algorithm and qop were offered; that `uri` is this
 * request's target (exactly, query included; an absolute URI must have the same path and query, and name the
 * request's `Host`); that the nonce (minted for this realm)
 * is ours (its MAC, checked only the first time a synchronous store sees it) and returned with its opaque.
 * Expiry and the nonce count are decided in `confirm()`, which the guard calls after the checker accepted the
 * response and before the realm is asked: a forged response burns no nonce count, and a replay is refused before
 * the realm opens anything. It answers synchronously with a synchronous store.
 *
 * @example
 * import { DigestScheme } from 'fastify-cred/http'
 * const digest = new DigestScheme({ authenticationRealm: 'api', secret: process.env.DIGEST_SECRET })
 * digest.challenges({ method: 'GET', url: '/' }, false)
 * // ['Digest realm="api", qop="auth", algorithm=SHA-256, nonce="…", opaque="…", charset=UTF-8',
 * //  'Digest realm="api", qop="auth", algorithm=MD5, nonce="…", opaque="…", charset=UTF-8']
 */
export class DigestScheme implements HttpAuthScheme {
  readonly name = 'digest'
  readonly authenticationRealm: string
  readonly algorithms: readonly DigestAlgorithm[]
  readonly qop: readonly DigestQop[]
  readonly nonceStore: NonceStore
  readonly nonceLifetime: number
  readonly userhash: boolean
  readonly legacyRfc2069: boolean
  readonly checkerSetup: CheckerSetup
  readonly authenticationInfo: boolean
  readonly maxAuthIntBody: number
  readonly #nonces: NonceMinter
  readonly #ownStore: boolean
  readonly #resolveUserhash: UserhashResolver | undefined

  constructor (options: DigestSchemeOptions) {
    if (options === null || typeof options !== 'object') throw new InvalidOption('DigestScheme needs options: { authenticationRealm }')
    assertHeaderSafe('authenticationRealm', options.authenticationRealm)
    this.authenticationRealm = options.authenticationRealm

    const algorithms = options.algorithms ?? ['SHA-256', 'MD5']
    if (!Array.isArray(algorithms) || algorithms.length === 0) throw new InvalidOption('Digest `algorithms` must be a non-empty array, e.g. [\'SHA-256\', \'MD5\']')
    const canonical = algorithms.map((a: unknown) => {
      const found = typeof a === 'string' ? digestAlgorithm(a) : undefined
      if (found === undefined) throw new InvalidOption(`Unknown Digest algorithm ${JSON.stringify(a)}; use MD5, MD5-sess, SHA-256, SHA-256-sess, SHA-512-256 or SHA-512-256-sess`)
      return found
    })
    if (new Set(canonical).size !== canonical.length) throw new InvalidOption(`A Digest algorithm is listed twice (${canonical.join(', ')})`)
    this.algorithms = Object.freeze(canonical)
    this.checkerSetup = Object.freeze({ authenticationRealm: this.authenticationRealm, digestAlgorithms: this.algorithms })

    this.legacyRfc2069 = options.legacyRfc2069 === true
    this.authenticationInfo = options.authenticationInfo !== false
    const maxAuthIntBody = options.maxAuthIntBody ?? 1_048_576
    if (!Number.isSafeInteger(maxAuthIntBody) || maxAuthIntBody < 0) throw new InvalidOption(`Digest \`maxAuthIntBody\` must be a whole number of bytes >= 0, got ${String(maxAuthIntBody)}`)
    this.maxAuthIntBody = maxAuthIntBody
    const qop = options.qop ?? ['auth']
    if (!Array.isArray(qop) || !qop.every((q: unknown) => q === 'auth' || q === 'auth-int') || new Set(qop).size !== qop.length) {
      throw new InvalidOption('Digest `qop` must be an array of \'auth\' and/or \'auth-int\'')
    }
    if (qop.length === 0 && !this.legacyRfc2069) throw new InvalidOption('Digest `qop` is empty: offer \'auth\', or set legacyRfc2069: true for RFC 2069 only')
    this.qop = Object.freeze([...qop])

    this.#nonces = new NonceMinter({ secret: options.secret, lifetime: options.nonceLifetime ?? DEFAULT_NONCE_LIFETIME, realm: this.authenticationRealm })
    this.nonceLifetime = this.#nonces.lifetime

    if (options.nonceStore !== undefined) {
      const store: unknown = options.nonceStore
      if (store === null || typeof store !== 'object' || typeof (store as NonceStore).claim !== 'function') {
        throw new InvalidOption('Digest `nonceStore` must implement NonceStore: claim(nonce, nc, issuedAt, expiresAt)')
      }
      this.nonceStore = options.nonceStore
      this.#ownStore = false
    } else {
      this.nonceStore = new MemoryNonceStore()
      this.#ownStore = true
    }

    if (options.resolveUserhash !== undefined && typeof options.resolveUserhash !== 'function') {
      throw new InvalidOption('Digest `resolveUserhash` must be a function (userhash, realm, algorithm) => username | undefined')
    }
    this.#resolveUserhash = options.resolveUserhash
    this.userhash = options.userhash === true
    if (this.userhash && this.#resolveUserhash === undefined) {
      throw new InvalidOption('Digest `userhash: true` needs `resolveUserhash` (a hash cannot be turned back into a user name), e.g. userhashResolver(() => checker.usernames())')
    }
  }

  challenges (_request: HttpRequestLike, stale: boolean): readonly string[] {
    const { nonce, opaque } = this.#nonces.mint()
    return this.algorithms.map((algorithm) => digestChallenge({
      realm: this.authenticationRealm, algorithm, qop: this.qop, nonce, opaque, stale, userhash: this.userhash
    }))
  }

  credentials (authorization: string, request: HttpRequestLike): Credentials | PromiseLike<Credentials> {
    const parsed = parseDigest(authorization)
    if (parsed.realm !== this.authenticationRealm) throw new UnauthorizedLogin('Digest realm is not ours')
    if (!this.algorithms.includes(parsed.algorithm)) throw new UnauthorizedLogin(`Digest algorithm ${parsed.algorithm} was not offered`)
    if (parsed.qop === undefined ? !this.legacyRfc2069 : !this.qop.includes(parsed.qop)) throw new UnauthorizedLogin('Digest qop was not offered')
    if (!uriMatches(parsed.uri, request.url, request.host)) throw new MalformedCredentials('Digest uri is not the request-target')
    if (parsed.opaque === undefined) throw new MalformedCredentials('Malformed Digest credentials: no opaque')
    const nonce = parsed.nonce
    const issuedAt = this.#nonces.issuedAt(nonce)
    if (issuedAt === undefined) throw new UnauthorizedLogin('Digest nonce is not one of ours')
    // A nonce the store already holds had its MAC checked when it was first claimed.
    if (this.nonceStore.has?.(nonce) !== true && !this.#nonces.authentic(nonce)) throw new UnauthorizedLogin('Digest nonce is not one of ours')
    if (parsed.opaque !== this.#nonces.opaqueOf(nonce)) throw new UnauthorizedLogin('Digest opaque does not belong to the nonce')
    // Expiry and the nonce count are decided in confirm(), once a checker has vouched for the response: so only a
    // right password earns stale=true (RFC 7616 §3.3), and a forged response can neither fill the nonce store nor
    // burn a victim's nonce counts.
    if (!parsed.userhash) return new IssuedDigestCredentials(parsed, parsed.username, request, issuedAt)
    if (this.#resolveUserhash === undefined) throw new UnauthorizedLogin('Digest userhash is not accepted here')
    const username = this.#resolveUserhash(parsed.username.toLowerCase(), parsed.realm, parsed.algorithm)
    if (isThenable(username)) return Promise.resolve(username).then((name) => new IssuedDigestCredentials(parsed, name, request, issuedAt))
    return new IssuedDigestCredentials(parsed, username, request, issuedAt)
  }

  /**
   * After a checker accepted the credentials, before the realm is asked: refuses an expired nonce with `StaleNonce` (the client retries with a
   * fresh one without asking its user), then records the nonce count, atomically, so that a replay (the same
   * response sent again, or two copies racing) is refused with `UnauthorizedLogin`. `StoreUnavailable` when the
   * nonce store cannot be reached. Synchronous with a synchronous store.
   */
  confirm (credentials: Credentials): void | Promise<void> {
    if (!(credentials instanceof DigestedCredentials)) return undefined
    const issuedAt = credentials instanceof IssuedDigestCredentials ? credentials.issuedAt : this.#nonces.issuedAt(credentials.nonce)
    if (issuedAt === undefined) throw new UnauthorizedLogin('Digest nonce is not one of ours')
    const expiresAt = issuedAt + this.nonceLifetime
    if (Date.now() >= expiresAt) throw new StaleNonce('Digest nonce expired')
    let claim: NonceClaim | Promise<NonceClaim>
    try {
      claim = this.nonceStore.claim(credentials.nonce, credentials.nc === undefined ? 1 : Number.parseInt(credentials.nc, 16), issuedAt, expiresAt)
    } catch (err) {
      throw storeUnavailable(err)
    }
    if (isThenable(claim)) return Promise.resolve(claim).then(afterClaim, (err: unknown) => { throw storeUnavailable(err) })
    return afterClaim(claim)
  }

  /**
   * `Authentication-Info` for a successful Digest login (qop `auth` / `auth-int`): `rspauth` proving the server
   * knows the password (qop `auth` only: for `auth-int` it would cover the response body, unknown at this point),
   * `qop`, `nc`, `cnonce`, and `nextnonce` when the nonce is in the last fifth of its life.
   */
  successHeaders (credentials: Credentials, _request: HttpRequestLike): Readonly<Record<string, string>> | undefined {
    if (!this.authenticationInfo || !(credentials instanceof DigestedCredentials) || credentials.qop === undefined) return undefined
    const issuedAt = credentials instanceof IssuedDigestCredentials ? credentials.issuedAt : this.#nonces.issuedAt(credentials.nonce)
    const now = Date.now()
    const nextnonce = issuedAt !== undefined && now >= issuedAt + this.nonceLifetime * (1 - NEXTNONCE_SHARE)
      ? this.#nonces.mint(now, this.#nonces.opaqueOf(credentials.nonce)).nonce
      : undefined
    return {
      'Authentication-Info': formatAuthenticationInfo({
        rspauth: credentials.qop === 'auth' ? credentials.responseAuth() : undefined,
        qop: credentials.qop,
        nc: credentials.nc,
        cnonce: credentials.cnonce,
        nextnonce
      })
    }
  }

  /**
   * For `auth-int`: when `authorization` asks for it (and this scheme offers it), something to pass the raw
   * request body through, which hashes it with the credentials' algorithm on the way. `undefined` otherwise.
   * A framework calls this before the body is read and gives the hash to `DigestedCredentials.setEntityBody`.
   *
   * @example
   * const hasher = digest.bodyHasher(request.headers.authorization ?? '')
   * const body = hasher === undefined ? rawBody : hasher.wrap(rawBody)
   * // … once the body has been read: credentials.setEntityBody({ hash: hasher.hash })
   */
  bodyHasher (authorization: string): EntityBodyHasher | undefined {
    if (!this.qop.includes('auth-int') || !authorization.includes('auth-int')) return undefined
    let parsed: DigestAuthorization
    try {
      parsed = parseDigest(authorization)
    } catch {
      return undefined
    }
    return parsed.qop === 'auth-int' ? new BodyHasher(digestHashName(parsed.algorithm), this.maxAuthIntBody) : undefined
  }

  /** Stops the default nonce store's timer. A store passed in `nonceStore` belongs to the caller and stays open. */
  async close (): Promise<void> {
    if (this.#ownStore) await this.nonceStore.close?.()
  }

}

/** Digest credentials as this scheme made them: the nonce's issue time, decoded once, travels with them. */
class IssuedDigestCredentials extends DigestedCredentials {
  readonly issuedAt: number

  constructor (parsed: DigestAuthorization, username: string | undefined, request: HttpRequestLike, issuedAt: number) {
    super({
      // An unknown userhash goes on as a name no user has, so the checker spends the time a wrong password costs.
      username: username ?? parsed.username,
      realm: parsed.realm,
      method: request.method,
      uri: parsed.uri,
      algorithm: parsed.algorithm,
      nonce: parsed.nonce,
      cnonce: parsed.cnonce,
      nc: parsed.nc,
      qop: parsed.qop,
      response: parsed.response,
      userhash: parsed.userhash
    })
    this.issuedAt = issuedAt
  }
}

/** Hashes a request body as it streams through, for `auth-int`, failing with a 413 error past `maxBytes`. */
class BodyHasher implements EntityBodyHasher {
  hash: string | undefined
  readonly maxBytes: number
  readonly #hashName: string

  constructor (hashName: string, maxBytes: number) {
    this.#hashName = hashName
    this.maxBytes = maxBytes
  }

  wrap (body: Readable): Readable {
    const hasher = createHash(this.#hashName)
    let received = 0
    const through: Transform & { receivedEncodedLength?: number } = new Transform({
      transform: (chunk: Buffer, _encoding, callback) => {
        received += chunk.length
        if (received > this.maxBytes) {
          callback(new EntityTooLarge(`Request body is too large for qop=auth-int (at most ${this.maxBytes} bytes)`))
          return
        }
        hasher.update(chunk)
        // Fastify checks Content-Length and bodyLimit against this when a preParsing hook replaces the stream.
        through.receivedEncodedLength = received
        callback(null, chunk)
      },
      flush: (callback) => {
        this.hash = hasher.digest('hex')
        callback()
      }
    })
    through.receivedEncodedLength = 0
    pipeline(body, through, () => {})
    return through
  }
}


function afterClaim (claim: NonceClaim): void {
  if (claim === 'replayed') throw new UnauthorizedLogin('Digest nonce count was used before')
  if (claim === 'forgotten') throw new StaleNonce('Digest nonce was forgotten by the nonce store')
  if (claim !== 'accepted') throw new StoreUnavailable('The nonce store answered neither accepted, replayed nor forgotten')
}

const storeUnavailable = (err: unknown): StoreUnavailable => StoreUnavailable.from(err, 'The Digest nonce store failed')

/**
 * True when a Digest `uri` names the request-target `url`: the same string (query included), or an absolute URI
 * whose authority is the request's `host` (case-insensitive, a default port may be left out) and whose path and
 * query are `url`. Without a `host`, an absolute `uri` only matches itself: a response computed for another
 * server must not log in here (RFC 7616 §3.4.6).
 */
function uriMatches (uri: string, url: string, host: string | undefined): boolean {
  if (uri === url) return true
  const target = headerText(url)
  if (uri === target) return true
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(uri)
  if (scheme === null || target.startsWith('/') === false || host === undefined) return false
  const slash = uri.indexOf('/', scheme[0].length)
  const question = uri.indexOf('?', scheme[0].length)
  const end = slash === -1 ? question : question === -1 ? slash : Math.min(slash, question)
  const authority = uri.slice(scheme[0].length, end === -1 ? uri.length : end)
  if (!sameAuthority(authority, host, (scheme[1] as string).toLowerCase())) return false
  if (slash === -1 && question === -1) return target === '/'
  if (slash === -1 || (question !== -1 && question < slash)) return `/${uri.slice(question)}` === target
  return uri.slice(slash) === target
}

const DEFAULT_PORTS: Readonly<Record<string, string>> = { http: '80', https: '443' }

/** `authority` (from a URI of `scheme`) and the request's `host`, compared as RFC 3986 §6.2.3 normalises them. */
function sameAuthority (authority: string, host: string, scheme: string): boolean {
  if (authority.includes('@')) return false
  const normal = (value: string): string => {
    const lower = value.toLowerCase()
    const port = DEFAULT_PORTS[scheme]
    if (port !== undefined && lower.endsWith(`:${port}`)) return lower.slice(0, -port.length - 1)
    return lower.endsWith(':') ? lower.slice(0, -1) : lower
  }
  return authority.length > 0 && normal(authority) === normal(host)
}

/** Options of `userhashResolver`. */
export interface UserhashResolverOptions {
  /** Least milliseconds between two rebuilds of a table (each started by a miss). Default 10,000. */
  refreshInterval?: number
  /** Names hashed per turn of the event loop while a table is built. Default 1,000 (well under a millisecond). */
  chunkSize?: number
  /** Hears about a failed background rebuild (the previous table stays in use). */
  onError?: (err: unknown) => void
}

/** What `userhashResolver` keeps per realm and hash function. */
interface UserhashTable {
  byHash: Map<string, string> | undefined
  /** The first build, which lookups wait for; then the latest rebuild. */
  building: Promise<Map<string, string>> | undefined
  startedAt: number
}

const nextTurn = async (): Promise<void> => { await new Promise<void>((resolve) => { setImmediate(resolve) }) }

/**
 * A `UserhashResolver` over a list of user names (from a checker, a database query; an async iterable too): hashes
 * every name once per realm and hash function and looks hashes up in a table.
 *
 * The table is never built within a request: it is built `chunkSize` names per turn of the event loop (100,000
 * users take about 100 ms of hashing, which would otherwise block every other request). Lookups made before the
 * first table is ready wait for it. A miss answers from the current table at once (`undefined`: the checker then
 * does a wrong password's work), and starts a rebuild in the background, at most one at a time and at most once
 * per `refreshInterval` (default 10 s): a flood of unknown hashes costs at most one rebuild per interval, and a user
 * added since the last build is found once the rebuild their first miss started has finished.
 *
 * @param usernames Called at each build; answers the names (an iterable or async iterable).
 * @throws InvalidOption when `usernames` is not a function or an option is out of range.
 * @example
 * import { DigestScheme, userhashResolver } from 'fastify-cred/http'
 * import { MemoryChecker } from 'fastify-cred/checkers'
 * const checker = new MemoryChecker({ alice: 'wonderland' })
 * const digest = new DigestScheme({ authenticationRealm: 'api', userhash: true,
 *   resolveUserhash: userhashResolver(() => checker.usernames()) })
 */
export function userhashResolver (usernames: () => Iterable<string> | AsyncIterable<string>, options: UserhashResolverOptions = {}): UserhashResolver {
  if (typeof usernames !== 'function') throw new InvalidOption('userhashResolver needs a function returning the user names')
  const refreshInterval = options.refreshInterval ?? 10_000
  const chunkSize = options.chunkSize ?? 1000
  if (!Number.isFinite(refreshInterval) || refreshInterval < 0) throw new InvalidOption(`userhashResolver: refreshInterval must be a number of milliseconds >= 0, got ${String(refreshInterval)}`)
  if (!Number.isSafeInteger(chunkSize) || chunkSize < 1) throw new InvalidOption(`userhashResolver: chunkSize must be a positive whole number, got ${String(chunkSize)}`)
  const tables = new Map<string, UserhashTable>()

  const build = async (realm: string, algorithm: DigestAlgorithm): Promise<Map<string, string>> => {
    // Starts on a later turn: even the call to `usernames()` stays out of the request that asked.
    await nextTurn()
    const byHash = new Map<string, string>()
    let count = 0
    for await (const name of usernames()) {
      byHash.set(digestHash(algorithm, `${name}:${realm}`), name)
      if (++count % chunkSize === 0) await nextTurn()
    }
    return byHash
  }

  const start = (table: UserhashTable, realm: string, algorithm: DigestAlgorithm): Promise<Map<string, string>> => {
    table.startedAt = Date.now()
    const building = build(realm, algorithm).then((byHash) => {
      table.byHash = byHash
      return byHash
    }).finally(() => {
      if (table.building === building) table.building = undefined
    })
    table.building = building
    return building
  }

  return (userhash, realm, algorithm) => {
    const key = `${algorithm.replace(/-sess$/, '')}\0${realm}`
    let table = tables.get(key)
    if (table === undefined) {
      const fresh: UserhashTable = { byHash: undefined, building: undefined, startedAt: 0 }
      tables.set(key, fresh)
      // A failed first build is forgotten, so the next lookup tries again; this one fails (a 500, not a login).
      start(fresh, realm, algorithm).catch(() => { if (fresh.byHash === undefined) tables.delete(key) })
      table = fresh
    }
    if (table.byHash === undefined) {
      return (table.building as Promise<Map<string, string>>).then((byHash) => byHash.get(userhash))
    }
    const found = table.byHash.get(userhash)
    if (found === undefined && table.building === undefined && Date.now() - table.startedAt >= refreshInterval) {
      start(table, realm, algorithm).catch((err: unknown) => { options.onError?.(err) })
    }
    return found
  }
}
