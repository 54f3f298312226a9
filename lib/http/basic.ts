import { isUtf8 } from 'node:buffer'
import { formatChallenge, hasScheme } from './auth-params.js'

/** Longest `Authorization: Basic` value accepted; longer ones are malformed, not decoded. */
export const MAX_BASIC_LENGTH = 4096

/** The user name and password of an `Authorization: Basic` value, as `parseBasic` decodes them. */
export interface BasicCredentials {
  readonly username: string
  readonly password: string
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/
// RFC 7617 §2: neither part may contain control characters; the user-id may not contain ':'. All of Unicode's Cc
// (C0, DEL and C1 such as U+0085 NEL), so that no checker, log line or terminal sees a line break or an escape.
const CONTROL = /[\x00-\x1f\x7f-\x9f]/
const NOT_ASCII = /[^\x00-\x7f]/

/** True when the `Authorization` value uses the Basic scheme (any case). */
export function isBasic (authorization: string): boolean {
  return hasScheme(authorization, 'basic')
}

/**
 * Decodes an `Authorization: Basic` value (RFC 7617): strict base64, then UTF-8, split at the first `:` so that a
 * password may contain `:`. Bytes that are not valid UTF-8 are read as ISO-8859-1: Python's `requests` and
 * `aiohttp`, among others, send Latin-1 whatever the challenge's `charset="UTF-8"` asks, and every byte string is
 * valid Latin-1, so `bøb:pässwörd` arrives as the same string in either encoding. (A Latin-1 string that happens to
 * be valid UTF-8, such as `Ã©`, is read as UTF-8: `é`.) Returns `undefined` for anything malformed: not Basic, bad
 * base64, no colon, a control character (Unicode Cc: C0, DEL, C1) in either part, longer than `MAX_BASIC_LENGTH`.
 *
 * @example
 * import { parseBasic } from 'fastify-cred/http'
 * parseBasic('Basic ' + Buffer.from('alice:pass:word').toString('base64'))
 * // { username: 'alice', password: 'pass:word' }
 */
export function parseBasic (authorization: string): BasicCredentials | undefined {
  if (authorization.length > MAX_BASIC_LENGTH || !isBasic(authorization)) return undefined
  const encoded = authorization.slice(6).trim()
  // RFC 7617 §2 token68 in strict base64 (RFC 4648 §4): whole quanta, padding only at the end.
  if (encoded.length === 0 || encoded.length % 4 !== 0 || !BASE64.test(encoded)) return undefined
  // atob gives one character per byte, in a third of the time Buffer takes to decode and stringify; most
  // credentials are ASCII and then already the right string.
  let decoded = atob(encoded)
  if (NOT_ASCII.test(decoded)) {
    const bytes = Buffer.from(decoded, 'latin1')
    // Not UTF-8: atob's answer already is the ISO-8859-1 reading, one character per byte.
    if (isUtf8(bytes)) decoded = bytes.toString('utf8')
  }
  const colon = decoded.indexOf(':')
  if (colon === -1 || CONTROL.test(decoded)) return undefined
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) }
}

/**
 * Encodes credentials for an `Authorization: Basic` value, as UTF-8.
 *
 * @example
 * formatBasic('alice', 'wonderland') // 'Basic YWxpY2U6d29uZGVybGFuZA=='
 */
export function formatBasic (username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`, 'utf8').toString('base64')}`
}

/**
 * The Basic challenge for `WWW-Authenticate`, with the protection space and `charset="UTF-8"` (RFC 7617 §2.1).
 *
 * @example
 * basicChallenge('admin area') // 'Basic realm="admin area", charset="UTF-8"'
 */
export function basicChallenge (authenticationRealm: string): string {
  return formatChallenge('Basic', [['realm', authenticationRealm], ['charset', 'UTF-8']])
}
