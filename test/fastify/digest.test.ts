import t from 'tap'
import { StoreUnavailable } from '../../lib/index.js'
import { MemoryChecker } from '../../lib/checkers/index.js'
import { InvalidOption } from '../../lib/cred/index.js'
import {
  DigestScheme, MemoryNonceStore, NonceMinter, parseAuthenticationInfo, userhashResolver
} from '../../lib/http/index.js'
import { digestAuthorization, pickDigestChallenge, rspauthMatches } from '../../lib/client/index.js'
import type { DigestPluginOptions, NonceStore, SchemeName } from '../../lib/http/index.js'
import type { DigestQop } from '../../lib/cred/index.js'
import type { DigestChallenge } from '../../lib/client/index.js'
import { basic, buildApp } from '../helpers/app.js'
import type { TestApp } from '../helpers/app.js'

const SECRET = 'test secret, at least sixteen bytes'

async function digestApp (digest: DigestPluginOptions = {}, schemes: SchemeName[] = ['digest']): Promise<TestApp> {
  const built = await buildApp({ schemes, digest: { secret: SECRET, ...digest } })
  built.app.post('/echo', async (request) => ({ avatarId: request.avatarId, body: request.body }))
  return built
}

const headerList = (value: string | string[] | number | undefined): string[] => value === undefined ? [] : Array.isArray(value) ? value : [String(value)]

/** The first Digest challenge the app sends for `url` (as curl and browsers pick it). */
async function challengeOf ({ app }: TestApp, url = '/whoami', method: 'GET' | 'POST' = 'GET'): Promise<DigestChallenge> {
  const res = await app.inject({ method, url })
  const challenge = pickDigestChallenge(headerList(res.headers['www-authenticate']).join(', '))
  if (challenge === undefined) throw new Error(`no Digest challenge in ${JSON.stringify(res.headers['www-authenticate'])}`)
  return challenge
}

interface AnswerOptions {
  method?: string
  uri?: string
  nc?: number
  username?: string
  password?: string
  body?: Uint8Array
  qop?: DigestQop
}
const answer = (challenge: DigestChallenge, o: AnswerOptions = {}): ReturnType<typeof digestAuthorization> =>
  digestAuthorization(challenge, o.username ?? 'alice', o.password ?? 'wonderland', { method: o.method ?? 'GET', uri: o.uri ?? '/whoami', nc: o.nc ?? 1, body: o.body, qop: o.qop })

/** Replaces one parameter of an Authorization value. */
const withParam = (authorization: string, name: string, value: string): string =>
  authorization.replace(new RegExp(`(^Digest |, )${name}=("[^"]*"|[^,]*)`), `$1${name}=${value}`)
const withoutParam = (authorization: string, name: string): string =>
  authorization.replace(new RegExp(`, ${name}=("[^"]*"|[^,]*)`), '').replace(new RegExp(`^Digest ${name}=("[^"]*"|[^,]*), `), 'Digest ')

t.test('challenges: SHA-256 first, MD5 last, each self-contained, then Basic', async (t) => {
  const { app } = await digestApp({}, ['digest', 'basic'])
  const res = await app.inject({ url: '/whoami' })
  t.equal(res.statusCode, 401)
  const challenges = headerList(res.headers['www-authenticate'])
  t.equal(challenges.length, 3)
  t.match(challenges[0], /^Digest realm="test realm", qop="auth", algorithm=SHA-256, nonce="[A-Za-z0-9_-]{46}", opaque="[A-Za-z0-9_-]{16}", charset=UTF-8$/)
  t.match(challenges[1], /^Digest realm="test realm", qop="auth", algorithm=MD5, nonce="[A-Za-z0-9_-]{46}", opaque="[A-Za-z0-9_-]{16}", charset=UTF-8$/)
  t.equal(challenges[2], 'Basic realm="test realm", charset="UTF-8"')
  const second = headerList((await app.inject({ url: '/whoami' })).headers['www-authenticate'])
  t.not(second[0], challenges[0], 'a new nonce per challenge')
  const ok = await app.inject({ url: '/whoami', headers: { authorization: basic('alice', 'wonderland') } })
  t.equal(ok.statusCode, 200, 'Basic still works beside Digest')
})

t.test('a good response logs in, with Authentication-Info whose rspauth proves the server knows the password', async (t) => {
  const built = await digestApp()
  const challenge = await challengeOf(built)
  t.equal(challenge.algorithm, 'SHA-256')
  const a = answer(challenge)
  const res = await built.app.inject({ url: '/whoami', headers: { authorization: a.authorization } })
  t.equal(res.statusCode, 200)
  t.same(res.json(), { avatarId: 'alice', name: 'alice', interface: 'IUser' })
  const info = parseAuthenticationInfo(String(res.headers['authentication-info']))
  t.ok(info)
  t.equal(info?.qop, 'auth')
  t.equal(info?.nc, '00000001')
  t.equal(info?.cnonce, a.cnonce)
  t.equal(info?.nextnonce, undefined, 'no nextnonce for a young nonce')
  t.equal(rspauthMatches(a.expectedRspauth, info?.rspauth), true, 'rspauth verifies')
  t.notMatch(built.logs.text, 'wonderland', 'no password in the logs')
})

t.test('authenticationInfo: false sends no Authentication-Info, and the login works the same', async (t) => {
  const built = await digestApp({ authenticationInfo: false })
  const res = await built.app.inject({ url: '/whoami', headers: { authorization: answer(await challengeOf(built)).authorization } })
  t.equal(res.statusCode, 200)
  t.equal(res.headers['authentication-info'], undefined)
})

t.test('MD5 (the last challenge, for python-requests) works too; UTF-8 user names', async (t) => {
  const built = await digestApp()
  const res401 = await built.app.inject({ url: '/whoami' })
  const md5 = pickDigestChallenge(headerList(res401.headers['www-authenticate']).join(', '), ['MD5'])
  t.equal(md5?.algorithm, 'MD5')
  const res = await built.app.inject({ url: '/whoami', headers: { authorization: answer(md5!).authorization } })
  t.equal(res.statusCode, 200)
  const utf8 = await built.app.inject({ url: '/whoami', headers: { authorization: answer(await challengeOf(built), { username: 'Łukasz', password: 'żółć:🙂' }).authorization } })
  t.equal(utf8.statusCode, 200, 'username* with a UTF-8 name')
  t.equal(utf8.json().avatarId, 'Łukasz')
})

t.test('wrong password and unknown user: 401 with fresh challenges, not stale', async (t) => {
  const built = await digestApp()
  for (const o of [{ password: 'wrong' }, { username: 'mallory' }]) {
    const res = await built.app.inject({ url: '/whoami', headers: { authorization: answer(await challengeOf(built), o).authorization } })
    t.equal(res.statusCode, 401)
    t.equal(res.json().code, 'ERR_CRED_UNAUTHORIZED')
    t.notMatch(String(res.headers['www-authenticate']), 'stale')
  }
})

t.test('test_multiResponse: one nonce, increasing nc; a replayed header is refused', async (t) => {
  const built = await digestApp()
  const challenge = await challengeOf(built)
  const first = answer(challenge, { nc: 1 }).authorization
  t.equal((await built.app.inject({ url: '/whoami', headers: { authorization: first } })).statusCode, 200)
  t.equal((await built.app.inject({ url: '/whoami', headers: { authorization: answer(challenge, { nc: 2 }).authorization } })).statusCode, 200, 'nc 2')
  const replay = await built.app.inject({ url: '/whoami', headers: { authorization: first } })
  t.equal(replay.statusCode, 401, 'the same header again')
  t.notMatch(String(replay.headers['www-authenticate']), 'stale', 'a replay gets no stale=true')
  t.equal((await built.app.inject({ url: '/whoami', headers: { authorization: answer(challenge, { nc: 1 }).authorization } })).statusCode, 401,
    'nc 1 again, even with a new cnonce')
  t.equal((await built.app.inject({ url: '/whoami', headers: { authorization: answer(challenge, { nc: 5 }).authorization } })).statusCode, 200, 'gaps are fine')
  t.equal((await built.app.inject({ url: '/whoami', headers: { authorization: answer(challenge, { nc: 4 }).authorization } })).statusCode, 200, 'so is out of order, once')
  t.equal((await built.app.inject({ url: '/whoami', headers: { authorization: answer(challenge, { nc: 4 }).authorization } })).statusCode, 401)
})

t.test('forged, altered and foreign nonces are refused', async (t) => {
  const built = await digestApp()
  const challenge = await challengeOf(built)
  const forged = new NonceMinter({ secret: 'another secret of sixteen bytes' }).mint()
  const flip = (s: string, at: number): string => s.slice(0, at) + (s[at] === 'A' ? 'B' : 'A') + s.slice(at + 1)
  const cases: Array<[string, DigestChallenge]> = [
    ['minted with another secret', { ...challenge, ...forged }],
    ['issue time altered', { ...challenge, nonce: flip(challenge.nonce, 3) }],
    ['MAC altered', { ...challenge, nonce: flip(challenge.nonce, 40) }],
    ['not our form', { ...challenge, nonce: 'dcd98b7102dd2f0e8b11d0f600bfb0c093' }],
    ['random', { ...challenge, nonce: 'x'.repeat(46), opaque: 'x'.repeat(16) }]
  ]
  for (const [name, c] of cases) {
    const res = await built.app.inject({ url: '/whoami', headers: { authorization: answer(c).authorization } })
    t.equal(res.statusCode, 401, name)
    t.notMatch(String(res.headers['www-authenticate']), 'stale', `${name}: not stale`)
  }
  t.equal((await built.app.inject({ url: '/whoami', headers: { authorization: answer(challenge).authorization } })).statusCode, 200, 'the real one still works')
  // base64 spells the same bytes several ways (the last character's spare bits): a respelt nonce must not start a
  // fresh nonce count.
  const last = challenge.nonce.at(-1) as string
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
  const respelt = challenge.nonce.slice(0, -1) + (alphabet[alphabet.indexOf(last) + 1] as string)
  t.same(Buffer.from(respelt, 'base64url'), Buffer.from(challenge.nonce, 'base64url'), 'same bytes')
  const res = await built.app.inject({ url: '/whoami', headers: { authorization: answer({ ...challenge, nonce: respelt }).authorization } })
  t.equal(res.statusCode, 401, 'the respelt nonce is refused')
})

t.test('test_mismatchedOpaqueChecksum: the opaque must be the one sent with the nonce', async (t) => {
  const built = await digestApp()
  const challenge = await challengeOf(built)
  const other = await challengeOf(built)
  t.equal((await built.app.inject({ url: '/whoami', headers: { authorization: answer({ ...challenge, opaque: other.opaque }).authorization } })).statusCode, 401, 'opaque of another nonce')
  t.equal((await built.app.inject({ url: '/whoami', headers: { authorization: answer({ ...challenge, opaque: 'garbage' }).authorization } })).statusCode, 401, 'garbage opaque')
  t.equal((await built.app.inject({ url: '/whoami', headers: { authorization: answer(challenge, { nc: 3 }).authorization } })).statusCode, 200)
  t.equal((await built.app.inject({ url: '/whoami', headers: { authorization: answer({ ...challenge, opaque: other.opaque }, { nc: 4 }).authorization } })).statusCode, 401,
    'also once the store knows the nonce')
})

t.test('uri: must be the request-target, query included (a response for /public does not open /whoami)', async (t) => {
  const built = await digestApp()
  built.app.get('/secret', async (request) => ({ avatarId: request.avatarId }))
  const challenge = await challengeOf(built)
  const forPublic = answer(challenge, { uri: '/public' }).authorization
  const res = await built.app.inject({ url: '/secret', headers: { authorization: forPublic } })
  t.equal(res.statusCode, 400, 'RFC 7616 §3.4.6: 400 Bad Request')
  t.ok(res.headers['www-authenticate'], 'with challenges')
  t.equal((await built.app.inject({ url: '/whoami?x=1', headers: { authorization: answer(challenge, { uri: '/whoami', nc: 2 }).authorization } })).statusCode, 400, 'query dropped')
  t.equal((await built.app.inject({ url: '/whoami?x=1', headers: { authorization: answer(challenge, { uri: '/whoami?x=2', nc: 3 }).authorization } })).statusCode, 400, 'query changed')
  t.equal((await built.app.inject({ url: '/whoami?x=1', headers: { authorization: answer(challenge, { uri: '/whoami?x=1', nc: 4 }).authorization } })).statusCode, 200, 'exact target')
  t.equal((await built.app.inject({ url: '/whoami?x=1', headers: { host: 'example.com', authorization: answer(challenge, { uri: 'http://example.com/whoami?x=1', nc: 5 }).authorization } })).statusCode, 200,
    'absolute-URI form with the same host, path and query')
  t.equal((await built.app.inject({ url: '/whoami', headers: { host: 'example.com', authorization: answer(challenge, { uri: 'http://example.com/public', nc: 6 }).authorization } })).statusCode, 400,
    'absolute-URI form with another path')
})

t.test('uri: an absolute-form uri must name this request\'s host (a response computed for another server is refused)', async (t) => {
  const built = await digestApp()
  const challenge = await challengeOf(built)
  const at = async (host: string, uri: string, nc: number): Promise<number> =>
    (await built.app.inject({ url: '/whoami', headers: { host, authorization: answer(challenge, { uri, nc }).authorization } })).statusCode
  t.equal(await at('api.example.com', 'http://evil.example/whoami', 1), 400, 'another host')
  t.equal(await at('api.example.com', 'http://api.example.com.evil.example/whoami', 2), 400, 'a longer host with ours as prefix')
  t.equal(await at('api.example.com', 'http://api.example.com:8080/whoami', 3), 400, 'another port')
  t.equal(await at('api.example.com', 'http://user@api.example.com/whoami', 4), 400, 'userinfo in the authority')
  t.equal(await at('api.example.com', 'http:///whoami', 5), 400, 'an empty authority')
  t.equal(await at('api.example.com', 'http://API.Example.com/whoami', 6), 200, 'host names compare case-insensitively')
  t.equal(await at('api.example.com', 'http://api.example.com:80/whoami', 7), 200, 'the default port may be written out')
  t.equal(await at('api.example.com:443', 'https://api.example.com/whoami', 8), 200, '… or left out (https)')
  t.equal(await at('[::1]:3000', 'http://[::1]:3000/whoami', 9), 200, 'an IPv6 authority')
})

t.test('nonces are bound to their realm: with a shared secret, a nonce minted for one realm does not log in at another', async (t) => {
  const first = await digestApp()
  const second = await buildApp({ schemes: ['digest'], authenticationRealm: 'other realm', digest: { secret: SECRET } })
  const challenge = await challengeOf(first)
  const res = await second.app.inject({ url: '/whoami', headers: { authorization: answer({ ...challenge, realm: 'other realm' }).authorization } })
  t.equal(res.statusCode, 401, 'the first realm\'s nonce is not one of the second\'s')
  t.notMatch(String(res.headers['www-authenticate']), 'stale', 'not stale either: it was never ours')
  const own = await challengeOf(second)
  t.equal(own.realm, 'other realm')
  t.equal((await second.app.inject({ url: '/whoami', headers: { authorization: answer(own).authorization } })).statusCode, 200, 'its own nonces work')
  t.equal((await first.app.inject({ url: '/whoami', headers: { authorization: answer(challenge).authorization } })).statusCode, 200, 'and the first realm\'s at the first')
})

t.test('test_failsWithDifferentMethod: a response for GET does not do for POST', async (t) => {
  const built = await digestApp()
  const challenge = await challengeOf(built)
  const res = await built.app.inject({ method: 'POST', url: '/echo', headers: { authorization: answer(challenge, { uri: '/echo', method: 'GET' }).authorization } })
  t.equal(res.statusCode, 401)
})

t.test('realm, algorithm and qop must be ones we offered', async (t) => {
  const built = await digestApp({ algorithms: ['SHA-256'] })
  const challenge = await challengeOf(built)
  t.equal((await built.app.inject({ url: '/whoami', headers: { authorization: answer({ ...challenge, realm: 'other realm' }).authorization } })).statusCode, 401, 'wrong realm')
  t.equal((await built.app.inject({ url: '/whoami', headers: { authorization: answer({ ...challenge, algorithm: 'MD5' }).authorization } })).statusCode, 401,
    'algorithm switched to MD5, which was not offered')
  const noAlgorithm = withoutParam(answer({ ...challenge, algorithm: 'MD5' }, { nc: 2 }).authorization, 'algorithm')
  t.equal((await built.app.inject({ url: '/whoami', headers: { authorization: noAlgorithm } })).statusCode, 401, 'no algorithm means MD5: not offered')
  const unknown = await built.app.inject({ url: '/whoami', headers: { authorization: withParam(answer(challenge, { nc: 3 }).authorization, 'algorithm', 'SHA-1') } })
  t.equal(unknown.statusCode, 400, 'unknown algorithm')
  t.equal((await built.app.inject({ url: '/whoami', headers: { authorization: answer({ ...challenge, qop: ['auth-int'] }, { nc: 4 }).authorization } })).statusCode, 401,
    'auth-int, not offered')
  t.equal((await built.app.inject({ url: '/whoami', headers: { authorization: answer(challenge, { nc: 5 }).authorization } })).statusCode, 200)
})

t.test('test_noUsername / test_noNonce / test_noOpaque and other missing fields: 400, never 500', async (t) => {
  const built = await digestApp()
  const challenge = await challengeOf(built)
  let nc = 0
  for (const field of ['username', 'nonce', 'opaque', 'uri', 'response', 'realm', 'cnonce', 'nc']) {
    const res = await built.app.inject({ url: '/whoami', headers: { authorization: withoutParam(answer(challenge, { nc: ++nc }).authorization, field) } })
    t.equal(res.statusCode, 400, `no ${field}`)
    t.equal(res.json().code, 'ERR_CRED_MALFORMED_CREDENTIALS')
  }
  for (const garbage of ['Digest', 'Digest ', 'Digest x', 'Digest username="', 'Digest ,,,,', `Digest ${'a="b", '.repeat(5000)}`, 'Digest nonce="\u00ff\u00fe"']) {
    const res = await built.app.inject({ url: '/whoami', headers: { authorization: garbage } })
    t.ok(res.statusCode === 400 || res.statusCode === 401, `${JSON.stringify(garbage.slice(0, 20))}: ${res.statusCode}`)
  }
  t.notMatch(built.logs.text, /"level":50/, 'nothing logged as an error')
})

t.test('test_oldNonce: an expired nonce gets 401 with stale=true in every Digest challenge', async (t) => {
  const built = await digestApp({}, ['digest', 'basic'])
  const challenge = await challengeOf(built)
  const old = new NonceMinter({ secret: SECRET, realm: 'test realm' }).mint(Date.now() - 6 * 60_000)
  const res = await built.app.inject({ url: '/whoami', headers: { authorization: answer({ ...challenge, ...old }).authorization } })
  t.equal(res.statusCode, 401)
  t.equal(res.json().code, 'ERR_CRED_STALE_NONCE')
  const challenges = headerList(res.headers['www-authenticate'])
  t.equal(challenges.filter((c) => c.startsWith('Digest ') && c.includes(', stale=true,')).length, 2)
  t.notMatch(challenges[2], 'stale', 'not on Basic')
  const wrongPassword = await built.app.inject({ url: '/whoami', headers: { authorization: answer({ ...challenge, ...new NonceMinter({ secret: SECRET, realm: 'test realm' }).mint(Date.now() - 6 * 60_000) }, { password: 'x' }).authorization } })
  t.equal(wrongPassword.statusCode, 401)
  t.equal(wrongPassword.json().code, 'ERR_CRED_UNAUTHORIZED', 'stale=true only for a right password (RFC 7616 §3.3)')
  t.notOk(headerList(wrongPassword.headers['www-authenticate']).some((c) => c.includes('stale=true')))
})

t.test('a wrong response claims no nonce count: it can neither fill the store nor burn a victim\'s counts', async (t) => {
  const built = await digestApp()
  const challenge = await challengeOf(built)
  const forged = withParam(answer(challenge, { nc: 0xffffffff }).authorization, 'response', `"${'0'.repeat(64)}"`)
  t.equal((await built.app.inject({ url: '/whoami', headers: { authorization: forged } })).statusCode, 401)
  const wrong = answer(challenge, { nc: 1, password: 'guess' }).authorization
  t.equal((await built.app.inject({ url: '/whoami', headers: { authorization: wrong } })).statusCode, 401)
  const victim = await built.app.inject({ url: '/whoami', headers: { authorization: answer(challenge, { nc: 1 }).authorization } })
  t.equal(victim.statusCode, 200, 'nc=1 is still free after a forged nc=ffffffff and a wrong password with nc=1')
  const replay = await built.app.inject({ url: '/whoami', headers: { authorization: answer(challenge, { nc: 1 }).authorization } })
  t.equal(replay.statusCode, 401, 'and once used by a proven user, it is spent')
})

t.test('a route that also lists credAuthenticate in the default mode logs in once', async (t) => {
  const built = await digestApp()
  built.app.get('/twice', { onRequest: built.app.credAuthenticate }, async (request) => ({ avatarId: request.avatarId }))
  const challenge = await challengeOf(built, '/twice')
  const res = await built.app.inject({ url: '/twice', headers: { authorization: answer(challenge, { uri: '/twice' }).authorization } })
  t.equal(res.statusCode, 200, 'the nonce count is claimed once, not refused as its own replay')
  await new Promise((resolve) => setTimeout(resolve, 10))
  t.same(built.logouts, ['alice'], 'one avatar, one logout')
})

t.test('proxy mode answers Digest with Proxy-Authentication-Info (RFC 7615)', async (t) => {
  const built = await buildApp({ schemes: ['digest'], digest: { secret: SECRET }, proxy: true })
  const refused = await built.app.inject({ url: '/whoami' })
  t.equal(refused.statusCode, 407)
  const challenge = pickDigestChallenge(headerList(refused.headers['proxy-authenticate']).join(', '))
  t.ok(challenge)
  const res = await built.app.inject({ url: '/whoami', headers: { 'proxy-authorization': answer(challenge as DigestChallenge).authorization } })
  t.equal(res.statusCode, 200)
  t.match(String(res.headers['proxy-authentication-info']), /^rspauth="/)
  t.equal(res.headers['authentication-info'], undefined)
})

t.test('nextnonce near expiry, used with the opaque of its chain', async (t) => {
  const built = await digestApp({ nonceLifetime: 60_000 })
  const challenge = await challengeOf(built)
  const aging = new NonceMinter({ secret: SECRET, lifetime: 60_000, realm: 'test realm' }).mint(Date.now() - 55_000)
  const res = await built.app.inject({ url: '/whoami', headers: { authorization: answer({ ...challenge, ...aging }).authorization } })
  t.equal(res.statusCode, 200)
  const info = parseAuthenticationInfo(String(res.headers['authentication-info']))
  t.ok(info?.nextnonce, 'nextnonce offered')
  t.not(info?.nextnonce, aging.nonce)
  const next = await built.app.inject({ url: '/whoami', headers: { authorization: answer({ ...challenge, nonce: info!.nextnonce!, opaque: aging.opaque }).authorization } })
  t.equal(next.statusCode, 200, 'the client keeps its opaque')
})

t.test('a nonce the bounded store forgot gets stale=true, never a fresh start', async (t) => {
  const built = await digestApp({ nonceStore: new MemoryNonceStore({ maxEntries: 1, sweepInterval: 0 }) })
  const first = await challengeOf(built)
  await new Promise((resolve) => setTimeout(resolve, 5))
  const second = await challengeOf(built)
  t.equal((await built.app.inject({ url: '/whoami', headers: { authorization: answer(first).authorization } })).statusCode, 200)
  t.equal((await built.app.inject({ url: '/whoami', headers: { authorization: answer(second).authorization } })).statusCode, 200, 'evicts the first')
  const again = await built.app.inject({ url: '/whoami', headers: { authorization: answer(first).authorization } })
  t.equal(again.statusCode, 401, 'a replay of the evicted nonce')
  t.match(String(again.headers['www-authenticate']), 'stale=true')
})

t.test('nonce store failures: 503, never success, never 500', async (t) => {
  const failing: NonceStore = { claim: () => { throw new Error('connection refused') } }
  const rejecting: NonceStore = { claim: async () => { throw new StoreUnavailable('redis down') } }
  const asyncOk: NonceStore = { claim: async () => await Promise.resolve('accepted' as const) }
  for (const [name, store, status] of [['throws', failing, 503], ['rejects', rejecting, 503], ['async, accepts', asyncOk, 200]] as const) {
    const built = await digestApp({ nonceStore: store })
    const res = await built.app.inject({ url: '/whoami', headers: { authorization: answer(await challengeOf(built)).authorization } })
    t.equal(res.statusCode, status, name)
    if (status === 503) {
      t.equal(res.headers['retry-after'], '5')
      t.equal(res.json().code, 'ERR_CRED_STORE_UNAVAILABLE')
    }
  }
})

t.test('qop auth-int: the raw request body is covered', async (t) => {
  const built = await digestApp({ qop: ['auth', 'auth-int'] })
  const challenge = await challengeOf(built, '/echo', 'POST')
  t.same(challenge.qop, ['auth', 'auth-int'])
  const json = Buffer.from(JSON.stringify({ transfer: 100, to: 'bob' }))
  const good = answer(challenge, { method: 'POST', uri: '/echo', body: json, qop: 'auth-int' })
  t.match(good.authorization, 'qop=auth-int')
  const res = await built.app.inject({ method: 'POST', url: '/echo', headers: { authorization: good.authorization, 'content-type': 'application/json' }, payload: json })
  t.equal(res.statusCode, 200)
  t.same(res.json(), { avatarId: 'alice', body: { transfer: 100, to: 'bob' } }, 'the JSON parser still got the body')
  t.match(String(res.headers['authentication-info']), 'qop=auth-int')

  const tamperedBody = Buffer.from(JSON.stringify({ transfer: 100000, to: 'mallory' }))
  const tampered = await built.app.inject({
    method: 'POST', url: '/echo', headers: { authorization: answer(challenge, { method: 'POST', uri: '/echo', body: json, qop: 'auth-int', nc: 2 }).authorization, 'content-type': 'application/json' }, payload: tamperedBody
  })
  t.equal(tampered.statusCode, 401, 'a tampered body is refused')

  const empty = await built.app.inject({ url: '/whoami', headers: { authorization: answer(challenge, { qop: 'auth-int', body: new Uint8Array(0), nc: 3 }).authorization } })
  t.equal(empty.statusCode, 200, 'GET with auth-int: H of the empty body')
  const plainAuth = await built.app.inject({ method: 'POST', url: '/echo', headers: { authorization: answer(challenge, { method: 'POST', uri: '/echo', nc: 4 }).authorization, 'content-type': 'application/json' }, payload: tamperedBody })
  t.equal(plainAuth.statusCode, 200, 'qop auth still works beside it (and does not cover the body)')
  const text = Buffer.from('plain text, hashed raw')
  const other = await built.app.inject({ method: 'POST', url: '/echo', headers: { authorization: answer(challenge, { method: 'POST', uri: '/echo', body: text, qop: 'auth-int', nc: 5 }).authorization, 'content-type': 'text/plain' }, payload: text })
  t.equal(other.statusCode, 200)
  t.equal(other.json().body, 'plain text, hashed raw')
})

t.test('qop auth-int: a wrong response is refused before any content-type parser sees the body; the body is bounded', async (t) => {
  const built = await buildApp({ schemes: ['digest'], digest: { secret: SECRET, qop: ['auth', 'auth-int'], maxAuthIntBody: 200_000 } })
  let parsedBytes = 0
  let parses = 0
  built.app.removeContentTypeParser('application/json')
  built.app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_request, body, done) => {
    parses++
    parsedBytes += body.length
    done(null, JSON.parse(body.toString('utf8')))
  })
  built.app.post('/echo', async (request) => ({ avatarId: request.avatarId, size: JSON.stringify(request.body).length }))
  const challenge = await challengeOf(built, '/echo', 'POST')
  const big = Buffer.from(JSON.stringify({ data: 'x'.repeat(100_000) }))
  const post = async (authorization: string, payload: Buffer, headers: Record<string, string> = {}): Promise<{ statusCode: number, json: () => { code?: string } }> =>
    await built.app.inject({ method: 'POST', url: '/echo', headers: { authorization, 'content-type': 'application/json', ...headers }, payload })
  for (let i = 0; i < 20; i++) {
    const res = await post(answer(challenge, { method: 'POST', uri: '/echo', body: big, qop: 'auth-int', password: 'wrong', nc: 1 + i }).authorization, big)
    t.equal(res.statusCode, 401, `refused ${i}`)
  }
  t.equal(parses, 0, 'no parser ran for 20 refused requests')
  t.equal(parsedBytes, 0, 'no byte of their 2 MB was parsed')
  const tampered = await post(answer(challenge, { method: 'POST', uri: '/echo', body: big, qop: 'auth-int', nc: 30 }).authorization, Buffer.from(JSON.stringify({ data: 'y'.repeat(100_000) })))
  t.equal(tampered.statusCode, 401, 'a body that is not the one covered: refused, unparsed')
  t.equal(parses, 0)

  const good = await post(answer(challenge, { method: 'POST', uri: '/echo', body: big, qop: 'auth-int', nc: 31 }).authorization, big)
  t.equal(good.statusCode, 200, 'the right response')
  t.same(good.json(), { avatarId: 'alice', size: big.length }, 'and the parser got the whole body, once')
  t.equal(parses, 1)

  const huge = Buffer.from(JSON.stringify({ data: 'z'.repeat(300_000) }))
  const declared = await post(answer(challenge, { method: 'POST', uri: '/echo', body: huge, qop: 'auth-int', nc: 32 }).authorization, huge)
  t.equal(declared.statusCode, 413, 'a Content-Length past maxAuthIntBody: 413')
  t.equal(declared.json().code, 'FST_ERR_CTP_BODY_TOO_LARGE')
  const { Readable } = await import('node:stream')
  const streamed = await built.app.inject({
    method: 'POST', url: '/echo',
    headers: { authorization: answer(challenge, { method: 'POST', uri: '/echo', body: huge, qop: 'auth-int', nc: 33 }).authorization, 'content-type': 'application/json', 'transfer-encoding': 'chunked' },
    payload: Readable.from([huge.subarray(0, 150_000), huge.subarray(150_000)])
  })
  t.equal(streamed.statusCode, 413, 'a chunked body that grows past it: 413 as soon as it does')
  t.equal(parses, 1, 'neither was parsed')
  t.equal((await post(answer(challenge, { method: 'POST', uri: '/echo', nc: 34 }).authorization, huge)).statusCode, 200, 'qop=auth does not cover the body and is not bounded by maxAuthIntBody')
  t.equal(built.logouts.length, 2, 'the two logins were logged out')
  t.throws(() => new DigestScheme({ authenticationRealm: 'r', maxAuthIntBody: -1 }), InvalidOption)
})

t.test('userhash: the client sends H(user:realm); the server finds the user through resolveUserhash', async (t) => {
  const checker = new MemoryChecker({ alice: 'wonderland', bob: 'builder' })
  const built = await buildApp({
    schemes: ['digest'],
    checkers: [checker],
    digest: { secret: SECRET, userhash: true, resolveUserhash: userhashResolver(() => checker.usernames()) }
  })
  const challenge = await challengeOf(built)
  t.equal(challenge.userhash, true, 'challenges say userhash=true')
  const a = answer(challenge)
  t.match(a.authorization, /username="[0-9a-f]{64}"/)
  t.notMatch(a.authorization, 'alice', 'the name is not sent')
  const res = await built.app.inject({ url: '/whoami', headers: { authorization: a.authorization } })
  t.equal(res.statusCode, 200)
  t.equal(res.json().avatarId, 'alice')
  const plain = answer({ ...challenge, userhash: false }, { nc: 2, username: 'bob', password: 'builder' })
  t.equal((await built.app.inject({ url: '/whoami', headers: { authorization: plain.authorization } })).statusCode, 200, 'a client without userhash still logs in')
  const unknown = answer(challenge, { nc: 3, username: 'mallory' })
  t.equal((await built.app.inject({ url: '/whoami', headers: { authorization: unknown.authorization } })).statusCode, 401, 'unknown hash')

  const noResolver = await digestApp()
  const c2 = await challengeOf(noResolver)
  t.equal((await noResolver.app.inject({ url: '/whoami', headers: { authorization: answer({ ...c2, userhash: true }).authorization } })).statusCode, 401,
    'userhash refused where the server cannot resolve it')
})

t.test('RFC 2069 responses: refused by default; with legacyRfc2069, each nonce serves once', async (t) => {
  const strict = await digestApp({ algorithms: ['MD5'] })
  const c1 = await challengeOf(strict)
  t.equal((await strict.app.inject({ url: '/whoami', headers: { authorization: answer({ ...c1, qop: [] }).authorization } })).statusCode, 401)
  const legacy = await digestApp({ algorithms: ['MD5'], legacyRfc2069: true })
  const c2 = await challengeOf(legacy)
  const header = answer({ ...c2, qop: [] }).authorization
  t.notMatch(header, 'qop')
  const res = await legacy.app.inject({ url: '/whoami', headers: { authorization: header } })
  t.equal(res.statusCode, 200)
  t.equal(res.headers['authentication-info'], undefined, 'RFC 2069 has no Authentication-Info')
  t.equal((await legacy.app.inject({ url: '/whoami', headers: { authorization: header } })).statusCode, 401, 'replay refused')
})

t.test('instances sharing a secret accept each other\'s nonces', async (t) => {
  const a = await digestApp()
  const b = await digestApp()
  const challenge = await challengeOf(a)
  t.equal((await b.app.inject({ url: '/whoami', headers: { authorization: answer(challenge).authorization } })).statusCode, 200)
  const c = await buildApp({ schemes: ['digest'] })
  t.equal((await c.app.inject({ url: '/whoami', headers: { authorization: answer(challenge, { nc: 2 }).authorization } })).statusCode, 401, 'a random per-process secret does not')
})

t.test('digest options are checked at register time', async (t) => {
  const bad: Array<[string, Partial<DigestPluginOptions>, SchemeName[]]> = [
    ['unknown algorithm', { algorithms: ['SHA-1' as 'MD5'] }, ['digest']],
    ['no algorithms', { algorithms: [] }, ['digest']],
    ['bad qop', { qop: ['auth-conf' as 'auth'] }, ['digest']],
    ['short secret', { secret: 'short' }, ['digest']],
    ['tiny lifetime', { nonceLifetime: 10 }, ['digest']],
    ['userhash without resolver', { userhash: true }, ['digest']],
    ['digest options without the scheme', {}, ['basic']]
  ]
  for (const [name, digest, schemes] of bad) {
    await t.rejects(buildApp({ schemes, digest: { secret: SECRET, ...digest } }), InvalidOption, name)
  }
})

t.test('a cnonce a header cannot echo is malformed (400), not a 500 on the way out', async (t) => {
  const built = await digestApp()
  const challenge = await challengeOf(built)
  const a = answer(challenge)
  // What Node hands over for a UTF-8 '€' sent raw: three Latin-1 characters.
  const euro = Buffer.from('€', 'utf8').toString('latin1')
  const res = await built.app.inject({ url: '/whoami', headers: { authorization: withParam(a.authorization, 'cnonce', `"${euro}"`) } })
  t.equal(res.statusCode, 400)
  t.equal(res.json().code, 'ERR_CRED_MALFORMED_CREDENTIALS')
})

t.test('a replayed Digest response is no success for the throttle: replays between guesses still reach 429 (issue #20 item 6)', async (t) => {
  const { MemoryThrottle } = await import('../../lib/throttle/index.js')
  const throttled = await buildApp({ schemes: ['digest'], digest: { secret: SECRET }, throttle: new MemoryThrottle({ userThreshold: 5, addressThreshold: 1000, baseDelay: 60_000 }) })
  t.teardown(async () => { await throttled.app.close() })
  const captured = answer(await challengeOf(throttled)).authorization
  const first = await throttled.app.inject({ url: '/whoami', headers: { authorization: captured } })
  t.equal(first.statusCode, 200, 'the exchange the attacker captured')
  const statuses: number[] = []
  for (let round = 0; round < 5; round++) {
    for (let guess = 0; guess < 4; guess++) {
      const wrong = answer(await challengeOf(throttled), { password: `guess ${round}.${guess}` }).authorization
      statuses.push((await throttled.app.inject({ url: '/whoami', headers: { authorization: wrong } })).statusCode)
    }
    const replay = await throttled.app.inject({ url: '/whoami', headers: { authorization: captured } })
    t.not(replay.statusCode, 200, `replay ${round} is refused`)
  }
  const firstThrottled = statuses.indexOf(429)
  t.equal(firstThrottled, 5, `the guess after the fifth failure is refused with 429, replays or not (got ${statuses.join(',')})`)
  t.ok(statuses.slice(firstThrottled).every((s) => s === 429), 'and every guess after it')
})
