import { createPublicKey, createSecretKey } from 'node:crypto'
import type { JsonWebKey, KeyObject } from 'node:crypto'
import { IBearerToken, InvalidOption, StoreUnavailable, UnauthorizedLogin } from '../cred/index.js'
import type { CredentialsChecker, Interface } from '../cred/index.js'
import { loadDriver } from '../drivers/index.js'

/** The JWS algorithms a JWT may be signed with here. `none` is not one of them, whatever the options say. */
export type JwtAlgorithm =
  | 'HS256' | 'HS384' | 'HS512' | 'RS256' | 'RS384' | 'RS512' | 'PS256' | 'PS384' | 'PS512'
  | 'ES256' | 'ES384' | 'ES512' | 'EdDSA' | 'Ed25519'

const HMAC: readonly JwtAlgorithm[] = ['HS256', 'HS384', 'HS512']
const RSA: readonly JwtAlgorithm[] = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512']
const EC: Readonly<Record<string, JwtAlgorithm>> = { prime256v1: 'ES256', secp384r1: 'ES384', secp521r1: 'ES512' }
const ASYMMETRIC: readonly JwtAlgorithm[] = [...RSA, 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519']
const ALL = new Set<string>([...HMAC, ...ASYMMETRIC])

/** RFC 7518 §3.2: an HMAC key at least as long as the hash (32 bytes for HS256). */
const MIN_SECRET_BYTES = 32

/** Options of `JwtChecker`: the key (a shared secret, a public key or a JWK set URL) and the claims a token must carry. */
export interface JwtCheckerOptions {
  /** A shared secret (HS256/384/512), at least 32 bytes. */
  secret?: string | Uint8Array
  /** One public key: PEM text (SPKI, or an X.509 certificate), a JWK, or a Node `KeyObject`. */
  key?: string | JsonWebKey | KeyObject
  /** A local JWK set (`{ keys: [...] }`): the key is picked by the token's `kid` and `alg`. */
  jwks?: { readonly keys: readonly JsonWebKey[] }
  /**
   * A remote JWK set (the issuer's `jwks_uri`): fetched on first use, cached for `jwksCacheMaxAge`, fetched again
   * when a token names a `kid` the cache lacks (at most every `jwksCooldown`). A failed fetch is `StoreUnavailable`
   * (HTTP 503), never a login.
   */
  jwksUrl?: string | URL
  /**
   * The algorithms accepted. Default: those the key can verify (`HS256`, `HS384`, `HS512` for a secret; RSA, EC or
   * EdDSA ones for a public key or a key set). `none` is refused, and so is a mix of HMAC and public-key algorithms,
   * which is how algorithm confusion starts (an HS256 token "signed" with the RSA public key).
   */
  algorithms?: readonly JwtAlgorithm[]
  /** The `iss` a token must carry (one of them, for a list). */
  issuer?: string | readonly string[]
  /** The `aud` a token must carry (one of them, for a list). */
  audience?: string | readonly string[]
  /** Seconds of clock difference allowed for `exp`, `nbf` and `iat`. Default 0. */
  clockTolerance?: number
  /** The claim that names the avatar (a non-empty string). Default `sub`. */
  avatarIdClaim?: string
  /** Claims every token must carry. Default `['exp']`: a token without an expiry would be valid forever. */
  requiredClaims?: readonly string[]
  /** For `jwksUrl`: milliseconds a fetch may take. Default 5000. */
  timeout?: number
  /** For `jwksUrl`: milliseconds the key set is kept. Default 600,000 (10 minutes). */
  jwksCacheMaxAge?: number
  /** For `jwksUrl`: the least milliseconds between two fetches caused by an unknown `kid`. Default 30,000. */
  jwksCooldown?: number
}

/** What is used of jose (an optional peer dependency, loaded on first use). */
interface Jose {
  jwtVerify: (jwt: string, key: unknown, options: Record<string, unknown>) => Promise<{ payload: Record<string, unknown> }>
  createLocalJWKSet: (jwks: unknown) => KeyResolver
  createRemoteJWKSet: (url: URL, options: Record<string, unknown>) => KeyResolver
}
type KeyResolver = (header: unknown, token: unknown) => Promise<unknown>

/** jose's errors that say the token (or its key id) is bad, not that the key set cannot be had. */
const TOKEN_ERRORS = new Set([
  'ERR_JWKS_NO_MATCHING_KEY', 'ERR_JWKS_MULTIPLE_MATCHING_KEYS', 'ERR_JWS_INVALID', 'ERR_JWT_INVALID', 'ERR_JOSE_NOT_SUPPORTED',
  'ERR_JOSE_ALG_NOT_ALLOWED'
])

const closed = (): StoreUnavailable => new StoreUnavailable('JwtChecker is closed')
const refused = (cause?: unknown): UnauthorizedLogin => new UnauthorizedLogin('Invalid token', { cause })

type KeySource =
  | { readonly kind: 'key', readonly key: KeyObject }
  | { readonly kind: 'jwks', readonly jwks: { readonly keys: readonly JsonWebKey[] } }
  | { readonly kind: 'url', readonly url: URL }

const positive = (name: string, value: unknown, fallback: number): number => {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) throw new InvalidOption(`JwtChecker: ${name} must be a number ≥ 0, got ${String(value)}`)
  return value
}

const stringList = (name: string, value: unknown): string | string[] | undefined => {
  if (value === undefined) return undefined
  const list = typeof value === 'string' ? [value] : value
  if (!Array.isArray(list) || list.length === 0 || !list.every((v) => typeof v === 'string' && v !== '')) {
    throw new InvalidOption(`JwtChecker: ${name} must be a non-empty string or list of strings`)
  }
  return typeof value === 'string' ? value : [...list as string[]]
}

/** The source of the keys, from exactly one of `secret`, `key`, `jwks`, `jwksUrl`. */
function keySource (options: JwtCheckerOptions): KeySource {
  const given = (['secret', 'key', 'jwks', 'jwksUrl'] as const).filter((name) => options[name] !== undefined)
  if (given.length !== 1) throw new InvalidOption(`JwtChecker: give exactly one of secret, key, jwks or jwksUrl (got ${given.length === 0 ? 'none' : given.join(', ')})`)
  try {
    if (options.secret !== undefined) {
      const secret = typeof options.secret === 'string' ? Buffer.from(options.secret, 'utf8') : options.secret
      if (!(secret instanceof Uint8Array) || secret.length < MIN_SECRET_BYTES) {
        throw new InvalidOption(`JwtChecker: the secret must be at least ${MIN_SECRET_BYTES} bytes (RFC 7518 §3.2)`)
      }
      return { kind: 'key', key: createSecretKey(secret) }
    }
    if (options.key !== undefined) {
      const key = options.key
      if (typeof key === 'string') return { kind: 'key', key: createPublicKey(key) }
      if (isKeyObject(key)) {
        if (key.type === 'private') return { kind: 'key', key: createPublicKey(key) }
        return { kind: 'key', key }
      }
      if (typeof key === 'object' && key !== null) {
        if (key.kty === 'oct') throw new InvalidOption('JwtChecker: an "oct" JWK is a shared secret: give it as `secret`')
        return { kind: 'key', key: createPublicKey({ key, format: 'jwk' }) }
      }
      throw new InvalidOption('JwtChecker: key must be PEM text, a JWK or a KeyObject')
    }
    if (options.jwks !== undefined) {
      const keys = (options.jwks as { keys?: unknown }).keys
      if (!Array.isArray(keys) || keys.length === 0 || !keys.every((k) => typeof k === 'object' && k !== null)) {
        throw new InvalidOption('JwtChecker: jwks must be a JWK set, { keys: [ … ] }, with at least one key')
      }
      if (keys.some((k: JsonWebKey) => k.kty === 'oct' || typeof k.d === 'string')) {
        throw new InvalidOption('JwtChecker: a JWK set to verify with holds public keys only (no "oct" key, no private "d")')
      }
      return { kind: 'jwks', jwks: options.jwks }
    }
    let url: URL
    try {
      url = new URL(String(options.jwksUrl))
    } catch (err) {
      throw new InvalidOption('JwtChecker: jwksUrl is not a URL', { cause: err })
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new InvalidOption('JwtChecker: jwksUrl must be an https:// (or http://) URL')
    return { kind: 'url', url }
  } catch (err) {
    if (err instanceof InvalidOption) throw err
    throw new InvalidOption(`JwtChecker: the key cannot be read (${err instanceof Error ? err.message : String(err)})`, { cause: err })
  }
}

function isKeyObject (value: unknown): value is KeyObject {
  return typeof value === 'object' && value !== null && typeof (value as KeyObject).export === 'function' &&
    typeof (value as KeyObject).type === 'string' && typeof (value as KeyObject).equals === 'function'
}

/** The algorithms a key can verify. */
function algorithmsOf (source: KeySource): readonly JwtAlgorithm[] {
  if (source.kind !== 'key') return ASYMMETRIC
  const key = source.key
  if (key.type === 'secret') return HMAC
  switch (key.asymmetricKeyType) {
    case 'rsa': return RSA
    case 'rsa-pss': return ['PS256', 'PS384', 'PS512']
    case 'ec': {
      const curve = EC[key.asymmetricKeyDetails?.namedCurve ?? '']
      return curve === undefined ? [] : [curve]
    }
    case 'ed25519': return ['EdDSA', 'Ed25519']
    default: return []
  }
}

/**
 * Bearer tokens that are JWTs (RFC 7519) signed by a key it trusts: a shared secret, a public key, a local JWK set
 * or the issuer's remote JWK set (`jwksUrl`). The avatar id is a claim (`sub` by default); every verified claim is
 * recorded on the credentials (`BearerToken.claims`) for the realm. Verification is `jose`'s (an optional peer
 * dependency: `npm install jose`).
 *
 * - Refused (401): a bad signature, an algorithm not allowed (`none` never is; HMAC and public-key algorithms are
 *   never mixed, so an HS256 token "signed" with the RSA public key fails), an expired or not-yet-valid token, a wrong
 *   `iss` or `aud`, a missing `exp` (unless `requiredClaims` says otherwise), an avatar claim that is no string.
 * - A remote key set that cannot be fetched is `StoreUnavailable` (503), never a login.
 *
 * @example
 * import { JwtChecker } from 'fastify-cred/checkers'
 * const checker = new JwtChecker({
 *   jwksUrl: 'https://login.example.com/.well-known/jwks.json', issuer: 'https://login.example.com/', audience: 'api'
 * })
 * await app.register(cred, { realm, checkers: [checker], schemes: ['bearer'], interfaces: [IUser] })
 * @throws InvalidOption for options that cannot work: no key or two, a short secret, `none`, mixed algorithms.
 */
export class JwtChecker implements CredentialsChecker<IBearerToken> {
  static readonly credentialInterfaces: readonly Interface<IBearerToken>[] = Object.freeze([IBearerToken])
  readonly credentialInterfaces: readonly Interface<IBearerToken>[] = JwtChecker.credentialInterfaces
  readonly algorithms: readonly JwtAlgorithm[]
  readonly avatarIdClaim: string
  readonly #source: KeySource
  readonly #verifyOptions: Record<string, unknown>
  readonly #remoteOptions: Record<string, unknown>
  #verifier: Promise<{ jose: Jose, key: unknown }> | undefined
  #closed = false

  constructor (options: JwtCheckerOptions) {
    if (options === null || typeof options !== 'object') throw new InvalidOption('JwtChecker needs options: { secret | key | jwks | jwksUrl, … }')
    this.#source = keySource(options)
    const usable = algorithmsOf(this.#source)
    if (usable.length === 0) throw new InvalidOption('JwtChecker: the key is of a kind no JWS algorithm here verifies')
    const algorithms = options.algorithms ?? usable
    if (!Array.isArray(algorithms) || algorithms.length === 0) throw new InvalidOption('JwtChecker: algorithms must be a non-empty list')
    for (const algorithm of algorithms as unknown[]) {
      if (typeof algorithm === 'string' && algorithm.toLowerCase() === 'none') throw new InvalidOption('JwtChecker: the "none" algorithm (an unsigned token) is never accepted')
      if (typeof algorithm !== 'string' || !ALL.has(algorithm)) throw new InvalidOption(`JwtChecker: unknown algorithm ${JSON.stringify(algorithm)}`)
      if (!usable.includes(algorithm as JwtAlgorithm)) {
        throw new InvalidOption(`JwtChecker: ${algorithm} cannot be verified with this key (it takes ${usable.join(', ')}); mixing HMAC and public-key algorithms allows algorithm confusion`)
      }
    }
    const avatarIdClaim = options.avatarIdClaim ?? 'sub'
    if (typeof avatarIdClaim !== 'string' || avatarIdClaim === '') throw new InvalidOption('JwtChecker: avatarIdClaim must be a claim name')
    const requiredClaims = options.requiredClaims ?? ['exp']
    if (!Array.isArray(requiredClaims) || !requiredClaims.every((c) => typeof c === 'string' && c !== '')) throw new InvalidOption('JwtChecker: requiredClaims must be a list of claim names')
    const issuer = stringList('issuer', options.issuer)
    const audience = stringList('audience', options.audience)
    const clockTolerance = positive('clockTolerance', options.clockTolerance, 0)
    const timeout = positive('timeout', options.timeout, 5000)
    if (timeout === 0 || !Number.isInteger(timeout)) throw new InvalidOption('JwtChecker: timeout must be a whole number of milliseconds, 1 or more')
    this.algorithms = Object.freeze([...algorithms])
    this.avatarIdClaim = avatarIdClaim
    this.#verifyOptions = {
      algorithms: [...algorithms],
      requiredClaims: [...new Set([...requiredClaims, avatarIdClaim])],
      clockTolerance,
      ...(issuer === undefined ? {} : { issuer }),
      ...(audience === undefined ? {} : { audience })
    }
    this.#remoteOptions = {
      timeoutDuration: timeout,
      cacheMaxAge: positive('jwksCacheMaxAge', options.jwksCacheMaxAge, 600_000),
      cooldownDuration: positive('jwksCooldown', options.jwksCooldown, 30_000)
    }
  }

  /** Loads jose (and makes the key set). Never fetches a remote key set: a server that is down is no set-up error. */
  async prepare (): Promise<void> {
    if (this.#closed) throw closed()
    await this.#ready()
  }

  async requestAvatarId (credentials: IBearerToken): Promise<string> {
    if (this.#closed) throw closed()
    const { jose, key } = await this.#ready()
    const token = credentials.token
    if (typeof token !== 'string') throw refused()
    let payload: Record<string, unknown>
    try {
      ({ payload } = await jose.jwtVerify(token, key, this.#verifyOptions))
    } catch (err) {
      if (err instanceof StoreUnavailable) throw err
      // jose's own errors (and its TypeErrors for a key that does not fit the token's header) say the token is bad.
      if (isJoseError(err) || err instanceof TypeError) throw refused(err)
      throw err
    }
    if (this.#closed) throw closed()
    const avatarId = payload[this.avatarIdClaim]
    if (typeof avatarId !== 'string' || avatarId === '') throw refused()
    credentials.setClaims(payload)
    return avatarId
  }

  /** Forgets the keys; afterwards every login rejects with `StoreUnavailable`. Idempotent. */
  async close (): Promise<void> {
    this.#closed = true
    this.#verifier = undefined
  }

  async #ready (): Promise<{ jose: Jose, key: unknown }> {
    this.#verifier ??= (async () => {
      const jose = await loadDriver('jose', 'JwtChecker') as Jose
      const source = this.#source
      if (source.kind === 'key') return { jose, key: source.key }
      if (source.kind === 'jwks') {
        try {
          return { jose, key: jose.createLocalJWKSet(source.jwks) }
        } catch (err) {
          throw new InvalidOption(`JwtChecker: jwks cannot be read (${err instanceof Error ? err.message : String(err)})`, { cause: err })
        }
      }
      const remote = jose.createRemoteJWKSet(source.url, this.#remoteOptions)
      const where = `JwtChecker: the key set at ${source.url.origin}${source.url.pathname}`
      const key: KeyResolver = async (header, token) => {
        try {
          return await remote(header, token)
        } catch (err) {
          if (isJoseError(err) && TOKEN_ERRORS.has(err.code)) throw err
          throw StoreUnavailable.from(err, `${where} cannot be fetched`)
        }
      }
      return { jose, key }
    })()
    const verifier = this.#verifier
    // A failure (jose not installed) is not remembered: the app may install it and try again.
    verifier.catch(() => { if (this.#verifier === verifier) this.#verifier = undefined })
    return await verifier
  }
}

function isJoseError (err: unknown): err is Error & { code: string } {
  return err instanceof Error && typeof (err as { code?: unknown }).code === 'string' && /^ERR_J(OSE|WT|WS|WK|WE)/.test((err as unknown as { code: string }).code)
}
