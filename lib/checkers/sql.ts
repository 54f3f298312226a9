import { IUsernamePassword, InvalidOption, StoreUnavailable, UnauthorizedLogin, withinDeadline } from '../cred/index.js'
import type { CredentialsChecker, Interface } from '../cred/index.js'
import type { PasswordHasher } from '../hashers/hasher.js'
import { exactNameKey, mysqlNameKey } from './name-keys.js'
import { prepareFormats, setUpError } from './set-up.js'
import { openSqlDatabase } from './sql-database.js'
import type { SqlConnectionOptions, SqlDatabase, SqlDialect, SqlRow } from './sql-database.js'

/** What a SQL checker needs to know about its table. */
export interface SqlCheckerOptions extends SqlConnectionOptions {
  /**
   * A connection string or SQLite file path (see `openSqlDatabase`: the checker opens it, and `close()` closes it),
   * or a `SqlDatabase` of your own (yours to close: `close()` leaves it open).
   */
  database: string | SqlDatabase
  /**
   * One parameterised query, its only parameter the user name (`$1` on PostgreSQL, `?` on MySQL and SQLite). It
   * answers the stored hash in a column named `password`; optionally `active` (a false-ish value refuses the user,
   * after the password was checked) and `avatar_id` (the avatar id to answer: select the stored spelling of the name,
   * so that one user is one avatar however the name was typed; without it, the name as `throttleKey` folds it).
   * No row, or more than one, is an unknown user.
   */
  query: string
  /** The hash formats the table may hold. A hash that none of them identifies never verifies. */
  hashers: readonly PasswordHasher[]
  /**
   * A stored hash like the table's (any user's `password` value): unknown users, unusable passwords and unknown
   * formats cost one verification of a random password at that format and cost, as a wrong password does. Default:
   * the format and cost most of the hashes `decoyQuery` answers have; else the first hasher's own decoy.
   */
  decoy?: string
  /**
   * A query without parameters answering stored hashes in a column named `password`, e.g.
   * `SELECT password FROM users LIMIT 1000`: when `decoy` is not given, the decoy takes the format and cost (bcrypt
   * cost, PBKDF2 iterations, argon2 and scrypt parameters, SHA-crypt rounds) most of them have, read once, on the
   * first login. `DjangoChecker` sets it for its table.
   */
  decoyQuery?: string
  /**
   * How the query matches names, for the throttle (see `CredentialsChecker.throttleKey`), and the avatar id when the
   * query answers no `avatar_id`. Default: by dialect, as `=` compares on Django's schema: MySQL/MariaDB's default
   * collations fold case and accents and ignore trailing spaces; PostgreSQL and SQLite compare exactly.
   */
  throttleKey?: (username: string) => string
}

/** How long `prepare()` waits for the table's hashes: enough for a database that answers, short for one that hangs. */
const PREPARE_READ_BUDGET = 1000

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
 * import { SqlChecker } from 'fastify-cred/checkers'
 * import { bcryptHasher } from 'fastify-cred/hashers'
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
  readonly #decoyQuery: string | undefined
  readonly #throttleKey: (username: string) => string
  /** True when the database was opened here (from a string): `close()` closes it. */
  readonly #ownsDatabase: boolean
  #decoy: Promise<{ hasher: PasswordHasher, encoded: string }> | undefined
  #sampled: Promise<TableSample> | undefined
  #closing: Promise<void> | undefined

  constructor (options: SqlCheckerOptions) {
    const name = new.target.name
    if (typeof options !== 'object' || options === null) throw new InvalidOption(`${name} needs options: { database, query, hashers }`)
    const { database, query, hashers, decoy, decoyQuery, throttleKey } = options
    if (typeof query !== 'string' || query.trim() === '') throw new InvalidOption(`${name}: \`query\` must be a SQL query with one parameter, the user name`)
    if (!Array.isArray(hashers) || hashers.length === 0 || !hashers.every(isHasher)) {
      throw new InvalidOption(`${name}: \`hashers\` must list at least one password format (a PasswordHasher)`)
    }
    if (decoy !== undefined && (typeof decoy !== 'string' || this.hasherFor(decoy, hashers) === undefined)) {
      throw new InvalidOption(`${name}: \`decoy\` must be a stored hash in one of the given formats (${hashers.map((h) => h.name).join(', ')})`)
    }
    if (decoyQuery !== undefined && (typeof decoyQuery !== 'string' || decoyQuery.trim() === '')) throw new InvalidOption(`${name}: \`decoyQuery\` must be a SQL query answering stored hashes as "password"`)
    if (throttleKey !== undefined && typeof throttleKey !== 'function') throw new InvalidOption(`${name}: \`throttleKey\` must be a function from a user name to its key`)
    this.database = typeof database === 'string' ? openSqlDatabase(database, options) : checkDatabase(database, name)
    this.#ownsDatabase = typeof database === 'string'
    this.#query = query
    this.#hashers = Object.freeze([...hashers])
    this.#decoyLike = decoy
    this.#decoyQuery = decoyQuery
    this.#throttleKey = throttleKey ?? (this.database.dialect === 'mysql' ? mysqlNameKey : exactNameKey)
  }

  /**
   * The key the table knows `username` by: on MySQL/MariaDB (default collations) `ÀLICE ` and `alice` are one user,
   * so they are one count for the throttle; on PostgreSQL and SQLite the name itself.
   *
   * @example
   * new DjangoChecker({ database: 'mysql://…' }).throttleKey('Àlice ') // 'alice'
   */
  throttleKey (username: string): string {
    return this.#throttleKey(username)
  }

  /**
   * The hash unknown users (and unusable or unreadable hashes) are checked against: a random secret's, in the format
   * and at the cost of `decoy`, or of most of `decoyQuery`'s hashes, or the first hasher's default. Made once.
   *
   * @throws StoreUnavailable when `decoyQuery` cannot be read.
   * @example
   * await checker.decoy() // 'pbkdf2_sha256$260000$…': an unknown user costs 260,000 PBKDF2 iterations
   */
  async decoy (): Promise<string> {
    this.#assertOpen()
    return (await this.#decoyMade()).encoded
  }

  /** The dialect of the database: which placeholders and identifier quotes its SQL takes. */
  get dialect (): SqlDialect { return this.database.dialect }

  async requestAvatarId (credentials: IUsernamePassword): Promise<string> {
    this.#assertOpen()
    // The decoy is made at the first login, alongside it, so the first unknown user does not pay for making it.
    this.#decoyMade().catch(() => {})
    const rows = await this.query(this.#query, [credentials.username])
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
    if (typeof avatarId === 'string' || typeof avatarId === 'number' || typeof avatarId === 'bigint') return String(avatarId)
    // No stored spelling: the name as the table folds it, so `ALICE` and `alice ` are one avatar where they are one row.
    const key = this.#throttleKey(credentials.username)
    return key === '' ? credentials.username : key
  }

  /**
   * Proves the set-up can work before the first login: the database's driver is installed (and a SQLite file
   * exists), every hash format `decoyQuery` finds in the table can be verified here (argon2 hashes need the `argon2`
   * package), and the decoy is made. A database server that is down now is no set-up error: then the table is read,
   * and the decoy made, at the first login.
   *
   * @throws MissingPeerDependency naming the package to install; InvalidOption for a SQLite file that does not exist
   * or a decoy that cannot be made; StoreUnavailable once closed.
   * @example
   * await checker.prepare() // the plugin does this in register()
   */
  async prepare (): Promise<void> {
    this.#assertOpen()
    const name = this.constructor.name
    await this.database.prepare?.()
    let sample: TableSample | undefined
    try {
      // A database that hangs now must not hold up the start for its whole timeout: the read goes on in the
      // background, and the first login uses it.
      sample = await withinDeadline(this.#sample(), PREPARE_READ_BUDGET, () => new StoreUnavailable(`${name}: the table was not read within ${PREPARE_READ_BUDGET} ms`), { unref: true })
    } catch (err) {
      if (!(err instanceof StoreUnavailable)) throw err
      if (this.#decoyLike === undefined && this.#decoyQuery !== undefined) return // the decoy needs the table
    }
    if (sample !== undefined) await prepareFormats(name, new Map([...sample.formats].map(([hasher, count]) => [hasher, `the table holds ${count} ${hasher.name} hash${count === 1 ? '' : 'es'}`])))
    try {
      await this.#decoyMade()
    } catch (err) {
      if (!(err instanceof StoreUnavailable)) throw setUpError(err, `${name}: cannot make the decoy unknown users are checked against`)
    }
  }

  /**
   * Closes the database when the checker opened it (from a string); a `SqlDatabase` passed in is left open (its
   * owner closes it). Idempotent and final: afterwards every call rejects with `StoreUnavailable`.
   */
  async close (): Promise<void> {
    this.#closing ??= this.#ownsDatabase ? this.database.close() : Promise.resolve()
    await this.#closing
  }

  /** Runs `sql` on the database, or rejects with `StoreUnavailable` once the checker is closed. */
  protected async query (sql: string, params: readonly unknown[]): Promise<readonly SqlRow[]> {
    this.#assertOpen()
    return await this.database.query(sql, params)
  }

  #assertOpen (): void {
    if (this.#closing !== undefined) throw new StoreUnavailable(`${this.constructor.name} is closed`)
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
    const { hasher, encoded } = await this.#decoyMade()
    await hasher.verify(password, encoded)
  }

  async #decoyMade (): Promise<{ hasher: PasswordHasher, encoded: string }> {
    this.#decoy ??= this.#makeDecoy().catch((err: unknown) => { this.#decoy = undefined; throw err })
    return await this.#decoy
  }

  async #makeDecoy (): Promise<{ hasher: PasswordHasher, encoded: string }> {
    const like = this.#decoyLike ?? (await this.#sample()).dominant ?? this.defaultDecoy()
    const hasher = (like === undefined ? undefined : this.hasherFor(like, this.#hashers)) ?? this.#hashers[0] as PasswordHasher
    return { hasher, encoded: await hasher.decoy(like) }
  }

  /**
   * The model of the decoy when neither `decoy` is given nor `decoyQuery` finds a readable hash; undefined: the first
   * hasher's own default. (Django's checker answers its default hasher at Django's current cost.)
   */
  protected defaultDecoy (): string | undefined {
    return undefined
  }

  /** `decoyQuery`'s hashes, read once (again after a failure). */
  async #sample (): Promise<TableSample> {
    this.#sampled ??= this.#readSample().catch((err: unknown) => { this.#sampled = undefined; throw err })
    return await this.#sampled
  }

  /**
   * The formats among `decoyQuery`'s hashes, and a hash of the most common format and cost, as the file checkers
   * pick their decoys.
   */
  async #readSample (): Promise<TableSample> {
    const formats = new Map<PasswordHasher, number>()
    if (this.#decoyQuery === undefined) return { dominant: undefined, formats }
    const rows = await this.query(this.#decoyQuery, [])
    const counts = new Map<string, { count: number, like: string }>()
    let best: { count: number, like: string } | undefined
    for (const row of rows) {
      const encoded = row.password
      if (typeof encoded !== 'string') continue
      const hasher = this.hasherFor(encoded, this.#hashers)
      if (hasher === undefined) continue // unusable (`!…`) or a format not allowed: not what a user costs
      formats.set(hasher, (formats.get(hasher) ?? 0) + 1)
      const shape = `${hasher.name} ${costShape(encoded)}`
      const seen = counts.get(shape) ?? { count: 0, like: encoded }
      seen.count++
      counts.set(shape, seen)
      if (best === undefined || seen.count > best.count) best = seen
    }
    return { dominant: best?.like, formats }
  }
}

/** What `decoyQuery` found: the model of the decoy, and how many hashes of each format. */
interface TableSample {
  readonly dominant: string | undefined
  readonly formats: ReadonlyMap<PasswordHasher, number>
}

/**
 * What decides the cost of a stored hash, with salt and digest left out: bcrypt's cost, PBKDF2's iterations,
 * argon2's and scrypt's parameters, SHA-crypt's rounds. Hashes of one format and one shape cost the same.
 */
function costShape (encoded: string): string {
  const bcrypt = /\$2[aby]\$(\d\d)\$/.exec(encoded)
  if (bcrypt !== null) return `bcrypt ${bcrypt[1] as string}`
  const parts = encoded.split('$')
  if (/^pbkdf2_/.test(encoded)) return parts[1] ?? ''
  if (encoded.startsWith('argon2$')) return parts.slice(1, -2).join('$')
  if (encoded.startsWith('scrypt$')) return [parts[1], parts[3], parts[4]].join('$')
  const rounds = /^\$[56]\$(rounds=\d+)\$/.exec(encoded)
  if (rounds !== null) return rounds[1] as string
  return ''
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
