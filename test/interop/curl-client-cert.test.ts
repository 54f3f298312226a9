import { mkdtemp, readFile, rm } from 'node:fs/promises'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Fastify from 'fastify'
import type { FastifyInstance } from 'fastify'
import t from 'tap'
import cred, { SimpleRealm } from '../../lib/index.js'
import { ClientCertChecker, MemoryChecker } from '../../lib/checkers/index.js'
import { ClientCertScheme } from '../../lib/http/index.js'
import type { ClientCertSchemeOptions } from '../../lib/http/index.js'
import { IUser } from '../helpers/app.js'
import { makeCa, makeCert, openssl } from '../helpers/certificates.js'
import type { TestCa, TestCert } from '../helpers/certificates.js'
import { curl, curlRequest } from '../helpers/curl.js'

// Mutual TLS end to end: a CA, a server certificate and client certificates made by openssl here, a Fastify server
// terminating TLS (`requestCert`, our CA as `ca`), and the real curl presenting them with --cert/--key.

const skip = curl.skip !== false ? curl.skip : openssl.skip

interface Certs {
  readonly ca: TestCa
  readonly server: TestCert
  readonly alice: TestCert
  readonly otherCa: TestCert
  readonly expired: TestCert
  readonly twoNames: TestCert
}

async function makeCerts (dir: string): Promise<Certs> {
  const ca = await makeCa(join(dir, 'ca'), 'Test CA')
  const other = await makeCa(join(dir, 'other'), 'Other CA')
  return {
    ca,
    server: await makeCert(ca, 'server', '/CN=127.0.0.1', { altNames: 'IP:127.0.0.1', server: true }),
    alice: await makeCert(ca, 'alice', '/CN=alice', { altNames: 'email:alice@example.org,DNS:alice.example.org,URI:spiffe://example.org/alice' }),
    otherCa: await makeCert(other, 'alice-other', '/CN=alice'),
    expired: await makeCert(ca, 'alice-expired', '/CN=alice', { start: '20200101000000Z', end: '20200201000000Z' }),
    twoNames: await makeCert(ca, 'two-names', '/CN=alice/CN=bob')
  }
}

async function httpsApp (certs: Certs, checker: ClientCertChecker, scheme: ClientCertSchemeOptions = {}): Promise<{ app: FastifyInstance, url: string }> {
  const key = await readFile(certs.server.key)
  const app = Fastify({ https: { key, cert: certs.server.pem, ca: [certs.ca.pem], requestCert: true, rejectUnauthorized: false } })
  await app.register(cred, {
    realm: new SimpleRealm().serve(IUser, (id) => ({ name: String(id) })),
    checkers: [checker, new MemoryChecker({ carol: 'basic password' })],
    schemes: [new ClientCertScheme(scheme), 'basic'],
    interfaces: [IUser],
    authenticationRealm: 'mtls'
  })
  app.get('/whoami', async (request) => ({ avatarId: request.avatarId }))
  await app.listen({ port: 0, host: '127.0.0.1' })
  return { app, url: `https://127.0.0.1:${(app.server.address() as AddressInfo).port}` }
}

t.test('curl with client certificates against a server terminating TLS', { skip }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'cred-mtls-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const certs = await makeCerts(dir)
  const withCert = (cert: TestCert): string[] => ['--cacert', certs.ca.cert, '--cert', cert.cert, '--key', cert.key]

  for (const [by, expected] of [['cn', 'alice'], ['email', 'alice@example.org'], ['dns', 'alice.example.org'], ['uri', 'spiffe://example.org/alice']] as const) {
    await t.test(`by ${by}`, async (t) => {
      const { app, url } = await httpsApp(certs, new ClientCertChecker({ by }))
      t.teardown(async () => { await app.close() })
      const ok = await curlRequest(withCert(certs.alice), `${url}/whoami`)
      t.equal(ok.status, 200, 'the right certificate: 200')
      t.equal(JSON.parse(ok.body).avatarId, expected, 'with the avatar id the certificate names')
    })
  }

  await t.test('refusals and the Basic fall-back', async (t) => {
    const { app, url } = await httpsApp(certs, new ClientCertChecker({ by: 'cn' }))
    t.teardown(async () => { await app.close() })
    const other = await curlRequest(withCert(certs.otherCa), `${url}/whoami`)
    t.equal(other.status, 401, 'a certificate from another CA is refused')
    t.equal(JSON.parse(other.body).code, 'ERR_CRED_UNAUTHORIZED')
    const expired = await curlRequest(withCert(certs.expired), `${url}/whoami`)
    t.equal(expired.status, 401, 'an expired certificate is refused')
    const twoNames = await curlRequest(withCert(certs.twoNames), `${url}/whoami`)
    t.equal(twoNames.status, 401, 'a certificate with two CNs names no user')
    const none = await curlRequest(['--cacert', certs.ca.cert], `${url}/whoami`)
    t.equal(none.status, 401, 'no certificate: 401')
    t.match(none.headers, /WWW-Authenticate: Basic realm="mtls"/i, 'with the Basic challenge')
    const basic = await curlRequest(['--cacert', certs.ca.cert, '-u', 'carol:basic password'], `${url}/whoami`)
    t.equal(basic.status, 200, 'Basic is the fall-back without a certificate')
    t.equal(JSON.parse(basic.body).avatarId, 'carol')
    const both = await curlRequest([...withCert(certs.alice), '-u', 'carol:basic password'], `${url}/whoami`)
    t.equal(JSON.parse(both.body).avatarId, 'carol', 'an Authorization header is used before the certificate')
    const keepAlive = await curlRequest(withCert(certs.alice), `${url}/whoami`, `${url}/whoami`)
    t.same(keepAlive.body.split(/\n--status:\d+/).map((body) => JSON.parse(body)), [{ avatarId: 'alice' }, { avatarId: 'alice' }], 'a second request on the same connection is the same user')
  })

  await t.test('pinned fingerprints: live revocation by editing the pin file', async (t) => {
    const { writeFile } = await import('node:fs/promises')
    const { X509Certificate } = await import('node:crypto')
    const pins = join(dir, 'pins')
    const fingerprint = new X509Certificate(certs.alice.pem).fingerprint256
    await writeFile(pins, `# pinned client certificates\n${fingerprint} alice-pinned\n`)
    const { app, url } = await httpsApp(certs, new ClientCertChecker({ by: 'fingerprint', pins, checkInterval: 0 }))
    t.teardown(async () => { await app.close() })
    const ok = await curlRequest(withCert(certs.alice), `${url}/whoami`)
    t.equal(JSON.parse(ok.body).avatarId, 'alice-pinned', 'the pinned certificate logs in as its pinned id')
    await writeFile(pins, '# alice revoked\n')
    const revoked = await curlRequest(withCert(certs.alice), `${url}/whoami`)
    t.equal(revoked.status, 401, 'the line removed: refused at the next request')
  })
})

t.test('a trusted proxy\'s forwarded certificate (nginx, Envoy headers) over plain HTTP, from real curl', { skip }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'cred-mtls-proxy-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const certs = await makeCerts(dir)
  const warnings: string[] = []
  const plainApp = async (proxies: string[], header?: string): Promise<string> => {
    const app = Fastify()
    await app.register(cred, {
      realm: new SimpleRealm().serve(IUser, (id) => ({ name: String(id) })),
      checkers: [new ClientCertChecker({ by: 'cn' })],
      schemes: [new ClientCertScheme({ tls: false, forwarded: { proxies, ...(header === undefined ? {} : { header }) }, onUntrustedHeader: (m) => warnings.push(m) })],
      interfaces: [IUser]
    })
    app.get('/whoami', async (request) => ({ avatarId: request.avatarId }))
    await app.listen({ port: 0, host: '127.0.0.1' })
    t.teardown(async () => { await app.close() })
    return `http://127.0.0.1:${(app.server.address() as AddressInfo).port}/whoami`
  }
  const nginxValue = encodeURIComponent(certs.alice.pem)
  const trusted = await plainApp(['127.0.0.0/8'])
  const ok = await curlRequest(['-H', `X-SSL-Client-Cert: ${nginxValue}`], trusted)
  t.equal(ok.status, 200, 'nginx\'s $ssl_client_escaped_cert from a listed proxy address')
  t.equal(JSON.parse(ok.body).avatarId, 'alice')
  const expired = await curlRequest(['-H', `X-SSL-Client-Cert: ${encodeURIComponent(certs.expired.pem)}`], trusted)
  t.equal(expired.status, 401, 'an expired certificate forwarded by the proxy is still refused (the checker looks at the dates)')
  const garbage = await curlRequest(['-H', 'X-SSL-Client-Cert: -----BEGIN%20CERTIFICATE-----%0Anot base64!%0A-----END%20CERTIFICATE-----'], trusted)
  t.equal(garbage.status, 400, 'a malformed certificate header: 400')
  const der = Buffer.from(certs.alice.pem.replace(/-----[^-]+-----|\s/g, ''), 'base64').toString('base64')
  const haproxyStyle = await curlRequest(['-H', `X-SSL-Client-Cert: ${der}`], trusted)
  t.equal(JSON.parse(haproxyStyle.body).avatarId, 'alice', 'a bare base64 DER (HAProxy\'s %[ssl_c_der,base64])')

  const envoy = await plainApp(['::1', '127.0.0.1'], 'x-forwarded-client-cert')
  const xfcc = `By=spiffe://example.org/proxy;Hash=abc;Cert="${nginxValue}";Subject="CN=alice";URI=`
  const viaEnvoy = await curlRequest(['-H', `X-Forwarded-Client-Cert: ${xfcc}`], envoy)
  t.equal(JSON.parse(viaEnvoy.body).avatarId, 'alice', 'Envoy\'s XFCC Cert field')
  const badXfcc = await curlRequest(['-H', 'X-Forwarded-Client-Cert: By=x;Cert="unterminated'], envoy)
  t.equal(badXfcc.status, 400, 'a malformed XFCC header: 400')

  const untrusted = await plainApp(['10.1.2.3'])
  const ignored = await curlRequest(['-H', `X-SSL-Client-Cert: ${nginxValue}`], untrusted)
  t.equal(ignored.status, 401, 'the same header from an address that is not a listed proxy is ignored')
  t.match(warnings.join('\n'), /ignored a x-ssl-client-cert header from 127\.0\.0\.1, which is not a trusted proxy/, 'and logged')
})
