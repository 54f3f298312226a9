import { IUsernamePassword, InvalidOption, UnauthorizedLogin } from '../cred/index.js'
import type { CredentialsChecker, Interface } from '../cred/index.js'
import type { PasswordHasher } from '../hashers/hasher.js'
import { openSqlDatabase } from './sql-database.js'
import type { SqlConnectionOptions, SqlDatabase, SqlDialect, SqlRow } from './sql-database.js'

/** What a SQL checker needs to know about its table. */
export interface SqlCheckerOptions extends SqlConnectionOptions {
  /** A connection string or SQLite file path (see `openSqlDatabase`), or a `SqlDatabase` of your own. */
  database: string | SqlDatabase
  /**
   * One parameterised query, its only parameter the user name (`$1` on PostgreSQL, `?` on MySQL and SQLite). It
   * answers the stored hash in a column named `password`; optionally `active` (a false-ish value refuses the user,
   * after the password was checked) and `avatar_id` (the avatar id to answer, e.g. the stored spelling of the name;
   * default: the name the client sent). No row, or more than one, is an unknown user.
   */
  query: string
  /** The hash formats the table may hold. A hash that none of them identifies never verifies. */
  hashers: readonly PasswordHasher[]
  /**
   * A stored hash like the table's (any user's `password` value): unknown users, unusable passwords and unknown
   * formats cost one verification of a random password at that format and cost, as a wrong password does. Default:
   * the first hasher's own decoy.
   */
  decoy?: string
}

/** Everything an unknown user, an unusable hash and a wrong password have in common, for the client. */
const REFUSED = 'Invalid user name or password'

/**
 * A database value read as a boolean flag: PostgreSQL's `true`, MySQL's and SQLite's `1`, `'t'`, `'1'`. Anything
 * else, `null` included, is false (an unreadable active flag refuses the user).
 *
 * @example
 * sqlFlag(1) // true
 * sqlFlag(null) // false
 */
export function sqlFlag (value: unknown): boolean {
  if (typeof value === 'boolean') return value
  if (typeof value === 'number') return value !== 0
  if (typeof value === 'bigint') return value !== 0n
  if (typeof value === 'string') return ['1', 't', 'true', 'y', 'yes'].includes(value.toLowerCase())
  if (value instanceof Uint8Array) return value.length > 0 && value.some((byte) => byte !== 0)
  return false
}

/**
 * Checks user names and passwords against any SQL table: one parameterised query returns the stored hash (and
 * optionally an active flag) for a name, and the hash is verified with one of the given formats. Handles HTTP Basic
 * (`IUsernamePassword`); Digest needs the plaintext or an HA1, which a table of one-way hashes does not hold.
 *
 * Like Django's `ModelBackend`: an unknown user costs one verification of a decoy (no timing oracle), the hash is
 * checked before the active flag, and every refusal is the same `UnauthorizedLogin`. A database that cannot be
 * reached or does not answer within `timeout` gives `StoreUnavailable` (HTTP 503), never a refusal.
 *
 * @example
 * import { SqlChecker, bcryptHasher } from 'fastify-cred'
 * const checker = new SqlChecker({
 *   database: 'postgres://app:secret@127.0.0.1:5432/site',
 *   query: 'SELECT pw_hash AS password, enabled AS active FROM accounts WHERE login = $1',
 *   hashers: [bcryptHasher]
 * })
 * // app.register(cred, { realm, checkers: [checker], ... }); app.addHook('onClose', () => checker.close())
 */
export class SqlChecker implements CredentialsChecker<IUsernamePassword> {
  static readonly credentialInterfaces: readonly Interface<IUsernamePassword>[] = Object.freeze([IUsernamePassword])
  readonly credentialInterfaces: readonly Interface<IUsernamePassword>[] = SqlChecker.credentialInterfaces
  /** The database the checker reads (a pool, opened on first use). */
  readonly database: SqlDatabase
  readonly #query: string
  readonly #hashers: readonly PasswordHasher[]
  readonly #decoyLike: string | undefined
  #decoy: Promise<{ hasher: PasswordHasher, encoded: string }> | undefined

  constructor (options: SqlCheckerOptions) {
    const name = new.target.name
    if (typeof options !== 'object' || options === null) throw new InvalidOption(`${name} needs options: { database, query, hashers }`)
    const { database, query, hashers, decoy } = options
    if (typeof query !== 'string' || query.trim() === '') throw new InvalidOption(`${name}: \`query\` must be a SQL query with one parameter, the user name`)
    if (!Array.isArray(hashers) || hashers.length === 0 || !hashers.every(isHasher)) {
      throw new InvalidOption(`${name}: \`hashers\` must list at least one password format (a PasswordHasher)`)
    }
    if (decoy !== undefined && (typeof decoy !== 'string' || this.hasherFor(decoy, hashers) === undefined)) {
      throw new InvalidOption(`${name}: \`decoy\` must be a stored hash in one of the given formats (${hashers.map((h) => h.name).join(', ')})`)
    }
    this.database = typeof database === 'string' ? openSqlDatabase(database, options) : checkDatabase(database, name)
    this.#query = query
    this.#hashers = Object.freeze([...hashers])
    this.#decoyLike = decoy
  }

  /** The dialect of the database: which placeholders and identifier quotes its SQL takes. */
  get dialect (): SqlDialect { return this.database.dialect }

  async requestAvatarId (credentials: IUsernamePassword): Promise<string> {
    const rows = await this.database.query(this.#query, [credentials.username])
    // More than one row (e-mail addresses are not unique in Django) identifies nobody: refuse, as for no row.
    const row: SqlRow | undefined = rows.length === 1 ? rows[0] : undefined
    const encoded = row?.password
    const hasher = typeof encoded === 'string' ? this.hasherFor(encoded, this.#hashers) : undefined
    let matched = false
    if (hasher === undefined || typeof encoded !== 'string') await this.#verifyDecoy(credentials.password)
    else matched = await hasher.verify(credentials.password, encoded)
    // As Django's ModelBackend: the password first, then the flag, and the same refusal for both.
    if (!matched || row === undefined || ('active' in row && !sqlFlag(row.active))) throw new UnauthorizedLogin(REFUSED)
    const avatarId = row.avatar_id
    return typeof avatarId === 'string' || typeof avatarId === 'number' || typeof avatarId === 'bigint' ? String(avatarId) : credentials.username
  }

  /** Closes the database's connections (call it from the app's `onClose`). */
  async close (): Promise<void> {
    await this.database.close()
  }

  /**
   * The format of a stored hash among `hashers`, or undefined. The first that `identifies` it; subclasses may apply
   * their system's own rule (Django's `identify_hasher`).
   */
  protected hasherFor (encoded: string, hashers: readonly PasswordHasher[]): PasswordHasher | undefined {
    return hashers.find((hasher) => hasher.identifies(encoded))
  }

  /** One verification at the cost of a real one, whose answer is thrown away. */
  async #verifyDecoy (password: string): Promise<void> {
    this.#decoy ??= this.#makeDecoy().catch((err: unknown) => { this.#decoy = undefined; throw err })
    const { hasher, encoded } = await this.#decoy
    await hasher.verify(password, encoded)
  }

  async #makeDecoy (): Promise<{ hasher: PasswordHasher, encoded: string }> {
    const like = this.#decoyLike
    const hasher = (like === undefined ? undefined : this.hasherFor(like, this.#hashers)) ?? this.#hashers[0] as PasswordHasher
    return { hasher, encoded: await hasher.decoy(like) }
  }
}

function isHasher (value: unknown): value is PasswordHasher {
  const h = value as Partial<PasswordHasher> | null
  return typeof h === 'object' && h !== null && typeof h.name === 'string' && typeof h.identifies === 'function' &&
    typeof h.verify === 'function' && typeof h.decoy === 'function'
}

function checkDatabase (database: SqlDatabase, name: string): SqlDatabase {
  const d = database as Partial<SqlDatabase> | null
  if (typeof d !== 'object' || d === null || typeof d.query !== 'function' || typeof d.close !== 'function' ||
    !['sqlite', 'postgres', 'mysql'].includes(d.dialect as string)) {
    throw new InvalidOption(`${name}: \`database\` must be a connection string, a SQLite file path or a SqlDatabase`)
  }
  return database
}
