import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { ApiKeyChecker, formatApiKeyLine, newApiKey, parseApiKeyFile } from '../../lib/checkers/index.js'
import { BearerToken, InvalidOption, StoreUnavailable, UnauthorizedLogin } from '../../lib/cred/index.js'
import { checkerContract } from './checker-contract.js'

const dir = mkdtempSync(join(tmpdir(), 'fastify-cred-apikey-'))
const alice = newApiKey()
const bob = newApiKey()
const file = join(dir, 'keys')
writeFileSync(file, `# API keys\n${formatApiKeyLine(alice.prefix, alice.sha256, 'alice')}\n${formatApiKeyLine(bob.prefix, bob.sha256, 'bob:builder')}\n`)

// The work of a login is the hash comparison the credentials make: one per login, known key or not.
let comparisons = 0
class CountedToken extends BearerToken {
  override matchesSha256 (sha256Hex: string): boolean {
    comparisons++
    return super.matchesSha256(sha256Hex)
  }
}

await checkerContract(t, 'ApiKeyChecker', {
  make: () => new ApiKeyChecker(file, { checkInterval: 0 }),
  user: 'alice',
  password: alice.key,
  credentials: (_username, key) => new CountedToken(key),
  http: { schemes: ['bearer'], authorization: (_username, key) => `Bearer ${key}` },
  badOptions: [
    ['no path', () => new ApiKeyChecker('')],
    ['a file that does not exist', () => new ApiKeyChecker(join(dir, 'absent'))],
    ['a negative check interval', () => new ApiKeyChecker(file, { checkInterval: -1 })]
  ],
  work: () => comparisons
})

t.test('a new key: 256 bits of randomness after a 16-character public prefix; only its SHA-256 is stored', async (t) => {
  const keys = Array.from({ length: 50 }, () => newApiKey())
  t.equal(new Set(keys.map((k) => k.key)).size, 50, 'every key differs')
  t.equal(new Set(keys.map((k) => k.prefix)).size, 50, 'and every prefix')
  for (const { key, prefix, sha256 } of keys.slice(0, 5)) {
    t.match(key, /^fck_[a-z0-9]{12}_[A-Za-z0-9_-]{43}$/)
    t.ok(key.startsWith(`${prefix}_`), 'the key starts with its prefix')
    t.equal(Buffer.from(key.slice(prefix.length + 1), 'base64url').length, 32, '32 random bytes')
    t.notOk(sha256.includes(key.slice(prefix.length + 1)), 'the stored hash holds nothing of the secret')
  }
})

t.test('a key logs in as its avatar id (the rest of the line, colons included) and records its prefix', async (t) => {
  const checker = new ApiKeyChecker(file)
  t.teardown(() => checker.close())
  const token = new BearerToken(bob.key)
  t.equal(await checker.requestAvatarId(token), 'bob:builder')
  t.same(token.claims, { keyPrefix: bob.prefix })
  t.same([...checker.prefixes()], [alice.prefix, bob.prefix])
})

t.test('refused: another key with a known prefix, a cut key, a key with a changed letter, garbage', async (t) => {
  const checker = new ApiKeyChecker(file)
  t.teardown(() => checker.close())
  const forged = `${alice.prefix}_${newApiKey().key.slice(17)}`
  const flipped = alice.key.slice(0, -1) + (alice.key.endsWith('A') ? 'B' : 'A')
  for (const [what, key] of [['forged secret', forged], ['cut', alice.key.slice(0, -1)], ['one letter changed', flipped], ['garbage', 'x'], ['empty', '']] as const) {
    const token = new BearerToken(key)
    t.throws(() => checker.requestAvatarId(token), UnauthorizedLogin, what)
    t.equal(token.claims, undefined, `${what}: no claims recorded`)
  }
})

t.test('revoking is removing the line: the key stops working at the next look, without a restart', async (t) => {
  const revocable = join(dir, 'revocable')
  writeFileSync(revocable, `${formatApiKeyLine(alice.prefix, alice.sha256, 'alice')}\n${formatApiKeyLine(bob.prefix, bob.sha256, 'bob')}\n`)
  const checker = new ApiKeyChecker(revocable, { checkInterval: 0 })
  t.teardown(() => checker.close())
  t.equal(await checker.requestAvatarId(new BearerToken(alice.key)), 'alice')
  writeFileSync(revocable, `${formatApiKeyLine(bob.prefix, bob.sha256, 'bob')}\n`)
  await t.rejects(async () => await checker.requestAvatarId(new BearerToken(alice.key)), UnauthorizedLogin, 'revoked')
  t.equal(await checker.requestAvatarId(new BearerToken(bob.key)), 'bob', 'the other key still works')
})

t.test('a malformed file: an InvalidOption naming the line at start; after a reload, the last good copy serves', async (t) => {
  for (const [what, text] of [
    ['no colons', 'fck_abcdefghijkm\n'],
    ['no prefix', `secret:${alice.sha256}:alice\n`],
    ['a short hash', `${alice.prefix}:abcd:alice\n`],
    ['no avatar id', `${alice.prefix}:${alice.sha256}:\n`]
  ] as const) {
    const outcome = parseApiKeyFile(`# keys\n${text}`)
    t.equal(outcome.ok, false, what)
    if (!outcome.ok) t.equal(outcome.line, 2, `${what}: line 2`)
    const path = join(dir, 'broken')
    writeFileSync(path, text)
    t.throws(() => new ApiKeyChecker(path), InvalidOption, what)
  }
  const path = join(dir, 'breaks-later')
  writeFileSync(path, `${formatApiKeyLine(alice.prefix, alice.sha256, 'alice')}\n`)
  const warnings: string[] = []
  const checker = new ApiKeyChecker(path, { checkInterval: 0, onWarning: (m) => warnings.push(m) })
  t.teardown(() => checker.close())
  writeFileSync(path, 'garbage\n')
  t.equal(await checker.requestAvatarId(new BearerToken(alice.key)), 'alice', 'still served')
  t.match(warnings.join('\n'), /line 1.*still serving the last good copy/)
  t.notOk(warnings.join('\n').includes(alice.key), 'no key in a warning')
})

t.test('closed: StoreUnavailable', async (t) => {
  const checker = new ApiKeyChecker(file)
  await checker.close()
  t.throws(() => checker.requestAvatarId(new BearerToken(alice.key)), StoreUnavailable)
})
