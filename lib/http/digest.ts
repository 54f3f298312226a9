import { MalformedCredentials, digestHexLength } from '../cred/index.js'
import type { DigestAlgorithm, DigestQop } from '../cred/index.js'
import { formatChallenge, hasScheme, quote } from './auth-params.js'
import type { ChallengeParam } from './auth-params.js'

/**
 * The HTTP Digest codec (RFC 7616, RFC 2617, RFC 2069): parses `Authorization: Digest` values, formats challenges,
 * `Authorization` values (for clients) and `Authentication-Info`. Pure functions: no nonces, no stores, no
 * password checks (`DigestScheme` and `DigestedCredentials` do those).
 */

/**
 * Longest `Authorization: Digest` value accepted (16 KiB, Node's default limit for all headers together); longer
 * ones are malformed and are not scanned.
 */
export const MAX_DIGEST_LENGTH = 16384

/** An `Authorization: Digest` value, parsed and checked for form (not for truth). */
export interface DigestAuthorization {
  /**
   * The user name: from `username`, or decoded from `username*` (RFC 8187). With `userhash`, the hex hash
   * H(username ":" realm) the client sent instead.
   */
  readonly username: string
  readonly userhash: boolean
  readonly realm: string
  readonly nonce: string
  readonly uri: string
  /** Lower-case hex, of the length the algorithm gives. */
  readonly response: string
  /** Canonical spelling; `MD5` when the client sent none (RFC 7616 §3.4). */
  readonly algorithm: DigestAlgorithm
  /** Absent for RFC 2069 responses. */
  readonly qop: DigestQop | undefined
  readonly cnonce: string | undefined
  /** The nonce count as sent (8 hex digits) and its value; absent without qop. */
  readonly nc: string | undefined
  readonly ncValue: number
  readonly opaque: string | undefined
}

const ALGORITHMS: ReadonlyMap<string, DigestAlgorithm> = new Map<string, DigestAlgorithm>([
  ['md5', 'MD5'], ['md5-sess', 'MD5-sess'], ['sha-256', 'SHA-256'], ['sha-256-sess', 'SHA-256-sess'],
  ['sha-512-256', 'SHA-512-256'], ['sha-512-256-sess', 'SHA-512-256-sess']
])

/**
 * The canonical name of a Digest algorithm, matched case-insensitively (`sha-256` → `SHA-256`), or `undefined`.
 *
 * @example
 * digestAlgorithm('md5-SESS') // 'MD5-sess'
 */
export function digestAlgorithm (name: string): DigestAlgorithm | undefined {
  return ALGORITHMS.get(name.toLowerCase())
}

// tchar (RFC 9110 §5.6.2) as a lookup table: ! # $ % & ' * + - . ^ _ ` | ~ DIGIT ALPHA
const TCHAR = new Uint8Array(128)
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") TCHAR[c.charCodeAt(0)] = 1

const isOws = (c: number): boolean => c === 32 || c === 9
const HEX = /^[0-9a-fA-F]+$/
// Control characters other than HTAB, which a quoted-string may not hold (RFC 9110 §5.6.4).
const QUOTED_CONTROL = /[\x00-\x08\x0a-\x1f\x7f]/
const NON_ASCII = /[^\x00-\x7f]/
// Unicode control characters (Cc: C0, DEL, C1): never part of a user name a checker or a log line should see.
const USERNAME_CONTROL = /[\x00-\x1f\x7f-\x9f]/
const PRINTABLE_ASCII = /^[\x20-\x7e]+$/
const NC = /^[0-9a-fA-F]{8}$/
const TOKEN68 = /^[A-Za-z0-9\-._~+/]+=*/
const utf8 = new TextDecoder('utf-8', { fatal: true })

/**
 * Node hands header bytes over as Latin-1 characters; clients send UTF-8 (we ask for it with `charset=UTF-8`).
 * Turns such a string back into what the client meant. Text that is not valid UTF-8 stays Latin-1 (RFC 2617's
 * default), and a string holding characters above U+00FF was never a raw header and is returned unchanged.
 *
 * @example
 * headerText('J\u00c3\u00a4s\u00c3\u00b8n') // 'Jäsøn'
 */
export function headerText (value: string): string {
  if (!NON_ASCII.test(value)) return value
  let high = false
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i)
    if (c > 0xff) return value
    if (c >= 0x80) high = true
  }
  if (!high) return value
  try {
    return utf8.decode(Buffer.from(value, 'latin1'))
  } catch {
    return value
  }
}

/** Receives the pairs of an auth-param list: names lower-cased, values unquoted. */
interface ParamSink {
  /** Takes one pair; `false` when `name` came before (a duplicate makes the list malformed). */
  put (name: string, value: string, quoted: boolean): boolean
}

/** Collects every pair, for challenges and `Authentication-Info`. */
class ParamMap implements ParamSink {
  readonly params = new Map<string, string>()
  readonly quoted = new Set<string>()

  put (name: string, value: string, quoted: boolean): boolean {
    if (this.params.has(name)) return false
    this.params.set(name, value)
    if (quoted) this.quoted.add(name)
    return true
  }
}

/**
 * Scans `name=value` pairs from `start` into `sink`, and answers where scanning stopped. With `stopAtScheme`,
 * stops (without consuming) at an element that is not a pair (the next challenge's scheme in a `WWW-Authenticate`
 * list). Returns `undefined` for anything malformed: bad quoting, control characters, a pair without value, a
 * duplicated name.
 */
function scanParams (input: string, start: number, stopAtScheme: boolean, sink: ParamSink): number | undefined {
  const n = input.length
  let i = start
  for (;;) {
    while (i < n && (isOws(input.charCodeAt(i)) || input.charCodeAt(i) === 44)) i++
    if (i >= n) break
    const nameStart = i
    // Names are case-insensitive (RFC 9110 §11.2); clients send them in lower case, so copy only when needed.
    let upper = false
    for (; i < n; i++) {
      const c = input.charCodeAt(i)
      if (c >= 128 || TCHAR[c] !== 1) break
      if (c >= 65 && c <= 90) upper = true
    }
    if (i === nameStart) return undefined
    const name = upper ? input.slice(nameStart, i).toLowerCase() : input.slice(nameStart, i)
    let j = i
    while (j < n && isOws(input.charCodeAt(j))) j++
    if (j >= n || input.charCodeAt(j) !== 61) {
      if (stopAtScheme) return nameStart
      return undefined
    }
    i = j + 1
    while (i < n && isOws(input.charCodeAt(i))) i++
    let value: string
    let quoted = false
    if (i < n && input.charCodeAt(i) === 34) {
      i++
      quoted = true
      // Most quoted values hold no escape: find the closing quote natively and check the span in one regex test.
      const close = input.indexOf('"', i)
      if (close === -1) return undefined
      const backslash = input.indexOf('\\', i)
      if (backslash === -1 || backslash > close) {
        value = input.slice(i, close)
        if (QUOTED_CONTROL.test(value)) return undefined
        i = close + 1
      } else {
        let out = ''
        let from = i
        for (;;) {
          if (i >= n) return undefined
          const c = input.charCodeAt(i)
          if (c === 34) break
          if ((c < 32 && c !== 9) || c === 127) return undefined
          if (c === 92) {
            out += input.slice(from, i)
            i++
            if (i >= n) return undefined
            const escaped = input.charCodeAt(i)
            if ((escaped < 32 && escaped !== 9) || escaped === 127) return undefined
            from = i
          }
          i++
        }
        value = out + input.slice(from, i)
        i++
      }
    } else {
      // Bare values: tokens by the grammar, but real clients also send bare URIs and base64; any visible ASCII
      // up to the next comma or space is unambiguous.
      const valueStart = i
      while (i < n) {
        const c = input.charCodeAt(i)
        if (c <= 32 || c >= 127 || c === 44 || c === 34) break
        i++
      }
      if (i === valueStart) return undefined
      value = input.slice(valueStart, i)
    }
    if (!sink.put(name, value, quoted)) return undefined
    while (i < n && isOws(input.charCodeAt(i))) i++
    if (i < n && input.charCodeAt(i) !== 44) return undefined
  }
  return n
}

/**
 * The fields of an `Authorization: Digest` value, straight into named slots: no Map and no Set per request.
 * Unknown parameters are ignored, but a repeated one (known or not) still makes the value malformed.
 */
class DigestFieldSink implements ParamSink {
  username: string | undefined = undefined
  usernameQuoted = false
  usernameExt: string | undefined = undefined
  realm: string | undefined = undefined
  nonce: string | undefined = undefined
  uri: string | undefined = undefined
  response: string | undefined = undefined
  algorithm: string | undefined = undefined
  qop: string | undefined = undefined
  cnonce: string | undefined = undefined
  nc: string | undefined = undefined
  opaque: string | undefined = undefined
  userhash: string | undefined = undefined
  others: string[] | undefined = undefined

  put (name: string, value: string, quoted: boolean): boolean {
    switch (name) {
      case 'username': if (this.username !== undefined) return false; this.username = value; this.usernameQuoted = quoted; return true
      case 'username*': if (this.usernameExt !== undefined) return false; this.usernameExt = value; return true
      case 'realm': if (this.realm !== undefined) return false; this.realm = value; return true
      case 'nonce': if (this.nonce !== undefined) return false; this.nonce = value; return true
      case 'uri': if (this.uri !== undefined) return false; this.uri = value; return true
      case 'response': if (this.response !== undefined) return false; this.response = value; return true
      case 'algorithm': if (this.algorithm !== undefined) return false; this.algorithm = value; return true
      case 'qop': if (this.qop !== undefined) return false; this.qop = value; return true
      case 'cnonce': if (this.cnonce !== undefined) return false; this.cnonce = value; return true
      case 'nc': if (this.nc !== undefined) return false; this.nc = value; return true
      case 'opaque': if (this.opaque !== undefined) return false; this.opaque = value; return true
      case 'userhash': if (this.userhash !== undefined) return false; this.userhash = value; return true
      default:
        if (this.others?.includes(name) === true) return false
        ;(this.others ??= []).push(name)
        return true
    }
  }
}

/** RFC 8187 ext-value (`UTF-8''J%C3%A4s%C3%B8n%20Doe`) decoded, or `undefined`. */
function decodeExtValue (value: string): string | undefined {
  const m = /^([A-Za-z0-9!#$%&+\-^_`{}~]+)'[A-Za-z0-9-]*'((?:%[0-9A-Fa-f]{2}|[A-Za-z0-9!#$&+\-.^_`|~])*)$/.exec(value)
  if (m === null) return undefined
  const charset = (m[1] as string).toLowerCase()
  const bytes = Buffer.from((m[2] as string).replace(/%([0-9A-Fa-f]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16))), 'latin1')
  if (charset === 'iso-8859-1') return bytes.toString('latin1')
  if (charset !== 'utf-8') return undefined
  try {
    return utf8.decode(bytes)
  } catch {
    return undefined
  }
}

const malformed = (why: string): MalformedCredentials => new MalformedCredentials(`Malformed Digest credentials: ${why}`)

/**
 * Parses an `Authorization: Digest` value. Accepts what real clients send: parameter names in any case, quoted or
 * bare `qop` / `algorithm` / `nc` / `response`, commas and escapes inside quoted strings, algorithm names in any
 * case, `username*` (RFC 8187) and `userhash=true`. Throws only `MalformedCredentials`: for a duplicated
 * parameter, a missing required one, bad quoting, an unknown algorithm or qop, a response of the wrong length, a
 * value longer than `MAX_DIGEST_LENGTH`. Says nothing about whether the response is right.
 *
 * @example
 * import { parseDigest } from './digest.js'  // internal: the package exports DigestScheme
 * const d = parseDigest('Digest username="Mufasa", realm="testrealm@host.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", ' +
 *   'uri="/dir/index.html", qop=auth, nc=00000001, cnonce="0a4f113b", ' +
 *   'response="6629fae49393a05397450978507c4ef1", opaque="5ccc069c403ebaf9f0171e9517f40e41"')
 * d.algorithm // 'MD5'
 * d.ncValue // 1
 */
export function parseDigest (authorization: string): DigestAuthorization {
  if (typeof authorization !== 'string' || authorization.length > MAX_DIGEST_LENGTH) throw malformed('too long')
  if (!hasScheme(authorization, 'digest')) throw malformed('not the Digest scheme')
  const p = new DigestFieldSink()
  if (scanParams(authorization, 7, false, p) === undefined) throw malformed('bad syntax')
  const { realm, nonce, uri, response: responseValue } = p
  if (realm === undefined) throw malformed('no realm')
  if (nonce === undefined || nonce === '') throw malformed('no nonce')
  if (uri === undefined || uri === '') throw malformed('no uri')
  if (responseValue === undefined) throw malformed('no response')

  const algorithmName = p.algorithm
  const algorithm = algorithmName === undefined ? 'MD5' : digestAlgorithm(algorithmName)
  if (algorithm === undefined) throw malformed('unsupported algorithm')
  if (responseValue.length !== digestHexLength(algorithm) || !HEX.test(responseValue)) throw malformed('response is not a hash of the algorithm')

  const userhashValue = p.userhash?.toLowerCase()
  if (userhashValue !== undefined && userhashValue !== 'true' && userhashValue !== 'false') throw malformed('userhash is neither true nor false')
  const userhash = userhashValue === 'true'

  const plainUsername = p.username
  const extUsername = p.usernameExt
  let username: string
  if (plainUsername !== undefined) {
    if (extUsername !== undefined) throw malformed('both username and username*')
    username = p.usernameQuoted ? headerText(plainUsername) : plainUsername
  } else if (extUsername !== undefined) {
    if (userhash) throw malformed('username* with userhash')
    const decoded = decodeExtValue(extUsername)
    if (decoded === undefined) throw malformed('bad username*')
    username = decoded
  } else {
    throw malformed('no username')
  }
  if (!userhash && USERNAME_CONTROL.test(username)) throw malformed('control character in username')

  const { qop: qopValue, cnonce, nc } = p
  let qop: DigestQop | undefined
  let ncValue = 0
  if (qopValue !== undefined) {
    const lower = qopValue.toLowerCase()
    if (lower !== 'auth' && lower !== 'auth-int') throw malformed('unknown qop')
    qop = lower
    if (cnonce === undefined || cnonce === '') throw malformed('qop without cnonce')
    // The cnonce is echoed in Authentication-Info: only what a header can carry as it is.
    if (!PRINTABLE_ASCII.test(cnonce)) throw malformed('cnonce is not printable ASCII')
    if (nc === undefined || !NC.test(nc)) throw malformed('qop without an 8-digit hex nc')
    ncValue = parseInt(nc, 16)
    if (ncValue === 0) throw malformed('nc of zero')
  } else if (cnonce !== undefined || nc !== undefined) {
    throw malformed('cnonce or nc without qop')
  }

  return {
    username,
    userhash,
    realm: headerText(realm),
    nonce,
    uri: headerText(uri),
    response: responseValue.toLowerCase(),
    algorithm,
    qop,
    cnonce,
    nc,
    ncValue,
    opaque: p.opaque
  }
}

/** What a Digest challenge says. */
export interface DigestChallengeParams {
  readonly realm: string
  readonly algorithm: DigestAlgorithm
  /** The qop values offered; empty for an RFC 2069 challenge. */
  readonly qop: readonly DigestQop[]
  readonly nonce: string
  readonly opaque: string
  /** Ask for `username` = H(username ":" realm). */
  readonly userhash?: boolean
  /** The refused credentials were right but their nonce is too old: retry with this one, without asking the user. */
  readonly stale?: boolean
}

/**
 * Formats one self-contained Digest challenge (RFC 7616 §3.3): realm, qop, algorithm, nonce, opaque, `stale=true`
 * when asked, `charset=UTF-8` and `userhash=true` when asked. Send one per algorithm, strongest first.
 *
 * @example
 * digestChallenge({ realm: 'api', algorithm: 'SHA-256', qop: ['auth'], nonce: 'n', opaque: 'o' })
 * // 'Digest realm="api", qop="auth", algorithm=SHA-256, nonce="n", opaque="o", charset=UTF-8'
 */
export function digestChallenge (challenge: DigestChallengeParams): string {
  const params: ChallengeParam[] = [['realm', challenge.realm]]
  if (challenge.qop.length > 0) params.push(['qop', challenge.qop.join(', ')])
  params.push(['algorithm', challenge.algorithm, 'token'], ['nonce', challenge.nonce], ['opaque', challenge.opaque])
  if (challenge.stale === true) params.push(['stale', 'true', 'token'])
  params.push(['charset', 'UTF-8', 'token'])
  if (challenge.userhash === true) params.push(['userhash', 'true', 'token'])
  return formatChallenge('Digest', params)
}

/** One challenge of a `WWW-Authenticate` / `Proxy-Authenticate` value. */
export interface ParsedChallenge {
  /** Lower-case scheme name (`'digest'`, `'basic'`). */
  readonly scheme: string
  /** Parameter names lower-cased, values unquoted. Empty for a token68 challenge. */
  readonly params: ReadonlyMap<string, string>
}

/**
 * Splits a `WWW-Authenticate` value (several challenges may share one line, as `fetch` joins header lines with
 * `, `) into challenges. Never throws: what cannot be parsed ends the list.
 *
 * @example
 * parseChallenges('Digest realm="a, b", nonce="x", Basic realm="c"').map((c) => c.scheme) // ['digest', 'basic']
 */
export function parseChallenges (value: string): ParsedChallenge[] {
  const out: ParsedChallenge[] = []
  if (typeof value !== 'string' || value.length > 8 * MAX_DIGEST_LENGTH) return out
  const n = value.length
  let i = 0
  while (i < n) {
    while (i < n && (isOws(value.charCodeAt(i)) || value.charCodeAt(i) === 44)) i++
    const start = i
    while (i < n && value.charCodeAt(i) < 128 && TCHAR[value.charCodeAt(i)] === 1) i++
    if (i === start) break
    const scheme = value.slice(start, i).toLowerCase()
    if (i >= n || value.charCodeAt(i) === 44) {
      out.push({ scheme, params: new Map() })
      continue
    }
    if (value.charCodeAt(i) !== 32) break
    // A token68 (`Negotiate abc==`) is a challenge without parameters: `abc=` followed by the end or a comma
    // cannot be a parameter, which needs a value.
    let j = i
    while (j < n && value.charCodeAt(j) === 32) j++
    const token68 = TOKEN68.exec(value.slice(j, j + MAX_DIGEST_LENGTH))
    if (token68 !== null) {
      let k = j + token68[0].length
      while (k < n && isOws(value.charCodeAt(k))) k++
      if (k >= n || value.charCodeAt(k) === 44) {
        out.push({ scheme, params: new Map() })
        i = k
        continue
      }
    }
    const collected = new ParamMap()
    const next = scanParams(value, i, true, collected)
    if (next === undefined) break
    out.push({ scheme, params: collected.params })
    i = next
  }
  return out
}

/** The fields of an `Authorization: Digest` value a client sends. */
export interface DigestAuthorizationFields {
  /** The user name, or H(username ":" realm) with `userhash`. Non-ASCII names go out as `username*`. */
  readonly username: string
  readonly userhash?: boolean
  readonly realm: string
  readonly nonce: string
  readonly uri: string
  readonly algorithm: DigestAlgorithm
  readonly response: string
  readonly qop?: DigestQop | undefined
  readonly cnonce?: string | undefined
  /** The nonce count (1, 2, …); sent as 8 hex digits. */
  readonly nc?: number | undefined
  readonly opaque?: string | undefined
}

/**
 * Formats the nonce count as 8 lower-case hex digits.
 *
 * @example
 * formatNonceCount(2) // '00000002'
 */
export function formatNonceCount (nc: number): string {
  return nc.toString(16).padStart(8, '0')
}

/**
 * Formats an `Authorization: Digest` value (the client side). A user name that is not printable ASCII goes out as
 * `username*=UTF-8''…` (RFC 7616 §3.4.4) unless it is a userhash.
 *
 * @example
 * formatDigestAuthorization({ username: 'Mufasa', realm: 'r', nonce: 'n', uri: '/', algorithm: 'MD5',
 *   response: '…', qop: 'auth', cnonce: 'c', nc: 1, opaque: 'o' })
 */
export function formatDigestAuthorization (fields: DigestAuthorizationFields): string {
  const parts: string[] = []
  if (fields.userhash !== true && !/^[\x20-\x7e]*$/.test(fields.username)) {
    parts.push(`username*=UTF-8''${encodeURIComponent(fields.username).replace(/['()*!]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)}`)
  } else {
    parts.push(`username=${quote(fields.username)}`)
  }
  parts.push(`realm=${quote(fields.realm)}`, `uri=${quote(fields.uri)}`, `algorithm=${fields.algorithm}`, `nonce=${quote(fields.nonce)}`)
  if (fields.qop !== undefined) {
    parts.push(`nc=${formatNonceCount(fields.nc ?? 1)}`, `cnonce=${quote(fields.cnonce ?? '')}`, `qop=${fields.qop}`)
  }
  parts.push(`response=${quote(fields.response)}`)
  if (fields.opaque !== undefined) parts.push(`opaque=${quote(fields.opaque)}`)
  if (fields.userhash === true) parts.push('userhash=true')
  return `Digest ${parts.join(', ')}`
}

/** What `Authentication-Info` says (RFC 7616 §3.5). */
export interface AuthenticationInfo {
  readonly rspauth?: string | undefined
  readonly qop?: DigestQop | undefined
  readonly nc?: string | undefined
  readonly cnonce?: string | undefined
  readonly nextnonce?: string | undefined
}

/**
 * Formats an `Authentication-Info` value.
 *
 * @example
 * formatAuthenticationInfo({ rspauth: 'ab', qop: 'auth', nc: '00000001', cnonce: 'c' })
 * // 'rspauth="ab", qop=auth, nc=00000001, cnonce="c"'
 */
export function formatAuthenticationInfo (info: AuthenticationInfo): string {
  const parts: string[] = []
  if (info.rspauth !== undefined) parts.push(`rspauth=${quote(info.rspauth)}`)
  if (info.qop !== undefined) parts.push(`qop=${info.qop}`)
  if (info.nc !== undefined) parts.push(`nc=${info.nc}`)
  if (info.cnonce !== undefined) parts.push(`cnonce=${quote(info.cnonce)}`)
  if (info.nextnonce !== undefined) parts.push(`nextnonce=${quote(info.nextnonce)}`)
  return parts.join(', ')
}

/**
 * Parses an `Authentication-Info` value; `undefined` when malformed.
 *
 * @example
 * parseAuthenticationInfo('rspauth="ab", qop=auth, nc=00000001, cnonce="c"')?.rspauth // 'ab'
 */
export function parseAuthenticationInfo (value: string): AuthenticationInfo | undefined {
  if (typeof value !== 'string' || value.length > MAX_DIGEST_LENGTH) return undefined
  const collected = new ParamMap()
  if (scanParams(value, 0, false, collected) === undefined) return undefined
  const p = collected.params
  const qop = p.get('qop')?.toLowerCase()
  return {
    rspauth: p.get('rspauth'),
    qop: qop === 'auth' || qop === 'auth-int' ? qop : undefined,
    nc: p.get('nc'),
    cnonce: p.get('cnonce'),
    nextnonce: p.get('nextnonce')
  }
}
