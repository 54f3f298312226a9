import { InvalidOption, StoreUnavailable, optionalPeer } from '../cred/index.js'

/** The SQL dialects the built-in drivers speak: placeholders are `$1` on PostgreSQL, `?` on the others. */
export type SqlDialect = 'sqlite' | 'postgres' | 'mysql'

/** One result row, by column name (or alias). */
export type SqlRow = Readonly<Record<string, unknown>>

/**
 * A connection (or pool) to one SQL database, as the SQL checkers use it: one parameterised query at a time.
 * The built-in drivers come from `openSqlDatabase`; implement this to bring another driver.
 */
export interface SqlDatabase {
  readonly dialect: SqlDialect
  /** Runs `sql` with `params` bound to its placeholders. Rejects with `StoreUnavailable` when the database cannot answer. */
  query (sql: string, params: readonly unknown[]): Promise<readonly SqlRow[]>
  /** Closes the connections; a later query reopens them. */
  close (): Promise<void>
}

/** How the built-in drivers connect. */
export interface SqlConnectionOptions {
  /**
   * Milliseconds a connection attempt or a query may take before it fails with `StoreUnavailable` (PostgreSQL:
   * `connectionTimeoutMillis`, `query_timeout` and `statement_timeout`; MySQL: `connectTimeout` and the query
   * `timeout`; SQLite: the busy timeout). Default 5,000.
   */
  timeout?: number
  /** Connections per pool (PostgreSQL, MySQL). Default 10. */
  poolSize?: number
}

const loadPg = optionalPeer('pg', 'A postgres:// user database', async () => await import('pg'))
const loadMysql = optionalPeer('mysql2', 'A mysql:// user database', async () => await import('mysql2/promise'))
const loadSqlite = optionalPeer('better-sqlite3', 'A SQLite user database', async () => await import('better-sqlite3'))

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_$]*$/

/**
 * `name` (or `schema.name`) quoted as an identifier of `dialect`. Only plain identifiers are accepted, so a table or
 * column option can never carry SQL.
 *
 * @throws InvalidOption for anything but letters, digits, `_` and `$` (one optional `schema.` part).
 * @example
 * quoteIdentifier('auth_user', 'mysql') // '`auth_user`'
 */
export function quoteIdentifier (name: string, dialect: SqlDialect): string {
  const parts = typeof name === 'string' ? name.split('.') : []
  if (parts.length < 1 || parts.length > 2 || !parts.every((part) => IDENTIFIER.test(part))) {
    throw new InvalidOption(`Not a plain SQL identifier: ${JSON.stringify(name)} (letters, digits, _ and $, optionally schema.name)`)
  }
  return parts.map((part) => dialect === 'mysql' ? `\`${part}\`` : `"${part}"`).join('.')
}

/** The placeholder of the `index`-th parameter (1-based) in `dialect`. */
export function placeholder (index: number, dialect: SqlDialect): string {
  return dialect === 'postgres' ? `$${index}` : '?'
}

/** The dialect a database string speaks: `postgres://`, `postgresql://` → postgres; `mysql://`, `mariadb://` → mysql; else a SQLite file. */
export function dialectOf (database: string): SqlDialect {
  if (/^postgres(ql)?:\/\//i.test(database)) return 'postgres'
  if (/^(mysql|mariadb):\/\//i.test(database)) return 'mysql'
  return 'sqlite'
}

const unavailable = (err: unknown): StoreUnavailable => {
  if (err instanceof StoreUnavailable) return err
  const code = (err as { code?: unknown } | null)?.code
  // The driver's message can name the server and database; it goes in `cause`, for the operator's log only.
  return new StoreUnavailable(`The user database did not answer${typeof code === 'string' ? ` (${code})` : ''}`, { cause: err })
}

/**
 * Opens (lazily, on the first query) one of the built-in drivers for a database string:
 * - `postgres://user:pw@host:port/db` (or `postgresql://`): a `pg` pool (`npm install pg`);
 * - `mysql://user:pw@host:port/db` (or `mariadb://`): a `mysql2` pool with server-side prepared statements
 *   (`npm install mysql2`);
 * - anything else is a SQLite file path (a `sqlite:` prefix is dropped), opened **read-only** with
 *   `better-sqlite3` (`npm install better-sqlite3`); its queries are synchronous but take microseconds on an indexed
 *   column, so they do not hold the event loop the way a password hash would.
 * Every failure of the driver (refused connection, lost connection, timeout, missing file) rejects with
 * `StoreUnavailable`, the driver's error as its `cause`. A driver that is not installed rejects with
 * `MissingPeerDependency`. Pools reconnect by themselves after an outage: no restart is needed.
 *
 * @example
 * import { openSqlDatabase } from 'fastify-cred'
 * const db = openSqlDatabase('postgres://app@127.0.0.1/site', { timeout: 2000 })
 * const rows = await db.query('SELECT password FROM users WHERE name = $1', ['alice'])
 * await db.close()
 */
export function openSqlDatabase (database: string, options: SqlConnectionOptions = {}): SqlDatabase {
  if (typeof database !== 'string' || database === '') throw new InvalidOption('openSqlDatabase: `database` must be a connection string or a SQLite file path')
  const timeout = options.timeout ?? 5000
  const poolSize = options.poolSize ?? 10
  if (!Number.isInteger(timeout) || timeout <= 0) throw new InvalidOption(`\`timeout\` must be a positive whole number of milliseconds, got ${JSON.stringify(timeout)}`)
  if (!Number.isInteger(poolSize) || poolSize <= 0) throw new InvalidOption(`\`poolSize\` must be a positive whole number, got ${JSON.stringify(poolSize)}`)
  const dialect = dialectOf(database)
  if (dialect === 'postgres') return postgresDatabase(database, timeout, poolSize)
  if (dialect === 'mysql') return mysqlDatabase(database.replace(/^mariadb:/i, 'mysql:'), timeout, poolSize)
  return sqliteDatabase(database.replace(/^sqlite:(\/\/)?/i, ''), timeout)
}

type PgModule = Awaited<ReturnType<typeof loadPg>>
type PgPool = InstanceType<PgModule['Pool']>

function postgresDatabase (connectionString: string, timeout: number, poolSize: number): SqlDatabase {
  const open = async (): Promise<PgPool> => {
    const pg = await loadPg()
    const Pool = (pg as PgModule & { default?: PgModule }).default?.Pool ?? pg.Pool
    const created = new Pool({
      connectionString,
      max: poolSize,
      connectionTimeoutMillis: timeout,
      query_timeout: timeout,
      statement_timeout: timeout,
      idleTimeoutMillis: 30_000,
      allowExitOnIdle: true
    })
    // An idle connection that the server drops (restart, outage) emits here; the pool discards it and the next query
    // connects afresh. Without a listener the process would crash.
    created.on('error', () => {})
    return created
  }
  return pooledDatabase('postgres', open, async (pool, sql, params) => (await pool.query({ text: sql, values: [...params] })).rows as SqlRow[])
}

/**
 * A database behind a driver's pool, opened on the first query (and again after a failed open), its query errors
 * turned into `StoreUnavailable`, closed by `close()`.
 */
function pooledDatabase<Pool extends { end (): Promise<unknown> }> (
  dialect: SqlDialect, open: () => Promise<Pool>, query: (pool: Pool, sql: string, params: readonly unknown[]) => Promise<SqlRow[]>
): SqlDatabase {
  let pool: Promise<Pool> | undefined
  return {
    dialect,
    query: async (sql, params) => {
      pool ??= open().catch((err: unknown) => { pool = undefined; throw err })
      const ready = await pool
      try {
        return await query(ready, sql, params)
      } catch (err) {
        throw unavailable(err)
      }
    },
    close: async () => {
      const closing = pool
      pool = undefined
      if (closing !== undefined) await (await closing).end()
    }
  }
}

type MysqlModule = Awaited<ReturnType<typeof loadMysql>>
type MysqlPool = ReturnType<MysqlModule['createPool']>

function mysqlDatabase (uri: string, timeout: number, poolSize: number): SqlDatabase {
  const open = async (): Promise<MysqlPool> => {
    const mysql = await loadMysql()
    const createPool = (mysql as unknown as { default?: MysqlModule }).default?.createPool ?? mysql.createPool
    return createPool({ uri, connectionLimit: poolSize, connectTimeout: timeout, enableKeepAlive: true })
  }
  return pooledDatabase('mysql', open, async (pool, sql, params) => {
    const [rows] = await pool.execute({ sql, timeout }, params as never)
    return rows as SqlRow[]
  })
}

type SqliteModule = Awaited<ReturnType<typeof loadSqlite>>
type SqliteConnection = InstanceType<SqliteModule['default']>
type SqliteStatement = ReturnType<SqliteConnection['prepare']>

function sqliteDatabase (path: string, timeout: number): SqlDatabase {
  let connection: SqliteConnection | undefined
  const statements = new Map<string, SqliteStatement>()
  return {
    dialect: 'sqlite',
    query: async (sql, params) => {
      const sqlite = await loadSqlite()
      const Database = (sqlite as SqliteModule & { default?: SqliteModule['default'] }).default ?? (sqlite as unknown as SqliteModule['default'])
      try {
        // Read-only, and never created: a wrong path is an unavailable store, not a new empty database.
        connection ??= new Database(path, { readonly: true, fileMustExist: true, timeout })
        let statement = statements.get(sql)
        if (statement === undefined) {
          statement = connection.prepare(sql)
          statements.set(sql, statement)
        }
        return Reflect.apply(statement.all, statement, [...params]) as SqlRow[]
      } catch (err) {
        throw unavailable(err)
      }
    },
    close: async () => {
      statements.clear()
      connection?.close()
      connection = undefined
    }
  }
}
