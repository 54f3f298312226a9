// Each built-in spec type that reaches a real store: Django's own databases (SQLite, PostgreSQL, MariaDB), a SQL
// table, a private slapd, PAM. Servers are started once by this file.
import t from 'tap'
import type { Test } from 'tap'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { IUsernameDigestHash, IUsernamePassword, StoreUnavailable, UnauthorizedLogin, UsernamePassword } from '../../lib/cred/index.js'
import type { CredentialsChecker } from '../../lib/cred/index.js'
import { CachingChecker, DjangoChecker, HtdigestChecker, HtpasswdChecker, MemoryChecker, LdapChecker, SqlChecker, UnixChecker } from '../../lib/checkers/index.js'
import { bcryptHash } from '../../lib/hashers/bcrypt.js'
import { CheckerFactoryRegistry, builtinCheckerFactories, closeCheckers, makeChecker } from '../../lib/strcred/index.js'
import { DJANGO_SQLITE, djangoUser, loadDjangoIntoMariadb, loadDjangoIntoPostgres } from '../helpers/django-fixtures.js'
import { mariadbProgram, startMariadb } from '../helpers/mariadb.js'
import { postgresProgram, startPostgres } from '../helpers/postgres.js'
import { PEOPLE, READER_DN, slapdSkip, startSlapd } from '../helpers/slapd.js'
import { needProgram } from '../helpers/binaries.js'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import type { CheckerFactory } from '../../lib/strcred/index.js'

const run = promisify(execFile)
const htpasswd = needProgram('htpasswd', 'apache2-utils')
const htdigest = needProgram('htdigest', 'apache2-utils')

const registry = new CheckerFactoryRegistry(builtinCheckerFactories)
const dir = await mkdtemp(join(tmpdir(), 'fastify-cred-strcred-stores-'))
t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })

/** Makes a checker from `spec` and closes it when the test ends. */
async function make (t: Test, spec: string, env: Record<string, string> = {}): Promise<CredentialsChecker> {
  const checker = await makeChecker(spec, { registry, env })
  t.teardown(async () => { await closeCheckers([checker]) })
  return checker
}
const login = async (checker: CredentialsChecker, user: string, password: string): Promise<unknown> =>
  await checker.requestAvatarId(new UsernamePassword(user, password))

t.test('file:<htpasswd made by Apache\'s htpasswd>, re-read when it changes', { skip: htpasswd.skip }, async (t) => {
  const file = join(dir, 'users.htpasswd')
  await run(htpasswd.path as string, ['-cbB', '-C', '4', file, 'alice', 'wonderland'])
  await run(htpasswd.path as string, ['-bm', file, 'bob', 'builder'])
  const checker = await make(t, `file:${file};check-interval=0`)
  t.type(checker, HtpasswdChecker)
  t.same(checker.credentialInterfaces, [IUsernamePassword])
  t.equal(await login(checker, 'alice', 'wonderland'), 'alice')
  t.equal(await login(checker, 'bob', 'builder'), 'bob')
  await t.rejects(login(checker, 'alice', 'builder'), UnauthorizedLogin)
  await run(htpasswd.path as string, ['-bs', file, 'carol', 'c4rol'])
  t.equal(await login(checker, 'carol', 'c4rol'), 'carol', 'a user added while it runs (check-interval=0)')
})

t.test('htdigest:<file made by Apache\'s htdigest>;realm=…: Basic against one realm (Digest: test/cli/serve-stores.test.ts with curl)', { skip: htdigest.skip }, async (t) => {
  const file = join(dir, 'users.htdigest')
  const add = async (realm: string, user: string, password: string, create: boolean): Promise<void> => {
    await new Promise<void>((resolve, reject) => {
      const child = execFile(htdigest.path as string, [...(create ? ['-c'] : []), file, realm, user], (err) => { if (err !== null) reject(err); else resolve() })
      child.stdin?.end(`${password}\n${password}\n`)
    })
  }
  await add('staff', 'alice', 'wonderland', true)
  await add('guests', 'alice', 'other', false)
  const checker = await make(t, `htdigest:${file};realm=staff`)
  t.type(checker, HtdigestChecker)
  t.ok(checker.credentialInterfaces.includes(IUsernameDigestHash))
  t.equal(await login(checker, 'alice', 'wonderland'), 'alice', 'Basic against the staff realm')
  await t.rejects(login(checker, 'alice', 'other'), UnauthorizedLogin)
  await t.rejects(makeChecker(`htdigest:${file}`, { registry }).then(async (c) => { t.teardown(async () => { await closeCheckers([c]) }); return await login(c, 'alice', 'wonderland') }),
    /realm/i, 'two realms and no realm option: told to choose')
})

t.test('cache=…: a CachingChecker around the type\'s checker; closeCheckers reaches the wrapped one', async (t) => {
  const cached = await make(t, 'memory:alice:wonderland;cache=30s;cache-size=2')
  t.type(cached, CachingChecker)
  t.equal(await login(cached, 'alice', 'wonderland'), 'alice')
  t.equal((cached as CachingChecker).size, 1, 'the verified password is remembered')
  await t.rejects(login(cached, 'alice', 'wrong'), UnauthorizedLogin)
  t.equal((cached as CachingChecker).size, 1, 'failures are not')

  let closed = 0
  const closable: CheckerFactory = {
    authType: 'closable',
    argStringFormat: '(no argument)',
    authHelp: 'test',
    credentialInterfaces: [IUsernamePassword],
    generateChecker: () => Object.assign(new MemoryChecker({ a: 'b' }), { close: () => { closed++ } })
  }
  const own = new CheckerFactoryRegistry(builtinCheckerFactories).add(closable, 'test')
  const wrapped = await makeChecker('closable;cache=1m', { registry: own })
  t.type(wrapped, CachingChecker)
  await closeCheckers([wrapped])
  t.equal(closed, 1, 'the checker inside the cache is closed')
  await t.rejects(makeChecker('memory:a:b;cache=0', { registry }), /ttl/, 'the CachingChecker refuses a zero ttl')
})

const alice = djangoUser('alice')
const carol = djangoUser('carol')

t.test('django:<sqlite path> reads Django\'s own database; table and username-column options', async (t) => {
  const checker = await make(t, `django:${DJANGO_SQLITE}`)
  t.type(checker, DjangoChecker)
  t.same(checker.credentialInterfaces, [IUsernamePassword])
  t.equal(await login(checker, 'alice', alice.password ?? ''), 'alice')
  await t.rejects(login(checker, 'alice', 'wrong'), UnauthorizedLogin)
  await t.rejects(login(checker, 'nobody', 'x'), UnauthorizedLogin)

  const byEmail = await make(t, `django:${DJANGO_SQLITE};table=auth_user;username-column=email`)
  t.equal(await login(byEmail, carol.email, carol.password ?? ''), carol.email, 'logs in with the e-mail column')
  await t.rejects(login(byEmail, 'carol', carol.password ?? ''), UnauthorizedLogin)
})

t.test('django:postgres://… on a private PostgreSQL', { skip: postgresProgram.skip }, async (t) => {
  const server = await startPostgres(t)
  await loadDjangoIntoPostgres(server.url('postgres'), server.url('django'))
  const checker = await make(t, `django:${server.url('django')};timeout=5s;pool-size=2`)
  t.equal(await login(checker, 'alice', alice.password ?? ''), 'alice')
  await t.rejects(login(checker, 'alice', 'wrong'), UnauthorizedLogin)
})

t.test('django:mysql://… with the database password from the environment (MariaDB checks it)', { skip: mariadbProgram.skip }, async (t) => {
  const server = await startMariadb(t)
  await loadDjangoIntoMariadb(server.url(''))
  const secret = 'p@ss:w;rd/%'
  const mysql = await import('mysql2/promise')
  const admin = await mysql.createConnection({ uri: server.url('django') })
  try {
    await admin.query('CREATE USER \'reader\'@\'127.0.0.1\' IDENTIFIED BY ?', [secret])
    await admin.query('GRANT SELECT ON django.* TO \'reader\'@\'127.0.0.1\'')
  } finally { await admin.end() }
  const url = `mysql://reader@127.0.0.1:${server.port}/django`
  const checker = await make(t, `django:${url};password-env=DB_PASSWORD`, { DB_PASSWORD: secret })
  t.equal(await login(checker, 'alice', alice.password ?? ''), 'alice', 'a password with @ : ; / % reaches the server intact')
  const secretFile = join(dir, 'db-password')
  await writeFile(secretFile, `${secret}\n`)
  t.equal(await login(await make(t, `django:${url};password-file=${secretFile}`), 'alice', alice.password ?? ''), 'alice')
  const wrong = await make(t, `django:${url};password-env=DB_PASSWORD;timeout=2s`, { DB_PASSWORD: 'not-it' })
  await t.rejects(login(wrong, 'alice', alice.password ?? ''), StoreUnavailable, 'a database refusing us is a store problem (503), not a wrong user password')
})

t.test('sql:<sqlite path>;table=… and ;query=…', async (t) => {
  const { default: Database } = await import('better-sqlite3')
  const file = join(dir, 'accounts.sqlite3')
  const db = new Database(file)
  db.exec('CREATE TABLE accounts (login TEXT PRIMARY KEY, pw_hash TEXT NOT NULL, enabled INTEGER NOT NULL)')
  const insert = db.prepare('INSERT INTO accounts VALUES (?, ?, ?)')
  insert.run('dora', await bcryptHash('explorer', 4), 1)
  insert.run('alice', alice.encoded, 1)
  insert.run('eve', await bcryptHash('evil', 4), 0)
  db.close()

  const checker = await make(t, `sql:${file};table=accounts;username-column=login;password-column=pw_hash;active-column=enabled`)
  t.type(checker, SqlChecker)
  t.equal(await login(checker, 'dora', 'explorer'), 'dora', 'a raw bcrypt hash')
  t.equal(await login(checker, 'alice', alice.password ?? ''), 'alice', 'a Django hash')
  await t.rejects(login(checker, 'dora', 'wrong'), UnauthorizedLogin)
  await t.rejects(login(checker, 'eve', 'evil'), UnauthorizedLogin, 'the active column refuses')

  const byQuery = await make(t, `sql:${file};query=SELECT pw_hash AS password FROM accounts WHERE lower(login) = lower(?)`)
  t.equal(await login(byQuery, 'DORA', 'explorer'), 'DORA', 'the query option (here case-insensitive)')
  t.equal(await login(byQuery, 'eve', 'evil'), 'eve', 'no active column: not refused')
  await t.rejects(makeChecker(`sql:${file};table=accounts;pass word-column=x`, { registry }), /Options in a checker spec are written/)
  await t.rejects(makeChecker(`sql:${file};table=accounts; DROP TABLE accounts`, { registry }), /Options in a checker spec are written/)
  await t.rejects(makeChecker(`sql:${file};table=accounts WHERE 1`, { registry }), /identifier|letters/i, 'a table option cannot carry SQL')
})

t.test('ldap:… against a private slapd: search then bind, direct bind over ldaps with a CA file, StartTLS', { skip: slapdSkip }, async (t) => {
  const slapd = await startSlapd(t, { users: [{ uid: 'alice', password: 'wonderland' }, { uid: 'bob', password: 'builder' }] })
  const caFile = join(dir, 'ldap-ca.pem')
  await writeFile(caFile, slapd.ca)

  const search = await make(t, `ldap:${slapd.url};base-dn=${PEOPLE};bind-dn=${READER_DN};bind-password-env=READER_PW`, { READER_PW: slapd.readerPassword })
  t.type(search, LdapChecker)
  t.equal(await login(search, 'alice', 'wonderland'), 'alice')
  await t.rejects(login(search, 'alice', 'builder'), UnauthorizedLogin)
  await t.rejects(login(search, 'mallory', 'x'), UnauthorizedLogin)
  await t.rejects(login(search, 'alice', ''), UnauthorizedLogin, 'an empty password is refused, never an anonymous bind')

  const direct = await make(t, `ldap:${slapd.ldapsUrl};user-dn=uid={username},${PEOPLE};ca=${caFile}`)
  t.equal(await login(direct, 'bob', 'builder'), 'bob')
  await t.rejects(login(direct, 'bob', 'wonderland'), UnauthorizedLogin)

  const startTls = await make(t, `ldap:${slapd.url};starttls=yes;ca=${caFile};user-dn=uid={username},${PEOPLE}`)
  t.equal(await login(startTls, 'alice', 'wonderland'), 'alice')

  const untrusted = await make(t, `ldap:${slapd.ldapsUrl};user-dn=uid={username},${PEOPLE};timeout=2s`)
  await t.rejects(login(untrusted, 'bob', 'builder'), StoreUnavailable, 'without the CA the certificate is refused: 503, never a login')
})

t.test('unix: a UnixChecker with the spec\'s PAM options', async (t) => {
  const checker = await make(t, 'unix;service=login;max-concurrent=1')
  t.type(checker, UnixChecker)
  t.same(checker.credentialInterfaces, [IUsernamePassword])
  await t.rejects(login(checker, 'no-such-user-here', ''), UnauthorizedLogin, 'an empty password is refused before PAM')
})
