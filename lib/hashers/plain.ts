import { constantTimeEqual } from '../cred/index.js'
import { randomSecret } from './common.js'
import type { PasswordHasher } from './hasher.js'

/**
 * A password stored as is (`htpasswd -p`; Apache itself accepts such lines only on Windows and NetWare). It
 * identifies any value that does not start with `$` or `{`, the marks of hash formats, so that a line in a format
 * nobody here reads (yescrypt `$y$`, `{SSHA}`) is never mistaken for a plaintext password that its hash would
 * open. List it last: a 13-character value of the crypt alphabet is DES crypt first.
 *
 * @example
 * import { plainHasher } from 'fastify-cred/hashers'
 * await plainHasher.verify('wonderland', 'wonderland') // true
 */
export const plainHasher: PasswordHasher = Object.freeze({
  name: 'plain',
  identifies (encoded: string): boolean {
    return encoded !== '' && !encoded.startsWith('$') && !encoded.startsWith('{')
  },
  async verify (plain: string, encoded: string): Promise<boolean> {
    return constantTimeEqual(plain, encoded)
  },
  async decoy (): Promise<string> {
    return randomSecret()
  },
  async hash (plain: string): Promise<string> {
    return plain
  }
})
