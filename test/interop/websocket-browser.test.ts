import type { AddressInfo } from 'node:net'
import Fastify from 'fastify'
import websocketPlugin from '@fastify/websocket'
import t from 'tap'
import type { Test } from 'tap'
import cred, { WebSocketMind, defineInterface } from '../../lib/index.js'
import type { CredPluginOptions, Realm } from '../../lib/index.js'
import { MemoryChecker } from '../../lib/checkers/index.js'
import { chromium, launchChromium } from '../helpers/browser.js'

interface User { readonly name: string }
const IUser = defineInterface<User>('IUser')

/**
 * A page (`/`) and a WebSocket route (`/ws`) behind the same credentials; the realm greets each WebSocket login
 * through its mind and counts logins and logouts.
 */
async function chatApp (t: Test, options: Partial<CredPluginOptions> = {}): Promise<{ url: string, ledger: { logins: number, logouts: number, authorizations: string[] } }> {
  const ledger = { logins: 0, logouts: 0, authorizations: [] as string[] }
  const realm: Realm = {
    requestAvatar (avatarId, mind) {
      const name = String(avatarId)
      if (!(mind instanceof WebSocketMind)) return { interface: IUser, avatar: { name }, logout: () => {} }
      ledger.logins++
      void mind.send(`hello ${name}, from the realm`)
      return { interface: IUser, avatar: { name }, logout: () => { ledger.logouts++ } }
    }
  }
  const app = Fastify()
  await app.register(websocketPlugin)
  await app.register(cred, { realm, checkers: [new MemoryChecker({ alice: 'wonderland' })], interfaces: [IUser], authenticationRealm: 'browser ws', ...options } as CredPluginOptions)
  app.addHook('onRequest', async (request) => { if (request.headers.upgrade !== undefined) ledger.authorizations.push(request.headers.authorization ?? 'none') })
  app.get('/', async (_request, reply) => await reply.type('text/html').send('<!doctype html><title>chat</title><p>chat</p>'))
  app.get('/public', { config: { cred: false } }, async (_request, reply) => await reply.type('text/html').send('<!doctype html><p>public</p>'))
  app.get('/ws', { websocket: true }, (socket, request) => {
    socket.on('message', (data) => { socket.send(`${(request.avatar as unknown as User).name} said ${String(data)}`) })
  })
  await app.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(async () => { await app.close() })
  return { url: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`, ledger }
}

/** In the page: open a WebSocket to /ws, send one message, collect two, close; or report how it failed. */
const openFromPage = `new Promise((resolve) => {
  const socket = new WebSocket(location.origin.replace('http', 'ws') + '/ws')
  const messages = []
  socket.onopen = () => { socket.send('hi') }
  socket.onmessage = (event) => { messages.push(String(event.data)); if (messages.length === 2) socket.close(1000, 'bye') }
  socket.onclose = (event) => { resolve({ messages, code: event.code }) }
})`

for (const scheme of ['basic', 'digest'] as const) {
  t.test(`headless Chromium opens new WebSocket() from a page it loaded with ${scheme} credentials`, { skip: chromium.skip, timeout: 60_000 }, async (t) => {
    const { url, ledger } = await chatApp(t, { schemes: scheme === 'digest' ? ['digest', 'basic'] : ['basic'] })
    const browser = await launchChromium()
    t.teardown(async () => { await browser.close() })

    const page = await (await browser.newContext({ httpCredentials: { username: 'alice', password: 'wonderland' } })).newPage()
    t.equal((await page.goto(`${url}/`))?.status(), 200)
    const result = await page.evaluate(openFromPage) as { messages: string[], code: number }
    t.same(result, { messages: ['hello alice, from the realm', 'alice said hi'], code: 1000 }, 'the realm\'s greeting first, then the echo')
    t.match(ledger.authorizations[0], scheme === 'digest' ? /^Digest / : /^Basic /, `the browser sent the page's ${scheme} credentials on the handshake`)
    await new Promise<void>((resolve) => { const poll = (): void => { if (ledger.logouts === 1) resolve(); else setTimeout(poll, 10) }; poll() })
    t.equal(ledger.logins, 1)
    t.equal(ledger.logouts, 1, 'logged out once the browser closed the socket')

    // A public page of a browser without credentials: the handshake is refused (401), which a browser reports as close code 1006.
    const stranger = await (await browser.newContext()).newPage()
    t.equal((await stranger.goto(`${url}/public`))?.status(), 200)
    const refused = await stranger.evaluate(openFromPage) as { messages: string[], code: number }
    t.same(refused, { messages: [], code: 1006 }, 'a refused handshake: no upgrade, no message')
    t.equal(ledger.authorizations[ledger.authorizations.length - 1], 'none', 'it was sent without credentials')
    t.equal(ledger.logins, 1, 'and no login')
  })
}
