import { constantTimeEqualStrings } from '../cred/index.js'
import { cryptSalt, moduleUrl, randomSecret } from './common.js'
import type { PasswordHasher } from './hasher.js'
import { hashWorkers } from './worker-pool.js'

let module: string | undefined

/** `unixcrypt`'s `encrypt(plain, setting)` in a worker: 5,000 rounds (the default) cost ~6 ms of CPU in JavaScript. */
async function shaCrypt (plain: string, setting: string): Promise<string> {
  module ??= moduleUrl('unixcrypt')
  return await hashWorkers.run<string>(module, 'encrypt', [plain, setting])
}

/**
 * SHA-crypt (Ulrich Drepper's `$5$` SHA-256 and `$6$` SHA-512 formats, `htpasswd -2` / `-5`), with `rounds=`
 * (1,000 to 999,999,999; 5,000 when absent). Computed by the `unixcrypt` package in a worker thread, so that a
 * high `rounds=` never stalls the event loop.
 *
 * @example
 * import { sha512CryptHasher } from 'fastify-cred/hashers'
 * const encoded = await sha512CryptHasher.hash('wonderland', { rounds: 10000 }) // '$6$rounds=10000$…'
 * await sha512CryptHasher.verify('wonderland', encoded) // true
 */
export class ShaCryptHasher implements PasswordHasher {
  readonly name: string
  readonly #id: '5' | '6'
  readonly #shape: RegExp

  /** @param id `'5'` for SHA-256 crypt, `'6'` for SHA-512 crypt. */
  constructor (id: '5' | '6') {
    this.#id = id
    this.name = id === '5' ? 'sha256-crypt' : 'sha512-crypt'
    this.#shape = new RegExp(`^\\$${id}\\$(?:rounds=\\d{1,9}\\$)?[^$:]{0,16}\\$[./0-9A-Za-z]{${id === '5' ? 43 : 86}}$`)
  }

  identifies (encoded: string): boolean {
    return encoded.startsWith(`$${this.#id}$`)
  }

  async verify (plain: string, encoded: string): Promise<boolean> {
    if (!this.#shape.test(encoded)) return false
    let computed: string
    try {
      computed = await shaCrypt(plain, encoded.slice(0, encoded.lastIndexOf('$')))
    } catch {
      return false // a salt the library refuses: an encoding it cannot read
    }
    return constantTimeEqualStrings(computed, encoded)
  }

  async decoy (like?: string): Promise<string> {
    const rounds = like === undefined ? undefined : /^\$[56]\$rounds=(\d+)\$/.exec(like)?.[1]
    return await this.hash(randomSecret(), rounds === undefined ? {} : { rounds: Number(rounds) })
  }

  /** `options.rounds`: 1,000 to 999,999,999; default 5,000 (written without `rounds=`, as glibc does). */
  async hash (plain: string, options: Readonly<Record<string, unknown>> = {}): Promise<string> {
    const rounds = options.rounds
    if (rounds !== undefined && (typeof rounds !== 'number' || !Number.isInteger(rounds) || rounds < 1000 || rounds > 999_999_999)) {
      throw new RangeError('SHA-crypt rounds must be an integer from 1000 to 999999999')
    }
    const setting = rounds === undefined || rounds === 5000 ? `$${this.#id}$${cryptSalt(16)}` : `$${this.#id}$rounds=${rounds}$${cryptSalt(16)}`
    return await shaCrypt(plain, setting)
  }
}

/** `$5$`: SHA-256 crypt (`htpasswd -2`). */
export const sha256CryptHasher: PasswordHasher = new ShaCryptHasher('5')
/** `$6$`: SHA-512 crypt (`htpasswd -5`). */
export const sha512CryptHasher: PasswordHasher = new ShaCryptHasher('6')
