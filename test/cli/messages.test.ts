// The `fastify-cred` command speaks its own language: exit codes exactly as the table in docs/guides/cli.md says (this test reads
// the table), messages in its flags' terms behind one prefix, --log lines naming the user, a dead upstream as 502.
import t from 'tap'
import type { Test } from 'tap'
import { execFile, spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { cp, mkdir, readFile, readdir, symlink, writeFile } from 'node:fs/promises'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { needProgram } from '../helpers/binaries.js'
import { curl, curlRequest } from '../helpers/curl.js'
import { CLI, cliScratchFolder, runCommand, runProgram, startServe } from '../helpers/cli.js'
import type { CliRun } from '../helpers/cli.js'

const run = promisify(execFile)
const root = new URL('../..', import.meta.url).pathname
const python = needProgram('python3', 'python3', ['/usr/bin'])

const dir = await cliScratchFolder(t)

const htdigestFile = join(dir, 'staff.htdigest')
await writeFile(htdigestFile, `alice:staff:${createHash('md5').update('alice:staff:wonderland').digest('hex')}\n`)
const htpasswdFile = join(dir, 'users.htpasswd')
await writeFile(htpasswdFile, 'alice:{SHA}' + createHash('sha1').update('wonderland').digest('base64') + '\n')

/** The exit code table of docs/guides/cli.md (the command's guide): code → the cases it lists (the cell split at "; "). */
async function readmeExitCodes (): Promise<Map<number, string[]>> {
  const readme = await readFile(join(root, 'docs/guides/cli.md'), 'utf8')
  const section = readme.slice(readme.indexOf('**Exit codes**'))
  const rows = new Map<number, string[]>()
  for (const line of section.split('\n').slice(1)) {
    if (line.trim() === '') { if (rows.size > 0) break; continue }
    const cells = /^\| `(\d+)` \| (.*) \|$/.exec(line)
    if (cells === null) continue
    rows.set(Number(cells[1]), (cells[2] ?? '').split('; ').map((c) => c.trim()))
  }
  return rows
}

/** Every message line on stderr: one `fastify-cred:` prefix, no stack, none of the library's option names. */
function checkMessage (t: Test, result: CliRun, what: string): void {
  const lines = result.stderr.split('\n').filter((l) => l !== '')
  for (const line of lines) {
    t.match(line, /^fastify-cred: (?!fastify-cred)/, `${what}: one fastify-cred: prefix (${line})`)
    t.notMatch(line, /authenticationRealm|digest: \{|algorithms:|[A-Z]\w*Checker\b|checkers\[/, `${what}: in the command's terms (${line})`)
  }
  t.notMatch(result.stderr, /\n\s+at /, `${what}: no stack trace`)
}

/** Starts `serve args…`, sends `signal` once it serves, and answers its exit code. */
async function stopWith (signal: NodeJS.Signals): Promise<CliRun> {
  const child = spawn(process.execPath, [CLI, 'serve', '--auth', 'memory:alice:wonderland', '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] })
  let stderr = ''
  child.stderr.setEncoding('utf8').on('data', (s: string) => { stderr += s; if (/serving/.test(stderr)) child.kill(signal) })
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve))
  return { code, stdout: '', stderr }
}

/** The built command in a folder whose node_modules has everything but the command's optional packages and bcrypt. */
let withoutOptional: Promise<string> | undefined
async function withoutOptionalPackages (): Promise<string> {
  withoutOptional ??= makeWithoutOptionalPackages()
  return await withoutOptional
}
async function makeWithoutOptionalPackages (): Promise<string> {
  const where = join(dir, 'no-optional')
  await cp(join(root, 'dist/lib'), join(where, 'dist/lib'), { recursive: true })
  await writeFile(join(where, 'package.json'), '{ "type": "module" }')
  const modules = join(root, 'node_modules')
  await mkdir(join(where, 'node_modules/@fastify'), { recursive: true })
  for (const name of await readdir(modules)) {
    if (name !== '@fastify' && name !== 'bcrypt' && !name.startsWith('.')) await symlink(join(modules, name), join(where, 'node_modules', name))
  }
  for (const name of await readdir(join(modules, '@fastify'))) {
    if (name !== 'static' && name !== 'http-proxy') await symlink(join(modules, '@fastify', name), join(where, 'node_modules/@fastify', name))
  }
  return where
}

/** Runs the command on a pseudo-terminal, typing `answers` at its prompts. */
async function onTerminal (answers: Array<[prompt: string, typed: string]>, args: string[]): Promise<CliRun> {
  const { stdout } = await run(python.path as string, [join(root, 'test/helpers/pty-run.py'), JSON.stringify(answers), process.execPath, CLI, ...args])
  const { output, code } = JSON.parse(stdout) as { output: string, code: number }
  // The terminal shows the prompt, then the message; a terminal's lines end with CRLF.
  return { code, stdout: '', stderr: output.replaceAll('\r', '').replace(/^New password: \s*/, '') }
}

// Each case the exit code table names, and how to bring it about. A case the table gains without a provocation here
// fails the test, and so does a provocation whose case the table lost.
const passwdFile = join(dir, 'p.htpasswd')
const PROVOKE: Record<string, Array<() => Promise<CliRun>>> = {
  done: [
    async () => await runCommand(['--help']),
    async () => await runCommand(['passwd', '-c', '-m', passwdFile, 'alice'], { input: 'wonderland\n' })
  ],
  'a server stopped by SIGINT or SIGTERM': [async () => await stopWith('SIGINT'), async () => await stopWith('SIGTERM')],
  '`passwd --verify` accepted the password': [async () => await runCommand(['passwd', '--verify', passwdFile, 'alice'], { input: 'wonderland\n' })],

  'an `--auth` file that cannot be read': [
    async () => await runCommand(['serve', '--auth', `file:${join(dir, 'absent.htpasswd')}`, '--port', '0']),
    async () => await runCommand(['serve', '--auth', `htdigest:${dir}`, '--port', '0']),
    async () => await runCommand(['serve', '--auth', `memory:alice;password-file=${join(dir, 'absent-secret')}`, '--port', '0']),
    async () => await runCommand(['serve', '--auth', `django:${join(dir, 'absent.sqlite3')}`, '--port', '0'])
  ],
  'a `passwd` file that cannot be read or does not exist (without `--create`)': [
    async () => await runCommand(['passwd', dir, 'alice'], { input: 'x\n' }),
    async () => await runCommand(['passwd', join(dir, 'absent'), 'alice'], { input: 'x\n' })
  ],
  'a `--tls-cert` or `--tls-key` file that cannot be read': [
    async () => await runCommand(['serve', '--auth', 'memory:a:b', '--port', '0', '--tls-cert', join(dir, 'absent.pem'), '--tls-key', join(dir, 'absent.key')])
  ],
  'the port taken': [async () => {
    const taken = createServer()
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve))
    try {
      return await runCommand(['serve', '--auth', 'memory:a:b', '--port', String((taken.address() as AddressInfo).port)])
    } finally {
      taken.close()
    }
  }],
  'a missing optional package': [async () => {
    const where = await withoutOptionalPackages()
    const result = await new Promise<CliRun>((resolve, reject) => {
      execFile(process.execPath, [join(where, 'dist/lib/cli/main.js'), 'serve', '--auth', 'memory:a:b', '--port', '0', '--static', dir], { cwd: where }, (err, stdout, stderr) => {
        if (err !== null && typeof err.code !== 'number') reject(err)
        else resolve({ code: err === null ? 0 : err.code as number, stdout, stderr })
      })
    })
    t.match(result.stderr, /@fastify\/static/, 'the message names the package to install')
    return result
  }, async () => {
    // A store's driver: the server would answer every login with an error, so it does not start.
    const where = await withoutOptionalPackages()
    const bcryptFile = join(dir, 'bcrypt.htpasswd')
    await writeFile(bcryptFile, 'alice:$2y$04$' + 'a'.repeat(53) + '\n')
    const result = await runProgram(process.execPath, [join(where, 'dist/lib/cli/main.js'), 'serve', '--auth', `file:${bcryptFile}`, '--port', '0'], { cwd: where })
    t.match(result.stderr, /npm install bcrypt\)/, 'the message names the package to install')
    return result
  }],

  'an unknown command or option': [async () => await runCommand(['frobnicate']), async () => await runCommand(['serve', '--auth', 'memory:a:b', '--bogus'])],
  'a missing or bad value': [
    async () => await runCommand(['serve', '--auth', 'memory:a:b', '--port', 'eighty']),
    async () => await runCommand(['passwd', 'only-a-file']),
    async () => await runCommand(['serve', '--auth', 'memory:a:b', '--realm-name', 'josé', '--port', '0'])
  ],
  'a bad `--auth` spec': [async () => await runCommand(['serve', '--auth', 'nosuch:x', '--port', '0'])],
  'options that do not go together (such as an htdigest file with `--digest-algorithm SHA-256`)': [
    async () => await runCommand(['serve', '--auth', `htdigest:${htdigestFile}`, '--scheme', 'digest', '--digest-algorithm', 'SHA-256', '--realm-name', 'staff', '--port', '0']),
    async () => await runCommand(['serve', '--auth', 'memory:a:b', '--static', dir, '--upstream', 'http://127.0.0.1:1'])
  ],

  '`passwd --verify` refused the password': [async () => await runCommand(['passwd', '--verify', passwdFile, 'alice'], { input: 'wrong\n' })],
  '`passwd --verify` or `passwd --delete` found no such user': [
    async () => await runCommand(['passwd', '--verify', passwdFile, 'nobody'], { input: 'x\n' }),
    async () => await runCommand(['passwd', '--delete', passwdFile, 'nobody'])
  ],

  'interrupted at a password prompt (Ctrl-C)': [async () => await onTerminal([['New password: ', '\u0003']], ['passwd', passwdFile, 'alice'])]
}
/** Cases provoked elsewhere, and why not here. */
const ELSEWHERE: Record<string, string> = {
  'a `passwd` file whose owner or group the user running it cannot keep': 'needs a throw-away user and group: test/cli/passwd.test.ts, "passwd run by the file\'s non-root owner keeps its group and mode"'
}

t.test('exit codes: every case of the exit code table, provoked, exits with its row\'s code', async (t) => {
  const table = await readmeExitCodes()
  t.same([...table.keys()], [0, 1, 2, 3, 130], 'docs/guides/cli.md lists these codes')
  const help = await runCommand(['--help'])
  t.same([...help.stdout.slice(help.stdout.indexOf('Exit codes:')).matchAll(/\b(\d+) [a-z]/g)].map((m) => Number(m[1])), [...table.keys()], '--help lists the same codes')

  const named = new Set<string>()
  for (const [code, cases] of table) {
    for (const situation of cases) {
      named.add(situation)
      const provocations = PROVOKE[situation]
      if (provocations === undefined) {
        t.ok(ELSEWHERE[situation], `the table's case "${situation}" (exit ${code}) is provoked here or elsewhere`)
        if (ELSEWHERE[situation] !== undefined) t.comment(`"${situation}": ${ELSEWHERE[situation] ?? ''}`)
        continue
      }
      for (const [i, provoke] of provocations.entries()) {
        if (situation.includes('interrupted') && python.skip !== false) { t.comment(python.skip); continue }
        const result = await provoke()
        t.equal(result.code, code, `${situation} (#${i + 1}) exits ${code}: ${result.stderr.trim()}`)
        checkMessage(t, result, situation)
      }
    }
  }
  for (const situation of [...Object.keys(PROVOKE), ...Object.keys(ELSEWHERE)]) t.ok(named.has(situation), `"${situation}" is still a case of the exit code table`)
})

t.test('set-up mistakes are told in flags: --digest-algorithm, --realm-name, --auth; one prefix', async (t) => {
  const algorithms = await runCommand(['serve', '--auth', `htdigest:${htdigestFile}`, '--scheme', 'digest', '--realm-name', 'staff', '--port', '0'])
  t.equal(algorithms.code, 2)
  t.equal(algorithms.stderr, `fastify-cred: --auth htdigest:${htdigestFile}: its HA1s are MD5 and cannot verify Digest SHA-256; offer only MD5 (--digest-algorithm MD5)\n`)
  const realm = await runCommand(['serve', '--auth', `htdigest:${htdigestFile}`, '--scheme', 'digest', '--digest-algorithm', 'MD5', '--port', '0'])
  t.equal(realm.code, 2)
  t.equal(realm.stderr, `fastify-cred: --auth htdigest:${htdigestFile}: no line is for realm "fastify-cred", so every Digest login would fail; its realm is "staff": give --realm-name staff\n`)
  const twice = await runCommand(['serve', '--auth', 'memory:a:b', '--scheme', 'digest', '--digest-algorithm', 'MD5', '--digest-algorithm', 'md5'])
  t.equal(twice.code, 2)
  t.equal(twice.stderr, 'fastify-cred: serve: --digest-algorithm md5 is given twice\n')
  const ascii = await runCommand(['serve', '--auth', 'memory:a:b', '--realm-name', 'josé', '--port', '0'])
  t.match(ascii.stderr, /^fastify-cred: --realm-name must be a string of printable ASCII characters/)
  const unreadable = await runCommand(['serve', '--auth', `file:${dir}`, '--port', '0'])
  t.equal(unreadable.code, 1)
  t.match(unreadable.stderr, /^fastify-cred: --auth[^:]*: cannot read \S+ \(EISDIR\)\n$/)
  for (const result of [algorithms, realm, twice, ascii, unreadable]) checkMessage(t, result, result.stderr.trim())
  // Still served right once told: the message's advice works.
  const { url } = await startServe(t, ['--auth', `htdigest:${htdigestFile}`, '--scheme', 'digest', '--digest-algorithm', 'MD5', '--realm-name', 'staff', '--port', '0'])
  if (curl.skip === false) t.equal((await curlRequest(['--digest', '-u', 'alice:wonderland'], `${url}/whoami`)).status, 200, 'with the flags the message gave, alice logs in')
})

t.test('serve --log: the lines name the user of an accepted and of a refused login, never a password', { skip: curl.skip }, async (t) => {
  const { url, output, stop } = await startServe(t, ['--auth', 'memory:alice:wonderland:bob:builder', '--scheme', 'basic', '--scheme', 'digest', '--throttle', 'off', '--log', '--port', '0'])
  t.equal((await curlRequest(['-u', 'alice:wonderland'], `${url}/whoami`)).status, 200)
  t.equal((await curlRequest(['-u', 'alice:guess-one'], `${url}/whoami`)).status, 401)
  t.equal((await curlRequest(['--digest', '-u', 'bob:guess-two'], `${url}/whoami`)).status, 401)
  t.equal((await curlRequest(['--digest', '-u', 'bob:builder'], `${url}/whoami`)).status, 200)
  t.equal((await curlRequest([], `${url}/whoami`)).status, 401)
  await stop()
  const lines = output().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>)
  const completed = lines.filter((l) => l.msg === 'request completed').map((l) => ({ status: (l.res as { statusCode: number }).statusCode, login: l.login, user: l.user }))
  t.same(completed.filter((l) => l.login !== undefined), [
    { status: 200, login: 'accepted', user: 'alice' },
    { status: 401, login: 'refused', user: 'alice' },
    { status: 401, login: 'refused', user: 'bob' },
    { status: 200, login: 'accepted', user: 'bob' }
  ], 'each login, in order, with its user')
  t.ok(completed.some((l) => l.status === 401 && l.login === undefined), 'a request without credentials is no login')
  t.notMatch(output(), /wonderland|builder|guess-one|guess-two/, 'no password in any line')
})

t.test('serve --upstream with the upstream down: 502, without its address', { skip: curl.skip }, async (t) => {
  const gone = createServer()
  await new Promise<void>((resolve) => gone.listen(0, '127.0.0.1', resolve))
  const port = (gone.address() as AddressInfo).port
  await new Promise<void>((resolve) => gone.close(() => { resolve() }))
  const { url } = await startServe(t, ['--auth', 'memory:alice:wonderland', '--upstream', `http://127.0.0.1:${port}`, '--port', '0'])
  const down = await curlRequest(['-u', 'alice:wonderland'], `${url}/api`)
  t.equal(down.status, 502)
  t.same(JSON.parse(down.body), { statusCode: 502, error: 'Bad Gateway', message: 'The upstream service cannot be reached' })
  t.notMatch(down.body, new RegExp(`${port}|127\\.0\\.0\\.1|ECONNREFUSED`), 'nothing about the network behind the proxy')
  t.equal((await curlRequest([], `${url}/api`)).status, 401, 'without a login it is still 401, not 502')
})
