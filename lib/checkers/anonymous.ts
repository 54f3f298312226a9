import { ANONYMOUS, IAnonymous } from '../cred/index.js'
import type { CredentialsChecker } from '../cred/index.js'

/**
 * Lets anonymous credentials in, as the `ANONYMOUS` avatar id (Twisted's `AllowAnonymousAccess`). Register it to
 * make unauthenticated requests reach the realm (which decides what an anonymous user may do) instead of being
 * refused.
 *
 * @example
 * import { Portal } from 'fastify-cred'
 * import { AnonymousChecker, MemoryChecker } from 'fastify-cred/checkers'
 * const portal = new Portal(realm, [new MemoryChecker({ alice: 'pw' }), new AnonymousChecker()])
 */
export class AnonymousChecker implements CredentialsChecker<IAnonymous> {
  readonly credentialInterfaces = [IAnonymous] as const

  requestAvatarId (): typeof ANONYMOUS {
    return ANONYMOUS
  }
}
