/**
 * `fastify-cred/http`: HTTP authentication without a framework: the Basic, Digest and Bearer schemes, the guard that turns
 * a request into a login and every failure into an answer, and Digest's nonce stores (memory, Redis).
 *
 * @example
 * import { BasicScheme, HttpAuthGuard } from 'fastify-cred/http'
 */
export {
  parseBasic, formatBasic, BasicScheme, BearerScheme, parseBearer, verifiedCredentials, DigestScheme,
  userhashResolver, HttpAuthGuard, buildSchemes, MemoryNonceStore, RedisNonceStore, ClientCertScheme
} from '../http/index.js'
export type {
  BasicCredentials, BearerSchemeOptions, DigestSchemeOptions, UserhashResolver, UserhashResolverOptions,
  HttpAuthScheme, HttpRequestLike, EntityBody, EntityBodyHasher, BodyBoundCredentials, GuardRequest, GuardOutcome,
  GuardAccepted, GuardRefusal, GuardAwaitingBody, HttpAuthGuardOptions, SchemeName, DigestPluginOptions, BuiltSchemes,
  NonceStore, NonceClaim, MemoryNonceStoreOptions, RedisClientLike, RedisConnectionOptions, RedisNonceStoreOptions,
  ClientCertSchemeOptions, ForwardedCertOptions, ForwardedCertFormat, HttpRequestWithHeaders, ConnectionLike
} from '../http/index.js'
