import { join } from 'node:path'
import { needProgram } from './binaries.js'
import { accepts, run, runAs, startPrivateServer } from './private-server.js'
import type { PrivateDatabaseServer, Teardownable } from './private-server.js'

/** Debian keeps PostgreSQL's server binaries off PATH. */
export const POSTGRES_BIN = '/usr/lib/postgresql/15/bin'

/** The PostgreSQL server, or why the PostgreSQL tests are skipped (Debian package postgresql). Throws in CI when missing. */
export const postgresProgram = needProgram('postgres', 'postgresql', [POSTGRES_BIN])

/**
 * Starts a private PostgreSQL 15 for one test file (see `startPrivateServer`): a data directory made by `initdb`
 * (trust authentication, user `postgres`, fsync off), run as the `postgres` system user when we are root.
 *
 * @example
 * import t from 'tap'
 * import { postgresProgram, startPostgres } from './helpers/postgres.js'
 * if (postgresProgram.skip !== false) t.plan(0, postgresProgram.skip)
 * else {
 *   const pg = await startPostgres(t)
 *   // new pg.Pool({ connectionString: pg.url('postgres') }) ...; await pg.stop(); await pg.start()
 * }
 */
export async function startPostgres (t: Teardownable): Promise<PrivateDatabaseServer> {
  if (postgresProgram.path === undefined) throw new Error(postgresProgram.skip)
  const bin = postgresProgram.path.slice(0, -'/postgres'.length)
  const server = await startPrivateServer(t, {
    name: 'postgres',
    user: 'postgres',
    init: async (dir) => {
      await runAs('postgres', [`${bin}/initdb`, '-D', join(dir, 'data'), '-U', 'postgres', '-A', 'trust', '--no-sync',
        '-E', 'UTF8', '--locale=C.UTF-8'])
    },
    argv: ([port], dir) => [`${bin}/postgres`, '-D', join(dir, 'data'), '-p', String(port), '-c', 'listen_addresses=127.0.0.1',
      '-k', dir, '-c', 'fsync=off', '-c', 'full_page_writes=off', '-c', 'max_connections=40'],
    // PostgreSQL accepts connections before it takes logins, so pg_isready decides; it runs only once the port is
    // open (a program started every 20 ms would slow the server's own start on a busy machine).
    ready: async ([port]) => await accepts(port as number) &&
      await run(`${bin}/pg_isready`, ['-q', '-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-t', '1']).then(() => true, () => false),
    // A fast shutdown ends the backends before the postmaster exits.
    stopSignal: 'SIGINT'
  })
  return { ...server, url: (database) => `postgres://postgres@127.0.0.1:${server.port}/${database}` }
}
