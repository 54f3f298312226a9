// `fastify-cred passwd` against Apache's own htpasswd/htdigest, and its no-echo prompt on a real terminal.
import t from 'tap'
import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { chmod, readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { needProgram } from '../helpers/binaries.js'
import { CLI as CLI_PATH, cliScratchFolder, runCommand } from '../helpers/cli.js'

const run = promisify(execFile)
const htpasswd = needProgram('htpasswd', 'apache2-utils')
const htdigest = needProgram('htdigest', 'apache2-utils')

const dir = await cliScratchFolder(t)

t.test('passwd --htdigest writes what Apache\'s htdigest writes; --verify, --delete, atomic with the mode kept', async (t) => {
  const file = join(dir, 'users.htdigest')
  const add = await runCommand(['passwd', '--htdigest', '--realm', 'staff', '--create', file, 'alice'], { input: 'wonderland\n' })
  t.equal(add.code, 0, add.stderr)
  t.match(add.stderr, /added user alice in realm staff/)
  t.equal(await readFile(file, 'utf8'), `alice:staff:${'d'.repeat(0)}${(await import('node:crypto')).createHash('md5').update('alice:staff:wonderland').digest('hex')}\n`)
  t.equal((await stat(file)).mode & 0o777, 0o600, 'a new file is 0600')

  if (htdigest.path !== undefined) {
    const apacheFile = join(dir, 'apache.htdigest')
    await new Promise<void>((resolve, reject) => {
      const child = execFile(htdigest.path as string, ['-c', apacheFile, 'staff', 'alice'], (err) => { if (err !== null) reject(err); else resolve() })
      child.stdin?.end('wonderland\nwonderland\n')
    })
    t.equal(await readFile(file, 'utf8'), await readFile(apacheFile, 'utf8'), 'the same line as Apache\'s htdigest')
  } else {
    t.comment(htdigest.skip)
  }

  await writeFile(file, '# staff accounts\nbob:staff:0123456789abcdef0123456789abcdef\n' + await readFile(file, 'utf8'))
  await chmod(file, 0o640)
  const update = await runCommand(['passwd', '--htdigest', '--realm', 'staff', file, 'alice'], { input: 'looking-glass\n' })
  t.equal(update.code, 0)
  t.match(update.stderr, /updated user alice/)
  const lines = (await readFile(file, 'utf8')).split('\n')
  t.equal(lines[0], '# staff accounts', 'other lines are kept, in order')
  t.match(lines[1], /^bob:staff:/)
  t.match(lines[2], /^alice:staff:[0-9a-f]{32}$/)
  t.equal((await stat(file)).mode & 0o777, 0o640, 'the mode is kept')
  t.notOk(existsSync(`${file}.lock`), 'the lock is released')

  t.equal((await runCommand(['passwd', '--htdigest', '--realm', 'staff', '--verify', file, 'alice'], { input: 'looking-glass\n' })).code, 0)
  const wrong = await runCommand(['passwd', '--htdigest', '--realm', 'staff', '--verify', file, 'alice'], { input: 'wonderland\n' })
  t.equal(wrong.code, 3)
  t.match(wrong.stderr, /password verification failed/)
  t.equal((await runCommand(['passwd', '--htdigest', '--realm', 'other', '--verify', file, 'alice'], { input: 'looking-glass\n' })).code, 3, 'another realm is another user')
  t.equal((await runCommand(['passwd', '--htdigest', '--realm', 'staff', '--delete', file, 'alice'])).code, 0)
  t.equal((await runCommand(['passwd', '--htdigest', '--realm', 'staff', '--delete', file, 'alice'])).code, 3, 'deleting an absent user: exit 3')
  t.equal(await readFile(file, 'utf8'), '# staff accounts\nbob:staff:0123456789abcdef0123456789abcdef\n')
  const empty = await runCommand(['passwd', '--htdigest', '--realm', 'staff', file, 'carol'], { input: '' })
  t.equal(empty.code, 1)
  t.match(empty.stderr, /no password on standard input/)
})

t.test('passwd writes htpasswd files that Apache\'s htpasswd -v accepts', { skip: htpasswd.skip }, async (t) => {
  const file = join(dir, 'users.htpasswd')
  const formats: Array<[string[], RegExp]> = [
    [['--cost', '5'], /^\$2y\$05\$/],
    [['-m'], /^\$apr1\$/],
    [['-s'], /^\{SHA\}/],
    [['-2'], /^\$5\$/],
    [['-5', '--rounds', '6000'], /^\$6\$rounds=6000\$/]
  ]
  for (const [flags, shape] of formats) {
    const user = `u${flags.join('')}`.replace(/[^a-z0-9]/gi, '')
    const result = await runCommand(['passwd', '-c', ...flags, file, user], { input: 'pa:ss wörd\n' })
    t.equal(result.code, 0, `${flags.join(' ')}: ${result.stderr}`)
    const line = (await readFile(file, 'utf8')).split('\n').find((l) => l.startsWith(`${user}:`)) ?? ''
    t.match(line.slice(user.length + 1), shape, `${flags.join(' ')} writes its format`)
    await t.resolves(run(htpasswd.path as string, ['-vb', file, user, 'pa:ss wörd']), `htpasswd -vb accepts ${flags.join(' ')}`)
    await t.rejects(run(htpasswd.path as string, ['-vb', file, user, 'wrong']), `htpasswd -vb refuses a wrong password (${flags.join(' ')})`)
    t.equal((await runCommand(['passwd', '--verify', file, user], { input: 'pa:ss wörd\n' })).code, 0, 'passwd --verify agrees')
  }
  const bcrypt = await runCommand(['passwd', file, 'default'], { input: 'secret\n' })
  t.equal(bcrypt.code, 0)
  t.match(await readFile(file, 'utf8'), /\ndefault:\$2y\$10\$/, 'bcrypt by default')
  const apache = join(dir, 'apache.htpasswd')
  await run(htpasswd.path as string, ['-cbB', '-C', '5', apache, 'alice', 'wonderland'])
  t.equal((await runCommand(['passwd', '--verify', apache, 'alice'], { input: 'wonderland\n' })).code, 0, 'verifies Apache\'s own bcrypt')
  t.equal((await runCommand(['passwd', '--verify', apache, 'alice'], { input: 'nope\n' })).code, 3)
  const long = await runCommand(['passwd', file, 'long'], { input: `${'x'.repeat(73)}\n` })
  t.equal(long.code, 1)
  t.match(long.stderr, /72 bytes/)
})

const python = needProgram('python3', 'python3', ['/usr/bin'])
const ptyRun = new URL('../helpers/pty-run.py', import.meta.url).pathname

/** Runs the command on a pseudo-terminal, typing `answers` at its prompts. */
async function onTerminal (answers: Array<[prompt: string, typed: string]>, args: string[]): Promise<{ output: string, code: number }> {
  const { stdout } = await run(python.path as string, [ptyRun, JSON.stringify(answers), process.execPath, CLI_PATH, ...args])
  return JSON.parse(stdout) as { output: string, code: number }
}

t.test('passwd prompts on a terminal without echo, twice, and Ctrl-C exits 130', { skip: python.skip }, async (t) => {
  const file = join(dir, 'prompt.htdigest')
  const typed = await onTerminal([['New password: ', 'hunter22\r'], ['Re-type new password: ', 'hunter22\r']],
    ['passwd', '--htdigest', '--realm', 'r', '-c', file, 'alice'])
  t.equal(typed.code, 0, typed.output)
  t.match(typed.output, /New password: .*Re-type new password: /s)
  t.notMatch(typed.output, /hunter22/, 'the password is not echoed')
  t.equal((await runCommand(['passwd', '--htdigest', '--realm', 'r', '--verify', file, 'alice'], { input: 'hunter22\n' })).code, 0)

  const mismatch = await onTerminal([['New password: ', 'one\r'], ['Re-type new password: ', 'two\r']], ['passwd', '--htdigest', '--realm', 'r', file, 'alice'])
  t.equal(mismatch.code, 1)
  t.match(mismatch.output, /the passwords do not match/)
  const interrupted = await onTerminal([['New password: ', '\u0003']], ['passwd', '--htdigest', '--realm', 'r', file, 'alice'])
  t.equal(interrupted.code, 130)
  t.equal((await runCommand(['passwd', '--htdigest', '--realm', 'r', '--verify', file, 'alice'], { input: 'hunter22\n' })).code, 0, 'the file is unchanged')
})
