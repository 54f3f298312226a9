import { constantTimeEqual } from '../constant-time.js'
import { defineInterface } from '../interfaces.js'
import type { Interface } from '../interfaces.js'
import type { PasswordCheckable } from './credentials.js'

/**
 * A user name and a value the client derived from its password (APOP's `md5(challenge + password)`, a CRAM
 * response). Only a checker that knows the plaintext can verify it, through `checkPassword`.
 */
export interface IUsernameHashedPassword extends PasswordCheckable {}
/** The run-time token of `IUsernameHashedPassword`: checkers list it in `credentialInterfaces` to say they check these credentials. */
export const IUsernameHashedPassword = defineInterface<IUsernameHashedPassword>('IUsernameHashedPassword')

/**
 * Hashed credentials: `checkPassword(plain)` applies `hash` to the plaintext the checker knows and compares the
 * outcome with what the client sent, in constant time.
 *
 * @example
 * import { createHash } from 'node:crypto'
 * import { UsernameHashedPassword } from 'fastify-cred'
 * const challenge = '<1896.697170952@dbc.mtview.ca.us>'
 * const apop = (pw: string) => createHash('md5').update(challenge + pw).digest('hex')
 * const creds = new UsernameHashedPassword('mrose', 'c4c9334bac560ecc979e58001b3e22fb', apop)
 * creds.checkPassword('tanstaaf') // true (RFC 1939's example)
 */
export class UsernameHashedPassword implements IUsernameHashedPassword {
  static readonly provides = Object.freeze([IUsernameHashedPassword])
  readonly username: string
  readonly hashed: string
  readonly #hash: (password: string) => string

  constructor (username: string, hashed: string, hash: (password: string) => string = (password) => password) {
    this.username = username
    this.hashed = hashed
    this.#hash = hash
  }

  /** The credential interfaces these credentials provide (the class's static `provides`): the portal picks the checker by them. */
  get provides (): readonly Interface<unknown>[] { return UsernameHashedPassword.provides }

  checkPassword (password: string): boolean {
    return constantTimeEqual(this.#hash(password), this.hashed)
  }
}
