import { join } from 'node:path'
import { needProgram } from './binaries.js'
import { firstReply, isRoot, runAs, startPrivateServer } from './private-server.js'
import type { PrivateDatabaseServer, Teardownable } from './private-server.js'

/** mariadbd, or why the MariaDB tests are skipped (Debian package mariadb-server). Throws in CI when missing. */
export const mariadbProgram = needProgram('mariadbd', 'mariadb-server')
const installDb = needProgram('mariadb-install-db', 'mariadb-server')

/**
 * Starts a private MariaDB for one test file (see `startPrivateServer`): a data directory made by
 * `mariadb-install-db` (root without a password), run as the `mysql` system user when we are root.
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
  const installDbPath = installDb.path
  const server = await startPrivateServer(t, {
    name: 'mariadbd',
    user: 'mysql',
    init: async (dir) => {
      await runAs('mysql', [installDbPath, '--no-defaults', `--datadir=${join(dir, 'data')}`, ...(isRoot ? ['--user=mysql'] : []),
        '--auth-root-authentication-method=normal', '--skip-test-db', '--innodb-log-file-size=8M'])
    },
    argv: ([port], dir) => [mariadbd, '--no-defaults', `--datadir=${join(dir, 'data')}`, `--port=${port}`,
      '--bind-address=127.0.0.1', `--socket=${join(dir, 'sock')}`, `--pid-file=${join(dir, 'pid')}`, '--skip-name-resolve',
      '--innodb-log-file-size=8M', '--innodb-buffer-pool-size=16M', '--performance-schema=OFF', '--skip-log-bin'],
    // Ready once it sends its handshake greeting (a protocol-10 packet) on a new connection.
    ready: async ([port]) => (await firstReply(port as number))?.[4] === 10
  })
  return { ...server, url: (database) => `mysql://root@127.0.0.1:${server.port}/${database}` }
}
