// `npm run docs` (TypeDoc over every entry point, typedoc.json) passes its validation: every public export, and
// every member of one, has a doc comment (validation.notDocumented, warnings are errors). And the check can fail: the
// same settings over an entry point with one undocumented export exit non-zero, naming it.
import t from 'tap'
import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'

const run = promisify(execFile)
const root = new URL('../..', import.meta.url).pathname
const typedoc = join(root, 'node_modules/typedoc/bin/typedoc')

interface Outcome { code: number, output: string }
async function typedocRun (args: readonly string[]): Promise<Outcome> {
  try {
    const { stdout, stderr } = await run(process.execPath, [typedoc, ...args], { cwd: root, env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' } })
    return { code: 0, output: stdout + stderr }
  } catch (error) {
    const failed = error as { code?: number, stdout?: string, stderr?: string }
    return { code: failed.code ?? -1, output: `${failed.stdout ?? ''}${failed.stderr ?? ''}` }
  }
}

t.test('every public export is documented (typedoc.json, no output written)', async (t) => {
  const { code, output } = await typedocRun(['--options', 'typedoc.json', '--emit', 'none'])
  t.equal(code, 0, output)
  t.notMatch(output, /warning|error/i, 'no warning')
})

t.test('an undocumented export fails the same check', async (t) => {
  const folder = await mkdtemp(join(root, '.docs-check-'))
  t.teardown(() => rm(folder, { recursive: true, force: true }))
  const settings = JSON.parse(await readFile(join(root, 'typedoc.json'), 'utf8')) as Record<string, unknown>
  await writeFile(join(folder, 'entry.ts'), '/** Documented. */\nexport const documented = 1\nexport function forgotten (): number { return 2 }\n')
  await writeFile(join(folder, 'tsconfig.json'), JSON.stringify({ compilerOptions: { strict: true, module: 'nodenext', target: 'es2022' }, files: ['entry.ts'] }))
  await writeFile(join(folder, 'typedoc.json'), JSON.stringify({ ...settings, entryPoints: ['entry.ts'], tsconfig: 'tsconfig.json', out: 'api' }))
  const { code, output } = await typedocRun(['--options', join(folder, 'typedoc.json'), '--emit', 'none'])
  t.not(code, 0, 'typedoc exits non-zero')
  t.match(output, /forgotten \((?:Function|CallSignature)\).*does not have any documentation/, output)
  t.notMatch(output, /documented \(Variable\)/, 'the documented export is not named')
})
