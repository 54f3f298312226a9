import { InvalidOption } from '../cred/index.js'
import { DJANGO_HASHERS, DJANGO_PBKDF2_ITERATIONS, findDjangoHasher } from '../hashers/django.js'
import type { PasswordHasher } from '../hashers/hasher.js'
import { dialectOf, placeholder, quoteIdentifier } from './sql-database.js'
import type { SqlConnectionOptions, SqlDatabase, SqlDialect, SqlRow } from './sql-database.js'
import { SqlChecker, sqlFlag } from './sql.js'

/** Where Django keeps its users, and how your project changed it. */
export interface DjangoCheckerOptions extends SqlConnectionOptions {
  /**
   * The database: a SQLite file path (Django's `db.sqlite3`, opened read-only), `postgres://user:pw@host/db`, or
   * `mysql://user:pw@host/db` (MySQL or MariaDB); or a `SqlDatabase` of your own.
   */
  database: string | SqlDatabase
  /** The user table. Default `auth_user`; a custom user model `accounts.User` lives in `accounts_user`. */
  table?: string
  /** The column users log in with (the model's `USERNAME_FIELD`). Default `username`; `email` for e-mail logins. */
  usernameColumn?: string
  /** The active flag's column, or `null` when the model has none (Django then lets everyone in). Default `is_active`. */
  activeColumn?: string | null
  /** The user–group table (`<table>_groups`, columns `user_id`, `group_id`), or `null` when the model has no groups. */
  groupsTable?: string | null
  /** The group table. Default `auth_group`. */
  groupTable?: string
  /** The hashers your `PASSWORD_HASHERS` allows. Default: every hasher Django ships or shipped (`DJANGO_HASHERS`). */
  hashers?: readonly PasswordHasher[]
  /**
   * A password value of your database (any user's): unknown users, unusable passwords (`!…`) and unknown algorithms
   * cost one check at that hasher and cost, as Django runs its default hasher for them. Default: the hasher and cost
   * most users of the table have (up to 1,000 of its password values are read once, on the first login), so that
   * an unknown user costs what a known one does; for a table without a usable password, `pbkdf2_sha256` at Django
   * 5.2's 1,000,000 iterations.
   */
  decoy?: string
}

/** The row of a Django user, for a realm to build its avatar from. Never holds the password hash. */
export interface DjangoUser {
  readonly id: number | string
  /** The value of the login column (`username`, or `email`), as stored. */
  readonly username: string
  readonly email: string
  readonly firstName: string
  readonly lastName: string
  readonly isStaff: boolean
  readonly isSuperuser: boolean
  readonly isActive: boolean
  /** Group names, sorted. */
  readonly groups: readonly string[]
  /** Every column of the row but `password`, as the driver gave them (custom user models add their own). */
  readonly row: SqlRow
}

const text = (value: unknown): string => typeof value === 'string' ? value : value === null || value === undefined ? '' : String(value)

/**
 * Checks logins against Django's user database (`django.contrib.auth`), so a service authenticates "against
 * Django's user database" as Twisted's cred does with Django's `ModelBackend`: SQLite (a file path, read-only),
 * PostgreSQL or MySQL/MariaDB (pooled), every password hasher Django ships or shipped, custom user tables.
 *
 * It behaves as `ModelBackend.authenticate`: the name matches as the database's `=` does (case-sensitive on SQLite
 * and PostgreSQL, case- and accent-insensitive on MySQL/MariaDB's default collations); an unknown user, an unusable
 * password (`!…`) or an unknown hasher costs one run of the default hasher; the hash is checked before `is_active`;
 * an inactive user gets the same `UnauthorizedLogin` as a wrong password. The avatar id is the login column's value
 * as stored. A database that is down or too slow gives `StoreUnavailable` (HTTP 503).
 *
 * At Django 5.2's 1,000,000 PBKDF2 iterations each check costs about 200 ms of a core: wrap it in a
 * `CachingChecker` so a client that sends Basic credentials with every request pays that once.
 *
 * @example
 * import { SimpleRealm, defineInterface } from 'fastify-cred'
 * import { DjangoChecker } from 'fastify-cred/checkers'
 * const users = new DjangoChecker({ database: '/srv/site/db.sqlite3' })
 * const IUser = defineInterface<DjangoUser>('IUser')
 * const realm = new SimpleRealm().serve(IUser, async (id) => await users.loadUser(String(id)))
 * // app.register(cred, { realm, checkers: [users], interfaces: [IUser] })
 */
export class DjangoChecker extends SqlChecker {
  readonly #table: string
  readonly #usernameColumn: string
  readonly #login: string
  readonly #groupsTable: string | null
  readonly #groupTable: string
  readonly #dialect: SqlDialect

  constructor (options: DjangoCheckerOptions) {
    if (typeof options !== 'object' || options === null) throw new InvalidOption('DjangoChecker needs options: { database }')
    const dialect = typeof options.database === 'string' ? dialectOf(options.database) : options.database?.dialect
    if (dialect !== 'sqlite' && dialect !== 'postgres' && dialect !== 'mysql') throw new InvalidOption('DjangoChecker: `database` must be a connection string, a SQLite file path or a SqlDatabase')
    const table = quoteIdentifier(options.table ?? 'auth_user', dialect)
    const username = quoteIdentifier(options.usernameColumn ?? 'username', dialect)
    const active = options.activeColumn === null ? undefined : quoteIdentifier(options.activeColumn ?? 'is_active', dialect)
    const query = `SELECT ${quoteIdentifier('password', dialect)} AS password, ${username} AS avatar_id` +
      `${active === undefined ? '' : `, ${active} AS active`} FROM ${table} WHERE ${username} = ${placeholder(1, dialect)}`
    const hashers = options.hashers ?? DJANGO_HASHERS
    // Unknown users cost what most users cost: the decoy follows the table's own hashes (read once).
    const decoyQuery = `SELECT ${quoteIdentifier('password', dialect)} AS password FROM ${table} LIMIT 1000`
    super({ ...options, query, hashers, decoyQuery })
    this.#dialect = dialect
    this.#table = table
    this.#usernameColumn = username
    this.#login = options.usernameColumn ?? 'username'
    const groupsTable = options.groupsTable === undefined ? `${options.table ?? 'auth_user'}_groups` : options.groupsTable
    this.#groupsTable = groupsTable === null ? null : quoteIdentifier(groupsTable, dialect)
    this.#groupTable = quoteIdentifier(options.groupTable ?? 'auth_group', dialect)
  }

  /**
   * Django 5.2's default hasher and cost, for a table with no usable password (when `hashers` leaves it out, the
   * first of them at its default cost).
   */
  protected override defaultDecoy (): string | undefined {
    return `pbkdf2_sha256$${DJANGO_PBKDF2_ITERATIONS}$x$x`
  }

  /**
   * Django's rule (`identify_hasher`): the algorithm named before the first `$`, or an unsalted MD5/SHA-1 shape.
   * Unusable passwords (`!…`) match no hasher, so they never verify.
   */
  protected override hasherFor (encoded: string, hashers: readonly PasswordHasher[]): PasswordHasher | undefined {
    return findDjangoHasher(encoded, hashers)
  }

  /**
   * The user's row and group names, for a realm to build its avatar from (as the seed's realm does with Django's
   * `User`); undefined when no single user has that name. `name` matches as in a login; pass the avatar id.
   *
   * @throws StoreUnavailable when the database cannot answer, or the checker is closed.
   * @example
   * const user = await checker.loadUser('alice')
   * // { id: 1, username: 'alice', email: 'alice@example.com', isStaff: false, groups: ['readers'], … }
   */
  async loadUser (name: string): Promise<DjangoUser | undefined> {
    const d = this.#dialect
    const rows = await this.query(`SELECT * FROM ${this.#table} WHERE ${this.#usernameColumn} = ${placeholder(1, d)}`, [name])
    if (rows.length !== 1) return undefined
    const { password: _secret, ...row } = rows[0] as SqlRow
    const id = row.id as number | string
    let groups: string[] = []
    if (this.#groupsTable !== null) {
      const q = (identifier: string): string => quoteIdentifier(identifier, d)
      const found = await this.query(
        `SELECT g.${q('name')} AS name FROM ${this.#groupTable} g JOIN ${this.#groupsTable} ug ON ug.${q('group_id')} = g.${q('id')} ` +
        `WHERE ug.${q('user_id')} = ${placeholder(1, d)}`, [id])
      groups = found.map((g) => text(g.name)).sort()
    }
    const login = this.#login
    return Object.freeze({
      id,
      username: text(row[login] ?? row.username),
      email: text(row.email),
      firstName: text(row.first_name),
      lastName: text(row.last_name),
      isStaff: sqlFlag(row.is_staff),
      isSuperuser: sqlFlag(row.is_superuser),
      isActive: !('is_active' in row) || sqlFlag(row.is_active),
      groups: Object.freeze(groups),
      row: Object.freeze(row)
    })
  }
}
