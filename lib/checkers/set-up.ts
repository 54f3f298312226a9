import { InvalidOption, MissingPeerDependency } from '../cred/index.js'
import type { CredError } from '../cred/index.js'
import type { PasswordHasher } from '../hashers/hasher.js'

/**
 * `err`, met while a store prepared itself, as the set-up error it is, its message led by `context` (which store,
 * which lines): a missing package stays a `MissingPeerDependency`; anything else (a decoy that cannot be made)
 * becomes an `InvalidOption`.
 */
export function setUpError (err: unknown, context: string): CredError {
  const message = `${context}: ${err instanceof Error ? err.message : String(err)}`
  return err instanceof MissingPeerDependency ? new MissingPeerDependency(message, { cause: err }) : new InvalidOption(message, { cause: err })
}

/**
 * Prepares each hash format a store holds (`PasswordHasher.prepare`: loads its native package), one at a time.
 *
 * @param formats Each format, with where the store holds it, for the message: `'line 3 holds a bcrypt hash'`.
 * @throws MissingPeerDependency led by the store's name and where the format is held.
 */
export async function prepareFormats (store: string, formats: ReadonlyMap<PasswordHasher, string>): Promise<void> {
  for (const [hasher, where] of formats) {
    try {
      await hasher.prepare?.()
    } catch (err) {
      throw setUpError(err, `${store}: ${where}`)
    }
  }
}
