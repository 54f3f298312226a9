// Login metrics through prom-client, scraped from a real /metrics route of a listening server after real HTTP
// requests: counters and the duration histogram per protocol, scheme and outcome.
import t from 'tap'
import { Registry } from 'prom-client'
import { credMetrics } from '../../lib/index.js'
import { overrideDriver } from '../../lib/drivers/index.js'
import { basic, buildApp } from '../helpers/app.js'
import { secret } from '../helpers/hygiene.js'

const WRONG = 'not-the-password-42'
secret(WRONG)

/** The value of one sample line of a Prometheus text exposition (`name{labels} value`), or undefined. */
function sample (text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `))
  return line === undefined ? undefined : Number(line.slice(series.length + 1))
}

async function eventually (predicate: () => Promise<boolean>, ms = 2000): Promise<void> {
  const until = Date.now() + ms
  while (!await predicate()) {
    if (Date.now() > until) throw new Error('timed out waiting')
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

t.test('the metrics option: /metrics counts logins by scheme and outcome, with their durations', async (t) => {
  const registry = new Registry()
  const { app } = await buildApp({ schemes: ['basic', 'digest'], metrics: { registry, prefix: 'cred_' } })
  app.get('/metrics', { config: { cred: false } }, async (_request, reply) => reply.type(registry.contentType).send(await registry.metrics()))
  const address = await app.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(() => app.close())
  const get = async (path: string, authorization?: string): Promise<Response> =>
    await fetch(`${address}${path}`, { headers: authorization === undefined ? {} : { authorization } })

  t.equal((await get('/whoami', basic('alice', 'wonderland'))).status, 200)
  t.equal((await get('/whoami', basic('alice', 'wonderland'))).status, 200)
  t.equal((await get('/whoami', basic('alice', WRONG))).status, 401)
  t.equal((await get('/whoami', 'Digest garbage')).status, 400)
  t.equal((await get('/whoami')).status, 401, 'no credentials: not a login')

  let text = ''
  await eventually(async () => {
    const res = await get('/metrics')
    text = await res.text()
    return sample(text, 'cred_logouts_total{protocol="http",scheme="basic"}') === 2
  })
  t.equal(sample(text, 'cred_logins_total{protocol="http",scheme="basic",outcome="succeeded"}'), 2)
  t.equal(sample(text, 'cred_logins_total{protocol="http",scheme="basic",outcome="failed"}'), 1)
  t.equal(sample(text, 'cred_logins_total{protocol="http",scheme="digest",outcome="failed"}'), 1)
  t.equal(sample(text, 'cred_login_failures_total{protocol="http",scheme="basic",reason="credentials"}'), 1)
  t.equal(sample(text, 'cred_login_failures_total{protocol="http",scheme="digest",reason="malformed"}'), 1)
  t.equal(sample(text, 'cred_login_duration_seconds_count{protocol="http",scheme="basic",outcome="succeeded"}'), 2)
  t.equal(sample(text, 'cred_login_duration_seconds_bucket{le="+Inf",protocol="http",scheme="basic",outcome="succeeded"}'), 2)
  t.ok((sample(text, 'cred_login_duration_seconds_sum{protocol="http",scheme="basic",outcome="succeeded"}') ?? -1) >= 0)
  t.notMatch(text, /outcome="(throttled|unavailable)"/, 'no outcome that did not happen')
})

t.test('two apps counting into one registry count each login once; closing the last stops counting', async (t) => {
  const registry = new Registry()
  const one = await buildApp({ metrics: { registry } })
  const two = await buildApp({ metrics: { registry } })
  const succeeded = async (): Promise<number | undefined> =>
    sample(await registry.metrics(), 'fastify_cred_logins_total{protocol="http",scheme="basic",outcome="succeeded"}')
  t.equal((await one.app.inject({ url: '/whoami', headers: { authorization: basic('alice', 'wonderland') } })).statusCode, 200)
  t.equal(await succeeded(), 1, 'one login, counted once')
  await one.app.close()
  await two.app.inject({ url: '/whoami', headers: { authorization: basic('alice', 'wonderland') } })
  t.equal(await succeeded(), 2, 'still counted while one app uses the registry')
  await two.app.close()
  const three = await buildApp()
  t.teardown(() => three.app.close())
  await three.app.inject({ url: '/whoami', headers: { authorization: basic('alice', 'wonderland') } })
  t.equal(await succeeded(), 2, 'nobody counts once both are closed')
})

t.test('credMetrics: bad options are InvalidOption; without prom-client, MissingPeerDependency naming it', async (t) => {
  await t.rejects(credMetrics({ prefix: 'bad prefix' }), { code: 'ERR_CRED_INVALID_OPTION' })
  await t.rejects(credMetrics({ buckets: [] }), { code: 'ERR_CRED_INVALID_OPTION' })
  const restore = overrideDriver('prom-client', async () => { throw Object.assign(new Error("Cannot find package 'prom-client'"), { code: 'ERR_MODULE_NOT_FOUND' }) })
  t.teardown(restore)
  await t.rejects(credMetrics(), { code: 'ERR_CRED_MISSING_PEER_DEPENDENCY', message: /npm install prom-client/ })
  await t.rejects(buildApp({ metrics: true }), { code: 'ERR_CRED_MISSING_PEER_DEPENDENCY' }, 'the plugin refuses to register')
})
