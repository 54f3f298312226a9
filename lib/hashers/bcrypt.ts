import type { PasswordHasher } from './hasher.js'
import { loadDriver } from '../drivers/index.js'
import { randomSecret } from './common.js'

/** The slice of the native `bcrypt` package used here (its promise API, computed on libuv's threadpool). */
interface BcryptModule {
  hash (data: string | Buffer, saltOrRounds: string | number): Promise<string>
  compare (data: string | Buffer, encrypted: string): Promise<boolean>
  genSalt (rounds: number, minor: 'a' | 'b'): Promise<string>
}

/** The native `bcrypt` package (optional peer dependency), loaded on first use; a failure is not remembered. */
async function loadBcrypt (): Promise<BcryptModule> {
  const loaded = await loadDriver('bcrypt', 'Verifying bcrypt password hashes')
  return ((loaded as { default?: unknown }).default ?? loaded) as BcryptModule
}

/** Loads the native `bcrypt` package now (a hasher's `prepare`). @throws MissingPeerDependency when it is not installed. */
export async function prepareBcrypt (): Promise<void> {
  await loadBcrypt()
}

/** `$2a$`, `$2b$`, `$2y$` (Apache, PHP) with a two-digit cost and 53 characters of salt and checksum. */
const BCRYPT = /^\$2[aby]\$(0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}$/
const DEFAULT_COST = 10

/** True when `encoded` is a modular-crypt bcrypt hash (`$2a$`, `$2b$` or `$2y$`). */
export function isBcryptHash (encoded: string): boolean {
  return BCRYPT.test(encoded)
}

/** The cost of a bcrypt hash (its `$2y$NN$`), or undefined. */
export function bcryptCost (encoded: string | undefined): number | undefined {
  return encoded !== undefined && isBcryptHash(encoded) ? Number(encoded.slice(4, 6)) : undefined
}

/** The bytes bcrypt reads of a password: its key schedule takes 72 (18 words of 4 bytes). */
export const BCRYPT_MAX_BYTES = 72

/**
 * The first 72 bytes of `plain` (UTF-8), the only ones bcrypt reads. Native bcrypt caps the length at 72 for `$2b$`
 * and `$2y$`, but for `$2a$` it keeps OpenBSD's old `(uint8_t)(strlen + 1)` key length, which wraps at 255 bytes
 * (passlib's "BSD wraparound" bug): a 255-byte password would then hash as a key of 0 bytes and a 260-byte one as 5.
 * Cutting every variant to 72 bytes first gives what the fixed implementations (and Apache, PHP, Django) compute.
 */
function bcryptKey (plain: string | Buffer): Buffer {
  const bytes = typeof plain === 'string' ? Buffer.from(plain, 'utf8') : plain
  return bytes.length > BCRYPT_MAX_BYTES ? bytes.subarray(0, BCRYPT_MAX_BYTES) : bytes
}

/**
 * Checks `plain` against a bcrypt hash with the native `bcrypt` package, asynchronously (libuv threadpool).
 * `$2y$` is the same algorithm as `$2b$` under PHP's and Apache's name, but native bcrypt answers `false` for that
 * spelling, so the prefix is rewritten first. Only the first 72 bytes of `plain` count, for every variant.
 * Answers false for anything that is not a bcrypt hash.
 *
 * @throws MissingPeerDependency when `bcrypt` is not installed.
 * @example
 * await bcryptVerify('secret', '$2y$05$…') // true or false
 */
export async function bcryptVerify (plain: string | Buffer, encoded: string): Promise<boolean> {
  if (!isBcryptHash(encoded)) return false
  const bcrypt = await loadBcrypt()
  try {
    return await bcrypt.compare(bcryptKey(plain), encoded.startsWith('$2y$') ? `$2b$${encoded.slice(4)}` : encoded)
  } catch {
    return false
  }
}

/**
 * A `$2b$` hash of `plain` at `cost` (asynchronous), as Django and most libraries write it. Only the first 72 bytes
 * of `plain` count.
 *
 * @throws MissingPeerDependency when `bcrypt` is not installed.
 * @example
 * const encoded = await bcryptHash('secret', 12)
 */
export async function bcryptHash (plain: string | Buffer, cost: number): Promise<string> {
  if (!Number.isInteger(cost) || cost < 4 || cost > 31) throw new RangeError('bcrypt cost must be an integer from 4 to 31')
  const bcrypt = await loadBcrypt()
  return await bcrypt.hash(bcryptKey(plain), await bcrypt.genSalt(cost, 'b'))
}

/**
 * bcrypt as in htpasswd files (`htpasswd -B`, which always writes `$2y$`) and many SQL tables (`$2a$`, `$2b$`),
 * with the native `bcrypt` package: an optional peer dependency, loaded on first use, that hashes on libuv's
 * threadpool so the event loop stays free. `hash` writes `$2y$`, as Apache does. Only the first 72 bytes of a
 * password count.
 *
 * @example
 * import { bcryptHasher } from 'fastify-cred/hashers'
 * const encoded = await bcryptHasher.hash('wonderland', { cost: 12 }) // '$2y$12$…'
 * await bcryptHasher.verify('wonderland', encoded) // true
 * @throws MissingPeerDependency from `verify`, `decoy` and `hash` when the `bcrypt` package is not installed
 */
export const bcryptHasher: PasswordHasher = Object.freeze({
  name: 'bcrypt',
  // Loose on purpose: a damaged bcrypt line is still bcrypt's (and fails), never another format's.
  identifies: (encoded: string): boolean => /^\$2[aby]\$/.test(encoded),
  verify: async (plain: string, encoded: string): Promise<boolean> => await bcryptVerify(plain, encoded),
  decoy: async (like?: string): Promise<string> => await bcryptHash(randomSecret(), bcryptCost(like) ?? DEFAULT_COST),
  /** `options.cost`: 4 to 31, default 10. */
  hash: async (plain: string, options: Readonly<Record<string, unknown>> = {}): Promise<string> => {
    const cost = options.cost ?? DEFAULT_COST
    if (typeof cost !== 'number') throw new RangeError('bcrypt cost must be an integer from 4 to 31')
    const encoded = await bcryptHash(plain, cost)
    return `$2y$${encoded.slice(4)}`
  },
  prepare: prepareBcrypt
})
