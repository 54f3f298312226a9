import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { UnauthorizedLogin, UsernamePassword } from '../../lib/cred/index.js'
import { HtdigestChecker, HtpasswdChecker } from '../../lib/checkers/index.js'
import { HTPASSWD_HASHERS } from '../../lib/hashers/index.js'
import type { PasswordHasher } from '../../lib/hashers/index.js'
import { apacheSkip, htdigest, htpasswd, tempDir } from '../helpers/apache.js'

// Files made by Apache's own htpasswd/htdigest, then edited the way people and tools damage them.

const login = async (checker: HtpasswdChecker | HtdigestChecker, user: string, password: string): Promise<string> =>
  await checker.requestAvatarId(new UsernamePassword(user, password))

/** The htpasswd formats, counting which one verified what (work is counted, not timed). */
function counting (): { hashers: PasswordHasher[], verified: string[] } {
  const verified: string[] = []
  const hashers = HTPASSWD_HASHERS.map((h): PasswordHasher => ({
    name: h.name,
    identifies: (encoded) => h.identifies(encoded),
    verify: async (plain, encoded) => { verified.push(h.name); return await h.verify(plain, encoded) },
    decoy: async (like) => await h.decoy(like)
  }))
  return { hashers, verified }
}

t.test('a DES crypt hash cut short is refused, never taken as a plaintext password', { skip: apacheSkip }, async (t) => {
  const dir = await tempDir(t)
  const file = join(dir, 'htpasswd')
  await htpasswd(file, 'des', 'secret12', '-d', { create: true })
  await htpasswd(file, 'apr', 'apr-pw', '-m')
  const made = await readFile(file, 'utf8')
  const des = (/^des:(.*)$/m.exec(made) as RegExpExecArray)[1] as string
  const apr = (/^apr:(.*)$/m.exec(made) as RegExpExecArray)[1] as string
  t.equal(des.length, 13, 'htpasswd -d wrote a 13-character DES hash')
  // The remnants an editor, a column width or a copy-paste leaves.
  const cut = { cut10: des.slice(0, 10), cut11: des.slice(0, 11), cut12: des.slice(0, 12), noDollar: apr.slice(1) }
  await writeFile(file, made + Object.entries(cut).map(([user, remnant]) => `${user}:${remnant}\n`).join(''))
  const warnings: string[] = []
  const { hashers, verified } = counting()
  const checker = new HtpasswdChecker(file, { hashers, onWarning: (m) => warnings.push(m) })
  for (const [user, remnant] of Object.entries(cut)) {
    verified.length = 0
    await t.rejects(login(checker, user, remnant), UnauthorizedLogin, `${user}: its own text does not log in`)
    t.equal(verified.length, 1, `${user}: refused after one check, as an unknown user is`)
    t.not(verified[0], 'plain', `${user}: and that check is no plaintext comparison`)
  }
  t.equal(await login(checker, 'des', 'secret12'), 'des', 'the whole hash still works')
  const said = warnings.join('\n')
  t.match(said, /line 3: the password hash of user "cut10" looks like a DES crypt hash cut short \(10 of 13 characters\); that user cannot log in/)
  t.match(said, /line 5: .*"cut12" looks like a DES crypt hash cut short \(12 of 13/)
  t.match(said, /line 6: .*"noDollar" looks like a hash that lost its first character/)
  for (const remnant of Object.values(cut)) t.notOk(said.includes(remnant), 'the warnings never quote the hash')
  t.notMatch(said, /plaintext/, 'no line was read as a plaintext password')
})

t.test('plaintext passwords (htpasswd -p) that do not look like a damaged hash still work', { skip: apacheSkip }, async (t) => {
  const dir = await tempDir(t)
  const file = join(dir, 'htpasswd')
  await htpasswd(file, 'short', 'letmein', '-p', { create: true })
  await htpasswd(file, 'long', 'correct horse battery', '-p')
  await htpasswd(file, 'sixteen', 'Xk9fP2mQ7rT4wZ1b', '-p')
  const checker = new HtpasswdChecker(file, { onWarning: () => {} })
  t.equal(await login(checker, 'short', 'letmein'), 'short')
  t.equal(await login(checker, 'long', 'correct horse battery'), 'long')
  t.equal(await login(checker, 'sixteen', 'Xk9fP2mQ7rT4wZ1b'), 'sixteen')
})

t.test("leading white space: indented comments are comments, indented users are users (Apache's ap_cfg_getline)", { skip: apacheSkip }, async (t) => {
  const dir = await tempDir(t)
  const file = join(dir, 'htpasswd')
  await htpasswd(file, 'user1', 'pw-one', '-m', { create: true })
  await htpasswd(file, 'user2', 'pw-two', '-s')
  const [line1, line2] = (await readFile(file, 'utf8')).split('\n') as [string, string]
  await writeFile(file, ` # legacy users\n\t#\tmore\n ${line1}\n\t${line2}  \n   \n`)
  const warnings: string[] = []
  const checker = new HtpasswdChecker(file, { onWarning: (m) => warnings.push(m) })
  t.same([...checker.usernames()].sort(), ['user1', 'user2'], 'no user named " user1", no comment read as a user')
  t.equal(await login(checker, 'user1', 'pw-one'), 'user1')
  t.equal(await login(checker, 'user2', 'pw-two'), 'user2', 'trailing white space after the hash is dropped too')
  await t.rejects(login(checker, ' user1', 'pw-one'), UnauthorizedLogin)
  t.same(warnings, [], 'nothing to warn about')
})

t.test('the same rule for htdigest files', { skip: apacheSkip }, async (t) => {
  const dir = await tempDir(t)
  const file = join(dir, 'htdigest')
  await htdigest(file, 'staff', 'alice', 'wonderland', true)
  await writeFile(file, `  # staff\n  ${await readFile(file, 'utf8')}`)
  const checker = new HtdigestChecker(file)
  t.equal(await login(checker, 'alice', 'wonderland'), 'alice')
})
