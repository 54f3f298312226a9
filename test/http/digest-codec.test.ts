import { hash } from 'node:crypto'
import t from 'tap'
import { DigestedCredentials } from '../../lib/index.js'
import { MalformedCredentials, digestHa1, digestResponse } from '../../lib/cred/index.js'
import {
  MAX_DIGEST_LENGTH, digestChallenge, formatAuthenticationInfo, formatDigestAuthorization, parseAuthenticationInfo,
  parseChallenges, parseDigest
} from '../../lib/http/index.js'
import { digestAuthorization, pickDigestChallenge } from '../../lib/client/index.js'
import type { DigestAlgorithm } from '../../lib/cred/index.js'

/** Builds credentials from a parsed header, as DigestScheme does, for a request. */
const credentialsOf = (header: string, method: string, username?: string): DigestedCredentials => {
  const d = parseDigest(header)
  return new DigestedCredentials({ ...d, username: username ?? d.username, method })
}

// RFC 2617 §3.5
const RFC2617 = 'Digest username="Mufasa", realm="testrealm@host.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", ' +
  'uri="/dir/index.html", qop=auth, nc=00000001, cnonce="0a4f113b", response="6629fae49393a05397450978507c4ef1", ' +
  'opaque="5ccc069c403ebaf9f0171e9517f40e41"'

// RFC 7616 §3.9.1, with the response of each algorithm.
const rfc7616 = (algorithm: string, response: string): string => 'Digest username="Mufasa", realm="http-auth@example.org", ' +
  `uri="/dir/index.html", algorithm=${algorithm}, nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", nc=00000001, ` +
  `cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", qop=auth, response="${response}", ` +
  'opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"'
const RFC7616_MD5 = '8ca523f5e9506fed4657c9700eebdbec'
const RFC7616_SHA256 = '753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1'

// RFC 7616 §3.9.2. The RFC prints username 488869477b… and response ae66e67d…, which are not of its inputs
// (erratum 4897); these are the values its inputs give, as the erratum and independent implementations say.
const JASON = 'J\u00e4s\u00f8n Doe'
const USERHASH_3_9_2 = '793263caabb707a56211940d90411ea4a575adeccb7e360aeb624ed06ece9b0b'
const RESPONSE_3_9_2 = '3798d4131c277846293534c3edc11bd8a5e4cdcbff78b05db9d95eeb1cec68a5'
const rfc7616sha512 = (user: string, response: string, userhash: boolean): string => `Digest ${user}, realm="api@example.org", ` +
  'uri="/doe.json", algorithm=SHA-512-256, nonce="5TsQWLVdgBdmrQ0XsxbDODV+57QdFR34I9HAbC/RVvkK", nc=00000001, ' +
  `cnonce="NTg6RKcb9boFIAS3KrFK9BGeh+iDa/sm6jUMp2wds69v", qop=auth, response="${response}", ` +
  `opaque="HRPCssKJSGjCrkzDg8OhwpzCiGPChXYjwrI2QmXDnsOS"${userhash ? ', userhash=true' : ''}`

t.test('RFC 2617 §3.5: Mufasa / "Circle Of Life"', async (t) => {
  t.equal(digestHa1('MD5', 'Mufasa', 'testrealm@host.com', 'Circle Of Life'), '939e7578ed9e3c518a452acee763bce9')
  const creds = credentialsOf(RFC2617, 'GET')
  t.equal(creds.algorithm, 'MD5', 'no algorithm means MD5')
  t.equal(creds.checkPassword('Circle Of Life'), true)
  t.equal(creds.checkPassword('Circle of Life'), false)
  t.equal(creds.checkHash('939e7578ed9e3c518a452acee763bce9'), true, 'an htdigest HA1 verifies too')
  t.equal(creds.checkHash('939E7578ED9E3C518A452ACEE763BCE9'), true, 'in any case')
  t.equal(creds.checkHash('939e7578ed9e3c518a452acee763bce8'), false)
  t.equal(creds.checkHash(hash('sha256', 'Mufasa:testrealm@host.com:Circle Of Life', 'hex')), false, 'a SHA-256 HA1 cannot verify MD5')
})

t.test('RFC 7616 §3.9.1: MD5 and SHA-256', async (t) => {
  for (const [algorithm, response] of [['MD5', RFC7616_MD5], ['SHA-256', RFC7616_SHA256]] as const) {
    const creds = credentialsOf(rfc7616(algorithm, response), 'GET')
    t.equal(creds.checkPassword('Circle of Life'), true, `${algorithm} response verifies`)
    t.equal(creds.checkPassword('Circle Of Life'), false, `${algorithm}: another password does not`)
    t.equal(credentialsOf(rfc7616(algorithm, response), 'POST').checkPassword('Circle of Life'), false, `${algorithm}: another method does not`)
  }
  const challenge = pickDigestChallenge('Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=SHA-256, ' +
    'nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"')
  t.ok(challenge)
  const answer = digestAuthorization(challenge!, 'Mufasa', 'Circle of Life', {
    method: 'GET', uri: '/dir/index.html', nc: 1, cnonce: 'f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ'
  })
  t.match(answer.authorization, `response="${RFC7616_SHA256}"`, 'the client computes the RFC value')
})

t.test('RFC 7616 §3.9.2: SHA-512-256, UTF-8 name, userhash (values corrected by erratum 4897)', async (t) => {
  t.equal(hash('sha512-256', `${JASON}:api@example.org`, 'hex'), USERHASH_3_9_2, 'userhash from node:crypto directly')
  const printed = credentialsOf(rfc7616sha512('username="488869477bf257147b804c45308cd62ac4e25eb717b12b298c79e62dcea254ec"',
    'ae66e67d6b427bd3f120414a82e4acff38e8ecd9101d6c861229025f607a79dd', true), 'GET', JASON)
  t.equal(printed.checkPassword('Secret, or not?'), false, 'the values printed in the RFC do not verify (erratum 4897)')

  const header = rfc7616sha512(`username="${USERHASH_3_9_2}"`, RESPONSE_3_9_2, true)
  const parsed = parseDigest(header)
  t.equal(parsed.userhash, true)
  t.equal(parsed.username, USERHASH_3_9_2)
  t.equal(parsed.algorithm, 'SHA-512-256')
  t.equal(credentialsOf(header, 'GET', JASON).checkPassword('Secret, or not?'), true, 'the response is over the real name')

  const star = rfc7616sha512("username*=UTF-8''J%C3%A4s%C3%B8n%20Doe", RESPONSE_3_9_2, false)
  t.equal(parseDigest(star).username, JASON, 'username* (RFC 8187) decoded')
  t.equal(credentialsOf(star, 'GET').checkPassword('Secret, or not?'), true)

  const raw = rfc7616sha512(`username="${Buffer.from(JASON, 'utf8').toString('latin1')}"`, RESPONSE_3_9_2, false)
  t.equal(parseDigest(raw).username, JASON, 'raw UTF-8 bytes (as Node hands them over: Latin-1) are read as UTF-8, as curl sends them')

  const challenge = pickDigestChallenge('Digest realm="api@example.org", qop="auth", algorithm=SHA-512-256, ' +
    'nonce="5TsQWLVdgBdmrQ0XsxbDODV+57QdFR34I9HAbC/RVvkK", opaque="HRPCssKJSGjCrkzDg8OhwpzCiGPChXYjwrI2QmXDnsOS", charset=UTF-8, userhash=true')
  const answer = digestAuthorization(challenge!, JASON, 'Secret, or not?', { method: 'GET', uri: '/doe.json', nc: 1, cnonce: 'NTg6RKcb9boFIAS3KrFK9BGeh+iDa/sm6jUMp2wds69v' })
  t.match(answer.authorization, `username="${USERHASH_3_9_2}"`)
  t.match(answer.authorization, `response="${RESPONSE_3_9_2}"`)
  t.match(answer.authorization, 'userhash=true')
})

t.test('-sess algorithms and auth-int', async (t) => {
  const base = { method: 'POST', uri: '/x', nonce: 'n', cnonce: 'c', nc: '00000001' }
  for (const algorithm of ['MD5-sess', 'SHA-256-sess', 'SHA-512-256-sess'] as DigestAlgorithm[]) {
    const plain = algorithm.replace('-sess', '') as DigestAlgorithm
    const ha1 = digestHa1(algorithm, 'u', 'r', 'p')
    const sessHa1 = digestHa1(plain, 'u', 'r', 'p')
    t.equal(ha1, sessHa1, 'HA1 itself is the plain hash')
    const response = digestResponse(ha1, { ...base, algorithm, qop: 'auth' })
    t.not(response, digestResponse(ha1, { ...base, algorithm: plain, qop: 'auth' }), `${algorithm} differs from ${plain}`)
    const creds = new DigestedCredentials({ ...base, username: 'u', realm: 'r', algorithm, qop: 'auth', response })
    t.equal(creds.checkPassword('p'), true, `${algorithm} verifies`)
  }
  const body = Buffer.from('{"a":1}')
  const bodyHash = hash('sha256', body, 'hex')
  const response = digestResponse(digestHa1('SHA-256', 'u', 'r', 'p'), { ...base, algorithm: 'SHA-256', qop: 'auth-int', entityBodyHash: bodyHash })
  const creds = new DigestedCredentials({ ...base, username: 'u', realm: 'r', algorithm: 'SHA-256', qop: 'auth-int', response })
  t.equal(creds.needsEntityBody, true)
  t.equal(creds.checkPassword('p'), false, 'auth-int cannot be checked before the body is known')
  creds.setEntityBody({ bytes: body })
  t.equal(creds.checkPassword('p'), true)
  const tampered = new DigestedCredentials({ ...base, username: 'u', realm: 'r', algorithm: 'SHA-256', qop: 'auth-int', response })
  tampered.setEntityBody({ bytes: Buffer.from('{"a":2}') })
  t.equal(tampered.checkPassword('p'), false, 'another body does not verify')
})

t.test('RFC 2069 (no qop)', async (t) => {
  const ha1 = digestHa1('MD5', 'Mufasa', 'testrealm@host.com', 'CircleOfLife')
  const response = digestResponse(ha1, { algorithm: 'MD5', method: 'GET', uri: '/dir/index.html', nonce: 'dcd98b7102dd2f0e8b11d0f600bfb0c093' })
  t.equal(response, '1949323746fe6a43ef61f9606e7febea', 'the RFC 2069 example')
  const parsed = parseDigest(`Digest username="Mufasa", realm="testrealm@host.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", uri="/dir/index.html", response="${response}", opaque="5ccc069c403ebaf9f0171e9517f40e41"`)
  t.equal(parsed.qop, undefined)
  t.equal(new DigestedCredentials({ ...parsed, method: 'GET' }).checkPassword('CircleOfLife'), true)
})

t.test('rspauth (Authentication-Info) after a successful check', async (t) => {
  const creds = credentialsOf(RFC2617, 'GET')
  t.equal(creds.responseAuth(), undefined, 'unknown before a check succeeded')
  creds.checkPassword('wrong')
  t.equal(creds.responseAuth(), undefined, 'and after a failed one')
  creds.checkPassword('Circle Of Life')
  const expected = hash('md5', `939e7578ed9e3c518a452acee763bce9:dcd98b7102dd2f0e8b11d0f600bfb0c093:00000001:0a4f113b:auth:${hash('md5', ':/dir/index.html', 'hex')}`, 'hex')
  t.equal(creds.responseAuth(), expected, 'KD(HA1, nonce:nc:cnonce:qop:H(":" uri))')
  t.same(JSON.parse(JSON.stringify(creds)), { username: 'Mufasa', realm: 'testrealm@host.com', algorithm: 'MD5' }, 'no response or nonce in JSON')
})

t.test('test_responseWithoutQuotes: bare response, qop, nc, algorithm', async (t) => {
  const creds = credentialsOf(RFC2617.replace('response="6629fae49393a05397450978507c4ef1"', 'response=6629fae49393a05397450978507c4ef1'), 'GET')
  t.equal(creds.checkPassword('Circle Of Life'), true)
  const quoted = parseDigest(RFC2617.replace('qop=auth', 'qop="auth"').replace('nc=00000001', 'nc="00000001"') + ', algorithm="MD5"')
  t.equal(quoted.qop, 'auth', 'python-requests quotes qop')
  t.equal(quoted.nc, '00000001')
  t.equal(quoted.algorithm, 'MD5', 'and algorithm')
})

t.test('test_responseWithCommaURI: commas and escapes inside quoted strings', async (t) => {
  const d = parseDigest('Digest username="a\\"b\\\\c", realm="r", nonce="n", uri="/a,b/c?d=e,f", response="6629fae49393a05397450978507c4ef1", opaque="o,p"')
  t.equal(d.username, 'a"b\\c')
  t.equal(d.uri, '/a,b/c?d=e,f')
  t.equal(d.opaque, 'o,p')
})

t.test('test_caseInsensitiveAlgorithm and parameter names in any case', async (t) => {
  for (const spelling of ['md5', 'Md5', 'MD5']) t.equal(parseDigest(`${RFC2617}, algorithm=${spelling}`).algorithm, 'MD5', spelling)
  t.equal(parseDigest(rfc7616('sha-256', RFC7616_SHA256)).algorithm, 'SHA-256')
  t.equal(parseDigest(rfc7616('sha-512-256-SESS', RFC7616_SHA256)).algorithm, 'SHA-512-256-sess')
  const upper = RFC2617.replace('username=', 'UserName=').replace('nc=', 'NC=').replace('qop=auth', 'QOP=AUTH')
  const d = parseDigest(upper.replace(/^Digest/, 'DIGEST'))
  t.equal(d.username, 'Mufasa')
  t.equal(d.qop, 'auth')
  t.equal(credentialsOf(upper, 'GET').checkPassword('Circle Of Life'), true)
})

t.test('whitespace: around "=", after commas, empty list elements', async (t) => {
  const spaced = 'Digest   username = "Mufasa" ,realm="testrealm@host.com",,\tnonce="dcd98b7102dd2f0e8b11d0f600bfb0c093" , uri="/dir/index.html", ' +
    'qop=auth, nc=00000001, cnonce="0a4f113b", response="6629fae49393a05397450978507c4ef1", opaque="x" ,'
  t.equal(credentialsOf(spaced, 'GET').checkPassword('Circle Of Life'), true)
})

t.test('malformed values throw MalformedCredentials and nothing else', async (t) => {
  const without = (name: string): string => RFC2617.replace(new RegExp(`${name}=("[^"]*"|[^,]*)(, )?`), '').replace(/, $/, '')
  const bad: Array<[string, string]> = [
    ['test_noUsername', without('username')],
    ['test_noNonce', without('nonce')],
    ['no uri', without('uri')],
    ['no response', without('response')],
    ['no realm', without('realm')],
    ['no cnonce with qop', without('cnonce')],
    ['no nc with qop', without('nc')],
    ['nc not 8 hex digits', RFC2617.replace('nc=00000001', 'nc=1')],
    ['nc of zero', RFC2617.replace('nc=00000001', 'nc=00000000')],
    ['nc and cnonce without qop', RFC2617.replace('qop=auth, ', '')],
    ['duplicate parameter', `${RFC2617}, nonce="x"`],
    ['duplicate in another case', `${RFC2617}, Realm="x"`],
    ['unknown algorithm', `${RFC2617}, algorithm=SHA-1`],
    ['unknown qop', RFC2617.replace('qop=auth', 'qop=auth-conf')],
    ['response of the wrong length', RFC2617.replace('6629fae49393a05397450978507c4ef1', '6629fae4')],
    ['response not hex', RFC2617.replace('6629fae49393a05397450978507c4ef1', '6629fae49393a05397450978507c4efz')],
    ['MD5-length response for SHA-256', `${RFC2617}, algorithm=SHA-256`],
    ['unterminated quote', 'Digest username="Mufasa'],
    ['escape at the end', 'Digest username="Mufasa\\'],
    ['control character', RFC2617.replace('Mufasa', 'Mu\u0001fasa')],
    ['no value', 'Digest username=, realm="r"'],
    ['no equals', 'Digest username "x"'],
    ['junk after a value', 'Digest username="a" "b"'],
    ['token68', 'Digest abcdef=='],
    ['not Digest', RFC2617.replace('Digest', 'Basic')],
    ['scheme alone', 'Digest'],
    ['empty', ''],
    ['username and username*', `${RFC2617}, username*=UTF-8''x`],
    ['username* with userhash', RFC2617.replace('username="Mufasa"', "username*=UTF-8''x") + ', userhash=true'],
    ['bad username*', RFC2617.replace('username="Mufasa"', "username*=UTF-8'x")],
    ['username* in an unknown charset', RFC2617.replace('username="Mufasa"', "username*=KOI8-R''x")],
    ['username* not UTF-8', RFC2617.replace('username="Mufasa"', "username*=UTF-8''%FF")],
    ['userhash neither true nor false', `${RFC2617}, userhash=yes`],
    ['too long', `${RFC2617}, x="${'a'.repeat(MAX_DIGEST_LENGTH)}"`]
  ]
  for (const [name, value] of bad) {
    t.throws(() => parseDigest(value), MalformedCredentials, name)
  }
  t.throws(() => parseDigest(undefined as unknown as string), MalformedCredentials, 'not even a string')
})

t.test('random garbage never throws anything but MalformedCredentials', async (t) => {
  let seed = 12345
  const random = (n: number): number => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed % n }
  const alphabet = 'Digest usernamrlcoqp=",\\ \t\u0000\u00ff\u00e4abc-*\'%'
  let other = 0
  for (let i = 0; i < 20000; i++) {
    const pieces = RFC2617.split('')
    for (let k = random(6); k > 0; k--) pieces.splice(random(pieces.length), random(3), alphabet[random(alphabet.length)] as string)
    const value = i % 2 === 0 ? pieces.join('') : Array.from({ length: random(60) }, () => alphabet[random(alphabet.length)]).join('')
    try {
      parseDigest(value)
    } catch (err) {
      if (!(err instanceof MalformedCredentials)) other++
    }
  }
  t.equal(other, 0)
})

t.test('unknown parameters are ignored; auth-param order does not matter', async (t) => {
  const d = parseDigest('Digest response="6629fae49393a05397450978507c4ef1", cnonce="0a4f113b", nc=00000001, qop=auth, ' +
    'uri="/dir/index.html", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", realm="testrealm@host.com", username="Mufasa", ' +
    'future=thing, another="x"')
  t.equal(new DigestedCredentials({ ...d, method: 'GET' }).checkPassword('Circle Of Life'), true)
})

t.test('challenges are self-contained and escape the realm', async (t) => {
  t.equal(digestChallenge({ realm: 'say "hi"', algorithm: 'SHA-256', qop: ['auth', 'auth-int'], nonce: 'n', opaque: 'o', stale: true, userhash: true }),
    'Digest realm="say \\"hi\\"", qop="auth, auth-int", algorithm=SHA-256, nonce="n", opaque="o", stale=true, charset=UTF-8, userhash=true')
  t.equal(digestChallenge({ realm: 'r', algorithm: 'MD5', qop: [], nonce: 'n', opaque: 'o' }),
    'Digest realm="r", algorithm=MD5, nonce="n", opaque="o", charset=UTF-8', 'RFC 2069: no qop')
})

t.test('parseChallenges splits a joined WWW-Authenticate line', async (t) => {
  const list = parseChallenges('Digest realm="a, b", qop="auth, auth-int", algorithm=SHA-256, nonce="x", Digest realm="a, b", algorithm=MD5, nonce="y", ' +
    'Basic realm="c", charset="UTF-8", Negotiate, Bearer abc==, NTLM')
  t.same(list.map((c) => c.scheme), ['digest', 'digest', 'basic', 'negotiate', 'bearer', 'ntlm'])
  t.equal(list[0]?.params.get('realm'), 'a, b')
  t.equal(list[1]?.params.get('algorithm'), 'MD5')
  t.equal(list[2]?.params.get('charset'), 'UTF-8')
  t.same(parseChallenges('"garbage'), [])
  t.equal(pickDigestChallenge('Digest realm="r", nonce="n", algorithm=SHA-512-256, Digest realm="r", nonce="m", algorithm=MD5', ['MD5', 'SHA-256'])?.nonce, 'm',
    'the first challenge with a supported algorithm')
})

t.test('Authorization and Authentication-Info round trips', async (t) => {
  const value = formatDigestAuthorization({ username: 'Łukasz', realm: 'r', nonce: 'n', uri: '/a b', algorithm: 'SHA-256', response: 'a'.repeat(64), qop: 'auth', cnonce: 'c', nc: 10, opaque: 'o' })
  t.match(value, "username*=UTF-8''%C5%81ukasz")
  const parsed = parseDigest(value)
  t.equal(parsed.username, 'Łukasz')
  t.equal(parsed.nc, '0000000a')
  t.equal(parsed.ncValue, 10)
  const info = formatAuthenticationInfo({ rspauth: 'ab', qop: 'auth', nc: '00000001', cnonce: 'c"d', nextnonce: 'nn' })
  t.same(parseAuthenticationInfo(info), { rspauth: 'ab', qop: 'auth', nc: '00000001', cnonce: 'c"d', nextnonce: 'nn' })
  t.equal(parseAuthenticationInfo('rspauth="x'), undefined)
})
