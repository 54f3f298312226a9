import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import {
  DigestedCredentials, IUsernameDigestHash, IUsernamePassword, InvalidOption, StoreUnavailable, UnauthorizedLogin, UsernamePassword,
  digestHa1, digestResponse
} from '../../lib/cred/index.js'
import type { CredentialsChecker, PasswordCheckable } from '../../lib/cred/index.js'
import { CachingChecker, HtpasswdChecker, MemoryChecker } from '../../lib/checkers/index.js'
import { HTPASSWD_HASHERS } from '../../lib/hashers/index.js'
import { closeCheckers } from '../../lib/strcred/index.js'
import type { PasswordHasher } from '../../lib/hashers/index.js'
import { apacheSkip, htpasswd, tempDir } from '../helpers/apache.js'
import { checkerContract } from './checker-contract.js'

/** Counts verifications reaching the wrapped checker's hashers. */
function counted (): { hashers: PasswordHasher[], count: () => number } {
  let n = 0
  const hashers = HTPASSWD_HASHERS.map((h): PasswordHasher => ({
    name: h.name, identifies: (e) => h.identifies(e), decoy: async (l) => await h.decoy(l),
    verify: async (p, e) => { n++; return await h.verify(p, e) }
  }))
  return { hashers, count: () => n }
}

const basic = (user: string, password: string): UsernamePassword => new UsernamePassword(user, password)

t.test('remembers successes only, forgets them when the file reloads', { skip: apacheSkip }, async (t) => {
  const dir = await tempDir(t)
  const file = join(dir, 'htpasswd')
  await htpasswd(file, 'alice', 'one', '-B', { create: true })
  await htpasswd(file, 'bob', 'two', '-B')
  const { hashers, count } = counted()
  const inner = new HtpasswdChecker(file, { hashers, checkInterval: 0 })
  const checker = new CachingChecker(inner, { ttl: 60_000, maxEntries: 100 })
  t.equal(checker.credentialInterfaces, inner.credentialInterfaces)

  t.equal(await checker.requestAvatarId(basic('alice', 'one')), 'alice')
  t.equal(count(), 1)
  for (let i = 0; i < 5; i++) t.equal(await checker.requestAvatarId(basic('alice', 'one')), 'alice')
  t.equal(count(), 1, 'five more logins, no more hashing')
  t.equal(checker.size, 1)

  for (let i = 0; i < 3; i++) await t.rejects(async () => await checker.requestAvatarId(basic('alice', 'wrong')), UnauthorizedLogin)
  t.equal(count(), 4, 'failures are never remembered: each one hashes')
  await t.rejects(async () => await checker.requestAvatarId(basic('alicx', 'one')), UnauthorizedLogin, 'another user name, same password: a miss')

  await htpasswd(file, 'alice', 'changed', '-B')
  await t.rejects(async () => await checker.requestAvatarId(basic('alice', 'one')), UnauthorizedLogin, 'the file reloaded: the remembered password is forgotten')
  t.equal(checker.size, 0)
  t.equal(await checker.requestAvatarId(basic('alice', 'changed')), 'alice')
})

t.test('concurrent logins with the same credentials share one verification', { skip: apacheSkip }, async (t) => {
  const dir = await tempDir(t)
  const file = join(dir, 'htpasswd')
  await htpasswd(file, 'alice', 'one', '-B', { create: true })
  const { hashers, count } = counted()
  const checker = new CachingChecker(new HtpasswdChecker(file, { hashers }))
  const answers = await Promise.all(Array.from({ length: 20 }, async () => await checker.requestAvatarId(basic('alice', 'one'))))
  t.same(new Set(answers), new Set(['alice']))
  t.equal(count(), 1)
})

t.test('bounded: least recently used out first; entries expire after ttl', async (t) => {
  const inner = new MemoryChecker({ a: '1', b: '2', c: '3' })
  let calls = 0
  const spy: CredentialsChecker<PasswordCheckable> = {
    credentialInterfaces: inner.credentialInterfaces,
    requestAvatarId: (c) => { calls++; return inner.requestAvatarId(c) }
  }
  const checker = new CachingChecker(spy, { ttl: 40, maxEntries: 2 })
  t.equal(checker.requestAvatarId(basic('a', '1')), 'a', 'a synchronous checker stays synchronous')
  checker.requestAvatarId(basic('b', '2'))
  checker.requestAvatarId(basic('a', '1')) // a is now the most recent
  checker.requestAvatarId(basic('c', '3')) // evicts b
  t.equal(calls, 3)
  t.equal(checker.size, 2)
  checker.requestAvatarId(basic('a', '1'))
  t.equal(calls, 3, 'a kept')
  checker.requestAvatarId(basic('b', '2'))
  t.equal(calls, 4, 'b was evicted')
  await new Promise((resolve) => setTimeout(resolve, 60))
  checker.requestAvatarId(basic('b', '2'))
  t.equal(calls, 5, 'expired after ttl')
  checker.clear()
  t.equal(checker.size, 0)
})

t.test('other credentials pass through; errors are not remembered', async (t) => {
  let calls = 0
  let fail = true
  const inner: CredentialsChecker<PasswordCheckable> = {
    credentialInterfaces: [IUsernamePassword, IUsernameDigestHash],
    requestAvatarId: async (c) => {
      calls++
      if (fail) throw new StoreUnavailable('down')
      return c.username
    },
    setupProblems: () => ['a problem']
  }
  const checker = new CachingChecker(inner)
  await t.rejects(async () => await checker.requestAvatarId(basic('a', '1')), StoreUnavailable)
  fail = false
  t.equal(await checker.requestAvatarId(basic('a', '1')), 'a', 'tried again after an outage')
  t.equal(calls, 2)
  const fields = { username: 'a', realm: 'r', method: 'GET', uri: '/', algorithm: 'MD5' as const, nonce: 'n', nc: '00000001', cnonce: 'c', qop: 'auth' as const }
  const digest = new DigestedCredentials({ ...fields, response: digestResponse(digestHa1('MD5', 'a', 'r', '1'), fields) })
  await checker.requestAvatarId(digest)
  await checker.requestAvatarId(digest)
  t.equal(calls, 4, 'Digest credentials are never cached')
  t.same(checker.setupProblems({ digestAlgorithms: [] }), ['a problem'], 'setupProblems is the wrapped checker\'s')
  t.throws(() => new CachingChecker(inner, { ttl: 0 }), InvalidOption)
  t.throws(() => new CachingChecker(inner, { maxEntries: 1.5 }), InvalidOption)
  t.throws(() => new CachingChecker({} as CredentialsChecker), InvalidOption)
})

t.test('a remembered login still sees the file change within checkInterval', async (t) => {
  const dir = await tempDir(t)
  const file = join(dir, 'htpasswd')
  await writeFile(file, 'alice:{SHA}' + (await import('node:crypto')).hash('sha1', 'pw', 'base64') + '\n')
  const inner = new HtpasswdChecker(file, { checkInterval: 0 })
  const checker = new CachingChecker(inner)
  t.equal(await checker.requestAvatarId(basic('alice', 'pw')), 'alice')
  await writeFile(file, 'bob:{SHA}' + (await import('node:crypto')).hash('sha1', 'pw', 'base64') + '\n')
  await t.rejects(async () => await checker.requestAvatarId(basic('alice', 'pw')), UnauthorizedLogin, 'a cache hit looks at the file first')
})

t.test('close() closes the wrapped checker, once however often it is called; then every login is StoreUnavailable', async (t) => {
  const inner = new MemoryChecker({ a: '1' })
  let closes = 0
  const spy: CredentialsChecker<PasswordCheckable> = {
    credentialInterfaces: inner.credentialInterfaces,
    requestAvatarId: (c) => inner.requestAvatarId(c),
    close: async () => { closes++; await inner.close() }
  }
  const checker = new CachingChecker(spy)
  t.equal(checker.requestAvatarId(basic('a', '1')), 'a')
  await Promise.all([checker.close(), checker.close()])
  await checker.close()
  t.equal(closes, 1, 'the wrapped checker is closed once')
  t.equal(checker.size, 0, 'nothing remembered')
  await t.rejects(async () => await checker.requestAvatarId(basic('a', '1')), StoreUnavailable, 'a remembered login is not served after close()')

  // closeCheckers just calls close(): the wrapper passes it on, nothing is unwrapped.
  let innerCloses = 0
  const wrapped = new CachingChecker({ ...spy, close: async () => { innerCloses++ } })
  await closeCheckers([wrapped])
  t.equal(innerCloses, 1, 'closeCheckers closed the checker inside the cache through the wrapper')
})

t.test('the store contract, caching an htpasswd file of bcrypt lines', async (t) => {
  const dir = await tempDir(t)
  const file = join(dir, 'htpasswd')
  const { bcryptHasher } = await import('../../lib/hashers/index.js')
  await writeFile(file, `alice:${await bcryptHasher.hash?.('wonderland-cached', { cost: 4 }) as string}\n`)
  const { hashers, count } = counted()
  const inner = (): HtpasswdChecker => new HtpasswdChecker(file, { hashers })
  await checkerContract(t, 'CachingChecker', {
    make: () => new CachingChecker(inner(), { ttl: 60_000 }),
    user: 'alice',
    password: 'wonderland-cached',
    badOptions: [
      ['no checker', () => new CachingChecker({} as CredentialsChecker)],
      ['a ttl of 0', () => new CachingChecker(inner(), { ttl: 0 })],
      ['maxEntries that is no whole number', () => new CachingChecker(inner(), { maxEntries: 1.5 })]
    ],
    driver: 'bcrypt',
    work: count
  })
})
