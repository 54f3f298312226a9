import t from 'tap'
import { DjangoChecker } from '../../lib/checkers/index.js'
import { DJANGO_HASHERS } from '../../lib/hashers/index.js'
import { Portal, SimpleRealm, TooManyAttempts, UnauthorizedLogin, UsernamePassword, defineInterface } from '../../lib/index.js'
import type { PasswordHasher } from '../../lib/hashers/index.js'
import { MemoryThrottle } from '../../lib/throttle/index.js'
import { djangoServerSuite } from '../helpers/django-server-suite.js'
import { djangoContract } from './checker-contract.js'
import { djangoUser, loadDjangoIntoMariadb } from '../helpers/django-fixtures.js'
import { mariadbProgram, startMariadb } from '../helpers/mariadb.js'

// DjangoChecker on a real MariaDB started by this file, holding the database Django's `migrate` made there.
if (mariadbProgram.skip !== false) t.plan(0, mariadbProgram.skip)
else {
  const server = await startMariadb(t)
  await loadDjangoIntoMariadb(server.url(''))

  t.test('one user is one throttle count and one avatar: the names MariaDB takes for alice (utf8mb4_general_ci)', async (t) => {
    const IUser = defineInterface<{ name: string }>('IUser')
    const realm = new SimpleRealm().serve(IUser, (id) => ({ name: String(id) }))
    const checker = new DjangoChecker({ database: server.url('django'), decoy: djangoUser('alice').encoded, timeout: 1500, poolSize: 2 })
    t.teardown(() => checker.close())
    // The spellings (the PAD SPACE trailing space, accents, case): MariaDB's = finds alice for each.
    const variants = ['alice ', 'alicé', 'ålice', 'Alíce', 'alîce', 'àlice', 'ALÏCE']
    for (const name of variants) {
      t.equal(await checker.requestAvatarId(new UsernamePassword(name, 'wonderland')), 'alice', `${JSON.stringify(name)} is alice to MariaDB, and logs in as "alice"`)
    }
    const portal = new Portal(realm, [checker], { throttle: new MemoryThrottle({ userThreshold: 5, baseDelay: 60_000 }) })
    const attempt = async (name: string, password: string): Promise<unknown> =>
      await portal.login(new UsernamePassword(name, password), null, IUser).then((r) => r.avatarId, (err: unknown) => err)
    for (const name of variants.slice(0, 5)) t.type(await attempt(name, 'wrong'), UnauthorizedLogin, `${JSON.stringify(name)}: a wrong password, counted`)
    for (const name of ['alice', ...variants]) {
      t.type(await attempt(name, 'wonderland'), TooManyAttempts, `${JSON.stringify(name)}: throttled after 5 failures under any spelling`)
    }
    t.type(await attempt('bob', 'builder'), 'string', 'another user is not throttled')
    const fresh = new Portal(realm, [checker], { throttle: new MemoryThrottle({ userThreshold: 5 }) })
    const result = await fresh.login(new UsernamePassword('ALÏCE', 'wonderland'), null, IUser)
    t.equal(result.avatarId, 'alice', 'a successful variant logs in with the stored name')
    t.equal(result.avatar.name, 'alice')
  })

  t.test('django: on MariaDB, the decoy follows the table: unknown users cost what most users cost', async (t) => {
    const calls: string[] = []
    const hashers: PasswordHasher[] = DJANGO_HASHERS.map((h) => ({ ...h, verify: async (plain: string, encoded: string) => { calls.push(encoded); return await h.verify(plain, encoded) } }))
    const checker = new DjangoChecker({ database: server.url('django'), hashers, timeout: 1500, poolSize: 2 })
    t.teardown(() => checker.close())
    await t.rejects(checker.requestAvatarId(new UsernamePassword('nobody-here', 'x')), UnauthorizedLogin)
    t.match(calls, [/^pbkdf2_sha256\$1000\$/], 'one check, at the fixture users\' 1,000 iterations (not 1,000,000)')
    t.equal(calls[0], await checker.decoy())
  })

  await djangoServerSuite(t, {
    server,
    databaseUrl: server.url('django'),
    caseInsensitive: true,
    sqlQuery: 'SELECT password, is_active AS active FROM auth_user WHERE username = ?'
  })
  await djangoContract(t, { database: server.url('django'), driver: 'mysql2', outage: server })
}
