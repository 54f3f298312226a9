import { appendFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { DigestedCredentials, InvalidOption, UnauthorizedLogin, UsernamePassword, digestHa1, digestResponse } from '../../lib/cred/index.js'
import type { DigestAlgorithm } from '../../lib/cred/index.js'
import { HtdigestChecker } from '../../lib/checkers/index.js'
import { apacheSkip, htdigest, tempDir } from '../helpers/apache.js'
import { checkerContract } from './checker-contract.js'

const REALM = 'staff area'

/** What a Digest client sends for this password (RFC 7616 arithmetic), counting the checker's checkHash calls. */
class CountingDigest extends DigestedCredentials {
  static checks = 0
  override checkHash (ha1Hex: string): boolean {
    CountingDigest.checks++
    return super.checkHash(ha1Hex)
  }
}

function digestLogin (username: string, password: string, realm = REALM, algorithm: DigestAlgorithm = 'MD5'): CountingDigest {
  const fields = { username, realm, method: 'GET', uri: '/x', algorithm, nonce: 'n0nce', nc: '00000001', cnonce: 'c', qop: 'auth' as const }
  return new CountingDigest({ ...fields, response: digestResponse(digestHa1(algorithm, username, realm, password), fields) })
}

t.test('files made by htdigest: Digest via checkHash, Basic by hashing; UTF-8 and ":" in passwords', { skip: apacheSkip }, async (t) => {
  const dir = await tempDir(t)
  const file = join(dir, 'htdigest')
  await htdigest(file, REALM, 'alice', 'wonderland', true)
  await htdigest(file, REALM, 'Łukasz', 'żółć:🙂 x')
  await htdigest(file, REALM, 'bad', 'another password')
  const checker = new HtdigestChecker(file)
  t.same(checker.realms(), [REALM])
  t.same([...checker.usernames()], ['alice', 'Łukasz', 'bad'])

  t.equal(checker.requestAvatarId(digestLogin('alice', 'wonderland')), 'alice', 'Digest MD5')
  t.equal(checker.requestAvatarId(digestLogin('Łukasz', 'żółć:🙂 x')), 'Łukasz', 'UTF-8 name and password with ":"')
  t.equal(checker.requestAvatarId(digestLogin('alice', 'wonderland', REALM, 'MD5-sess')), 'alice', 'MD5-sess')
  t.throws(() => checker.requestAvatarId(digestLogin('alice', 'wonderland', REALM, 'SHA-256')), UnauthorizedLogin, 'an MD5 HA1 cannot verify SHA-256')
  t.throws(() => checker.requestAvatarId(digestLogin('bad', 'wonderland')), UnauthorizedLogin, 'the line of another password fails')
  t.throws(() => checker.requestAvatarId(digestLogin('alice', 'wonderland', 'other realm')), UnauthorizedLogin, 'another realm fails')

  t.equal(checker.requestAvatarId(new UsernamePassword('Łukasz', 'żółć:🙂 x')), 'Łukasz', 'Basic, hashed with the file\'s realm')
  t.throws(() => checker.requestAvatarId(new UsernamePassword('alice', 'nope')), UnauthorizedLogin)
  t.throws(() => checker.requestAvatarId(new UsernamePassword('nobody', 'wonderland')), { message: 'Invalid user name or password' })
})

t.test('an unknown user does the work of a wrong password: counted checkHash calls', { skip: apacheSkip }, async (t) => {
  const dir = await tempDir(t)
  const file = join(dir, 'htdigest')
  await htdigest(file, REALM, 'alice', 'wonderland', true)
  const checker = new HtdigestChecker(file)
  CountingDigest.checks = 0
  t.throws(() => checker.requestAvatarId(digestLogin('alice', 'wrong')), UnauthorizedLogin)
  t.equal(CountingDigest.checks, 1, 'wrong password: one check')
  t.throws(() => checker.requestAvatarId(digestLogin('mallory', 'wrong')), UnauthorizedLogin)
  t.equal(CountingDigest.checks, 2, 'unknown user: one check, against a decoy HA1')
})

t.test('several realms; setupProblems', { skip: apacheSkip }, async (t) => {
  const dir = await tempDir(t)
  const file = join(dir, 'htdigest')
  await htdigest(file, REALM, 'alice', 'in staff', true)
  await htdigest(file, 'guests', 'alice', 'in guests')
  t.throws(() => new HtdigestChecker(file), /2 realms \("staff area", "guests"\); pass \{ realm \}/)
  const checker = new HtdigestChecker(file, { realm: 'guests' })
  t.equal(checker.requestAvatarId(new UsernamePassword('alice', 'in guests')), 'alice', 'Basic uses the realm chosen')
  t.throws(() => checker.requestAvatarId(new UsernamePassword('alice', 'in staff')), UnauthorizedLogin)
  t.equal(checker.requestAvatarId(digestLogin('alice', 'in staff')), 'alice', 'Digest uses the realm the client answered for')

  t.same(checker.setupProblems({ authenticationRealm: REALM, digestAlgorithms: ['MD5', 'MD5-sess'] }), [], 'MD5 and a realm of the file: fine')
  t.same(checker.setupProblems({ authenticationRealm: 'anything', digestAlgorithms: [] }), [], 'Basic only: the realm is not asked')
  const algorithms = checker.setupProblems({ authenticationRealm: REALM, digestAlgorithms: ['SHA-256', 'MD5'] })
  t.equal(algorithms.length, 1)
  t.match(algorithms[0], /HA1s are MD5 and cannot verify Digest SHA-256; offer only MD5 \(digest: \{ algorithms: \['MD5'\] \}\)/)
  const realm = checker.setupProblems({ authenticationRealm: 'fastify-cred', digestAlgorithms: ['MD5'] })
  t.equal(realm.length, 1)
  t.match(realm[0], /no line is for realm "fastify-cred".*its realms are "staff area", "guests"/)
  t.equal(checker.setupProblems({ authenticationRealm: 'x', digestAlgorithms: ['SHA-512-256'] }).length, 2)
})

t.test('set-up errors and reload', { skip: apacheSkip }, async (t) => {
  const dir = await tempDir(t)
  t.throws(() => new HtdigestChecker(join(dir, 'missing')), InvalidOption)
  const broken = join(dir, 'broken')
  await writeFile(broken, 'alice:realm:0123\n')
  t.throws(() => new HtdigestChecker(broken), /line 1: the HA1 of user "alice" is not 32 hex digits/)
  await writeFile(broken, 'alice\n')
  t.throws(() => new HtdigestChecker(broken), /line 1: expected user:realm:HA1/)

  const file = join(dir, 'htdigest')
  await htdigest(file, REALM, 'alice', 'one', true)
  const warnings: string[] = []
  const checker = new HtdigestChecker(file, { checkInterval: 0, onWarning: (m) => warnings.push(m) })
  let reloads = 0
  checker.onReload(() => { reloads++ })
  await htdigest(file, REALM, 'bob', 'two')
  t.equal(await checker.requestAvatarId(digestLogin('bob', 'two')), 'bob', 'a user added while running')
  await htdigest(file, REALM, 'alice', 'three')
  await t.rejects(async () => await checker.requestAvatarId(new UsernamePassword('alice', 'one')), UnauthorizedLogin, 'changed password: the old one fails')
  t.equal(await checker.requestAvatarId(new UsernamePassword('alice', 'three')), 'alice')
  await appendFile(file, 'carol:staff area:nothex\n')
  t.equal(await checker.requestAvatarId(digestLogin('alice', 'three')), 'alice', 'broken: last good copy')
  t.match(warnings.join('\n'), /line 3: the HA1 of user "carol" is not 32 hex digits \(MD5\); still serving the last good copy/)
  t.equal(reloads, 2)
})

t.test('the store contract, counting the Digest responses checked', async (t) => {
  const dir = await tempDir(t)
  const file = join(dir, 'htdigest')
  await writeFile(file, `alice:${REALM}:${digestHa1('MD5', 'alice', REALM, 'wonderland-htdigest')}\n`)
  const twoRealms = join(dir, 'two-realms')
  await writeFile(twoRealms, `alice:a:${digestHa1('MD5', 'alice', 'a', 'x')}\nalice:b:${digestHa1('MD5', 'alice', 'b', 'x')}\n`)
  await checkerContract(t, 'HtdigestChecker', {
    make: () => new HtdigestChecker(file),
    user: 'alice',
    password: 'wonderland-htdigest',
    credentials: (username, password) => digestLogin(username, password),
    badOptions: [
      ['a file that does not exist', () => new HtdigestChecker(join(dir, 'missing'))],
      ['a realm that is no string', () => new HtdigestChecker(file, { realm: 42 as unknown as string })],
      ['several realms and none chosen', () => new HtdigestChecker(twoRealms)]
    ],
    work: () => CountingDigest.checks
  })
})
