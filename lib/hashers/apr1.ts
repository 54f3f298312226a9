import { constantTimeEqualStrings } from '../cred/index.js'
import { cryptSalt, moduleUrl, randomSecret, utf8Units } from './common.js'
import type { PasswordHasher } from './hasher.js'
import { hashWorkers } from './worker-pool.js'

const APR1 = /^\$apr1\$[./0-9A-Za-z]{0,8}\$[./0-9A-Za-z]{22}$/
let module: string | undefined

/** `apache-md5(utf8Units(plain), setting)` in a worker thread: 1,000 rounds of MD5 cost ~1 ms of CPU in JavaScript. */
async function apr1 (plain: string, setting: string): Promise<string> {
  module ??= moduleUrl('apache-md5')
  return await hashWorkers.run<string>(module, 'default', [utf8Units(plain), setting])
}

/**
 * Apache's `$apr1$` MD5 format (`htpasswd -m`, and htpasswd's default): 1,000 rounds of MD5 over an 8-character
 * salt. Weak by today's measures, still the most common line of old htpasswd files. Computed by the `apache-md5`
 * package in a worker thread.
 *
 * @example
 * import { apr1Hasher } from 'fastify-cred/hashers'
 * await apr1Hasher.verify('wonderland', '$apr1$…') // true or false
 */
export const apr1Hasher: PasswordHasher = Object.freeze({
  name: 'apr1',
  identifies (encoded: string): boolean {
    return encoded.startsWith('$apr1$')
  },
  async verify (plain: string, encoded: string): Promise<boolean> {
    if (!APR1.test(encoded)) return false
    return constantTimeEqualStrings(await apr1(plain, encoded), encoded)
  },
  async decoy (): Promise<string> {
    return await apr1(randomSecret(), `$apr1$${cryptSalt(8)}$`)
  },
  async hash (plain: string): Promise<string> {
    return await apr1(plain, `$apr1$${cryptSalt(8)}$`)
  }
})
