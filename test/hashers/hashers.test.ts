import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { MissingPeerDependency } from '../../lib/cred/index.js'
import {
  HTPASSWD_HASHERS, apr1Hasher, bcryptCost, bcryptHasher, desCryptHasher, identifyHasher, plainHasher, sha1Hasher,
  sha256CryptHasher, sha512CryptHasher, verifyPassword
} from '../../lib/hashers/index.js'
import type { PasswordHasher } from '../../lib/hashers/index.js'
import { overrideDriver } from '../../lib/drivers/index.js'
import { apacheSkip, htpasswd, htpasswdVerifies, tempDir } from '../helpers/apache.js'
import type { HtpasswdFormat } from '../helpers/apache.js'

const FORMATS: ReadonlyArray<[HtpasswdFormat, string]> = [
  ['-B', 'bcrypt'], ['-m', 'apr1'], ['-s', 'sha1'], ['-d', 'crypt'], ['-2', 'sha256-crypt'], ['-5', 'sha512-crypt'], ['-p', 'plain']
]
// DES crypt counts only the first 8 bytes: its passwords differ from their neighbours within those bytes.
const PASSWORDS = ['wonderland', 'żółć:🙂 x', 'a:b:c', 'Ünïcödé', 'パスワード']

/** Every line Apache's htpasswd writes for `password` in `format`: the encoded hash, read back from the file. */
async function encodedBy (dir: string, format: HtpasswdFormat, password: string, n: number): Promise<string> {
  const file = join(dir, `f${n}`)
  await htpasswd(file, 'user', password, format, { create: true })
  const line = (await readFile(file, 'utf8')).trim()
  return line.slice(line.indexOf(':') + 1)
}

t.test('every format htpasswd writes: identified, verified, wrong passwords refused', { skip: apacheSkip }, async (t) => {
  const dir = await tempDir(t)
  let n = 0
  for (const [format, name] of FORMATS) {
    for (const password of PASSWORDS) {
      if (format === '-p' && password.includes(':')) continue // a plaintext line cannot hold ':' for Apache
      const encoded = await encodedBy(dir, format, password, n++)
      const hasher = identifyHasher(encoded, HTPASSWD_HASHERS)
      t.equal(hasher?.name, name, `${format} ${JSON.stringify(password)} → ${name}`)
      t.equal(await hasher?.verify(password, encoded), true, `${name} verifies ${JSON.stringify(password)}`)
      t.equal(await verifyPassword(password + '!', encoded), format === '-d' && Buffer.byteLength(password) >= 8, `${name}: a wrong password fails (DES ignores bytes past 8)`)
      t.equal(await verifyPassword('x' + password, encoded), false, `${name}: another wrong password fails`)
    }
  }
  t.equal(await bcryptHasher.verify('wonderland', '$2y$04$tooshort'), false, 'a malformed bcrypt hash is false, not an error')
  t.equal(await sha512CryptHasher.verify('wonderland', '$6$rounds=1000$salt$short'), false)
  t.equal(await apr1Hasher.verify('wonderland', '$apr1$x$y'), false)
})

t.test('hashes written here are accepted by Apache\'s own htpasswd -v', { skip: apacheSkip }, async (t) => {
  const dir = await tempDir(t)
  const password = 'żółć:🙂'
  const hashers: Array<[PasswordHasher, Record<string, unknown>]> = [
    [bcryptHasher, { cost: 4 }], [apr1Hasher, {}], [sha1Hasher, {}], [desCryptHasher, {}], [sha256CryptHasher, { rounds: 1000 }], [sha512CryptHasher, { rounds: 2000 }]
  ]
  for (const [hasher, options] of hashers) {
    const encoded = await hasher.hash?.(password, options) as string
    t.equal(identifyHasher(encoded)?.name, hasher.name)
    const file = join(dir, hasher.name)
    const { writeFile } = await import('node:fs/promises')
    await writeFile(file, `alice:${encoded}\n`)
    t.equal(await htpasswdVerifies(file, 'alice', password), true, `htpasswd -v accepts our ${hasher.name}`)
    t.equal(await htpasswdVerifies(file, 'alice', 'wrong'), false)
  }
  t.match(await bcryptHasher.hash?.('x', { cost: 4 }), /^\$2y\$04\$/, 'bcrypt is written as $2y$, as Apache does')
  const y = await bcryptHasher.hash?.(password, { cost: 4 }) as string
  for (const prefix of ['$2a$', '$2b$']) {
    const other = prefix + y.slice(4)
    t.equal(identifyHasher(other)?.name, 'bcrypt')
    t.equal(await bcryptHasher.verify(password, other), true, `${prefix} verifies as well`)
  }
})

t.test('decoys: never the password, same cost as the model', async (t) => {
  const bcrypt = await bcryptHasher.decoy('$2y$05$' + 'a'.repeat(53))
  t.equal(bcryptCost(bcrypt), 5, 'bcrypt decoy at the model\'s cost')
  t.equal(bcryptCost(await bcryptHasher.decoy()), 10, 'default cost 10')
  t.match(await sha512CryptHasher.decoy('$6$rounds=1234$abc$' + 'a'.repeat(86)), /^\$6\$rounds=1234\$/)
  t.match(await sha256CryptHasher.decoy(), /^\$5\$[^$]+\$/, 'default rounds: none written')
  for (const hasher of HTPASSWD_HASHERS) {
    const decoy = await hasher.decoy()
    t.equal(identifyHasher(decoy)?.name, hasher.name, `${hasher.name} decoy is of its format`)
    t.equal(await hasher.verify('', decoy), false)
  }
  await t.rejects(bcryptHasher.hash?.('x', { cost: 3 }) as Promise<string>, RangeError)
  await t.rejects(sha256CryptHasher.hash?.('x', { rounds: 10 }) as Promise<string>, RangeError)
})

t.test('identifyHasher: order and catch-alls', async (t) => {
  t.equal(identifyHasher('xBxhsmCqu6CPo')?.name, 'crypt', '13 chars of the crypt alphabet: DES')
  t.equal(identifyHasher('hello world')?.name, 'plain')
  t.equal(identifyHasher('$y$j9T$abc$def'), undefined, 'yescrypt is not read, and never taken for plaintext')
  t.equal(identifyHasher('{SSHA}abcd'), undefined, '{SSHA} is not taken for plaintext')
  t.equal(plainHasher.identifies(''), false)
  const django: PasswordHasher = { name: 'pbkdf2_sha256', identifies: (e) => e.startsWith('pbkdf2_sha256$'), verify: async () => true, decoy: async () => 'pbkdf2_sha256$1$x$y' }
  t.equal(identifyHasher('pbkdf2_sha256$1000$salt$hash', [django, ...HTPASSWD_HASHERS])?.name, 'pbkdf2_sha256', 'other formats slot in front')
  t.equal(await verifyPassword('x', '$y$j9T$abc$def'), false, 'an unknown format verifies nothing')
})

t.test('the pure-JavaScript formats leave the event loop free', async (t) => {
  // 50,000 rounds of SHA-512 crypt: hundreds of ms of CPU. Run inline, no other callback could run meanwhile.
  const encoded = await sha512CryptHasher.hash?.('pw', { rounds: 1000 }) as string
  const heavy = encoded.replace('rounds=1000', 'rounds=50000')
  let immediates = 0
  const tick = (): void => { immediates++; if (!done) setImmediate(tick) }
  let done = false
  setImmediate(tick)
  const verdict = await sha512CryptHasher.verify('pw', heavy)
  done = true
  t.equal(verdict, false, 'another rounds count: another hash')
  t.ok(immediates > 1, `the event loop turned ${immediates} times while hashing`)
})

t.test('bcrypt missing: MissingPeerDependency naming the package', async (t) => {
  const restore = overrideDriver('bcrypt', async () => { throw Object.assign(new Error("Cannot find package 'bcrypt'"), { code: 'ERR_MODULE_NOT_FOUND' }) })
  t.teardown(restore)
  const error = await bcryptHasher.verify('x', '$2y$04$' + 'a'.repeat(53)).catch((err: unknown) => err)
  t.type(error, MissingPeerDependency)
  t.match((error as Error).message, /npm install bcrypt/)
  restore()
  t.equal(await bcryptHasher.verify('x', await bcryptHasher.hash?.('x', { cost: 4 }) as string), true, 'works again once installed')
})

t.test('the worker pool survives a failing task and a dying worker', async (t) => {
  const { HashWorkerPool } = await import('../../lib/hashers/index.js')
  const pool = new HashWorkerPool(1)
  t.teardown(() => pool.close())
  const crypt = import.meta.resolve('unixcrypt')
  await t.rejects(pool.run(crypt, 'encrypt', ['pw', '$7$nope']), /Only sha256 and sha512/, 'a throwing task rejects')
  await t.rejects(pool.run(new URL('./no-such-module.js', import.meta.url).href, 'x', []), Error, 'a module that cannot load rejects')
  await t.rejects(pool.run('node:process', 'exit', [3]), /exited with code 3/, 'a worker that dies rejects its task')
  t.match(await pool.run<string>(crypt, 'encrypt', ['pw', '$5$salt']), /^\$5\$salt\$/, 'and the pool starts a new one')
  t.equal(await sha256CryptHasher.verify('pw', '$5$rounds=1000$bad*salt$' + 'a'.repeat(43)), false, 'a salt the library refuses is false, not an error')
})

t.test('bcrypt: only the first 72 bytes count, for $2a$ as for $2b$ and $2y$ (no BSD wraparound at 255)', async (t) => {
  // passlib's "BSD wraparound" vectors (passlib/handlers/bcrypt.py): the same 255-byte password and salt, hashed by a
  // correct bcrypt (72 bytes count) and by one with the $2a$ (uint8_t)(strlen + 1) key-length bug.
  const wraparound = '0123456789'.repeat(26).slice(0, 255)
  const correct = '$2a$04$R1lJ2gkNaoPGdafE.H.16.1MKHPvmKwryeulRe225LKProWYwt9Oi'
  const buggy = '$2a$04$R1lJ2gkNaoPGdafE.H.16.nVyh2niHsGJhayOHLMiXlI45o8/DU.6'
  t.equal(await bcryptHasher.verify(wraparound, correct), true, 'the 255-byte password verifies against the correct hash')
  t.equal(await bcryptHasher.verify(wraparound, buggy), false, 'and not against the wrapped-around one')
  t.equal(await bcryptHasher.verify(wraparound.slice(0, 72), correct), true, 'its first 72 bytes are the password')
  t.equal(await bcryptHasher.verify(wraparound.slice(0, 71), correct), false, '71 bytes are not')
  // Made with Python's bcrypt 3.2.2 (Debian's python3-bcrypt), which cuts every variant at 72 bytes:
  // bcrypt.hashpw(password.encode(), bcrypt.gensalt(4, prefix=b'2a' or b'2b')).
  const python: Array<[string, string]> = [
    ['x'.repeat(256), '$2a$04$ZcfSvtJ32UplXc/SJrC.EukPgnEEFJJ1sZw5hcUhRrjgSJYaE.YrG'],
    ['0123456789'.repeat(40), '$2a$04$Q3ltMrfnQ04nfZigL5uBOeSH5OPUPDStdUgue32xQvEswwMF2JPde'],
    // Byte 72 falls inside a two-byte character: the cut is by bytes, as C's bcrypt reads them.
    ['y' + 'ż'.repeat(150), '$2a$04$dZFiOUyKbGl4bF3xowgEYOBf8y4Fu44M3sgHm/DNvhAti1sk9cZ.e'],
    ['z' + 'ż'.repeat(150), '$2b$04$ja1.ZI7G9cuPyPyJhe5gzeUPaHrJIARqR3nbp8mPbNiGdndo9KzUq']
  ]
  for (const [password, encoded] of python) {
    const bytes = Buffer.byteLength(password)
    t.equal(await bcryptHasher.verify(password, encoded), true, `${encoded.slice(0, 4)} ${bytes} bytes verifies`)
    t.equal(await bcryptHasher.verify(password + 'anything', encoded), true, `${encoded.slice(0, 4)} ${bytes} bytes: bytes past 72 do not count`)
    t.equal(await bcryptHasher.verify('#' + password, encoded), false, `${encoded.slice(0, 4)} ${bytes} bytes: a change within 72 bytes does`)
    const y = `$2y$${encoded.slice(4)}`
    if (encoded.startsWith('$2b$')) t.equal(await bcryptHasher.verify(password, y), true, '$2y$ alike')
  }
  // What we write reads the same way: a 300-byte password hashed here verifies with its first 72 bytes.
  const long = 'q'.repeat(300)
  const written = await bcryptHasher.hash?.(long, { cost: 4 }) as string
  t.equal(await bcryptHasher.verify(long.slice(0, 72), written), true)
  t.equal(await bcryptHasher.verify(long, `$2a$${written.slice(4)}`), true, 'also when the same hash is spelled $2a$')
})
