import { execFile, spawn } from 'node:child_process'
import type { ChildProcessWithoutNullStreams } from 'node:child_process'
import { existsSync } from 'node:fs'
import { copyFile, mkdtemp, rm } from 'node:fs/promises'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import Fastify from 'fastify'
import t from 'tap'
import type { Test } from 'tap'
import { DjangoChecker } from '../../lib/checkers/index.js'
import { cred } from '../../lib/fastify/index.js'
import { SimpleRealm, StoreUnavailable, UsernamePassword, defineInterface } from '../../lib/index.js'
import { formatBasic } from '../../lib/http/index.js'
import { DJANGO_SQLITE, djangoUser } from '../helpers/django-fixtures.js'

// A SQLite user database write-locked by another process (a Django migration, `VACUUM`, a long write transaction):
// the lock is held by a real second process, Python's sqlite3 module, with `BEGIN EXCLUSIVE`. better-sqlite3 is
// synchronous and its busy timeout waits where the query runs: that must not be the event loop. Proven by the order
// of events (a public route answers while a login still waits for the lock), never by milliseconds.

const root = new URL('../..', import.meta.url).pathname
const run = promisify(execFile)
const cheapDecoy = djangoUser('alice').encoded
const python = await run('python3', ['-c', 'import sqlite3']).then(() => false, () => 'needs python3 (Debian package python3)')

const LOCKER = `
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
if sys.argv[2] == 'later':
    sys.stdin.readline()
db.execute('BEGIN EXCLUSIVE')
print('locked', flush=True)
sys.stdin.readline()
db.execute('COMMIT')
print('released', flush=True)
`

/** A copy of Django's database, write-locked by a Python process (at once, or at `lock()`) until `release()`. */
async function lockedDatabase (t: Test, when: 'now' | 'later' = 'now'): Promise<{ path: string, lock: () => Promise<void>, release: () => Promise<void>, released: () => boolean }> {
  const dir = await mkdtemp(join(tmpdir(), 'fastify-cred-sqlite-lock-'))
  const path = join(dir, 'db.sqlite3')
  await copyFile(DJANGO_SQLITE, path)
  const locker: ChildProcessWithoutNullStreams = spawn('python3', ['-c', LOCKER, path, when])
  let output = ''
  let isReleased = false
  const seen = (word: string): Promise<void> => new Promise((resolve, reject) => {
    const look = (): void => { if (output.includes(word)) resolve() }
    locker.stdout.on('data', (chunk: Buffer) => { output += chunk.toString('utf8'); look() })
    locker.on('exit', (code) => { reject(new Error(`the lock holder exited (${String(code)}) before saying ${word}: ${output}`)) })
    look()
  })
  t.teardown(async () => {
    locker.kill()
    await rm(dir, { recursive: true, force: true })
  })
  const lock = async (): Promise<void> => {
    if (when === 'later') locker.stdin.write('\n')
    await seen('locked')
  }
  if (when === 'now') await lock()
  return {
    path,
    lock,
    released: () => isReleased,
    release: async () => {
      locker.stdin.write('\n')
      await seen('released')
      isReleased = true
    }
  }
}

const IUser = defineInterface<{ name: string }>('IUser')

/** A listening app: `/health` is public, `/whoami` logs in against `checker`; no login timeout of the plugin's own. */
async function app (t: Test, checker: DjangoChecker): Promise<string> {
  const server = Fastify()
  await server.register(cred, { realm: new SimpleRealm().serve(IUser, (id) => ({ name: String(id) })), checkers: [checker], interfaces: [IUser], loginTimeout: 0 })
  server.get('/health', { config: { cred: false } }, async () => ({ ok: true }))
  server.get('/whoami', async (request) => ({ avatarId: request.avatarId }))
  await server.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(async () => { await server.close(); await checker.close() })
  return `http://127.0.0.1:${(server.server.address() as AddressInfo).port}`
}

const whoami = async (url: string, name: string, password: string): Promise<{ status: number, retryAfter: string | null }> => {
  const response = await fetch(`${url}/whoami`, { headers: { authorization: formatBasic(name, password) } })
  await response.arrayBuffer()
  return { status: response.status, retryAfter: response.headers.get('retry-after') }
}

t.test('a write-locked SQLite database does not stop the event loop: public routes answer while logins wait; they log in once the lock goes', { skip: python }, async (t) => {
  const lock = await lockedDatabase(t)
  // Longer than this test could ever need: the logins below end only because the lock is released.
  const checker = new DjangoChecker({ database: lock.path, timeout: 25_000, decoy: cheapDecoy })
  const url = await app(t, checker)
  let settled = 0
  const logins = ['alice', 'bob', 'alice'].map((name) => {
    const user = djangoUser(name)
    return whoami(url, user.username, user.password as string).finally(() => { settled++ })
  })
  for (let i = 0; i < 3; i++) {
    const health = await fetch(`${url}/health`)
    t.equal(health.status, 200, `the public route answers (${i + 1})`)
    await health.arrayBuffer()
  }
  t.equal(settled, 0, 'while all three logins still wait for the lock')
  t.notOk(lock.released(), 'and the lock is still held')
  await lock.release()
  t.same((await Promise.all(logins)).map((r) => r.status), [200, 200, 200], 'the lock went within the timeout: they log in')
})

t.test('a lock held past the timeout: 503 with Retry-After while it is still held; the same checker recovers', { skip: python }, async (t) => {
  const lock = await lockedDatabase(t)
  const checker = new DjangoChecker({ database: lock.path, timeout: 300, decoy: cheapDecoy })
  const url = await app(t, checker)
  const alice = djangoUser('alice')
  const answers = await Promise.all([1, 2, 3].map(async () => await whoami(url, alice.username, alice.password as string)))
  t.same(answers, [1, 2, 3].map(() => ({ status: 503, retryAfter: '5' })), 'every login: the store is unavailable, not a refusal')
  t.equal((await fetch(`${url}/health`)).status, 200)
  t.notOk(lock.released(), 'all answered while the lock was held')
  const direct = await checker.requestAvatarId(new UsernamePassword('alice', alice.password as string)).catch((err: unknown) => err)
  t.type(direct, StoreUnavailable)
  t.match((direct as Error).message, /did not answer/)
  t.notMatch((direct as Error).message, new RegExp(alice.password as string))
  await lock.release()
  t.equal((await whoami(url, alice.username, alice.password as string)).status, 200, 'the lock gone: the same checker logs in')
})

t.test('close() while a query waits for the lock: the query is StoreUnavailable, close() ends before the lock goes, and stays closed', { skip: python }, async (t) => {
  const lock = await lockedDatabase(t, 'later')
  const checker = new DjangoChecker({ database: lock.path, timeout: 25_000, decoy: cheapDecoy })
  t.equal(await checker.requestAvatarId(new UsernamePassword('bob', 'builder')), 'bob', 'the worker is up and the database open')
  await lock.lock()
  // Sent to the worker at once; there it waits for the lock (or is about to).
  const waiting = checker.requestAvatarId(new UsernamePassword('bob', 'builder')).catch((err: unknown) => err)
  await new Promise((resolve) => { setImmediate(resolve) })
  await checker.close()
  t.notOk(lock.released(), 'closed while the lock is still held')
  t.type(await waiting, StoreUnavailable, 'the waiting query gave up')
  await lock.release()
  await t.rejects(checker.requestAvatarId(new UsernamePassword('bob', 'builder')), StoreUnavailable, 'close() is final: nothing reopens the database')
  await checker.close()
})

// The worker thread must never keep a process alive: not after close(), not while idle. A child process that
// hangs fails the subtest by tap's timeout.
const built = existsSync(`${root}dist/lib/checkers/index.js`) ? false : 'run `npm run build` first'
for (const [name, closing] of [['after close()', 'await checker.close()'], ['idle, never closed', '']] as const) {
  t.test(`the SQLite worker does not keep the process alive (${name})`, { skip: built, timeout: 30_000 }, async (t) => {
    const script = `
      import { DjangoChecker } from ${JSON.stringify(`${root}dist/lib/checkers/index.js`)}
      import { UsernamePassword } from ${JSON.stringify(`${root}dist/lib/cred/index.js`)}
      const checker = new DjangoChecker({ database: ${JSON.stringify(DJANGO_SQLITE)}, decoy: ${JSON.stringify(cheapDecoy)} })
      console.log(await checker.requestAvatarId(new UsernamePassword('bob', 'builder')))
      ${closing}
      console.log('done')`
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] })
    t.teardown(() => { child.kill() })
    let output = ''
    child.stdout.on('data', (chunk: Buffer) => { output += chunk.toString('utf8') })
    const code = await new Promise<number | null>((resolve) => { child.on('exit', resolve) })
    t.equal(output, 'bob\ndone\n', 'it queried through the worker')
    t.equal(code, 0, 'and the process ended by itself')
  })
}
