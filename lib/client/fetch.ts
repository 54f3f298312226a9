import { DIGEST_ALGORITHMS, InvalidOption, ServerAuthenticationFailed } from '../cred/index.js'
import type { DigestAlgorithm, DigestQop } from '../cred/index.js'
import { formatBasic } from '../http/basic.js'
import { parseAuthenticationInfo, parseChallenges } from '../http/digest.js'
import { digestAuthorization, readDigestChallenge, rspauthMatches } from './digest.js'
import type { DigestChallenge } from './digest.js'

/** The `fetch` this client wraps: the global one, or any with its signature (a test double, undici's). */
export type FetchLike = (input: string | URL, init?: RequestInit) => Promise<Response>

export interface CredFetchOptions {
  username: string
  password: string
  /** The fetch to wrap. Default: the global `fetch`. */
  fetch?: FetchLike
  /** Digest algorithms the client may answer. Default: all six. */
  algorithms?: readonly DigestAlgorithm[]
  /** qop to prefer when a challenge offers both. Default `'auth'`; `'auth-int'` also protects request bodies. */
  qop?: DigestQop
  /**
   * Answer `Basic` challenges (when no usable Digest challenge came), which sends the password itself. Default
   * `'secure'`: only over `https:` or to a loopback host, never in clear text across a network (where someone on the
   * path could also strip the Digest challenges to get it). `true`: everywhere; `false`: never.
   */
  basic?: boolean | 'secure'
  /**
   * Check the server's `rspauth` (`Authentication-Info`) when it sends one; a mismatch rejects the call, as the
   * server then does not know the password. Default `true`.
   */
  verifyServer?: boolean
}

/** A `fetch` that logs in; `forget()` drops what it remembered (nonces, counts) for every origin. */
export interface CredFetch {
  (input: string | URL, init?: RequestInit): Promise<Response>
  forget (): void
}

/** What the client keeps per origin between calls. */
type Session =
  | { readonly kind: 'basic' }
  | { readonly kind: 'digest', challenge: DigestChallenge, nc: number }


/** The request body as bytes, when it can be hashed and sent twice; `null` when there is none. */
function bodyBytes (body: RequestInit['body']): Uint8Array | null | undefined {
  if (body === undefined || body === null) return null
  if (typeof body === 'string') return Buffer.from(body, 'utf8')
  if (body instanceof URLSearchParams) return Buffer.from(body.toString(), 'utf8')
  if (body instanceof ArrayBuffer) return new Uint8Array(body)
  if (ArrayBuffer.isView(body)) return new Uint8Array(body.buffer, body.byteOffset, body.byteLength)
  return undefined
}

/**
 * Wraps `fetch` so that it answers HTTP Basic and Digest challenges: the first Digest challenge with a supported
 * algorithm wins (servers list their preferred one first), the nonce is reused across calls to the same origin
 * with the nonce count going up (so later calls need one round trip, not two), `stale=true` and a refused
 * remembered nonce are retried once with the new challenge, `nextnonce` is followed, `rspauth` is checked, and
 * qop `auth-int` and `userhash` are supported. Bodies are strings, bytes or `URLSearchParams` (a stream cannot be
 * sent twice, so a challenged streamed request is not retried).
 *
 * @example
 * import { credFetch } from 'fastify-cred'
 * const api = credFetch({ username: 'alice', password: 'wonderland' })
 * const response = await api('http://127.0.0.1:3000/whoami')
 * console.log(await response.json())
 */
export function credFetch (options: CredFetchOptions): CredFetch {
  if (options === null || typeof options !== 'object' || typeof options.username !== 'string' || typeof options.password !== 'string') {
    throw new InvalidOption('credFetch needs { username, password } as strings')
  }
  const inner: FetchLike = options.fetch ?? ((input, init) => globalThis.fetch(input, init))
  const algorithms = options.algorithms ?? DIGEST_ALGORITHMS
  const basicPolicy = options.basic ?? 'secure'
  const answerBasic = (url: URL): boolean => basicPolicy === true || (basicPolicy === 'secure' && isSecureForBasic(url))
  const verifyServer = options.verifyServer !== false
  const sessions = new Map<string, Session>()

  const authorizationFor = (session: Session, method: string, uri: string, body: Uint8Array | null | undefined): { header: string, expectedRspauth: string | undefined } | undefined => {
    if (session.kind === 'basic') return { header: formatBasic(options.username, options.password), expectedRspauth: undefined }
    // A body that cannot be hashed cannot take auth-int; answer with auth when offered, else not at all.
    const qop = body === undefined ? 'auth' : options.qop
    if (body === undefined && session.challenge.qop.length > 0 && !session.challenge.qop.includes('auth')) return undefined
    session.nc += 1
    const answer = digestAuthorization(session.challenge, options.username, options.password, {
      method, uri, nc: session.nc, qop, body: body === null ? new Uint8Array(0) : body
    })
    return { header: answer.authorization, expectedRspauth: answer.expectedRspauth }
  }

  const send = async (url: URL, init: RequestInit, authorization: string | undefined): Promise<Response> => {
    const headers = new Headers(init.headers)
    if (authorization !== undefined) headers.set('authorization', authorization)
    return await inner(url, { ...init, headers })
  }

  /** Reads `Authentication-Info`: checks `rspauth`, follows `nextnonce`. */
  const afterSuccess = (response: Response, origin: string, session: Session | undefined, expectedRspauth: string | undefined): void => {
    if (session?.kind !== 'digest') return
    const header = response.headers.get('authentication-info')
    if (header === null) return
    const info = parseAuthenticationInfo(header)
    if (info === undefined) return
    if (verifyServer && info.rspauth !== undefined && expectedRspauth !== undefined && !rspauthMatches(expectedRspauth, info.rspauth)) {
      sessions.delete(origin)
      throw new ServerAuthenticationFailed('The server\'s rspauth does not match the password: it may not be the server it claims to be')
    }
    if (info.nextnonce !== undefined && info.nextnonce !== session.challenge.nonce) {
      session.challenge = { ...session.challenge, nonce: info.nextnonce, stale: false }
      session.nc = 0
    }
  }

  /** The session a 401 asks for, or undefined when it offers nothing this client can answer. */
  const sessionFrom = (response: Response, url: URL): Session | undefined => {
    const header = response.headers.get('www-authenticate')
    if (header === null) return undefined
    let basic = false
    for (const challenge of parseChallenges(header)) {
      const digest = readDigestChallenge(challenge, algorithms)
      if (digest !== undefined) return { kind: 'digest', challenge: digest, nc: 0 }
      if (challenge.scheme === 'basic') basic = true
    }
    return basic && answerBasic(url) ? { kind: 'basic' } : undefined
  }

  const call = async (input: string | URL, init: RequestInit = {}): Promise<Response> => {
    const url = new URL(input)
    const origin = url.origin
    const uri = `${url.pathname}${url.search}`
    const method = (init.method ?? 'GET').toUpperCase()
    const body = bodyBytes(init.body)
    let session = sessions.get(origin)
    let attempt = session === undefined ? undefined : authorizationFor(session, method, uri, body)
    let response = await send(url, init, attempt?.header)
    if (response.status === 401 && body !== undefined) {
      const fresh = sessionFrom(response, url)
      if (fresh !== undefined) {
        // Retry once: after an unauthenticated try, or when a remembered nonce was refused (stale, expired,
        // forgotten by a restarted server). A refused Basic password is not worth sending again.
        if (attempt === undefined || session?.kind !== 'basic' || fresh.kind !== 'basic') {
          const retry = authorizationFor(fresh, method, uri, body)
          if (retry !== undefined) {
            await response.body?.cancel()
            sessions.set(origin, fresh)
            session = fresh
            attempt = retry
            response = await send(url, init, retry.header)
          }
        }
      }
    }
    if (response.ok) afterSuccess(response, origin, session, attempt?.expectedRspauth)
    else if (response.status === 401 && attempt !== undefined) sessions.delete(origin)
    return response
  }

  return Object.assign(call, { forget: (): void => { sessions.clear() } })
}

/** https, or a loopback host, where a Basic password does not cross a network in clear text. */
function isSecureForBasic (url: URL): boolean {
  if (url.protocol === 'https:') return true
  const host = url.hostname
  return host === 'localhost' || host === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host)
}
