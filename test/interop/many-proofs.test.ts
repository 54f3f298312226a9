import { mkdtemp, readFile, rm } from 'node:fs/promises'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Fastify from 'fastify'
import { SignJWT } from 'jose'
import t from 'tap'
import cred, { SimpleRealm, defineInterface } from '../../lib/index.js'
import { ClientCertChecker, JwtChecker, MemoryChecker } from '../../lib/checkers/index.js'
import { ClientCertScheme } from '../../lib/http/index.js'
import { makeCa, makeCert, openssl } from '../helpers/certificates.js'
import { curl, curlRequest } from '../helpers/curl.js'

// README "One user, many proofs": one HTTPS app, one realm, one route; alice proves who she is with Basic, Digest, a
// JWT or her client certificate, driven by the real curl, and the realm is asked the same question each time.

const skip = curl.skip !== false ? curl.skip : openssl.skip

t.test('Basic, Digest, a JWT and a client certificate on the same route: the same alice', { skip }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'cred-many-proofs-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const ca = await makeCa(join(dir, 'ca'), 'Clients CA')
  const server = await makeCert(ca, 'server', '/CN=127.0.0.1', { altNames: 'IP:127.0.0.1', server: true })
  const alice = await makeCert(ca, 'alice', '/CN=alice')
  const jwtSecret = 'a shared secret of at least thirty-two bytes'
  const jwt = await new SignJWT({ sub: 'alice' }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('5m')
    .sign(new TextEncoder().encode(jwtSecret))
  // What the realm was asked, per request: it must not tell the proofs apart.
  const asked: unknown[][] = []

  // The README's app (the paths and the secret are the test's).
  const IUser = defineInterface<{ name: string }>('IUser')
  const app = Fastify({
    https: {
      key: await readFile(server.key), cert: server.pem,
      ca: ca.pem, requestCert: true, rejectUnauthorized: false
    }
  })
  await app.register(cred, {
    realm: new SimpleRealm().serve(IUser, (id, mind) => {
      asked.push([id, mind])
      return { name: String(id) }
    }),
    checkers: [
      new MemoryChecker({ alice: 'wonderland' }), // Basic and Digest
      new JwtChecker({ secret: jwtSecret }), // Bearer: a JWT whose sub is alice
      new ClientCertChecker({ by: 'cn' }) // a certificate whose CN is alice
    ],
    schemes: ['basic', 'digest', 'bearer', new ClientCertScheme()],
    interfaces: [IUser],
    authenticationRealm: 'example'
  })
  app.get('/whoami', async (request) => ({ avatarId: request.avatarId }))

  await app.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(async () => { await app.close() })
  const url = `https://127.0.0.1:${(app.server.address() as AddressInfo).port}/whoami`
  const tls = ['--cacert', ca.cert]

  const proofs: Array<[string, string[]]> = [
    ['Basic', ['-u', 'alice:wonderland']],
    ['Digest', ['--digest', '-u', 'alice:wonderland']],
    ['Bearer (JWT)', ['-H', `Authorization: Bearer ${jwt}`]],
    ['client certificate', ['--cert', alice.cert, '--key', alice.key]]
  ]
  for (const [proof, args] of proofs) {
    const before = asked.length
    const response = await curlRequest([...tls, ...args], url)
    t.equal(response.status, 200, `${proof}: 200`)
    t.same(JSON.parse(response.body), { avatarId: 'alice' }, `${proof}: request.avatarId is alice`)
    t.same(asked.slice(before), [['alice', null]], `${proof}: the realm was asked for alice, with nothing that names the proof`)
  }
  const digest = await curlRequest([...tls, '--digest', '-u', 'alice:wonderland'], url)
  t.match(digest.headers, /^authentication-info: rspauth=/im, 'the Digest login was Digest (the server proved it knew the password)')

  const none = await curlRequest(tls, url)
  t.equal(none.status, 401, 'nothing: 401')
  t.match(none.headers, /^www-authenticate: Basic realm="example"/im, 'with the Basic challenge')
  t.match(none.headers, /^www-authenticate: Digest realm="example", qop="auth", algorithm=SHA-256/im, 'the Digest challenge')
  t.match(none.headers, /^www-authenticate: Bearer realm="example"\r?$/im, 'and the Bearer challenge, with no error')

  const refusals: Array<[string, string[], RegExp]> = [
    ['a wrong password over Basic', ['-u', 'alice:queen of hearts'], /^www-authenticate: Basic/im],
    ['a wrong password over Digest', ['--digest', '-u', 'alice:queen of hearts'], /^www-authenticate: Digest/im],
    ['a JWT signed with another secret', ['-H', `Authorization: Bearer ${await new SignJWT({ sub: 'alice' }).setProtectedHeader({ alg: 'HS256' })
      .setExpirationTime('5m').sign(new TextEncoder().encode('another secret, also thirty-two bytes long'))}`], /^www-authenticate: Bearer realm="example", error="invalid_token"/im]
  ]
  for (const [what, args, challenge] of refusals) {
    const refused = await curlRequest([...tls, ...args], url)
    t.equal(refused.status, 401, `${what}: 401`)
    t.match(refused.headers, challenge, `${what}: its scheme's challenge`)
    const lastResponse = refused.headers.slice(refused.headers.lastIndexOf('HTTP/'))
    t.equal(lastResponse.match(/^www-authenticate: (Basic|Digest|Bearer) /gim)?.length, 4, `${what}: among the others (Basic, two Digest, Bearer)`)
  }
  t.equal(asked.length, 5, 'the realm was asked only for the five logins that succeeded')
})
