import type { AddressInfo } from 'node:net'
import t from 'tap'
import { buildApp } from './helpers/app.js'
import { chromium, launchChromium } from './helpers/browser.js'

t.test('a real browser answers our Basic challenge, in UTF-8', { skip: chromium.skip, timeout: 60_000 }, async (t) => {
  const { app } = await buildApp()
  const schemesSeen: string[] = []
  app.addHook('onRequest', async (request) => { schemesSeen.push(request.headers.authorization?.split(' ')[0] ?? 'none') })
  await app.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(() => app.close())
  const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`
  const browser = await launchChromium()
  t.teardown(() => browser.close())

  const alice = await browser.newContext({ httpCredentials: { username: 'Łukasz', password: 'żółć:🙂' } })
  const page = await alice.newPage()
  const response = await page.goto(`${url}/whoami`)
  t.equal(response?.status(), 200)
  t.same(JSON.parse(await page.innerText('body')), { avatarId: 'Łukasz', name: 'Łukasz', interface: 'IUser' })
  t.same(schemesSeen.slice(0, 2), ['none', 'Basic'], 'first a bare request, then Basic after the challenge')

  const wrong = await browser.newContext({ httpCredentials: { username: 'alice', password: 'wrong' } })
  const refused = await (await wrong.newPage()).goto(`${url}/whoami`)
  t.equal(refused?.status(), 401)
})
