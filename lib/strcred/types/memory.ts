import { MemoryChecker } from '../../checkers/index.js'
import type { CheckerFactory } from '../factory.js'
import { defineOptions, secret, yesNo } from './options.js'

const { options, values } = defineOptions({
  password: secret({ help: 'the password of the one user the argument then names' }),
  'case-sensitive': yesNo({ help: 'whether user names must match in case (no: Alice is alice)', default: 'yes' })
})

/** `memory:user:pass[:user:pass…]`: Twisted's in-memory store, for development and tests. */
export const memoryFactory: CheckerFactory = {
  authType: 'memory',
  argStringFormat: 'user:pass[:user:pass…]',
  authHelp: `
Users and plaintext passwords given in the spec itself, as Twisted's "memory" type: for development, tests and
demos. Passwords cannot contain ":" (the separator); write ";;" for a ";". To keep a password out of the command
line and the process list, name one user and give the password as an option:
  memory:alice;password-env=ALICE_PASSWORD`,
  credentialInterfaces: MemoryChecker.credentialInterfaces,
  options,
  generateChecker (_argString, args) {
    const option = values(args)
    const fields = args.argument.split(':')
    const password = option.password
    const caseSensitive = option['case-sensitive'] ?? true
    let pairs: Array<[string, string]> = []
    if (password !== undefined) {
      if (fields.length !== 1 || fields[0] === '') args.fail('with the password option, the argument is one user name')
      pairs = [[fields[0] ?? '', password]]
    } else {
      if (fields.length < 2 || fields.length % 2 !== 0) args.fail('user names and passwords must come in pairs')
      for (let i = 0; i < fields.length; i += 2) pairs.push([fields[i] ?? '', fields[i + 1] ?? ''])
    }
    if (pairs.some(([user]) => user === '')) args.fail('a user name is empty')
    return new MemoryChecker(pairs, { caseSensitive })
  }
}
