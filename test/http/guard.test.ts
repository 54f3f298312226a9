// The guard on its own: no Fastify anywhere in this file (the layers below lib/fastify never import it).
import t from 'tap'
import {
  ANONYMOUS, IUsernameDigestHash, IUsernamePassword, LoginDenied, Portal, SimpleRealm, StoreUnavailable,
  UnauthorizedLogin, defineInterface
} from '../../lib/index.js'
import { AnonymousChecker, MemoryChecker } from '../../lib/checkers/index.js'
import { BasicScheme, DigestScheme, HttpAuthGuard, formatBasic } from '../../lib/http/index.js'
import { ContractViolation, InvalidOption, LoginTimeout, NoAvatarInterface } from '../../lib/cred/index.js'
import type { CheckerSetup, CredentialsChecker, IUsernameDigestHash as DigestCreds } from '../../lib/index.js'
import type { GuardOutcome, GuardRefusal, GuardRequest, HttpAuthScheme } from '../../lib/http/index.js'
import { digestAuthorization, pickDigestChallenge } from '../../lib/client/index.js'
import type { Test } from 'tap'

interface User { readonly name: string }
const IUser = defineInterface<User>('IUser')
const SECRET = 'guard test secret, sixteen bytes or more'

/** A realm that counts what it hands out and what comes back. */
function countingRealm (): { realm: SimpleRealm, made: string[], released: string[] } {
  const made: string[] = []
  const released: string[] = []
  const realm = new SimpleRealm().serve(IUser, (id) => { made.push(String(id)); return { name: String(id) } }, (user) => { released.push(user.name) })
  return { realm, made, released }
}

const get = (headers: GuardRequest['headers'] = {}, url = '/'): GuardRequest => ({ method: 'GET', url, headers })

function refused (t: Test, outcome: GuardOutcome | Promise<GuardOutcome>): GuardRefusal {
  if (outcome instanceof Promise) throw new Error('expected a synchronous outcome')
  t.equal(outcome.kind, 'refused')
  return outcome as GuardRefusal
}

t.test('Basic with a synchronous checker and realm: a synchronous outcome with the avatar', async (t) => {
  const { realm, made } = countingRealm()
  const guard = new HttpAuthGuard({ portal: new Portal(realm, [new MemoryChecker({ alice: 'wonderland' })]), schemes: [new BasicScheme('api')], interfaces: [IUser] })
  const outcome = guard.authenticate(get({ authorization: formatBasic('alice', 'wonderland') }), null)
  t.notOk(outcome instanceof Promise, 'no promise on the synchronous path')
  if (outcome instanceof Promise || outcome.kind !== 'accepted') throw new Error('not accepted')
  t.equal(outcome.avatarId, 'alice')
  t.same(outcome.avatar, { name: 'alice' })
  t.equal(outcome.interface, IUser)
  t.equal(outcome.headers, undefined)
  t.same(made, ['alice'])
})

t.test('every failure maps to one answer, in one place', async (t) => {
  const failing = (err: unknown): CredentialsChecker => ({ credentialInterfaces: [IUsernamePassword], requestAvatarId: () => { throw err } })
  const cases: Array<[string, unknown, number, string, boolean, string | undefined]> = [
    ['wrong password', new UnauthorizedLogin('no'), 401, 'ERR_CRED_UNAUTHORIZED', true, undefined],
    ['realm refuses', new LoginDenied('quota'), 403, 'ERR_CRED_LOGIN_DENIED', false, undefined],
    ['store down', new StoreUnavailable('db down'), 503, 'ERR_CRED_STORE_UNAVAILABLE', false, 'warn'],
    ['too slow', new LoginTimeout('slow'), 503, 'ERR_CRED_LOGIN_TIMEOUT', false, 'warn'],
    ['a bug', new TypeError('oops, secret=hunter2'), 500, 'ERR_CRED_INTERNAL', false, 'error'],
    ['a checker throwing a string', 'a string', 500, 'ERR_CRED_INTERNAL', false, 'error']
  ]
  for (const [what, err, status, code, challenged, logLevel] of cases) {
    const guard = new HttpAuthGuard({ portal: new Portal(countingRealm().realm, [failing(err)]), schemes: [new BasicScheme('api')], interfaces: [IUser] })
    const refusal = refused(t, guard.authenticate(get({ authorization: formatBasic('alice', 'pw') }), null))
    t.equal(refusal.status, status, `${what}: status`)
    t.equal(refusal.code, code, `${what}: code`)
    t.same(refusal.challenges.length > 0, challenged, `${what}: challenges`)
    t.equal(refusal.retryAfter, status === 503 ? '5' : undefined, `${what}: Retry-After`)
    t.equal(refusal.logLevel, logLevel, `${what}: log level`)
    t.match(JSON.parse(refusal.body), { statusCode: status, code, message: refusal.message }, `${what}: body`)
    t.notMatch(refusal.body, /hunter2|oops|a string/, `${what}: nothing internal in the body`)
  }
  const thrown = refused(t, new HttpAuthGuard({ portal: new Portal(countingRealm().realm, [failing('a string')]), schemes: [new BasicScheme('api')], interfaces: [IUser] })
    .authenticate(get({ authorization: formatBasic('alice', 'pw') }), null))
  t.ok(thrown.error instanceof ContractViolation, 'a thrown string becomes a ContractViolation for the log')
})

t.test('no credentials, another scheme, malformed: 401, 401, 400 with the challenges of every scheme in order', async (t) => {
  const portal = new Portal(countingRealm().realm, [new MemoryChecker({ alice: 'pw' })])
  const guard = new HttpAuthGuard({ portal, schemes: [new DigestScheme({ authenticationRealm: 'api', secret: SECRET }), new BasicScheme('api')], interfaces: [IUser] })
  const none = refused(t, guard.authenticate(get(), null))
  t.equal(none.status, 401)
  t.same(JSON.parse(none.body), { statusCode: 401, code: 'ERR_CRED_UNAUTHORIZED', error: 'Unauthorized' }, 'the short body')
  t.equal(none.challenges.length, 3)
  t.match(none.challenges[0], /^Digest realm="api", qop="auth", algorithm=SHA-256/)
  t.equal(none.challenges[2], 'Basic realm="api", charset="UTF-8"')
  t.equal(refused(t, guard.authenticate(get({ authorization: 'Bearer abc' }), null)).status, 401)
  t.equal(refused(t, guard.authenticate(get({ authorization: 'Basic !!!' }), null)).status, 400)
  t.equal(guard.challengeHeader, 'WWW-Authenticate')
})

t.test('proxy mode: Proxy-Authorization in, 407 and Proxy-Authenticate out', async (t) => {
  const portal = new Portal(countingRealm().realm, [new MemoryChecker({ alice: 'pw' })])
  const guard = new HttpAuthGuard({ portal, schemes: [new BasicScheme('proxy')], interfaces: [IUser], proxy: true })
  t.equal(refused(t, guard.authenticate(get({ authorization: formatBasic('alice', 'pw') }), null)).status, 407, 'Authorization is not for the proxy')
  const ok = guard.authenticate(get({ 'proxy-authorization': formatBasic('alice', 'pw') }), null)
  t.equal((ok as GuardOutcome).kind, 'accepted')
  t.equal(guard.challengeHeader, 'Proxy-Authenticate')
})

t.test('anonymous access: no credentials log in as ANONYMOUS when a checker allows it', async (t) => {
  const portal = new Portal(countingRealm().realm, [new MemoryChecker({ alice: 'pw' })])
  const guard = new HttpAuthGuard({ portal, schemes: [new BasicScheme('api')], interfaces: [IUser] })
  t.equal(refused(t, guard.authenticate(get(), null)).status, 401)
  portal.registerChecker(new AnonymousChecker())
  const outcome = guard.authenticate(get(), null) as GuardOutcome
  t.equal(outcome.kind === 'accepted' ? outcome.avatarId : undefined, ANONYMOUS)
})

t.test('Digest: a replayed header is refused before the realm is asked; a forged one claims no nonce count', async (t) => {
  const { realm, made, released } = countingRealm()
  const digest = new DigestScheme({ authenticationRealm: 'api', secret: SECRET })
  t.teardown(() => digest.close())
  const guard = new HttpAuthGuard({ portal: new Portal(realm, [new MemoryChecker({ alice: 'wonderland' })]), schemes: [digest], interfaces: [IUser] })
  const challenge = pickDigestChallenge(refused(t, guard.authenticate(get(), null)).challenges.join(', '))
  if (challenge === undefined) throw new Error('no challenge')
  const forged = digestAuthorization(challenge, 'alice', 'wrong', { method: 'GET', uri: '/', nc: 1 }).authorization
  t.equal(refused(t, guard.authenticate(get({ authorization: forged }), null)).status, 401, 'forged: refused')
  const { authorization } = digestAuthorization(challenge, 'alice', 'wonderland', { method: 'GET', uri: '/', nc: 1 })
  const first = guard.authenticate(get({ authorization }), null) as GuardOutcome
  t.equal(first.kind, 'accepted', 'the forged response burnt no count: nc=1 still works for the real user')
  t.match(first.kind === 'accepted' ? first.headers?.['Authentication-Info'] : '', /rspauth="[0-9a-f]{64}"/)
  for (let i = 0; i < 200; i++) {
    const replay = refused(t, guard.authenticate(get({ authorization }), null))
    if (replay.status !== 401) t.fail(`replay ${i} answered ${replay.status}`)
  }
  t.same(made, ['alice'], '200 replays of one header made no avatar: the realm was asked once')
  t.same(released, [], 'and nothing had to be logged out')
})

t.test('an asynchronous login past loginTimeout is a LoginTimeout; a late avatar is logged out at once', async (t) => {
  let handOut!: () => void
  const released: string[] = []
  const realm = new SimpleRealm().serve(IUser, async (id) => { await new Promise<void>((resolve) => { handOut = resolve }); return { name: String(id) } }, (user) => { released.push(user.name) })
  const guard = new HttpAuthGuard({ portal: new Portal(realm, [new MemoryChecker({ alice: 'pw' })]), schemes: [new BasicScheme('api')], interfaces: [IUser], loginTimeout: 30 })
  const outcome = await guard.authenticate(get({ authorization: formatBasic('alice', 'pw') }), null)
  t.equal(outcome.kind, 'refused')
  const refusal = outcome as GuardRefusal
  t.equal(refusal.status, 503)
  t.ok(refusal.error instanceof LoginTimeout)
  t.match(String((refusal.error as Error).message), /within 30 ms/)
  handOut()
  await new Promise((resolve) => setTimeout(resolve, 10))
  t.same(released, ['alice'])
})

t.test('the deadline covers the whole login, not each step', async (t) => {
  const sleep = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }
  const checker: CredentialsChecker<IUsernamePassword> = {
    credentialInterfaces: [IUsernamePassword],
    requestAvatarId: async (creds) => { await sleep(40); return creds.username }
  }
  const realm = new SimpleRealm().serve(IUser, async (id) => { await sleep(40); return { name: String(id) } })
  const guard = new HttpAuthGuard({ portal: new Portal(realm, [checker]), schemes: [new BasicScheme('api')], interfaces: [IUser], loginTimeout: 60 })
  const outcome = await guard.authenticate(get({ authorization: formatBasic('alice', 'pw') }), null)
  t.equal(outcome.kind === 'refused' ? outcome.code : outcome.kind, 'ERR_CRED_LOGIN_TIMEOUT', 'two steps of 40 ms do not fit in 60 ms')
})

t.test('credentials that cover the body wait for it, through the scheme contract', async (t) => {
  const digest = new DigestScheme({ authenticationRealm: 'api', secret: SECRET, qop: ['auth-int'] })
  t.teardown(() => digest.close())
  const guard = new HttpAuthGuard({ portal: new Portal(countingRealm().realm, [new MemoryChecker({ alice: 'wonderland' })]), schemes: [digest], interfaces: [IUser] })
  t.same(guard.bodySchemes, [digest])
  const challenge = pickDigestChallenge(refused(t, guard.authenticate({ method: 'POST', url: '/', headers: {} }, null)).challenges.join(', '))
  if (challenge === undefined) throw new Error('no challenge')
  const body = new TextEncoder().encode('{"amount":100}')
  const { authorization } = digestAuthorization(challenge, 'alice', 'wonderland', { method: 'POST', uri: '/', nc: 1, body, qop: 'auth-int' })
  const request: GuardRequest = { method: 'POST', url: '/', headers: { authorization, 'content-length': String(body.length) } }
  t.ok(guard.bodyHasher(request) !== undefined, 'the guard offers a hasher for this request')
  const waiting = guard.authenticate(request, null) as GuardOutcome
  if (waiting.kind !== 'awaiting-body') throw new Error(`expected awaiting-body, got ${waiting.kind}`)
  const tampered = waiting.resume({ bytes: new TextEncoder().encode('{"amount":999}') }) as GuardOutcome
  t.equal(tampered.kind, 'refused', 'a changed body does not match the response')

  const second = digestAuthorization(challenge, 'alice', 'wonderland', { method: 'POST', uri: '/', nc: 2, body, qop: 'auth-int' })
  const again = guard.authenticate({ ...request, headers: { ...request.headers, authorization: second.authorization } }, null) as GuardOutcome
  if (again.kind !== 'awaiting-body') throw new Error('expected awaiting-body')
  t.equal((again.resume({ bytes: body }) as GuardOutcome).kind, 'accepted', 'the real body logs in')
})

t.test('set-up problems a checker reports stop the guard from being built', async (t) => {
  const seen: CheckerSetup[] = []
  const picky: CredentialsChecker<DigestCreds> = {
    credentialInterfaces: [IUsernameDigestHash],
    requestAvatarId: () => 'x',
    setupProblems: (setup) => {
      seen.push(setup)
      return setup.digestAlgorithms.filter((a) => a !== 'MD5').map((a) => `this file cannot verify ${a}`)
    }
  }
  const portal = new Portal(countingRealm().realm, [picky])
  const sha = new DigestScheme({ authenticationRealm: 'files', secret: SECRET })
  t.teardown(() => sha.close())
  t.throws(() => new HttpAuthGuard({ portal, schemes: [sha], interfaces: [IUser] }), { name: 'InvalidOption', message: /cannot verify SHA-256/ })
  t.same(seen[0], { authenticationRealm: 'files', digestAlgorithms: ['SHA-256', 'MD5'] })
  const md5 = new DigestScheme({ authenticationRealm: 'files', secret: SECRET, algorithms: ['MD5'] })
  t.teardown(() => md5.close())
  t.doesNotThrow(() => new HttpAuthGuard({ portal, schemes: [md5], interfaces: [IUser] }))
})

t.test('options are checked when the guard is built', async (t) => {
  const portal = new Portal(countingRealm().realm, [new MemoryChecker({ alice: 'pw' })])
  const basic = new BasicScheme('api')
  const bad: Array<[string, unknown, RegExp]> = [
    ['no portal', { schemes: [basic], interfaces: [IUser] }, /`portal` must be a Portal/],
    ['scheme not a scheme', { portal, schemes: [{}], interfaces: [IUser] }, /unknown scheme/],
    ['upper-case scheme', { portal, schemes: [{ name: 'Basic', challenges: () => [], credentials: () => { throw new Error('x') } } satisfies HttpAuthScheme], interfaces: [IUser] }, /lower-case/],
    ['no interfaces', { portal, schemes: [basic], interfaces: [] }, /`interfaces` must be a non-empty array/],
    ['bad timeout', { portal, schemes: [basic], interfaces: [IUser], loginTimeout: -5 }, /`loginTimeout`/]
  ]
  for (const [what, options, message] of bad) {
    t.throws(() => new HttpAuthGuard(options as ConstructorParameters<typeof HttpAuthGuard>[0]), { name: 'InvalidOption', message }, what)
  }
  t.ok(new InvalidOption('x') instanceof Error)
})

t.test('a realm bug is a 500 refusal, never an accepted login', async (t) => {
  const IOther = defineInterface<User>('IOther')
  const wrong = new SimpleRealm().serve(IOther, () => ({ name: 'x' }))
  const guard = new HttpAuthGuard({ portal: new Portal(wrong, [new MemoryChecker({ alice: 'pw' })]), schemes: [new BasicScheme('api')], interfaces: [IUser] })
  const refusal = refused(t, guard.authenticate(get({ authorization: formatBasic('alice', 'pw') }), null))
  t.equal(refusal.status, 500)
  t.ok(refusal.error instanceof NoAvatarInterface)
})

t.test('the guard never throws nor rejects: a scheme whose credentials break on the body is a 500 refusal', async (t) => {
  const IBroken = defineInterface<unknown>('IBroken')
  const broken: HttpAuthScheme = {
    name: 'broken',
    challenges: () => ['Broken'],
    credentials: async () => ({ provides: [IBroken], needsEntityBody: true, setEntityBody: () => { throw new TypeError('cannot take a body') } }),
    bodyHasher: () => undefined
  }
  const portal = new Portal(countingRealm().realm, [{ credentialInterfaces: [IBroken], requestAvatarId: () => 'x' } as unknown as CredentialsChecker])
  const guard = new HttpAuthGuard({ portal, schemes: [broken], interfaces: [IUser] })
  const outcome = await guard.authenticate({ method: 'POST', url: '/', headers: { authorization: 'Broken x', 'content-length': '3' } }, null, { hash: 'ab' })
  t.equal(outcome.kind, 'refused')
  t.equal((outcome as GuardRefusal).status, 500)
})
