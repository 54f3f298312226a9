import { BearerToken, InvalidOption, LoginFailed, MalformedCredentials } from '../cred/index.js'
import { assertHeaderSafe, formatChallenge, hasScheme } from './auth-params.js'
import type { HttpAuthScheme } from './scheme.js'

/** Longest `Authorization: Bearer` value read by default (8 KiB): a JWT with many claims fits, a 1 MB token does not. */
export const MAX_BEARER_LENGTH = 8192

/** RFC 6750 §2.1: `b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`. */
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/

/** Options of `BearerScheme` (RFC 6750). */
export interface BearerSchemeOptions {
  /** The protection space, as `realm="…"` in the challenge. */
  authenticationRealm: string
  /** The longest `Authorization` value read, in characters; longer ones are malformed (400). Default 8192. */
  maxLength?: number
}

/**
 * The token of an `Authorization: Bearer <token>` value (RFC 6750 §2.1), or `undefined` when the value is not
 * Bearer, not one b64token, or longer than `maxLength`.
 *
 * @example
 * parseBearer('Bearer eyJhbGciOi…')  // 'eyJhbGciOi…'
 * parseBearer('Bearer a b')          // undefined: one token only
 */
export function parseBearer (authorization: string, maxLength: number = MAX_BEARER_LENGTH): string | undefined {
  if (authorization.length > maxLength || !hasScheme(authorization, 'bearer')) return undefined
  const token = authorization.slice(7).replace(/^ +| +$/g, '')
  return B64TOKEN.test(token) ? token : undefined
}

/**
 * HTTP Bearer (RFC 6750) as a scheme: `Authorization: Bearer <token>` becomes `BearerToken` credentials, for a
 * token checker (`JwtChecker`, `ApiKeyChecker`). Only the `Authorization` header is read: a token in the query string
 * (`?access_token=`) or a form body is never accepted (RFC 6750 §2.2 and §2.3 allow them, but they end up in logs,
 * browser history and `Referer` headers).
 *
 * Challenges (RFC 6750 §3): `Bearer realm="…"` when the request carried no credentials; with `error="invalid_token"`
 * when it carried a Bearer token that was refused (unknown, expired, badly signed); with `error="invalid_request"`
 * (and status 400) when the Bearer value cannot be read.
 *
 * @example
 * import { BearerScheme } from 'fastify-cred/http'
 * const bearer = new BearerScheme({ authenticationRealm: 'api' })
 * bearer.challenges({ method: 'GET', url: '/' }, false) // ['Bearer realm="api"']
 * @throws InvalidOption for a realm that is not printable ASCII, or a bad `maxLength`.
 */
export class BearerScheme implements HttpAuthScheme {
  readonly name = 'bearer'
  readonly maxLength: number
  readonly #plain: readonly string[]
  readonly #invalidToken: readonly string[]
  readonly #invalidRequest: readonly string[]

  constructor (options: BearerSchemeOptions) {
    if (options === null || typeof options !== 'object') throw new InvalidOption('BearerScheme needs options: { authenticationRealm }')
    const { authenticationRealm } = options
    assertHeaderSafe('authenticationRealm', authenticationRealm)
    const maxLength = options.maxLength ?? MAX_BEARER_LENGTH
    if (!Number.isInteger(maxLength) || maxLength < 16) throw new InvalidOption(`BearerScheme: maxLength must be a whole number of characters, 16 or more, got ${String(maxLength)}`)
    this.maxLength = maxLength
    const realm = ['realm', authenticationRealm] as const
    this.#plain = Object.freeze([formatChallenge('Bearer', [realm])])
    this.#invalidToken = Object.freeze([formatChallenge('Bearer', [realm, ['error', 'invalid_token'], ['error_description', 'The access token is invalid']])])
    this.#invalidRequest = Object.freeze([formatChallenge('Bearer', [realm, ['error', 'invalid_request'], ['error_description', 'The Authorization header is not one Bearer token']])])
  }

  /**
   * The `Bearer` challenge, with `error="invalid_token"` when this scheme's own token was refused (RFC 6750 §3).
   *
   * @param refused The error that refused this scheme's own credentials, when they were presented and refused.
   */
  challenges (_request: unknown, _stale: boolean, refused?: unknown): readonly string[] {
    if (refused instanceof MalformedCredentials) return this.#invalidRequest
    if (refused instanceof LoginFailed) return this.#invalidToken
    return this.#plain
  }

  credentials (authorization: string): BearerToken {
    const token = parseBearer(authorization, this.maxLength)
    if (token === undefined) throw new MalformedCredentials('Malformed Bearer credentials')
    return new BearerToken(token)
  }
}
