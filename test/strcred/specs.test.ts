import t from 'tap'
import type { Test } from 'tap'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Fastify from 'fastify'
import {
  ANONYMOUS, Anonymous, IAnonymous, IUsernamePassword, InvalidOption, SimpleRealm, UnauthorizedLogin, UsernamePassword,
  defineInterface
} from '../../lib/cred/index.js'
import type { CredentialsChecker } from '../../lib/cred/index.js'
import { MemoryChecker } from '../../lib/checkers/index.js'
import { cred } from '../../lib/fastify/index.js'
import {
  CheckerFactoryRegistry, builtinCheckerFactories, checkersFromEnvironment, closeCheckers, escapeSpecValue, formatAuthHelp,
  formatAuthTypeHelp, makeChecker, parseArgString, parseAuthEnvironment, parseDuration, parseSpec,
  resolveCheckers
} from '../../lib/strcred/index.js'
import type { CheckerFactory } from '../../lib/strcred/index.js'

// Only the built-ins: the project's own node_modules hold no third-party factories, and this keeps the file fast.
const registry = new CheckerFactoryRegistry(builtinCheckerFactories)
const make = async (spec: string, env: Record<string, string> = {}): Promise<CredentialsChecker> => await makeChecker(spec, { registry, env })

/** The InvalidOption a spec gives, with its message checked never to contain `secret`. */
async function refusal (t: Test, spec: string, secret?: string, env: Record<string, string> = {}): Promise<string> {
  const err = await make(spec, env).then(() => undefined, (e: unknown) => e)
  t.type(err, InvalidOption, `${JSON.stringify(spec.split(':')[0])} spec is refused with InvalidOption`)
  const message = (err as Error).message
  if (secret !== undefined) t.notOk(message.includes(secret), 'the message does not contain the secret')
  return message
}

const dir = await mkdtemp(join(tmpdir(), 'fastify-cred-strcred-'))
t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })

t.test('parseSpec splits at the first ":" (Twisted), parseArgString at lone ";"', async (t) => {
  t.same(parseSpec('memory:alice:wonderland'), { authType: 'memory', argString: 'alice:wonderland' })
  t.same(parseSpec('anonymous'), { authType: 'anonymous', argString: '' })
  t.same(parseSpec('django:postgres://u@h:5432/db'), { authType: 'django', argString: 'postgres://u@h:5432/db' })
  t.same(parseArgString('/etc/users;cache=30s;cache-size=5'), { argument: '/etc/users', options: [['cache', '30s'], ['cache-size', '5']] })
  t.same(parseArgString('a;;b;x=c;;d=e'), { argument: 'a;b', options: [['x', 'c;d=e']] }, ';; is a literal ;, = splits at the first')
  t.same(parseArgString('ldap://h;base-dn=ou=p,dc=x,dc=y'), { argument: 'ldap://h', options: [['base-dn', 'ou=p,dc=x,dc=y']] })
  t.same(parseArgString(''), { argument: '', options: [] })
  t.equal(escapeSpecValue('p;w;;'), 'p;;w;;;;')
  t.same(parseArgString(`${escapeSpecValue('p;w;;')};x=${escapeSpecValue(';')}`), { argument: 'p;w;;', options: [['x', ';']] }, 'escapeSpecValue round-trips')
  t.throws(() => parseArgString('a;novalue'), InvalidOption)
  t.throws(() => parseArgString('a;Bad=1'), InvalidOption, 'option names are lower case')
  t.equal(parseDuration('30s', 'cache'), 30_000)
  t.equal(parseDuration('250ms', 'cache'), 250)
  t.equal(parseDuration('2', 'cache'), 2000)
  t.equal(parseDuration('1.5m', 'cache'), 90_000)
  t.equal(parseDuration('1h', 'cache'), 3_600_000)
  t.throws(() => parseDuration('soon', 'cache'), InvalidOption)
})

t.test('memory:user:pass[:user:pass…] (Twisted\'s form)', async (t) => {
  const checker = await make('memory:alice:wonderland:bob:build;;er')
  t.same(checker.credentialInterfaces, MemoryChecker.credentialInterfaces)
  t.equal(await checker.requestAvatarId(new UsernamePassword('alice', 'wonderland')), 'alice')
  t.equal(await checker.requestAvatarId(new UsernamePassword('bob', 'build;er')), 'bob', ';; in a password is a ;')
  t.throws(() => checker.requestAvatarId(new UsernamePassword('alice', 'wrong')), UnauthorizedLogin)
  t.throws(() => checker.requestAvatarId(new UsernamePassword('carol', 'wonderland')), UnauthorizedLogin)
  t.throws(() => checker.requestAvatarId(new UsernamePassword('Alice', 'wonderland')), UnauthorizedLogin, 'case-sensitive by default')

  const insensitive = await make('memory:alice:wonderland;case-sensitive=no')
  t.equal(await insensitive.requestAvatarId(new UsernamePassword('ALICE', 'wonderland')), 'alice')
  t.equal(await (await make('memory:alice:')).requestAvatarId(new UsernamePassword('alice', '')), 'alice', 'an empty password is a password')
})

t.test('secrets come from a file or an environment variable instead of the spec', async (t) => {
  const file = join(dir, 'alice.secret')
  await writeFile(file, 'from-a-file\n')
  const fromFile = await make(`memory:alice;password-file=${file}`)
  t.equal(await fromFile.requestAvatarId(new UsernamePassword('alice', 'from-a-file')), 'alice', 'one trailing newline dropped')
  const fromEnv = await make('memory:alice;password-env=ALICE_PW', { ALICE_PW: 'from:the;env' })
  t.equal(await fromEnv.requestAvatarId(new UsernamePassword('alice', 'from:the;env')), 'alice', 'an env secret may hold ":" and ";"')
  t.equal(await (await make('memory:alice;password=inline')).requestAvatarId(new UsernamePassword('alice', 'inline')), 'alice')

  t.match(await refusal(t, 'memory:alice;password-env=NOT_SET'), /NOT_SET.*not set/)
  t.match(await refusal(t, `memory:alice;password-file=${join(dir, 'missing')}`), /cannot read .*ENOENT/)
  await writeFile(join(dir, 'two-lines'), 'a\nb\n')
  t.match(await refusal(t, `memory:alice;password-file=${join(dir, 'two-lines')}`), /one line/)
  t.match(await refusal(t, 'memory:alice;password=x;password-env=ALICE_PW', undefined, { ALICE_PW: 'y' }), /more than once/)
  t.match(await refusal(t, 'memory:alice:bob;password=hunter22', 'hunter22'), /one user name/)
})

t.test('errors: an unknown type names the valid ones; a bad argument prints the format, never a secret', async (t) => {
  const unknown = await refusal(t, 'nosuch:x', 'nosuch')
  t.match(unknown, /Unknown auth type \(the text before its first ":" is taken as the type, and it is none of these\); valid types: anonymous, apikey, cert, django, file, htdigest, jwt, ldap, memory, sql, sshkey, unix/)
  const typo = await refusal(t, 'hunter2 is my password:x', 'hunter2')
  t.match(typo, /Unknown auth type \(the text before its first ":"/, 'the unknown type is never repeated (it may be a password)')

  for (const spec of ['memory:alice:s3cretpw:bob', 'memory:alice', 'memory::s3cretpw', 'memory:alice:s3cretpw;s3cretpw']) {
    const message = await refusal(t, spec, 's3cretpw')
    t.match(message, /expected format: memory:user:pass\[:user:pass…\]/, `${spec.replaceAll('s3cretpw', '…')}: prints the format`)
  }
  t.match(await refusal(t, 'memory:alice:pw;colour=blue', 'colour'), /Auth type "memory": the option after the 1st single ";" is not one of its options: password, case-sensitive, cache, cache-size/)
  t.match(await refusal(t, 'memory:alice:pw;cache-size=10'), /"cache-size" needs "cache"/)
  t.match(await refusal(t, 'memory:alice:pw;cache=eventually'), /duration/)
  t.match(await refusal(t, 'memory:alice:pw;case-sensitive=maybe'), /yes or no/)
  t.match(await refusal(t, 'anonymous:extra'), /Invalid argument for auth type "anonymous" \(this type takes no argument\); expected format: anonymous:\(no argument\)/)
  t.same(parseSpec('unix;cache=30s'), { authType: 'unix', argString: ';cache=30s' }, 'a type without argument takes options after ";"')
  t.match(await refusal(t, 'anonymous;password=x'), /Auth type "anonymous": the option after the 1st single ";" is not one of its options: cache, cache-size/)
})

t.test('issue #20 item 9: no spec error repeats a password, and each still says where and what to write', async (t) => {
  // Each spec holds the secret where a careless user would put it; the message must not contain it (nor a piece of
  // it four characters or longer), and must still name the type, the option or the position.
  const secret = 'Tr0ub4dor-xyzzy'
  const pieces = (text: string): string[] => text.split(/[^A-Za-z0-9]+/).filter((p) => p.length >= 4)
  const cases: Array<[spec: string, expected: RegExp, leaked: string]> = [
    // A spec of only a password: Twisted's rule makes all of it the "type".
    ['correct horse battery staple', /Unknown auth type \(the spec has no ":", so all of it is taken as the type/, 'correct horse battery staple'],
    [secret, /Unknown auth type \(the spec has no ":"/, secret],
    // A password holding ":", ";" or "=" given as a whole spec.
    [`${secret}:more`, /Unknown auth type \(the text before its first ":"/, secret],
    [`p4ss;${secret}=x`, /Unknown auth type \(the text before its first ":"/, secret],
    // The part of a password after a single ";" reads as an option.
    ['memory:alice:open;secretpart=x', /Auth type "memory": the option after the 1st single ";" is not one of its options: password, case-sensitive, cache, cache-size \(write ";;" for a ";" inside a password or value\)/, 'secretpart'],
    ['memory:alice:open;secretpart', /option 1 is not \(write ";;" for a ";" inside a value\); expected format: memory:user:pass/, 'secretpart'],
    [`memory:alice:pw;cache=30s;${secret.toLowerCase()}=1`, /the option after the 2nd single ";" is not one of its options/, secret.toLowerCase()],
    [`memory:alice:a=b;${secret}`, /Auth type "memory": Options in a checker spec are written ";name=value".* option 1 is not/, secret],
    [`memory:alice:${secret}:bob`, /Invalid argument for auth type "memory" \(user names and passwords must come in pairs\)/, secret],
    [`memory:alice:${secret}=x:y`, /must come in pairs/, secret],
    // A password written where a variable name or a file path belongs.
    [`memory:alice;password-env=${secret.toLowerCase()}`, /Option "password-env" names an environment variable that is not set/, secret.toLowerCase()],
    [`memory:alice;password-file=${secret}`, /Option "password-file": cannot read the file it names \(ENOENT\)/, secret],
    [`file:/etc/users;check-interval=${secret}`, /Option "check-interval" takes a duration/, secret],
    [`ldap:ldap://h;base-dn=x;bind-password=${secret}`, /bind-dn and bind-password go together/, secret]
  ]
  for (const [spec, expected, leaked] of cases) {
    const err = await make(spec).then(() => undefined, (e: unknown) => e)
    const label = spec.replaceAll(leaked, '<secret>')
    t.type(err, InvalidOption, `${label}: InvalidOption`)
    const message = (err as Error).message
    t.match(message, expected, `${label}: says what is wrong`)
    for (const piece of pieces(leaked)) t.notOk(message.includes(piece), `${label}: "${piece.slice(0, 2)}…" is not repeated`)
  }
  // Through resolveCheckers and CRED_AUTH: the position is added, the value still never shown.
  const viaEnv = await checkersFromEnvironment({ CRED_AUTH: `anonymous\n${secret}` }, { registry }).then(() => '', (e: unknown) => (e as Error).message)
  t.match(viaEnv, /^CRED_AUTH checkers\[1\]: Unknown auth type/)
  t.notOk(viaEnv.includes(secret), 'CRED_AUTH: not repeated')
  t.match(await refusal(t, 'memory:alice;password-env=NOPE_PW'), /names an environment variable \(NOPE_PW\) that is not set/, 'a real variable name is still shown')
  t.match(await refusal(t, `memory:alice;password-file=${join(dir, 'absent')}`), /cannot read ".*absent" \(ENOENT\)/, 'a real path is still shown')
})

t.test('anonymous', async (t) => {
  const checker = await make('anonymous')
  t.same(checker.credentialInterfaces, [IAnonymous])
  t.equal(await checker.requestAvatarId(new Anonymous()), ANONYMOUS)
})

t.test('the stores\' arguments and options are checked before their module (and driver) is loaded', async (t) => {
  t.match(await refusal(t, 'file:'), /Invalid argument for auth type "file" \(the file path is missing\); expected format: file:<htpasswd file>/)
  t.match(await refusal(t, 'htdigest:'), /the file path is missing/)
  t.match(await refusal(t, 'django:'), /the database is missing/)
  t.match(await refusal(t, 'sql:/srv/db.sqlite3'), /give the table option or the query option/)
  t.match(await refusal(t, 'sql:/srv/db.sqlite3;table=a;query=SELECT 1'), /give the table option or the query option/)
  t.match(await refusal(t, 'sql:/srv/db.sqlite3;query=SELECT 1;username-column=x'), /the column options go with table/)
  t.match(await refusal(t, 'sql:/srv/db.sqlite3;table=a;password=s3cretpw', 's3cretpw'), /the password option is for postgres:\/\/ and mysql:\/\//)
  t.match(await refusal(t, 'django:postgres://db/app;password=s3cretpw', 's3cretpw'), /names no user/)
  t.match(await refusal(t, 'django:ftp://u:s3cretpw@h/db', 's3cretpw'), /starts with postgres:\/\/ or mysql:\/\//)
  t.match(await refusal(t, 'django:mysql://u:s3cretpw@', 's3cretpw'), /cannot be read/)
  t.match(await refusal(t, 'sql:postgres://u:s3cretpw@h:port/db;table=t', 's3cretpw'), /cannot be read/)
  t.match(await refusal(t, 'ldap:ldap://h'), /give base-dn \(search, then bind\) or user-dn \(direct bind\)/)
  t.match(await refusal(t, 'ldap:ldap://h;base-dn=x;user-dn=uid={username}'), /give base-dn/)
  t.match(await refusal(t, 'ldap:ldap://h;user-dn=uid=alice'), /user-dn must contain \{username\}/)
  t.match(await refusal(t, 'ldap:ldap://h;user-dn=uid={username};filter=(cn={username})'), /filter go with base-dn/)
  t.match(await refusal(t, 'ldap:ldap://h;base-dn=x;scope=deep'), /scope is base, one or sub/)
  t.match(await refusal(t, 'ldap:ldap://h;base-dn=x;bind-password=s3cretpw', 's3cretpw'), /bind-dn and bind-password go together/)
  t.match(await refusal(t, 'unix;max-concurrent=0'), /positive whole number/)
  t.match(await refusal(t, 'file:/x;check-interval=often'), /duration/)
  t.match(await refusal(t, 'ldap:ldap://h/ou=people;base-dn=x'), /ldap:\/\/ or ldaps:\/\/ URL with no path/)
  t.match(await refusal(t, 'ldap:ldap://h;base-dn=x;ca=/nonexistent/ca.pem'), /cannot read the CA file/)
  t.match(await refusal(t, 'unix:root'), /takes no argument/)
  t.match(await refusal(t, 'django:postgres://app:s3cretpw@db/app;tabel=x', 's3cretpw'), /Auth type "django": the option after the 1st single ";" is not one of its options: table,/)
  t.match(await refusal(t, 'ldap:ldap://h;base-dn=x;bind-password-env=NOPE_PW'), /NOPE_PW/)
})

t.test('a factory may be asynchronous, and what it returns must be a checker', async (t) => {
  const slow: CheckerFactory = {
    authType: 'slow',
    argStringFormat: '<user>',
    authHelp: 'test',
    credentialInterfaces: [IUsernamePassword],
    async generateChecker (_argString, args) {
      await new Promise((resolve) => setImmediate(resolve))
      return new MemoryChecker({ [args.argument]: 'pw' })
    }
  }
  const broken: CheckerFactory = { ...slow, authType: 'broken', generateChecker: () => ({}) as unknown as CredentialsChecker }
  const own = new CheckerFactoryRegistry(builtinCheckerFactories).add(slow, 'test-package').add(broken, 'test-package')
  const checker = await makeChecker('slow:carol', { registry: own })
  t.equal(await checker.requestAvatarId(new UsernamePassword('carol', 'pw')), 'carol')
  await t.rejects(makeChecker('broken:x', { registry: own }), /did not return a checker/)
  await t.rejects(makeChecker('slow:x;opt=1', { registry: own }), /Auth type "slow": the option after the 1st single ";" is not one of its options: cache, cache-size/)
  t.throws(() => own.add({ ...slow, authType: 'memory' }, 'evil-package'), /Package "evil-package" declares a checker factory for auth type "memory", which is built in/)
  t.throws(() => own.add(slow, 'other-package'), /declared by two packages, "test-package" and "other-package"/)
  t.throws(() => own.add({ ...slow, authType: 'Bad Name' }, 'x'), /no valid authType/)
  t.throws(() => own.add({ ...slow, authType: 'nohelp', authHelp: undefined as unknown as string }, 'x'), /lacks a valid authHelp/)
})

t.test('closeCheckers closes every checker that has close(), and ignores their errors', async (t) => {
  const closed: string[] = []
  const closable = (name: string, fails = false): CredentialsChecker & { close: () => Promise<void> } => ({
    credentialInterfaces: [IUsernamePassword],
    requestAvatarId: () => name,
    close: async () => { closed.push(name); if (fails) throw new Error('already closed') }
  })
  await closeCheckers([closable('a'), new MemoryChecker(), closable('b', true), closable('c')])
  t.same(closed, ['a', 'b', 'c'])
})

t.test('resolveCheckers: checkers and spec strings, in order', async (t) => {
  const own = new MemoryChecker({ dave: 'pw' })
  const checkers = await resolveCheckers([own, 'memory:alice:wonderland', 'anonymous'], { registry })
  t.equal(checkers.length, 3)
  t.equal(checkers[0], own)
  t.equal(await checkers[1]?.requestAvatarId(new UsernamePassword('alice', 'wonderland')), 'alice')
  t.same(checkers[2]?.credentialInterfaces, [IAnonymous])
  await t.rejects(resolveCheckers([own, 'nosuch:x'], { registry }), /^checkers\[1\]: Unknown auth type \(the text before its first ":"/)
})

t.test('CRED_AUTH: one spec per line, or a JSON array; specs may hold ":", "," and ";"', async (t) => {
  t.same(parseAuthEnvironment('file:/etc/a\n\n  # a comment\n anonymous \r\n'), ['file:/etc/a', 'anonymous'])
  t.same(parseAuthEnvironment(' ["memory:a:b;;c", "ldap:ldap://h;base-dn=ou=x,dc=y"] '), ['memory:a:b;;c', 'ldap:ldap://h;base-dn=ou=x,dc=y'])
  t.throws(() => parseAuthEnvironment('["memory:a:b", 3]'), /JSON array of strings/)
  t.same(await checkersFromEnvironment({}, { registry }), [], 'unset: no checkers')
  t.same(await checkersFromEnvironment({ CRED_AUTH: '  \n' }, { registry }), [])

  const env = { CRED_AUTH: JSON.stringify(['memory:alice:a,b;;c', 'memory:bob;password-env=BOB_PW']), BOB_PW: 'x:y,z;w' }
  const [alice, bob] = await checkersFromEnvironment(env, { registry })
  t.equal(await alice?.requestAvatarId(new UsernamePassword('alice', 'a,b;c')), 'alice')
  t.equal(await bob?.requestAvatarId(new UsernamePassword('bob', 'x:y,z;w')), 'bob', 'secrets read from the same environment')
  const lines = await checkersFromEnvironment({ CRED_AUTH: 'memory:alice:a,b;;c\nanonymous' }, { registry })
  t.equal(lines.length, 2)
  await t.rejects(checkersFromEnvironment({ CRED_AUTH: 'memory:alice' }, { registry }), /^CRED_AUTH checkers\[0\]: Invalid argument for auth type "memory"/)
})

t.test('--help-auth table and --help-auth-type, in Twisted\'s shape', async (t) => {
  const table = formatAuthHelp(registry)
  t.match(table, /^Usage: --auth AuthType\[:ArgString\]/)
  t.match(table, /\n {2}AuthType {3}ArgString format\n {2}={8} {3}={16}\n/)
  for (const factory of builtinCheckerFactories) t.match(table, new RegExp(`\\n  ${factory.authType} +${factory.argStringFormat.replace(/[[\]()|.*+?^$\\]/g, '\\$&')}\\n`))
  const one = formatAuthTypeHelp(registry, 'memory')
  t.match(one, /^Usage: --auth memory:ArgString\nArgString format: user:pass\[:user:pass…\]\n\n {2}Users and plaintext/)
  t.match(one, /Shared options:\n {4}cache=…/)
  t.throws(() => formatAuthTypeHelp(registry, 'nosuch'), /Unknown auth type "nosuch"; valid types: anonymous/)
})

t.test('the plugin takes the checkers of spec strings (what the lead wires into `checkers`)', async (t) => {
  const IUser = defineInterface<{ name: string }>('IUser')
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(cred, {
    realm: new SimpleRealm().serve(IUser, (id) => ({ name: String(id) })),
    checkers: await resolveCheckers(['memory:alice:wonderland'], { registry }),
    interfaces: [IUser]
  })
  app.get('/me', async (request) => ({ avatarId: request.avatarId }))
  const ok = await app.inject({ url: '/me', headers: { authorization: `Basic ${Buffer.from('alice:wonderland').toString('base64')}` } })
  t.equal(ok.statusCode, 200)
  t.same(ok.json(), { avatarId: 'alice' })
  const wrong = await app.inject({ url: '/me', headers: { authorization: `Basic ${Buffer.from('alice:nope').toString('base64')}` } })
  t.equal(wrong.statusCode, 401)
})
