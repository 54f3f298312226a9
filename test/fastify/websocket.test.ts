import type { AddressInfo } from 'node:net'
import Fastify from 'fastify'
import type { FastifyInstance } from 'fastify'
import websocketPlugin from '@fastify/websocket'
import t from 'tap'
import type { Test } from 'tap'
import WebSocket from 'ws'
import cred, { StoreUnavailable, WebSocketMind, defineInterface } from '../../lib/index.js'
import type { CredPluginOptions, Realm } from '../../lib/index.js'
import { MemoryChecker } from '../../lib/checkers/index.js'
import { ConnectionClosed, MissingPeerDependency } from '../../lib/cred/errors.js'
import { IUsernamePassword, UnauthorizedLogin } from '../../lib/cred/index.js'
import { MemoryThrottle } from '../../lib/throttle/index.js'
import { digestAuthorization, pickDigestChallenge } from '../../lib/client/index.js'
import { overrideDriver } from '../../lib/drivers/index.js'

interface User { readonly name: string }
const IUser = defineInterface<User>('IUser')

/** Everything the realm saw: logins with their minds, and logouts. */
interface Ledger {
  readonly minds: unknown[]
  logins: number
  logouts: number
  readonly logoutsBy: string[]
}

/** A realm that records each login's mind and counts logins and logouts; `onLogin` may use the mind. */
function recordingRealm (ledger: Ledger, onLogin?: (mind: unknown, name: string) => void): Realm {
  return {
    requestAvatar (avatarId, mind) {
      const name = String(avatarId)
      ledger.logins++
      ledger.minds.push(mind)
      onLogin?.(mind, name)
      return { interface: IUser, avatar: { name }, logout: () => { ledger.logouts++; ledger.logoutsBy.push(name) } }
    }
  }
}

const newLedger = (): Ledger => ({ minds: [], logins: 0, logouts: 0, logoutsBy: [] })

interface WsApp {
  readonly app: FastifyInstance
  readonly url: string
  readonly ledger: Ledger
}

/** A listening app: @fastify/websocket, the plugin, a WebSocket route /ws that echoes, and /ws-public (cred: false). */
async function wsApp (t: Test, options: Partial<CredPluginOptions> = {}, onLogin?: (mind: unknown, name: string) => void): Promise<WsApp> {
  const ledger = newLedger()
  const app = Fastify()
  await app.register(websocketPlugin)
  await app.register(cred, {
    realm: recordingRealm(ledger, onLogin),
    checkers: [new MemoryChecker({ alice: 'wonderland', bob: 'builder' })],
    interfaces: [IUser],
    authenticationRealm: 'ws test',
    ...options
  } as CredPluginOptions)
  app.get('/ws', { websocket: true }, (socket, request) => {
    socket.send(`handler: ${(request.avatar as User | null)?.name ?? 'nobody'}`)
    socket.on('message', (data) => {
      const text = String(data)
      if (text === 'close-please') socket.close(4000, 'as asked')
      else if (text === 'terminate-please') socket.terminate()
      else socket.send(`echo: ${text}`)
    })
  })
  app.get('/ws-public', { websocket: true, config: { cred: false } }, (socket, request) => {
    socket.send(`public: ${String(request.avatarId)}`)
  })
  await app.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(async () => { await app.close() })
  return { app, url: `ws://127.0.0.1:${(app.server.address() as AddressInfo).port}`, ledger }
}

/** Opens a WebSocket and collects its messages; resolves once open (rejects on a refused handshake). */
async function connect (url: string, options: WebSocket.ClientOptions = {}): Promise<{ socket: WebSocket, messages: string[], closed: Promise<{ code: number, reason: string }> }> {
  const socket = new WebSocket(url, options)
  const messages: string[] = []
  socket.on('message', (data) => { messages.push(String(data)) })
  const closed = new Promise<{ code: number, reason: string }>((resolve) => { socket.on('close', (code, reason) => { resolve({ code, reason: String(reason) }) }) })
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => { resolve() })
    socket.once('error', reject)
    socket.once('unexpected-response', (_request, response) => { reject(new Error(`unexpected ${String(response.statusCode)}`)) })
  })
  return { socket, messages, closed }
}

/** A refused handshake: the status, headers and body a real `ws` client saw through 'unexpected-response'. */
async function refusedHandshake (url: string, options: WebSocket.ClientOptions = {}): Promise<{ status: number, headers: Record<string, string | string[] | undefined>, body: string, upgraded: boolean }> {
  const socket = new WebSocket(url, options)
  let upgraded = false
  socket.on('upgrade', () => { upgraded = true })
  socket.on('error', () => {})
  return await new Promise((resolve, reject) => {
    socket.once('open', () => { socket.terminate(); reject(new Error('the handshake was accepted')) })
    socket.once('unexpected-response', (_request, response) => {
      let body = ''
      response.setEncoding('utf8')
      response.on('data', (chunk: string) => { body += chunk })
      response.on('end', () => { resolve({ status: response.statusCode ?? 0, headers: response.headers, body, upgraded }) })
    })
  })
}

/** A handshake's Basic credentials ('user:password'), sent up front as `ws` clients do. */
const basicAuth = (userPassword: string): WebSocket.ClientOptions => ({ headers: { authorization: `Basic ${Buffer.from(userPassword).toString('base64')}` } })

/** Waits until `condition` holds (polled; no timing is asserted, the test's timeout bounds it). */
async function until (condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 5))
}

const nextMessage = async (messages: string[], count: number): Promise<string[]> => { await until(() => messages.length >= count); return messages.slice(0, count) }

t.test('a Basic handshake logs in; the realm gets a WebSocketMind; logout waits for the socket, not the 101', async (t) => {
  const { url, ledger, app } = await wsApp(t)
  const { socket, messages, closed } = await connect(`${url}/ws`, basicAuth('alice:wonderland'))
  t.same(await nextMessage(messages, 1), ['handler: alice'], 'the route sees the avatar')
  t.equal(ledger.logins, 1)
  t.ok(ledger.minds[0] instanceof WebSocketMind, 'the realm can tell a WebSocket mind by its class')
  const mind = ledger.minds[0] as WebSocketMind
  t.equal(mind.state, 'open')

  socket.send('ping 1')
  t.same(await nextMessage(messages, 2), ['handler: alice', 'echo: ping 1'])
  t.equal(ledger.logouts, 0, 'the upgrade response ended long ago, and the login is still alive')

  socket.close(1000, 'done')
  t.same(await mind.closed, { code: 1000, reason: 'done' }, 'closed reports the close frame')
  t.equal(ledger.logouts, 1, 'logout was called before closed resolved')
  t.equal(mind.state, 'closed')
  await closed
  await t.rejects(mind.send('late'), ConnectionClosed, 'a send after the close is refused with a typed error')

  // The same route without upgrade: the plugin answers it like any route, and the realm gets the HTTP mind (null).
  const plain = await app.inject({ method: 'GET', url: '/ws', headers: { authorization: `Basic ${Buffer.from('alice:wonderland').toString('base64')}` } })
  t.equal(plain.statusCode, 404, "@fastify/websocket's answer to a plain GET of a WebSocket route")
  t.equal(ledger.minds[1], null, 'an HTTP request gets the HTTP mind')
  t.equal(ledger.logouts, 2, 'and its logout ran when its response ended')
})

t.test('a Digest handshake logs in (challenge from a plain GET of the route, answered on the handshake)', async (t) => {
  const { url, ledger } = await wsApp(t, { schemes: ['digest', 'basic'] })
  const httpUrl = url.replace('ws:', 'http:')
  const challenged = await fetch(`${httpUrl}/ws`)
  t.equal(challenged.status, 401)
  const challenge = pickDigestChallenge(challenged.headers.get('www-authenticate') ?? '')
  if (challenge === undefined) throw new Error('no Digest challenge')
  t.equal(challenge.algorithm, 'SHA-256')
  const { authorization } = digestAuthorization(challenge, 'bob', 'builder', { method: 'GET', uri: '/ws', nc: 1 })
  const { socket, messages, closed } = await connect(`${url}/ws`, { headers: { authorization } })
  t.same(await nextMessage(messages, 1), ['handler: bob'])
  t.ok(ledger.minds[0] instanceof WebSocketMind)

  // The same header again is a replay: refused before the realm is asked.
  const replay = await refusedHandshake(`${url}/ws`, { headers: { authorization } })
  t.equal(replay.status, 401)
  t.equal(ledger.logins, 1, 'a replayed handshake made no avatar')
  socket.terminate()
  await closed
  await until(() => ledger.logouts === 1)
  t.equal(ledger.logouts, 1)
})

t.test('refused handshakes get the usual answers with their challenges, and no upgrade', async (t) => {
  let storeDown = false
  const flaky = {
    credentialInterfaces: [IUsernamePassword],
    requestAvatarId: (credentials: IUsernamePassword) => {
      if (storeDown) throw new StoreUnavailable('the user database is down')
      if (credentials.username === 'alice' && credentials.password === 'wonderland') return 'alice'
      throw new UnauthorizedLogin('Invalid user name or password')
    }
  }
  const throttle = new MemoryThrottle({ userThreshold: 2, addressThreshold: 1000 })
  t.teardown(async () => { await throttle.close() })
  const { url, ledger, app } = await wsApp(t, { checkers: [flaky], throttle })
  let connections = 0
  app.websocketServer.on('connection', () => { connections++ })

  const none = await refusedHandshake(`${url}/ws`)
  t.equal(none.status, 401)
  t.equal(none.headers['www-authenticate'], 'Basic realm="ws test", charset="UTF-8"', 'the challenge')
  t.equal(none.upgraded, false)

  const wrong = await refusedHandshake(`${url}/ws`, basicAuth('alice:wrong'))
  t.equal(wrong.status, 401)
  t.match(JSON.parse(wrong.body), { code: 'ERR_CRED_UNAUTHORIZED' })

  const malformed = await refusedHandshake(`${url}/ws`, { headers: { authorization: 'Basic !!!not-base64!!!' } })
  t.equal(malformed.status, 400)

  await refusedHandshake(`${url}/ws`, basicAuth('alice:wrong'))
  const throttled = await refusedHandshake(`${url}/ws`, basicAuth('alice:wonderland'))
  t.equal(throttled.status, 429, 'the throttle refuses the handshake as it would any request')
  t.ok(Number(throttled.headers['retry-after']) > 0, 'with Retry-After')

  storeDown = true
  const down = await refusedHandshake(`${url}/ws`, basicAuth('bob:builder'))
  t.equal(down.status, 503)
  t.ok(Number(down.headers['retry-after']) > 0)

  t.equal(connections, 0, 'no refused handshake was upgraded')
  t.equal(ledger.logins, 0, 'and none reached the realm')

  const open = await connect(`${url}/ws-public`)
  t.same(await nextMessage(open.messages, 1), ['public: null'], 'config.cred: false makes a WebSocket route public')
  open.socket.close()
  await open.closed
})

t.test('logout runs exactly once, whoever closes the socket', async (t) => {
  const { url, ledger, app } = await wsApp(t)
  const minds = (): WebSocketMind[] => ledger.minds as WebSocketMind[]
  const auth = basicAuth('alice:wonderland')

  const byClient = await connect(`${url}/ws`, auth)
  byClient.socket.close()
  await byClient.closed
  await until(() => ledger.logouts === 1)

  const reset = await connect(`${url}/ws`, auth)
  await nextMessage(reset.messages, 1)
  // A TCP reset: no close frame, no FIN.
  const raw = (reset.socket as unknown as { _socket: import('node:net').Socket })._socket
  raw.resetAndDestroy()
  t.equal((await minds()[1]?.closed)?.code, 1006, 'no close frame: 1006')
  t.equal(ledger.logouts, 2)

  const byServer = await connect(`${url}/ws`, auth)
  byServer.socket.send('close-please')
  t.same(await byServer.closed, { code: 4000, reason: 'as asked' })
  await minds()[2]?.closed
  t.equal(ledger.logouts, 3)

  const terminated = await connect(`${url}/ws`, auth)
  terminated.socket.send('terminate-please')
  await terminated.closed
  await minds()[3]?.closed
  t.equal(ledger.logouts, 4)

  const byMind = await connect(`${url}/ws`, auth)
  await nextMessage(byMind.messages, 1)
  minds()[4]?.close(4001, 'session expired')
  t.same(await byMind.closed, { code: 4001, reason: 'session expired' }, 'mind.close reaches the client')
  await minds()[4]?.closed
  t.equal(ledger.logouts, 5)

  const held = await connect(`${url}/ws`, auth)
  await nextMessage(held.messages, 1)
  t.equal(ledger.logouts, 5, 'a held socket stays logged in')
  await app.close()
  await held.closed
  t.equal(ledger.logouts, 6, 'fastify.close() closed the held socket and logged it out')
  t.equal(ledger.logins, ledger.logouts)
  t.same(new Set(ledger.logoutsBy), new Set(['alice']))
})

t.test('with pingInterval, a client that stops answering pings is disconnected and logged out', async (t) => {
  const { url, ledger } = await wsApp(t, { websocket: { pingInterval: 50 } })
  const answering = await connect(`${url}/ws`, basicAuth('alice:wonderland'))
  let pings = 0
  answering.socket.on('ping', () => { pings++ })
  const silent = await connect(`${url}/ws`, { ...basicAuth('bob:builder'), autoPong: false })
  const silentMind = ledger.minds[1] as WebSocketMind
  t.equal((await silentMind.closed).code, 1006, 'terminated without a close frame')
  await silent.closed
  t.same(ledger.logoutsBy, ['bob'], 'the silent client was logged out')
  await until(() => pings >= 3)
  t.equal((ledger.minds[0] as WebSocketMind).state, 'open', 'the client answering pings stays')
  answering.socket.close()
  await answering.closed
  await until(() => ledger.logouts === 2)
  t.equal(ledger.logins, ledger.logouts)
})

t.test('the mind from requestAvatar on: sends queued before the upgrade arrive first and in order', async (t) => {
  const { url, ledger } = await wsApp(t, {}, (mind) => {
    if (!(mind instanceof WebSocketMind)) return
    t.equal(mind.state, 'connecting', 'in requestAvatar the handshake is not finished')
    void mind.send('realm: one')
    void mind.send(new TextEncoder().encode('realm: two'))
  })
  const { socket, messages, closed } = await connect(`${url}/ws`, basicAuth('alice:wonderland'))
  t.same(await nextMessage(messages, 3), ['realm: one', 'realm: two', 'handler: alice'], 'queued sends first, in order, then the handler')
  const mind = ledger.minds[0] as WebSocketMind
  await t.resolves(mind.send('after the upgrade'), 'a send resolves once handed to the socket')
  t.same(await nextMessage(messages, 4), ['realm: one', 'realm: two', 'handler: alice', 'after the upgrade'])
  t.throws(() => { mind.close(1006) }, RangeError, 'a code a close frame cannot carry')
  t.throws(() => { mind.close(1000, 'x'.repeat(124)) }, RangeError, 'a reason too long for a close frame')
  socket.close()
  await closed
})

t.test('a close asked in requestAvatar happens right after the upgrade, after the queued sends', async (t) => {
  const { url, ledger } = await wsApp(t, {}, (mind) => {
    if (!(mind instanceof WebSocketMind)) return
    void mind.send('last words')
    mind.close(4002, 'no room')
  })
  const { messages, closed } = await connect(`${url}/ws`, basicAuth('alice:wonderland'))
  t.same(await closed, { code: 4002, reason: 'no room' })
  t.equal(messages[0], 'last words')
  await until(() => ledger.logouts === 1)
  t.equal(ledger.logins, 1)
})

t.test('when the handshake fails after the login, the queued sends reject with ConnectionClosed and the logout runs once', async (t) => {
  const ledger = newLedger()
  const sends: Array<Promise<void>> = []
  const app = Fastify()
  await app.register(websocketPlugin)
  await app.register(cred, {
    realm: recordingRealm(ledger, (mind) => { if (mind instanceof WebSocketMind) sends.push(mind.send('never delivered')) }),
    checkers: [new MemoryChecker({ alice: 'wonderland' })],
    interfaces: [IUser]
  })
  let connections = 0
  app.websocketServer.on('connection', () => { connections++ })
  // A later hook of the route refuses after the plugin's login: the handshake is answered 403, not upgraded.
  app.get('/ws', { websocket: true, onRequest: (_request, reply, done) => { void reply.code(403).send({ refused: true }); done() } }, () => {})
  await app.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(async () => { await app.close() })
  const refused = await refusedHandshake(`ws://127.0.0.1:${(app.server.address() as AddressInfo).port}/ws`, basicAuth('alice:wonderland'))
  t.equal(refused.status, 403)
  t.equal(ledger.logins, 1)
  const mind = ledger.minds[0] as WebSocketMind
  t.same(await mind.closed, { code: 1006, reason: '' })
  await t.rejects(sends[0] as Promise<void>, ConnectionClosed, 'the send queued in requestAvatar is refused with a typed error')
  t.equal(ledger.logouts, 1)
  t.equal(connections, 0)
})

t.test('broadcast: the realm pushes to both users; one leaves, the other keeps receiving; logins == logouts', async (t) => {
  const room = new Set<WebSocketMind>()
  const ledger = newLedger()
  const app = Fastify()
  await app.register(cred, {
    // The seed's pattern as written: attached(mind) in requestAvatar, detached(mind) in logout.
    realm: {
      requestAvatar (avatarId, mind) {
        ledger.logins++
        const avatar = {
          name: String(avatarId),
          attached (m: WebSocketMind) { room.add(m) },
          detached (m: WebSocketMind) { room.delete(m); ledger.logouts++ }
        }
        if (!(mind instanceof WebSocketMind)) throw new Error('this realm serves WebSocket sessions only')
        avatar.attached(mind)
        return { interface: IUser, avatar, logout: () => { avatar.detached(mind) } }
      }
    },
    checkers: [new MemoryChecker({ alice: 'wonderland', bob: 'builder' })],
    interfaces: [IUser],
    websocket: true
  })
  app.get('/room', { websocket: true }, () => {})
  await app.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(async () => { await app.close() })
  const url = `ws://127.0.0.1:${(app.server.address() as AddressInfo).port}/room`
  const broadcast = (text: string): void => { for (const mind of room) void mind.send(text) }

  const alice = await connect(url, basicAuth('alice:wonderland'))
  const bob = await connect(url, basicAuth('bob:builder'))
  t.equal(room.size, 2)
  broadcast('news 1')
  t.same(await nextMessage(alice.messages, 1), ['news 1'])
  t.same(await nextMessage(bob.messages, 1), ['news 1'])

  bob.socket.close()
  await bob.closed
  await until(() => room.size === 1)
  broadcast('news 2')
  t.same(await nextMessage(alice.messages, 2), ['news 1', 'news 2'], 'alice keeps receiving')
  t.same(bob.messages, ['news 1'], 'bob, gone, received nothing more')

  alice.socket.terminate()
  await alice.closed
  await until(() => room.size === 0)
  t.equal(ledger.logins, 2)
  t.equal(ledger.logouts, ledger.logins)
})

t.test('500 connections, closed, terminated, gone quiet, or held through fastify.close() mid-way: logins == logouts, no listener left', async (t) => {
  const ledger = newLedger()
  const app = Fastify()
  // Bounded close handshakes: a client that does not answer a close frame is cut off after 2 s, not ws's 30 s.
  await app.register(websocketPlugin, { options: { closeTimeout: 2000 } as Record<string, unknown> })
  await app.register(cred, { realm: recordingRealm(ledger), checkers: [new MemoryChecker({ alice: 'wonderland' })], interfaces: [IUser] })
  app.get('/ws', { websocket: true }, (socket) => { socket.send('hi') })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const url = `ws://127.0.0.1:${(app.server.address() as AddressInfo).port}/ws`
  const upgradeListeners = app.server.listenerCount('upgrade')
  const warnings: Error[] = []
  const onWarning = (warning: Error): void => { warnings.push(warning) }
  process.on('warning', onWarning)
  t.teardown(() => { process.off('warning', onWarning) })

  // The clients only act; what is checked is the server's side (the clients' own 'close' is ws's business).
  const clients: WebSocket[] = []
  t.teardown(() => { for (const client of clients) client.terminate() })
  const connectOne = async (i: number): Promise<void> => {
    const socket = new WebSocket(url, { ...basicAuth('alice:wonderland'), closeTimeout: 2000 } as WebSocket.ClientOptions)
    clients.push(socket)
    socket.on('error', () => {})
    const opened = await new Promise<boolean>((resolve) => {
      socket.once('message', () => { resolve(true) })
      socket.once('close', () => { resolve(false) })
    })
    if (!opened) return
    if (i % 4 === 0) socket.close()
    else if (i % 4 === 1) socket.terminate()
    else if (i % 4 === 2) socket.pause() // gone quiet: its close handshake is cut off by the close timeout
    // else held open
  }

  await Promise.all(Array.from({ length: 250 }, async (_, i) => { await connectOne(i) }))
  t.equal(ledger.logins, 250)
  t.equal(app.server.listenerCount('upgrade'), upgradeListeners, 'no upgrade listener added per connection')
  t.equal(app.websocketServer.listenerCount('connection'), 1, 'one connection listener, whatever the number of minds')
  // The second half is still connecting (some mid-handshake) when the server closes.
  void Promise.all(Array.from({ length: 250 }, async (_, i) => { await connectOne(i) }))
  await until(() => ledger.logins >= 300)
  const heldAtClose = (ledger.minds as WebSocketMind[]).filter((mind) => mind.state === 'open').length
  await app.close()
  t.equal(app.websocketServer.clients.size, 0, 'no socket left open')
  t.equal(ledger.logouts, ledger.logins, `as many logouts as logins (${ledger.logins}), all run when fastify.close() resolved`)
  t.ok(heldAtClose > 0, `${heldAtClose} sockets were open when fastify.close() was called`)
  t.same(warnings.filter((w) => w.name === 'MaxListenersExceededWarning').map(String), [], 'no listener leak warning')
})

t.test('websocket: true without @fastify/websocket installed rejects register() naming the package', async (t) => {
  t.teardown(overrideDriver('@fastify/websocket', async () => { throw Object.assign(new Error("Cannot find package '@fastify/websocket'"), { code: 'ERR_MODULE_NOT_FOUND' }) }))
  const app = Fastify()
  t.teardown(async () => { await app.close() })
  const registered = app.register(cred, { realm: recordingRealm(newLedger()), checkers: [new MemoryChecker({ alice: 'wonderland' })], interfaces: [IUser], websocket: true })
  await t.rejects(async () => { await registered }, MissingPeerDependency)
  await t.rejects(async () => { await app.ready() }, /npm install @fastify\/websocket/)
})

t.test('websocket: true registers @fastify/websocket itself, or uses the one already registered', async (t) => {
  const { url } = await wsApp(t, { websocket: true }) // registered before: not registered twice
  const open = await connect(`${url}/ws`, basicAuth('alice:wonderland'))
  t.same(await nextMessage(open.messages, 1), ['handler: alice'])
  open.socket.close()
  await open.closed

  const app = Fastify()
  t.teardown(async () => { await app.close() })
  await app.register(cred, { realm: recordingRealm(newLedger()), checkers: [new MemoryChecker({ alice: 'wonderland' })], interfaces: [IUser], websocket: { pingInterval: 0 } })
  t.ok(app.hasDecorator('websocketServer'), 'registered by the plugin')
  await t.rejects(async () => { await Fastify().register(cred, { realm: recordingRealm(newLedger()), checkers: [], interfaces: [IUser], websocket: { pingInterval: -1 } }) }, { code: 'ERR_CRED_INVALID_OPTION' })
})
