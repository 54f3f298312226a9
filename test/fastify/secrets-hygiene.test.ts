// Secrets hygiene: a broad matrix of logins (Basic, Digest, wrong passwords, outages, bugs, throttling) through
// apps built by helpers/app.ts, whose every log line, response body and received Authorization header
// helpers/hygiene.ts records; none of the test passwords and no full Authorization header may show up in any log
// line or body. Every other test file whose apps come from buildApp is checked the same way when it exits.
import t from 'tap'
import { IUsernamePassword, SimpleRealm, StoreUnavailable } from '../../lib/index.js'
import { MemoryChecker } from '../../lib/checkers/index.js'
import { MemoryThrottle } from '../../lib/throttle/index.js'
import type { CredentialsChecker } from '../../lib/index.js'
import type { NonceStore } from '../../lib/http/index.js'
import { NonceMinter, formatBasic } from '../../lib/http/index.js'
import { digestAuthorization, pickDigestChallenge } from '../../lib/client/index.js'
import type { DigestChallenge } from '../../lib/client/index.js'
import { IUser, buildApp } from '../helpers/app.js'
import type { TestApp } from '../helpers/app.js'
import { findLeaks, leaks, recorded, secret } from '../helpers/hygiene.js'

const SECRET = 'hygiene nonce secret, 16+ bytes'
const PASSWORDS = { alice: 'wonderland', bob: 'b0b-Secret!"quoted"', 'bøb': 'pässwörd', carol: 'c@rol pass with spaces' }
for (const p of Object.values(PASSWORDS)) secret(p)
const WRONG = 'hunter2-wrong-guess'
secret(WRONG)
const users = (): MemoryChecker => new MemoryChecker(PASSWORDS)

const latin1Basic = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`, 'latin1').toString('base64')}`

async function challenge (built: TestApp, url = '/whoami', method: 'GET' | 'POST' = 'GET'): Promise<DigestChallenge> {
  const res = await built.app.inject({ method, url })
  const found = pickDigestChallenge([res.headers['www-authenticate']].flat().join(', '))
  if (found === undefined) throw new Error('no Digest challenge')
  return found
}

t.test('the detector finds passwords (also JSON-escaped) and full Authorization values, and nothing else', async (t) => {
  const header = formatBasic('alice', 'wonderland')
  const texts = [
    { where: 'a', text: '{"msg":"login failed for alice"}' },
    { where: 'b', text: JSON.stringify({ err: { message: 'Unexpected token in "b0b-Secret!"quoted""' } }) },
    { where: 'c', text: `{"headers":{"authorization":"${header}"}}` },
    { where: 'd', text: `{"token":"${header.slice(6)}"}` }
  ]
  const found = findLeaks(texts, ['b0b-Secret!"quoted"'], [header, 'Basic eA=='])
  t.same(found.map((f) => f.where), ['b', 'c', 'c', 'd'], 'b: escaped password; c: header and its credentials; d: credentials alone')
})

t.test('Basic: right, wrong, unknown, Latin-1, malformed, control characters, throttled', async (t) => {
  const built = await buildApp({ checkers: [users()], throttle: new MemoryThrottle({ userThreshold: 3, baseDelay: 60_000 }) })
  const get = async (authorization: string): Promise<number> => (await built.app.inject({ url: '/whoami', headers: { authorization } })).statusCode
  t.equal(await get(formatBasic('alice', 'wonderland')), 200)
  t.equal(await get(formatBasic('bob', PASSWORDS.bob)), 200)
  t.equal(await get(formatBasic('carol', PASSWORDS.carol)), 200)
  t.equal(await get(latin1Basic('bøb', 'pässwörd')), 200, 'Latin-1 bytes')
  t.equal(await get(formatBasic('nobody', 'wonderland')), 401, 'unknown user with a real password')
  t.equal(await get(`Basic ${Buffer.from('alice\u0085:wonderland').toString('base64')}`), 400, 'a C1 control in the name')
  t.equal(await get(`Basic ${Buffer.from('alicewonderland').toString('base64')}`), 400, 'no colon')
  t.equal(await get('Basic !!!' + 'wonderland'), 400, 'not base64, the password in clear')
  for (let i = 0; i < 3; i++) t.equal(await get(formatBasic('carol', WRONG)), 401)
  t.equal(await get(formatBasic('carol', PASSWORDS.carol)), 429, 'throttled, even with the right password')
  t.equal((await built.app.inject({ url: '/boom', headers: { authorization: formatBasic('alice', 'wonderland') } })).statusCode, 500, 'a handler that throws')
})

t.test('Digest: right, wrong, stale, replayed, forged, tampered auth-int body, userhash', async (t) => {
  const built = await buildApp({ schemes: ['digest', 'basic'], checkers: [users()], digest: { secret: SECRET, qop: ['auth', 'auth-int'] } })
  built.app.post('/echo', async (request) => ({ body: request.body }))
  const c = await challenge(built)
  const send = async (authorization: string, url = '/whoami'): Promise<number> => (await built.app.inject({ url, headers: { authorization } })).statusCode
  const answer = (ch: DigestChallenge, user: string, password: string, nc: number): string => digestAuthorization(ch, user, password, { method: 'GET', uri: '/whoami', nc }).authorization
  t.equal(await send(answer(c, 'alice', 'wonderland', 1)), 200)
  t.equal(await send(answer(c, 'alice', 'wonderland', 1)), 401, 'replayed')
  t.equal(await send(answer(c, 'bob', WRONG, 2)), 401, 'wrong password')
  t.equal(await send(answer(c, 'nobody', 'wonderland', 3)), 401, 'unknown user')
  t.equal(await send(answer({ ...c, ...new NonceMinter({ secret: SECRET, realm: 'test realm' }).mint(Date.now() - 3_600_000) }, 'carol', PASSWORDS.carol, 1)), 401, 'stale')
  t.equal(await send(answer({ ...c, nonce: 'A'.repeat(46) }, 'carol', PASSWORDS.carol, 1)), 401, 'forged nonce')
  t.equal(await send(answer(c, 'alice', 'wonderland', 4), '/public'), 200, 'a public route (credentials ignored)')
  t.equal(await send(answer(c, 'alice', 'wonderland', 5).replace('uri="/whoami"', 'uri="/elsewhere"')), 400, 'uri not the target')
  const pc = await challenge(built, '/echo', 'POST')
  const body = Buffer.from(JSON.stringify({ note: 'hello' }))
  const tampered = await built.app.inject({
    method: 'POST', url: '/echo', payload: Buffer.from(JSON.stringify({ note: 'evil' })),
    headers: { 'content-type': 'application/json', authorization: digestAuthorization(pc, 'alice', 'wonderland', { method: 'POST', uri: '/echo', nc: 1, qop: 'auth-int', body }).authorization }
  })
  t.equal(tampered.statusCode, 401, 'auth-int with a tampered body')
  t.equal((await built.app.inject({ url: '/whoami', headers: { authorization: latin1Basic('bøb', 'pässwörd') } })).statusCode, 200, 'Basic beside Digest')
})

t.test('outages and bugs: a store down, a checker that quotes the password in its error, a realm and a logout that throw, a login that never ends', async (t) => {
  const checkerOf = (fail: (password: string) => never | Promise<never>): CredentialsChecker<IUsernamePassword> => ({
    credentialInterfaces: [IUsernamePassword],
    requestAvatarId: async (credentials) => fail((credentials as unknown as { password: string }).password)
  })
  const cases: Array<[string, CredentialsChecker<IUsernamePassword>, number]> = [
    ['store unavailable, the password in its cause', checkerOf((p) => { throw new StoreUnavailable('user database down', { cause: new Error(`query failed for ${p}`) }) }), 503],
    ['JSON.parse(password): a SyntaxError quoting it', checkerOf((p) => JSON.parse(p) as never), 500],
    ['a TypeError', checkerOf(() => { throw new TypeError('cannot read properties of undefined') }), 500],
    ['an error whose message is the password', checkerOf((p) => { throw new Error(p) }), 500],
    ['a rejection with the password as a cause chain', checkerOf(async (p) => { throw new Error('outer', { cause: new Error('middle', { cause: new RangeError(`bad ${p}`) }) }) }), 500]
  ]
  for (const [name, checker, status] of cases) {
    const built = await buildApp({ checkers: [checker] })
    for (const [user, password] of Object.entries(PASSWORDS)) {
      const res = await built.app.inject({ url: '/whoami', headers: { authorization: user === 'bøb' ? latin1Basic(user, password) : formatBasic(user, password) } })
      t.equal(res.statusCode, status, `${name} (${user})`)
    }
  }

  const realmBug = await buildApp({
    checkers: [users()],
    realm: new SimpleRealm().serve(IUser, () => { throw new Error('realm failed') })
  })
  t.equal((await realmBug.app.inject({ url: '/whoami', headers: { authorization: formatBasic('bob', PASSWORDS.bob) } })).statusCode, 500, 'a realm that throws')
  const logoutBug = await buildApp({
    checkers: [users()],
    realm: new SimpleRealm().serve(IUser, (id) => ({ name: String(id) }), () => { throw new Error('logout failed') })
  })
  t.equal((await logoutBug.app.inject({ url: '/whoami', headers: { authorization: formatBasic('carol', PASSWORDS.carol) } })).statusCode, 200, 'a logout that throws')
  const slow = await buildApp({ checkers: [{ credentialInterfaces: [IUsernamePassword], requestAvatarId: async () => await new Promise<string>(() => {}) }], loginTimeout: 50 })
  t.equal((await slow.app.inject({ url: '/whoami', headers: { authorization: formatBasic('alice', 'wonderland') } })).statusCode, 503, 'a login past loginTimeout')
  const failingStore: NonceStore = { claim: () => { throw new Error('nonce store exploded') } }
  const digestDown = await buildApp({ schemes: ['digest'], checkers: [users()], digest: { secret: SECRET, nonceStore: failingStore } })
  const c = await challenge(digestDown)
  t.equal((await digestDown.app.inject({ url: '/whoami', headers: { authorization: digestAuthorization(c, 'bob', PASSWORDS.bob, { method: 'GET', uri: '/whoami', nc: 1 }).authorization } })).statusCode, 503, 'the nonce store down')
})

t.test('nothing captured holds a test password or a full Authorization header', async (t) => {
  const seen = recorded()
  t.ok(seen.texts > 80, `log lines and bodies looked at (${seen.texts})`)
  t.ok(seen.authorizations > 15, `Authorization headers looked for (${seen.authorizations})`)
  t.same(leaks(), [], 'no leak')
})
