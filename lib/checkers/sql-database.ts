import { stat } from 'node:fs/promises'
import { Worker } from 'node:worker_threads'
import { InvalidOption, StoreUnavailable } from '../cred/index.js'
import { loadDriver } from '../drivers/index.js'

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
  /**
   * Optional: proves the database can be used from here without reaching a server: its driver is installed (and,
   * for a SQLite file, the file exists and opens as a database). Rejects with `MissingPeerDependency` or
   * `InvalidOption`; never because a server is down at the moment. `SqlChecker.prepare` calls it.
   */
  prepare? (): Promise<void>
  /**
   * Closes the connections. Idempotent and final: a later query rejects with `StoreUnavailable`. (A `SqlChecker`
   * closes a database only when it opened it from a string; one you pass in stays yours to close.)
   */
  close (): Promise<void>
}

/** How the built-in drivers connect. */
export interface SqlConnectionOptions {
  /**
   * Milliseconds a connection attempt or a query may take before it fails with `StoreUnavailable` (PostgreSQL:
   * `connectionTimeoutMillis`, `query_timeout` and `statement_timeout`; MySQL: `connectTimeout` and the query
   * `timeout`; SQLite: how long a query waits, in its worker thread, for another process's write lock to go).
   * Default 5,000.
   */
  timeout?: number
  /** Connections per pool (PostgreSQL, MySQL). Default 10. */
  poolSize?: number
}

type PgModule = typeof import('pg')
type MysqlModule = typeof import('mysql2/promise')
const loadPg = async (): Promise<PgModule> => await loadDriver('pg', 'A postgres:// user database') as PgModule
const loadMysql = async (): Promise<MysqlModule> => await loadDriver('mysql2', 'A mysql:// user database') as MysqlModule

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

const unavailable = (err: unknown): StoreUnavailable => StoreUnavailable.from(err, 'The user database did not answer')
const closedDatabase = (): StoreUnavailable => new StoreUnavailable('The user database was closed')

/**
 * Opens (lazily, on the first query) one of the built-in drivers for a database string:
 * - `postgres://user:pw@host:port/db` (or `postgresql://`): a `pg` pool (`npm install pg`);
 * - `mysql://user:pw@host:port/db` (or `mariadb://`): a `mysql2` pool with server-side prepared statements
 *   (`npm install mysql2`);
 * - anything else is a SQLite file path (a `sqlite:` prefix is dropped), opened **read-only** with
 *   `better-sqlite3` (`npm install better-sqlite3`) in a worker thread of its own: better-sqlite3 is synchronous,
 *   and while another process holds a write lock (a migration, `VACUUM`) its busy timeout would otherwise wait on
 *   the event loop. A locked database answers when the lock goes, or rejects with `StoreUnavailable` after
 *   `timeout`; other requests are served meanwhile. The worker holds the process open only while a query runs;
 *   `close()` ends it.
 * Every failure of the driver (refused connection, lost connection, timeout, missing file) rejects with
 * `StoreUnavailable`, the driver's error as its `cause`. A driver that is not installed rejects with
 * `MissingPeerDependency`. Pools reconnect by themselves after an outage: no restart is needed.
 *
 * @example
 * import { openSqlDatabase } from 'fastify-cred/checkers'
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
  return pooledDatabase('postgres', loadPg, open, async (pool, sql, params) => (await pool.query({ text: sql, values: [...params] })).rows as SqlRow[])
}

/**
 * A database behind a driver's pool, opened on the first query (and again after a failed open), its query errors
 * turned into `StoreUnavailable`, closed for good by `close()`.
 */
function pooledDatabase<Pool extends { end (): Promise<unknown> }> (
  dialect: SqlDialect, loadDriver: () => Promise<unknown>, open: () => Promise<Pool>, query: (pool: Pool, sql: string, params: readonly unknown[]) => Promise<SqlRow[]>
): SqlDatabase {
  let pool: Promise<Pool> | undefined
  let closed = false
  let ending: Promise<void> | undefined
  return {
    dialect,
    // The driver only: the server is not asked (one that is down now is a query's StoreUnavailable).
    prepare: async () => {
      if (closed) throw closedDatabase()
      await loadDriver()
    },
    query: async (sql, params) => {
      if (closed) throw closedDatabase()
      pool ??= open().catch((err: unknown) => { pool = undefined; throw err })
      const ready = await pool
      try {
        return await query(ready, sql, params)
      } catch (err) {
        throw closed ? closedDatabase() : unavailable(err)
      }
    },
    close: async () => {
      closed = true
      const opened = pool
      pool = undefined
      // A second close() waits for the first one's end.
      ending ??= opened === undefined ? Promise.resolve() : opened.then(async (ready) => { await ready.end() }, () => {})
      await ending
    }
  }
}

type MysqlPool = ReturnType<MysqlModule['createPool']>

function mysqlDatabase (uri: string, timeout: number, poolSize: number): SqlDatabase {
  const open = async (): Promise<MysqlPool> => {
    const mysql = await loadMysql()
    const createPool = (mysql as unknown as { default?: MysqlModule }).default?.createPool ?? mysql.createPool
    return createPool({ uri, connectionLimit: poolSize, connectTimeout: timeout, enableKeepAlive: true })
  }
  return pooledDatabase('mysql', loadMysql, open, async (pool, sql, params) => {
    const [rows] = await pool.execute({ sql, timeout }, params as never)
    return rows as SqlRow[]
  })
}

/**
 * The SQLite worker: owns the better-sqlite3 connection, so that its synchronous calls, and above all its busy
 * timeout (SQLite sleeps in a loop while another process holds a write lock: a Django migration, `VACUUM`, a long
 * write transaction), wait on this thread and never on the event loop. One query at a time, in order; each carries
 * its deadline, and waits for a lock only until then, so a queue of queries behind a lock ends when the main
 * thread has given up on them. Evaluated from a string, like the hash workers: no file of its own, the
 * same from `dist/` and under a TypeScript test loader.
 *
 * SQLite's own busy timeout is 0: the worker retries a query that met a lock itself, sleeping with the delays
 * SQLite's busy handler uses, in `Atomics.wait` on a shared flag, so that `close()` wakes it at once. It is never
 * `terminate()`d: a worker terminated while inside better-sqlite3 aborts the whole process when the binding then
 * throws into the dying thread (seen with better-sqlite3 12 on Node 20). `close()` raises the flag and asks the
 * worker to stop; it closes its connection and exits.
 */
const SQLITE_WORKER_SOURCE = `
// import(), not require: an eval worker is an ES module when the process runs with --input-type=module.
import('node:worker_threads').then(({ parentPort, workerData }) => {
  const { moduleUrl, path, closed } = workerData
  const RETRY_DELAYS = [1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50, 100]
  let loading
  let db
  const statements = new Map()
  parentPort.on('message', async (task) => {
    if (task.close === true) {
      try { db?.close() } catch {}
      process.exit(0)
    }
    try {
      loading ??= import(moduleUrl)
      const sqlite = await loading
      const Database = sqlite.default ?? sqlite
      for (let attempt = 0; ; attempt++) {
        if (Atomics.load(closed, 0) !== 0) throw new Error('the database was closed')
        try {
          // Read-only, and never created: a wrong path is an unavailable store, not a new empty database.
          db ??= new Database(path, { readonly: true, fileMustExist: true, timeout: 0 })
          let statement = statements.get(task.sql)
          if (statement === undefined) {
            statement = db.prepare(task.sql)
            statements.set(task.sql, statement)
          }
          parentPort.postMessage({ id: task.id, rows: statement.all(...task.params) })
          return
        } catch (error) {
          // Locked by another process: wait and try again until the deadline, as SQLite's busy handler would,
          // but in a wait that close() can cut short.
          const left = task.deadline - Date.now()
          if (!(error && /^SQLITE_BUSY/.test(error.code)) || left <= 0) throw error
          Atomics.wait(closed, 0, 0, Math.min(left, RETRY_DELAYS[Math.min(attempt, RETRY_DELAYS.length - 1)]))
        }
      }
    } catch (error) {
      const code = error && typeof error.code === 'string' ? error.code : undefined
      parentPort.postMessage({ id: task.id, error: { code, message: String((error && error.message) || error) } })
    }
  })
})
`

interface SqliteAnswer { id: number, rows?: SqlRow[], error?: { code: string | undefined, message: string } }

interface SqliteQuery {
  readonly resolve: (rows: SqlRow[]) => void
  readonly reject: (err: StoreUnavailable) => void
  readonly timer: NodeJS.Timeout
}

/** One worker, the queries it owes answers to, and how many it has not answered yet (timed out ones included). */
interface SqliteWorker {
  readonly worker: Worker
  readonly pending: Map<number, SqliteQuery>
  inFlight: number
  closing: boolean
  /** Set to 1 by `close()`: the worker answers the queries still queued without running them. */
  readonly closed: Int32Array
  readonly exited: Promise<void>
}

/** Where better-sqlite3 is, for the worker to import; resolving it loads nothing on this thread. */
const resolveSqlite = async (): Promise<string> => String(await loadDriver('better-sqlite3', 'A SQLite user database'))

function sqliteDatabase (path: string, timeout: number): SqlDatabase {
  let current: SqliteWorker | undefined
  let nextId = 0
  let closed = false
  let ending: Promise<void> | undefined

  // The worker holds the process open while it runs a query (even one this thread gave up on: that ends by its
  // deadline) and while it closes; an idle database never keeps a server or a script from exiting.
  const hold = (owner: SqliteWorker): void => {
    if (owner.inFlight > 0 || owner.closing) owner.worker.ref()
    else owner.worker.unref()
  }
  const settle = (owner: SqliteWorker, id: number): SqliteQuery | undefined => {
    const query = owner.pending.get(id)
    if (query === undefined) return undefined
    owner.pending.delete(id)
    clearTimeout(query.timer)
    return query
  }
  const failAll = (owner: SqliteWorker, err: StoreUnavailable): void => {
    if (current === owner) current = undefined
    for (const id of [...owner.pending.keys()]) settle(owner, id)?.reject(err)
  }
  const spawn = (moduleUrl: string): SqliteWorker => {
    const closed = new Int32Array(new SharedArrayBuffer(4))
    const worker = new Worker(SQLITE_WORKER_SOURCE, { eval: true, workerData: { moduleUrl, path, closed } })
    let exited!: () => void
    const owner: SqliteWorker = { worker, pending: new Map(), inFlight: 0, closing: false, closed, exited: new Promise((resolve) => { exited = resolve }) }
    worker.unref()
    worker.on('message', (answer: SqliteAnswer) => {
      owner.inFlight--
      hold(owner)
      const query = settle(owner, answer.id)
      if (query === undefined) return // answered after its timeout: already rejected
      if (answer.error === undefined) query.resolve(answer.rows ?? [])
      else query.reject(unavailable(Object.assign(new Error(answer.error.message), { code: answer.error.code })))
    })
    worker.on('error', (err) => { failAll(owner, unavailable(err)) })
    worker.on('exit', (code) => {
      failAll(owner, new StoreUnavailable(`The user database's worker stopped (exit code ${code})`))
      exited()
    })
    return owner
  }

  /** Runs a query in the worker; `waitForLocks` false: a database locked by another process fails at once. */
  const ask = async (sql: string, params: readonly unknown[], waitForLocks: boolean): Promise<SqlRow[]> => {
    if (closed) throw closedDatabase()
    const moduleUrl = await resolveSqlite()
    // close() was called while this query looked for the driver: it is closed too, not sent to a new worker.
    if (closed) throw closedDatabase()
    const owner = current ??= spawn(moduleUrl)
    return await new Promise<SqlRow[]>((resolve, reject) => {
      const id = nextId++
      const timer = setTimeout(() => {
        settle(owner, id)?.reject(new StoreUnavailable(`The user database did not answer within ${timeout} ms (SQLite: locked or slow)`))
      }, timeout)
      owner.pending.set(id, { resolve, reject, timer })
      try {
        owner.worker.postMessage({ id, sql, params: [...params], deadline: waitForLocks ? Date.now() + timeout : 0 })
      } catch (err) {
        settle(owner, id)?.reject(unavailable(err))
        return
      }
      owner.inFlight++
      hold(owner)
    })
  }

  const database: SqlDatabase = {
    dialect: 'sqlite',
    prepare: async () => {
      if (closed) throw closedDatabase()
      await resolveSqlite()
      // A path that names no file would answer every login with 503: a set-up error. (The worker never creates one.)
      const info = await stat(path).catch((err: NodeJS.ErrnoException) => {
        if (['ENOENT', 'ENOTDIR', 'EACCES', 'EPERM'].includes(err.code ?? '')) throw new InvalidOption(`cannot open the SQLite user database ${path} (${err.code ?? 'error'})`, { cause: err })
        return undefined
      })
      if (info?.isFile() === false) throw new InvalidOption(`the SQLite user database ${path} is not a file`)
      try {
        // Opened in the worker: a file that is no database, or a driver that does not load, is a set-up error too.
        await ask('SELECT 1 FROM sqlite_master LIMIT 1', [], false)
      } catch (err) {
        // Locked by another process, or slow, right now: a login's 503, which heals. A failure with a code will not.
        const failure = (err as Error).cause as { code?: unknown, message?: unknown } | undefined
        if (typeof failure?.code === 'string' && !/^SQLITE_(BUSY|LOCKED)/.test(failure.code)) {
          throw new InvalidOption(`cannot use the SQLite user database ${path}: ${String(failure.message)}`, { cause: err })
        }
      }
    },
    query: async (sql, params) => await ask(sql, params, true),
    close: async () => {
      closed = true
      const owner = current
      current = undefined
      if (owner !== undefined) {
        failAll(owner, closedDatabase())
        Atomics.store(owner.closed, 0, 1)
        Atomics.notify(owner.closed, 0)
        owner.closing = true
        hold(owner)
        owner.worker.postMessage({ close: true })
        ending = owner.exited
      }
      // A second close() waits for the worker the first one stopped.
      await ending
    }
  }
  return database
}
