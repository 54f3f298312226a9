import type { Test } from 'tap'
import { DjangoChecker, SqlChecker } from '../../lib/checkers/index.js'
import { StoreUnavailable, UnauthorizedLogin, UsernamePassword } from '../../lib/index.js'
import { DJANGO_HASHERS } from '../../lib/hashers/index.js'
import { buildDjangoApp, whoami } from './django-app.js'
import { djangoUser, djangoUsers } from './django-fixtures.js'
import type { PrivateDatabaseServer } from './private-server.js'

const login = (username: string, password: string): UsernamePassword => new UsernamePassword(username, password)

/**
 * What DjangoChecker must do on a database server: the users Django made log in, the rest is refused alike, the row
 * loads, and an outage is a 503 that heals without restarting the app. Shared by the PostgreSQL and MariaDB tests.
 */
export async function djangoServerSuite (t: Test, options: {
  readonly server: PrivateDatabaseServer
  readonly databaseUrl: string
  /** How the database's `=` matches names: MariaDB's default collation ignores case, PostgreSQL's does not. */
  readonly caseInsensitive: boolean
  /** The generic checker's query in this dialect. */
  readonly sqlQuery: string
}): Promise<void> {
  const { server, databaseUrl } = options
  // A decoy like the fixture's hashes (1,000 iterations) keeps refusals cheap here; the default's cost is tested on SQLite.
  const decoy = djangoUser('alice').encoded
  const checker = new DjangoChecker({ database: databaseUrl, timeout: 1500, poolSize: 4, decoy })
  t.teardown(() => checker.close())

  t.test('every user Django made logs in with the password Django hashed, and only with it', async (t) => {
    for (const user of djangoUsers) {
      if (user.password === null || !user.is_active) continue
      t.equal(await checker.requestAvatarId(login(user.username, user.password)), user.username, `${user.username} (${user.hasher})`)
      await t.rejects(checker.requestAvatarId(login(user.username, `${user.password}x`)), UnauthorizedLogin, `${user.username}: wrong password`)
    }
  })

  t.test('refusals look alike: unknown user, inactive user with the right password, unusable password', async (t) => {
    const messages = new Set<string>()
    for (const [name, password] of [['nobody-here', 'x'], ['judy', djangoUser('judy').password as string], ['mallory', ''], ['mallory', '!']]) {
      const err = await checker.requestAvatarId(login(name as string, password as string)).catch((e: unknown) => e)
      t.type(err, UnauthorizedLogin, `${name as string} is refused`)
      t.notOk(err instanceof StoreUnavailable)
      messages.add((err as Error).message)
    }
    t.equal(messages.size, 1, 'one message for every refusal')
  })

  t.test(`user names match as the database's = does (${options.caseInsensitive ? 'case-insensitive' : 'case-sensitive'})`, async (t) => {
    if (options.caseInsensitive) {
      t.equal(await checker.requestAvatarId(login('ALICE', 'wonderland')), 'alice', 'the avatar id is the name as stored')
      t.equal(await checker.requestAvatarId(login('alice ', 'wonderland')), 'alice', 'PAD SPACE collations ignore trailing spaces')
    } else {
      await t.rejects(checker.requestAvatarId(login('ALICE', 'wonderland')), UnauthorizedLogin)
      await t.rejects(checker.requestAvatarId(login('alice ', 'wonderland')), UnauthorizedLogin)
    }
    t.equal(await checker.requestAvatarId(login('Łukasz', 'żółć:🙂')), 'Łukasz', 'UTF-8 names and passwords')
  })

  t.test('e-mail logins: usernameColumn email; an address shared by two users logs nobody in', async (t) => {
    const byEmail = new DjangoChecker({ database: databaseUrl, usernameColumn: 'email', timeout: 1500, poolSize: 2, decoy })
    t.teardown(() => byEmail.close())
    t.equal(await byEmail.requestAvatarId(login('alice@example.com', 'wonderland')), 'alice@example.com')
    await t.rejects(byEmail.requestAvatarId(login('shared@example.com', 'osc4r')), UnauthorizedLogin)
    t.equal((await byEmail.loadUser('bob@example.com'))?.username, 'bob@example.com')
  })

  t.test('loadUser answers the row and the group names for a realm', async (t) => {
    const bob = await checker.loadUser('bob')
    t.match(bob, { id: djangoUser('bob').id, username: 'bob', email: 'bob@example.com', isStaff: true, isSuperuser: false, isActive: true, groups: ['editors', 'readers'] })
    t.notOk(bob !== undefined && 'password' in bob.row, 'the hash is not handed out')
    t.match(await checker.loadUser('root'), { isStaff: true, isSuperuser: true, groups: [] })
    t.equal(await checker.loadUser('nobody-here'), undefined)
  })

  t.test('SqlChecker with its own parameterised query on the same server', async (t) => {
    const sql = new SqlChecker({ database: databaseUrl, query: options.sqlQuery, hashers: DJANGO_HASHERS, timeout: 1500, poolSize: 2 })
    t.teardown(() => sql.close())
    t.equal(await sql.requestAvatarId(login('bob', 'builder')), 'bob')
    await t.rejects(sql.requestAvatarId(login('judy', 'jud1')), UnauthorizedLogin, 'active flag honoured')
    await t.rejects(sql.requestAvatarId(login("' OR '1'='1", 'x')), UnauthorizedLogin, 'the name is a parameter, never SQL')
  })

  t.test('through the plugin: 200, 401, then the server really stopped → 503 with Retry-After, back → 200 without a restart', async (t) => {
    const { app, url, logs } = await buildDjangoApp(checker)
    t.teardown(() => app.close())
    const ok = await whoami(url, 'bob', 'builder')
    t.equal(ok.status, 200)
    t.match(ok.body, { avatarId: 'bob', username: 'bob', isStaff: true, groups: ['editors', 'readers'] })
    t.equal((await whoami(url, 'bob', 'wrong')).status, 401)

    await server.stop()
    for (const [name, password] of [['bob', 'builder'], ['bob', 'wrong'], ['nobody-here', 'x']]) {
      const down = await whoami(url, name as string, password as string)
      t.equal(down.status, 503, `${name as string}/${password as string} while the database is down: 503, never 401 or 200`)
      t.equal(down.retryAfter, '5')
      t.equal(down.body.code, 'ERR_CRED_STORE_UNAVAILABLE')
    }
    t.ok(logs.some((l) => String(l.msg).includes('unavailable')), 'the outage is logged')
    t.notOk(JSON.stringify(logs).includes('builder'), 'no password in the logs')

    await server.start()
    const back = await whoami(url, 'bob', 'builder')
    t.equal(back.status, 200, 'the pool reconnects by itself')
    t.equal((await whoami(url, 'bob', 'wrong')).status, 401)
  })

  t.test('a server that stops answering (frozen) is bounded: the driver timeout, then the plugin loginTimeout', async (t) => {
    const { app, url } = await buildDjangoApp(checker, 3000)
    t.teardown(() => app.close())
    t.equal((await whoami(url, 'alice', 'wonderland')).status, 200)
    await server.pause()
    try {
      const frozen = await whoami(url, 'alice', 'wonderland')
      t.equal(frozen.status, 503, 'the query timed out: 503')
      t.equal(frozen.retryAfter, '5')
    } finally {
      server.resume()
    }
    // Connections that timed out are dropped by the pool; give the server a moment to notice.
    let status = 0
    for (let attempt = 0; attempt < 20 && status !== 200; attempt++) {
      status = (await whoami(url, 'alice', 'wonderland')).status
      if (status !== 200) await new Promise((resolve) => setTimeout(resolve, 250))
    }
    t.equal(status, 200, 'after the thaw the same app logs in again')
  })

  t.test('a hanging store with a slow driver timeout is cut by the plugin loginTimeout', async (t) => {
    const patient = new DjangoChecker({ database: databaseUrl, timeout: 60_000, poolSize: 2, decoy })
    t.teardown(() => patient.close())
    const { app, url } = await buildDjangoApp(patient, 800)
    t.teardown(() => app.close())
    t.equal((await whoami(url, 'alice', 'wonderland')).status, 200)
    await server.pause()
    try {
      const frozen = await whoami(url, 'alice', 'wonderland')
      t.equal(frozen.status, 503)
      t.equal(frozen.body.code, 'ERR_CRED_LOGIN_TIMEOUT')
    } finally {
      server.resume()
    }
  })
}
