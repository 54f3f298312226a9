/**
 * A Digest client (RFC 7616) for the load generator, written independently of lib/http so that the benchmark also
 * cross-checks the server: it parses challenges, answers with `qop=auth` and counts `nc` up per nonce like a real
 * client, so the server's replay protection stays on while it is measured. It costs one hash per request (the
 * package's `digestAuthorization` recomputes HA1 and HA2 each time); `selfTest` checks that both agree.
 */
import { hash, randomBytes } from 'node:crypto'
import { digestAuthorization } from '../lib/client/index.js'
import type { DigestAlgorithm } from './contenders.js'

export interface DigestChallenge {
  readonly realm: string
  readonly nonce: string
  readonly opaque: string | undefined
  readonly algorithm: string
  readonly qop: readonly string[]
  readonly stale: boolean
}

const NODE_ALGORITHM: Readonly<Record<DigestAlgorithm, string>> = { 'SHA-256': 'sha256', MD5: 'md5' }

const PARAM = /([A-Za-z0-9!#$%&'*+.^_`|~-]+)[ \t]*=[ \t]*(?:"((?:[^"\\]|\\.)*)"|([^\s,"]*))/g
const CHALLENGE_START = /(?:^|,)[ \t]*(?=[A-Za-z0-9!#$%&'*+.^_`|~-]+[ \t]+[A-Za-z0-9!#$%&'*+.^_`|~-]+[ \t]*=)/g

/** Splits one header value that may hold several challenges (`Digest a=1, b=2, Basic realm="x"`). */
function splitChallenges (value: string): string[] {
  const starts: number[] = []
  for (const match of value.matchAll(CHALLENGE_START)) {
    // A challenge starts where a token is followed by whitespace and then `param=`: the scheme name.
    const at = match.index + (match[0].startsWith(',') ? 1 : 0)
    starts.push(at)
  }
  if (starts.length === 0) return [value]
  return starts.map((start, i) => value.slice(start, starts[i + 1] ?? value.length).replace(/,\s*$/, '').trim())
}

/** Every Digest challenge in the given `WWW-Authenticate` values. */
export function parseDigestChallenges (headerValues: readonly string[]): DigestChallenge[] {
  const found: DigestChallenge[] = []
  for (const value of headerValues) {
    for (const challenge of splitChallenges(value)) {
      const space = challenge.search(/[ \t]/)
      if (space < 0 || challenge.slice(0, space).toLowerCase() !== 'digest') continue
      const params = new Map<string, string>()
      for (const m of challenge.slice(space).matchAll(PARAM)) {
        const name = m[1]
        if (name === undefined) continue
        params.set(name.toLowerCase(), m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : (m[3] ?? ''))
      }
      const nonce = params.get('nonce')
      const realm = params.get('realm')
      if (nonce === undefined || realm === undefined) continue
      found.push({
        realm,
        nonce,
        opaque: params.get('opaque'),
        algorithm: params.get('algorithm') ?? 'MD5',
        qop: (params.get('qop') ?? '').split(',').map((q) => q.trim().toLowerCase()).filter((q) => q !== ''),
        stale: (params.get('stale') ?? '').toLowerCase() === 'true'
      })
    }
  }
  return found
}

/** The challenge for `algorithm` among `values`, or undefined. */
export function pickChallenge (headerValues: readonly string[], algorithm: DigestAlgorithm): DigestChallenge | undefined {
  return parseDigestChallenges(headerValues).find((c) => c.algorithm.toUpperCase() === algorithm)
}

/** The values of one header from Node's raw `[name, value, name, value, …]` list. */
export function rawHeaderValues (raw: readonly string[], name: string): string[] {
  const values: string[] = []
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if (raw[i]?.toLowerCase() === name) values.push(raw[i + 1] ?? '')
  }
  return values
}

const quoteValue = (value: string): string => '"' + value.replace(/["\\]/g, '\\$&') + '"'

/**
 * One client's use of one nonce: `next()` gives the `Authorization` value for the next request, with `nc` one
 * higher each time. HA1 and HA2 are computed once; each request costs one hash, as in any real client.
 */
export class DigestSession {
  readonly challenge: DigestChallenge
  #nc = 0
  readonly #algorithm: string
  readonly #prefix: string
  readonly #suffix: string
  readonly #head: string
  readonly #tail: string

  constructor (challenge: DigestChallenge, options: { username: string, password: string, method: string, uri: string, algorithm: DigestAlgorithm, cnonce?: string }) {
    if (!challenge.qop.includes('auth')) throw new Error(`the Digest challenge offers qop ${JSON.stringify(challenge.qop)}; the load generator answers qop=auth only`)
    this.challenge = challenge
    this.#algorithm = NODE_ALGORITHM[options.algorithm]
    const cnonce = options.cnonce ?? randomBytes(12).toString('base64url')
    const ha1 = hash(this.#algorithm, `${options.username}:${challenge.realm}:${options.password}`, 'hex')
    const ha2 = hash(this.#algorithm, `${options.method}:${options.uri}`, 'hex')
    this.#prefix = `${ha1}:${challenge.nonce}:`
    this.#suffix = `:${cnonce}:auth:${ha2}`
    this.#head = `Digest username=${quoteValue(options.username)}, realm=${quoteValue(challenge.realm)}, uri=${quoteValue(options.uri)}, ` +
      `algorithm=${options.algorithm}, nonce=${quoteValue(challenge.nonce)}, nc=`
    this.#tail = `, cnonce=${quoteValue(cnonce)}, qop=auth` + (challenge.opaque === undefined ? '' : `, opaque=${quoteValue(challenge.opaque)}`) + ', response="'
  }

  /** How many requests this session has answered. */
  get count (): number {
    return this.#nc
  }

  next (): string {
    const nc = (++this.#nc).toString(16).padStart(8, '0')
    const response = hash(this.#algorithm, this.#prefix + nc + this.#suffix, 'hex')
    return this.#head + nc + this.#tail + response + '"'
  }
}

/**
 * Checks this client against RFC 7616 §3.9.1 (so that a failing benchmark cannot be blamed on the client).
 * Throws when the computed responses differ from the RFC's.
 */
export function selfTest (): void {
  const challenge: DigestChallenge = {
    realm: 'http-auth@example.org',
    nonce: '7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v',
    opaque: 'FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS',
    algorithm: 'SHA-256',
    qop: ['auth', 'auth-int'],
    stale: false
  }
  const expected: Record<DigestAlgorithm, string> = {
    MD5: '8ca523f5e9506fed4657c9700eebdbec',
    'SHA-256': '753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1'
  }
  for (const algorithm of ['MD5', 'SHA-256'] as const) {
    const session = new DigestSession(challenge, {
      username: 'Mufasa', password: 'Circle of Life', method: 'GET', uri: '/dir/index.html', algorithm,
      cnonce: 'f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ'
    })
    const header = session.next()
    if (!header.endsWith(`response="${expected[algorithm]}"`)) throw new Error(`Digest client self-test failed for ${algorithm}: ${header}`)
    // The package's own client must agree with this fast one, request after request.
    for (let nc = 2; nc <= 3; nc++) {
      const fast = session.next()
      const packaged = digestAuthorization({ ...challenge, algorithm, qop: ['auth'], userhash: false }, 'Mufasa', 'Circle of Life',
        { method: 'GET', uri: '/dir/index.html', nc, cnonce: 'f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ', qop: 'auth' })
      const responseOf = (value: string): string | undefined => /response="([0-9a-f]+)"/.exec(value)?.[1]
      if (responseOf(fast) !== responseOf(packaged.authorization)) throw new Error(`Digest client disagrees with credFetch's digestAuthorization for ${algorithm} at nc=${nc}`)
    }
  }
}
