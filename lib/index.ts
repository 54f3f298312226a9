/**
 * fastify-cred: Twisted's cred for Fastify. The default export is the Fastify plugin.
 *
 * The root holds what most apps import: the plugin (`cred`, also the default export) and `portalValidate` with their
 * option types, and the core a realm author writes against: `Portal`, `SimpleRealm`, interfaces, the credentials the
 * protocols make and checkers accept, `ANONYMOUS`, `NOOP_LOGOUT`, and the errors a realm or checker throws and a caller of
 * `portal.login` catches (`LoginFailed` and its subclasses that say who refused, `StoreUnavailable` for failing
 * closed, and their base `CredError`). The rest is one subpath per concept, each also importable on its own
 * (nothing of Fastify loads with `fastify-cred/cred`, nothing of the server with `fastify-cred/client`):
 * - `fastify-cred/cred`: the whole protocol-agnostic core (Digest's hash functions, constant-time comparisons,
 *   the throttle contract, `NOOP_LOGOUT`, …);
 * - `fastify-cred/errors`: every error class and `CredErrorCode`;
 * - `fastify-cred/checkers`, `/hashers`, `/http` (schemes, the guard, nonce stores), `/throttle`, `/strcred`, `/client`.
 *
 * Every entry point lists its names one by one (lib/index.ts, lib/exports/*.ts): a module's helpers stay internal
 * unless they appear there, and `test/package/exports.test.ts` fails when a list changes without the test being told.
 */

// The Fastify plugin.
export { cred, portalValidate } from './fastify/index.js'
export type { CredPluginOptions, CredTypes, CredAvatar, PortalValidateOptions, CredRefusal, CredRefusalBody, RefusalBodyOption } from './fastify/index.js'
export { cred as default } from './fastify/index.js'
// WebSocket sessions: the mind a WebSocket login's realm receives.
export { WebSocketMind } from './fastify/index.js'
export type { WebSocketCloseInfo, WebSocketData, WebSocketMindState, CredWebSocketOption } from './fastify/index.js'
// Login metrics through prom-client (the plugin's `metrics` option), built on the login events below.
export { credMetrics } from './fastify/index.js'
export type { CredMetrics, CredMetricsOptions, MetricsRegistry } from './fastify/index.js'
// Login events on node:diagnostics_channel: the channel names and what each carries.
export { CRED_CHANNELS } from './cred/index.js'
export type {
  LoginEventBase, LoginSucceededEvent, LoginFailedEvent, LoginFailureReason, LoginThrottledEvent, StoreUnavailableEvent, LogoutEvent
} from './cred/index.js'

// The core a realm author needs.
export {
  defineInterface, UsernamePassword, IUsernamePassword, UsernameHashedPassword, IUsernameHashedPassword, Anonymous,
  IAnonymous, DigestedCredentials, IUsernameDigestHash, BearerToken, IBearerToken, ClientCertificate,
  IClientCertificate, SshPublicKey, ISshPublicKey, ANONYMOUS, SimpleRealm, NOOP_LOGOUT, Portal, resultProvides
} from './cred/index.js'
export type {
  Interface, Provided, Credentials, PasswordCheckable, AvatarId, CredentialsChecker, CheckerSetup, PortalOptions,
  Realm, LoginResult, Logout, AvatarInterfaces, LoginResultFor, PortalLogin
} from './cred/index.js'

// The errors most often thrown (by realms and checkers) and caught (around `portal.login`).
export {
  CredError, LoginFailed, UnauthorizedLogin, UnhandledCredentials, LoginDenied, TooManyAttempts, StoreUnavailable
} from './cred/errors.js'

// Renamed in this release (InMemoryChecker → MemoryChecker, now under `fastify-cred/checkers`): the old root name
// stays until 1.0, so that code written for it keeps running.
import { MemoryChecker } from './checkers/memory.js'
import type { MemoryCheckerOptions } from './checkers/memory.js'
/** @deprecated Renamed `MemoryChecker`: import it from `fastify-cred/checkers`. This alias goes at 1.0. */
export const InMemoryChecker: typeof MemoryChecker = MemoryChecker
/** @deprecated Renamed `MemoryChecker`: import it from `fastify-cred/checkers`. This alias goes at 1.0. */
export type InMemoryChecker = MemoryChecker
/** @deprecated Renamed `MemoryCheckerOptions` (`fastify-cred/checkers`). This alias goes at 1.0. */
export type InMemoryCheckerOptions = MemoryCheckerOptions
