import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { promisify } from 'node:util'
import t from 'tap'

const run = promisify(execFile)
const root = new URL('..', import.meta.url).pathname

// The published entry points are the compiled files; `npm test` builds them first.
t.test('the package loads by name through its exports map, with import and with require()', { skip: existsSync(`${root}dist/lib/index.js`) ? false : 'run `npm run build` first' }, async (t) => {
  const imported = await run(process.execPath, ['--input-type=module', '-e',
    "import cred, { Portal, cred as named } from 'fastify-cred'; console.log(typeof cred, typeof Portal, cred === named)"], { cwd: root })
  t.equal(imported.stdout.trim(), 'function function true')

  const required = await run(process.execPath, ['-e',
    "const m = require('fastify-cred'); console.log(typeof m.default, typeof m.cred, typeof m.Portal, typeof m.InMemoryChecker)"], { cwd: root })
  t.equal(required.stdout.trim(), 'function function function function', 'require() of the ESM package works on Node 20.19+')

  const internals = await run(process.execPath, ['-e', "try { require('fastify-cred/dist/lib/cred/portal.js'); console.log('open') } catch (e) { console.log(e.code) }"], { cwd: root })
  t.equal(internals.stdout.trim(), 'ERR_PACKAGE_PATH_NOT_EXPORTED', 'internals stay private')
})
