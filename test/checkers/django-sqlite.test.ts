import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { DjangoChecker, SqlChecker, openSqlDatabase, quoteIdentifier, sqlFlag } from '../../lib/checkers/index.js'
import type { SqlDatabase, SqlRow } from '../../lib/checkers/index.js'
import { DJANGO_HASHERS, djangoBcryptPlainHasher, djangoPbkdf2Sha256Hasher } from '../../lib/hashers/index.js'
import type { PasswordHasher } from '../../lib/hashers/index.js'
import { StoreUnavailable, UnauthorizedLogin, UsernamePassword } from '../../lib/index.js'
import { InvalidOption } from '../../lib/cred/index.js'
import { closeCheckers, resolveCheckers } from '../../lib/strcred/index.js'
import { curl, curlRequest } from '../helpers/curl.js'
import { buildDjangoApp, whoami } from '../helpers/django-app.js'
import { DJANGO_SQLITE, djangoSqliteCopy, djangoUser, djangoUsers } from '../helpers/django-fixtures.js'
import { djangoContract } from './checker-contract.js'

// DjangoChecker on the SQLite database Django 3.2's `migrate` made (test/fixtures/django/db.sqlite3), read-only.

const root = new URL('../..', import.meta.url).pathname
const login = (username: string, password: string): UsernamePassword => new UsernamePassword(username, password)
const cheapDecoy = djangoUser('alice').encoded

/** The Django hashers, each counting its verifications (by the encoding it was asked about): work is counted, not timed. */
function countingHashers (): { hashers: PasswordHasher[], calls: string[] } {
  const calls: string[] = []
  const hashers = DJANGO_HASHERS.map((h): PasswordHasher => ({
    name: h.name,
    identifies: (e) => h.identifies(e),
    decoy: async (like) => await h.decoy(like),
    verify: async (plain, encoded) => { calls.push(encoded); return await h.verify(plain, encoded) }
  }))
  return { hashers, calls }
}

const checker = new DjangoChecker({ database: DJANGO_SQLITE, decoy: cheapDecoy })
t.teardown(() => checker.close())

t.test('every active user with a usable password logs in, with every hasher Django made', async (t) => {
  for (const user of djangoUsers) {
    if (user.password === null || !user.is_active) continue
    t.equal(await checker.requestAvatarId(login(user.username, user.password)), user.username, `${user.username} (${user.hasher})`)
    await t.rejects(checker.requestAvatarId(login(user.username, 'wrong')), UnauthorizedLogin, `${user.username}: wrong password`)
  }
  t.equal(await checker.requestAvatarId(login('nobody-pw', '')), 'nobody-pw', 'an empty password is a valid Django password')
})

t.test('as ModelBackend: hash first, then is_active; one refusal for every reason', async (t) => {
  const { hashers, calls } = countingHashers()
  const counted = new DjangoChecker({ database: DJANGO_SQLITE, hashers })
  t.teardown(() => counted.close())
  const refusal = async (name: string, password: string): Promise<string> => {
    calls.length = 0
    const err = await counted.requestAvatarId(login(name, password)).catch((e: unknown) => e)
    t.type(err, UnauthorizedLogin, `${name} refused`)
    t.equal(calls.length, 1, `${name}: exactly one password verification`)
    return (err as Error).message
  }
  const messages = new Set([
    await refusal('judy', 'jud1'), // inactive, right password
    await refusal('judy', 'wrong'), // inactive, wrong password
    await refusal('alice', 'wrong'),
    await refusal('no-such-user', 'x'),
    await refusal('mallory', ''), // unusable password
    await refusal('oscar@nowhere', 'x')
  ])
  t.equal(messages.size, 1, 'the same message whatever the reason')

  calls.length = 0
  await t.rejects(counted.requestAvatarId(login('no-such-user', 'x')), UnauthorizedLogin)
  t.match(calls, [/^pbkdf2_sha256\$1000\$/], 'an unknown user costs one run of the hasher and cost most users of the database have (1,000 iterations)')
  calls.length = 0
  await t.rejects(counted.requestAvatarId(login('mallory', 'x')), UnauthorizedLogin)
  t.match(calls, [/^pbkdf2_sha256\$1000\$/], 'an unusable password (!…) costs the same, and never verifies')
  calls.length = 0
  await t.rejects(counted.requestAvatarId(login('judy', 'jud1')), UnauthorizedLogin)
  t.same(calls, [djangoUser('judy').encoded], "an inactive user's own hash is checked before the flag")
})

t.test('django: specs and checkers without a decoy take it from the database: its dominant hasher and cost', async (t) => {
  // The fixture: 6 of its users' hashes are pbkdf2_sha256 at 1,000 iterations, the others one per hasher.
  const specCheckers = await resolveCheckers([`django:${DJANGO_SQLITE}`])
  t.teardown(() => closeCheckers(specCheckers))
  const fromSpec = specCheckers[0]
  t.match(await (fromSpec as DjangoChecker).decoy(), /^pbkdf2_sha256\$1000\$[A-Za-z0-9]+\$[A-Za-z0-9+/]{43}=$/, 'django: spec: the decoy is pbkdf2_sha256 at 1,000 iterations, not 1,000,000')
  const { hashers, calls } = countingHashers()
  const counted = new DjangoChecker({ database: DJANGO_SQLITE, hashers })
  t.teardown(() => counted.close())
  await t.rejects(counted.requestAvatarId(login('no-such-user', 'x')), UnauthorizedLogin)
  t.same(calls, [await counted.decoy()], 'that decoy is the one check an unknown user runs')

  // A database whose users mostly hash with bcrypt at cost 5: the decoy is bcrypt at cost 5.
  const path = await djangoSqliteCopy(t)
  const { default: Database } = await import('better-sqlite3')
  const db = new Database(path)
  const bcrypt5 = await djangoBcryptPlainHasher.hash?.('x', { rounds: 5 }) as string
  db.prepare("UPDATE auth_user SET password = ? WHERE username IN ('alice', 'bob', 'oscar', 'peggy', 'judy', 'nobody-pw', 'Łukasz')").run(bcrypt5)
  db.close()
  const bcryptDb = new DjangoChecker({ database: path, hashers })
  t.teardown(() => bcryptDb.close())
  calls.length = 0
  await t.rejects(bcryptDb.requestAvatarId(login('no-such-user', 'x')), UnauthorizedLogin)
  t.match(calls, [/^bcrypt\$\$2b\$05\$/], 'bcrypt at the cost most users have')

  // No usable password at all: Django 5.2's default hasher and cost.
  const empty = await djangoSqliteCopy(t, 'empty.sqlite3')
  const db2 = new Database(empty)
  db2.prepare("UPDATE auth_user SET password = '!unusable'").run()
  db2.close()
  const unusable = new DjangoChecker({ database: empty })
  t.teardown(() => unusable.close())
  t.match(await unusable.decoy(), /^pbkdf2_sha256\$1000000\$/, "no hash to follow: Django 5.2's default, 1,000,000 iterations")
})

t.test('the decoy option: unknown users cost what your hashes cost', async (t) => {
  const { hashers, calls } = countingHashers()
  const bcryptUser = djangoUser('dave').encoded
  const tuned = new DjangoChecker({ database: DJANGO_SQLITE, hashers, decoy: bcryptUser })
  t.teardown(() => tuned.close())
  await t.rejects(tuned.requestAvatarId(login('no-such-user', 'x')), UnauthorizedLogin)
  t.match(calls, [/^bcrypt\$\$2b\$04\$/], 'the decoy has the format and cost of the given hash')
  t.throws(() => new DjangoChecker({ database: DJANGO_SQLITE, decoy: 'nonsense' }), InvalidOption)
})

t.test('hashers: only those your PASSWORD_HASHERS allows verify', async (t) => {
  const strict = new DjangoChecker({ database: DJANGO_SQLITE, hashers: [djangoPbkdf2Sha256Hasher] })
  t.teardown(() => strict.close())
  t.equal(await strict.requestAvatarId(login('alice', 'wonderland')), 'alice')
  await t.rejects(strict.requestAvatarId(login('frank', 'fr4nk')), UnauthorizedLogin, 'salted md5 not allowed: refused')
})

t.test("names match as SQLite's = does: case-sensitive, exact", async (t) => {
  await t.rejects(checker.requestAvatarId(login('ALICE', 'wonderland')), UnauthorizedLogin)
  await t.rejects(checker.requestAvatarId(login('alice ', 'wonderland')), UnauthorizedLogin)
  t.equal(await checker.requestAvatarId(login('Łukasz', 'żółć:🙂')), 'Łukasz')
  await t.rejects(checker.requestAvatarId(login("alice' --", 'wonderland')), UnauthorizedLogin, 'the name is a parameter')
})

t.test('e-mail logins and a model without an active flag', async (t) => {
  const byEmail = new DjangoChecker({ database: DJANGO_SQLITE, usernameColumn: 'email', decoy: cheapDecoy })
  const noFlag = new DjangoChecker({ database: DJANGO_SQLITE, activeColumn: null, decoy: cheapDecoy })
  t.teardown(async () => { await byEmail.close(); await noFlag.close() })
  t.equal(await byEmail.requestAvatarId(login('Carol@Example.com', 'c4rol')), 'Carol@Example.com')
  await t.rejects(byEmail.requestAvatarId(login('carol@example.com', 'c4rol')), UnauthorizedLogin, 'case-sensitive on SQLite')
  await t.rejects(byEmail.requestAvatarId(login('shared@example.com', 'osc4r')), UnauthorizedLogin, 'two users share the address: nobody')
  t.equal(await noFlag.requestAvatarId(login('judy', 'jud1')), 'judy', 'without an active flag everyone with the password gets in, as in Django')
})

t.test('a custom user model: its own table and group table', async (t) => {
  const path = await djangoSqliteCopy(t)
  const { default: Database } = await import('better-sqlite3')
  const db = new Database(path)
  // What `accounts.User(AbstractBaseUser, PermissionsMixin)` with USERNAME_FIELD = 'login' and no is_active would hold.
  db.exec(`CREATE TABLE accounts_user (id integer PRIMARY KEY, password varchar(128) NOT NULL, login varchar(150) UNIQUE NOT NULL, is_superuser bool NOT NULL);
    CREATE TABLE accounts_user_groups (id integer PRIMARY KEY, user_id integer NOT NULL, group_id integer NOT NULL);
    INSERT INTO accounts_user SELECT id, password, 'x-' || username, is_superuser FROM auth_user;
    INSERT INTO accounts_user_groups (user_id, group_id) SELECT user_id, group_id FROM auth_user_groups;`)
  db.close()
  const custom = new DjangoChecker({ database: path, table: 'accounts_user', usernameColumn: 'login', activeColumn: null, decoy: cheapDecoy })
  t.teardown(() => custom.close())
  t.equal(await custom.requestAvatarId(login('x-bob', 'builder')), 'x-bob')
  t.match(await custom.loadUser('x-bob'), { username: 'x-bob', isActive: true, isStaff: false, groups: ['editors', 'readers'] })
  t.throws(() => new DjangoChecker({ database: path, table: 'users; DROP TABLE auth_user' }), InvalidOption, 'identifiers are checked')
  t.equal(quoteIdentifier('public.auth_user', 'postgres'), '"public"."auth_user"')
  t.equal(quoteIdentifier('auth_user', 'mysql'), '`auth_user`')
})

t.test('loadUser: the row for a realm, without the hash', async (t) => {
  const alice = await checker.loadUser('alice')
  t.match(alice, { id: djangoUser('alice').id, username: 'alice', email: 'alice@example.com', firstName: 'Alice', lastName: 'Liddell', isStaff: false, isSuperuser: false, isActive: true, groups: ['readers'] })
  t.notOk(alice !== undefined && 'password' in alice.row)
  t.match(await checker.loadUser('root'), { isStaff: true, isSuperuser: true })
  t.match(await checker.loadUser('judy'), { isActive: false })
  t.equal(await checker.loadUser('nobody'), undefined)
})

t.test('SqlChecker: any table, a parameterised query, the formats to accept', async (t) => {
  const sql = new SqlChecker({
    database: `sqlite:${DJANGO_SQLITE}`,
    query: "SELECT password, is_active AS active, username || '@site' AS avatar_id FROM auth_user WHERE lower(username) = lower(?)",
    hashers: DJANGO_HASHERS,
    decoy: cheapDecoy
  })
  t.teardown(() => sql.close())
  t.equal(sql.dialect, 'sqlite')
  t.equal(await sql.requestAvatarId(login('ALICE', 'wonderland')), 'alice@site', 'the query decides how names match, and the avatar id')
  await t.rejects(sql.requestAvatarId(login('judy', 'jud1')), UnauthorizedLogin)
  t.throws(() => new SqlChecker({ database: DJANGO_SQLITE, query: '', hashers: DJANGO_HASHERS }), InvalidOption)
  t.throws(() => new SqlChecker({ database: DJANGO_SQLITE, query: 'SELECT 1', hashers: [] }), InvalidOption)
})

t.test('a database file that does not exist: register() fails (a set-up error), the checker alone answers StoreUnavailable; never created', async (t) => {
  const path = join(tmpdir(), 'no-such-dir-fastify-cred', 'db.sqlite3')
  const missing = new DjangoChecker({ database: path })
  t.teardown(() => missing.close())
  await t.rejects(missing.prepare(), { name: 'InvalidOption', message: `cannot open the SQLite user database ${path} (ENOENT)` }, 'prepare() names the file')
  await t.rejects(buildDjangoApp(missing), { name: 'InvalidOption', message: `fastify-cred: cannot open the SQLite user database ${path} (ENOENT)` }, 'so the plugin refuses to start')
  const err = await missing.requestAvatarId(login('alice', 'wonderland')).catch((e: unknown) => e)
  t.type(err, StoreUnavailable, 'asked without the plugin (the file may come later): StoreUnavailable, not a refusal')
  t.notMatch((err as Error).message, /wonderland/)
  t.notOk(existsSync(path), 'the file was not created')
  const notADatabase = await djangoSqliteCopy(t, 'text.sqlite3')
  await writeFile(notADatabase, 'alice:{SHA}not a database\n')
  const text = new DjangoChecker({ database: notADatabase })
  t.teardown(() => text.close())
  await t.rejects(text.prepare(), { name: 'InvalidOption', message: /^cannot use the SQLite user database .*text\.sqlite3: file is not a database$/ }, 'a file that is no database is a set-up error too')
})

t.test("the plugin with DjangoChecker on Django's database, logged in with real curl", { skip: curl.skip }, async (t) => {
  const { app, url } = await buildDjangoApp(checker)
  t.teardown(() => app.close())
  const ok = await curlRequest(['-u', 'bob:builder'], `${url}/whoami`)
  t.equal(ok.status, 200)
  t.same(JSON.parse(ok.body), { avatarId: 'bob', id: djangoUser('bob').id, username: 'bob', email: 'bob@example.com', isStaff: true, isSuperuser: false, groups: ['editors', 'readers'] })
  const utf8 = await curlRequest(['-u', 'Łukasz:żółć:🙂'], `${url}/whoami`)
  t.equal(utf8.status, 200, 'UTF-8 name, a password with ":"')
  for (const [name, hasher] of [['root', 'argon2'], ['carol', 'bcrypt_sha256'], ['erin', 'scrypt'], ['heidi', 'unsalted_md5']]) {
    const user = djangoUser(name as string)
    t.equal((await curlRequest(['-u', `${user.username}:${user.password as string}`], `${url}/whoami`)).status, 200, `${name as string} (${hasher as string})`)
  }
  const wrong = await curlRequest(['-u', 'bob:nope'], `${url}/whoami`)
  t.equal(wrong.status, 401)
  t.match(wrong.headers, /WWW-Authenticate: Basic realm="django"/i)
  t.equal((await curlRequest(['-u', 'judy:jud1'], `${url}/whoami`)).status, 401, 'inactive: 401 like a wrong password')
  t.equal((await curlRequest(['-u', 'mallory:'], `${url}/whoami`)).status, 401, 'unusable password')
  t.equal((await curlRequest([], `${url}/whoami`)).status, 401)
})

t.test('the README example runs as built: node dist/examples/django/server.js, curl logs in', { skip: curl.skip || (existsSync(`${root}dist/examples/django/server.js`) ? false : 'run `npm run build` first') }, async (t) => {
  const server = spawn(process.execPath, ['dist/examples/django/server.js'], { cwd: root, env: { ...process.env, PORT: '0', DJANGO_DB: DJANGO_SQLITE }, stdio: ['ignore', 'pipe', 'inherit'] })
  t.teardown(() => { server.kill() })
  const url = await new Promise<string>((resolve, reject) => {
    let output = ''
    server.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString('utf8')
      const match = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(output)
      if (match?.[1] !== undefined) resolve(match[1])
    })
    server.on('exit', (code) => reject(new Error(`example exited with ${String(code)}: ${output}`)))
  })
  const me = await curlRequest(['-u', 'alice:wonderland'], `${url}/whoami`)
  t.equal(me.status, 200)
  t.same(JSON.parse(me.body), { username: 'alice', email: 'alice@example.com', staff: false, groups: ['readers'] })
  t.equal((await curlRequest(['-u', 'alice:wonderland'], `${url}/groups/readers`)).status, 200)
  t.equal((await curlRequest(['-u', 'alice:wonderland'], `${url}/groups/editors`)).status, 403)
  t.equal((await curlRequest(['-u', 'root:toor'], `${url}/groups/editors`)).status, 200, 'a superuser is in every group')
  t.equal((await curlRequest(['-u', 'alice:nope'], `${url}/whoami`)).status, 401)
})

t.test('your own SqlDatabase; flags as drivers give them; option checks', async (t) => {
  const seen: unknown[][] = []
  const rows: Record<string, SqlRow[]> = { bob: [{ password: djangoUser('bob').encoded, active: 't' }], off: [{ password: djangoUser('bob').encoded, active: false }] }
  let ownCloses = 0
  const own: SqlDatabase = {
    dialect: 'postgres',
    query: async (_sql, params) => { seen.push([...params]); return rows[String(params[0])] ?? [] },
    close: async () => { ownCloses++ }
  }
  const checker = new SqlChecker({ database: own, query: 'SELECT … WHERE name = $1', hashers: DJANGO_HASHERS, decoy: cheapDecoy })
  t.equal(await checker.requestAvatarId(login('bob', 'builder')), 'bob')
  await t.rejects(checker.requestAvatarId(login('off', 'builder')), UnauthorizedLogin)
  t.same(seen, [['bob'], ['off']], 'the name only ever travels as a parameter')
  await checker.close()
  t.equal(ownCloses, 0, "close() leaves a database the caller passed in open: it is the caller's to close")
  await t.rejects(checker.requestAvatarId(login('bob', 'builder')), StoreUnavailable, 'but the checker itself is closed for good')
  t.same(seen, [['bob'], ['off']], 'and asks the database nothing more')
  const down: SqlDatabase = { dialect: 'mysql', query: async () => { throw new StoreUnavailable('down') }, close: async () => {} }
  await t.rejects(new DjangoChecker({ database: down, decoy: cheapDecoy }).requestAvatarId(login('bob', 'builder')), StoreUnavailable)

  t.same([true, 1, 1n, '1', 't', 'TRUE', Buffer.from([1])].map(sqlFlag), [true, true, true, true, true, true, true])
  t.same([false, 0, 0n, '0', 'f', '', null, undefined, Buffer.from([0])].map(sqlFlag), [false, false, false, false, false, false, false, false, false])
  t.throws(() => openSqlDatabase(''), InvalidOption)
  t.throws(() => openSqlDatabase('postgres://x/y', { timeout: 0 }), InvalidOption)
  t.throws(() => openSqlDatabase('mysql://x/y', { poolSize: 1.5 }), InvalidOption)
  t.throws(() => new DjangoChecker({ database: DJANGO_SQLITE, usernameColumn: 'user"name' }), InvalidOption)
  t.throws(() => new SqlChecker({ database: { dialect: 'oracle' } as unknown as SqlDatabase, query: 'x', hashers: DJANGO_HASHERS }), InvalidOption)
})

// The store contract on Django's SQLite file (an outage of SQLite, a lock held by another process, is
// test/checkers/sqlite-lock.test.ts's), with SqlChecker's own query on the same table.
await djangoContract(t, { database: DJANGO_SQLITE, driver: 'better-sqlite3', sqlQuery: 'SELECT password, is_active AS active FROM auth_user WHERE username = ?' })
