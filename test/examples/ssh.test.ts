import { execFile } from 'node:child_process'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { startSshExample } from '../../examples/ssh/server.js'
import { openSessions } from '../../examples/mailbox-realm.js'
import { basic } from '../helpers/app.js'
import { needProgram } from '../helpers/binaries.js'

// The SSH example driven by the real OpenSSH client: key logins (ed25519, RSA), password logins through sshpass,
// a wrong key, a revoked key, and the HTTP API of the same process answering for the same user.

const run = promisify(execFile)
const ssh = needProgram('ssh', 'openssh-client')
const sshKeygen = needProgram('ssh-keygen', 'openssh-client')
const sshpass = needProgram('sshpass', 'sshpass')
const skip = ssh.skip !== false ? ssh.skip : sshKeygen.skip !== false ? sshKeygen.skip : sshpass.skip

const COMMON = ['-F', '/dev/null', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'LogLevel=ERROR', '-o', 'ConnectTimeout=10']

/** Runs the OpenSSH client; answers its exit code and output instead of throwing on a refusal. */
async function sshRun (args: readonly string[], options: { password?: string, input?: string } = {}): Promise<{ code: number, stdout: string, stderr: string }> {
  const [program, prefix] = options.password === undefined ? [ssh.path as string, []] : [sshpass.path as string, ['-e', ssh.path as string]]
  const env = { ...process.env, ...(options.password === undefined ? {} : { SSHPASS: options.password }) }
  return await new Promise((resolve) => {
    const child = execFile(program, [...prefix, ...COMMON, ...args], { env, timeout: 20_000 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, stdout, stderr })
    })
    child.stdin?.end(options.input ?? '')
  })
}

const waitFor = async (condition: () => boolean): Promise<boolean> => {
  for (let i = 0; i < 100 && !condition(); i++) await new Promise((resolve) => setTimeout(resolve, 20))
  return condition()
}

t.test('the SSH example: OpenSSH logs in with keys and passwords through the portal the HTTP API uses', { skip }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'cred-ssh-example-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const keygen = async (name: string, type: string, ...more: string[]): Promise<string> => {
    const path = join(dir, name)
    await run(sshKeygen.path as string, ['-q', '-t', type, ...more, '-N', '', '-C', name, '-f', path])
    return path
  }
  const aliceEd25519 = await keygen('alice_ed25519', 'ed25519')
  const aliceOld = await keygen('alice_old', 'ecdsa', '-b', '256')
  const bobRsa = await keygen('bob_rsa', 'rsa', '-b', '2048')
  const stranger = await keygen('stranger', 'ed25519')
  const keys = join(dir, 'keys')
  await mkdir(keys)
  const pub = async (path: string): Promise<string> => await readFile(`${path}.pub`, 'utf8')
  await writeFile(join(keys, 'alice'), `# alice's keys\n${await pub(aliceEd25519)}${await pub(aliceOld)}`)
  await writeFile(join(keys, 'bob'), await pub(bobRsa))

  const example = await startSshExample({ keys, passwords: { alice: 'wonderland', carol: 'carol password' } })
  t.teardown(async () => { await example.close() })
  const to = (user: string): string[] => ['-p', String(example.sshPort), `${user}@127.0.0.1`]
  const withKey = (key: string): string[] => ['-o', 'BatchMode=yes', '-o', 'IdentitiesOnly=yes', '-o', 'PreferredAuthentications=publickey', '-i', key]

  const ed25519 = await sshRun([...withKey(aliceEd25519), ...to('alice'), 'whoami'])
  t.same([ed25519.code, ed25519.stdout], [0, 'alice\n'], 'ed25519 key: exec gets the avatar (whoami)')
  const messages = await sshRun([...withKey(aliceEd25519), ...to('alice'), 'messages'])
  t.equal(messages.stdout, '1\tWelcome\n2\tTea party\n', 'and reads the user\'s messages')
  const rsa = await sshRun([...withKey(bobRsa), ...to('bob'), 'whoami'])
  t.same([rsa.code, rsa.stdout], [0, 'bob\n'], 'RSA key (rsa-sha2-512/256 signatures)')
  const ecdsa = await sshRun([...withKey(aliceOld), ...to('alice'), 'whoami'])
  t.same([ecdsa.code, ecdsa.stdout], [0, 'alice\n'], 'ECDSA key')

  const wrong = await sshRun([...withKey(stranger), ...to('alice'), 'whoami'])
  t.equal(wrong.code, 255, 'a key that is not the user\'s is refused')
  t.match(wrong.stderr, /Permission denied/)
  const otherUser = await sshRun([...withKey(bobRsa), ...to('alice'), 'whoami'])
  t.equal(otherUser.code, 255, 'bob\'s key does not open alice\'s account')

  await writeFile(join(keys, 'alice'), await pub(aliceEd25519))
  const revoked = await sshRun([...withKey(aliceOld), ...to('alice'), 'whoami'])
  t.equal(revoked.code, 255, 'a key removed from the file is refused at the next login')
  const kept = await sshRun([...withKey(aliceEd25519), ...to('alice'), 'whoami'])
  t.equal(kept.stdout, 'alice\n', 'the key left in the file still logs in')

  const password = ['-o', 'PreferredAuthentications=password', '-o', 'PubkeyAuthentication=no', '-o', 'NumberOfPasswordPrompts=1']
  const byPassword = await sshRun([...password, ...to('alice'), 'whoami'], { password: 'wonderland' })
  t.same([byPassword.code, byPassword.stdout], [0, 'alice\n'], 'sshpass: a password login reaches the same avatar')
  const wrongPassword = await sshRun([...password, ...to('alice'), 'whoami'], { password: 'nope' })
  t.not(wrongPassword.code, 0, 'a wrong password is refused')

  const shell = await sshRun([...withKey(aliceEd25519), '-T', ...to('alice')], { input: 'whoami\nread 2\nexit\n' })
  t.match(shell.stdout, /Hello alice\.[\s\S]*> alice\n> Six o'clock, as always\.\n> /, 'the shell reads commands against the avatar')

  const http = await fetch(`${example.httpUrl}/whoami`, { headers: { authorization: basic('alice', 'wonderland') } })
  t.same(await http.json(), { avatarId: 'alice' }, 'the HTTP API in the same process: the same user')
  t.ok(await waitFor(() => openSessions.count === 0), `every SSH and HTTP session was logged out when its connection ended (open: ${openSessions.count})`)
})
