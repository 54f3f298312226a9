import { mkdtemp, rm } from 'node:fs/promises'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { needProgram } from './binaries.js'
import { asUser, freePort, giveTo, isRoot, run, running, sleep, spawnServer } from './private-server.js'
import type { PrivateDatabaseServer, ServerProcess, Teardownable } from './private-server.js'

/** mariadbd, or why the MariaDB tests are skipped (Debian package mariadb-server). Throws in CI when missing. */
export const mariadbProgram = needProgram('mariadbd', 'mariadb-server')
const installDb = needProgram('mariadb-install-db', 'mariadb-server')

/** True once the server sends its handshake greeting (a protocol-10 packet) on a new connection. */
const greets = async (port: number): Promise<boolean> => await new Promise((resolve) => {
  const socket = connect({ host: '127.0.0.1', port })
  const done = (ok: boolean): void => { socket.destroy(); resolve(ok) }
  socket.setTimeout(1000, () => done(false))
  socket.once('error', () => done(false))
  socket.once('data', (chunk: Buffer) => done(chunk.length > 4 && chunk[4] === 10))
})

/**
 * Starts a private MariaDB for one test file: 127.0.0.1, a free port, a temp data directory (root without a
 * password), in the foreground as our child, run as the `mysql` system user when we are root. Stopped and removed in
 * `t.teardown`, also when a test fails.
 *
 * @example
 * import t from 'tap'
 * import { mariadbProgram, startMariadb } from './helpers/mariadb.js'
 * if (mariadbProgram.skip !== false) t.plan(0, mariadbProgram.skip)
 * else {
 *   const db = await startMariadb(t)
 *   // mysql.createPool(db.url('mysql')) ...; await db.stop(); await db.start()
 * }
 */
export async function startMariadb (t: Teardownable): Promise<PrivateDatabaseServer> {
  if (mariadbProgram.path === undefined || installDb.path === undefined) throw new Error(mariadbProgram.skip || String(installDb.skip))
  const mariadbd = mariadbProgram.path
  const dir = await mkdtemp(join(tmpdir(), 'fastify-cred-mariadb-'))
  const data = join(dir, 'data')
  let server: ServerProcess | undefined
  let paused = false
  let port = 0

  t.teardown(async () => {
    await stop()
    await rm(dir, { recursive: true, force: true })
  })

  await giveTo('mysql', dir)
  const user = isRoot ? ['--user=mysql'] : []
  const [program, ...args] = asUser('mysql', [installDb.path, '--no-defaults', `--datadir=${data}`, ...user,
    '--auth-root-authentication-method=normal', '--skip-test-db', '--innodb-log-file-size=8M'])
  await run(program as string, args)

  const launch = async (): Promise<boolean> => {
    server = spawnServer(asUser('mysql', [mariadbd, '--no-defaults', `--datadir=${data}`, `--port=${port}`,
      '--bind-address=127.0.0.1', `--socket=${join(dir, 'sock')}`, `--pid-file=${join(dir, 'pid')}`, '--skip-name-resolve',
      '--innodb-log-file-size=8M', '--innodb-buffer-pool-size=16M', '--performance-schema=OFF', '--skip-log-bin']))
    const deadline = Date.now() + 20_000
    while (Date.now() < deadline) {
      if (!running(server)) return false
      if (await greets(port)) return true
      await sleep(50)
    }
    server.signalGroup('SIGKILL')
    await server.exited
    throw new Error(`mariadbd did not greet on port ${port} within 20 s: ${server.stderr()}`)
  }

  async function stop (): Promise<void> {
    const current = server
    server = undefined
    if (!running(current)) return
    if (paused) { current.signalGroup('SIGKILL'); paused = false } else current.child.kill('SIGTERM')
    await current.exited
  }

  for (let attempt = 0; ; attempt++) {
    port = await freePort()
    if (await launch()) break
    if (attempt === 4) throw new Error(`mariadbd would not start: ${server?.stderr() ?? ''}`)
  }

  return {
    host: '127.0.0.1',
    get port () { return port },
    url: (database: string) => `mysql://root@127.0.0.1:${port}/${database}`,
    stop,
    start: async () => {
      await stop()
      for (let attempt = 0; attempt < 50; attempt++) {
        if (await launch()) return
        await sleep(100)
      }
      throw new Error(`mariadbd would not restart on port ${port}: ${server?.stderr() ?? ''}`)
    },
    pause: () => { if (running(server) && !paused) { server.signalGroup('SIGSTOP'); paused = true } },
    resume: () => { if (running(server) && paused) { server.signalGroup('SIGCONT'); paused = false } }
  }
}
