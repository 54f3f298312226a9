import { defineInterface } from '../interfaces.js'
import type { Interface } from '../interfaces.js'
import type { Credentials } from './credentials.js'

/** No credentials at all: what a protocol logs in with when the client did not say who it is. */
export interface IAnonymous extends Credentials {}
/** The run-time token of `IAnonymous`: checkers list it in `credentialInterfaces` to say they check these credentials. */
export const IAnonymous = defineInterface<IAnonymous>('IAnonymous')

/**
 * Anonymous credentials. A portal with `AnonymousChecker` registered turns them into the `ANONYMOUS` avatar id;
 * without one they are `UnhandledCredentials`.
 *
 * @example
 * import { Anonymous } from 'fastify-cred'
 * await portal.login(new Anonymous(), null, IUser)
 */
export class Anonymous implements IAnonymous {
  static readonly provides = Object.freeze([IAnonymous])
  /** The credential interfaces these credentials provide (the class's static `provides`): the portal picks the checker by them. */
  get provides (): readonly Interface<unknown>[] { return Anonymous.provides }
}
