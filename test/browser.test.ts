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

t.test('a real browser answers our Digest challenge with SHA-256, offered first, and reuses the nonce', { skip: chromium.skip, timeout: 60_000 }, async (t) => {
  const { app } = await buildApp({ schemes: ['digest', 'basic'] })
  const authorizations: string[] = []
  app.addHook('onRequest', async (request) => { if (request.headers.authorization !== undefined) authorizations.push(request.headers.authorization) })
  await app.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(() => app.close())
  const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`
  const browser = await launchChromium()
  t.teardown(() => browser.close())

  const context = await browser.newContext({ httpCredentials: { username: 'alice', password: 'wonderland' } })
  const page = await context.newPage()
  const first = await page.goto(`${url}/whoami?tab=1`)
  t.equal(first?.status(), 200)
  t.same(JSON.parse(await page.innerText('body')), { avatarId: 'alice', name: 'alice', interface: 'IUser' })
  t.match(authorizations[0], /^Digest /, 'the browser chose Digest over Basic')
  t.match(authorizations[0], /algorithm="?SHA-256"?/, 'and SHA-256, the first challenge')
  t.match(authorizations[0], /uri="\/whoami\?tab=1"/)

  const second = await page.goto(`${url}/whoami?tab=2`)
  t.equal(second?.status(), 200, 'a second page in the same session logs in too')
  const nonceOf = (header: string | undefined): string | undefined => /nonce="([^"]+)"/.exec(header ?? '')?.[1]
  const last = authorizations[authorizations.length - 1]
  t.equal(nonceOf(last), nonceOf(authorizations[0]), 'the browser reused the nonce')
  // The browser also fetches /favicon.ico on the same nonce, so count on increasing, not on exactly 2.
  const counts = authorizations.map((header) => Number.parseInt(/nc=([0-9a-f]{8})/.exec(header)?.[1] ?? 'NaN', 16))
  t.ok(counts.length >= 2 && counts.every((nc, i) => i === 0 || nc > (counts[i - 1] as number)), `nonce counts go up (${counts.join(', ')}): replay protection and a real browser get along`)

  const wrong = await browser.newContext({ httpCredentials: { username: 'alice', password: 'nope' } })
  t.equal((await (await wrong.newPage()).goto(`${url}/whoami`))?.status(), 401)
})
