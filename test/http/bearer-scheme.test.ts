import t from 'tap'
import { BearerToken, InvalidOption, MalformedCredentials, UnauthorizedLogin } from '../../lib/cred/index.js'
import { ApiKeyChecker, formatApiKeyLine, newApiKey } from '../../lib/checkers/index.js'
import { BearerScheme, MAX_BEARER_LENGTH, buildSchemes, parseBearer, verifiedCredentials } from '../../lib/http/index.js'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { inspect } from 'node:util'
import { buildApp } from '../helpers/app.js'

t.test('parseBearer: one b64token after "Bearer " (any case), nothing else', async (t) => {
  t.equal(parseBearer('Bearer abc.DEF-_~+/=='), 'abc.DEF-_~+/==')
  t.equal(parseBearer('bearer  abc '), 'abc', 'scheme in any case, spaces around the token')
  for (const value of ['Bearer', 'Bearer ', 'Bearer a b', 'Bearer a,b', 'Bearer "abc"', 'Bearer =abc', 'Bearer a=b', 'Bearerabc', 'Basic abc', 'Bearer é', `Bearer ${'a'.repeat(MAX_BEARER_LENGTH)}`]) {
    t.equal(parseBearer(value), undefined, JSON.stringify(value.slice(0, 30)))
  }
})

t.test('BearerScheme: credentials, challenges per RFC 6750 §3, options checked', async (t) => {
  const scheme = new BearerScheme({ authenticationRealm: 'a "quoted" realm' })
  const token = scheme.credentials('Bearer xyz')
  t.type(token, BearerToken)
  t.equal(token.token, 'xyz')
  t.throws(() => scheme.credentials('Bearer x y'), MalformedCredentials)
  const request = { method: 'GET', url: '/' }
  t.same(scheme.challenges(request, false), ['Bearer realm="a \\"quoted\\" realm"'], 'no credentials: no error')
  t.same(scheme.challenges(request, false, new UnauthorizedLogin('no')), ['Bearer realm="a \\"quoted\\" realm", error="invalid_token", error_description="The access token is invalid"'])
  t.match(scheme.challenges(request, false, new MalformedCredentials('no'))[0], /error="invalid_request"/)
  t.throws(() => new BearerScheme({ authenticationRealm: 'bad\nrealm' }), InvalidOption)
  t.throws(() => new BearerScheme({ authenticationRealm: 'r', maxLength: 3 }), InvalidOption)
  t.equal(buildSchemes(['bearer'], 'r').schemes[0]?.name, 'bearer', 'buildSchemes knows \'bearer\'')
})

t.test('BearerToken: hidden from logs; claims set once', async (t) => {
  const token = new BearerToken('s3cr3t-token')
  t.notMatch(inspect(token), /s3cr3t/)
  t.notMatch(JSON.stringify({ token }), /s3cr3t/)
  token.setClaims({ sub: 'alice' })
  t.same(token.claims, { sub: 'alice' })
  t.throws(() => token.setClaims({ sub: 'mallory' }), TypeError)
  t.ok(Object.isFrozen(token.claims))
})

t.test('through the guard: no token from a query string or a form body; verifiedCredentials only for accepted requests', async (t) => {
  const key = newApiKey()
  // A valid key sent only where it must not be read (the request line is logged: the hygiene check would see it).
  const unread = newApiKey()
  const file = join(mkdtempSync(join(tmpdir(), 'fastify-cred-bearer-')), 'keys')
  writeFileSync(file, `${formatApiKeyLine(key.prefix, key.sha256, 'alice')}\n${formatApiKeyLine(unread.prefix, unread.sha256, 'bob')}\n`)
  const checker = new ApiKeyChecker(file)
  const { app } = await buildApp({ checkers: [checker], schemes: ['bearer'] })
  t.teardown(async () => { await app.close(); await checker.close() })
  let seen: unknown
  app.post('/echo', async (request) => { seen = verifiedCredentials(request); return { avatarId: request.avatarId } })
  t.equal((await app.inject({ url: '/whoami', headers: { authorization: `Bearer ${key.key}` } })).statusCode, 200)
  t.equal((await app.inject({ url: `/whoami?access_token=${unread.key}` })).statusCode, 401, 'query string')
  const form = await app.inject({ method: 'POST', url: '/echo', payload: `access_token=${unread.key}`, headers: { 'content-type': 'application/x-www-form-urlencoded' } })
  t.equal(form.statusCode, 401, 'form body')
  t.equal(form.headers['www-authenticate'], 'Bearer realm="test realm"', 'a request without credentials: no error attribute')
  t.equal(seen, undefined, 'the route never ran')
  const ok = await app.inject({ method: 'POST', url: '/echo', headers: { authorization: `Bearer ${key.key}` } })
  t.equal(ok.statusCode, 200)
  t.same((seen as BearerToken).claims, { keyPrefix: key.prefix }, 'the accepted credentials, with what the checker learned')
  t.equal(verifiedCredentials({}), undefined)
  const basicInstead = await app.inject({ url: '/whoami', headers: { authorization: 'Basic YWxpY2U6d29uZGVybGFuZA==' } })
  t.equal(basicInstead.statusCode, 401, 'a scheme not offered: 401 with the Bearer challenge')
  t.equal(basicInstead.headers['www-authenticate'], 'Bearer realm="test realm"')
})
