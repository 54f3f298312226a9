export { hasScheme, quote, formatChallenge, assertHeaderSafe } from './auth-params.js'
export type { ChallengeParam } from './auth-params.js'
export { parseBasic, formatBasic, basicChallenge, isBasic, MAX_BASIC_LENGTH } from './basic.js'
export type { BasicCredentials } from './basic.js'
export { BasicScheme } from './basic-scheme.js'
export { BearerScheme, parseBearer, MAX_BEARER_LENGTH } from './bearer-scheme.js'
export type { BearerSchemeOptions } from './bearer-scheme.js'
export {
  parseDigest, digestChallenge, digestAlgorithm, parseChallenges, formatDigestAuthorization, formatNonceCount,
  formatAuthenticationInfo, parseAuthenticationInfo, headerText, MAX_DIGEST_LENGTH
} from './digest.js'
export type {
  DigestAuthorization, DigestChallengeParams, ParsedChallenge, DigestAuthorizationFields, AuthenticationInfo
} from './digest.js'
export { NonceMinter, DEFAULT_NONCE_LIFETIME } from './nonce.js'
export type { NonceOptions, MintedNonce } from './nonce.js'
export type { NonceStore, NonceClaim } from './nonce-store.js'
export { MemoryNonceStore } from './memory-nonce-store.js'
export type { MemoryNonceStoreOptions } from './memory-nonce-store.js'
export { DigestScheme, userhashResolver } from './digest-scheme.js'
export type { DigestSchemeOptions, UserhashResolver, UserhashResolverOptions } from './digest-scheme.js'
export { needsEntityBody } from './scheme.js'
export type { HttpAuthScheme, HttpRequestLike, EntityBody, EntityBodyHasher, BodyBoundCredentials } from './scheme.js'
export { HttpAuthGuard, runLogout, verifiedCredentials } from './guard.js'
export type { GuardRequest, GuardOutcome, GuardAccepted, GuardRefusal, GuardAwaitingBody, HttpAuthGuardOptions } from './guard.js'
export { buildSchemes } from './build-schemes.js'
export type { SchemeName, DigestPluginOptions, BuiltSchemes } from './build-schemes.js'
export { RedisNonceStore, type RedisClientLike, type RedisConnectionOptions, type RedisNonceStoreOptions } from './redis-nonce-store.js'
