import { IClientCertificate } from '../../cred/index.js'
import type { CheckerFactory } from '../factory.js'
import { defineOptions, text } from './options.js'
import { FILE_OPTIONS, given } from './shared.js'

const { options, values } = defineOptions({
  pins: text({ help: 'with fingerprint: the file of "<SHA-256 fingerprint> <avatar id>" lines', required: 'with fingerprint', example: '/etc/app/client-pins' }),
  ...FILE_OPTIONS
})

const IDENTITIES = ['cn', 'email', 'dns', 'uri', 'fingerprint'] as const

/** `cert:<cn|email|dns|uri|fingerprint>`: client certificates (mutual TLS), by what names the user. */
export const certFactory: CheckerFactory = {
  authType: 'cert',
  argStringFormat: 'cn|email|dns|uri|fingerprint[;pins=<file>]',
  authHelp: `
Client certificates (mutual TLS): maps a certificate whose chain the TLS handshake (or a trusted TLS proxy)
verified to a user, by its subject CN, by its email, DNS or URI subject alternative name (exactly one), or by its
SHA-256 fingerprint listed in a pin file (re-read when it changes: deleting a line revokes that certificate). Serves
the client-cert scheme (ClientCertScheme), not passwords.
  cert:cn
  cert:email
  cert:fingerprint;pins=/etc/app/client-pins`,
  credentialInterfaces: [IClientCertificate],
  options,
  async generateChecker (_argString, args) {
    const option = values(args)
    const by = args.argument
    if (!(IDENTITIES as readonly string[]).includes(by)) args.fail(`name what identifies the user: ${IDENTITIES.join(', ')}`)
    const pins = option.pins
    if (by === 'fingerprint' && (pins === undefined || pins === '')) args.fail('fingerprint needs pins=<file>')
    if (by !== 'fingerprint' && pins !== undefined) args.fail('pins is read only with fingerprint')
    const { ClientCertChecker } = await import('../../checkers/client-cert.js')
    return new ClientCertChecker({ by: by as typeof IDENTITIES[number], ...given({ pins, checkInterval: option['check-interval'] }) })
  }
}
