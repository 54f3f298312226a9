import { randomBytes } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { ClientCertificate, InvalidOption, MalformedCredentials, UnauthorizedLogin } from '../../lib/cred/index.js'
import type { IClientCertificate } from '../../lib/cred/index.js'
import { ClientCertChecker } from '../../lib/checkers/index.js'
import { ClientCertScheme, forwardedCertificate, parseXfcc } from '../../lib/http/index.js'
import { makeChecker } from '../../lib/strcred/index.js'
import { buildApp } from '../helpers/app.js'
import { makeCa, makeCert, openssl } from '../helpers/certificates.js'
import type { TestCert } from '../helpers/certificates.js'
import { checkerContract } from './checker-contract.js'

const der = (cert: TestCert): Buffer => Buffer.from(cert.pem.replace(/-----[^-]+-----|\s/g, ''), 'base64')

t.test('ClientCertChecker', { skip: openssl.skip }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'cred-cert-checker-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const ca = await makeCa(join(dir, 'ca'), 'Test CA')
  const alice = await makeCert(ca, 'alice', '/CN=alice', { altNames: 'email:alice@example.org,URI:https://example.org/a?b=c' })
  const aliceUnpinned = await makeCert(ca, 'alice2', '/CN=alice')
  const bob = await makeCert(ca, 'bob', '/CN=bob')
  const pins = join(dir, 'pins')
  const aliceCredentials = new ClientCertificate(der(alice), 'tls')
  await writeFile(pins, `${aliceCredentials.fingerprint256.toUpperCase().replace(/(..)(?!$)/g, '$1:')} alice\n`)

  await t.test('credentials read the CN, the SANs and the fingerprint; garbage DER is refused', async (t) => {
    t.same(aliceCredentials.commonNames, ['alice'])
    t.same(aliceCredentials.altNames.email, ['alice@example.org'])
    t.same(aliceCredentials.altNames.uri, ['https://example.org/a?b=c'])
    t.match(aliceCredentials.fingerprint256, /^[0-9a-f]{64}$/)
    t.same(JSON.parse(JSON.stringify(aliceCredentials)).commonNames, ['alice'])
    t.throws(() => new ClientCertificate(randomBytes(300), 'proxy'), MalformedCredentials, 'garbage DER is MalformedCredentials')
  })

  // Work: how often the checker looked at a certificate's fingerprint; an unpinned certificate costs one look, as a
  // pinned one does.
  let looks = 0
  const counted = (credentials: IClientCertificate): IClientCertificate => Object.create(credentials, {
    fingerprint256: { get: () => { looks++; return credentials.fingerprint256 } }
  }) as IClientCertificate
  const certOf = (username: string, password: string): TestCert => username === 'alice' ? (password === 'pinned' ? alice : aliceUnpinned) : bob
  await checkerContract(t, 'ClientCertChecker', {
    make: () => new ClientCertChecker({ by: 'fingerprint', pins }),
    user: 'alice',
    password: 'pinned',
    credentials: (username, password) => counted(new ClientCertificate(der(certOf(username, password)), 'proxy')),
    http: {
      schemes: [new ClientCertScheme({ tls: false, forwarded: { proxies: ['127.0.0.1'] } })],
      headers: (username, password) => ({ 'x-ssl-client-cert': encodeURIComponent(certOf(username, password).pem) })
    },
    badOptions: [
      ['no options', () => new ClientCertChecker(undefined as never)],
      ['an unknown identity', () => new ClientCertChecker({ by: 'serial' as never })],
      ['fingerprint without pins', () => new ClientCertChecker({ by: 'fingerprint' })],
      ['pins without fingerprint', () => new ClientCertChecker({ by: 'cn', pins })],
      ['a missing pin file', () => new ClientCertChecker({ by: 'fingerprint', pins: join(dir, 'missing') })],
      ['a scheme trusting no proxy', () => new ClientCertScheme({ forwarded: { proxies: [] } })],
      ['a proxy that is no address', () => new ClientCertScheme({ forwarded: { proxies: ['proxy.example.org'] } })],
      ['a proxy range too wide', () => new ClientCertScheme({ forwarded: { proxies: ['10.0.0.0/33'] } })],
      ['neither TLS nor a header', () => new ClientCertScheme({ tls: false })]
    ],
    work: () => looks
  })

  await t.test('pin files: malformed lines are named', async (t) => {
    const bad = join(dir, 'bad-pins')
    await writeFile(bad, '# ok\nabcd alice\n')
    t.throws(() => new ClientCertChecker({ by: 'fingerprint', pins: bad }), /line 2: the fingerprint is not 32 bytes of hex/)
    await writeFile(bad, `${'ab'.repeat(32)}\n`)
    t.throws(() => new ClientCertChecker({ by: 'fingerprint', pins: bad }), InvalidOption)
  })

  await t.test('by CN and by SAN: exactly one name, else refused', async (t) => {
    t.equal(await new ClientCertChecker({ by: 'cn' }).requestAvatarId(aliceCredentials), 'alice')
    t.equal(await new ClientCertChecker({ by: 'email' }).requestAvatarId(aliceCredentials), 'alice@example.org')
    t.throws(() => new ClientCertChecker({ by: 'dns' }).requestAvatarId(aliceCredentials), UnauthorizedLogin, 'no DNS name: refused')
  })

  await t.test('strcred cert:', async (t) => {
    const byCn = await makeChecker('cert:cn')
    t.equal(await byCn.requestAvatarId(aliceCredentials), 'alice')
    const pinned = await makeChecker(`cert:fingerprint;pins=${pins}`)
    t.equal(await pinned.requestAvatarId(aliceCredentials), 'alice')
    await t.rejects(makeChecker('cert:fingerprint'), /fingerprint needs pins/)
    await t.rejects(makeChecker('cert:serial'), /cn, email, dns, uri, fingerprint/)
    await t.rejects(makeChecker(`cert:cn;pins=${pins}`), /pins is read only with fingerprint/)
  })

  await t.test('garbage forwarded certificate headers: 400 or 401, never 500', async (t) => {
    const { app } = await buildApp({
      checkers: [new ClientCertChecker({ by: 'cn' })],
      schemes: [new ClientCertScheme({ tls: false, forwarded: { proxies: ['127.0.0.1'], header: 'x-forwarded-client-cert' } })]
    })
    t.teardown(async () => { await app.close() })
    const pem = encodeURIComponent(alice.pem)
    const values = [
      'Cert=', 'Cert=""', '=x', ';;', ',,,', 'Cert="%ZZ"', `Cert="${pem.slice(0, 200)}"`, `Cert="${pem}`, 'By=a;Cert',
      `Cert="${encodeURIComponent('-----BEGIN CERTIFICATE-----\n' + randomBytes(600).toString('base64') + '\n-----END CERTIFICATE-----')}"`,
      'x'.repeat(70_000)
    ]
    for (let i = 0; i < 200; i++) values.push(randomBytes(1 + (i % 97)).toString('latin1').replace(/[\0-\x1f\x7f]/g, 'a'))
    const statuses = new Set<number>()
    for (const value of values) {
      const response = await app.inject({ url: '/whoami', headers: { 'x-forwarded-client-cert': value } })
      statuses.add(response.statusCode)
      if (response.statusCode !== 400 && response.statusCode !== 401) t.fail(`status ${response.statusCode} for ${JSON.stringify(value.slice(0, 60))}`)
    }
    t.ok(statuses.has(400), `a clear refusal (statuses: ${[...statuses].join(', ')})`)
    const ok = await app.inject({ url: '/whoami', headers: { 'x-forwarded-client-cert': `Hash=1,By=x;Cert="${pem}"` } })
    t.equal(ok.json().avatarId, 'alice', 'the last XFCC element is the trusted proxy\'s')
  })

  t.test('XFCC parsing', async (t) => {
    t.same(parseXfcc('By=a;Hash=b,By="c;d\\"e";URI=').map((m) => Object.fromEntries(m)), [{ by: 'a', hash: 'b' }, { by: 'c;d"e', uri: '' }])
    t.throws(() => forwardedCertificate('By=a', 'xfcc'), /carries no Cert field/)
  })
})
