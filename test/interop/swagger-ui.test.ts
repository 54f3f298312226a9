// @fastify/swagger-ui in headless Chromium: the plugin's Basic scheme shows in the Authorize dialog; "Try it out"
// on a protected route answers 401 before authorizing and 200 after logging in through the dialog.
import type { AddressInfo } from 'node:net'
import Fastify from 'fastify'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import t from 'tap'
import cred, { SimpleRealm } from '../../lib/index.js'
import { MemoryChecker } from '../../lib/checkers/index.js'
import { IUser } from '../helpers/app.js'
import { chromium, launchChromium } from '../helpers/browser.js'
import { checkAtExit, watch } from '../helpers/hygiene.js'

t.test('Swagger UI: Authorize with Basic, then Try it out on a protected route', { skip: chromium.skip, timeout: 90_000 }, async (t) => {
  const app = Fastify()
  watch(app)
  checkAtExit()
  await app.register(swagger, { openapi: { info: { title: 'fastify-cred test', version: '1.0.0' } } })
  // Registered before the plugin: the UI and its document stay public (mode 'always' protects what comes after).
  await app.register(swaggerUi, { routePrefix: '/documentation', uiConfig: { validatorUrl: null } })
  await app.register(cred, {
    realm: new SimpleRealm().serve(IUser, (id) => ({ name: String(id) })),
    checkers: [new MemoryChecker({ alice: 'wonderland' })],
    interfaces: [IUser],
    authenticationRealm: 'swagger test'
  })
  app.get('/whoami', { schema: { operationId: 'whoami', response: { 200: { type: 'object', properties: { avatarId: { type: 'string' } } } } } },
    async (request) => ({ avatarId: String(request.avatarId) }))
  await app.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(() => app.close())
  const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`

  const browser = await launchChromium()
  t.teardown(() => browser.close())
  // No httpCredentials: the only credentials the page can send are those typed into Swagger UI.
  const page = await (await browser.newContext()).newPage()
  // A 401 with a Basic challenge makes a browser open its own login prompt, even for Swagger UI's fetch; headless
  // Chromium would wait on it forever. Press its Cancel, as a user would: the page then gets the 401.
  const cdp = await page.context().newCDPSession(page)
  let prompts = 0
  cdp.on('Fetch.requestPaused', (event) => { void cdp.send('Fetch.continueRequest', { requestId: event.requestId }) })
  cdp.on('Fetch.authRequired', (event) => {
    prompts++
    void cdp.send('Fetch.continueWithAuth', { requestId: event.requestId, authChallengeResponse: { response: 'CancelAuth' } })
  })
  await cdp.send('Fetch.enable', { handleAuthRequests: true, patterns: [{ urlPattern: '*' }] })
  const documentation = await page.goto(`${url}/documentation`)
  t.equal(documentation?.status(), 200, 'the UI is public')

  const operation = page.locator('#operations-default-whoami')
  await operation.locator('.opblock-summary').click()
  await operation.locator('.try-out__btn').click()
  const execute = async (): Promise<{ status: number, authorization: string | null }> => {
    const [response] = await Promise.all([
      page.waitForResponse((response) => response.url() === `${url}/whoami`),
      operation.locator('.execute').click()
    ])
    return { status: response.status(), authorization: await response.request().headerValue('authorization') }
  }
  const before = await execute()
  t.equal(before.status, 401, 'Try it out before authorizing: 401')
  t.equal(before.authorization, null, 'sent without credentials')
  t.equal(prompts, 1, "the browser's own login prompt came up once (and was cancelled)")
  await t.resolves(operation.locator('.live-responses-table .response-col_status', { hasText: '401' }).first().waitFor(), 'the UI shows the 401')

  await page.locator('.auth-wrapper .authorize').click()
  const dialog = page.locator('.modal-ux')
  await t.resolves(dialog.getByText('basicAuth', { exact: false }).first().waitFor(), 'the dialog lists basicAuth')
  t.match(await dialog.innerText(), /HTTP Basic \(RFC 7617\), realm "swagger test"/, 'with its description')
  await dialog.locator('input[type=text]').first().fill('alice')
  await dialog.locator('input[type=password]').first().fill('wonderland')
  await dialog.locator('button.modal-btn.auth.authorize').first().click()
  await dialog.locator('button.btn-done').first().click()

  const after = await execute()
  t.equal(after.status, 200, 'Try it out after authorizing: 200')
  t.equal(prompts, 1, 'no browser prompt once Swagger UI sends the credentials')
  t.equal(after.authorization, `Basic ${Buffer.from('alice:wonderland').toString('base64')}`, 'Swagger UI sent Basic credentials')
  await t.resolves(operation.locator('.live-responses-table .response-col_status', { hasText: '200' }).first().waitFor(), 'the UI shows the 200')
  t.match(await operation.locator('.live-responses-table').innerText(), /"avatarId": "alice"/, 'and the avatar')
})
