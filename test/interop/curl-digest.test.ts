import type { AddressInfo } from 'node:net'
import t from 'tap'
import type { Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import { MemoryChecker } from '../../lib/checkers/index.js'
import { parseDigest, userhashResolver } from '../../lib/http/index.js'
import type { CredPluginOptions } from '../../lib/index.js'
import type { DigestPluginOptions } from '../../lib/http/index.js'
import { buildApp } from '../helpers/app.js'
import { curl, curlRequest } from '../helpers/curl.js'

// curl 7.88 computes SHA-512-256 wrongly (RECIPES.md): it is not offered to curl here.

/** A listening app with Digest, recording every Authorization header it receives. */
async function digestServer (t: Test, digest: DigestPluginOptions = {}, extra: Partial<CredPluginOptions> = {}, routes?: (app: FastifyInstance) => void): Promise<{ url: string, seen: Array<string | undefined> }> {
  const { app } = await buildApp({ schemes: ['digest'], digest, ...extra })
  routes?.(app)
  const seen: Array<string | undefined> = []
  app.addHook('onRequest', async (request) => { seen.push(request.headers.authorization) })
  await app.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(() => app.close())
  return { url: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`, seen }
}

const digestHeaders = (seen: Array<string | undefined>): ReturnType<typeof parseDigest>[] =>
  seen.filter((h): h is string => h !== undefined).map(parseDigest)

t.test('curl --digest logs in and takes the first challenge (SHA-256)', { skip: curl.skip }, async (t) => {
  const { url, seen } = await digestServer(t)
  const ok = await curlRequest(['--digest', '-u', 'alice:wonderland'], `${url}/whoami?x=1&y=a%20b`)
  t.equal(ok.status, 200)
  t.same(JSON.parse(ok.body), { avatarId: 'alice', name: 'alice', interface: 'IUser' })
  const [first, second] = seen
  t.equal(first, undefined, 'the first request carries no credentials')
  const sent = parseDigest(second as string)
  t.equal(sent.algorithm, 'SHA-256', 'curl answered the first challenge: SHA-256')
  t.equal(sent.uri, '/whoami?x=1&y=a%20b', 'with the query in uri')
  t.equal(sent.qop, 'auth')
  t.match(ok.headers, /Authentication-Info: rspauth="[0-9a-f]{64}", qop=auth, nc=00000001, cnonce="/i)
})

t.test('curl: a wrong password fails', { skip: curl.skip }, async (t) => {
  const { url } = await digestServer(t)
  const wrong = await curlRequest(['--digest', '-u', 'alice:nope'], `${url}/whoami`)
  t.equal(wrong.status, 401)
  t.equal(JSON.parse(wrong.body).code, 'ERR_CRED_UNAUTHORIZED')
  const unknown = await curlRequest(['--digest', '-u', 'mallory:wonderland'], `${url}/whoami`)
  t.equal(unknown.status, 401)
})

t.test('curl: the nonce is reused with nc=00000002 within a transfer; each URL of a run starts over', { skip: curl.skip }, async (t) => {
  const { url, seen } = await digestServer(t, {}, {}, (app) => {
    app.get('/go', async (_request, reply) => await reply.redirect('/whoami?after'))
  })
  const followed = await curlRequest(['--digest', '-u', 'alice:wonderland', '-L'], `${url}/go`)
  t.equal(followed.status, 200)
  let sent = digestHeaders(seen)
  t.equal(sent.length, 2, 'one challenge, then the redirect followed with the same credentials')
  t.equal(sent[0]?.nc, '00000001')
  t.equal(sent[1]?.nc, '00000002', 'nc counted up')
  t.equal(sent[1]?.nonce, sent[0]?.nonce, 'the same nonce')
  t.equal(sent[1]?.uri, '/whoami?after', 'over the new uri')

  // Observed with curl 7.88.1: a second URL on the command line is a new transfer, which negotiates again.
  seen.length = 0
  const twoUrls = await curlRequest(['--digest', '-u', 'alice:wonderland'], `${url}/whoami`, `${url}/whoami?second`)
  t.equal(twoUrls.status, 200)
  t.equal(twoUrls.headers.match(/^HTTP\/1\.1 200/gm)?.length, 2, 'both URLs answered 200')
  sent = digestHeaders(seen)
  t.same(sent.map((d) => d.nc), ['00000001', '00000001'], 'curl 7.88 answers a fresh challenge per URL')
})

t.test('curl: MD5 when the server lists it first; UTF-8 user names', { skip: curl.skip }, async (t) => {
  const { url, seen } = await digestServer(t, { algorithms: ['MD5', 'SHA-256'] })
  const ok = await curlRequest(['--digest', '-u', 'alice:wonderland'], `${url}/whoami`)
  t.equal(ok.status, 200)
  t.equal(digestHeaders(seen)[0]?.algorithm, 'MD5')
  const utf8 = await curlRequest(['--digest', '-u', 'Łukasz:żółć:🙂'], `${url}/whoami`)
  t.equal(utf8.status, 200, 'curl sends the UTF-8 name raw; a password with ":" survives')
  t.equal(JSON.parse(utf8.body).avatarId, 'Łukasz')
})

t.test('curl: userhash', { skip: curl.skip }, async (t) => {
  const checker = new MemoryChecker({ alice: 'wonderland' })
  const { url, seen } = await digestServer(t, { userhash: true, resolveUserhash: userhashResolver(() => checker.usernames()) }, { checkers: [checker] })
  const ok = await curlRequest(['--digest', '-u', 'alice:wonderland'], `${url}/whoami`)
  t.equal(ok.status, 200)
  t.equal(JSON.parse(ok.body).avatarId, 'alice')
  const sent = digestHeaders(seen)[0]
  t.equal(sent?.userhash, true, 'curl hashed the user name')
  t.match(sent?.username, /^[0-9a-f]{64}$/)
})

t.test('curl: an expired nonce gets stale=true and curl retries with the new one by itself', { skip: curl.skip }, async (t) => {
  const { url, seen } = await digestServer(t, { nonceLifetime: 1000 }, {}, (app) => {
    app.get('/slow', async (_request, reply) => {
      await new Promise((resolve) => setTimeout(resolve, 1300))
      return await reply.redirect('/whoami')
    })
  })
  const res = await curlRequest(['--digest', '-u', 'alice:wonderland', '-L'], `${url}/slow`)
  t.equal(res.status, 200)
  t.match(res.headers, /stale=true/, 'the reused nonce had expired on the redirect')
  const sent = digestHeaders(seen)
  t.equal(sent.length, 3, 'first login, stale reuse, retry')
  t.equal(sent[1]?.nonce, sent[0]?.nonce)
  t.not(sent[2]?.nonce, sent[0]?.nonce, 'the retry uses the new nonce')
  t.equal(sent[2]?.nc, '00000001')
})
