import type { AddressInfo } from 'node:net'
import t from 'tap'
import { buildApp } from '../helpers/app.js'
import { curl, curlRequest } from '../helpers/curl.js'

t.test('real curl logs in with -u against a listening server', { skip: curl.skip }, async (t) => {
  const { app } = await buildApp()
  await app.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(() => app.close())
  const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`

  const ok = await curlRequest(['-u', 'alice:wonderland'], `${url}/whoami`)
  t.equal(ok.status, 200)
  t.same(JSON.parse(ok.body), { avatarId: 'alice', name: 'alice', interface: 'IUser' })

  const utf8 = await curlRequest(['-u', 'Łukasz:żółć:🙂'], `${url}/whoami`)
  t.equal(utf8.status, 200, 'curl sends UTF-8 and a password with ":" survives')
  t.equal(JSON.parse(utf8.body).avatarId, 'Łukasz')

  const wrong = await curlRequest(['-u', 'alice:nope'], `${url}/whoami`)
  t.equal(wrong.status, 401)
  t.equal(JSON.parse(wrong.body).code, 'ERR_CRED_UNAUTHORIZED')

  const anyAuth = await curlRequest(['--anyauth', '-u', 'alice:wonderland'], `${url}/whoami`)
  t.equal(anyAuth.status, 200, 'curl --anyauth reads our challenge and picks Basic')
})
