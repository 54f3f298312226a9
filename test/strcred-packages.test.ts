// Third-party checker factories: found in the app's node_modules through a "fastify-cred" field of package.json.
import t from 'tap'
import { cp, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { InvalidOption, UsernamePassword } from '../lib/cred/index.js'
import { discoverCheckerFactories, formatAuthHelp, formatAuthTypeHelp, loadCheckerFactories, makeChecker } from '../lib/strcred/index.js'
import { curl, curlRequest } from './helpers/curl.js'
import { cliBuilt, runCommand, startServe } from './helpers/cli.js'

const repo = fileURLToPath(new URL('..', import.meta.url))
const fixtures = fileURLToPath(new URL('fixtures/strcred/', import.meta.url))
const root = await mkdtemp(join(tmpdir(), 'fastify-cred-packages-'))
t.teardown(async () => { await rm(root, { recursive: true, force: true }) })

/** An app directory whose node_modules hold fastify-cred itself (this repository) and the given fixture packages. */
async function appWith (name: string, packages: Record<string, string>): Promise<string> {
  const app = join(root, name)
  await mkdir(join(app, 'node_modules', '@acme'), { recursive: true })
  await symlink(repo, join(app, 'node_modules', 'fastify-cred'), 'dir')
  for (const [installedAs, fixture] of Object.entries(packages)) await cp(join(fixtures, fixture), join(app, 'node_modules', installedAs), { recursive: true })
  await writeFile(join(app, 'package.json'), JSON.stringify({ name, private: true }))
  return app
}

const app = await appWith('app', { 'fastify-cred-example': 'fastify-cred-example', '@acme/cred-scoped': 'scoped-example' })

t.test('a package declaring "fastify-cred": { "checkerFactories" } is discovered, scoped ones too', async (t) => {
  const found = await discoverCheckerFactories(app)
  t.same(found.map((f) => [f.factory.authType, f.packageName]).sort(), [['acme', '@acme/cred-scoped'], ['example', 'fastify-cred-example']])
  const nested = join(app, 'src', 'deep')
  await mkdir(nested, { recursive: true })
  t.same((await discoverCheckerFactories(nested)).map((f) => f.factory.authType).sort(), ['acme', 'example'], 'found from a subdirectory, as Node resolves packages')

  const registry = await loadCheckerFactories(app)
  t.ok(registry.authTypes().includes('example'))
  t.ok(registry.authTypes().includes('memory'), 'next to the built-ins')
  t.equal(registry.sourceOf('example'), 'fastify-cred-example')
  t.match(formatAuthHelp(registry), /\n {2}example +<user>;token=… +\(from fastify-cred-example\)\n/)
  t.match(formatAuthTypeHelp(registry, 'example'), /Provided by package: fastify-cred-example/)

  const checker = await makeChecker('example:carol;token-env=CAROL_TOKEN', { from: app, env: { CAROL_TOKEN: 't0ken' } })
  t.equal(await checker.requestAvatarId(new UsernamePassword('carol', 't0ken')), 'carol')
  // The fixture imports the installed (compiled) fastify-cred, this test the sources: compare the stable code.
  t.throws(() => checker.requestAvatarId(new UsernamePassword('carol', 'nope')), { code: 'ERR_CRED_UNAUTHORIZED' })
  await t.rejects(makeChecker('example:carol', { from: app }), /Invalid argument for auth type "example" \(the token option is required\); expected format: example:<user>;token=…/)
})

t.test('a package that would shadow a built-in type is refused, naming the package', async (t) => {
  const shadowed = await appWith('shadowed', { 'fastify-cred-shadow': 'fastify-cred-shadow' })
  const err = await loadCheckerFactories(shadowed).then(() => undefined, (e: unknown) => e)
  t.type(err, InvalidOption)
  t.match((err as Error).message, 'Package "fastify-cred-shadow" declares a checker factory for auth type "file", which is built in')
  await t.rejects(makeChecker('memory:alice:pw', { from: shadowed }), /fastify-cred-shadow/, 'every spec fails: the deployment must fix it, never run with a hijacked type')
})

t.test('two packages declaring one type, and malformed declarations, are refused by name', async (t) => {
  const twice = await appWith('twice', { 'fastify-cred-example': 'fastify-cred-example', 'fastify-cred-example-copy': 'fastify-cred-example' })
  await writeFile(join(twice, 'node_modules', 'fastify-cred-example-copy', 'package.json'),
    JSON.stringify({ name: 'fastify-cred-example-copy', type: 'module', 'fastify-cred': { checkerFactories: './factory.js' } }))
  await t.rejects(loadCheckerFactories(twice), /Auth type "example" is declared by two packages, "fastify-cred-example" and "fastify-cred-example-copy"/)

  const outside = await appWith('outside', {})
  await mkdir(join(outside, 'node_modules', 'escaper'))
  await writeFile(join(outside, 'node_modules', 'escaper', 'package.json'), JSON.stringify({ name: 'escaper', 'fastify-cred': { checkerFactories: '../../evil.js' } }))
  await t.rejects(discoverCheckerFactories(outside), /Package "escaper": its checkerFactories module must be a path inside the package/)

  const empty = await appWith('empty', {})
  await mkdir(join(empty, 'node_modules', 'nothing'))
  await writeFile(join(empty, 'node_modules', 'nothing', 'package.json'), JSON.stringify({ name: 'nothing', type: 'module', 'fastify-cred': { checkerFactories: './f.js' } }))
  await writeFile(join(empty, 'node_modules', 'nothing', 'f.js'), 'export const other = 1\n')
  await t.rejects(discoverCheckerFactories(empty), /Package "nothing": its checkerFactories module "\.\/f\.js" exports no "factories" array/)

  const missing = await appWith('missing', {})
  await mkdir(join(missing, 'node_modules', 'gone'))
  await writeFile(join(missing, 'node_modules', 'gone', 'package.json'), JSON.stringify({ name: 'gone', 'fastify-cred': { checkerFactories: './nope.js' } }))
  await t.rejects(discoverCheckerFactories(missing), /Package "gone": cannot import its checkerFactories module "\.\/nope\.js"/)
})

t.test('the command finds the app\'s factories: --help-auth and serve --auth example:…', { skip: cliBuilt || curl.skip }, async (t) => {
  const help = await runCommand(['--help-auth'], { cwd: app })
  t.equal(help.code, 0)
  t.match(help.stdout, /example +<user>;token=… +\(from fastify-cred-example\)/)
  const { url } = await startServe(t, ['--auth', 'example:carol;token-env=CAROL_TOKEN', '--port', '0'], { cwd: app, env: { ...process.env, CAROL_TOKEN: 't0ken' } })
  const ok = await curlRequest(['-u', 'carol:t0ken'], `${url}/whoami`)
  t.equal(ok.status, 200)
  t.same(JSON.parse(ok.body), { avatarId: 'carol' })
  t.equal((await curlRequest(['-u', 'carol:wrong'], `${url}/whoami`)).status, 401)

  const shadowed = join(root, 'shadowed')
  const refused = await runCommand(['serve', '--auth', 'memory:alice:pw', '--port', '0'], { cwd: shadowed })
  t.equal(refused.code, 2)
  t.match(refused.stderr, /^fastify-cred: .*Package "fastify-cred-shadow" declares a checker factory for auth type "file", which is built in/)
  t.equal(refused.stderr.trim().split('\n').length, 1, 'one line')
})
