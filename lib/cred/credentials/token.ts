import { hash } from 'node:crypto'
import { constantTimeEqualStrings } from '../constant-time.js'
import { defineInterface } from '../interfaces.js'
import type { Interface } from '../interfaces.js'
import type { Credentials } from './credentials.js'

/** What a checker learned from a token it accepted: a JWT's claims, an API key's public prefix. */
export type TokenClaims = Readonly<Record<string, unknown>>

/**
 * A bearer token (RFC 6750): whoever holds it is whoever it names. The checker decides what the token is (a JWT, an
 * opaque API key) and, once it accepted it, may record what it learned (`claims`), which the code that called the
 * portal (and, through the HTTP guard's `verifiedCredentials`, the realm) can read.
 */
export interface IBearerToken extends Credentials {
  readonly token: string
  /** What the checker that accepted the token learned from it; `undefined` until one did. */
  readonly claims: TokenClaims | undefined
  /** Records what a checker learned from the token; once only (a second call throws). */
  setClaims (claims: TokenClaims): void
  /** True when the SHA-256 of the token (hex) is `sha256Hex`. Constant time. */
  matchesSha256 (sha256Hex: string): boolean
}
/** The run-time token of `IBearerToken`: checkers list it in `credentialInterfaces` to say they check these credentials. */
export const IBearerToken = defineInterface<IBearerToken>('IBearerToken')

/**
 * Bearer token credentials: an `Authorization: Bearer …` value, or a token a non-HTTP protocol received. The token
 * never shows in logs, `util.inspect` or `JSON.stringify`.
 *
 * @example
 * import { BearerToken } from 'fastify-cred/cred'
 * const token = new BearerToken('fck_3kTq9ZpXw2_…')
 * const { avatar } = await portal.login(token, null, IUser)
 * token.claims // what the checker learned: a JWT's claims, an API key's prefix
 */
export class BearerToken implements IBearerToken {
  static readonly provides = Object.freeze([IBearerToken])
  readonly token: string
  #claims: TokenClaims | undefined

  constructor (token: string) {
    if (typeof token !== 'string') throw new TypeError('BearerToken takes the token as a string')
    this.token = token
  }

  /** The credential interfaces these credentials provide (the class's static `provides`): the portal picks the checker by them. */
  get provides (): readonly Interface<unknown>[] { return BearerToken.provides }

  get claims (): TokenClaims | undefined { return this.#claims }

  setClaims (claims: TokenClaims): void {
    if (this.#claims !== undefined) throw new TypeError('The claims of this token are already set')
    this.#claims = Object.freeze({ ...claims })
  }

  matchesSha256 (sha256Hex: string): boolean {
    return constantTimeEqualStrings(hash('sha256', this.token, 'hex'), typeof sha256Hex === 'string' ? sha256Hex.toLowerCase() : '')
  }

  /** Keeps the token out of logs, `util.inspect` and `JSON.stringify`. */
  toJSON (): { token: '[hidden]' } { return { token: '[hidden]' } }
  [Symbol.for('nodejs.util.inspect.custom')] (): string { return 'BearerToken { token: [hidden] }' }
}
