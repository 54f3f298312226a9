import { statSync } from 'node:fs'
import { ISshPublicKey } from '../../cred/index.js'
import type { CheckerFactory } from '../factory.js'
import { defineOptions } from './options.js'
import { FILE_OPTIONS, given } from './shared.js'

const { options, values } = defineOptions(FILE_OPTIONS)

/** `sshkey:<folder or file>`: SSH public keys in authorized_keys format (Twisted's `sshkey` type). */
export const sshkeyFactory: CheckerFactory = {
  authType: 'sshkey',
  argStringFormat: '<folder of per-user files | file with a user column>',
  authHelp: `
SSH public keys (ssh-ed25519, ssh-rsa with SHA-2 signatures, ecdsa-sha2-nistp*), for SSH public-key logins. A
folder holds one authorized_keys-format file per user, named as the user, read at every login; a file holds
"<user> <key type> <base64 key> [comment]" lines and is re-read when it changes. Deleting a line revokes the key.
Lines with key options (from=, command=) are skipped.
  sshkey:/etc/app/ssh-keys
  sshkey:/etc/app/authorized_keys`,
  credentialInterfaces: [ISshPublicKey],
  options,
  async generateChecker (_argString, args) {
    const option = values(args)
    const path = args.argument
    if (path === '') args.fail('the folder or file is missing')
    const checkInterval = option['check-interval']
    let isDirectory = false
    try { isDirectory = statSync(path).isDirectory() } catch {}
    const { SshKeyChecker } = await import('../../checkers/ssh-keys.js')
    return new SshKeyChecker(isDirectory ? { directory: path } : { file: path, ...given({ checkInterval }) })
  }
}
