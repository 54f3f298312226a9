import { IUsernameDigestHash, IUsernamePassword } from '../../cred/index.js'
import type { CheckerFactory } from '../factory.js'
import { defineOptions, text } from './options.js'
import { FILE_OPTIONS, given } from './shared.js'

const { options, values } = defineOptions({
  realm: text({ help: 'the realm whose lines check Basic logins', default: 'the file\'s only realm (required when it has several)', example: 'staff' }),
  ...FILE_OPTIONS
})

/** `htdigest:<file>`: an Apache htdigest file (user:realm:MD5 HA1). */
export const htdigestFactory: CheckerFactory = {
  authType: 'htdigest',
  argStringFormat: '<htdigest file>[;realm=…]',
  authHelp: `
An Apache htdigest file (user:realm:md5(user:realm:password) lines, as written by "htdigest" or
"fastify-cred passwd --htdigest"). Serves HTTP Digest with MD5 (the server's realm name must be the realm of the
lines, and its Digest algorithms MD5 or MD5-sess), and HTTP Basic.
  htdigest:/etc/app/users.htdigest`,
  credentialInterfaces: [IUsernameDigestHash, IUsernamePassword],
  options,
  async generateChecker (_argString, args) {
    const option = values(args)
    if (args.argument === '') args.fail('the file path is missing')
    const options = given({ realm: option.realm, checkInterval: option['check-interval'] })
    const { HtdigestChecker } = await import('../../checkers/htdigest.js')
    return new HtdigestChecker(args.argument, options)
  }
}
