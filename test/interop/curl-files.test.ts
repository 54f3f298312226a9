import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import t from 'tap'
import type { Test } from 'tap'
import Fastify from 'fastify'
import { cred } from '../../lib/fastify/index.js'
import type { CredPluginOptions } from '../../lib/fastify/index.js'
import { SimpleRealm, defineInterface } from '../../lib/cred/index.js'
import { CachingChecker, HtdigestChecker, HtpasswdChecker } from '../../lib/checkers/index.js'
import { apacheSkip, htdigest, htpasswd, tempDir } from '../helpers/apache.js'
import type { HtpasswdFormat } from '../helpers/apache.js'
import { curl, curlRequest } from '../helpers/curl.js'

interface User { readonly name: string }
const IUser = defineInterface<User>('IUser')
const skip = apacheSkip !== false ? apacheSkip : curl.skip
const PASSWORD = 'żółć:🙂 x'

/** A listening app with the plugin (public options only) and one route saying who logged in. */
async function serve (t: Test, options: Partial<CredPluginOptions>): Promise<string> {
  const app = Fastify()
  await app.register(cred, {
    realm: new SimpleRealm().serve(IUser, (id) => ({ name: String(id) })),
    interfaces: [IUser],
    ...options
  } as CredPluginOptions)
  app.get('/whoami', async (request) => ({ avatarId: request.avatarId }))
  await app.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(() => app.close())
  return `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`
}

t.test('curl Basic against an htpasswd file in every format, plain and cached', { skip }, async (t) => {
  const dir = await tempDir(t)
  const file = join(dir, 'htpasswd')
  const formats: HtpasswdFormat[] = ['-B', '-m', '-s', '-d', '-2', '-5', '-p']
  await htpasswd(file, 'admin', 'x', '-B', { create: true })
  for (const format of formats) await htpasswd(file, `user${format}`, PASSWORD, format)
  const checker = new HtpasswdChecker(file, { onWarning: () => {} })
  for (const [name, checkers] of [['uncached', [checker]], ['cached', [new CachingChecker(checker)]]] as const) {
    const url = await serve(t, { checkers, authenticationRealm: 'files' })
    for (const format of formats) {
      const ok = await curlRequest(['-u', `user${format}:${PASSWORD}`], `${url}/whoami`)
      t.equal(ok.status, 200, `${name}: ${format} logs in with curl`)
      t.same(JSON.parse(ok.body), { avatarId: `user${format}` })
    }
    const wrong = await curlRequest(['-u', `user-B:${PASSWORD}!`], `${url}/whoami`)
    t.equal(wrong.status, 401, `${name}: wrong password`)
    t.match(wrong.headers, /WWW-Authenticate: Basic realm="files"/i)
    const unknown = await curlRequest(['-u', `nobody:${PASSWORD}`], `${url}/whoami`)
    t.equal(unknown.status, 401, `${name}: unknown user`)
    t.equal(unknown.body, wrong.body, 'the same answer for both')
  }
})

t.test('curl Digest MD5 and Basic against an htdigest file', { skip }, async (t) => {
  const dir = await tempDir(t)
  const file = join(dir, 'htdigest')
  await htdigest(file, 'staff', 'alice', 'wonderland', true)
  await htdigest(file, 'staff', 'Łukasz', PASSWORD)
  const checker = new HtdigestChecker(file)
  t.same(checker.setupProblems({ authenticationRealm: 'staff', digestAlgorithms: ['MD5'] }), [], 'this set-up is one the file can serve')
  const url = await serve(t, { checkers: [checker], authenticationRealm: 'staff', schemes: ['digest', 'basic'], digest: { algorithms: ['MD5'] } })

  const digest = await curlRequest(['--digest', '-u', 'alice:wonderland'], `${url}/whoami`)
  t.equal(digest.status, 200, 'curl --digest (MD5) logs in')
  t.same(JSON.parse(digest.body), { avatarId: 'alice' })
  t.match(digest.headers, /Authentication-Info: rspauth="[0-9a-f]{32}"/i, 'with the server\'s proof, from the file\'s HA1')
  const utf8 = await curlRequest(['--digest', '-u', `Łukasz:${PASSWORD}`], `${url}/whoami`)
  t.equal(utf8.status, 200, 'UTF-8 name, password with ":"')
  t.same(JSON.parse(utf8.body), { avatarId: 'Łukasz' })
  const wrong = await curlRequest(['--digest', '-u', 'alice:wrong'], `${url}/whoami`)
  t.equal(wrong.status, 401)

  const basic = await curlRequest(['--basic', '-u', `Łukasz:${PASSWORD}`], `${url}/whoami`)
  t.equal(basic.status, 200, 'curl --basic: the password hashed with the file\'s realm')
  t.same(JSON.parse(basic.body), { avatarId: 'Łukasz' })
  t.equal((await curlRequest(['--basic', '-u', 'alice:wrong'], `${url}/whoami`)).status, 401)
})
