import { randomBytes } from 'node:crypto'
import { DIGEST_ALGORITHMS, constantTimeEqualStrings, digestHa1, digestHash, digestResponse } from '../cred/index.js'
import type { DigestAlgorithm, DigestQop } from '../cred/index.js'
import { digestAlgorithm, formatDigestAuthorization, formatNonceCount, parseChallenges } from '../http/digest.js'
import type { ParsedChallenge } from '../http/digest.js'

/** A Digest challenge as a client reads it. */
export interface DigestChallenge {
  readonly realm: string
  readonly nonce: string
  readonly opaque: string | undefined
  readonly algorithm: DigestAlgorithm
  /** The qop values offered; empty for an RFC 2069 challenge. */
  readonly qop: readonly DigestQop[]
  readonly userhash: boolean
  readonly stale: boolean
}

/**
 * Reads one parsed Digest challenge; `undefined` when it lacks realm or nonce, names an algorithm not in
 * `algorithms`, or offers only unknown qop values.
 *
 * @example
 * const [challenge] = parseChallenges('Digest realm="api", nonce="n", qop="auth", algorithm=SHA-256')
 * readDigestChallenge(challenge!)?.algorithm // 'SHA-256'
 */
export function readDigestChallenge (challenge: ParsedChallenge, algorithms: readonly DigestAlgorithm[] = DIGEST_ALGORITHMS): DigestChallenge | undefined {
  if (challenge.scheme !== 'digest') return undefined
  const p = challenge.params
  const realm = p.get('realm')
  const nonce = p.get('nonce')
  if (realm === undefined || nonce === undefined) return undefined
  const algorithmName = p.get('algorithm')
  const algorithm = algorithmName === undefined ? 'MD5' : digestAlgorithm(algorithmName)
  if (algorithm === undefined || !algorithms.includes(algorithm)) return undefined
  const qopValue = p.get('qop')
  const qop: DigestQop[] = []
  if (qopValue !== undefined) {
    for (const item of qopValue.split(',')) {
      const value = item.trim().toLowerCase()
      if ((value === 'auth' || value === 'auth-int') && !qop.includes(value)) qop.push(value)
    }
    if (qop.length === 0) return undefined
  }
  return {
    realm,
    nonce,
    opaque: p.get('opaque'),
    algorithm,
    qop,
    userhash: p.get('userhash')?.toLowerCase() === 'true',
    stale: p.get('stale')?.toLowerCase() === 'true'
  }
}

/**
 * The first Digest challenge of a `WWW-Authenticate` value whose algorithm the client supports (the server lists
 * its preferred one first).
 *
 * @example
 * pickDigestChallenge('Digest realm="a", nonce="n", algorithm=SHA-512-256, qop="auth", ' +
 *   'Digest realm="a", nonce="n", algorithm=MD5, qop="auth"', ['MD5'])?.algorithm // 'MD5'
 */
export function pickDigestChallenge (wwwAuthenticate: string, algorithms: readonly DigestAlgorithm[] = DIGEST_ALGORITHMS): DigestChallenge | undefined {
  for (const challenge of parseChallenges(wwwAuthenticate)) {
    const read = readDigestChallenge(challenge, algorithms)
    if (read !== undefined) return read
  }
  return undefined
}

/** One request to answer a challenge for. */
export interface DigestRequest {
  readonly method: string
  /** The request-target: path and query, exactly as sent. */
  readonly uri: string
  /** The nonce count of this use of the nonce: 1, 2, … */
  readonly nc: number
  /** The body, for `auth-int`. */
  readonly body?: Uint8Array | undefined
  /** Client nonce; random when not given. */
  readonly cnonce?: string | undefined
  /** The qop to use when the challenge offers it. Default: `auth` when offered, else `auth-int`. */
  readonly qop?: DigestQop | undefined
}

/** What `digestAuthorization` computed: the header value, and what is needed to check the server's `rspauth`. */
export interface DigestAnswer {
  readonly authorization: string
  readonly qop: DigestQop | undefined
  readonly cnonce: string | undefined
  readonly nc: string | undefined
  /** The expected `rspauth` of `Authentication-Info` (qop `auth`), to compare with what the server sends. */
  readonly expectedRspauth: string | undefined
}

/** The qop a client uses for a challenge, or `undefined` (RFC 2069) when the challenge offers none. */
function chooseQop (challenge: DigestChallenge, wanted: DigestQop | undefined, hasBody: boolean): DigestQop | undefined {
  if (challenge.qop.length === 0) return undefined
  if (wanted !== undefined && challenge.qop.includes(wanted) && (wanted !== 'auth-int' || hasBody)) return wanted
  if (challenge.qop.includes('auth')) return 'auth'
  return 'auth-int'
}

/**
 * Answers a Digest challenge: the `Authorization` value for one request (RFC 7616 §3.4), with `userhash` and
 * `username*` when needed.
 *
 * @example
 * import { digestAuthorization, pickDigestChallenge } from 'fastify-cred/client'
 * const challenge = pickDigestChallenge(response.headers.get('www-authenticate') ?? '')
 * const { authorization } = digestAuthorization(challenge!, 'alice', 'wonderland', { method: 'GET', uri: '/whoami', nc: 1 })
 * await fetch('http://127.0.0.1:3000/whoami', { headers: { authorization } })
 */
export function digestAuthorization (challenge: DigestChallenge, username: string, password: string, request: DigestRequest): DigestAnswer {
  const qop = chooseQop(challenge, request.qop, request.body !== undefined)
  const cnonce = qop === undefined ? undefined : (request.cnonce ?? randomBytes(16).toString('base64url'))
  const nc = qop === undefined ? undefined : formatNonceCount(request.nc)
  const entityBodyHash = qop === 'auth-int' ? digestHash(challenge.algorithm, request.body ?? new Uint8Array(0)) : undefined
  const ha1 = digestHa1(challenge.algorithm, username, challenge.realm, password)
  const input = { algorithm: challenge.algorithm, method: request.method, uri: request.uri, nonce: challenge.nonce, qop, cnonce, nc, entityBodyHash }
  const response = digestResponse(ha1, input)
  const authorization = formatDigestAuthorization({
    username: challenge.userhash ? digestHash(challenge.algorithm, `${username}:${challenge.realm}`) : username,
    userhash: challenge.userhash,
    realm: challenge.realm,
    nonce: challenge.nonce,
    uri: request.uri,
    algorithm: challenge.algorithm,
    response,
    qop,
    cnonce,
    nc: request.nc,
    opaque: challenge.opaque
  })
  return { authorization, qop, cnonce, nc, expectedRspauth: qop === 'auth' ? digestResponse(ha1, input, true) : undefined }
}

/**
 * Compares a server's `rspauth` with the expected one, in constant time.
 *
 * @example
 * rspauthMatches(answer.expectedRspauth, parseAuthenticationInfo(header)?.rspauth) // true for the real server
 */
export function rspauthMatches (expected: string | undefined, received: string | undefined): boolean {
  if (expected === undefined || received === undefined || expected.length !== received.length) return false
  return constantTimeEqualStrings(expected, received.toLowerCase())
}
