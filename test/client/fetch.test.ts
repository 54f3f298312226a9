import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import type { Test } from 'tap'
import { MemoryChecker } from '../../lib/checkers/index.js'
import { ServerAuthenticationFailed } from '../../lib/cred/index.js'
import { credFetch } from '../../lib/client/index.js'
import { NonceMinter, parseDigest, userhashResolver } from '../../lib/http/index.js'
import type { CredPluginOptions } from '../../lib/index.js'
import type { DigestPluginOptions, SchemeName } from '../../lib/http/index.js'
import type { FetchLike } from '../../lib/client/index.js'
import { buildApp } from '../helpers/app.js'

const SECRET = 'client test secret, sixteen+ bytes'

/** A listening app; records the Authorization header of every request. */
async function server (t: Test, digest: DigestPluginOptions | undefined, schemes: SchemeName[] = ['digest'], extra: Partial<CredPluginOptions> = {}): Promise<{ url: string, seen: Array<string | undefined> }> {
  const { app } = await buildApp({ schemes, ...(digest === undefined ? {} : { digest: { secret: SECRET, ...digest } }), ...extra })
  app.post('/echo', async (request) => ({ avatarId: request.avatarId, body: request.body }))
  const seen: Array<string | undefined> = []
  app.addHook('onRequest', async (request) => { seen.push(request.headers.authorization) })
  await app.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(() => app.close())
  return { url: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`, seen }
}

const alice = { username: 'alice', password: 'wonderland' }

t.test('Digest: one challenge round trip, then the nonce is reused with nc counting up', async (t) => {
  const { url, seen } = await server(t, {})
  const api = credFetch(alice)
  const first = await api(`${url}/whoami`)
  t.equal(first.status, 200)
  t.same(await first.json(), { avatarId: 'alice', name: 'alice', interface: 'IUser' })
  t.equal(seen.length, 2, 'challenge, then answer')
  t.equal(seen[0], undefined)
  const one = parseDigest(seen[1] as string)
  t.equal(one.algorithm, 'SHA-256', 'the first challenge')
  t.equal(one.nc, '00000001')

  const second = await api(`${url}/whoami?page=2`)
  t.equal(second.status, 200)
  t.equal(seen.length, 3, 'no new challenge')
  const two = parseDigest(seen[2] as string)
  t.equal(two.nonce, one.nonce)
  t.equal(two.nc, '00000002')
  t.equal(two.uri, '/whoami?page=2')

  const parallel = await Promise.all([1, 2, 3, 4, 5].map(async (i) => (await api(`${url}/whoami?p=${i}`)).status))
  t.same(parallel, [200, 200, 200, 200, 200], 'concurrent calls take distinct counts')
  t.same(seen.slice(3).map((h) => parseDigest(h as string).nc).sort(), ['00000003', '00000004', '00000005', '00000006', '00000007'])
})

t.test('wrong password: the 401 comes back (not thrown), nothing is remembered', async (t) => {
  const { url, seen } = await server(t, {})
  const api = credFetch({ username: 'alice', password: 'nope' })
  const res = await api(`${url}/whoami`)
  t.equal(res.status, 401)
  t.equal(((await res.json()) as { code: string }).code, 'ERR_CRED_UNAUTHORIZED')
  t.equal(seen.length, 2)
  await api(`${url}/whoami`)
  t.equal(seen[2], undefined, 'the next call starts over')
})

t.test('stale=true: retried once with the new nonce', async (t) => {
  const { url, seen } = await server(t, { nonceLifetime: 1000 })
  const api = credFetch(alice)
  t.equal((await api(`${url}/whoami`)).status, 200)
  await new Promise((resolve) => setTimeout(resolve, 1100))
  const res = await api(`${url}/whoami`)
  t.equal(res.status, 200)
  t.equal(seen.length, 4, 'answer with the old nonce, stale 401, answer with the new one')
  t.not(parseDigest(seen[3] as string).nonce, parseDigest(seen[2] as string).nonce)
  t.equal(parseDigest(seen[3] as string).nc, '00000001')
})

t.test('a remembered nonce the server no longer knows (restart with a new secret) is retried once', async (t) => {
  const a = await server(t, {})
  const api = credFetch(alice)
  t.equal((await api(`${a.url}/whoami`)).status, 200)
  const b = await buildApp({ schemes: ['digest'] })
  await b.app.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(() => b.app.close())
  // Same origin is what matters to the client: point the old session at the new server through fetch.
  const port = (b.app.server.address() as AddressInfo).port
  const redirected: FetchLike = async (input, init) => await fetch(String(input).replace(a.url, `http://127.0.0.1:${port}`), init)
  const moved = credFetch({ ...alice, fetch: redirected })
  t.equal((await moved(`${a.url}/whoami`)).status, 200)
  t.equal((await moved(`${a.url}/whoami`)).status, 200, 'with the nonce of the new server')
})

t.test('nextnonce: followed, with nc starting over', async (t) => {
  const { url, seen } = await server(t, { nonceLifetime: 60_000 })
  // Fault injection: hand the client a nonce already in the last fifth of its life (same secret, older issue time).
  const aging: FetchLike = async (input, init) => {
    const res = await fetch(input, init)
    if (res.status !== 401) return res
    const old = new NonceMinter({ secret: SECRET, lifetime: 60_000, realm: 'test realm' }).mint(Date.now() - 55_000)
    const headers = new Headers()
    for (const [name, value] of res.headers) if (name !== 'www-authenticate') headers.append(name, value)
    headers.set('www-authenticate', (res.headers.get('www-authenticate') ?? '').replace(/nonce="[^"]*"/g, `nonce="${old.nonce}"`).replace(/opaque="[^"]*"/g, `opaque="${old.opaque}"`))
    return new Response(await res.arrayBuffer(), { status: res.status, headers })
  }
  const api = credFetch({ ...alice, fetch: aging })
  const first = await api(`${url}/whoami`)
  t.equal(first.status, 200)
  const nextnonce = /nextnonce="([^"]+)"/.exec(first.headers.get('authentication-info') ?? '')?.[1]
  t.ok(nextnonce, 'the server offered a nextnonce')
  t.equal((await api(`${url}/whoami`)).status, 200)
  const used = parseDigest(seen.at(-1) as string)
  t.equal(used.nonce, nextnonce, 'the client switched to it')
  t.equal(used.nc, '00000001')
})

t.test('rspauth is checked: a server that does not know the password is caught', async (t) => {
  const fake = createServer((request, response) => {
    if (request.headers.authorization === undefined) {
      response.writeHead(401, { 'www-authenticate': 'Digest realm="fake", qop="auth", algorithm=SHA-256, nonce="abc", opaque="def"' }).end()
      return
    }
    response.writeHead(200, { 'authentication-info': `rspauth="${'0'.repeat(64)}", qop=auth` }).end('ok')
  })
  await new Promise<void>((resolve) => fake.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { fake.close() })
  const url = `http://127.0.0.1:${(fake.address() as AddressInfo).port}/`
  await t.rejects(credFetch(alice)(url), ServerAuthenticationFailed)
  const trusting = await credFetch({ ...alice, verifyServer: false })(url)
  t.equal(trusting.status, 200, 'unless verifyServer is false')
})

t.test('qop auth-int: the body is covered (JSON, text, bytes, form)', async (t) => {
  const { url, seen } = await server(t, { qop: ['auth-int'] })
  // auth-int responses carry no rspauth: the server cannot prove itself, which the client must accept explicitly.
  const api = credFetch({ ...alice, mutual: 'verify-if-present' })
  const res = await api(`${url}/echo`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ amount: 5 }) })
  t.equal(res.status, 200)
  t.same(await res.json(), { avatarId: 'alice', body: { amount: 5 } })
  t.equal(parseDigest(seen.at(-1) as string).qop, 'auth-int')
  const text = await api(`${url}/echo`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: new TextEncoder().encode('żółć') })
  t.equal(text.status, 200)
  t.equal(((await text.json()) as { body: string }).body, 'żółć')
  const get = await api(`${url}/whoami`)
  t.equal(get.status, 200, 'a GET: the empty body')

  const both = await server(t, { qop: ['auth', 'auth-int'] })
  const integrity = credFetch({ ...alice, qop: 'auth-int', mutual: 'verify-if-present' })
  const form = await integrity(`${both.url}/whoami`)
  t.equal(form.status, 200)
  t.equal(parseDigest(both.seen.at(-1) as string).qop, 'auth-int', 'preferred when asked for')
  const plain = await credFetch(alice)(`${both.url}/whoami`)
  t.equal(plain.status, 200)
  t.equal(parseDigest(both.seen.at(-1) as string).qop, 'auth', 'auth by default')
})

t.test('every algorithm, userhash, UTF-8 names', async (t) => {
  for (const algorithm of ['SHA-512-256', 'SHA-512-256-sess', 'SHA-256-sess', 'MD5-sess', 'MD5'] as const) {
    const { url, seen } = await server(t, { algorithms: [algorithm] })
    const res = await credFetch({ ...alice, allowMd5: algorithm.startsWith('MD5') })(`${url}/whoami`)
    t.equal(res.status, 200, algorithm)
    t.equal(parseDigest(seen.at(-1) as string).algorithm, algorithm)
  }
  const checker = new MemoryChecker({ alice: 'wonderland', 'Łukasz': 'żółć:🙂' })
  const hashed = await server(t, { userhash: true, resolveUserhash: userhashResolver(() => checker.usernames()) }, ['digest'], { checkers: [checker] })
  const res = await credFetch({ username: 'Łukasz', password: 'żółć:🙂' })(`${hashed.url}/whoami`)
  t.equal(res.status, 200)
  t.equal(((await res.json()) as { avatarId: string }).avatarId, 'Łukasz')
  t.equal(parseDigest(hashed.seen.at(-1) as string).userhash, true)
  const unsupported = await server(t, { algorithms: ['SHA-512-256'] })
  t.equal((await credFetch({ ...alice, algorithms: ['MD5', 'SHA-256'], allowMd5: true })(`${unsupported.url}/whoami`)).status, 401, 'no supported algorithm: the 401 as is')
})

t.test('Basic: answered when no Digest is offered, then sent up front', async (t) => {
  const { url, seen } = await server(t, undefined, ['basic'])
  const api = credFetch(alice)
  t.equal((await api(`${url}/whoami`)).status, 200)
  t.equal((await api(`${url}/whoami`)).status, 200)
  t.equal(seen.length, 3, 'one challenge only')
  t.match(seen[2], /^Basic /)
  t.equal((await credFetch({ ...alice, basic: false })(`${url}/whoami`)).status, 401, 'unless Basic is switched off')
  const both = await server(t, {}, ['basic', 'digest'])
  await credFetch(alice)(`${both.url}/whoami`)
  t.match(both.seen.at(-1), /^Digest /, 'Digest preferred when both are offered')
})

t.test('credFetch sends a Basic password only over https or to loopback, unless told otherwise', async (t) => {
  const seen: Array<{ url: string, authorization: string | null }> = []
  const basicOnly = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const authorization = new Headers(init?.headers).get('authorization')
    seen.push({ url: String(input), authorization })
    return authorization === null
      ? new Response('', { status: 401, headers: { 'www-authenticate': 'Basic realm="r"' } })
      : new Response('ok', { status: 200 })
  }
  const credentials = { username: 'alice', password: 'wonderland', fetch: basicOnly }
  t.equal((await credFetch(credentials)('http://intranet.example/')).status, 401, 'clear text across a network: refused')
  t.same(seen.map((s) => s.authorization), [null], 'the password was never sent')
  seen.length = 0
  t.equal((await credFetch(credentials)('https://intranet.example/')).status, 200)
  t.equal((await credFetch(credentials)('http://127.0.0.1:9/')).status, 200)
  t.equal((await credFetch({ ...credentials, basic: true })('http://intranet.example/')).status, 200, 'basic: true opts in')
  t.equal((await credFetch({ ...credentials, basic: false })('https://intranet.example/')).status, 401, 'basic: false opts out')
})
