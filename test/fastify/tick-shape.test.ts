import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, open, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'

// The plugin keeps one of Node's nextTick objects alive (lib/fastify/tick-shape.ts). Without it, a full garbage
// collection at a moment when no tick object is alive clears the maps V8 remembered for nextTick's object literal,
// and the next tick marks three of its four property definitions megamorphic for the life of the process
// (docs/reference/performance.md). This reads that feedback with V8's own %DebugPrint, in a child process started
// with --allow-natives-syntax and --expose-gc: once for a Fastify app without the plugin (the effect must show, or
// this Node's V8 no longer has it and the test skips), once with it (it must not).

const root = fileURLToPath(new URL('../../', import.meta.url))
const built = existsSync(`${root}dist/lib/index.js`) ? false : 'run `npm run build` first'

function script (withPlugin: boolean): string {
  // Without the plugin, fastify-cred is not even imported: the pin is made on import.
  const register = `
      const { default: cred, SimpleRealm, defineInterface } = await import(${JSON.stringify(`${root}dist/lib/index.js`)})
      const { MemoryChecker } = await import(${JSON.stringify(`${root}dist/lib/checkers/index.js`)})
      const IUser = defineInterface('IUser')
      await app.register(cred, { realm: new SimpleRealm().serve(IUser, (id) => ({ id })), checkers: [new MemoryChecker({ alice: 'pw' })], interfaces: [IUser] })`
  return `
    import Fastify from 'fastify'
    const app = Fastify()
    ${withPlugin ? register : ''}
    // Enough ticks for V8 to give nextTick its feedback, as a server's start-up does.
    for (let i = 0; i < 50; i++) await new Promise((resolve) => { process.nextTick(resolve) })
    await app.ready()
    // Between two turns of the event loop no tick object is alive: the moment a collection clears the maps.
    await new Promise((resolve) => { setImmediate(resolve) })
    globalThis.gc()
    await new Promise((resolve) => { process.nextTick(resolve) })
    eval('%DebugPrint(process.nextTick)')
    await app.close()`
}

async function nextTickFeedback (withPlugin: boolean): Promise<string[]> {
  // V8 prints through C's stdout, which loses output on a pipe that Node made non-blocking: a file instead.
  const dir = await mkdtemp(join(tmpdir(), 'cred-tick-'))
  const file = await open(join(dir, 'out'), 'w+')
  try {
    // Through env(1): tap puts its process-info and V8 coverage hooks back into the environment of any child it sees
    // spawned, and with them loaded the child is no plain server.
    const child = spawn('env', ['-u', 'NODE_OPTIONS', '-u', 'NODE_V8_COVERAGE', process.execPath,
      '--allow-natives-syntax', '--expose-gc', '--input-type=module', '-e', script(withPlugin)], { cwd: root, stdio: ['ignore', file.fd, file.fd] })
    const code = await new Promise<number | null>((resolve) => { child.on('close', resolve) })
    const output = await readFile(join(dir, 'out'), 'utf8')
    if (code !== 0) throw new Error(`the child exited with ${String(code)}: ${output.slice(-2000)}`)
    return Array.from(output.matchAll(/DefineKeyedOwnPropertyInLiteral (\w+)/g), (match) => match[1] ?? '')
  } finally {
    await file.close()
    await rm(dir, { recursive: true, force: true })
  }
}

const without = built === false ? await nextTickFeedback(false) : []
const unaffected = built !== false ? built
  : without.includes('MEGAMORPHIC') ? false
    : `this Node's V8 keeps nextTick's feedback through a collection without help (${without.join(', ') || 'no feedback printed'}): nothing to show`

t.test('a collection between ticks leaves nextTick monomorphic with the plugin registered', { skip: unaffected, timeout: 60_000 }, async (t) => {
  t.ok(without.length >= 2, `without the plugin: ${without.join(', ')}`)
  const withPlugin = await nextTickFeedback(true)
  t.ok(withPlugin.length >= 2, 'the feedback of nextTick\'s object literal was printed')
  t.same(withPlugin.filter((state) => state !== 'MONOMORPHIC'), [], `with the plugin: ${withPlugin.join(', ')}`)
})
