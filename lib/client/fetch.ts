import { DIGEST_ALGORITHMS, InvalidOption, ServerAuthenticationFailed } from '../cred/index.js'
import type { DigestAlgorithm, DigestQop } from '../cred/index.js'
import { formatBasic } from '../http/basic.js'
import { parseAuthenticationInfo, parseChallenges } from '../http/digest.js'
import { digestAuthorization, readDigestChallenge, rspauthMatches } from './digest.js'
import type { DigestChallenge } from './digest.js'

/** The `fetch` this client wraps: the global one, or any with its signature (a test double, undici's). */
export type FetchLike = (input: string | URL, init?: RequestInit) => Promise<Response>

/**
 * How a Digest client checks that the server knows the password (`rspauth` of `Authentication-Info`, RFC 7616 §3.5).
 * `'require'`: every response below 400 to a Digest request must carry a matching `rspauth`; `'verify-if-present'`:
 * a wrong `rspauth` is refused, a missing one is accepted; `'off'`: nothing is checked.
 */
export type MutualAuthentication = 'require' | 'verify-if-present' | 'off'

/** Options of `credFetch`: the user's credentials and how the server must prove itself. */
export interface CredFetchOptions {
  username: string
  password: string
  /** The fetch to wrap. Default: the global `fetch`. */
  fetch?: FetchLike
  /**
   * Digest algorithms the client may answer. Default: SHA-256, SHA-512-256 and their `-sess` variants, plus MD5 and
   * MD5-sess when `allowMd5` is set. Listing `MD5` or `MD5-sess` here needs `allowMd5: true`.
   */
  algorithms?: readonly DigestAlgorithm[]
  /**
   * qop to prefer when a challenge offers both. Default `'auth'`; `'auth-int'` also protects request bodies, but its
   * responses carry no `rspauth`, so it needs `mutual: 'verify-if-present'`.
   */
  qop?: DigestQop
  /**
   * Answer `Basic` challenges (when no usable Digest challenge came), which sends the password itself. Default
   * `'secure'`: only over `https:` or to a loopback host, never in clear text across a network (where someone on the
   * path could also strip the Digest challenges to get it). `true`: everywhere; `false`: never.
   */
  basic?: boolean | 'secure'
  /**
   * Whether the server must prove that it knows the password. Default `'require'`: a Digest response below 400
   * without a matching `rspauth` rejects with `ServerAuthenticationFailed`, and challenges that cannot yield one
   * (only `qop=auth-int`; RFC 2069) are not answered.
   */
  mutual?: MutualAuthentication
  /** Answer Digest challenges with `algorithm=MD5` or `MD5-sess` (a weak hash, offline-guessable). Default `false`. */
  allowMd5?: boolean
  /**
   * Answer RFC 2069 challenges (no qop: no client nonce, no nonce count, no `rspauth`). Default `false`; needs
   * `mutual: 'verify-if-present'` or `'off'`.
   */
  allowRfc2069?: boolean
  /** Redirects followed per call (each hop gets its own `Authorization`). Default 20, as `fetch`. */
  maxRedirects?: number
  /** @deprecated Use `mutual`. `false` is `mutual: 'off'`. */
  verifyServer?: boolean
}

/** A `fetch` that logs in; `forget()` drops what it remembered (nonces, counts) for every origin. */
export interface CredFetch {
  (input: string | URL, init?: RequestInit): Promise<Response>
  /** Drops every remembered nonce and count, for every origin: the next request starts with a new challenge. */
  forget (): void
}

/** What the client keeps per origin between calls. */
type Session =
  | { readonly kind: 'basic' }
  | { readonly kind: 'digest', challenge: DigestChallenge, nc: number }

/** One answered request: the header sent, and the `rspauth` the server must send back (qop `auth`). */
interface Attempt { readonly header: string, readonly expectedRspauth: string | undefined }

/** What a 401 asks for: a session to answer with, the reasons its Digest challenges were refused, or nothing. */
type ChallengeOutcome = { readonly session: Session } | { readonly refused: readonly string[] } | undefined

const MUTUAL_MODES: readonly MutualAuthentication[] = ['require', 'verify-if-present', 'off']
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308])
/** Headers that describe a body: dropped with the body when a redirect turns the request into a GET (Fetch §4.4). */
const BODY_HEADERS = ['content-type', 'content-encoding', 'content-language', 'content-location', 'content-length']
/** Headers that never follow a redirect to another origin. */
const CREDENTIAL_HEADERS = ['authorization', 'proxy-authorization', 'cookie']

const isMd5 = (algorithm: DigestAlgorithm): boolean => algorithm === 'MD5' || algorithm === 'MD5-sess'

/** The request body as bytes, when it can be hashed and sent twice; `null` when there is none. */
function bodyBytes (body: RequestInit['body']): Uint8Array | null | undefined {
  if (body === undefined || body === null) return null
  if (typeof body === 'string') return Buffer.from(body, 'utf8')
  if (body instanceof URLSearchParams) return Buffer.from(body.toString(), 'utf8')
  if (body instanceof ArrayBuffer) return new Uint8Array(body)
  if (ArrayBuffer.isView(body)) return new Uint8Array(body.buffer, body.byteOffset, body.byteLength)
  return undefined
}

/** Checks the options that concern server authentication and weak challenges; answers the mutual mode. */
function mutualMode (options: CredFetchOptions): MutualAuthentication {
  if (options.mutual !== undefined && !MUTUAL_MODES.includes(options.mutual)) {
    throw new InvalidOption(`credFetch \`mutual\` must be one of ${MUTUAL_MODES.map((m) => `'${m}'`).join(', ')}`)
  }
  if (options.verifyServer === false && options.mutual !== undefined && options.mutual !== 'off') {
    throw new InvalidOption('credFetch: `verifyServer: false` contradicts `mutual`; use `mutual` alone')
  }
  const mutual = options.mutual ?? (options.verifyServer === false ? 'off' : 'require')
  if (mutual === 'require' && options.qop === 'auth-int') {
    throw new InvalidOption('credFetch: qop \'auth-int\' responses carry no rspauth, so the server cannot prove itself; ' +
      'set mutual: \'verify-if-present\' to use auth-int')
  }
  if (mutual === 'require' && options.allowRfc2069 === true) {
    throw new InvalidOption('credFetch: RFC 2069 has no rspauth, so the server cannot prove itself; ' +
      'set mutual: \'verify-if-present\' to allow RFC 2069')
  }
  if (options.allowMd5 !== true && options.algorithms?.some(isMd5) === true) {
    throw new InvalidOption('credFetch: `algorithms` lists MD5, a weak hash; also set allowMd5: true to answer it')
  }
  const max = options.maxRedirects
  if (max !== undefined && (!Number.isInteger(max) || max < 0)) throw new InvalidOption('credFetch `maxRedirects` must be an integer ≥ 0')
  return mutual
}

/**
 * Wraps `fetch` so that it answers HTTP Basic and Digest challenges: the first acceptable Digest challenge wins
 * (servers list their preferred one first), the nonce is reused across calls to the same origin with the nonce count
 * going up (so later calls need one round trip, not two), `stale=true` and a refused remembered nonce are retried
 * once with the new challenge, `nextnonce` is followed, and qop `auth-int` and `userhash` are supported.
 *
 * Fails closed by default: the server must prove it knows the password (`rspauth`, see `mutual`), MD5 and RFC 2069
 * challenges are refused unless `allowMd5` / `allowRfc2069` opt in, and redirects are followed by the client itself,
 * with an `Authorization` computed for each hop and sent only to the origin the call was made to. Bodies are strings,
 * bytes or `URLSearchParams` (a stream cannot be sent twice, so a challenged streamed request is not retried).
 *
 * @throws {InvalidOption} at set-up, for contradictory options (e.g. `qop: 'auth-int'` with `mutual: 'require'`).
 * @throws {ServerAuthenticationFailed} from a call: the server's `rspauth` is wrong, or missing under
 *   `mutual: 'require'`, or the server offered only challenges this client refuses (MD5, RFC 2069, auth-int only).
 * @example
 * import { credFetch } from 'fastify-cred/client'
 * const api = credFetch({ username: 'alice', password: 'wonderland' })
 * const response = await api('http://127.0.0.1:3000/whoami')
 * console.log(await response.json())
 */
export function credFetch (options: CredFetchOptions): CredFetch {
  if (options === null || typeof options !== 'object' || typeof options.username !== 'string' || typeof options.password !== 'string') {
    throw new InvalidOption('credFetch needs { username, password } as strings')
  }
  const mutual = mutualMode(options)
  const inner: FetchLike = options.fetch ?? ((input, init) => globalThis.fetch(input, init))
  const allowMd5 = options.allowMd5 === true
  const allowRfc2069 = options.allowRfc2069 === true
  const algorithms = options.algorithms ?? DIGEST_ALGORITHMS.filter((a) => allowMd5 || !isMd5(a))
  const maxRedirects = options.maxRedirects ?? 20
  const basicPolicy = options.basic ?? 'secure'
  const answerBasic = (url: URL): boolean => basicPolicy === true || (basicPolicy === 'secure' && isSecureForBasic(url))
  const sessions = new Map<string, Session>()

  /** Why this client will not answer a Digest challenge, or `undefined` when it will. */
  const weakness = (challenge: DigestChallenge): string | undefined => {
    if (isMd5(challenge.algorithm) && !allowMd5) return `algorithm=${challenge.algorithm} (set allowMd5: true to answer it)`
    if (challenge.qop.length === 0) {
      return allowRfc2069 ? undefined : 'RFC 2069 without qop (set allowRfc2069: true and mutual: \'verify-if-present\' to answer it)'
    }
    if (mutual === 'require' && !challenge.qop.includes('auth')) {
      return 'qop=auth-int only, whose responses carry no rspauth (set mutual: \'verify-if-present\' to answer it)'
    }
    return undefined
  }

  const authorizationFor = (session: Session, method: string, uri: string, body: Uint8Array | null | undefined): Attempt | undefined => {
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

  const refuse = async (response: Response, message: string): Promise<never> => {
    await response.body?.cancel()
    throw new ServerAuthenticationFailed(message)
  }

  /**
   * Reads `Authentication-Info` of a response to a Digest request (any status but 401): checks `rspauth` as `mutual`
   * says, then follows `nextnonce`. Error statuses (≥ 400) without `rspauth` pass under `'require'`: a server
   * that refuses before it authenticated (400, 429, 503) cannot sign, and such a response claims nothing.
   */
  const checkServer = async (response: Response, origin: string, session: Session | undefined, attempt: Attempt | undefined): Promise<void> => {
    if (session?.kind !== 'digest' || attempt === undefined) return
    const header = response.headers.get('authentication-info')
    const info = header === null ? undefined : parseAuthenticationInfo(header)
    const verified = attempt.expectedRspauth !== undefined && info?.rspauth !== undefined && rspauthMatches(attempt.expectedRspauth, info.rspauth)
    if (mutual !== 'off' && !verified) {
      const forged = info?.rspauth !== undefined && attempt.expectedRspauth !== undefined
      if (forged || (mutual === 'require' && response.status < 400)) {
        if (sessions.get(origin) === session) sessions.delete(origin)
        await refuse(response, forged
          ? 'The server\'s rspauth does not match the password: it may not be the server it claims to be'
          : `The server did not prove that it knows the password (${header === null ? 'no Authentication-Info' : 'no usable rspauth in Authentication-Info'}, status ${response.status}); ` +
            'set mutual: \'verify-if-present\' to accept such servers')
      }
    }
    if (info?.nextnonce !== undefined && info.nextnonce !== session.challenge.nonce && (verified || mutual !== 'require')) {
      session.challenge = { ...session.challenge, nonce: info.nextnonce, stale: false }
      session.nc = 0
    }
  }

  /** What a 401 asks for: the first acceptable Digest challenge, else Basic when allowed here. */
  const challengeOf = (response: Response, url: URL): ChallengeOutcome => {
    const header = response.headers.get('www-authenticate')
    if (header === null) return undefined
    let basic = false
    const refused: string[] = []
    for (const challenge of parseChallenges(header)) {
      const digest = readDigestChallenge(challenge)
      if (digest !== undefined) {
        const weak = weakness(digest)
        if (weak !== undefined) refused.push(weak)
        else if (algorithms.includes(digest.algorithm)) return { session: { kind: 'digest', challenge: digest, nc: 0 } }
      }
      if (challenge.scheme === 'basic') basic = true
    }
    if (basic && answerBasic(url)) return { session: { kind: 'basic' } }
    return refused.length > 0 ? { refused } : undefined
  }

  /** One request to one URL of the call's own origin, answering one challenge. */
  const exchange = async (url: URL, init: RequestInit, method: string, body: Uint8Array | null | undefined): Promise<Response> => {
    const origin = url.origin
    const uri = `${url.pathname}${url.search}`
    let session = sessions.get(origin)
    let attempt = session === undefined ? undefined : authorizationFor(session, method, uri, body)
    let response = await send(url, init, attempt?.header)
    if (response.status === 401 && body !== undefined) {
      const outcome = challengeOf(response, url)
      if (outcome !== undefined && 'refused' in outcome) {
        if (attempt !== undefined && sessions.get(origin) === session) sessions.delete(origin)
        return await refuse(response, `credFetch refused every challenge of ${origin}: ${outcome.refused.join('; ')}`)
      }
      const fresh = outcome?.session
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
    if (response.status === 401) {
      if (attempt !== undefined && sessions.get(origin) === session) sessions.delete(origin)
    } else {
      await checkServer(response, origin, session, attempt)
    }
    return response
  }

  const call = async (input: string | URL, init: RequestInit = {}): Promise<Response> => {
    const home = new URL(input).origin
    const mode = init.redirect ?? 'follow'
    let url = new URL(input)
    let method = (init.method ?? 'GET').toUpperCase()
    let headers = new Headers(init.headers)
    let body = init.body
    let bytes = bodyBytes(body)
    for (let hops = 0; ; hops++) {
      const hop: RequestInit = { ...init, method, headers, body, redirect: 'manual' }
      // Credentials (and challenges answered) only for the origin the call was made to.
      const response = url.origin === home ? await exchange(url, hop, method, bytes) : await inner(url, hop)
      if (!REDIRECT_STATUSES.has(response.status) || mode === 'manual') return hops === 0 ? response : markRedirected(response)
      const location = response.headers.get('location')
      if (location === null) return hops === 0 ? response : markRedirected(response)
      await response.body?.cancel()
      if (mode === 'error') throw new TypeError(`credFetch: ${url.href} redirects, and redirect is 'error'`)
      let next: URL
      try { next = new URL(location, url) } catch { throw new TypeError(`credFetch: ${url.href} redirects to an invalid URL`) }
      if (next.protocol !== 'http:' && next.protocol !== 'https:') throw new TypeError(`credFetch: redirect to a ${next.protocol} URL`)
      if (hops >= maxRedirects) throw new TypeError(`credFetch: more than ${maxRedirects} redirects from ${home}`)
      const status = response.status
      if (((status === 301 || status === 302) && method === 'POST') || (status === 303 && method !== 'GET' && method !== 'HEAD')) {
        method = 'GET'
        body = undefined
        bytes = null
        headers = new Headers(headers)
        for (const name of BODY_HEADERS) headers.delete(name)
      } else if (bytes === undefined && !(body instanceof Blob || body instanceof FormData)) {
        throw new TypeError(`credFetch: cannot follow a ${status} redirect with a body that can be sent only once (a stream)`)
      }
      if (next.origin !== url.origin) {
        headers = new Headers(headers)
        for (const name of CREDENTIAL_HEADERS) headers.delete(name)
      }
      url = next
    }
  }

  return Object.assign(call, { forget: (): void => { sessions.clear() } })
}

/** Tells a response reached through redirects so, as `fetch` does (`url` is already the last hop's). */
function markRedirected (response: Response): Response {
  Object.defineProperty(response, 'redirected', { value: true })
  return response
}

/** https, or a loopback host, where a Basic password does not cross a network in clear text. */
function isSecureForBasic (url: URL): boolean {
  if (url.protocol === 'https:') return true
  const host = url.hostname
  return host === 'localhost' || host === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host)
}
