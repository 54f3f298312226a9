import { hash as oneShotHash, pbkdf2, randomBytes, scrypt } from 'node:crypto'
import type { ScryptOptions } from 'node:crypto'
import { constantTimeEqualStrings } from '../cred/index.js'
import { loadDriver } from '../drivers/index.js'
import { bcryptCost, bcryptHash, bcryptVerify, isBcryptHash, prepareBcrypt } from './bcrypt.js'
import { desCryptHasher } from './des-crypt.js'
import type { PasswordHasher } from './hasher.js'

// Django's password hashers (django.contrib.auth.hashers), read from Django's own code and checked against hashes
// made by Django (test/fixtures/django/vectors.json). Each verify re-derives the whole encoding and compares it in
// constant time with the stored one, as Django does, so a non-canonical stored value (`0260000` iterations, upper-case
// hex) is refused by both alike.

const pbkdf2Async = async (password: string, salt: string, iterations: number, keylen: number, digest: string): Promise<Buffer> =>
  await new Promise((resolve, reject) => {
    pbkdf2(password, salt, iterations, keylen, digest, (err, key) => { if (err === null) resolve(key); else reject(err) })
  })

const scryptAsync = async (password: string, salt: string, keylen: number, options: ScryptOptions): Promise<Buffer> =>
  await new Promise((resolve, reject) => {
    scrypt(password, salt, keylen, options, (err, key) => { if (err === null) resolve(key); else reject(err) })
  })

/** Django's salts: 22 characters of [a-zA-Z0-9] (about 128 bits). */
const ALPHANUMERIC = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'
function djangoSalt (length = 22): string {
  let salt = ''
  // 248 = 4 × 62: bytes above it are dropped so every character is equally likely.
  while (salt.length < length) for (const byte of randomBytes(length * 2)) if (byte < 248 && salt.length < length) salt += ALPHANUMERIC[byte % 62]
  return salt
}
const randomSecret = (): string => randomBytes(18).toString('base64')
const positiveInteger = (text: string | undefined, max: number): number | undefined => {
  if (text === undefined || !/^[1-9][0-9]{0,15}$/.test(text)) return undefined
  const value = Number(text)
  return value <= max ? value : undefined
}
const option = (options: Readonly<Record<string, unknown>> | undefined, key: string): unknown => options?.[key]
const numberOption = (options: Readonly<Record<string, unknown>> | undefined, key: string, fallback: number): number => {
  const value = option(options, key)
  return typeof value === 'number' && Number.isInteger(value) && value > 0 ? value : fallback
}
const saltOption = (options: Readonly<Record<string, unknown>> | undefined): string => {
  const value = option(options, 'salt')
  return typeof value === 'string' && value !== '' && !value.includes('$') ? value : djangoSalt()
}

/** PBKDF2 iterations of Django 5.2's default hasher: the cost an unknown user is made to pay when nothing says otherwise. */
export const DJANGO_PBKDF2_ITERATIONS = 1_000_000

// ---------------------------------------------------------------------------------------------------------- PBKDF2

function pbkdf2Hasher (name: 'pbkdf2_sha256' | 'pbkdf2_sha1', digest: 'sha256' | 'sha1', keylen: number): PasswordHasher {
  const parse = (encoded: string): { iterations: number, salt: string } | undefined => {
    const parts = encoded.split('$')
    if (parts.length !== 4 || parts[0] !== name || parts[2] === '') return undefined
    const iterations = positiveInteger(parts[1], 2 ** 31 - 1)
    return iterations === undefined ? undefined : { iterations, salt: parts[2] as string }
  }
  const format = (salt: string, iterations: number, key: Buffer): string => `${name}$${iterations}$${salt}$${key.toString('base64')}`
  const encode = async (plain: string, salt: string, iterations: number): Promise<string> =>
    format(salt, iterations, await pbkdf2Async(plain, salt, iterations, keylen, digest))
  return Object.freeze({
    name,
    identifies: (encoded: string) => encoded.startsWith(`${name}$`),
    verify: async (plain: string, encoded: string) => {
      const parsed = parse(encoded)
      if (parsed === undefined) return false
      return constantTimeEqualStrings(await encode(plain, parsed.salt, parsed.iterations), encoded)
    },
    decoy: async (like?: string) => {
      const iterations = (like === undefined ? undefined : parse(like)?.iterations) ?? DJANGO_PBKDF2_ITERATIONS
      // Random key bytes: as valid as the key of a random password (nobody knows a preimage), without paying a run.
      return format(djangoSalt(), iterations, randomBytes(keylen))
    },
    hash: async (plain: string, options?: Readonly<Record<string, unknown>>) =>
      await encode(plain, saltOption(options), numberOption(options, 'iterations', DJANGO_PBKDF2_ITERATIONS))
  })
}

/**
 * Django's default hasher: `pbkdf2_sha256$<iterations>$<salt>$<base64 of 32 bytes>`. Verified with Node's
 * asynchronous `crypto.pbkdf2` (libuv threadpool). `hash(plain, { iterations, salt })` writes Django 5.2's
 * 1,000,000 iterations by default.
 *
 * @example
 * import { djangoPbkdf2Sha256Hasher } from 'fastify-cred/hashers'
 * await djangoPbkdf2Sha256Hasher.verify('wonderland', 'pbkdf2_sha256$1000$51Bc…$UJH4…=') // true
 */
export const djangoPbkdf2Sha256Hasher: PasswordHasher = pbkdf2Hasher('pbkdf2_sha256', 'sha256', 32)

/**
 * Django's `pbkdf2_sha1$<iterations>$<salt>$<base64 of 20 bytes>`.
 *
 * @example
 * import { djangoPbkdf2Sha1Hasher } from 'fastify-cred/hashers'
 * await djangoPbkdf2Sha1Hasher.verify('builder', 'pbkdf2_sha1$1000$3AG2…$Hk03…=')
 */
export const djangoPbkdf2Sha1Hasher: PasswordHasher = pbkdf2Hasher('pbkdf2_sha1', 'sha1', 20)

// ---------------------------------------------------------------------------------------------------------- Argon2

type Argon2Module = typeof import('argon2')
/** The native `argon2` package (optional peer dependency), loaded on first use. */
async function loadArgon2 (): Promise<Argon2Module> {
  const mod = await loadDriver('argon2', "Verifying Django's argon2 password hashes") as Argon2Module & { default?: Argon2Module }
  return mod.default ?? mod
}

/** `argon2$argon2id$v=19$m=…,t=…,p=…$salt$hash`, or the older `argon2i` and version-less (v=16) encodings. */
const ARGON2 = /^argon2\$(argon2id|argon2i|argon2d)\$(?:v=(16|19)\$)?m=([0-9]{1,10}),t=([0-9]{1,10}),p=([0-9]{1,3})\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$/

/**
 * Django's Argon2 hasher: `argon2$argon2id$v=19$m=102400,t=2,p=8$<salt>$<hash>` (Django ≥ 3.2), and the older
 * `argon2$argon2i$v=19$…` and version-less `argon2$argon2i$m=…` encodings of Django 1.10-3.1. Verified with the
 * native `argon2` package (optional peer dependency: `npm install argon2`), asynchronously.
 * `hash(plain, { timeCost, memoryCost, parallelism })` defaults to Django's t=2, m=102400 KiB, p=8.
 *
 * @throws MissingPeerDependency from `verify`, `decoy` and `hash` when `argon2` is not installed.
 * @example
 * import { djangoArgon2Hasher } from 'fastify-cred/hashers'
 * await djangoArgon2Hasher.verify('toor', 'argon2$argon2id$v=19$m=64,t=1,p=1$cmw4…$MM2X…')
 */
export const djangoArgon2Hasher: PasswordHasher = Object.freeze({
  name: 'argon2',
  identifies: (encoded: string) => encoded.startsWith('argon2$'),
  verify: async (plain: string, encoded: string) => {
    if (!ARGON2.test(encoded)) return false
    const argon2 = await loadArgon2()
    try {
      return await argon2.verify(encoded.slice('argon2'.length), plain)
    } catch {
      return false
    }
  },
  decoy: async (like?: string) => {
    const match = like === undefined ? null : ARGON2.exec(like)
    const type = (match?.[1] ?? 'argon2id') as 'argon2id' | 'argon2i' | 'argon2d'
    const [memoryCost, timeCost, parallelism] = match === null ? [102400, 2, 8] : [Number(match[3]), Number(match[4]), Number(match[5])]
    return await argon2Hash(randomSecret(), { type, memoryCost, timeCost, parallelism })
  },
  hash: async (plain: string, options?: Readonly<Record<string, unknown>>) => await argon2Hash(plain, {
    type: 'argon2id',
    memoryCost: numberOption(options, 'memoryCost', 102400),
    timeCost: numberOption(options, 'timeCost', 2),
    parallelism: numberOption(options, 'parallelism', 8)
  }),
  prepare: async () => { await loadArgon2() }
})

async function argon2Hash (plain: string, params: { type: 'argon2id' | 'argon2i' | 'argon2d', memoryCost: number, timeCost: number, parallelism: number }): Promise<string> {
  const argon2 = await loadArgon2()
  const type = ({ argon2d: argon2.argon2d, argon2i: argon2.argon2i, argon2id: argon2.argon2id } as const)[params.type]
  // Django's hash length (argon2-cffi's default); the salt is 16 random bytes instead of Django's 22 characters.
  const encoded = await argon2.hash(plain, { ...params, type, hashLength: 16 })
  // The argon2 package writes `m=…,p=…,t=…`; the reference C decoder behind Django's argon2-cffi wants `m=…,t=…,p=…`.
  return 'argon2' + encoded.replace(/\$m=\d+,p=\d+,t=\d+\$/, `$m=${params.memoryCost},t=${params.timeCost},p=${params.parallelism}$`)
}

// ---------------------------------------------------------------------------------------------------------- bcrypt

function djangoBcrypt (name: 'bcrypt' | 'bcrypt_sha256', prehash: boolean): PasswordHasher {
  const prefix = `${name}$`
  // bcrypt_sha256 feeds bcrypt the hex SHA-256 of the password, so passwords longer than bcrypt's 72 bytes count.
  const input = (plain: string): string => prehash ? oneShotHash('sha256', plain, 'hex') : plain
  return Object.freeze({
    name,
    identifies: (encoded: string) => encoded.startsWith(prefix),
    verify: async (plain: string, encoded: string) => {
      const inner = encoded.slice(prefix.length)
      return encoded.startsWith(prefix) && isBcryptHash(inner) && await bcryptVerify(input(plain), inner)
    },
    decoy: async (like?: string) => prefix + await bcryptHash(randomSecret(), bcryptCost(like?.slice(prefix.length)) ?? 12),
    hash: async (plain: string, options?: Readonly<Record<string, unknown>>) => prefix + await bcryptHash(input(plain), numberOption(options, 'rounds', 12)),
    prepare: prepareBcrypt
  })
}

/**
 * Django's `bcrypt_sha256$$2b$12$…`: bcrypt of the hex SHA-256 of the password, so long passwords are not cut at
 * 72 bytes. Verified with the native `bcrypt` package (optional peer dependency: `npm install bcrypt`).
 *
 * @example
 * import { djangoBcryptSha256Hasher } from 'fastify-cred/hashers'
 * await djangoBcryptSha256Hasher.verify('c4rol', 'bcrypt_sha256$$2b$04$…')
 */
export const djangoBcryptSha256Hasher: PasswordHasher = djangoBcrypt('bcrypt_sha256', true)

/**
 * Django's `bcrypt$$2b$12$…`: plain bcrypt (only the first 72 bytes of a password count, as in Django).
 *
 * @example
 * import { djangoBcryptPlainHasher } from 'fastify-cred/hashers'
 * await djangoBcryptPlainHasher.verify('d4ve', 'bcrypt$$2b$04$…')
 */
export const djangoBcryptPlainHasher: PasswordHasher = djangoBcrypt('bcrypt', false)

// ---------------------------------------------------------------------------------------------------------- scrypt

/** Memory above which a stored scrypt hash is refused rather than computed (1 GiB): a guard against absurd costs. */
const SCRYPT_MAX_MEMORY = 2 ** 30

interface ScryptParams { readonly n: number, readonly salt: string, readonly r: number, readonly p: number }
const parseScrypt = (encoded: string): ScryptParams | undefined => {
  const parts = encoded.split('$')
  if (parts.length !== 6 || parts[0] !== 'scrypt' || parts[2] === '') return undefined
  const n = positiveInteger(parts[1], 2 ** 30)
  const r = positiveInteger(parts[3], 1024)
  const p = positiveInteger(parts[4], 1024)
  if (n === undefined || r === undefined || p === undefined || n < 2 || (n & (n - 1)) !== 0) return undefined
  if (128 * n * r > SCRYPT_MAX_MEMORY) return undefined
  return { n, salt: parts[2] as string, r, p }
}
const scryptEncode = async (plain: string, { n, salt, r, p }: ScryptParams): Promise<string> => {
  // OpenSSL needs about 128·r·(N + p + 2) bytes; Node's default limit (32 MiB) would refuse N = 2^15, r = 8.
  const maxmem = 128 * r * (n + p + 2) + 2 ** 20
  const key = await scryptAsync(plain, salt, 64, { N: n, r, p, maxmem })
  return `scrypt$${n}$${salt}$${r}$${p}$${key.toString('base64')}`
}

/**
 * Django's scrypt hasher (Django ≥ 4.0): `scrypt$<N>$<salt>$<r>$<p>$<base64 of 64 bytes>`, Django's defaults
 * N = 2^14, r = 8, p = 1. Verified with Node's asynchronous `crypto.scrypt`, with `maxmem` sized from the stored
 * parameters (hashes needing more than 1 GiB are refused).
 *
 * @example
 * import { djangoScryptHasher } from 'fastify-cred/hashers'
 * await djangoScryptHasher.verify('er1n', 'scrypt$1024$Fx…$8$1$…')
 */
export const djangoScryptHasher: PasswordHasher = Object.freeze({
  name: 'scrypt',
  identifies: (encoded: string) => encoded.startsWith('scrypt$'),
  verify: async (plain: string, encoded: string) => {
    const params = parseScrypt(encoded)
    if (params === undefined) return false
    try {
      return constantTimeEqualStrings(await scryptEncode(plain, params), encoded)
    } catch {
      return false
    }
  },
  decoy: async (like?: string) => {
    const { n, r, p } = (like === undefined ? undefined : parseScrypt(like)) ?? { n: 2 ** 14, r: 8, p: 1 }
    // Random key bytes: as valid as the key of a random password, without paying a run.
    return `scrypt$${n}$${djangoSalt()}$${r}$${p}$${randomBytes(64).toString('base64')}`
  },
  hash: async (plain: string, options?: Readonly<Record<string, unknown>>) => await scryptEncode(plain, {
    n: numberOption(options, 'n', 2 ** 14), r: numberOption(options, 'r', 8), p: numberOption(options, 'p', 1), salt: saltOption(options)
  })
})

// ----------------------------------------------------------------------------------- salted and unsalted MD5, SHA-1

const hexOf = (algorithm: 'md5' | 'sha1', text: string): string => oneShotHash(algorithm, text, 'hex')

function saltedHasher (name: 'md5' | 'sha1'): PasswordHasher {
  const encode = (plain: string, salt: string): string => `${name}$${salt}$${hexOf(name, salt + plain)}`
  const parse = (encoded: string): string | undefined => {
    const parts = encoded.split('$')
    return parts.length === 3 && parts[0] === name && parts[1] !== '' ? parts[1] : undefined
  }
  return Object.freeze({
    name,
    identifies: (encoded: string) => encoded.startsWith(`${name}$`) && identifyDjangoHasherName(encoded) === name,
    verify: async (plain: string, encoded: string) => {
      const salt = parse(encoded)
      return salt !== undefined && constantTimeEqualStrings(encode(plain, salt), encoded)
    },
    decoy: async () => encode(randomSecret(), djangoSalt()),
    hash: async (plain: string, options?: Readonly<Record<string, unknown>>) => encode(plain, saltOption(options))
  })
}

/**
 * Django's salted MD5, `md5$<salt>$<hex md5(salt + password)>` (weak: kept for old databases).
 *
 * @example
 * import { djangoSaltedMd5Hasher } from 'fastify-cred/hashers'
 * await djangoSaltedMd5Hasher.verify('fr4nk', 'md5$Qq…$3f…')
 */
export const djangoSaltedMd5Hasher: PasswordHasher = saltedHasher('md5')

/**
 * Django's salted SHA-1, `sha1$<salt>$<hex sha1(salt + password)>` (weak: kept for old databases).
 *
 * @example
 * import { djangoSaltedSha1Hasher } from 'fastify-cred/hashers'
 * await djangoSaltedSha1Hasher.verify('gr4ce', 'sha1$Qq…$9a…')
 */
export const djangoSaltedSha1Hasher: PasswordHasher = saltedHasher('sha1')

/**
 * Django's unsalted MD5 (removed in Django 5.1, still found in old databases): 32 hex digits, or the same after
 * `md5$$`. Both encodings verify.
 *
 * @example
 * import { djangoUnsaltedMd5Hasher } from 'fastify-cred/hashers'
 * await djangoUnsaltedMd5Hasher.verify('he1di', 'md5$$0c…')
 */
export const djangoUnsaltedMd5Hasher: PasswordHasher = Object.freeze({
  name: 'unsalted_md5',
  identifies: (encoded: string) => identifyDjangoHasherName(encoded) === 'unsalted_md5',
  verify: async (plain: string, encoded: string) => {
    if (identifyDjangoHasherName(encoded) !== 'unsalted_md5') return false
    return constantTimeEqualStrings(hexOf('md5', plain), encoded.startsWith('md5$$') ? encoded.slice(5) : encoded)
  },
  decoy: async () => hexOf('md5', randomSecret()),
  hash: async (plain: string) => hexOf('md5', plain)
})

/**
 * Django's unsalted SHA-1 (removed in Django 5.1): `sha1$$<hex sha1(password)>`.
 *
 * @example
 * import { djangoUnsaltedSha1Hasher } from 'fastify-cred/hashers'
 * await djangoUnsaltedSha1Hasher.verify('1van', 'sha1$$5b…')
 */
export const djangoUnsaltedSha1Hasher: PasswordHasher = Object.freeze({
  name: 'unsalted_sha1',
  identifies: (encoded: string) => identifyDjangoHasherName(encoded) === 'unsalted_sha1',
  verify: async (plain: string, encoded: string) =>
    identifyDjangoHasherName(encoded) === 'unsalted_sha1' && constantTimeEqualStrings(`sha1$$${hexOf('sha1', plain)}`, encoded),
  decoy: async () => `sha1$$${hexOf('sha1', randomSecret())}`,
  hash: async (plain: string) => `sha1$$${hexOf('sha1', plain)}`
})

// ----------------------------------------------------------------------------------------------------------- crypt

/** The crypt(3) part of `crypt$<salt>$<data>`: Django reads only `data` (split on the first two `$`). */
const cryptData = (encoded: string): string | undefined => {
  if (!encoded.startsWith('crypt$')) return undefined
  const second = encoded.indexOf('$', 'crypt$'.length)
  return second < 0 ? undefined : encoded.slice(second + 1)
}

/**
 * Django's `CryptPasswordHasher` (shipped until Django 5.0, for old databases): `crypt$$<13-character DES crypt(3)>`
 * with a 2-character salt, or `crypt$<salt>$<DES>` as Django 1.3 and older stored it (the salt field is ignored,
 * as Django ignores it). Verified with the same DES as `desCryptHasher` (`apache-crypt`, in a worker thread), so,
 * as in Django, **only the first 8 bytes of a password count**. Its name is Django's algorithm name, `crypt`.
 *
 * @example
 * import { djangoCryptHasher } from 'fastify-cred/hashers'
 * await djangoCryptHasher.verify('pass:word', 'crypt$$UeExy5km/7CTg') // true or false
 */
export const djangoCryptHasher: PasswordHasher = Object.freeze({
  name: 'crypt',
  identifies: (encoded: string) => encoded.startsWith('crypt$'),
  verify: async (plain: string, encoded: string) => {
    const data = cryptData(encoded)
    return data !== undefined && desCryptHasher.identifies(data) && await desCryptHasher.verify(plain, data)
  },
  decoy: async () => `crypt$$${await desCryptHasher.decoy()}`,
  hash: async (plain: string) => `crypt$$${await desCryptHasher.hash?.(plain) as string}`
})

// ---------------------------------------------------------------------------------------------------------- together

/**
 * The name of the Django hasher an encoded password claims, by Django's own rule (`identify_hasher`): 32 characters
 * without `$` or `md5$$` + 32 → `unsalted_md5`; `sha1$$` + 40 → `unsalted_sha1`; otherwise what precedes the first
 * `$`. Unusable passwords (`!…`) have no hasher: undefined.
 *
 * @example
 * identifyDjangoHasherName('pbkdf2_sha256$1000$salt$hash') // 'pbkdf2_sha256'
 */
export function identifyDjangoHasherName (encoded: string): string | undefined {
  if (encoded.startsWith('!')) return undefined
  if ((encoded.length === 32 && !encoded.includes('$')) || (encoded.length === 37 && encoded.startsWith('md5$$'))) return 'unsalted_md5'
  if (encoded.length === 46 && encoded.startsWith('sha1$$')) return 'unsalted_sha1'
  const at = encoded.indexOf('$')
  return at <= 0 ? undefined : encoded.slice(0, at)
}

/**
 * Every hasher Django ships or shipped, in the order of Django 5.2's `PASSWORD_HASHERS` followed by the retired
 * ones. The first is the default: an unknown user costs one run of it (see `DjangoChecker`).
 *
 * @example
 * import { DJANGO_HASHERS, findDjangoHasher } from 'fastify-cred/hashers'
 * const hasher = findDjangoHasher(row.password) // undefined for `!…` (unusable) or an unknown algorithm
 */
export const DJANGO_HASHERS: readonly PasswordHasher[] = Object.freeze([
  djangoPbkdf2Sha256Hasher, djangoPbkdf2Sha1Hasher, djangoArgon2Hasher, djangoBcryptSha256Hasher, djangoScryptHasher,
  djangoBcryptPlainHasher, djangoSaltedMd5Hasher, djangoSaltedSha1Hasher, djangoUnsaltedMd5Hasher, djangoUnsaltedSha1Hasher, djangoCryptHasher
])

/**
 * The hasher of `hashers` named as Django's `identify_hasher` would name it, or undefined (unusable password,
 * unknown or disabled algorithm).
 *
 * @example
 * findDjangoHasher('bcrypt_sha256$$2b$12$…')?.name // 'bcrypt_sha256'
 */
export function findDjangoHasher (encoded: string, hashers: readonly PasswordHasher[] = DJANGO_HASHERS): PasswordHasher | undefined {
  const name = identifyDjangoHasherName(encoded)
  return name === undefined ? undefined : hashers.find((hasher) => hasher.name === name)
}
