// Every ```ts and ```js block of README.md and docs/**/*.md is type-checked as a user's module would be: its imports of
// `fastify-cred` and `fastify-cred/<subpath>` resolve to this tree's entry points (lib/index.ts, lib/exports/*.ts), the
// compiler is strict, and one block is one module (top-level await allowed). A block that stops compiling (a renamed
// option, a removed export, a wrong type) fails here with its file and line. A block marked ```ts fragment is shown
// text that cannot stand alone; those are counted and kept few. A block that continues an app shown before it (it
// uses `app`, `cred`, `realm`, `checkers`, `IUser` without making them) says so with `<!-- code-check: app -->` on the
// line before its fence: it is checked after the lines of PRELUDES.app, which the reader does not see.
import t from 'tap'
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises'
import { join, relative } from 'node:path'
import ts from 'typescript'

const root = new URL('../..', import.meta.url).pathname

/** A fenced block of TypeScript or JavaScript, where it is, and the prelude it continues. */
interface CodeBlock { file: string, line: number, language: 'ts' | 'js', fragment: boolean, code: string, prelude: string }

/**
 * What a continuing block takes as given: the five-minute example's app, before `listen()`. Every name it imports
 * is aliased so that a block importing the same names itself still compiles.
 */
export const PRELUDES: Record<string, string> = {
  app: [
    "import __Fastify from 'fastify'",
    "import * as __cred from 'fastify-cred'",
    "import * as __checkers from 'fastify-cred/checkers'",
    'const cred = __cred.default',
    'interface User { name: string }',
    "const IUser = __cred.defineInterface<User>('IUser')",
    'const realm = new __cred.SimpleRealm().serve(IUser, (avatarId) => ({ name: String(avatarId) }))',
    "const checkers = [new __checkers.MemoryChecker({ alice: 'wonderland' })]",
    'const app = __Fastify()',
    ''
  ].join('\n')
}

/** README.md and every Markdown file under docs/ (docs/api is TypeDoc's output, not ours). */
async function markdownFiles (): Promise<string[]> {
  const found = ['README.md']
  for (const entry of await readdir(join(root, 'docs'), { recursive: true, withFileTypes: true })) {
    const path = relative(root, join(entry.parentPath, entry.name))
    if (entry.isFile() && entry.name.endsWith('.md') && !path.startsWith('docs/api/')) found.push(path)
  }
  return found.sort()
}

/** The fenced ts/js blocks of one Markdown text; `line` is the 1-based line of the block's first code line. */
export function codeBlocks (file: string, markdown: string): CodeBlock[] {
  const blocks: CodeBlock[] = []
  const lines = markdown.split('\n')
  for (let i = 0; i < lines.length; i++) {
    const fence = /^```(\S*)\s*(.*)$/.exec(lines[i] ?? '')
    if (fence === null) continue
    const end = lines.findIndex((line, j) => j > i && line.startsWith('```'))
    if (end < 0) throw new Error(`${file}:${i + 1}: a code fence is never closed`)
    const language = ({ ts: 'ts', typescript: 'ts', js: 'js', javascript: 'js' } as const)[fence[1] as 'ts'] ?? undefined
    if (language !== undefined) {
      const marker = /^<!-- code-check: (\S+) -->$/.exec(lines[i - 1] ?? '')
      const prelude = marker === null ? '' : PRELUDES[marker[1] ?? '']
      if (prelude === undefined) throw new Error(`${file}:${i}: no prelude "${marker?.[1]}" (known: ${Object.keys(PRELUDES).join(', ')})`)
      blocks.push({ file, line: i + 2, language, fragment: (fence[2] ?? '').split(/\s+/).includes('fragment'), code: lines.slice(i + 1, end).join('\n'), prelude })
    }
    i = end
  }
  return blocks
}

const entryPoints = async (): Promise<Record<string, string[]>> => {
  const paths: Record<string, string[]> = { 'fastify-cred': [join(root, 'lib/index.ts')] }
  for (const name of await readdir(join(root, 'lib/exports'))) {
    if (name.endsWith('.ts')) paths[`fastify-cred/${name.slice(0, -3)}`] = [join(root, 'lib/exports', name)]
  }
  return paths
}

/**
 * Type-checks blocks, each as its own module, in one program per group: blocks that augment `fastify-cred` (each app
 * declares its own `CredTypes`) get a program each, the rest share one. Answers one message per error, at the
 * Markdown file and line.
 */
async function typeCheck (blocks: readonly CodeBlock[], folder: string): Promise<string[]> {
  const paths = await entryPoints()
  const options: ts.CompilerOptions = {
    strict: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    lib: ['lib.es2023.d.ts', 'lib.dom.d.ts'],
    types: ['node'],
    typeRoots: [join(root, 'node_modules/@types')],
    allowJs: true,
    checkJs: true,
    noEmit: true,
    skipLibCheck: true,
    esModuleInterop: true,
    paths
  }
  await writeFile(join(folder, 'package.json'), JSON.stringify({ type: 'module' }))
  const where = new Map<string, CodeBlock>()
  const groups: string[][] = [[]]
  for (const [index, block] of blocks.entries()) {
    const name = join(folder, `block-${index}.${block.language}`)
    // `export {}` makes a block without imports a module too, so blocks never share names and may `await` at top level.
    await writeFile(name, `${block.prelude}${block.code}\nexport {}\n`)
    where.set(name, block)
    if (/declare module ['"]fastify-cred['"]/.test(block.code)) groups.push([name])
    else groups[0]?.push(name)
  }
  const messages: string[] = []
  let previous: ts.Program | undefined
  for (const group of groups.filter((names) => names.length > 0)) {
    const program: ts.Program = ts.createProgram({ rootNames: group, options, oldProgram: previous })
    previous = program
    for (const name of group) {
      const source = program.getSourceFile(name)
      if (source === undefined) throw new Error(`${name} is not part of its program`)
      const block = where.get(name)
      for (const diagnostic of [...program.getSyntacticDiagnostics(source), ...program.getSemanticDiagnostics(source)]) {
        const preludeLines = (block?.prelude ?? '').split('\n').length - 1
        const line = source.getLineAndCharacterOfPosition(diagnostic.start ?? 0).line - preludeLines
        const at = line < 0 ? `${block?.file}:${block?.line} (in its prelude)` : `${block?.file}:${(block?.line ?? 0) + line}`
        messages.push(`${at}: TS${diagnostic.code} ${ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n')}`)
      }
    }
  }
  return messages
}

const blocks: CodeBlock[] = []
for (const file of await markdownFiles()) blocks.push(...codeBlocks(file, await readFile(join(root, file), 'utf8')))
const checked = blocks.filter((block) => !block.fragment)

t.test('every ts/js block of README.md and docs/ compiles against the package as users import it', async (t) => {
  const folder = await mkdtemp(join(root, '.docs-check-'))
  t.teardown(() => rm(folder, { recursive: true, force: true }))
  t.ok(checked.length >= 30, `there are blocks to check (${checked.length})`)
  t.ok(checked.some((block) => block.file === 'README.md'), 'the README\'s five-minute example is among them')
  const errors = await typeCheck(checked, folder)
  t.same(errors, [], 'no block has a type error')
})

t.test('fragments are marked, few, and say why by being marked', async (t) => {
  const fragments = blocks.filter((block) => block.fragment)
  t.ok(fragments.length <= 8, `at most 8 fragments (${fragments.map((block) => `${block.file}:${block.line}`).join(', ') || 'none'})`)
  t.notOk(fragments.some((block) => block.file === 'README.md'), 'the README has no fragment')
})

t.test('a stale example fails: a removed export, a renamed option (also after a prelude) and a wrong type are each reported at their line', async (t) => {
  const folder = await mkdtemp(join(root, '.docs-check-'))
  t.teardown(() => rm(folder, { recursive: true, force: true }))
  const stale = codeBlocks('stale.md', [
    '# Stale', '',
    '```ts',
    "import { MemoryChecker, NoSuchChecker } from 'fastify-cred/checkers'",
    '```', '',
    '```ts',
    "import { MemoryChecker } from 'fastify-cred/checkers'",
    "const checker = new MemoryChecker({ alice: 'wonderland' }, { caseSensitiv: false })",
    '```', '',
    '```js',
    "import { digestHa1 } from 'fastify-cred/cred'",
    "digestHa1(42)",
    '```', '',
    '```ts fragment',
    'this is not TypeScript at all',
    '```', '',
    '<!-- code-check: app -->',
    '```ts',
    "await app.register(cred, { realm, checkers, interfaces: [IUser], modes: 'on-demand' })",
    '```'
  ].join('\n'))
  t.equal(stale.filter((block) => block.fragment).length, 1, 'the marked fragment is recognised')
  const errors = await typeCheck(stale.filter((block) => !block.fragment), folder)
  t.match(errors, [/^stale\.md:4: TS2305 .*NoSuchChecker/, /^stale\.md:9: TS2561 .*caseSensitiv/, /^stale\.md:14: TS\d+ /, /^stale\.md:23: TS\d+ [\s\S]*modes/])
  t.equal(errors.length, 4, errors.join('\n'))
})
