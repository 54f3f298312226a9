import { randomBytes } from 'node:crypto'
import type { PasswordHasher } from './hasher.js'
import { optionalPeer } from './peer-dependency.js'

type BcryptModule = typeof import('bcrypt')

/** The native `bcrypt` package (optional peer dependency), loaded on first use. */
const loadBcrypt = optionalPeer('bcrypt', 'Verifying bcrypt password hashes', async (): Promise<BcryptModule> => {
  const mod = await import('bcrypt') as BcryptModule & { default?: BcryptModule }
  return mod.default ?? mod
})

/** `$2a$`, `$2b$`, `$2y$` (Apache, PHP) with a two-digit cost and 53 characters of salt and checksum. */
const BCRYPT = /^\$2[aby]\$(0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}$/

/** True when `encoded` is a modular-crypt bcrypt hash (`$2a$`, `$2b$` or `$2y$`). */
export function isBcryptHash (encoded: string): boolean {
  return BCRYPT.test(encoded)
}

/**
 * Checks `plain` against a bcrypt hash with the native `bcrypt` package, asynchronously (libuv threadpool).
 * `$2y$` is the same algorithm as `$2b$` under PHP's name; the native package only knows `$2a$`/`$2b$`, so the
 * prefix is rewritten first. Answers false for anything that is not a bcrypt hash.
 *
 * @throws MissingPeerDependency when `bcrypt` is not installed.
 * @example
 * await bcryptVerify('secret', '$2y$05$…') // true or false
 */
export async function bcryptVerify (plain: string | Buffer, encoded: string): Promise<boolean> {
  if (!isBcryptHash(encoded)) return false
  const bcrypt = await loadBcrypt()
  const native = encoded.startsWith('$2y$') ? `$2b$${encoded.slice(4)}` : encoded
  try {
    return await bcrypt.compare(plain, native)
  } catch {
    return false
  }
}

/** The cost of a bcrypt hash, or undefined. */
export function bcryptCost (encoded: string | undefined): number | undefined {
  return encoded !== undefined && isBcryptHash(encoded) ? Number(encoded.slice(4, 6)) : undefined
}

/**
 * A `$2b$` hash of `plain` at `cost` (asynchronous).
 *
 * @throws MissingPeerDependency when `bcrypt` is not installed.
 * @example
 * const encoded = await bcryptHash('secret', 12)
 */
export async function bcryptHash (plain: string | Buffer, cost: number): Promise<string> {
  const bcrypt = await loadBcrypt()
  return await bcrypt.hash(plain, await bcrypt.genSalt(cost, 'b'))
}

/**
 * Plain modular-crypt bcrypt (`$2a$`, `$2b$`, `$2y$`), as in htpasswd files and many SQL tables. Verified with the
 * native `bcrypt` package (optional peer dependency: `npm install bcrypt`).
 *
 * @example
 * import { bcryptHasher } from 'fastify-cred'
 * await bcryptHasher.verify('secret', '$2y$10$…')
 */
export const bcryptHasher: PasswordHasher = Object.freeze({
  name: 'bcrypt',
  identifies: isBcryptHash,
  verify: async (plain: string, encoded: string) => await bcryptVerify(plain, encoded),
  decoy: async (like?: string) => await bcryptHash(randomBytes(16).toString('base64'), bcryptCost(like) ?? 10),
  hash: async (plain: string, options?: Readonly<Record<string, unknown>>) => {
    const cost = options?.cost
    return await bcryptHash(plain, typeof cost === 'number' ? cost : 10)
  }
})
