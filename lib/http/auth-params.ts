import { InvalidOption } from '../cred/index.js'

/**
 * Pieces of the HTTP authentication framework (RFC 9110 §11) shared by every scheme: the scheme of an
 * `Authorization` value and challenges with quoted parameters.
 */

/**
 * True when `value` is `scheme` (any case, RFC 9110 §11.1), alone or followed by a space; `scheme` is lower-case.
 * Compares character codes: no lower-cased copy on every request.
 */
export function hasScheme (value: string, scheme: string): boolean {
  const length = scheme.length
  if (value.length !== length && (value.length < length || value.charCodeAt(length) !== 32)) return false
  for (let i = 0; i < length; i++) {
    const wanted = scheme.charCodeAt(i)
    const given = value.charCodeAt(i)
    // Only ASCII letters fold: 'A'-'Z' (0x41-0x5a) match 'a'-'z'.
    if (given !== wanted && !(wanted >= 0x61 && wanted <= 0x7a && given === wanted - 0x20)) return false
  }
  return true
}

const NEEDS_ESCAPE = /[\\"]/

/** A quoted-string with `\` and `"` escaped. */
export function quote (value: string): string {
  return NEEDS_ESCAPE.test(value) ? `"${value.replace(/[\\"]/g, '\\$&')}"` : `"${value}"`
}

/** A challenge parameter: `[name, value]` is quoted, `[name, value, 'token']` is sent bare (`algorithm=MD5`). */
export type ChallengeParam = readonly [name: string, value: string] | readonly [name: string, value: string, form: 'token']

/**
 * Formats one challenge for `WWW-Authenticate` / `Proxy-Authenticate`.
 *
 * @example
 * formatChallenge('Basic', [['realm', 'Say "hi"'], ['charset', 'UTF-8']])
 * // 'Basic realm="Say \\"hi\\"", charset="UTF-8"'
 */
export function formatChallenge (scheme: string, params: readonly ChallengeParam[]): string {
  return `${scheme} ${params.map(([name, value, form]) => `${name}=${form === 'token' ? value : quote(value)}`).join(', ')}`
}

/**
 * Checks a string an application wants in a header (the authentication realm): visible ASCII and spaces only, so
 * that it can neither break the header nor be read differently by different clients.
 */
export function assertHeaderSafe (what: string, value: unknown): asserts value is string {
  if (typeof value !== 'string' || !/^[\x20-\x7e]*$/.test(value)) {
    throw new InvalidOption(`${what} must be a string of printable ASCII characters, got ${JSON.stringify(value)}`)
  }
}
