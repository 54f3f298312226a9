import { constantTimeEqual } from '../constant-time.js'
import { defineInterface } from '../interfaces.js'
import type { Interface } from '../interfaces.js'
import type { PasswordCheckable } from './credentials.js'

/** A user name and the plaintext password the client sent (HTTP Basic, a POP3 `USER`/`PASS`, a login form). */
export interface IUsernamePassword extends PasswordCheckable {
  readonly password: string
}
/** The run-time token of `IUsernamePassword`: checkers list it in `credentialInterfaces` to say they check these credentials. */
export const IUsernamePassword = defineInterface<IUsernamePassword>('IUsernamePassword')

/**
 * Plaintext credentials. Checkers that store hashes verify `password` themselves; checkers that know the
 * plaintext call `checkPassword`, which compares in constant time.
 *
 * @example
 * import { UsernamePassword } from 'fastify-cred'
 * const creds = new UsernamePassword('alice', 'wonderland')
 * creds.checkPassword('wonderland') // true
 */
export class UsernamePassword implements IUsernamePassword {
  static readonly provides = Object.freeze([IUsernamePassword])
  readonly username: string
  readonly password: string

  constructor (username: string, password: string) {
    this.username = username
    this.password = password
  }

  /** The credential interfaces these credentials provide (the class's static `provides`): the portal picks the checker by them. */
  get provides (): readonly Interface<unknown>[] { return UsernamePassword.provides }

  checkPassword (password: string): boolean {
    return constantTimeEqual(this.password, password)
  }

  /** Keeps the password out of logs, `util.inspect` and `JSON.stringify`. */
  toJSON (): { username: string } { return { username: this.username } }
  [Symbol.for('nodejs.util.inspect.custom')] (): string { return `UsernamePassword { username: ${JSON.stringify(this.username)} }` }
}
