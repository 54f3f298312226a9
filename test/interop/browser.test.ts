import type { AddressInfo } from 'node:net'
import t from 'tap'
import type { Test } from 'tap'
import type { Browser } from 'playwright-core'
import { buildApp } from '../helpers/app.js'
import type { CredPluginOptions } from '../../lib/index.js'
import { chromium, launchChromium } from '../helpers/browser.js'

/** A listening test app that records every Authorization header it gets (undefined for none), and a browser. */
async function appAndBrowser (t: Test, options: Partial<CredPluginOptions> = {}): Promise<{ url: string, authorizations: Array<string | undefined>, browser: Browser }> {
  const { app } = await buildApp(options)
  const authorizations: Array<string | undefined> = []
  app.addHook('onRequest', async (request) => { authorizations.push(request.headers.authorization) })
  await app.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(() => app.close())
  const browser = await launchChromium()
  t.teardown(() => browser.close())
  return { url: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`, authorizations, browser }
}

t.test('a real browser answers our Basic challenge, in UTF-8', { skip: chromium.skip, timeout: 60_000 }, async (t) => {
  const { url, authorizations, browser } = await appAndBrowser(t)

  const alice = await browser.newContext({ httpCredentials: { username: 'Łukasz', password: 'żółć:🙂' } })
  const page = await alice.newPage()
  const response = await page.goto(`${url}/whoami`)
  t.equal(response?.status(), 200)
  t.same(JSON.parse(await page.innerText('body')), { avatarId: 'Łukasz', name: 'Łukasz', interface: 'IUser' })
  t.same(authorizations.slice(0, 2).map((header) => header?.split(' ')[0] ?? 'none'), ['none', 'Basic'], 'first a bare request, then Basic after the challenge')

  const wrong = await browser.newContext({ httpCredentials: { username: 'alice', password: 'wrong' } })
  const refused = await (await wrong.newPage()).goto(`${url}/whoami`)
  t.equal(refused?.status(), 401)
})

t.test('a real browser answers our Digest challenge with SHA-256, offered first, and reuses the nonce', { skip: chromium.skip, timeout: 60_000 }, async (t) => {
  const { url, authorizations: seen, browser } = await appAndBrowser(t, { schemes: ['digest', 'basic'] })
  const sent = (): string[] => seen.filter((header): header is string => header !== undefined)

  const context = await browser.newContext({ httpCredentials: { username: 'alice', password: 'wonderland' } })
  const page = await context.newPage()
  const first = await page.goto(`${url}/whoami?tab=1`)
  t.equal(first?.status(), 200)
  t.same(JSON.parse(await page.innerText('body')), { avatarId: 'alice', name: 'alice', interface: 'IUser' })
  const [firstAuthorization] = sent()
  t.match(firstAuthorization, /^Digest /, 'the browser chose Digest over Basic')
  t.match(firstAuthorization, /algorithm="?SHA-256"?/, 'and SHA-256, the first challenge')
  t.match(firstAuthorization, /uri="\/whoami\?tab=1"/)

  const second = await page.goto(`${url}/whoami?tab=2`)
  t.equal(second?.status(), 200, 'a second page in the same session logs in too')
  const nonceOf = (header: string | undefined): string | undefined => /nonce="([^"]+)"/.exec(header ?? '')?.[1]
  const authorizations = sent()
  const last = authorizations[authorizations.length - 1]
  t.equal(nonceOf(last), nonceOf(firstAuthorization), 'the browser reused the nonce')
  // The browser also fetches /favicon.ico on the same nonce, so count on increasing, not on exactly 2.
  const counts = authorizations.map((header) => Number.parseInt(/nc=([0-9a-f]{8})/.exec(header)?.[1] ?? 'NaN', 16))
  t.ok(counts.length >= 2 && counts.every((nc, i) => i === 0 || nc > (counts[i - 1] as number)), `nonce counts go up (${counts.join(', ')}): replay protection and a real browser get along`)

  const wrong = await browser.newContext({ httpCredentials: { username: 'alice', password: 'nope' } })
  t.equal((await (await wrong.newPage()).goto(`${url}/whoami`))?.status(), 401)
})
