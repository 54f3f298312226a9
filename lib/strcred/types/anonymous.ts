import { AnonymousChecker } from '../../checkers/index.js'
import { IAnonymous } from '../../cred/index.js'
import type { CheckerFactory } from '../factory.js'
import { noArgument } from './shared.js'

/** `anonymous`: lets unauthenticated requests in as the `ANONYMOUS` avatar id. */
export const anonymousFactory: CheckerFactory = {
  authType: 'anonymous',
  argStringFormat: '(no argument)',
  authHelp: `
Lets requests without credentials in, as the ANONYMOUS avatar id (the realm decides what an anonymous user may do).
Combine it with a store: --auth anonymous --auth file:/etc/app/users.htpasswd`,
  credentialInterfaces: [IAnonymous],
  options: [],
  generateChecker (_argString, args) {
    noArgument(args)
    return new AnonymousChecker()
  }
}
