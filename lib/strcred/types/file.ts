import type { CheckerFactory } from '../factory.js'
import { defineOptions } from './options.js'
import { FILE_OPTIONS, PASSWORD_INTERFACES, given } from './shared.js'

const { options, values } = defineOptions(FILE_OPTIONS)

/** `file:<htpasswd file>`: an Apache htpasswd file, every format Apache writes. */
export const fileFactory: CheckerFactory = {
  authType: 'file',
  argStringFormat: '<htpasswd file>',
  authHelp: `
An Apache htpasswd file (user:hash lines, as written by "htpasswd" or "fastify-cred passwd"): bcrypt, $apr1$ MD5,
{SHA}, SHA-256/512-crypt, DES crypt. The file is re-read when it changes, so users can be added while the server
runs. Serves HTTP Basic (one-way hashes cannot verify a Digest response; use htdigest: for Digest).
  file:/etc/app/users.htpasswd
  file:/etc/app/users.htpasswd;cache=30s    (remember verified passwords: bcrypt costs ~50 ms per check)`,
  credentialInterfaces: PASSWORD_INTERFACES,
  options,
  async generateChecker (_argString, args) {
    const option = values(args)
    if (args.argument === '') args.fail('the file path is missing')
    const options = given({ checkInterval: option['check-interval'] })
    const { HtpasswdChecker } = await import('../../checkers/htpasswd.js')
    return new HtpasswdChecker(args.argument, options)
  }
}
