import { appendFile, readFile, stat, utimes, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { InvalidOption, UnauthorizedLogin, UsernamePassword } from '../../lib/cred/index.js'
import { HtpasswdChecker } from '../../lib/checkers/index.js'
import { HTPASSWD_HASHERS } from '../../lib/hashers/index.js'
import type { PasswordHasher } from '../../lib/hashers/index.js'
import { apacheSkip, htpasswd, htpasswdDelete, tempDir } from '../helpers/apache.js'
import type { HtpasswdFormat } from '../helpers/apache.js'
import { checkerContract } from './checker-contract.js'

const PASSWORD = 'żółć:🙂 x'
const FORMATS: readonly HtpasswdFormat[] = ['-B', '-m', '-s', '-d', '-2', '-5', '-p']
const userOf = (format: HtpasswdFormat): string => `user${format}`

const login = async (checker: HtpasswdChecker, user: string, password: string): Promise<string> =>
  await checker.requestAvatarId(new UsernamePassword(user, password))

/** The htpasswd hashers, each counting its calls: to prove equal work without timing anything. */
function countingHashers (): { hashers: PasswordHasher[], verifies: Map<string, number>, decoys: Array<{ name: string, like: string | undefined }> } {
  const verifies = new Map<string, number>()
  const decoys: Array<{ name: string, like: string | undefined }> = []
  const hashers = HTPASSWD_HASHERS.map((h): PasswordHasher => ({
    name: h.name,
    identifies: (encoded) => h.identifies(encoded),
    verify: async (plain, encoded) => { verifies.set(h.name, (verifies.get(h.name) ?? 0) + 1); return await h.verify(plain, encoded) },
    decoy: async (like) => { decoys.push({ name: h.name, like }); return await h.decoy(like) }
  }))
  return { hashers, verifies, decoys }
}

t.test('a file with every format htpasswd writes, UTF-8 passwords with ":", and a failing line in each format', { skip: apacheSkip }, async (t) => {
  const dir = await tempDir(t)
  const file = join(dir, 'htpasswd')
  await htpasswd(file, 'first', 'x', '-B', { create: true })
  for (const format of FORMATS) {
    await htpasswd(file, userOf(format), PASSWORD, format)
    await htpasswd(file, `bad${format}`, 'another password', format)
  }
  const warnings: string[] = []
  const checker = new HtpasswdChecker(file, { onWarning: (m) => warnings.push(m) })
  for (const format of FORMATS) {
    t.equal(await login(checker, userOf(format), PASSWORD), userOf(format), `${format} logs in`)
    await t.rejects(login(checker, `bad${format}`, PASSWORD), UnauthorizedLogin, `${format}: the line of another password fails`)
    await t.rejects(login(checker, userOf(format), 'x' + PASSWORD), UnauthorizedLogin, `${format}: a wrong password fails`)
  }
  const unknown = await login(checker, 'nobody', PASSWORD).catch((err: unknown) => err)
  const wrong = await login(checker, userOf('-B'), 'nope').catch((err: unknown) => err)
  t.type(unknown, UnauthorizedLogin)
  t.equal((unknown as Error).message, (wrong as Error).message, 'one message for unknown user and wrong password')
  t.same([...checker.usernames()].length, 1 + 2 * FORMATS.length)
  t.match(warnings.join('\n'), /line \d+: user "user-p" has a plaintext password/)
  t.notMatch(warnings.join('\n'), PASSWORD, 'warnings never carry a password')
})

t.test('set-up errors: missing file, malformed file, bad options', { skip: apacheSkip }, async (t) => {
  const dir = await tempDir(t)
  t.throws(() => new HtpasswdChecker(join(dir, 'missing')), InvalidOption, 'a missing file is a set-up error')
  t.throws(() => new HtpasswdChecker(join(dir, 'missing')), /cannot read .*missing \(ENOENT\)/)
  const file = join(dir, 'broken')
  await writeFile(file, '# comment\nalice:{SHA}abc\nno colon here\n')
  t.throws(() => new HtpasswdChecker(file), /line 3: no ":"/, 'the malformed line is named')
  await writeFile(file, ':{SHA}abc\n')
  t.throws(() => new HtpasswdChecker(file), /line 1: empty user name/)
  await writeFile(file, 'alice:x\n')
  t.throws(() => new HtpasswdChecker(file, { checkInterval: -1 }), InvalidOption)
  t.throws(() => new HtpasswdChecker(file, { hashers: [] }), InvalidOption)
  t.throws(() => new HtpasswdChecker(file, { onWarning: 'log' as unknown as () => void }), InvalidOption)
  t.throws(() => new HtpasswdChecker(''), InvalidOption)
})

t.test('lines Apache tolerates: comments, CRLF, trailing fields, duplicates, unknown formats', async (t) => {
  const dir = await tempDir(t)
  const file = join(dir, 'htpasswd')
  const sha = '{SHA}' + (await import('node:crypto')).hash('sha1', 'pw', 'base64')
  await writeFile(file, `# users\r\nalice:${sha}:Alice Liddell\r\n\r\nalice:{SHA}other\nbob:$y$j9T$abc$def\ncarol:pa:ss\n`)
  const warnings: string[] = []
  const checker = new HtpasswdChecker(file, { onWarning: (m) => warnings.push(m) })
  t.equal(await login(checker, 'alice', 'pw'), 'alice', 'a trailing field after a known hash is ignored')
  await t.rejects(login(checker, 'bob', '$y$j9T$abc$def'), UnauthorizedLogin, 'an unknown format is never read as plaintext')
  t.equal(await login(checker, 'carol', 'pa:ss'), 'carol', 'a plaintext password keeps its ":"')
  t.match(warnings.join('\n'), /line 4: user "alice" is listed again; line 2 is used/)
  t.match(warnings.join('\n'), /line 5: the password hash of user "bob" is in a format not read here/)
})

t.test('live reload: add, change, remove, broken file, same-second edit', { skip: apacheSkip }, async (t) => {
  const dir = await tempDir(t)
  const file = join(dir, 'htpasswd')
  await htpasswd(file, 'alice', 'one', '-B', { create: true })
  const warnings: string[] = []
  const checker = new HtpasswdChecker(file, { checkInterval: 0, onWarning: (m) => warnings.push(m) })
  let reloads = 0
  checker.onReload(() => { reloads++ })
  t.equal(await login(checker, 'alice', 'one'), 'alice')

  await htpasswd(file, 'bob', 'two', '-m')
  t.equal(await login(checker, 'bob', 'two'), 'bob', 'a user added while running logs in')
  await htpasswd(file, 'alice', 'three', '-B')
  await t.rejects(login(checker, 'alice', 'one'), UnauthorizedLogin, 'the old password stops working')
  t.equal(await login(checker, 'alice', 'three'), 'alice', 'the new one works')
  await htpasswdDelete(file, 'bob')
  await t.rejects(login(checker, 'bob', 'two'), UnauthorizedLogin, 'a removed user is refused')
  t.equal(reloads, 3, 'one reload per edit')

  const good = await readFile(file, 'utf8')
  await appendFile(file, 'garbage without a colon\n')
  t.equal(await login(checker, 'alice', 'three'), 'alice', 'a broken file: the last good copy stays in service')
  t.equal(await login(checker, 'alice', 'three'), 'alice')
  const lineWarnings = warnings.filter((w) => /line 2: no ":"/.test(w))
  t.equal(lineWarnings.length, 1, 'one warning naming the line, not one per login')
  t.match(lineWarnings[0], /still serving the last good copy/)
  await writeFile(file, good)
  await htpasswd(file, 'carol', 'four', '-s')
  t.equal(await login(checker, 'carol', 'four'), 'carol', 'repaired: reloaded')

  // An edit that keeps size and mtime (same second, timestamp put back as a coarse file system would show it):
  // an mtime check (Twisted's) misses it; the content is compared while the file is that fresh.
  const second = Math.floor(Date.now() / 1000)
  await writeFile(file, 'dave:{SHA}' + (await import('node:crypto')).hash('sha1', 'five', 'base64') + '\n')
  await utimes(file, second, second)
  t.equal(await login(checker, 'dave', 'five'), 'dave')
  const before = await stat(file, { bigint: true })
  await writeFile(file, 'erin:{SHA}' + (await import('node:crypto')).hash('sha1', 'sixx', 'base64') + '\n')
  await utimes(file, second, second)
  const after = await stat(file, { bigint: true })
  t.equal(after.size, before.size, 'same size')
  t.equal(after.mtimeNs, before.mtimeNs, 'same mtime, to the nanosecond')
  t.equal(await login(checker, 'erin', 'sixx'), 'erin', 'the same-second edit is seen')
  await t.rejects(login(checker, 'dave', 'five'), UnauthorizedLogin)

  const { rm } = await import('node:fs/promises')
  await rm(file)
  t.equal(await login(checker, 'erin', 'sixx'), 'erin', 'a deleted file: the last good copy stays')
  t.match(warnings.at(-1), /cannot read .* \(ENOENT\); still serving the last good copy/)
})

t.test('checkInterval: a change is looked for at most that often', async (t) => {
  const dir = await tempDir(t)
  const file = join(dir, 'htpasswd')
  await writeFile(file, 'alice:alicepw\n')
  const checker = new HtpasswdChecker(file, { checkInterval: 60_000, onWarning: () => {} })
  await writeFile(file, 'alice:alicepw\nbob:bobpw\n')
  await t.rejects(login(checker, 'bob', 'bobpw'), UnauthorizedLogin, 'not looked at yet')
  await checker.refreshIfDue()
  await t.rejects(login(checker, 'bob', 'bobpw'), UnauthorizedLogin, 'still not due')
})

t.test('an unknown user does the work of a wrong password: counted hash calls', { skip: apacheSkip }, async (t) => {
  const dir = await tempDir(t)
  const file = join(dir, 'htpasswd')
  await htpasswd(file, 'alice', 'pw', '-B', { create: true, extra: ['-C', '5'] })
  await htpasswd(file, 'bob', 'pw', '-B')
  await htpasswd(file, 'carol', 'pw', '-m')
  await htpasswd(file, 'dave', 'pw', '-p')
  const { hashers, verifies, decoys } = countingHashers()
  const checker = new HtpasswdChecker(file, { hashers, onWarning: () => {} })
  t.same(decoys, [{ name: 'bcrypt', like: (await readFile(file, 'utf8')).split('\n')[0]?.slice('alice:'.length) }], 'one decoy, bcrypt (most lines), at the cost of its first line')

  await t.rejects(login(checker, 'alice', 'wrong'), UnauthorizedLogin)
  t.same(Object.fromEntries(verifies), { bcrypt: 1 }, 'wrong password: one bcrypt verification')
  verifies.clear()
  await t.rejects(login(checker, 'mallory', 'wrong'), UnauthorizedLogin)
  t.same(Object.fromEntries(verifies), { bcrypt: 1 }, 'unknown user: one bcrypt verification, against the decoy')
  verifies.clear()
  t.equal(await login(checker, 'alice', 'pw'), 'alice')
  t.same(Object.fromEntries(verifies), { bcrypt: 1 }, 'right password: one')

  // A file of mostly apr1 lines gets an apr1 decoy.
  const other = join(dir, 'apr1')
  await htpasswd(other, 'a', 'pw', '-m', { create: true })
  await htpasswd(other, 'b', 'pw', '-m')
  await htpasswd(other, 'c', 'pw', '-B')
  const counted = countingHashers()
  const apr1Checker = new HtpasswdChecker(other, { hashers: counted.hashers })
  await t.rejects(login(apr1Checker, 'zed', 'pw'), UnauthorizedLogin)
  t.same(Object.fromEntries(counted.verifies), { apr1: 1 })
})

t.test('bcrypt not installed: prepare() names the line and the package, no warning; a login is MissingPeerDependency', async (t) => {
  const { overrideDriver } = await import('../../lib/drivers/index.js')
  const { MissingPeerDependency } = await import('../../lib/cred/index.js')
  t.teardown(overrideDriver('bcrypt', async () => { throw new Error("Cannot find package 'bcrypt'") }))
  const dir = await tempDir(t)
  const file = join(dir, 'htpasswd')
  await writeFile(file, 'carol:{SHA}' + (await import('node:crypto')).hash('sha1', 'pw', 'base64') + '\nalice:$2y$04$' + 'a'.repeat(53) + '\n')
  const warnings: string[] = []
  const checker = new HtpasswdChecker(file, { onWarning: (m) => warnings.push(m) })
  await t.rejects(checker.prepare(), {
    name: 'MissingPeerDependency',
    message: `HtpasswdChecker(${file}): line 2 holds a bcrypt hash: Verifying bcrypt password hashes needs the bcrypt package: install it (npm install bcrypt)`
  }, 'one bcrypt line among others is enough: that user could never log in')
  await t.rejects(login(checker, 'alice', 'pw'), MissingPeerDependency)
  t.equal(await login(checker, 'carol', 'pw'), 'carol', 'the other formats still work for a checker used without prepare()')
  const only = join(dir, 'bcrypt-only')
  await writeFile(only, 'alice:$2y$04$' + 'a'.repeat(53) + '\n')
  const bcryptOnly = new HtpasswdChecker(only, { onWarning: (m) => warnings.push(m) })
  await t.rejects(bcryptOnly.prepare(), MissingPeerDependency, 'a file of bcrypt lines: its decoy cannot be made either')
  await t.rejects(login(bcryptOnly, 'nobody', 'pw'), MissingPeerDependency, 'an unknown user fails as a known one does')
  t.same(warnings, [], 'no warning: prepare() (the plugin\'s register()) is where it is said')
})

t.test('the store contract, on a file of bcrypt and {SHA} lines', async (t) => {
  const dir = await tempDir(t)
  const file = join(dir, 'htpasswd')
  const { bcryptHasher, sha1Hasher } = await import('../../lib/hashers/index.js')
  await writeFile(file, `alice:${await bcryptHasher.hash?.('wonderland-htpasswd', { cost: 4 }) as string}\ncarol:${await sha1Hasher.hash?.('carol-htpasswd') as string}\n`)
  const { hashers, verifies } = countingHashers()
  await checkerContract(t, 'HtpasswdChecker', {
    make: () => new HtpasswdChecker(file, { hashers, onWarning: () => {} }),
    user: 'alice',
    password: 'wonderland-htpasswd',
    badOptions: [
      ['no path', () => new HtpasswdChecker('')],
      ['a file that does not exist', () => new HtpasswdChecker(join(dir, 'missing'))],
      ['a negative checkInterval', () => new HtpasswdChecker(file, { checkInterval: -1 })],
      ['no hashers', () => new HtpasswdChecker(file, { hashers: [] })]
    ],
    driver: 'bcrypt',
    work: () => [...verifies.values()].reduce((sum, n) => sum + n, 0)
  })
})
