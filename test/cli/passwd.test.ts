// `fastify-cred passwd` against the file system as deployments have it: a file shared with a server through its
// group, a symbolic link to the file, a file with CRLF line endings. Apache's own htpasswd makes and checks the files.
import t from 'tap'
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { chmod, chown, mkdtemp, readFile, readdir, stat, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { needProgram } from '../helpers/binaries.js'
import { CLI, cliScratchFolder, runCommand, runProgram } from '../helpers/cli.js'

const run = promisify(execFile)
const htpasswd = needProgram('htpasswd', 'apache2-utils')

const dir = await cliScratchFolder(t)

/** Whether Apache's htpasswd accepts `password` for `user` in `file`. */
async function apacheAccepts (file: string, user: string, password: string): Promise<boolean> {
  return await run(htpasswd.path as string, ['-vb', file, user, password]).then(() => true, () => false)
}

const useradd = needProgram('useradd', 'passwd')
const userdel = needProgram('userdel', 'passwd')
const groupadd = needProgram('groupadd', 'passwd')
const groupdel = needProgram('groupdel', 'passwd')
const setpriv = needProgram('setpriv', 'util-linux')
const ownerSkip = process.getuid?.() !== 0
  ? 'not root: the test needs a throw-away user and group (useradd, groupadd) to run the command as a non-root owner'
  : useradd.skip || userdel.skip || groupadd.skip || groupdel.skip || setpriv.skip || htpasswd.skip

t.test('passwd run by the file\'s non-root owner keeps its group and mode (the server reads it through the group)', { skip: ownerSkip }, async (t) => {
  const tag = randomBytes(3).toString('hex')
  const group = `fcredg${tag}`
  const user = `fcredu${tag}`
  const other = `fcredo${tag}`
  await run(groupadd.path as string, [group])
  t.teardown(async () => { await run(groupdel.path as string, [group]).catch(() => {}) })
  // -U: each user's own primary group, as Debian does by default; only `user` is also in `group`.
  for (const [name, extra] of [[user, ['-G', group]], [other, []]] as const) {
    await run(useradd.path as string, ['-M', '-U', '-s', '/usr/sbin/nologin', '-c', 'fastify-cred test, removed by the test', ...extra, name])
    t.teardown(async () => { await run(userdel.path as string, [name]).catch(() => {}) })
  }
  const idOf = async (flag: string, name: string): Promise<number> => Number((await run('id', [flag, name])).stdout.trim())
  const uid = await idOf('-u', user)
  const ownGid = await idOf('-g', user)
  const sharedGid = Number((await run('getent', ['group', group])).stdout.split(':')[2])
  const otherUid = await idOf('-u', other)
  t.not(ownGid, sharedGid, 'the owner\'s primary group is not the file\'s group')

  await chmod(dir, 0o755) // mkdtemp made it 0700
  const home = join(dir, 'owned')
  await run('mkdir', ['-m', '0755', home])
  await chown(home, uid, ownGid)
  // A plain environment: tap's NODE_OPTIONS would make the child write coverage data where this user cannot.
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', LANG: 'C.UTF-8' }
  const asUser = async (args: readonly string[], input: string): Promise<{ code: number | null, stdout: string, stderr: string }> =>
    await runProgram(setpriv.path as string, [`--reuid=${uid}`, `--regid=${ownGid}`, '--init-groups', process.execPath, CLI, ...args], { input, env })

  // The deployment of the issue: owner:group 0640, the server running as a member of the group.
  const file = join(home, 'users.htpasswd')
  await run(htpasswd.path as string, ['-cbB', '-C', '4', file, 'alice', 'wonderland'])
  await chown(file, uid, sharedGid)
  await chmod(file, 0o640)
  const added = await asUser(['passwd', '--cost', '4', file, 'bob'], 'builder\n')
  t.equal(added.code, 0, added.stderr)
  const info = await stat(file)
  t.equal(info.uid, uid, 'the owner is kept')
  t.equal(info.gid, sharedGid, 'the group is kept (was the owner\'s primary group)')
  t.equal(info.mode & 0o7777, 0o640, 'the mode is kept')
  t.ok(await apacheAccepts(file, 'bob', 'builder'), 'htpasswd -v accepts the new user')
  t.ok(await apacheAccepts(file, 'alice', 'wonderland'), 'and the old one')
  const deleted = await asUser(['passwd', '--delete', file, 'bob'], '')
  t.equal(deleted.code, 0, deleted.stderr)
  t.equal((await stat(file)).gid, sharedGid, '--delete keeps the group too')

  // What a non-root owner cannot give back is refused before anything is written, not silently changed.
  const content = await readFile(file, 'utf8')
  await chown(file, uid, 0)
  const foreignGroup = await asUser(['passwd', '--cost', '4', file, 'carol'], 'x\n')
  t.equal(foreignGroup.code, 1, 'a group the owner is not in: exit 1')
  t.match(foreignGroup.stderr, /^fastify-cred: \S+ belongs to group 0, which you are not in; rewriting it would change its group/)
  t.equal((await stat(file)).gid, 0, 'the group is unchanged')
  t.equal(await readFile(file, 'utf8'), content, 'the file is unchanged')
  await chown(file, otherUid, sharedGid)
  await chmod(file, 0o660)
  const foreignOwner = await asUser(['passwd', '--cost', '4', file, 'carol'], 'x\n')
  t.equal(foreignOwner.code, 1, 'another user\'s file: exit 1')
  t.match(foreignOwner.stderr, /belongs to another user .*run this as its owner or as root/)
  t.equal((await stat(file)).uid, otherUid, 'the owner is unchanged')
  t.equal(await readFile(file, 'utf8'), content)
  t.same((await readdir(home)).sort(), ['users.htpasswd'], 'no temp or lock file is left behind')
})

t.test('concurrent passwd runs, half through a symbolic link and half on the file, lose no user', { skip: htpasswd.skip }, async (t) => {
  const file = join(dir, 'shared.htpasswd')
  const link = join(dir, 'link-to-shared.htpasswd')
  await run(htpasswd.path as string, ['-cbm', file, 'alice', 'wonderland'])
  await symlink(file, link)
  const users = Array.from({ length: 12 }, (_, i) => `user${i}`)
  for (let round = 0; round < 2; round++) {
    const results = await Promise.all(users.map(async (user, i) =>
      await runCommand(['passwd', '-m', i % 2 === 0 ? link : file, `${user}r${round}`], { input: `pw-${user}\n` })))
    for (const [i, result] of results.entries()) t.equal(result.code, 0, `${users[i] ?? ''} round ${round}: ${result.stderr}`)
    const names = (await readFile(file, 'utf8')).split('\n').filter((l) => l !== '').map((l) => l.split(':')[0]).sort()
    const expected = ['alice', ...users.flatMap((u) => Array.from({ length: round + 1 }, (_, r) => `${u}r${r}`))].sort()
    t.same(names, expected, `round ${round}: every user that was "added" is in the file`)
  }
  t.ok(await apacheAccepts(file, 'user3r1', 'pw-user3'), 'htpasswd -v accepts a user added through the file')
  t.ok(await apacheAccepts(link, 'user4r1', 'pw-user4'), 'and one added through the link')
  t.ok((await stat(link, { bigint: false })).isFile(), 'the link still leads to the file')
  t.notOk(existsSync(`${file}.lock`) || existsSync(`${link}.lock`), 'no lock is left behind')
})

t.test('passwd on a CRLF file (Apache\'s htpasswd output with Windows line endings): --verify accepts, edits keep CRLF', { skip: htpasswd.skip }, async (t) => {
  const file = join(dir, 'crlf.htpasswd')
  await run(htpasswd.path as string, ['-cbB', '-C', '4', file, 'alice', 'wonderland'])
  await run(htpasswd.path as string, ['-bm', file, 'bob', 'builder'])
  await writeFile(file, (await readFile(file, 'utf8')).replaceAll('\n', '\r\n'))
  t.ok(await apacheAccepts(file, 'alice', 'wonderland'), 'htpasswd -v accepts the CRLF file (bcrypt)')
  t.ok(await apacheAccepts(file, 'bob', 'builder'), 'htpasswd -v accepts the CRLF file ($apr1$)')

  t.equal((await runCommand(['passwd', '--verify', file, 'alice'], { input: 'wonderland\n' })).code, 0, 'passwd --verify agrees (bcrypt)')
  t.equal((await runCommand(['passwd', '--verify', file, 'bob'], { input: 'builder\n' })).code, 0, 'passwd --verify agrees ($apr1$)')
  t.equal((await runCommand(['passwd', '--verify', file, 'bob'], { input: 'wrong\n' })).code, 3, 'a wrong password is still 3')

  t.equal((await runCommand(['passwd', '--cost', '4', file, 'carol'], { input: 'tea party\n' })).code, 0)
  t.equal((await runCommand(['passwd', '-m', file, 'bob'], { input: 'rebuilt\n' })).code, 0)
  const text = await readFile(file, 'utf8')
  t.equal(text.split('\r\n').length, 4, 'three lines, each ended with CRLF')
  t.notMatch(text.replaceAll('\r\n', ''), /[\r\n]/, 'no bare LF or CR mixed in')
  t.ok(await apacheAccepts(file, 'carol', 'tea party'), 'htpasswd -v accepts the added user')
  t.ok(await apacheAccepts(file, 'bob', 'rebuilt'), 'and the changed one')

  const digest = join(dir, 'crlf.htdigest')
  await writeFile(digest, `alice:staff:${(await import('node:crypto')).createHash('md5').update('alice:staff:wonderland').digest('hex')}\r\n`)
  t.equal((await runCommand(['passwd', '--htdigest', '--realm', 'staff', '--verify', digest, 'alice'], { input: 'wonderland\n' })).code, 0, 'htdigest CRLF too')
})
