// Third-party checker factories: declared in a package's package.json ("fastify-cred": { "authTypes",
// "checkerFactories" }), looked for only where Node resolves fastify-cred's own dependencies or in folders named
// explicitly, and loaded only when a spec names one of their types.
import t from 'tap'
import { existsSync } from 'node:fs'
import { cp, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { InvalidOption, UsernamePassword } from '../../lib/cred/index.js'
import {
  authHelpText, authTypeHelpText, discoverCheckerFactories, findCheckerPackages, formatAuthTypeHelp,
  loadCheckerFactories, makeChecker
} from '../../lib/strcred/index.js'
import { curl, curlRequest } from '../helpers/curl.js'
import { cliBuilt, runCommand, startServe } from '../helpers/cli.js'
import { markerPackage } from '../helpers/marker-package.js'

const repo = fileURLToPath(new URL('../..', import.meta.url))
const fixtures = fileURLToPath(new URL('../fixtures/strcred/', import.meta.url))
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
const plugins = { pluginDirs: [join(app, 'node_modules')] }

t.test('a package declaring "fastify-cred": { "authTypes", "checkerFactories" } is found in a named folder, scoped ones too, and loaded for its type only', async (t) => {
  const { packages } = await findCheckerPackages(plugins)
  t.same(packages.map((p) => [p.packageName, p.authTypes]).sort(), [['@acme/cred-scoped', ['acme']], ['fastify-cred-example', ['example']]])
  t.same(await discoverCheckerFactories([], plugins), [], 'no type asked for: nothing imported')
  const found = await discoverCheckerFactories(['example'], plugins)
  t.same(found.map((f) => [f.factory.authType, f.packageName]), [['example', 'fastify-cred-example']], 'only the package of the type asked for')

  const registry = await loadCheckerFactories(['example'], plugins)
  t.ok(registry.authTypes().includes('memory'), 'next to the built-ins')
  t.equal(registry.sourceOf('example'), 'fastify-cred-example')
  t.equal(registry.get('acme'), undefined, 'a package no spec names is not loaded')
  const help = await authHelpText(plugins)
  t.match(help, /\n {2}acme +\(--help-auth-type acme\) +\(from @acme\/cred-scoped\)\n/, '--help-auth lists a package\'s types without loading it')
  t.match(help, /\n {2}example +\(--help-auth-type example\) +\(from fastify-cred-example\)\n/)
  t.match(await authTypeHelpText('example', plugins), /ArgString format: <user>;token=…\nProvided by package: fastify-cred-example/)
  t.match(formatAuthTypeHelp(registry, 'example'), /Provided by package: fastify-cred-example/)
  t.match(formatAuthTypeHelp(registry, 'example'), /\n {2}Options:\n {4}token=… +The token\. Required\. Also token-file=PATH or token-env=VAR\.\n/, 'a package\'s options are printed from its options data')

  const checker = await makeChecker('example:carol;token-env=CAROL_TOKEN', { ...plugins, env: { CAROL_TOKEN: 't0ken' } })
  t.equal(await checker.requestAvatarId(new UsernamePassword('carol', 't0ken')), 'carol')
  // The fixture imports the installed (compiled) fastify-cred, this test the sources: compare the stable code.
  t.throws(() => checker.requestAvatarId(new UsernamePassword('carol', 'nope')), { code: 'ERR_CRED_UNAUTHORIZED' })
  await t.rejects(makeChecker('example:carol', plugins), /Invalid argument for auth type "example" \(the token option is required\); expected format: example:<user>;token=…/)
  await t.rejects(makeChecker('example:carol;token=x'), /Unknown auth type/, 'without the folder: not found (it is not where fastify-cred resolves its dependencies)')
})

t.test('a package cannot replace a built-in type: it is never looked up for one, and a module exporting one is refused', async (t) => {
  const shadowed = await appWith('shadowed', { 'fastify-cred-shadow': 'fastify-cred-shadow' })
  const marker = join(root, 'file-shadow-ran')
  await markerPackage(join(shadowed, 'node_modules'), 'declares-file', { authTypes: ['file', 'memory'], checkerFactories: './factory.js' }, marker, ['file', 'memory'])
  const options = { pluginDirs: [join(shadowed, 'node_modules')] }
  const registry = await loadCheckerFactories(['file', 'memory'], options)
  t.equal(registry.sourceOf('file'), 'built-in')
  t.equal(registry.sourceOf('memory'), 'built-in')
  const checker = await makeChecker('memory:alice:pw', options)
  t.equal(await checker.requestAvatarId(new UsernamePassword('alice', 'pw')), 'alice')
  t.notOk(existsSync(marker), 'a package declaring built-in types never runs')
  const err = await makeChecker('sneaky:x', options).then(() => undefined, (e: unknown) => e)
  t.type(err, InvalidOption)
  t.match((err as Error).message, 'Package "fastify-cred-shadow" declares a checker factory for auth type "file", which is built in')
})

t.test('two packages declaring one type, and malformed declarations, are refused by name when a spec names them', async (t) => {
  const twice = await appWith('twice', { 'fastify-cred-example': 'fastify-cred-example', 'fastify-cred-example-copy': 'fastify-cred-example' })
  await writeFile(join(twice, 'node_modules', 'fastify-cred-example-copy', 'package.json'),
    JSON.stringify({ name: 'fastify-cred-example-copy', type: 'module', 'fastify-cred': { authTypes: ['example'], checkerFactories: './factory.js' } }))
  const inTwice = { pluginDirs: [join(twice, 'node_modules')] }
  await t.rejects(loadCheckerFactories(['example'], inTwice), /Auth type "example" is declared by two packages, "fastify-cred-example" and "fastify-cred-example-copy"/)
  t.ok((await loadCheckerFactories([], inTwice)).get('memory'), 'specs of other types are not affected')

  const bad = join(root, 'bad', 'node_modules')
  const declare = async (name: string, types: string[], module: string, source?: string): Promise<void> => {
    await mkdir(join(bad, name), { recursive: true })
    await writeFile(join(bad, name, 'package.json'), JSON.stringify({ name, type: 'module', 'fastify-cred': { authTypes: types, checkerFactories: module } }))
    if (source !== undefined) await writeFile(join(bad, name, module), source)
  }
  await declare('escaper', ['escaper'], '../../evil.js')
  await declare('nothing', ['nothing'], './f.js', 'export const other = 1\n')
  await declare('gone', ['gone'], './nope.js')
  await declare('liar', ['liar'], './f.js', "export default { authType: 'other', argStringFormat: '', authHelp: '', credentialInterfaces: [], generateChecker () {} }\n")
  const inBad = { pluginDirs: [bad] }
  await t.rejects(discoverCheckerFactories(['escaper'], inBad), /Package "escaper": its checkerFactories module must be a path inside the package/)
  await t.rejects(discoverCheckerFactories(['nothing'], inBad), /Package "nothing": its checkerFactories module "\.\/f\.js" exports no "factories" array/)
  await t.rejects(discoverCheckerFactories(['gone'], inBad), /Package "gone": cannot import its checkerFactories module "\.\/nope\.js"/)
  await t.rejects(discoverCheckerFactories(['liar'], inBad), /Package "liar" declares auth type "liar", but its checkerFactories module exports no factory for it/)
  t.same(await discoverCheckerFactories(['memory', 'unheard-of'], inBad), [], 'none of them is touched for other types')
})

t.test('the command: --auth-plugins and CRED_AUTH_PLUGINS for --help-auth and serve --auth example:…', { skip: cliBuilt || curl.skip }, async (t) => {
  const nodeModules = join(app, 'node_modules')
  const help = await runCommand(['serve', '--auth-plugins', nodeModules, '--help-auth'])
  t.equal(help.code, 0)
  t.match(help.stdout, /example +\(--help-auth-type example\) +\(from fastify-cred-example\)/)
  const fromEnv = await runCommand(['--help-auth-type', 'example'], { env: { ...process.env, CRED_AUTH_PLUGINS: nodeModules } })
  t.match(fromEnv.stdout, /Provided by package: fastify-cred-example/)
  t.notMatch((await runCommand(['--help-auth'], { cwd: app })).stdout, /example/, 'not from the working directory')

  const { url } = await startServe(t, ['--auth-plugins', 'node_modules', '--auth', 'example:carol;token-env=CAROL_TOKEN', '--port', '0'], { cwd: app, env: { ...process.env, CAROL_TOKEN: 't0ken' } })
  const ok = await curlRequest(['-u', 'carol:t0ken'], `${url}/whoami`)
  t.equal(ok.status, 200)
  t.same(JSON.parse(ok.body), { avatarId: 'carol' })
  t.equal((await curlRequest(['-u', 'carol:wrong'], `${url}/whoami`)).status, 401)

  const shadowed = join(root, 'shadowed')
  const refused = await runCommand(['serve', '--auth-plugins', 'node_modules', '--auth', 'sneaky:x', '--port', '0'], { cwd: shadowed })
  t.equal(refused.code, 2)
  t.match(refused.stderr, /^fastify-cred: .*Package "fastify-cred-shadow" declares a checker factory for auth type "file", which is built in/)
  t.equal(refused.stderr.trim().split('\n').length, 1, 'one line')
})
