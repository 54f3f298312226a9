// credFetch against servers that lie, offer weak challenges, or redirect: the three client findings of issue 17.
// Real servers: the fastify-cred plugin itself, plus a tiny node:http server for the lies (fault injection).
import { createServer } from 'node:http'
import type { IncomingHttpHeaders } from 'node:http'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import type { Test } from 'tap'
import { InvalidOption, ServerAuthenticationFailed } from '../../lib/cred/index.js'
import { credFetch } from '../../lib/client/index.js'
import { parseAuthenticationInfo, parseDigest } from '../../lib/http/index.js'
import type { CredPluginOptions } from '../../lib/index.js'
import type { CredFetchOptions, FetchLike } from '../../lib/client/index.js'
import type { DigestPluginOptions, SchemeName } from '../../lib/http/index.js'
import { buildApp } from '../helpers/app.js'

const SECRET = 'client hardening secret, 16+ bytes'
const alice = { username: 'alice', password: 'wonderland' }

interface Seen { readonly url: string, readonly method: string, readonly authorization: string | undefined }

/** A listening plugin app with redirecting routes; records every request it receives. */
async function plugin (t: Test, digest: DigestPluginOptions = {}, schemes: SchemeName[] = ['digest'], extra: Partial<CredPluginOptions> = {}): Promise<{ url: string, seen: Seen[] }> {
  const { app } = await buildApp({ schemes, digest: { secret: SECRET, ...digest }, ...extra })
  const seen: Seen[] = []
  app.addHook('onRequest', async (request) => { seen.push({ url: request.url, method: request.method, authorization: request.headers.authorization }) })
  app.post('/echo', async (request) => ({ avatarId: request.avatarId, body: request.body }))
  app.get('/old', async (_request, reply) => await reply.redirect('/whoami?from=old', 302))
  app.get('/chain', async (_request, reply) => await reply.redirect('/old', 301))
  app.get('/loop', async (_request, reply) => await reply.redirect('/loop', 302))
  app.post('/move307', async (_request, reply) => await reply.redirect('/echo', 307))
  app.post('/move303', async (_request, reply) => await reply.redirect('/whoami?from=303', 303))
  app.get('/away', async (request, reply) => await reply.redirect((request.query as { to: string }).to, 302))
  await app.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(() => app.close())
  return { url: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`, seen }
}

/**
 * A server that challenges like a Digest server and then lies, by path: `/no-info` (200 without
 * Authentication-Info), `/no-rspauth` (Authentication-Info without rspauth), `/forged` (a wrong rspauth),
 * `/redirect` (302 to `/landing`, unsigned), `/unavailable` (503, unsigned), anything else: 401 again. Its challenge
 * can be replaced per request with `?challenge=…`.
 */
async function startLiar (): Promise<{ url: string, seen: Array<{ url: string, headers: IncomingHttpHeaders }> }> {
  const seen: Array<{ url: string, headers: IncomingHttpHeaders }> = []
  const server = createServer((request, response) => {
    seen.push({ url: request.url ?? '', headers: request.headers })
    const url = new URL(request.url ?? '/', 'http://x')
    const challenge = url.searchParams.get('challenge') ?? 'Digest realm="liar", qop="auth", algorithm=SHA-256, nonce="abc", opaque="def"'
    const authorization = request.headers.authorization
    if (authorization === undefined) {
      response.writeHead(401, { 'www-authenticate': challenge }).end()
      return
    }
    const { nc, cnonce } = parseDigest(authorization)
    const echo = `qop=auth, nc=${nc ?? ''}, cnonce="${cnonce ?? ''}"`
    switch (url.pathname) {
      case '/no-info': response.writeHead(200).end('trust me'); return
      case '/no-rspauth': response.writeHead(200, { 'authentication-info': echo }).end('trust me'); return
      case '/forged': response.writeHead(200, { 'authentication-info': `rspauth="${'0'.repeat(64)}", ${echo}` }).end('trust me'); return
      case '/redirect': response.writeHead(302, { location: '/landing' }).end(); return
      case '/unavailable': response.writeHead(503, { 'retry-after': '1' }).end(); return
      default: response.writeHead(401, { 'www-authenticate': challenge }).end()
    }
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { server.close() })
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen }
}
const liar = await startLiar()
const liarServer = async (): Promise<typeof liar> => await Promise.resolve(liar)

const digestOf = (seen: Seen | undefined): ReturnType<typeof parseDigest> => parseDigest(seen?.authorization ?? '')

t.test('mutual authentication is required by default: a missing or rspauth-less Authentication-Info rejects', async (t) => {
  const real = await plugin(t)
  const ok = await credFetch(alice)(`${real.url}/whoami`)
  t.equal(ok.status, 200, 'the plugin proves itself')
  t.ok(parseAuthenticationInfo(ok.headers.get('authentication-info') ?? '')?.rspauth, 'with rspauth')

  const { url } = await liarServer()
  const api = credFetch(alice)
  await t.rejects(api(`${url}/no-info`), ServerAuthenticationFailed, 'no Authentication-Info')
  await t.rejects(api(`${url}/no-rspauth`), { name: 'ServerAuthenticationFailed', code: 'ERR_CRED_SERVER_AUTHENTICATION_FAILED', message: /did not prove/ }, 'no rspauth')
  await t.rejects(api(`${url}/forged`), { name: 'ServerAuthenticationFailed', message: /does not match/ }, 'a forged rspauth')

  // A man in the middle that strips Authentication-Info from the real server's answers.
  const stripping: FetchLike = async (input, init) => {
    const res = await fetch(input, init)
    const headers = new Headers(res.headers)
    headers.delete('authentication-info')
    return new Response(await res.arrayBuffer(), { status: res.status, headers })
  }
  await t.rejects(credFetch({ ...alice, fetch: stripping })(`${real.url}/whoami`), ServerAuthenticationFailed, 'stripped on the way')

  // A man in the middle that replays the first genuine Authentication-Info on later answers: rspauth covers the
  // client's own cnonce and nonce count, so an old one proves nothing.
  let recorded: string | null = null
  const replaying: FetchLike = async (input, init) => {
    const res = await fetch(input, init)
    if (res.status !== 200) return res
    recorded ??= res.headers.get('authentication-info')
    const headers = new Headers(res.headers)
    headers.set('authentication-info', recorded ?? '')
    return new Response(await res.arrayBuffer(), { status: res.status, headers })
  }
  const replayed = credFetch({ ...alice, fetch: replaying })
  t.equal((await replayed(`${real.url}/whoami`)).status, 200, 'the first answer is genuine')
  await t.rejects(replayed(`${real.url}/whoami`), { name: 'ServerAuthenticationFailed', message: /does not match/ }, 'a replayed rspauth')

  const unavailable = await api(`${url}/unavailable`)
  t.equal(unavailable.status, 503, 'an error status claims nothing: handed back as it is')
})

t.test("mutual: 'verify-if-present' accepts a missing rspauth but never a wrong one; 'off' checks nothing", async (t) => {
  const { url } = await liarServer()
  const lenient = credFetch({ ...alice, mutual: 'verify-if-present' })
  t.equal((await lenient(`${url}/no-info`)).status, 200)
  t.equal((await lenient(`${url}/no-rspauth`)).status, 200)
  await t.rejects(lenient(`${url}/forged`), ServerAuthenticationFailed)
  t.equal((await credFetch({ ...alice, mutual: 'off' })(`${url}/forged`)).status, 200)
})

t.test('a redirect the server did not sign is not followed', async (t) => {
  const { url, seen } = await liarServer()
  const before = seen.length
  await t.rejects(credFetch(alice)(`${url}/redirect`), ServerAuthenticationFailed)
  t.same(seen.slice(before).map((s) => s.url), ['/redirect', '/redirect'], '/landing was never asked for')
})

t.test("under 'require', a challenge that cannot yield rspauth (auth-int only) is not answered", async (t) => {
  const { url, seen } = await plugin(t, { qop: ['auth-int'], algorithms: ['SHA-256'] })
  await t.rejects(credFetch(alice)(`${url}/whoami`), { name: 'ServerAuthenticationFailed', message: /auth-int only/ })
  t.same(seen.map((s) => s.authorization), [undefined], 'nothing derived from the password was sent')
  t.equal((await credFetch({ ...alice, mutual: 'verify-if-present' })(`${url}/whoami`)).status, 200, 'unless asked for')
})

t.test('contradictory options are refused at set-up', async (t) => {
  const bad: Array<[string, Partial<CredFetchOptions>]> = [
    ['auth-int under require', { qop: 'auth-int' }],
    ['RFC 2069 under require', { allowRfc2069: true }],
    ['RFC 2069 under require, said explicitly', { allowRfc2069: true, mutual: 'require' }],
    ['MD5 listed without allowMd5', { algorithms: ['SHA-256', 'MD5'] }],
    ['MD5-sess listed without allowMd5', { algorithms: ['MD5-sess'] }],
    ['an unknown mutual mode', { mutual: 'sometimes' as 'require' }],
    ['verifyServer: false with mutual', { verifyServer: false, mutual: 'require' }],
    ['negative maxRedirects', { maxRedirects: -1 }]
  ]
  for (const [name, options] of bad) t.throws(() => credFetch({ ...alice, ...options }), InvalidOption, name)
  t.doesNotThrow(() => credFetch({ ...alice, qop: 'auth-int', mutual: 'verify-if-present', allowRfc2069: true, allowMd5: true, algorithms: ['MD5'] }))
})

t.test('MD5 challenges are refused unless allowMd5, before anything derived from the password is sent', async (t) => {
  for (const algorithm of ['MD5', 'MD5-sess'] as const) {
    const { url, seen } = await plugin(t, { algorithms: [algorithm] })
    await t.rejects(credFetch(alice)(`${url}/whoami`), { name: 'ServerAuthenticationFailed', message: new RegExp(`algorithm=${algorithm} \\(set allowMd5: true`) }, algorithm)
    t.same(seen.map((s) => s.authorization), [undefined], `${algorithm}: only the unauthenticated request`)
    const res = await credFetch({ ...alice, allowMd5: true })(`${url}/whoami`)
    t.equal(res.status, 200, `${algorithm} with allowMd5`)
    t.equal(digestOf(seen.at(-1)).algorithm, algorithm)
  }
  // A server (or a man in the middle) listing MD5 first: the client skips it for the strong one.
  const { url, seen } = await plugin(t, { algorithms: ['MD5', 'SHA-256'] })
  t.equal((await credFetch(alice)(`${url}/whoami`)).status, 200)
  t.equal(digestOf(seen.at(-1)).algorithm, 'SHA-256', 'MD5 offered first, SHA-256 answered')
  t.equal((await credFetch({ ...alice, allowMd5: true })(`${url}/whoami`)).status, 200)
  t.equal(digestOf(seen.at(-1)).algorithm, 'MD5', 'with allowMd5 the server\'s order holds')
})

t.test('RFC 2069 challenges (no qop) are refused unless allowRfc2069', async (t) => {
  const { url, seen } = await plugin(t, { qop: [], legacyRfc2069: true })
  await t.rejects(credFetch(alice)(`${url}/whoami`), { name: 'ServerAuthenticationFailed', message: /RFC 2069 .*allowRfc2069: true/ })
  t.same(seen.map((s) => s.authorization), [undefined])
  const legacy = credFetch({ ...alice, allowRfc2069: true, mutual: 'verify-if-present' })
  t.equal((await legacy(`${url}/whoami`)).status, 200)
  const sent = digestOf(seen.at(-1))
  t.equal(sent.qop, undefined, 'answered without qop')
  t.equal(sent.nc, undefined)
  t.equal((await legacy(`${url}/whoami`)).status, 200, 'the one-shot nonce is renewed by the retry')
})

t.test('a refused Digest challenge falls back to Basic only where Basic is allowed (loopback, https)', async (t) => {
  const { url, seen } = await plugin(t, { algorithms: ['MD5'] }, ['digest', 'basic'])
  t.equal((await credFetch(alice)(`${url}/whoami`)).status, 200)
  t.match(seen.at(-1)?.authorization, /^Basic /)
  await t.rejects(credFetch({ ...alice, basic: false })(`${url}/whoami`), ServerAuthenticationFailed, 'basic: false')
})

t.test('Digest across same-origin redirects: a header per hop, one nonce, rising nc', async (t) => {
  const { url, seen } = await plugin(t)
  const api = credFetch(alice)
  const res = await api(`${url}/old`)
  t.equal(res.status, 200)
  t.same(await res.json(), { avatarId: 'alice', name: 'alice', interface: 'IUser' })
  t.equal(res.redirected, true)
  t.equal(res.url, `${url}/whoami?from=old`)
  t.same(seen.map((s) => s.url), ['/old', '/old', '/whoami?from=old'])
  const hops = seen.slice(1).map(digestOf)
  t.same(hops.map((h) => h.uri), ['/old', '/whoami?from=old'], 'each hop signs its own uri')
  t.same(hops.map((h) => h.nc), ['00000001', '00000002'])
  t.equal(hops[1]?.nonce, hops[0]?.nonce, 'the nonce is reused')

  seen.length = 0
  const chain = await api(`${url}/chain`)
  t.equal(chain.status, 200)
  t.same(seen.map((s) => s.url), ['/chain', '/old', '/whoami?from=old'], 'no new challenge on the way')
  t.same(seen.map((s) => digestOf(s).nc), ['00000003', '00000004', '00000005'])

  seen.length = 0
  const moved = await api(`${url}/move307`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ n: 1 }) })
  t.equal(moved.status, 200)
  t.same(await moved.json(), { avatarId: 'alice', body: { n: 1 } }, '307: method and body kept')
  t.same(seen.map((s) => `${s.method} ${digestOf(s).uri ?? ''}`), ['POST /move307', 'POST /echo'])

  const blob = await api(`${url}/move307`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: new Blob(['blob']) })
  t.same(await blob.json(), { avatarId: 'alice', body: 'blob' }, '307: a Blob is sent again')
  const stream = new ReadableStream({ start (controller) { controller.enqueue(new TextEncoder().encode('once')); controller.close() } })
  await t.rejects(api(`${url}/move307`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: stream, duplex: 'half' } as RequestInit),
    { name: 'TypeError', message: /sent only once/ }, '307: a stream cannot be sent twice')

  seen.length = 0
  const other = await api(`${url}/move303`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ n: 1 }) })
  t.equal(other.status, 200, '303: a GET follows')
  t.same(seen.map((s) => `${s.method} ${digestOf(s).uri ?? ''}`), ['POST /move303', 'GET /whoami?from=303'])

  const manual = await api(`${url}/old`, { redirect: 'manual' })
  t.equal(manual.status, 302, "redirect: 'manual' hands the redirect back")
  t.equal(manual.headers.get('location'), '/whoami?from=old')
  await t.rejects(api(`${url}/old`, { redirect: 'error' }), TypeError, "redirect: 'error'")
})

t.test('auth-int across a 307: the body is hashed again for the new uri', async (t) => {
  const { url, seen } = await plugin(t, { qop: ['auth-int'] })
  const api = credFetch({ ...alice, mutual: 'verify-if-present' })
  const res = await api(`${url}/move307`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'żółć' })
  t.equal(res.status, 200)
  t.same(await res.json(), { avatarId: 'alice', body: 'żółć' })
  t.same(seen.slice(1).map((s) => [digestOf(s).qop, digestOf(s).uri]), [['auth-int', '/move307'], ['auth-int', '/echo']])
})

t.test('redirect limit: each hop answered, then a TypeError', async (t) => {
  const { url, seen } = await plugin(t)
  await t.rejects(credFetch({ ...alice, maxRedirects: 3 })(`${url}/loop`), { name: 'TypeError', message: /more than 3 redirects/ })
  t.equal(seen.length, 5, 'the challenge, then the first request and three redirects')
  t.same(seen.slice(1).map((s) => digestOf(s).nc), ['00000001', '00000002', '00000003', '00000004'])
})

t.test('a redirect to another origin: no credentials, no answered challenge, no Authorization of the caller', async (t) => {
  const home = await plugin(t)
  const elsewhere = await liarServer()
  const before = elsewhere.seen.length
  const api = credFetch(alice)
  t.equal((await api(`${home.url}/whoami`)).status, 200, 'a session with home first')
  home.seen.length = 0
  const res = await api(`${home.url}/away?to=${encodeURIComponent(`${elsewhere.url}/forged`)}`, { headers: { 'x-trace': 'kept' } })
  t.equal(res.status, 401, "the other origin's challenge comes back unanswered")
  const there = elsewhere.seen.slice(before)
  t.equal(there.length, 1, 'one request there')
  t.equal(there[0]?.headers.authorization, undefined, 'without Authorization')
  t.equal(there[0]?.headers['x-trace'], 'kept', 'other headers follow')
  t.equal(home.seen.length, 1, 'and nothing went back home with the other realm')
  t.equal(digestOf(home.seen[0]).nc, '00000002', 'home answered with the remembered nonce')

  const own = credFetch({ ...alice, mutual: 'off' })
  const before2 = elsewhere.seen.length
  await own(`${home.url}/away?to=${encodeURIComponent(`${elsewhere.url}/forged`)}`, { headers: { authorization: 'Bearer secret-token', cookie: 'sid=1' } })
  const carried = elsewhere.seen.slice(before2)[0]?.headers
  t.equal(carried?.authorization, undefined, "the caller's own Authorization stays home")
  t.equal(carried?.cookie, undefined, 'and so do cookies')
})
