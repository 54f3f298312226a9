import { execFile } from 'node:child_process'
import { cp, mkdir, mkdtemp, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'

const run = promisify(execFile)
const root = new URL('../..', import.meta.url).pathname

const DRIVERS = ['bcrypt', 'argon2', 'pg', 'mysql2', 'better-sqlite3', 'ldapts', 'node-linux-pam', 'ioredis', 'jose', '@fastify/websocket', 'ssh2', 'prom-client']

/** Every TypeScript source under lib/, as [path relative to lib/, text]. */
async function libSources (): Promise<Array<[string, string]>> {
  const files = (await readdir(join(root, 'lib'), { recursive: true })).filter((f) => f.endsWith('.ts'))
  return await Promise.all(files.map(async (f): Promise<[string, string]> => [f, await readFile(join(root, 'lib', f), 'utf8')]))
}

t.test('drivers load one way: only lib/drivers imports a driver package, and lib/cred imports nothing of lib/drivers', async (t) => {
  const sources = await libSources()
  const importsOf = (text: string): string[] =>
    // Value imports and exports (a multi-line list included), dynamic imports and resolves; `import type` and
    // `typeof import()` load nothing.
    [...text.matchAll(/(?:^|\n)\s*(?:import|export)(?!\s+type\b)[^'";]*?from\s+['"]([^'"]+)['"]|(?<!typeof\s*)import(?:\.meta\.resolve)?\(\s*['"]([^'"]+)['"]\s*\)/g)].map((m) => m[1] ?? m[2] ?? '')
  const driverImports = sources.flatMap(([file, text]) => importsOf(text)
    .filter((name) => DRIVERS.some((d) => name === d || name.startsWith(`${d}/`)))
    .map((name) => `${file}: ${name}`))
  t.same(DRIVERS.filter((d) => !driverImports.some((line) => line.startsWith('drivers/') && ((name) => name === d || name.startsWith(`${d}/`))(line.split(': ')[1] ?? ''))), [], 'lib/drivers loads every driver')
  t.same(driverImports.filter((line) => !line.startsWith('drivers/')), [], 'and nowhere but lib/drivers')
  const coreUsesDrivers = sources.filter(([file, text]) => file.startsWith('cred/') && importsOf(text).some((name) => name.includes('/drivers/')))
  t.same(coreUsesDrivers.map(([file]) => file), [], 'the core imports nothing of lib/drivers')
  t.notOk(sources.some(([file]) => /^cred\/(peer-dependency|redis-scripts)\.ts$/.test(file)), 'nor holds a loader or a Redis connection')
  const publicEntry = sources.find(([file]) => file === 'index.ts')?.[1] ?? ''
  t.notMatch(publicEntry, /overrideDriver|loadDriver|optionalPeer|kLoadDriver|RedisScripts/, "the drivers layer's functions are not public")
})

// The built checkers and hashers copied where no node_modules can be found: every driver and native hasher is really
// absent, so each first use must say which package to install (no mock of the module loader).
t.test('without the optional packages, first use names the package to install', { skip: existsSync(`${root}dist/lib/checkers/index.js`) ? false : 'run `npm run build` first' }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'fastify-cred-no-peers-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  for (const folder of ['cred', 'drivers', 'checkers', 'hashers']) await cp(join(root, 'dist/lib', folder), join(dir, 'lib', folder), { recursive: true })
  await writeFile(join(dir, 'package.json'), '{ "type": "module" }')
  const script = `
    import { DjangoChecker, SqlChecker, MemoryChecker } from './lib/checkers/index.js'
    import { djangoArgon2Hasher, djangoBcryptSha256Hasher, djangoPbkdf2Sha256Hasher, bcryptHasher } from './lib/hashers/index.js'
    import { UsernamePassword } from './lib/cred/index.js'
    const out = {}
    const attempt = async (name, fn) => { try { await fn(); out[name] = 'ok' } catch (e) { out[name] = e.code + ' ' + e.message } }
    const creds = new UsernamePassword('alice', 'wonderland')
    await attempt('sqlite', () => new DjangoChecker({ database: 'db.sqlite3' }).requestAvatarId(creds))
    await attempt('postgres', () => new DjangoChecker({ database: 'postgres://127.0.0.1:1/x' }).requestAvatarId(creds))
    await attempt('mysql', () => new SqlChecker({ database: 'mysql://127.0.0.1:1/x', query: 'SELECT 1', hashers: [bcryptHasher] }).requestAvatarId(creds))
    await attempt('argon2', () => djangoArgon2Hasher.verify('x', 'argon2$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA'))
    await attempt('bcrypt', () => djangoBcryptSha256Hasher.verify('x', 'bcrypt_sha256$$2b$04$' + 'a'.repeat(53)))
    await attempt('pbkdf2', async () => { if (!await djangoPbkdf2Sha256Hasher.verify('x', await djangoPbkdf2Sha256Hasher.hash('x', { iterations: 1 }))) throw new Error('no') })
    await attempt('memory', () => new MemoryChecker({ alice: 'wonderland' }).requestAvatarId(creds))
    console.log(JSON.stringify(out))`
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], { cwd: dir })
  const out = JSON.parse(stdout) as Record<string, string>
  t.match(out.sqlite, /^ERR_CRED_MISSING_PEER_DEPENDENCY .*npm install better-sqlite3/)
  t.match(out.postgres, /^ERR_CRED_MISSING_PEER_DEPENDENCY .*npm install pg\)/)
  t.match(out.mysql, /^ERR_CRED_MISSING_PEER_DEPENDENCY .*npm install mysql2/)
  t.match(out.argon2, /^ERR_CRED_MISSING_PEER_DEPENDENCY .*npm install argon2/)
  t.match(out.bcrypt, /^ERR_CRED_MISSING_PEER_DEPENDENCY .*npm install bcrypt/)
  t.equal(out.pbkdf2, 'ok', 'node:crypto formats need nothing')
  t.equal(out.memory, 'ok', 'loading the checkers loads no driver')
})

// The built command where the store drivers are really absent: a set-up that cannot work ends `serve` with exit 1
// and the `npm install …` line, before it listens (it used to start and answer every login 500 or 503).
t.test('fastify-cred serve without a store\'s driver exits 1 naming the package; it never starts', { skip: existsSync(`${root}dist/lib/cli/main.js`) ? false : 'run `npm run build` first' }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'fastify-cred-serve-no-peers-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  await cp(join(root, 'dist/lib'), join(dir, 'dist/lib'), { recursive: true })
  await writeFile(join(dir, 'package.json'), '{ "type": "module" }')
  await mkdir(join(dir, 'node_modules'))
  for (const name of await readdir(join(root, 'node_modules'))) {
    if (!DRIVERS.includes(name) && !name.startsWith('.')) await symlink(join(root, 'node_modules', name), join(dir, 'node_modules', name))
  }
  const sqlite = new URL('../fixtures/django/db.sqlite3', import.meta.url).pathname
  const cases: Array<[string[], string]> = [
    [['--auth', `django:${sqlite}`], 'fastify-cred: A SQLite user database needs the better-sqlite3 package: install it (npm install better-sqlite3@12)\n'],
    [['--auth', 'django:postgres://app@127.0.0.1:1/site'], 'fastify-cred: A postgres:// user database needs the pg package: install it (npm install pg)\n'],
    [['--auth', 'sql:mysql://app@127.0.0.1:1/site;table=users'], 'fastify-cred: A mysql:// user database needs the mysql2 package: install it (npm install mysql2)\n'],
    [['--auth', 'ldap:ldap://127.0.0.1:1;user-dn=uid={username},dc=x'], 'fastify-cred: LdapChecker needs the ldapts package: install it (npm install ldapts@8)\n'],
    [['--auth', 'memory:alice:pw', '--throttle', 'redis://127.0.0.1:1'], 'fastify-cred: RedisThrottle needs the ioredis package: install it (npm install ioredis)\n'],
    [['--auth', 'jwt:;secret=a shared secret of thirty-two bytes or more', '--scheme', 'bearer'], 'fastify-cred: JwtChecker needs the jose package: install it (npm install jose@6)\n']
  ]
  for (const [args, message] of cases) {
    const result = await run(process.execPath, [join(dir, 'dist/lib/cli/main.js'), 'serve', ...args, '--port', '0'], { cwd: dir }).then(
      (done) => ({ code: 0, ...done }), (err: { code: number, stdout: string, stderr: string }) => err)
    t.equal(result.code, 1, `${args.join(' ')}: exit 1`)
    t.equal(result.stderr, message, `${args.join(' ')}: one line naming the package`)
    t.notMatch(result.stderr + result.stdout, /serving/, 'it never listened')
  }
})
