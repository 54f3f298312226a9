import { ANONYMOUS, IAnonymous } from '../cred/index.js'
import type { CredentialsChecker } from '../cred/index.js'

/**
 * Lets anonymous credentials in, as the `ANONYMOUS` avatar id. Register it to make unauthenticated requests reach
 * the realm (which decides what an anonymous user may do) instead of being refused.
 *
 * @example
 * import { Portal, AllowAnonymousAccess, InMemoryChecker } from 'fastify-cred'
 * const portal = new Portal(realm, [new InMemoryChecker({ alice: 'pw' }), new AllowAnonymousAccess()])
 */
export class AllowAnonymousAccess implements CredentialsChecker<IAnonymous> {
  readonly credentialInterfaces = [IAnonymous] as const

  requestAvatarId (): typeof ANONYMOUS {
    return ANONYMOUS
  }
}
