import { execFile } from 'node:child_process'
import { cp, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'

const run = promisify(execFile)
const root = new URL('../..', import.meta.url).pathname

const DRIVERS = ['bcrypt', 'argon2', 'pg', 'mysql2', 'better-sqlite3', 'ldapts', 'node-linux-pam', 'ioredis']

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
  t.same(DRIVERS.filter((d) => !driverImports.some((line) => line.startsWith('drivers/') && line.split(': ')[1]?.split('/')[0] === d)), [], 'lib/drivers loads every driver')
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
    import { DjangoChecker, SqlChecker, InMemoryChecker } from './lib/checkers/index.js'
    import { djangoArgon2, djangoBcryptSha256, djangoPbkdf2Sha256, bcryptHasher } from './lib/hashers/index.js'
    import { UsernamePassword } from './lib/cred/index.js'
    const out = {}
    const attempt = async (name, fn) => { try { await fn(); out[name] = 'ok' } catch (e) { out[name] = e.code + ' ' + e.message } }
    const creds = new UsernamePassword('alice', 'wonderland')
    await attempt('sqlite', () => new DjangoChecker({ database: 'db.sqlite3' }).requestAvatarId(creds))
    await attempt('postgres', () => new DjangoChecker({ database: 'postgres://127.0.0.1:1/x' }).requestAvatarId(creds))
    await attempt('mysql', () => new SqlChecker({ database: 'mysql://127.0.0.1:1/x', query: 'SELECT 1', hashers: [bcryptHasher] }).requestAvatarId(creds))
    await attempt('argon2', () => djangoArgon2.verify('x', 'argon2$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA'))
    await attempt('bcrypt', () => djangoBcryptSha256.verify('x', 'bcrypt_sha256$$2b$04$' + 'a'.repeat(53)))
    await attempt('pbkdf2', async () => { if (!await djangoPbkdf2Sha256.verify('x', await djangoPbkdf2Sha256.hash('x', { iterations: 1 }))) throw new Error('no') })
    await attempt('memory', () => new InMemoryChecker({ alice: 'wonderland' }).requestAvatarId(creds))
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
