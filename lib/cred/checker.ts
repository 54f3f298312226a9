import type { Credentials } from './credentials/credentials.js'
import type { Interface } from './interfaces.js'

/**
 * The avatar id of a user who did not authenticate. A unique symbol, so it can never collide with a user name
 * (not `''`, not `'anonymous'`, not `null`).
 */
export const ANONYMOUS: unique symbol = Symbol('fastify-cred.ANONYMOUS')

/** What a checker answers for good credentials: a user name, or `ANONYMOUS`. */
export type AvatarId = string | typeof ANONYMOUS

/**
 * Knows where passwords live (a file, a database, a directory) and decides whether credentials are good.
 * Answers the avatar id, or throws / rejects with `UnauthorizedLogin`. It may answer synchronously: the portal keeps
 * a synchronous login synchronous all the way through.
 */
export interface CredentialsChecker<C extends Credentials = Credentials> {
  /** The kinds of credentials this checker understands. */
  readonly credentialInterfaces: readonly Interface<C>[]
  requestAvatarId (credentials: C): AvatarId | PromiseLike<AvatarId>
}
