// Issue #20 item 7: third-party auth types are never looked for in the working directory or above it, and a
// package runs only when a spec names its type. Uses only what the command and makeChecker offered before the fix, so
// that it fails on the old code for the real reason (a package above the cwd ran, or a broken one stopped serve).
import t from 'tap'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { UsernamePassword } from '../../lib/cred/index.js'
import { makeChecker } from '../../lib/strcred/index.js'
import { curl, curlRequest } from '../helpers/curl.js'
import { cliBuilt, runCommand, startServe } from '../helpers/cli.js'
import { markerPackage } from '../helpers/marker-package.js'

const root = await mkdtemp(join(tmpdir(), 'fastify-cred-discovery-'))
t.teardown(async () => { await rm(root, { recursive: true, force: true }) })

t.test('issue #20 item 7: nothing is loaded from the working directory or its ancestors, nor a package no spec names', async (t) => {
  // <tree>/node_modules holds a package whose factory would leave a marker and an old-style declaration (no
  // authTypes) that would leave another; later also broken packages. The server runs in <tree>/deploy/site.
  const tree = join(root, 'tree')
  const nodeModules = join(tree, 'node_modules')
  const site = join(tree, 'deploy', 'site')
  await mkdir(site, { recursive: true })
  const marker = join(root, 'evil-ran')
  const oldStyleMarker = join(root, 'old-style-ran')
  await markerPackage(nodeModules, 'evil-plugin', { authTypes: ['evil'], checkerFactories: './factory.js' }, marker, ['evil'])
  await markerPackage(nodeModules, 'old-style-plugin', { checkerFactories: './factory.js' }, oldStyleMarker, ['old'])
  const ran = (): string[] => [marker, oldStyleMarker].filter((m) => existsSync(m))

  const cwd = process.cwd()
  process.chdir(site)
  try {
    const checker = await makeChecker('memory:alice:wonderland')
    t.equal(await checker.requestAvatarId(new UsernamePassword('alice', 'wonderland')), 'alice', 'the library: a built-in spec works in <tree>/deploy/site')
    await t.rejects(makeChecker('evil:x'), /Unknown auth type/, 'a type only installed above the cwd is unknown')
  } finally {
    process.chdir(cwd)
  }
  t.same(ran(), [], 'no package above the working directory ran')

  // Now packages that cannot be used at all: one that throws when imported, one whose declaration is malformed.
  await mkdir(join(nodeModules, 'broken-plugin'))
  await writeFile(join(nodeModules, 'broken-plugin', 'package.json'), JSON.stringify({ name: 'broken-plugin', type: 'module', 'fastify-cred': { authTypes: ['broken'], checkerFactories: './f.js' } }))
  await writeFile(join(nodeModules, 'broken-plugin', 'f.js'), 'throw new Error("broken at import")\n')
  await mkdir(join(nodeModules, 'malformed-plugin'))
  await writeFile(join(nodeModules, 'malformed-plugin', 'package.json'), JSON.stringify({ name: 'malformed-plugin', 'fastify-cred': { checkerFactories: 42 } }))

  if (cliBuilt === false && curl.skip === false) {
    const { url } = await startServe(t, ['--auth', 'memory:alice:wonderland', '--port', '0'], { cwd: site })
    t.equal((await curlRequest(['-u', 'alice:wonderland'], `${url}/whoami`)).status, 200, 'serve starts in <tree>/deploy/site, broken packages above it notwithstanding')
    const refused = await runCommand(['serve', '--auth', 'evil:x', '--port', '0'], { cwd: site })
    t.equal(refused.code, 2)
    t.match(refused.stderr, /^fastify-cred: --auth: Unknown auth type/)
    // Named explicitly, the folder is searched, and still only the package of a type a spec names runs.
    const explicit = await startServe(t, ['--auth-plugins', '../../node_modules', '--auth', 'memory:alice:wonderland', '--port', '0'], { cwd: site })
    t.equal((await curlRequest(['-u', 'alice:wonderland'], `${explicit.url}/whoami`)).status, 200, '--auth-plugins: serve starts; the broken packages are not loaded')
    t.same(ran(), [], 'serve loaded no package: none was named by a spec')
  }

  const named = { pluginDirs: [nodeModules] }
  const unknown = await makeChecker('old:x', named).then(() => '', (e: unknown) => (e as Error).message)
  t.match(unknown, /Unknown auth type .*not usable: .*package "old-style-plugin": its "fastify-cred" field has no "authTypes" list/, 'an old-style declaration is named, not run')
  t.match(unknown, /package "malformed-plugin": its "fastify-cred" field has no "checkerFactories" module path/)
  await t.rejects(makeChecker('broken:x', named), /Package "broken-plugin": cannot import its checkerFactories module "\.\/f\.js": broken at import/, 'a broken package fails the spec that names it')
  t.same(ran(), [], 'still nothing ran')
  await makeChecker('evil:x', named)
  t.same(ran(), [marker], 'a spec naming the type loads its package, from a folder named explicitly')
})
