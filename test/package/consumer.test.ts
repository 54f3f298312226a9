// The package as a new user gets it: `npm pack`, the tarball installed into a fresh folder with Fastify and
// TypeScript (no link to this tree), the README's quick start (and docs/reference/packaging.md's CommonJS one) compiled there with TypeScript's default
// `skipLibCheck: false` and `strict` in each `module` mode, then run, through `import` and through `require()`, and
// so is a file that imports every subpath of the exports map.
// Also: what the tarball contains (`npm pack --dry-run`), @arethetypeswrong/cli on the same tarball, and that
// installing it lists no install script of ours.
import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { serversRequired } from '../helpers/binaries.js'

const run = promisify(execFile)
const root = new URL('../..', import.meta.url).pathname
// A fresh registry install and a full type check take ~30 s on an idle CI machine; more when the machine is shared.
t.setTimeout(300_000)
const built = existsSync(`${root}dist/lib/index.js`) ? false : 'run `npm run build` first'
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'
const ownPackage = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as {
  version: string, scripts: Record<string, string>, devDependencies: Record<string, string>,
  exports: Record<string, string | { types: string, default: string }>, typesVersions: Record<string, Record<string, string[]>>
}

// The consumer's processes run as a user's would: without tap's loaders, which would otherwise compile and
// instrument the consumer's files and the installed TypeScript. tap's process tracking puts its loader back into
// NODE_OPTIONS of every child it sees, so each command runs through `env -u NODE_OPTIONS`.
const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => name !== 'NODE_OPTIONS' && !/^_?TAP/i.test(name)))
async function clean (command: string, args: readonly string[], options: { cwd: string, timeout?: number }): Promise<{ stdout: string, stderr: string }> {
  return await run('/usr/bin/env', ['-u', 'NODE_OPTIONS', command, ...args], { ...options, env, maxBuffer: 16 << 20 })
}

interface PackedFile { path: string }
interface PackResult { filename: string, files: PackedFile[] }

/** The packed files as `npm pack --json` lists them, from this tree, without lifecycle scripts (`npm test` built). */
async function pack (args: readonly string[]): Promise<PackResult> {
  const { stdout } = await clean(npm, ['pack', '--json', '--ignore-scripts', ...args], { cwd: root })
  const parsed = JSON.parse(stdout) as PackResult[]
  const result = parsed[0]
  if (result === undefined) throw new Error('npm pack listed nothing')
  return result
}

// What may be in the tarball, by pattern: compiled JavaScript with its source map, declarations, and the documents.
// Anything else (tests, sources, declaration maps pointing at unshipped `.ts`, build info, fixtures) fails here.
const ALLOWED = [
  /^package\.json$/, /^README\.md$/, /^LICENSE$/, /^CHANGELOG\.md$/,
  /^dist\/lib\/(?:[a-z0-9-]+\/)*[a-z0-9-]+\.(?:js|js\.map|d\.ts)$/
]
// Every file package.json names: the entry points (`exports`, `typesVersions`), `main`, `types` and `bin`.
const SUBPATHS = Object.keys(ownPackage.exports).filter((key) => key.startsWith('./') && key !== './package.json').map((key) => key.slice(2))
const REQUIRED = [...new Set([
  'package.json', 'README.md', 'LICENSE', 'CHANGELOG.md', 'dist/lib/cli/main.js',
  ...Object.values(ownPackage.exports).flatMap((target) => typeof target === 'string' ? [] : [target.types, target.default])
    .map((path) => path.replace(/^\.\//, '')),
  ...Object.values(ownPackage.typesVersions['*'] ?? {}).flat().map((path) => path.replace(/^\.\//, ''))
])]

t.test('npm pack --dry-run lists only the compiled library, its declarations and the documents', { skip: built }, async (t) => {
  const { files } = await pack(['--dry-run'])
  const paths = files.map((file) => file.path)
  t.same(paths.filter((path) => !ALLOWED.some((pattern) => pattern.test(path))), [], 'nothing else slips in')
  for (const path of REQUIRED) t.ok(paths.includes(path), `${path} is packed`)
  t.notOk(paths.some((path) => path.endsWith('.d.ts.map')), 'no declaration maps (they point at .ts files the package does not ship)')
  t.ok(paths.filter((path) => path.endsWith('.js')).every((path) => paths.includes(`${path}.map`) && paths.includes(path.replace(/\.js$/, '.d.ts'))),
    'every module has its map and its declarations')
  const license = await readFile(join(root, 'LICENSE'), 'utf8')
  t.match(license, /^MIT License/, 'LICENSE is the MIT text package.json names')
  const changelog = await readFile(join(root, 'CHANGELOG.md'), 'utf8')
  t.match(changelog, /keepachangelog\.com/, 'CHANGELOG.md follows Keep a Changelog')
  t.match(changelog, /^## \[Unreleased\]$/m, 'with an Unreleased section')
  const manifest = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as Record<string, unknown>
  for (const field of ['repository', 'bugs', 'homepage', 'license']) t.ok(manifest[field], `package.json has ${field}`)
})

// Fails quickly and without a registry round trip when npm cannot reach one: the only reason to skip.
function offline (error: unknown): boolean {
  const text = error instanceof Error ? `${error.message} ${String((error as { stderr?: unknown }).stderr ?? '')}` : String(error)
  return /\b(?:ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENETUNREACH|EHOSTUNREACH)\b/.test(text)
}

/** The README's TypeScript block that follows `marker`, with its port made 0 and a client appended after listen(). */
function readmeBlock (readme: string, marker: string): string {
  const at = readme.indexOf(marker)
  if (at < 0) throw new Error(`README has no "${marker}"`)
  const match = /```ts\n([\s\S]*?)```/.exec(readme.slice(at))
  if (match?.[1] === undefined) throw new Error(`README has no ts block after "${marker}"`)
  const listen = 'await app.listen({ port: 3000 })'
  if (!match[1].includes(listen)) throw new Error(`README's block after "${marker}" no longer calls ${listen}`)
  // One request with Basic credentials and one without, printed as JSON, then close: the process exits by itself.
  return match[1].replace(listen, [
    "const address = await app.listen({ port: 0, host: '127.0.0.1' })",
    "  const basic = 'Basic ' + Buffer.from('alice:wonderland').toString('base64')",
    "  const authenticated = await fetch(`${address}/me`, { headers: { authorization: basic } })",
    '  const anonymous = await fetch(`${address}/me`)',
    '  console.log(JSON.stringify({ status: authenticated.status, body: await authenticated.json(), anonymous: anonymous.status }))',
    '  await app.close()'
  ].join('\n'))
}

t.test('the packed package, installed into a fresh folder, compiles and runs the README quick start', { skip: built }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'fastify-cred-consumer-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const { filename } = await pack(['--pack-destination', dir])
  const tarball = join(dir, filename)
  // @arethetypeswrong/cli on this same tarball, with the project's .attw.json (one rule ignored, see the README),
  // before the install: it needs no registry, so it runs also when the install below cannot.
  // Its text output: each problem found is a line linking to the problem's documentation.
  const attw = await clean(join(root, 'node_modules/.bin/attw'), [tarball, '--no-color', '--format', 'table-flipped'], { cwd: root })
    .then(({ stdout, stderr }) => ({ code: 0, output: stdout + stderr }),
      (error: { code?: number, stdout?: string, stderr?: string }) => ({ code: error.code ?? 1, output: `${error.stdout ?? ''}${error.stderr ?? ''}` }))
  t.match(attw.output, /ignoring rules: 'cjs-resolves-to-esm'\)/, 'attw ignores only the documented rule')
  t.notMatch(attw.output, /docs\/problems\/\w+\.md/, 'attw reports no problem')
  t.equal(attw.code, 0, 'attw exits 0')
  t.same(SUBPATHS.filter((subpath) => !attw.output.includes(`"fastify-cred/${subpath}"`)), [], 'attw checks every entry point')

  const consumer = join(dir, 'app')
  await mkdir(consumer)
  await writeFile(join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }))
  // What a new user types: the tarball (a copy, not a link), Fastify, TypeScript as the registry has it today, and
  // Node's types. The project's own TypeScript (pinned) compiles the same files below too.
  let install: { stdout: string, stderr: string }
  try {
    install = await clean(npm, ['install', tarball, 'fastify@5', 'typescript', '@types/node@20', '--no-audit', '--no-fund', '--prefer-offline'],
      { cwd: consumer })
  } catch (error) {
    if (offline(error) && !serversRequired) {
      t.plan(0, `npm cannot reach a registry (${String((error as Error).message).split('\n')[0]}); CRED_TEST_REQUIRE_SERVERS=1 makes this a failure`)
      return
    }
    throw error
  }
  const installed = JSON.parse(await readFile(join(consumer, 'node_modules/fastify-cred/package.json'), 'utf8')) as { scripts?: Record<string, string> }
  for (const script of ['preinstall', 'install', 'postinstall', 'prepare']) {
    t.notOk(installed.scripts?.[script], `the installed package has no ${script} script`)
  }
  t.notMatch(`${install.stdout}\n${install.stderr}`, /fastify-cred@[^\s]+ \(/, "npm's install output lists no script of ours")

  const readme = await readFile(join(root, 'README.md'), 'utf8')
  await writeFile(join(consumer, 'quick.ts'), readmeBlock(readme, 'In your own app:'))
  const packaging = await readFile(join(root, 'docs/reference/packaging.md'), 'utf8')
  await writeFile(join(consumer, 'quick-require.cts'), readmeBlock(packaging, 'From CommonJS'))
  // Every subpath, imported (and, from the .cts, required) by name, with a type from one of them used.
  const subpaths = SUBPATHS.map((subpath) => [subpath, subpath.replace(/\W/g, '_')] as const)
  const entries = [
    ...subpaths.map(([subpath, name]) => `import * as ${name} from 'fastify-cred/${subpath}'`),
    "import type { CredErrorCode } from 'fastify-cred/errors'",
    "const code: CredErrorCode = new errors.InternalError('bug').code",
    `console.log(JSON.stringify({ code, names: { ${subpaths.map(([subpath, name]) => `'${subpath}': Object.keys(${name}).length`).join(', ')} } }))`,
    ''
  ].join('\n')
  await writeFile(join(consumer, 'entries.ts'), entries)
  await writeFile(join(consumer, 'entries-require.cts'), entries)

  // One tsconfig per mode; TypeScript's defaults otherwise (skipLibCheck false), strict as the issue's user had it.
  // nodenext compiles the ESM file and the CommonJS one (.cts, whose imports become require()) in one program.
  const modes: Array<{ name: string, module: string, moduleResolution?: string, files: string[] }> = [
    { name: 'node16', module: 'node16', files: ['quick.ts', 'entries.ts'] },
    { name: 'nodenext', module: 'nodenext', files: ['quick.ts', 'entries.ts', 'quick-require.cts', 'entries-require.cts'] },
    { name: 'bundler', module: 'esnext', moduleResolution: 'bundler', files: ['quick.ts', 'entries.ts'] }
  ]
  for (const mode of modes) {
    const compilerOptions: Record<string, unknown> = {
      strict: true, skipLibCheck: false, target: 'es2022', module: mode.module, types: ['node'], outDir: `out-${mode.name}`
    }
    if (mode.moduleResolution !== undefined) compilerOptions.moduleResolution = mode.moduleResolution
    await writeFile(join(consumer, `tsconfig.${mode.name}.json`), JSON.stringify({ compilerOptions, files: mode.files }))
  }
  async function compile (tsc: string, args: readonly string[]): Promise<string> {
    return await clean(tsc, args, { cwd: consumer }).then(() => '', (error: { stdout?: string }) => error.stdout ?? String(error))
  }
  // The TypeScript a new user gets from the registry today, in every mode (it emits the files run below).
  const latest = join(consumer, 'node_modules/.bin/tsc')
  const { stdout: latestVersion } = await clean(latest, ['--version'], { cwd: consumer })
  for (const mode of modes) {
    t.equal(await compile(latest, ['-p', `tsconfig.${mode.name}.json`]), '',
      `typescript ${latestVersion.trim()}, module ${mode.name}: the quick start compiles with skipLibCheck false`)
  }
  // The project's own TypeScript (5.x, with the JavaScript compiler API most tools use), in nodenext: one program with
  // every file (a full check of the package's declarations and Fastify's takes ~10 s on 2 cores, so once).
  t.equal(await compile(join(root, 'node_modules/.bin/tsc'), ['-p', 'tsconfig.nodenext.json', '--noEmit']), '',
    `typescript ${ownPackage.devDependencies.typescript ?? ''}, module nodenext: the quick start compiles with skipLibCheck false`)

  const runs = [
    { name: 'node16 import', file: 'out-node16/quick.js', cjs: false },
    { name: 'nodenext import', file: 'out-nodenext/quick.js', cjs: false },
    { name: 'bundler import', file: 'out-bundler/quick.js', cjs: false },
    { name: 'nodenext require()', file: 'out-nodenext/quick-require.cjs', cjs: true }
  ]
  for (const { name, file, cjs } of runs) {
    const output = join(consumer, file)
    t.match(await readFile(output, 'utf8'), cjs ? /require\("fastify-cred"\)/ : /from 'fastify-cred'/,
      `${name}: the compiled file ${cjs ? 'require()s' : 'imports'} the package`)
    const { stdout } = await clean(process.execPath, [output], { cwd: consumer, timeout: 30_000 })
    t.same(JSON.parse(stdout), { status: 200, body: { name: 'alice' }, anonymous: 401 },
      `${name}: the quick start answers alice with her Basic credentials, and 401 without`)
  }
  const expected = { code: 'ERR_CRED_INTERNAL', names: Object.fromEntries(SUBPATHS.map((subpath) => [subpath, Number])) }
  for (const { name, file, cjs } of [
    { name: 'node16 import', file: 'out-node16/entries.js', cjs: false },
    { name: 'nodenext import', file: 'out-nodenext/entries.js', cjs: false },
    { name: 'bundler import', file: 'out-bundler/entries.js', cjs: false },
    { name: 'nodenext require()', file: 'out-nodenext/entries-require.cjs', cjs: true }
  ]) {
    const output = join(consumer, file)
    const compiled = await readFile(output, 'utf8')
    t.same(SUBPATHS.filter((subpath) => !compiled.includes(cjs ? `require("fastify-cred/${subpath}")` : `from 'fastify-cred/${subpath}'`)), [],
      `${name}: the compiled file ${cjs ? 'require()s' : 'imports'} every subpath`)
    const { stdout } = await clean(process.execPath, [output], { cwd: consumer, timeout: 30_000 })
    const loaded = JSON.parse(stdout) as { code: string, names: Record<string, number> }
    t.match(loaded, expected, `${name}: every subpath loads`)
    t.same(Object.entries(loaded.names).filter(([, count]) => count === 0), [], `${name}: and exports names`)
  }
})
