/**
 * fastify-cred: Twisted's cred for Fastify. The core (`Portal`, realms, checkers, credentials) works without
 * Fastify; the default export is the Fastify plugin.
 *
 * Every public name is listed here by name: a module's helpers stay internal unless they appear below
 * (`test/package/exports.test.ts` fails when the list changes without the test being told).
 */

// The core: interfaces, credentials, checkers' and realms' contracts, the Portal, errors.
export {
  CredError, LoginFailed, UnauthorizedLogin, StaleNonce, UnhandledCredentials, LoginDenied, NoAvatarInterface,
  StoreUnavailable, LoginTimeout, ContractViolation, TooManyAttempts, MalformedCredentials, EntityTooLarge, InvalidOption,
  MissingPeerDependency, ServerAuthenticationFailed, defineInterface, isOrExtends, constantTimeEqual,
  constantTimeEqualStrings, UsernamePassword, IUsernamePassword, UsernameHashedPassword, IUsernameHashedPassword,
  Anonymous, IAnonymous, DigestedCredentials, IUsernameDigestHash, DIGEST_ALGORITHMS, digestHash, digestHa1,
  digestResponse, ANONYMOUS, SimpleRealm, NOOP_LOGOUT, Portal, resultProvides
} from './cred/index.js'
export type {
  Interface, Provided, Credentials, PasswordCheckable, DigestAlgorithm, DigestQop, DigestFields, DigestResponseInput,
  AvatarId, CredentialsChecker, CheckerSetup, PortalOptions, LoginAttempt, LoginClient, LoginThrottle, Realm,
  LoginResult, Logout, AvatarInterfaces, LoginResultFor, PortalLogin
} from './cred/index.js'

// User stores.
export {
  InMemoryChecker, AllowAnonymousAccess, LdapChecker, escapeDnValue, escapeFilterValue, UnixChecker, SqlChecker,
  sqlFlag, openSqlDatabase, quoteIdentifier, DjangoChecker, HtpasswdChecker, HtdigestChecker, CachingChecker
} from './checkers/index.js'
export type {
  InMemoryCheckerOptions, LdapCheckerOptions, LdapEntry, LdapSearchOptions, UnixCheckerOptions, SqlCheckerOptions,
  SqlDatabase, SqlDialect, SqlRow, SqlConnectionOptions, DjangoCheckerOptions, DjangoUser, HtpasswdCheckerOptions,
  HtdigestCheckerOptions, CachingCheckerOptions, ReloadingChecker, WatchedFileOptions
} from './checkers/index.js'

// Password hash formats.
export {
  HTPASSWD_HASHERS, identifyHasher, verifyPassword, bcryptHasher, bcryptCost, apr1Hasher, sha1Hasher, desCryptHasher,
  ShaCryptHasher, sha256CryptHasher, sha512CryptHasher, plainHasher, HashWorkerPool, hashWorkers, DJANGO_HASHERS,
  DJANGO_PBKDF2_ITERATIONS, findDjangoHasher, identifyDjangoHasherName, djangoPbkdf2Sha256, djangoPbkdf2Sha1,
  djangoArgon2, djangoBcryptSha256, djangoBcryptPlain, djangoScrypt, djangoSaltedMd5, djangoSaltedSha1,
  djangoUnsaltedMd5, djangoUnsaltedSha1, djangoCrypt
} from './hashers/index.js'
export type { PasswordHasher } from './hashers/hasher.js'

// HTTP without a framework: schemes, the guard, nonce stores.
export {
  parseBasic, formatBasic, BasicScheme, DigestScheme, userhashResolver, HttpAuthGuard, buildSchemes,
  MemoryNonceStore, RedisNonceStore
} from './http/index.js'
export type {
  BasicCredentials, DigestSchemeOptions, UserhashResolver, UserhashResolverOptions, HttpAuthScheme, HttpRequestLike,
  EntityBody, EntityBodyHasher, BodyBoundCredentials, GuardRequest, GuardOutcome, GuardAccepted, GuardRefusal,
  GuardAwaitingBody, HttpAuthGuardOptions, SchemeName, DigestPluginOptions, NonceStore, NonceClaim,
  MemoryNonceStoreOptions, RedisClientLike, RedisConnectionOptions, RedisNonceStoreOptions
} from './http/index.js'

// Brute-force throttling, for every protocol through the Portal.
export { MemoryThrottle, RedisThrottle, addressGroup } from './throttle/index.js'
export type {
  MemoryThrottleOptions, RedisThrottleOptions, RedisThrottleClient, RedisThrottleConnection, ThrottleOptions
} from './throttle/index.js'

// Checkers from one-line specs (Twisted's strcred): `file:/etc/app/users.htpasswd`, CRED_AUTH, third-party types.
export {
  makeChecker, resolveCheckers, checkersFromEnvironment, parseAuthEnvironment, closeCheckers, loadCheckerFactories,
  discoverCheckerFactories, CheckerFactoryRegistry, builtinCheckerFactories, formatAuthHelp, formatAuthTypeHelp,
  parseSpec, escapeSpecValue, parseDuration, parseBoolean, parsePositiveInteger
} from './strcred/index.js'
export type {
  CheckerFactory, CheckerFactoryOption, CheckerArguments, FactorySource, MakeCheckerOptions, DiscoveredFactory,
  ParsedSpec
} from './strcred/index.js'

// The Fastify plugin.
export { cred, portalValidate } from './fastify/index.js'
export type { CredPluginOptions, CredTypes, CredAvatar, PortalValidateOptions } from './fastify/index.js'
export { cred as default } from './fastify/index.js'

// The client.
export { credFetch } from './client/index.js'
export type { CredFetch, CredFetchOptions, FetchLike, MutualAuthentication } from './client/index.js'
