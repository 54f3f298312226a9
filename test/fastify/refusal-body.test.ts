// The refusalBody option: the body of each refusal (401, 403, 429, 503, and 400, 500) shaped by the app's function,
// or made by Fastify's error handler; the status, the challenges and Retry-After exactly as with the default body;
// nothing of the credentials in any body (these apps take part in the suite's secrets hygiene: helpers/app.ts).
import type { LightMyRequestResponse } from 'fastify'
import t from 'tap'
import { LoginDenied, SimpleRealm, StoreUnavailable, IUsernamePassword } from '../../lib/index.js'
import type { CredPluginOptions, CredentialsChecker } from '../../lib/index.js'
import { MemoryChecker } from '../../lib/checkers/index.js'
import { MemoryThrottle } from '../../lib/throttle/index.js'
import { IUser, basic, buildApp } from '../helpers/app.js'
import { secret } from '../helpers/hygiene.js'

const PASSWORD = 'quoted-in-errors-7f3a'
secret(PASSWORD)

/** A checker whose failures quote the password: it must reach neither a body nor the app's refusalBody. */
const quoting = (fail: (password: string) => never): CredentialsChecker<IUsernamePassword> => ({
  credentialInterfaces: [IUsernamePassword],
  requestAvatarId: async (credentials) => fail((credentials as unknown as { password: string }).password)
})

interface Case {
  readonly name: string
  readonly status: number
  readonly options: Partial<CredPluginOptions>
  readonly authorization?: string
  /** Requests to send first (a throttle's failures). */
  readonly warmUp?: number
}

const cases: Case[] = [
  { name: 'no credentials', status: 401, options: {} },
  { name: 'a wrong password', status: 401, options: {}, authorization: basic('alice', PASSWORD) },
  { name: 'malformed credentials', status: 400, options: {}, authorization: 'Basic !!!not-base64' },
  { name: 'the realm denies', status: 403, options: { realm: new SimpleRealm().serve(IUser, () => { throw new LoginDenied(`no entry for ${PASSWORD}`) }) }, authorization: basic('alice', 'wonderland') },
  {
    name: 'too many attempts', status: 429, warmUp: 3, authorization: basic('alice', PASSWORD),
    options: { checkers: [new MemoryChecker({ alice: 'wonderland' })], throttle: new MemoryThrottle({ userThreshold: 3, baseDelay: 60_000 }) }
  },
  { name: 'the store is down', status: 503, options: { checkers: [quoting((p) => { throw new StoreUnavailable(`down while checking ${p}`) })] }, authorization: basic('alice', PASSWORD) },
  { name: 'a checker bug', status: 500, options: { checkers: [quoting((p) => { throw new Error(p) })] }, authorization: basic('alice', PASSWORD) }
]

async function refuse (c: Case, options: Partial<CredPluginOptions>, setUp?: (app: Awaited<ReturnType<typeof buildApp>>['app']) => void): Promise<LightMyRequestResponse> {
  // A throttle keeps its counts: each app gets its own.
  const own = c.options.throttle === undefined ? c.options : { ...c.options, throttle: new MemoryThrottle({ userThreshold: 3, baseDelay: 60_000 }) }
  const { app } = await buildApp({ ...own, ...options })
  setUp?.(app)
  t.teardown(async () => { await app.close() })
  const headers = c.authorization === undefined ? {} : { authorization: c.authorization }
  for (let i = 0; i < (c.warmUp ?? 0); i++) await app.inject({ url: '/whoami', headers })
  return await app.inject({ url: '/whoami', headers })
}

/** What must not change whatever the body: the status, the challenges, Retry-After. */
function headersOf (response: LightMyRequestResponse): unknown {
  return { status: response.statusCode, challenges: response.headers['www-authenticate'], retryAfter: response.headers['retry-after'] }
}

for (const c of cases) {
  t.test(`${c.name} (${c.status})`, async (t) => {
    const standard = await refuse(c, {})
    t.equal(standard.statusCode, c.status)
    t.equal(standard.headers['content-type'], 'application/json; charset=utf-8', 'the default body is JSON')
    const body = standard.json()
    t.equal(body.statusCode, c.status)
    t.match(body.code, /^ERR_CRED_/)
    if (c.status === 401) t.ok(standard.headers['www-authenticate'], 'a 401 carries the challenge')
    if (c.status === 429 || c.status === 503) t.ok(standard.headers['retry-after'], `a ${c.status} carries Retry-After`)

    const seen: unknown[] = []
    const shaped = await refuse(c, {
      refusalBody: (refusal, request, reply) => {
        seen.push(refusal)
        if (refusal.statusCode === 403) { void reply.type('text/html; charset=utf-8'); return '<h1>Access denied</h1>' }
        return { problem: refusal.code, status: refusal.statusCode, detail: refusal.message, url: request.url }
      }
    })
    t.same(headersOf(shaped), headersOf(standard), 'status, challenges and Retry-After as with the default body')
    t.equal(seen.length, 1 + (c.warmUp ?? 0), 'refusalBody was called once per refusal')
    const last = seen.at(-1) as { message: string }
    t.same(last, { statusCode: c.status, code: body.code, error: body.error, message: body.message ?? 'Authentication required', retryAfter: standard.headers['retry-after'] === undefined ? undefined : Number(standard.headers['retry-after']) },
      'it saw the default body\'s fields and Retry-After')
    if (c.status === 403) {
      t.equal(shaped.headers['content-type'], 'text/html; charset=utf-8', 'the type it set')
      t.equal(shaped.body, '<h1>Access denied</h1>')
    } else {
      t.same(shaped.json(), { problem: body.code, status: c.status, detail: last.message, url: '/whoami' }, 'its body')
    }

    const handled = await refuse(c, { refusalBody: 'error-handler' }, (app) => {
      app.setErrorHandler((error: Error & { statusCode?: number, code?: string }, _request, reply) => {
        void reply.code(error.statusCode ?? 500).send({ handledBy: 'the app', code: error.code, message: error.message, isError: error instanceof Error })
      })
    })
    t.same(headersOf(handled), headersOf(standard), "the app's error handler: status, challenges and Retry-After unchanged")
    t.same(handled.json(), { handledBy: 'the app', code: body.code, message: body.message ?? 'Authentication required', isError: true })

    const fastifyDefault = await refuse(c, { refusalBody: 'error-handler' })
    t.same(headersOf(fastifyDefault), headersOf(standard), "Fastify's own error handler: the same")
    t.same(fastifyDefault.json(), { statusCode: c.status, code: body.code, error: body.error, message: body.message ?? 'Authentication required' })

    for (const response of [standard, shaped, handled, fastifyDefault]) t.notMatch(response.body, PASSWORD, 'no password in the body')
  })
}

t.test('an async refusalBody; one that throws or rejects: logged, and the default body goes out', async (t) => {
  const asynchronous = await buildApp({ refusalBody: async (refusal) => await Promise.resolve(`refused: ${refusal.code}`) })
  const later = await asynchronous.app.inject('/whoami')
  t.equal(later.statusCode, 401)
  t.equal(later.body, 'refused: ERR_CRED_UNAUTHORIZED')

  for (const refusalBody of [() => { throw new Error('template missing') }, async () => { throw new Error('template missing') }]) {
    const { app, logs } = await buildApp({ refusalBody })
    const response = await app.inject('/whoami')
    t.equal(response.statusCode, 401, 'still the refusal')
    t.match(response.headers['www-authenticate'], /^Basic realm=/)
    t.same(response.json(), { statusCode: 401, code: 'ERR_CRED_UNAUTHORIZED', error: 'Unauthorized' })
    t.ok(logs.lines.some((l) => l.level === 50 && JSON.stringify(l).includes('template missing')), 'logged as an error')
  }
})

t.test('a refusalBody that sends the reply itself', async (t) => {
  const { app, logs } = await buildApp({ refusalBody: (_refusal, _request, reply) => { void reply.send('sent by the app') } })
  const response = await app.inject('/whoami')
  t.equal(response.statusCode, 401)
  t.equal(response.body, 'sent by the app')
  t.notOk(logs.lines.some((l) => (l.level as number) >= 40), 'no "reply already sent" warning')
})

t.test("'json' is the default; anything else is refused when the plugin is registered", async (t) => {
  const { app } = await buildApp({ refusalBody: 'json' })
  t.same((await app.inject('/whoami')).json(), { statusCode: 401, code: 'ERR_CRED_UNAUTHORIZED', error: 'Unauthorized' })
  for (const wrong of ['html', 42, null]) {
    await t.rejects(async () => { await buildApp({ refusalBody: wrong as unknown as 'json' }) }, { code: 'ERR_CRED_INVALID_OPTION', message: /`refusalBody` must be 'json', 'error-handler' or a function/ })
  }
})
