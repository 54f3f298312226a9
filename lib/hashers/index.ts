import type { PasswordHasher } from './hasher.js'
import { apr1Hasher } from './apr1.js'
import { bcryptHasher } from './bcrypt.js'
import { desCryptHasher } from './des-crypt.js'
import { plainHasher } from './plain.js'
import { sha1Hasher } from './sha1.js'
import { sha256CryptHasher, sha512CryptHasher } from './sha-crypt.js'

export type { PasswordHasher } from './hasher.js'
export { apr1Hasher } from './apr1.js'
export { bcryptHasher, bcryptCost, bcryptVerify, bcryptHash, isBcryptHash } from './bcrypt.js'
export {
  DJANGO_HASHERS, DJANGO_PBKDF2_ITERATIONS, findDjangoHasher, identifyDjangoHasherName, djangoPbkdf2Sha256Hasher,
  djangoPbkdf2Sha1Hasher, djangoArgon2Hasher, djangoBcryptSha256Hasher, djangoBcryptPlainHasher, djangoScryptHasher, djangoSaltedMd5Hasher,
  djangoSaltedSha1Hasher, djangoUnsaltedMd5Hasher, djangoUnsaltedSha1Hasher, djangoCryptHasher
} from './django.js'
export { desCryptHasher } from './des-crypt.js'
export { plainHasher } from './plain.js'
export { sha1Hasher } from './sha1.js'
export { ShaCryptHasher, sha256CryptHasher, sha512CryptHasher } from './sha-crypt.js'
export { HashWorkerPool, hashWorkers } from './worker-pool.js'

/**
 * Every format Apache's `htpasswd` writes, in the order they are tried: the prefixed formats first, then DES
 * crypt (13 characters of the crypt alphabet), then plaintext, which takes whatever is left. Concatenate other
 * lists in front (Django's formats, which all start with their name and a `$`) to read mixed stores.
 *
 * @example
 * import { HTPASSWD_HASHERS, identifyHasher } from 'fastify-cred/hashers'
 * identifyHasher('$2y$10$…', HTPASSWD_HASHERS)?.name // 'bcrypt'
 */
export const HTPASSWD_HASHERS: readonly PasswordHasher[] = Object.freeze([
  bcryptHasher, apr1Hasher, sha1Hasher, sha256CryptHasher, sha512CryptHasher, desCryptHasher, plainHasher
])

/**
 * The first of `hashers` that recognises `encoded`, or `undefined` when none does (a format nobody here reads).
 * Recognising is a cheap look at the shape; it hashes nothing. Order matters when shapes overlap: put the most
 * specific formats first and catch-alls (plaintext) last.
 *
 * @example
 * import { HTPASSWD_HASHERS, identifyHasher } from 'fastify-cred/hashers'
 * identifyHasher('{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=')?.name // 'sha1'
 * identifyHasher('$y$j9T$…') // undefined: yescrypt is not read here
 */
export function identifyHasher (encoded: string, hashers: readonly PasswordHasher[] = HTPASSWD_HASHERS): PasswordHasher | undefined {
  for (const hasher of hashers) if (hasher.identifies(encoded)) return hasher
  return undefined
}

/**
 * Verifies `plain` against `encoded` with the format that recognises it; `false` when none does.
 *
 * @example
 * import { verifyPassword } from 'fastify-cred/hashers'
 * await verifyPassword('wonderland', '{SHA}…') // true or false
 */
export async function verifyPassword (plain: string, encoded: string, hashers: readonly PasswordHasher[] = HTPASSWD_HASHERS): Promise<boolean> {
  const hasher = identifyHasher(encoded, hashers)
  return hasher === undefined ? false : await hasher.verify(plain, encoded)
}
