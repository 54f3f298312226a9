/**
 * `fastify-cred/errors`: every error class, one per `code`, and `CredErrorCode`, the union of those codes.
 *
 * @example
 * import { StoreUnavailable } from 'fastify-cred/errors'
 * import type { CredErrorCode } from 'fastify-cred/errors'
 */
export {
  CredError, LoginFailed, UnauthorizedLogin, StaleNonce, UnhandledCredentials, TooManyAttempts, LoginDenied,
  NoAvatarInterface, StoreUnavailable, EntityTooLarge, LoginTimeout, ContractViolation, MalformedCredentials,
  InvalidOption, MissingPeerDependency, ServerAuthenticationFailed, InternalError, ConnectionClosed, ValidPublicKey
} from '../cred/errors.js'
export type { CredErrorCode } from '../cred/errors.js'
