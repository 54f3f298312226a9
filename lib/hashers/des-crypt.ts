import { constantTimeEqualStrings } from '../cred/index.js'
import { cryptSalt, moduleUrl, randomSecret, utf8Units } from './common.js'
import type { PasswordHasher } from './hasher.js'
import { hashWorkers } from './worker-pool.js'

const DES = /^[./0-9A-Za-z]{13}$/
let module: string | undefined

async function desCrypt (plain: string, salt: string): Promise<string> {
  module ??= moduleUrl('apache-crypt')
  return await hashWorkers.run<string>(module, 'default', [utf8Units(plain), salt])
}

/**
 * Traditional crypt(3) DES (`htpasswd -d`): 13 characters, a 2-character salt, and **only the first 8 bytes of the
 * password count** (as in Apache). Computed by `apache-crypt` (a wrapper of `unix-crypt-td-js`) in a worker thread.
 * Any 13-character string of the crypt alphabet is read as DES, so list this format before `plainHasher`.
 *
 * @example
 * import { desCryptHasher } from 'fastify-cred/hashers'
 * await desCryptHasher.verify('wonderland', 'xBxhsmCqu6CPo') // true or false
 */
export const desCryptHasher: PasswordHasher = Object.freeze({
  name: 'crypt',
  identifies (encoded: string): boolean {
    return DES.test(encoded)
  },
  async verify (plain: string, encoded: string): Promise<boolean> {
    if (!DES.test(encoded)) return false
    return constantTimeEqualStrings(await desCrypt(plain, encoded.slice(0, 2)), encoded)
  },
  async decoy (): Promise<string> {
    return await desCrypt(randomSecret(), cryptSalt(2))
  },
  async hash (plain: string): Promise<string> {
    return await desCrypt(plain, cryptSalt(2))
  }
})
