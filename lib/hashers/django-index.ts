// Django's password hashers and the generic bcrypt verifier: merged into lib/hashers/index.ts by the lead.
export type { PasswordHasher } from './hasher.js'
export {
  DJANGO_HASHERS, DJANGO_PBKDF2_ITERATIONS, findDjangoHasher, identifyDjangoHasherName,
  djangoPbkdf2Sha256, djangoPbkdf2Sha1, djangoArgon2, djangoBcryptSha256, djangoBcryptPlain, djangoScrypt,
  djangoSaltedMd5, djangoSaltedSha1, djangoUnsaltedMd5, djangoUnsaltedSha1
} from './django.js'
export { bcryptHasher, bcryptVerify, bcryptHash, isBcryptHash } from './bcrypt.js'
export { optionalPeer } from './peer-dependency.js'
