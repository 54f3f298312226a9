import { hash } from 'node:crypto'
import { constantTimeEqualStrings } from '../cred/index.js'
import { randomSecret } from './common.js'
import type { PasswordHasher } from './hasher.js'

const SHA1 = /^\{SHA\}[A-Za-z0-9+/]{27}=$/

const sha1 = (plain: string): string => `{SHA}${hash('sha1', plain, 'base64')}`

/**
 * `{SHA}` + base64(SHA-1(password)) (`htpasswd -s`): unsalted and fast, so weak; kept for old files. `node:crypto`
 * computes it in microseconds, so it runs inline.
 *
 * @example
 * import { sha1Hasher } from 'fastify-cred/hashers'
 * await sha1Hasher.verify('wonderland', '{SHA}…') // true or false
 */
export const sha1Hasher: PasswordHasher = Object.freeze({
  name: 'sha1',
  identifies (encoded: string): boolean {
    return encoded.startsWith('{SHA}')
  },
  async verify (plain: string, encoded: string): Promise<boolean> {
    return SHA1.test(encoded) && constantTimeEqualStrings(sha1(plain), encoded)
  },
  async decoy (): Promise<string> {
    return sha1(randomSecret())
  },
  async hash (plain: string): Promise<string> {
    return sha1(plain)
  }
})
