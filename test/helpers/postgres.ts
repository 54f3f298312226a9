import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { needProgram } from './binaries.js'
import { asUser, freePort, giveTo, run, running, sleep, spawnServer } from './private-server.js'
import type { PrivateDatabaseServer, ServerProcess, Teardownable } from './private-server.js'

/** Debian keeps PostgreSQL's server binaries off PATH. */
export const POSTGRES_BIN = '/usr/lib/postgresql/15/bin'

/** The PostgreSQL server, or why the PostgreSQL tests are skipped (Debian package postgresql). Throws in CI when missing. */
export const postgresProgram = needProgram('postgres', 'postgresql', [POSTGRES_BIN])

/**
 * Starts a private PostgreSQL 15 for one test file: 127.0.0.1, a free port, a temp data directory (trust
 * authentication, user `postgres`, fsync off), in the foreground as our child, run as the `postgres` system user when
 * we are root. Stopped and removed in `t.teardown`, also when a test fails.
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
  const dir = await mkdtemp(join(tmpdir(), 'fastify-cred-pg-'))
  const data = join(dir, 'data')
  let server: ServerProcess | undefined
  let paused = false
  let port = 0

  t.teardown(async () => {
    await stop()
    await rm(dir, { recursive: true, force: true })
  })

  await giveTo('postgres', dir)
  const [initdb, ...initArgs] = asUser('postgres', [`${bin}/initdb`, '-D', data, '-U', 'postgres', '-A', 'trust', '--no-sync',
    '-E', 'UTF8', '--locale=C.UTF-8'])
  await run(initdb as string, initArgs)

  const ready = async (): Promise<boolean> => {
    try {
      await run(`${bin}/pg_isready`, ['-q', '-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-t', '1'])
      return true
    } catch { return false }
  }

  const launch = async (): Promise<boolean> => {
    server = spawnServer(asUser('postgres', [`${bin}/postgres`, '-D', data, '-p', String(port),
      '-c', 'listen_addresses=127.0.0.1', '-k', dir, '-c', 'fsync=off', '-c', 'full_page_writes=off', '-c', 'max_connections=40']))
    const deadline = Date.now() + 15_000
    while (Date.now() < deadline) {
      if (!running(server)) return false
      if (await ready()) return true
      await sleep(50)
    }
    server.signalGroup('SIGKILL')
    await server.exited
    throw new Error(`postgres did not get ready on port ${port} within 15 s: ${server.stderr()}`)
  }

  async function stop (): Promise<void> {
    const current = server
    server = undefined
    if (!running(current)) return
    if (paused) { current.signalGroup('SIGKILL'); paused = false } else current.child.kill('SIGINT')
    // A fast shutdown ends the backends before the postmaster exits; after SIGKILL they leave on their own.
    await current.exited
  }

  for (let attempt = 0; ; attempt++) {
    port = await freePort()
    if (await launch()) break
    if (attempt === 4) throw new Error(`postgres would not start: ${server?.stderr() ?? ''}`)
  }

  return {
    host: '127.0.0.1',
    get port () { return port },
    url: (database: string) => `postgres://postgres@127.0.0.1:${port}/${database}`,
    stop,
    start: async () => {
      await stop()
      for (let attempt = 0; attempt < 50; attempt++) {
        if (await launch()) return
        await sleep(100)
      }
      throw new Error(`postgres would not restart on port ${port}: ${server?.stderr() ?? ''}`)
    },
    pause: () => { if (running(server) && !paused) { server.signalGroup('SIGSTOP'); paused = true } },
    resume: () => { if (running(server) && paused) { server.signalGroup('SIGCONT'); paused = false } }
  }
}
