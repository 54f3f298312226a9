/**
 * One password hash format: how a user store's encoded password is recognised, verified and (where a tool of ours
 * writes it) produced. Apache's htpasswd formats and Django's hashers are each one module exporting one of these.
 *
 * Rules every format keeps:
 * - `verify` never blocks the event loop for a costly format (bcrypt, scrypt, argon2, PBKDF2, SHA-crypt): it uses
 *   a native asynchronous call or the libuv threadpool, never a `*Sync` call.
 * - `verify` answers `false` for a wrong password and for an encoding it cannot read; it never throws for either,
 *   and it compares in constant time.
 * - `decoy(like)` gives a valid encoding of a random password with the same cost as `like`, so that an unknown user
 *   costs what a wrong password costs.
 */
export interface PasswordHasher {
  /** Stable name: `'bcrypt'`, `'apr1'`, `'sha1'`, `'crypt'`, `'sha256-crypt'`, `'plain'`, `'pbkdf2_sha256'`, … */
  readonly name: string
  /** True when `encoded` is written in this format (a cheap look at its shape, no hashing). */
  identifies (encoded: string): boolean
  /** True when `plain` is the password `encoded` stands for. */
  verify (plain: string, encoded: string): Promise<boolean>
  /** A valid encoding of a random secret at the cost of `like` (or the format's default cost). */
  decoy (like?: string): Promise<string>
  /** Encodes `plain`, where a tool of ours writes this format. */
  hash? (plain: string, options?: Readonly<Record<string, unknown>>): Promise<string>
  /**
   * Loads what `verify` needs beyond Node (a native package: `bcrypt`, `argon2`), so that a store can say at set-up
   * that it cannot check its users' hashes. Rejects with `MissingPeerDependency` naming the package to install.
   * Formats that need nothing leave it out.
   */
  prepare? (): Promise<void>
}
