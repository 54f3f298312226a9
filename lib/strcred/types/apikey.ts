import { IBearerToken } from '../../cred/index.js'
import type { CheckerFactory } from '../factory.js'
import { defineOptions } from './options.js'
import { FILE_OPTIONS, given } from './shared.js'

const { options, values } = defineOptions(FILE_OPTIONS)

/** `apikey:<key file>`: opaque API keys, stored as their SHA-256. */
export const apikeyFactory: CheckerFactory = {
  authType: 'apikey',
  argStringFormat: '<API key file>',
  authHelp: `
Opaque API keys as bearer tokens (serve --scheme bearer), made by "fastify-cred apikey create <file> <user>", which
prints each key once: the file keeps only the key's public prefix, its SHA-256 and the user. Revoking a key is
removing its line ("fastify-cred apikey revoke <file> <prefix>"): the file is re-read when it changes.
  apikey:/etc/app/api-keys`,
  credentialInterfaces: [IBearerToken],
  options,
  async generateChecker (_argString, args) {
    const option = values(args)
    if (args.argument === '') args.fail('the file path is missing')
    const { ApiKeyChecker } = await import('../../checkers/api-key.js')
    return new ApiKeyChecker(args.argument, given({ checkInterval: option['check-interval'] }))
  }
}
