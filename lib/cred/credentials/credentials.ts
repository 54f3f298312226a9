import type { Interface } from '../interfaces.js'

/**
 * What every credentials object has: the credential interfaces it provides, most specific first. The portal picks
 * the checker from these. Share one frozen array per class (a static), so the portal can cache its choice.
 */
export interface Credentials {
  readonly provides: readonly Interface<unknown>[]
}

/** Credentials naming a user whose password can be checked against a plaintext the checker knows. */
export interface PasswordCheckable extends Credentials {
  readonly username: string
  /** True when `password` is the one these credentials prove. Constant time. */
  checkPassword (password: string): boolean
}
