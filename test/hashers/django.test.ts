import { scrypt as scryptCallback } from 'node:crypto'
import t from 'tap'
import {
  DJANGO_HASHERS, bcryptHasher, findDjangoHasher, identifyDjangoHasherName,
  djangoArgon2Hasher, djangoBcryptPlainHasher, djangoBcryptSha256Hasher, djangoPbkdf2Sha1Hasher, djangoPbkdf2Sha256Hasher, djangoSaltedMd5Hasher, djangoScryptHasher,
  djangoUnsaltedMd5Hasher, djangoUnsaltedSha1Hasher, djangoCryptHasher
} from '../../lib/hashers/index.js'
import { optionalPeer } from '../../lib/drivers/index.js'
import { MissingPeerDependency } from '../../lib/cred/index.js'
import { djangoVectors } from '../helpers/django-fixtures.js'

// Hashes made by Django 3.2 itself (test/fixtures/django/make-fixtures.py) with Django's own verdicts; scrypt, which
// Django 3.2 lacks, in Django 4's format made by Python's hashlib.scrypt.

t.test('every vector Django made verifies as Django says, and its wrong password does not', async (t) => {
  const seen = new Set<string>()
  for (const v of djangoVectors) {
    const hasher = findDjangoHasher(v.encoded)
    if (v.hasher === null) {
      t.equal(hasher, undefined, `${v.variant}: no hasher for an unusable password`)
      for (const h of DJANGO_HASHERS) t.notOk(await h.verify(v.password, v.encoded), `${h.name} refuses ${v.variant}`)
      continue
    }
    seen.add(v.hasher)
    t.equal(hasher?.name, v.hasher, `${v.hasher} ${v.variant}: identified as Django does`)
    if (hasher === undefined) continue
    t.equal(await hasher.verify(v.password, v.encoded), v.djangoAccepts ?? true, `${v.hasher} ${v.variant}: right password`)
    t.equal(await hasher.verify(v.wrong, v.encoded), false, `${v.hasher} ${v.variant}: wrong password`)
    if (v.djangoAcceptsTruncated !== undefined) {
      t.equal(await hasher.verify('x'.repeat(72), v.encoded), v.djangoAcceptsTruncated, `${v.hasher}: the first 72 bytes alone, as Django says`)
    }
  }
  t.same([...seen].sort(), DJANGO_HASHERS.map((h) => h.name).sort(), 'a Django-made vector for every hasher')
})

t.test('scrypt vectors agree with node:crypto computed independently, incl. N=2^15 above the default maxmem', async (t) => {
  for (const v of djangoVectors.filter((v) => v.hasher === 'scrypt')) {
    const [, n, salt, r, p, hash] = v.encoded.split('$') as [string, string, string, string, string, string]
    const key = await new Promise<Buffer>((resolve, reject) => scryptCallback(v.password, salt, 64, { N: Number(n), r: Number(r), p: Number(p), maxmem: 2 ** 26 }, (err, k) => err === null ? resolve(k) : reject(err)))
    t.equal(key.toString('base64'), hash, `${v.variant}: hashlib.scrypt and node:crypto agree`)
  }
})

t.test('argon2: id and the older i encodings, with and without a version field', async (t) => {
  const variants = djangoVectors.filter((v) => v.hasher === 'argon2').map((v) => v.encoded.split('$').slice(1, 3).join('$'))
  t.ok(variants.some((v) => v.startsWith('argon2id$v=19')))
  t.ok(variants.some((v) => v.startsWith('argon2i$v=19')))
  t.ok(variants.some((v) => v.startsWith('argon2i$m=')), 'Django 1.10\'s version-less encoding is covered')
})

t.test("Django's identify_hasher rule, and shapes Django would choke on refused quietly", async (t) => {
  t.equal(identifyDjangoHasherName('0123456789abcdef0123456789abcdef'), 'unsalted_md5')
  t.equal(identifyDjangoHasherName('md5$$0123456789abcdef0123456789abcdef'), 'unsalted_md5')
  t.equal(identifyDjangoHasherName('sha1$$0123456789abcdef0123456789abcdef01234567'), 'unsalted_sha1')
  t.equal(identifyDjangoHasherName('md5$salt$0123456789abcdef0123456789abcdef'), 'md5')
  t.equal(identifyDjangoHasherName('!abc'), undefined)
  t.equal(identifyDjangoHasherName(''), undefined)
  t.equal(identifyDjangoHasherName('crypt$$abc'), 'crypt')
  t.equal(findDjangoHasher('crypt$$abc')?.name, 'crypt', "Django's crypt$ (shipped until 5.0) is read")
  t.notOk(await djangoCryptHasher.verify('abc', 'crypt$$abc'), 'a crypt$ value that is no DES crypt(3) is a refusal')
  t.equal(findDjangoHasher('des_crypt$$abcdefghijklm'), undefined, 'a hasher we do not ship is unknown (DjangoChecker then runs a decoy)')
  const pbkdf2 = djangoVectors.find((v) => v.hasher === 'pbkdf2_sha256')!
  const [alg, iterations, salt, hash] = pbkdf2.encoded.split('$')
  t.notOk(await djangoPbkdf2Sha256Hasher.verify(pbkdf2.password, `${alg}$0${iterations}$${salt}$${hash}`), 'a non-canonical iteration count is refused (Django compares the whole encoding)')
  t.notOk(await djangoPbkdf2Sha256Hasher.verify(pbkdf2.password, `${alg}$${iterations}$${salt}`), 'a truncated encoding is refused')
  const md5 = djangoVectors.find((v) => v.hasher === 'unsalted_md5' && v.encoded.length === 32)!
  t.notOk(await djangoUnsaltedMd5Hasher.verify(md5.password, md5.encoded.toUpperCase()), 'upper-case hex is refused, as by Django')
  t.notOk(await djangoSaltedMd5Hasher.verify('', 'md5$$' + 'a'.repeat(40)), "md5$$ of the wrong length (Django's AssertionError) is a refusal")
  t.notOk(await djangoScryptHasher.verify('x', `scrypt$${2 ** 24}$salt$1024$1$${'A'.repeat(88)}`), 'a scrypt cost above 1 GiB is refused without computing it')
  t.notOk(await djangoScryptHasher.verify('x', 'scrypt$1000$salt$8$1$AAAA'), 'N must be a power of two')
  t.notOk(await djangoArgon2Hasher.verify('x', 'argon2$argon2id$v=19$m=64,t=1,p=1$garbage'), 'a malformed argon2 encoding is a refusal')
  t.notOk(await djangoBcryptSha256Hasher.verify('x', 'bcrypt_sha256$$2b$04$short'), 'a malformed bcrypt encoding is a refusal')
})

t.test('hash() writes what verify() and Django accept; decoy(like) keeps the cost of like', async (t) => {
  const cases: Array<[typeof djangoPbkdf2Sha256Hasher, Record<string, unknown>, RegExp]> = [
    [djangoPbkdf2Sha256Hasher, { iterations: 1000 }, /^pbkdf2_sha256\$1000\$[A-Za-z0-9]{22}\$[A-Za-z0-9+/]{43}=$/],
    [djangoPbkdf2Sha1Hasher, { iterations: 1000 }, /^pbkdf2_sha1\$1000\$[A-Za-z0-9]{22}\$[A-Za-z0-9+/]{27}=$/],
    [djangoArgon2Hasher, { memoryCost: 64, timeCost: 1, parallelism: 1 }, /^argon2\$argon2id\$v=19\$m=64,t=1,p=1\$/],
    [djangoBcryptSha256Hasher, { rounds: 4 }, /^bcrypt_sha256\$\$2b\$04\$/],
    [djangoBcryptPlainHasher, { rounds: 4 }, /^bcrypt\$\$2b\$04\$/],
    [djangoScryptHasher, { n: 1024 }, /^scrypt\$1024\$[A-Za-z0-9]{22}\$8\$1\$[A-Za-z0-9+/]{86}==$/],
    [djangoSaltedMd5Hasher, {}, /^md5\$[A-Za-z0-9]{22}\$[0-9a-f]{32}$/],
    [djangoUnsaltedMd5Hasher, {}, /^[0-9a-f]{32}$/],
    [djangoUnsaltedSha1Hasher, {}, /^sha1\$\$[0-9a-f]{40}$/]
  ]
  for (const [hasher, options, shape] of cases) {
    const encoded = await hasher.hash!('pässword', options)
    t.match(encoded, shape, `${hasher.name} writes Django's shape`)
    t.ok(await hasher.verify('pässword', encoded), `${hasher.name} verifies what it wrote`)
    t.notOk(await hasher.verify('password', encoded))
    const decoy = await hasher.decoy(encoded)
    t.equal(findDjangoHasher(decoy)?.name, hasher.name, `${hasher.name}: the decoy is in the same format`)
    t.notOk(await hasher.verify('pässword', decoy))
    // The cost fields of the decoy are those of `like`.
    const cost = (e: string): string => e.split('$').filter((part, i) => i > 0 && /^(\d+|m=.*|2b)$/.test(part)).join('$')
    t.equal(cost(decoy), cost(encoded), `${hasher.name}: the decoy costs what like costs`)
  }
  t.match(await djangoPbkdf2Sha256Hasher.decoy(), /^pbkdf2_sha256\$1000000\$/, "without like: Django 5.2's 1,000,000 iterations")
  t.match(await djangoScryptHasher.decoy(), /^scrypt\$16384\$[A-Za-z0-9]+\$8\$1\$/, "without like: Django's N=2^14, r=8, p=1")
})

t.test('bcryptHasher: $2y$ (Apache, PHP) is $2b$ under another name', async (t) => {
  const encoded = await bcryptHasher.hash!('secret', { cost: 4 })
  t.match(encoded, /^\$2y\$04\$/, 'written as Apache writes it')
  t.ok(await bcryptHasher.verify('secret', `$2y$${encoded.slice(4)}`))
  t.ok(await bcryptHasher.verify('secret', `$2a$${encoded.slice(4)}`))
  t.notOk(await bcryptHasher.verify('Secret', `$2y$${encoded.slice(4)}`))
  t.notOk(bcryptHasher.identifies('$2x$04$' + encoded.slice(7)))
  t.match(await bcryptHasher.decoy(encoded), /^\$2b\$04\$/)
})

t.test('a missing optional package is a MissingPeerDependency naming what to install', async (t) => {
  const load = optionalPeer('no-such-package-fastify-cred', 'This test', async () => await import('no-such-package-fastify-cred' as string))
  const err = await load().catch((e: unknown) => e)
  t.type(err, MissingPeerDependency)
  t.match((err as Error).message, /npm install no-such-package-fastify-cred/)
  t.equal((err as MissingPeerDependency).code, 'ERR_CRED_MISSING_PEER_DEPENDENCY')
})

t.test("Django's CryptPasswordHasher: crypt$$ and the older crypt$salt$, DES (8 bytes count), written as Django reads it", async (t) => {
  const vectors = djangoVectors.filter((v) => v.hasher === 'crypt')
  t.ok(vectors.length >= 4, 'Django 3.2 made crypt$ vectors')
  for (const v of vectors) {
    t.equal(await djangoCryptHasher.verify(v.password, v.encoded), true, `${v.variant}: right password`)
    if (Buffer.byteLength(v.password) >= 8) t.equal(await djangoCryptHasher.verify(v.password + 'more', v.encoded), true, `${v.variant}: bytes past 8 do not count, as in Django`)
  }
  t.ok(vectors.some((v) => /^crypt\$[^$]+\$/.test(v.encoded)), 'the salt-carrying encoding is covered')
  const written = await djangoCryptHasher.hash?.('pass:word') as string
  t.match(written, /^crypt\$\$[./0-9A-Za-z]{13}$/, 'hash() writes crypt$$<DES>, as Django 3.2 does')
  t.equal(await djangoCryptHasher.verify('pass:word', written), true)
  const decoy = await djangoCryptHasher.decoy()
  t.equal(findDjangoHasher(decoy), djangoCryptHasher, 'the decoy is a crypt$ value')
  t.equal(await djangoCryptHasher.verify('', decoy), false)
})
