import type { CheckerFactory } from '../factory.js'
import { count, defineOptions, text, yesNo } from './options.js'
import { PASSWORD_INTERFACES, given, noArgument } from './shared.js'

const { options, values } = defineOptions({
  service: text({ help: 'the PAM service, a file in /etc/pam.d', default: 'login', example: 'fastify-cred' }),
  'max-concurrent': count({ help: 'PAM calls at once', default: '2' }),
  'allow-nologin': yesNo({ help: 'let in accounts whose shell is nologin or false', default: 'no' }),
  'allow-root': yesNo({ help: 'let in root and other uid-0 accounts', default: 'no' })
})

/** `unix`: the accounts of this machine, through PAM. */
export const unixFactory: CheckerFactory = {
  authType: 'unix',
  argStringFormat: '(no argument)',
  authHelp: `
The accounts of this machine, checked through PAM (the optional node-linux-pam binding), as Twisted's "unix" type.
The server usually has to run as root for PAM to read other users' passwords. A wrong password costs PAM's delay
(2-3 s), during which a login slot is held.
  unix
  unix;service=fastify-cred;cache=1m`,
  credentialInterfaces: PASSWORD_INTERFACES,
  options,
  async generateChecker (_argString, args) {
    const option = values(args)
    noArgument(args)
    const options = given({
      service: option.service,
      maxConcurrent: option['max-concurrent'],
      allowNoLoginShell: option['allow-nologin'],
      allowRoot: option['allow-root']
    })
    const { UnixChecker } = await import('../../checkers/unix.js')
    return new UnixChecker(options)
  }
}
