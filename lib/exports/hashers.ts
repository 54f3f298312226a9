/**
 * `fastify-cred/hashers`: the password hash formats the file and Django stores read (Apache's htpasswd formats,
 * Django's hashers), recognising and verifying a hash, and the worker pool the slow ones run in.
 *
 * @example
 * import { HTPASSWD_HASHERS, verifyPassword } from 'fastify-cred/hashers'
 */
export {
  HTPASSWD_HASHERS, identifyHasher, verifyPassword, bcryptHasher, bcryptCost, apr1Hasher, sha1Hasher, desCryptHasher,
  ShaCryptHasher, sha256CryptHasher, sha512CryptHasher, plainHasher, HashWorkerPool, hashWorkers, DJANGO_HASHERS,
  DJANGO_PBKDF2_ITERATIONS, findDjangoHasher, identifyDjangoHasherName, djangoPbkdf2Sha256Hasher,
  djangoPbkdf2Sha1Hasher, djangoArgon2Hasher, djangoBcryptSha256Hasher, djangoBcryptPlainHasher, djangoScryptHasher,
  djangoSaltedMd5Hasher, djangoSaltedSha1Hasher, djangoUnsaltedMd5Hasher, djangoUnsaltedSha1Hasher, djangoCryptHasher
} from '../hashers/index.js'
export type { PasswordHasher } from '../hashers/index.js'
