import t from 'tap'
import Fastify from 'fastify'
import cred, {
  ANONYMOUS, IUsernamePassword, LoginDenied, Portal, SimpleRealm, StoreUnavailable, UsernamePassword
} from '../../lib/index.js'
import { AnonymousChecker, MemoryChecker } from '../../lib/checkers/index.js'
import type { CredentialsChecker } from '../../lib/index.js'
import type { HttpAuthScheme } from '../../lib/http/index.js'
import { IUser, basic, buildApp } from '../helpers/app.js'

const CHALLENGE = 'Basic realm="test realm", charset="UTF-8"'

t.test('good Basic credentials reach the route with the avatar', async (t) => {
  const { app } = await buildApp()
  const res = await app.inject({ url: '/whoami', headers: { authorization: basic('alice', 'wonderland') } })
  t.equal(res.statusCode, 200)
  t.same(res.json(), { avatarId: 'alice', name: 'alice', interface: 'IUser' })
  t.equal(app.portal instanceof Portal, true, 'the instance is decorated with its portal')
})

t.test('UTF-8 names and passwords containing ":"', async (t) => {
  const { app } = await buildApp()
  const res = await app.inject({ url: '/whoami', headers: { authorization: basic('Łukasz', 'żółć:🙂') } })
  t.equal(res.statusCode, 200)
  t.equal(res.json().avatarId, 'Łukasz')
})

t.test('no credentials → 401 with one challenge per scheme and a JSON body', async (t) => {
  const { app } = await buildApp()
  const res = await app.inject({ url: '/whoami' })
  t.equal(res.statusCode, 401)
  t.equal(res.headers['www-authenticate'], CHALLENGE)
  t.same(res.json(), { statusCode: 401, code: 'ERR_CRED_UNAUTHORIZED', error: 'Unauthorized' })
  const head = await app.inject({ method: 'HEAD', url: '/whoami' })
  t.equal(head.statusCode, 401)
  t.equal(head.body, '', 'HEAD gets no body')
  t.equal(head.headers['www-authenticate'], CHALLENGE)
})

t.test('test_failedLoginPassword / test_failedLoginName over HTTP: 401 with the same body', async (t) => {
  const { app } = await buildApp()
  const wrong = await app.inject({ url: '/whoami', headers: { authorization: basic('alice', 'Wonderland') } })
  const unknown = await app.inject({ url: '/whoami', headers: { authorization: basic('mallory', 'wonderland') } })
  for (const res of [wrong, unknown]) {
    t.equal(res.statusCode, 401)
    t.equal(res.headers['www-authenticate'], CHALLENGE)
  }
  t.equal(wrong.body, unknown.body, 'wrong password and unknown user are indistinguishable')
})

t.test('malformed Authorization → 400 with the challenge, never 500', async (t) => {
  const { app, logs } = await buildApp()
  const values = [
    'Basic', 'Basic !!!', 'Basic YWxpY2U', `Basic ${Buffer.from('nocolon').toString('base64')}`,
    `Basic ${Buffer.from('a:b\r\nX-Injected: 1').toString('base64')}`, `Basic ${'A'.repeat(8000)}`,
    `Basic ${Buffer.from([0x61, 0x85, 0x3a, 0x62]).toString('base64')}` // NEL (C1 control) as a Latin-1 byte
  ]
  for (const authorization of values) {
    const res = await app.inject({ url: '/whoami', headers: { authorization } })
    t.equal(res.statusCode, 400, authorization.slice(0, 30))
    t.equal(res.headers['www-authenticate'], CHALLENGE)
    t.equal(res.json().code, 'ERR_CRED_MALFORMED_CREDENTIALS')
  }
  t.equal(logs.lines.filter((l) => l.level === 50).length, 0, 'malformed input is not an error in the log')
  const notUtf8 = await app.inject({ url: '/whoami', headers: { authorization: `Basic ${Buffer.from([0x61, 0x3a, 0xc3]).toString('base64')}` } })
  t.equal(notUtf8.statusCode, 401, 'bytes that are not UTF-8 are read as Latin-1 (a:Ã), not malformed: a wrong password')
})

t.test('another scheme is not ours: 401 with our challenge', async (t) => {
  const { app } = await buildApp()
  for (const authorization of ['Bearer abc.def', 'Negotiate', 'Basicx YTpi', ' ']) {
    const res = await app.inject({ url: '/whoami', headers: { authorization } })
    t.equal(res.statusCode, 401, JSON.stringify(authorization))
    t.equal(res.headers['www-authenticate'], CHALLENGE)
  }
})

t.test('test_renderQuotesRealm: quotes and backslashes in the realm are escaped; header-breaking realms refused', async (t) => {
  const { app } = await buildApp({ authenticationRealm: 'say "hi" \\o/' })
  const res = await app.inject({ url: '/whoami' })
  t.equal(res.headers['www-authenticate'], 'Basic realm="say \\"hi\\" \\\\o/", charset="UTF-8"')
  await t.rejects(buildApp({ authenticationRealm: 'evil\r\nSet-Cookie: x=1' }), { code: 'ERR_CRED_INVALID_OPTION', message: /authenticationRealm/ })
})

t.test('test_anonymousAccess: with AnonymousChecker no credentials means ANONYMOUS', async (t) => {
  const { app } = await buildApp({ checkers: [new MemoryChecker({ alice: 'wonderland' }), new AnonymousChecker()] })
  app.get('/anon', async (request) => ({ anonymous: request.avatarId === ANONYMOUS, name: (request.avatar as unknown as { name: string }).name }))
  const res = await app.inject({ url: '/anon' })
  t.equal(res.statusCode, 200)
  t.same(res.json(), { anonymous: true, name: String(ANONYMOUS) })
  const alice = await app.inject({ url: '/whoami', headers: { authorization: basic('alice', 'wonderland') } })
  t.equal(alice.json().avatarId, 'alice', 'credentials still log in as the user')
  const wrong = await app.inject({ url: '/whoami', headers: { authorization: basic('alice', 'x') } })
  t.equal(wrong.statusCode, 401, 'wrong credentials are not downgraded to anonymous')
})

t.test('routes can opt out in the default mode', async (t) => {
  const { app } = await buildApp()
  const res = await app.inject({ url: '/public' })
  t.equal(res.statusCode, 200)
  t.same(res.json(), { public: true, avatar: null })
})

t.test('on-demand mode: only routes asking for it, or using fastify.credAuthenticate', async (t) => {
  const { app } = await buildApp({ mode: 'on-demand' })
  app.get('/private', { config: { cred: true } }, async (request) => ({ avatarId: request.avatarId }))
  app.get('/composed', { onRequest: app.credAuthenticate }, async (request) => ({ avatarId: request.avatarId }))
  t.equal((await app.inject({ url: '/whoami' })).statusCode, 200, 'routes without cred: true are public')
  t.equal((await app.inject({ url: '/private' })).statusCode, 401)
  t.equal((await app.inject({ url: '/private', headers: { authorization: basic('alice', 'wonderland') } })).json().avatarId, 'alice')
  const composed = await app.inject({ url: '/composed' })
  t.equal(composed.statusCode, 401)
  t.equal(composed.headers['www-authenticate'], CHALLENGE)
  t.equal(composed.json().code, 'ERR_CRED_UNAUTHORIZED')
  t.equal((await app.inject({ url: '/composed', headers: { authorization: basic('alice', 'wonderland') } })).json().avatarId, 'alice')
})

t.test('@fastify/auth composition: challenges of every strategy are sent, success of either passes', async (t) => {
  const { default: fastifyAuth } = await import('@fastify/auth')
  const { app } = await buildApp({ mode: 'on-demand' })
  await app.register(fastifyAuth)
  const bearer = (request: { headers: Record<string, unknown> }, reply: { header: (k: string, v: string) => unknown }, done: (err?: Error) => void): void => {
    if (request.headers.authorization === 'Bearer letmein') { done(); return }
    reply.header('WWW-Authenticate', 'Bearer realm="api"')
    done(Object.assign(new Error('bad token'), { statusCode: 401 }))
  }
  app.after(() => {
    app.get('/either', { onRequest: app.auth([bearer, app.credAuthenticate]) }, async (request) => ({ avatarId: request.avatarId ?? 'token' }))
  })
  await app.ready()
  const refused = await app.inject({ url: '/either' })
  t.equal(refused.statusCode, 401)
  t.same(refused.headers['www-authenticate'], ['Bearer realm="api"', CHALLENGE], 'both challenges reach the client')
  t.equal((await app.inject({ url: '/either', headers: { authorization: 'Bearer letmein' } })).json().avatarId, 'token')
  t.equal((await app.inject({ url: '/either', headers: { authorization: basic('alice', 'wonderland') } })).json().avatarId, 'alice')
})

t.test('proxy mode: Proxy-Authorization in, 407 with Proxy-Authenticate out', async (t) => {
  const { app } = await buildApp({ proxy: true })
  const refused = await app.inject({ url: '/whoami' })
  t.equal(refused.statusCode, 407)
  t.equal(refused.headers['proxy-authenticate'], CHALLENGE)
  t.equal(refused.headers['www-authenticate'], undefined)
  t.equal(refused.json().error, 'Proxy Authentication Required')
  const ignored = await app.inject({ url: '/whoami', headers: { authorization: basic('alice', 'wonderland') } })
  t.equal(ignored.statusCode, 407, 'Authorization is for the origin, not the proxy')
  const ok = await app.inject({ url: '/whoami', headers: { 'proxy-authorization': basic('alice', 'wonderland') } })
  t.equal(ok.json().avatarId, 'alice')
})

t.test('the mind option reaches the realm for each request', async (t) => {
  const IMindful = IUser
  const seen: unknown[] = []
  const app = Fastify()
  await app.register(cred, {
    realm: new SimpleRealm<{ ip: string }>().serve(IMindful, (id, mind) => { seen.push(mind); return { name: String(id) } }),
    checkers: [new MemoryChecker({ alice: 'wonderland' })],
    interfaces: [IMindful],
    mind: (request) => ({ ip: request.ip })
  })
  app.get('/', async (request) => request.avatarId)
  await app.inject({ url: '/', headers: { authorization: basic('alice', 'wonderland') } })
  t.same(seen, [{ ip: '127.0.0.1' }])
})

t.test('LoginDenied → 403; StoreUnavailable → 503 with Retry-After; both without a challenge', async (t) => {
  const denied = await buildApp({ realm: new SimpleRealm().serve(IUser, () => { throw new LoginDenied('over quota') }) })
  const res = await denied.app.inject({ url: '/whoami', headers: { authorization: basic('alice', 'wonderland') } })
  t.equal(res.statusCode, 403)
  t.equal(res.headers['www-authenticate'], undefined)
  t.equal(res.json().code, 'ERR_CRED_LOGIN_DENIED')

  const down: CredentialsChecker<IUsernamePassword> = {
    credentialInterfaces: [IUsernamePassword],
    requestAvatarId: async () => { throw new StoreUnavailable('connect ECONNREFUSED 127.0.0.1:5432') }
  }
  const outage = await buildApp({ checkers: [down] })
  const unavailable = await outage.app.inject({ url: '/whoami', headers: { authorization: basic('alice', 'wonderland') } })
  t.equal(unavailable.statusCode, 503, 'fail closed: neither 200 nor a misleading 401')
  t.equal(unavailable.headers['retry-after'], '5')
  t.equal(unavailable.json().code, 'ERR_CRED_STORE_UNAVAILABLE')
  t.notMatch(unavailable.body, /5432|ECONNREFUSED/, 'store details stay in the log')
  t.ok(outage.logs.lines.some((l) => l.level === 40 && JSON.stringify(l).includes('ECONNREFUSED')), 'the outage is logged as a warning')
})

t.test('test_unexpectedLoginError: a checker bug → 500, logged, no secret in body or log', async (t) => {
  const buggy: CredentialsChecker<IUsernamePassword> = {
    credentialInterfaces: [IUsernamePassword],
    requestAvatarId: (creds) => { throw new TypeError(`cannot read properties of undefined (user ${creds.username})`) }
  }
  const { app, logs } = await buildApp({ checkers: [buggy] })
  const res = await app.inject({ url: '/whoami', headers: { authorization: basic('alice', 'hunter2-secret') } })
  t.equal(res.statusCode, 500)
  t.same(res.json(), { statusCode: 500, code: 'ERR_CRED_INTERNAL', error: 'Internal Server Error', message: 'Internal Server Error' })
  const errors = logs.lines.filter((l) => l.level === 50)
  t.equal(errors.length, 1, 'logged once as an error')
  t.match(JSON.stringify(errors[0]), /cannot read properties/)
  t.notMatch(logs.text, /hunter2-secret/, 'the password is in no log line')
  t.notMatch(res.body, /hunter2|cannot read/)
})

t.test('test_unexpectedDecodeError: a scheme that fails unexpectedly → 500 and logged', async (t) => {
  const broken: HttpAuthScheme = {
    name: 'broken',
    challenges: () => ['Broken realm="x"'],
    credentials: () => { throw new RangeError('decoder exploded') }
  }
  const { app, logs } = await buildApp({ schemes: [broken, 'basic'] })
  const res = await app.inject({ url: '/whoami', headers: { authorization: 'Broken abc' } })
  t.equal(res.statusCode, 500)
  t.ok(logs.lines.some((l) => l.level === 50 && JSON.stringify(l).includes('decoder exploded')))
  const refused = await app.inject({ url: '/whoami' })
  t.same(refused.headers['www-authenticate'], ['Broken realm="x"', CHALLENGE], 'challenges in the order of `schemes`')
})

t.test('async checkers and realms work through the same path', async (t) => {
  const slow: CredentialsChecker<IUsernamePassword> = {
    credentialInterfaces: [IUsernamePassword],
    requestAvatarId: async (creds) => {
      await new Promise((resolve) => setTimeout(resolve, 5))
      if (creds.checkPassword('later')) return creds.username
      throw new (await import('../../lib/index.js')).UnauthorizedLogin('no')
    }
  }
  const { app } = await buildApp({ checkers: [slow], realm: new SimpleRealm().serve(IUser, async (id) => ({ name: String(id) })) })
  t.equal((await app.inject({ url: '/whoami', headers: { authorization: basic('bob', 'later') } })).json().avatarId, 'bob')
  t.equal((await app.inject({ url: '/whoami', headers: { authorization: basic('bob', 'now') } })).statusCode, 401)
})

t.test('the portal is shared: another protocol logs in through fastify.portal', async (t) => {
  const { app } = await buildApp()
  await app.ready()
  const result = await app.portal.login(new UsernamePassword('alice', 'wonderland'), null, IUser)
  t.equal(result.avatarId, 'alice')
})

t.test('a login that never answers is a 503 after loginTimeout; one that answers late is logged out', async (t) => {
  const never: CredentialsChecker<IUsernamePassword> = { credentialInterfaces: [IUsernamePassword], requestAvatarId: () => new Promise<string>(() => {}) }
  const hanging = await buildApp({ checkers: [never], loginTimeout: 50 })
  const res = await hanging.app.inject({ url: '/whoami', headers: { authorization: basic('alice', 'wonderland') } })
  t.equal(res.statusCode, 503)
  t.equal(res.json().code, 'ERR_CRED_LOGIN_TIMEOUT', 'a timeout of its own, which blames no store')
  t.equal(res.headers['retry-after'], '5')
  t.ok(hanging.logs.lines.some((l) => l.level === 40 && JSON.stringify(l).includes('within 50 ms')), 'logged as a warning')

  // A checker that answers after the deadline: the realm is never asked, so nothing is handed out.
  let answer!: (id: string) => void
  const late: CredentialsChecker<IUsernamePassword> = { credentialInterfaces: [IUsernamePassword], requestAvatarId: () => new Promise<string>((resolve) => { answer = resolve }) }
  let avatarsMade = 0
  const countingRealm = new SimpleRealm().serve(IUser, (id) => { avatarsMade++; return { name: String(id) } })
  const slow = await buildApp({ checkers: [late], realm: countingRealm, loginTimeout: 50 })
  t.equal((await slow.app.inject({ url: '/whoami', headers: { authorization: basic('alice', 'wonderland') } })).statusCode, 503)
  answer('alice')
  await new Promise((resolve) => setTimeout(resolve, 10))
  t.equal(avatarsMade, 0, 'a login past its deadline never reaches the realm')

  // A realm that answers after the deadline: its avatar is released at once.
  let handOut!: () => void
  const slowRealm = new SimpleRealm().serve(IUser, async (id) => { await new Promise<void>((resolve) => { handOut = resolve }); return { name: String(id) } }, (user) => { slowRealmLogouts.push(user.name) })
  const slowRealmLogouts: string[] = []
  const lateRealm = await buildApp({ realm: slowRealm, loginTimeout: 50 })
  t.equal((await lateRealm.app.inject({ url: '/whoami', headers: { authorization: basic('alice', 'wonderland') } })).statusCode, 503)
  t.same(slowRealmLogouts, [])
  handOut()
  await new Promise((resolve) => setTimeout(resolve, 10))
  t.same(slowRealmLogouts, ['alice'], 'the avatar handed out after the deadline was released at once')

  const patient = await buildApp({ checkers: [never], loginTimeout: 0 })
  const pending = patient.app.inject({ url: '/whoami', headers: { authorization: basic('alice', 'wonderland') } })
  const first = await Promise.race([pending.then(() => 'answered'), new Promise((resolve) => setTimeout(() => resolve('still waiting'), 100))])
  t.equal(first, 'still waiting', 'loginTimeout: 0 waits as long as the checker does')
  await patient.app.close()
})

t.test('AnonymousChecker registered later on fastify.portal takes effect', async (t) => {
  const { app } = await buildApp()
  await app.ready()
  t.equal((await app.inject({ url: '/whoami' })).statusCode, 401)
  app.portal.registerChecker(new AnonymousChecker())
  const res = await app.inject({ url: '/whoami' })
  t.equal(res.statusCode, 200)
  t.equal(res.json().avatarId, undefined, 'ANONYMOUS is a symbol, which JSON leaves out')
})
