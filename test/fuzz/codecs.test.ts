import { isUtf8 } from 'node:buffer'
import fc from 'fast-check'
import t from 'tap'
import { MalformedCredentials } from '../../lib/cred/index.js'
import { formatBasic, parseBasic } from '../../lib/http/index.js'
import type { DigestAlgorithm, DigestQop } from '../../lib/cred/index.js'
import { digestChallenge, formatDigestAuthorization, parseChallenges, parseDigest } from '../../lib/http/digest.js'
import { pickDigestChallenge } from '../../lib/client/index.js'

// Seeded and reproducible: a failure prints its seed and path; rerun with them in `fc.assert(…, { seed, path })`.
const SEED = 20261125
const RUNS = 3000
const run = <Ts extends [unknown, ...unknown[]]>(property: fc.IPropertyWithHooks<Ts>, numRuns = RUNS): void => {
  fc.assert(property, { seed: SEED, numRuns })
}

const CC = /[\u0000-\u001f\u007f-\u009f]/
/** Any Unicode text (valid code points, astral planes too), without control characters. */
const text = (constraints: { minLength?: number, maxLength?: number } = {}): fc.Arbitrary<string> =>
  fc.string({ unit: 'binary', maxLength: 40, ...constraints }).filter((s) => !CC.test(s))
/** Any string at all, lone surrogates and controls included: what a parser must survive. */
const anything = fc.oneof(fc.string({ unit: 'binary', maxLength: 200 }), fc.string({ unit: 'binary-ascii', maxLength: 200 }),
  fc.string({ maxLength: 200 }))
/** Strings made of the pieces a parser cares about, so the fuzzer reaches deep paths, not only the first check. */
const pieces = (list: readonly string[]): fc.Arbitrary<string> =>
  fc.array(fc.oneof(fc.constantFrom(...list), fc.string({ unit: 'binary', maxLength: 4 })), { maxLength: 24 }).map((p) => p.join(''))
/** What a header holds as Node gives it to us: the UTF-8 bytes a client sent, one Latin-1 character each. */
const onTheWire = (value: string): string => Buffer.from(value, 'utf8').toString('latin1')

t.test('Basic: formatBasic → parseBasic is the identity on user names without ":" and passwords, both without controls', async (t) => {
  run(fc.property(text().filter((u) => !u.includes(':')), text(), (username, password) => {
    const header = formatBasic(username, password)
    const parsed = parseBasic(header)
    if (header.length > 4096) return parsed === undefined
    return parsed !== undefined && parsed.username === username && parsed.password === password
  }))
  t.pass(`${RUNS} round trips`)
})

t.test('Basic: the Latin-1 form of a Latin-1 password parses like its UTF-8 form', async (t) => {
  const latin1Text = fc.string({ unit: fc.integer({ min: 0x20, max: 0xff }).filter((c) => c < 0x7f || c > 0x9f).map((c) => String.fromCharCode(c)), maxLength: 30 })
  run(fc.property(latin1Text.filter((u) => !u.includes(':')), latin1Text, (username, password) => {
    const bytes = Buffer.from(`${username}:${password}`, 'latin1')
    fc.pre(!isUtf8(bytes)) // a Latin-1 string that is also valid UTF-8 (Ã©) is read as UTF-8, by design
    const latin1 = parseBasic(`Basic ${bytes.toString('base64')}`)
    const utf8 = parseBasic(formatBasic(username, password))
    return latin1 !== undefined && utf8 !== undefined && latin1.username === username && latin1.password === password &&
      utf8.username === username && utf8.password === password
  }))
  t.pass('same strings from both encodings')
})

t.test('Basic: parseBasic never throws; what it accepts has no control character and formats back to itself', async (t) => {
  const values = fc.oneof(
    anything,
    anything.map((s) => `Basic ${s}`),
    fc.uint8Array({ maxLength: 64 }).map((bytes) => `Basic ${Buffer.from(bytes).toString('base64')}`),
    // user ":" password as arbitrary bytes: UTF-8 or not, controls or not
    fc.tuple(fc.uint8Array({ min: 0x20, maxLength: 16 }), fc.uint8Array({ maxLength: 16 }))
      .map(([user, password]) => `Basic ${Buffer.concat([user, Buffer.from(':'), password]).toString('base64')}`),
    fc.tuple(fc.string({ unit: 'binary', maxLength: 16 }), fc.string({ unit: 'binary', maxLength: 16 }))
      .map(([user, password]) => `Basic ${Buffer.from(`${user}:${password}`, 'utf8').toString('base64')}`),
    pieces(['Basic ', 'basic', ' ', 'YWxpY2U6', '=', '==', ':', '\u0085', 'w7g=', '/+', 'AA'])
  )
  let accepted = 0
  run(fc.property(values, (value) => {
    const parsed = parseBasic(value)
    if (parsed === undefined) return true
    accepted++
    const again = parseBasic(formatBasic(parsed.username, parsed.password))
    return !parsed.username.includes(':') && !CC.test(parsed.username) && !CC.test(parsed.password) &&
      again !== undefined && again.username === parsed.username && again.password === parsed.password
  }), 5000)
  t.ok(accepted > 100, `the fuzzer reached accepted values too (${accepted})`)
})

const ALGORITHMS: readonly DigestAlgorithm[] = ['MD5', 'MD5-sess', 'SHA-256', 'SHA-256-sess', 'SHA-512-256', 'SHA-512-256-sess']
const HEX_LENGTH: Readonly<Record<DigestAlgorithm, number>> = {
  MD5: 32, 'MD5-sess': 32, 'SHA-256': 64, 'SHA-256-sess': 64, 'SHA-512-256': 64, 'SHA-512-256-sess': 64
}
const printable = (min = 0): fc.Arbitrary<string> => fc.string({ unit: 'binary-ascii', minLength: min, maxLength: 40 }).filter((s) => /^[\x20-\x7e]*$/.test(s) && s.length >= min)
const hex = (length: number): fc.Arbitrary<string> => fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: length, maxLength: length })

/** Every field a client may send, in its allowed domain. */
const digestFields = fc.constantFrom(...ALGORITHMS).chain((algorithm) => fc.record({
  username: text(),
  realm: text(),
  nonce: printable(1),
  uri: text({ minLength: 1 }),
  algorithm: fc.constant(algorithm),
  response: hex(HEX_LENGTH[algorithm]),
  qop: fc.option(fc.constantFrom<DigestQop>('auth', 'auth-int'), { nil: undefined }),
  cnonce: printable(1),
  nc: fc.integer({ min: 1, max: 0xffffffff }),
  opaque: fc.option(printable(), { nil: undefined })
}))

t.test('Digest: formatDigestAuthorization → (the wire) → parseDigest gives back every field', async (t) => {
  run(fc.property(digestFields, (f) => {
    const sent = f.qop === undefined ? { ...f, cnonce: undefined, nc: undefined } : f
    const parsed = parseDigest(onTheWire(formatDigestAuthorization(sent)))
    return parsed.username === f.username && parsed.realm === f.realm && parsed.nonce === f.nonce && parsed.uri === f.uri &&
      parsed.algorithm === f.algorithm && parsed.response === f.response && parsed.qop === f.qop && parsed.opaque === f.opaque &&
      parsed.userhash === false &&
      (f.qop === undefined ? parsed.cnonce === undefined && parsed.nc === undefined : parsed.cnonce === f.cnonce && parsed.ncValue === f.nc)
  }))
  t.pass(`${RUNS} round trips`)
})

t.test('Digest: parseDigest throws nothing but MalformedCredentials', async (t) => {
  const values = fc.oneof(
    anything,
    anything.map((s) => `Digest ${s}`),
    pieces(['Digest ', 'username=', 'username*=', "UTF-8''", '%0D%0A', '%C5%81', '%', 'realm=', 'nonce=', 'uri=', 'response=',
      'qop=', 'auth', 'auth-int', 'nc=', '00000001', 'cnonce=', 'algorithm=', 'SHA-256', 'MD5-sess', 'userhash=', 'true',
      'opaque=', '"', '\\', ',', ', ', '=', ' ', '\t', 'a'.repeat(64), '0'.repeat(32)])
  )
  // Valid headers with a few edits: reaches the checks deep inside, not only the first one.
  const edit = fc.record({ at: fc.nat(), kind: fc.constantFrom('delete', 'insert', 'truncate', 'duplicate'), piece: fc.constantFrom(
    '"', '\\', ',', '=', ' ', 'username="x", ', "username*=UTF-8''%0D%0A, ", 'qop=auth, ', 'nc=00000000, ', 'userhash=true, ',
    'algorithm=SHA-512-256, ', '%FF', '\u0085', 'realm=""', 'cnonce="\u00e9", '
  ) })
  const edited = fc.tuple(digestFields, fc.array(edit, { minLength: 1, maxLength: 3 })).map(([f, edits]) => {
    let value = onTheWire(formatDigestAuthorization(f.qop === undefined ? { ...f, cnonce: undefined, nc: undefined } : f))
    for (const { at, kind, piece } of edits) {
      const i = at % (value.length + 1)
      if (kind === 'delete') value = value.slice(0, i) + value.slice(i + 1)
      else if (kind === 'insert') value = value.slice(0, i) + piece + value.slice(i)
      else if (kind === 'truncate') value = value.slice(0, i)
      else value = `${value}, ${value.slice(7, 7 + (at % 40))}`
    }
    return value
  })
  // Any user name at all, controls included (our client sends them as username*).
  const anyName = fc.tuple(digestFields, fc.string({ unit: 'binary', maxLength: 20 })).map(([f, username]) =>
    onTheWire(formatDigestAuthorization({ ...f, username, ...(f.qop === undefined ? { cnonce: undefined, nc: undefined } : {}) })))
  const all = fc.oneof(values, edited, anyName)
  let accepted = 0
  const withControls: string[] = []
  run(fc.property(all, (value) => {
    try {
      const parsed = parseDigest(value)
      if (CC.test(parsed.username)) withControls.push(parsed.username)
      accepted++
      return true
    } catch (err) {
      return err instanceof MalformedCredentials
    }
  }), 5000)
  t.ok(accepted > 50, `never threw anything else; the fuzzer reached accepted values too (${accepted})`)
  t.same(withControls, [], 'no accepted user name holds a control character')
})

t.test('client: digestChallenge → pickDigestChallenge reads back what the server offered, among other challenges', async (t) => {
  const challenge = fc.record({
    realm: text(),
    algorithm: fc.constantFrom(...ALGORITHMS),
    qop: fc.subarray<DigestQop>(['auth', 'auth-int']),
    nonce: printable(1),
    opaque: printable(),
    userhash: fc.boolean(),
    stale: fc.boolean()
  })
  const others = fc.array(fc.constantFrom('Basic realm="x", charset="UTF-8"', 'Negotiate', 'Negotiate abc==', 'Bearer realm="r", error="invalid_token"', 'NTLM'), { maxLength: 3 })
  run(fc.property(challenge, others, others, (c, before, after) => {
    const header = [...before, digestChallenge(c), ...after].join(', ')
    const picked = pickDigestChallenge(header)
    const parsed = parseChallenges(header)
    return picked !== undefined && picked.realm === c.realm && picked.nonce === c.nonce && picked.opaque === c.opaque &&
      picked.algorithm === c.algorithm && picked.qop.join() === c.qop.join() && picked.userhash === c.userhash &&
      picked.stale === c.stale && parsed.length === before.length + 1 + after.length
  }))
  t.pass(`${RUNS} challenge lists`)
})

t.test('client: parseChallenges and pickDigestChallenge never throw', async (t) => {
  const values = fc.oneof(anything, pieces(['Digest ', 'Basic ', 'Negotiate ', 'realm=', 'nonce=', 'qop=', '"auth, auth-int"',
    'algorithm=', 'SHA-256', 'MD5', 'stale=true', '"', '\\', ',', ', ', '=', '==', ' ', 'abc', 'opaque=""']))
  run(fc.property(values, (value) => {
    const list = parseChallenges(value)
    pickDigestChallenge(value)
    return Array.isArray(list) && list.every((c) => typeof c.scheme === 'string' && c.params instanceof Map)
  }), 5000)
  t.pass('never threw')
})
