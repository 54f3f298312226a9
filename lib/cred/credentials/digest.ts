import { hash } from 'node:crypto'
import { constantTimeEqualStrings } from '../constant-time.js'
import { defineInterface } from '../interfaces.js'
import type { Interface } from '../interfaces.js'
import type { PasswordCheckable } from './credentials.js'
import { IUsernameHashedPassword } from './username-hashed-password.js'

/**
 * HTTP Digest's arithmetic (RFC 7616 §3.4, RFC 2617 §3.2.2, RFC 2069) and the credentials it yields. Nothing here
 * parses HTTP headers: that is `lib/http/digest.ts`. The arithmetic lives in the core because checking a password
 * against a Digest response is the checker's job, and checkers only see the core.
 */

/** The Digest algorithms understood, as RFC 7616 spells them. The `-sess` variants hash the client nonce into HA1. */
export type DigestAlgorithm = 'MD5' | 'MD5-sess' | 'SHA-256' | 'SHA-256-sess' | 'SHA-512-256' | 'SHA-512-256-sess'

/** Quality of protection: `auth` covers method and URI, `auth-int` also the request body. Absent: RFC 2069. */
export type DigestQop = 'auth' | 'auth-int'

/** Every algorithm, strongest first. */
export const DIGEST_ALGORITHMS: readonly DigestAlgorithm[] = Object.freeze([
  'SHA-512-256', 'SHA-512-256-sess', 'SHA-256', 'SHA-256-sess', 'MD5', 'MD5-sess'
])

const NODE_HASH: Readonly<Record<DigestAlgorithm, string>> = Object.freeze({
  MD5: 'md5',
  'MD5-sess': 'md5',
  'SHA-256': 'sha256',
  'SHA-256-sess': 'sha256',
  'SHA-512-256': 'sha512-256',
  'SHA-512-256-sess': 'sha512-256'
})

const HEX_LENGTH: Readonly<Record<DigestAlgorithm, number>> = Object.freeze({
  MD5: 32, 'MD5-sess': 32, 'SHA-256': 64, 'SHA-256-sess': 64, 'SHA-512-256': 64, 'SHA-512-256-sess': 64
})

/**
 * The node:crypto name of an algorithm's hash function (`'md5'`, `'sha256'`, `'sha512-256'`).
 *
 * @example
 * digestHashName('SHA-512-256-sess') // 'sha512-256'
 */
export function digestHashName (algorithm: DigestAlgorithm): string {
  return NODE_HASH[algorithm]
}

/**
 * Length in hex digits of an algorithm's hashes (32 for MD5, 64 for the SHA-2 family).
 *
 * @example
 * digestHexLength('MD5') // 32
 */
export function digestHexLength (algorithm: DigestAlgorithm): number {
  return HEX_LENGTH[algorithm]
}

/**
 * `H(data)` of RFC 7616: the algorithm's hash of the UTF-8 bytes of `data` (or of the bytes given), lower-case hex.
 * One-shot `crypto.hash`: much cheaper than a `createHash` object on the hot path.
 *
 * @example
 * digestHash('MD5', 'Mufasa:testrealm@host.com:Circle Of Life') // '939e7578ed9e3c518a452acee763bce9'
 */
export function digestHash (algorithm: DigestAlgorithm, data: string | Uint8Array): string {
  return hash(NODE_HASH[algorithm], data, 'hex')
}

/**
 * HA1 = H(username ":" realm ":" password): what an htdigest file stores (with MD5). The `-sess` step is applied
 * later, by `digestResponse`, because it needs the nonces.
 *
 * @example
 * digestHa1('MD5', 'Mufasa', 'testrealm@host.com', 'Circle Of Life') // '939e7578ed9e3c518a452acee763bce9'
 */
export function digestHa1 (algorithm: DigestAlgorithm, username: string, realm: string, password: string): string {
  return hash(NODE_HASH[algorithm], `${username}:${realm}:${password}`, 'hex')
}

/**
 * HA2 = H(method ":" uri) repeats for every request to the same resource (and for the `rspauth` of each): remembered,
 * for short A2s, in a small table that is emptied when full. HA2 holds nothing secret.
 */
const HA2_CACHE = new Map<string, string>()
const HA2_CACHE_SIZE = 1024
const HA2_CACHE_MAX_A2 = 256

function ha2Of (name: string, a2: string): string {
  if (a2.length > HA2_CACHE_MAX_A2) return hash(name, a2, 'hex')
  const key = `${name}\0${a2}`
  let ha2 = HA2_CACHE.get(key)
  if (ha2 === undefined) {
    ha2 = hash(name, a2, 'hex')
    if (HA2_CACHE.size >= HA2_CACHE_SIZE) HA2_CACHE.clear()
    HA2_CACHE.set(key, ha2)
  }
  return ha2
}

/** The inputs of a Digest response besides HA1. */
export interface DigestResponseInput {
  readonly algorithm: DigestAlgorithm
  readonly method: string
  readonly uri: string
  readonly nonce: string
  /** Absent for RFC 2069 responses (no qop). */
  readonly qop?: DigestQop | undefined
  readonly cnonce?: string | undefined
  /** The nonce count exactly as sent: 8 hex digits. */
  readonly nc?: string | undefined
  /** H(entity-body) in hex, for `auth-int`. */
  readonly entityBodyHash?: string | undefined
}

/**
 * The request digest (`response=`) for HA1 (RFC 7616 §3.4.1; RFC 2069 when `qop` is absent). With `forServer`,
 * the `rspauth` of `Authentication-Info` instead: its A2 has an empty method (RFC 7616 §3.5).
 *
 * @example
 * const ha1 = digestHa1('MD5', 'Mufasa', 'testrealm@host.com', 'Circle Of Life')
 * digestResponse(ha1, { algorithm: 'MD5', method: 'GET', uri: '/dir/index.html', qop: 'auth',
 *   nonce: 'dcd98b7102dd2f0e8b11d0f600bfb0c093', nc: '00000001', cnonce: '0a4f113b' })
 * // '6629fae49393a05397450978507c4ef1' (RFC 2617 §3.5)
 */
export function digestResponse (ha1: string, input: DigestResponseInput, forServer = false): string {
  const name = NODE_HASH[input.algorithm]
  const sessionHa1 = input.algorithm.endsWith('-sess') ? hash(name, `${ha1}:${input.nonce}:${input.cnonce ?? ''}`, 'hex') : ha1
  const method = forServer ? '' : input.method
  const ha2 = input.qop === 'auth-int'
    ? hash(name, `${method}:${input.uri}:${input.entityBodyHash ?? ''}`, 'hex')
    : ha2Of(name, `${method}:${input.uri}`)
  if (input.qop === undefined) return hash(name, `${sessionHa1}:${input.nonce}:${ha2}`, 'hex')
  return hash(name, `${sessionHa1}:${input.nonce}:${input.nc ?? ''}:${input.cnonce ?? ''}:${input.qop}:${ha2}`, 'hex')
}

/**
 * Digest credentials as a checker sees them. A checker that knows the plaintext calls `checkPassword`; one that
 * stores `H(username:realm:password)` (an htdigest file) calls `checkHash` with it. Such a stored HA1 is made with
 * one hash function, so it only verifies responses of the matching algorithms: an MD5 HA1 (htdigest) verifies
 * `MD5` and `MD5-sess` only; `checkHash` answers `false` when the length does not fit `algorithm`.
 */
export interface IUsernameDigestHash extends PasswordCheckable {
  /** The protection space the response was computed for (the HTTP `realm=`). */
  readonly realm: string
  /** Lets a checker holding HA1s of several hash functions pick the right one. */
  readonly algorithm: DigestAlgorithm
  /** True when `ha1Hex` = H(username:realm:password) of the password these credentials prove. Constant time. */
  checkHash (ha1Hex: string): boolean
}
/** The run-time token of `IUsernameDigestHash`: checkers list it in `credentialInterfaces` to say they check these credentials. */
export const IUsernameDigestHash = defineInterface<IUsernameDigestHash>('IUsernameDigestHash')

/** The fields of one Digest response, as parsed and validated by the HTTP layer. */
export interface DigestFields {
  /** The user name (for `userhash=true`, the name the hash was resolved to). */
  readonly username: string
  readonly realm: string
  readonly method: string
  readonly uri: string
  readonly algorithm: DigestAlgorithm
  readonly nonce: string
  readonly cnonce?: string | undefined
  readonly nc?: string | undefined
  readonly qop?: DigestQop | undefined
  /** The client's request digest, hex. */
  readonly response: string
  /** For `auth-int`: H(entity-body) in hex, when the body has been read. */
  readonly entityBodyHash?: string | undefined
  /** True when the client sent `userhash=true`. */
  readonly userhash?: boolean | undefined
}

/**
 * Parsed HTTP Digest credentials (Twisted's `DigestedCredentials`): checks a plaintext password or a stored HA1
 * against the client's response, in constant time. After a successful check it can compute the server's proof
 * (`rspauth`), which needs HA1 and is therefore only known once a checker has vouched for the password.
 *
 * @example
 * import { DigestedCredentials } from 'fastify-cred'
 * const creds = new DigestedCredentials({
 *   username: 'Mufasa', realm: 'testrealm@host.com', method: 'GET', uri: '/dir/index.html', algorithm: 'MD5',
 *   nonce: 'dcd98b7102dd2f0e8b11d0f600bfb0c093', nc: '00000001', cnonce: '0a4f113b', qop: 'auth',
 *   response: '6629fae49393a05397450978507c4ef1'
 * })
 * creds.checkPassword('Circle Of Life') // true
 */
export class DigestedCredentials implements IUsernameDigestHash, IUsernameHashedPassword {
  static readonly provides = Object.freeze([IUsernameDigestHash, IUsernameHashedPassword])
  readonly username: string
  readonly realm: string
  readonly method: string
  readonly uri: string
  readonly algorithm: DigestAlgorithm
  readonly nonce: string
  readonly cnonce: string | undefined
  readonly nc: string | undefined
  readonly qop: DigestQop | undefined
  readonly response: string
  readonly userhash: boolean
  #entityBodyHash: string | undefined
  /** HA1 of the last successful check; kept for `rspauth` only. */
  #verifiedHa1: string | undefined

  constructor (fields: DigestFields) {
    this.username = fields.username
    this.realm = fields.realm
    this.method = fields.method
    this.uri = fields.uri
    this.algorithm = fields.algorithm
    this.nonce = fields.nonce
    this.cnonce = fields.cnonce
    this.nc = fields.nc
    this.qop = fields.qop
    this.response = fields.response.toLowerCase()
    this.userhash = fields.userhash === true
    this.#entityBodyHash = fields.entityBodyHash
  }

  /** The credential interfaces these credentials provide (the class's static `provides`): the portal picks the checker by them. */
  get provides (): readonly Interface<IUsernameDigestHash | IUsernameHashedPassword>[] { return DigestedCredentials.provides }

  /** For `auth-int`: H(entity-body) in hex, once known. */
  get entityBodyHash (): string | undefined { return this.#entityBodyHash }

  /** True for `auth-int` credentials whose body has not been hashed yet: they cannot be checked. */
  get needsEntityBody (): boolean { return this.qop === 'auth-int' && this.#entityBodyHash === undefined }

  /**
   * Supplies the request body for `auth-int`, once, as bytes or as its hash (hex, of this algorithm's function).
   * Protocol layers call it when the body has been read.
   */
  setEntityBody (body: { bytes: Uint8Array } | { hash: string }): void {
    if (this.#entityBodyHash !== undefined) throw new TypeError('The entity body of these credentials is already set')
    this.#entityBodyHash = 'hash' in body ? body.hash.toLowerCase() : digestHash(this.algorithm, body.bytes)
  }

  checkPassword (password: string): boolean {
    return this.checkHash(digestHa1(this.algorithm, this.username, this.realm, password))
  }

  checkHash (ha1Hex: string): boolean {
    const length = HEX_LENGTH[this.algorithm]
    if (typeof ha1Hex !== 'string' || ha1Hex.length !== length || this.response.length !== length || this.needsEntityBody) return false
    const ha1 = ha1Hex.toLowerCase()
    const expected = digestResponse(ha1, this)
    const matched = constantTimeEqualStrings(expected, this.response)
    if (matched) this.#verifiedHa1 = ha1
    return matched
  }

  /**
   * The server's proof for `Authentication-Info: rspauth=…` (RFC 7616 §3.5), or `undefined` when no check has
   * succeeded yet, or for RFC 2069 credentials (no qop), which have no such header.
   */
  responseAuth (): string | undefined {
    if (this.#verifiedHa1 === undefined || this.qop === undefined) return undefined
    return digestResponse(this.#verifiedHa1, this, true)
  }

  /** Keeps the response and nonces out of logs, `util.inspect` and `JSON.stringify`. */
  toJSON (): { username: string, realm: string, algorithm: DigestAlgorithm } {
    return { username: this.username, realm: this.realm, algorithm: this.algorithm }
  }

  [Symbol.for('nodejs.util.inspect.custom')] (): string {
    return `DigestedCredentials { username: ${JSON.stringify(this.username)}, algorithm: ${this.algorithm} }`
  }
}
