/**
 * `fastify-cred/cred`: the protocol-agnostic core, whole, without loading Fastify, HTTP or any store: interfaces,
 * credentials (Digest's hash functions included), the checker and realm contracts, the Portal and the throttle
 * contract, and the login events' channel names (`CRED_CHANNELS`) and payloads. For a protocol other than HTTP, or
 * a checker or realm published on its own. Errors: `fastify-cred/errors`.
 *
 * @example
 * import { Portal, SimpleRealm, UsernamePassword, defineInterface } from 'fastify-cred/cred'
 */
export {
  defineInterface, isOrExtends, constantTimeEqual, constantTimeEqualStrings, UsernamePassword, IUsernamePassword,
  UsernameHashedPassword, IUsernameHashedPassword, Anonymous, IAnonymous, BearerToken, IBearerToken,
  DigestedCredentials, IUsernameDigestHash, DIGEST_ALGORITHMS, digestHash, digestHa1, digestResponse, ANONYMOUS,
  SimpleRealm, NOOP_LOGOUT, Portal, resultProvides, ClientCertificate, IClientCertificate, SshPublicKey, ISshPublicKey,
  CRED_CHANNELS
} from '../cred/index.js'
export type {
  Interface, Provided, Credentials, PasswordCheckable, TokenClaims, DigestAlgorithm, DigestQop, DigestFields,
  DigestResponseInput, AvatarId, CredentialsChecker, CheckerSetup, PortalOptions, LoginAttempt, LoginClient,
  LoginThrottle, Realm, LoginResult, Logout, AvatarInterfaces, LoginResultFor, PortalLogin, CertificateAltNames,
  CertificateVerifier, LoginEventBase, LoginSucceededEvent, LoginFailedEvent, LoginFailureReason, LoginThrottledEvent,
  StoreUnavailableEvent, LogoutEvent
} from '../cred/index.js'
