import type { EventEmitter } from 'node:events'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { ConnectionClosed, InvalidOption } from '../cred/index.js'
import { loadDriver } from '../drivers/index.js'

/**
 * WebSocket sessions: a login made on a WebSocket handshake (a `{ websocket: true }` route of `@fastify/websocket`)
 * lives as long as the socket, and its realm receives a `WebSocketMind`, through which the avatar talks to the
 * client (Perspective Broker's mind, in WebSocket form).
 */

/** How a WebSocket connection ended: the close code (1006 when it ended without a close frame) and reason. */
export interface WebSocketCloseInfo {
  readonly code: number
  readonly reason: string
}

/** What `WebSocketMind.send` takes: text, or binary data. */
export type WebSocketData = string | ArrayBuffer | ArrayBufferView

/** Where a WebSocket mind's connection is: as `WebSocket.readyState`, in words. */
export type WebSocketMindState = 'connecting' | 'open' | 'closing' | 'closed'

/** The few members of a `ws` WebSocket used here (no type of `ws` appears in the published declarations). */
interface WsSocket {
  send (data: WebSocketData, callback: (err?: Error) => void): void
  close (code?: number, reason?: string): void
  ping (): void
  terminate (): void
  on (event: 'close', listener: (code: number, reason: Buffer) => void): unknown
  on (event: 'pong', listener: () => void): unknown
}

interface PendingSend {
  readonly data: WebSocketData
  readonly resolve: () => void
  readonly reject: (err: Error) => void
}

/** The plugin's `websocket` option, resolved, and the sessions of one plugin instance. */
export interface WebSocketSettings {
  /** Milliseconds between pings; a socket that has not answered the previous ping is terminated. 0: never. */
  readonly pingInterval: number
  /** The minds not yet closed, which `closeWebSocketSessions` closes with the server. */
  readonly live: Set<WebSocketMind>
}

let createMind: () => WebSocketMind
let openMind: (mind: WebSocketMind, socket: WsSocket, settings: WebSocketSettings) => void
let endHandshake: (mind: WebSocketMind) => void
let goAway: (mind: WebSocketMind) => void
let onMindEnd: (mind: WebSocketMind, listener: () => void) => void

/**
 * The mind a realm receives for a login made on a WebSocket handshake: the connection being opened, from
 * `requestAvatar` onwards. The realm tells it from an HTTP request's mind by its class
 * (`mind instanceof WebSocketMind`). Made by the plugin only.
 *
 * - `send(data)` before the upgrade completes (in `requestAvatar`) is queued and delivered right after it, in
 *   order, before anything the route's handler sends. If the handshake never completes (refused, the client gone,
 *   the server closing), the queued sends reject with `ConnectionClosed` and nothing is delivered.
 * - The login's `logout` runs exactly once, when the socket closes, whoever closes it; `closed` resolves then,
 *   after the logout was called.
 *
 * @example
 * // The seed's pattern: attached(mind) in requestAvatar, detached(mind) in logout.
 * import { WebSocketMind, defineInterface } from 'fastify-cred'
 * import type { Realm } from 'fastify-cred'
 * const IChat = defineInterface<ChatUser>('IChat')
 * const realm: Realm = {
 *   requestAvatar (avatarId, mind) {
 *     const user = new ChatUser(String(avatarId))
 *     if (mind instanceof WebSocketMind) user.attached(mind)   // mind.send('welcome') is fine already
 *     return { interface: IChat, avatar: user, logout: () => { if (mind instanceof WebSocketMind) user.detached(mind) } }
 *   }
 * }
 */
export class WebSocketMind {
  /** Resolves once the connection has closed (never rejects); the login's `logout` has been called by then. */
  readonly closed: Promise<WebSocketCloseInfo>
  #state: WebSocketMindState = 'connecting'
  #socket: WsSocket | undefined
  #queue: PendingSend[] = []
  #closing: { code: number | undefined, reason: string | undefined } | undefined
  #onEnd: Array<() => void> = []
  #resolveClosed!: (info: WebSocketCloseInfo) => void

  static {
    createMind = () => new WebSocketMind()
    openMind = (mind, socket, settings) => { mind.#open(socket, settings) }
    // Once upgraded, `ws` reports the end (with the close code); until then, the TCP socket's 'close' does.
    goAway = (mind) => { mind.#closeWith(1001, 'server shutting down') }
    endHandshake = (mind) => { if (mind.#socket === undefined) mind.#end(1006, '') }
    onMindEnd = (mind, listener) => {
      if (mind.#state === 'closed') listener()
      else mind.#onEnd.push(listener)
    }
  }

  private constructor () {
    this.closed = new Promise((resolve) => { this.#resolveClosed = resolve })
  }

  /** `'connecting'` until the upgrade completes, `'open'`, `'closing'` after `close()`, `'closed'`. */
  get state (): WebSocketMindState { return this.#state }

  /**
   * Sends one message (a string as a text frame, binary data as a binary frame). Before the upgrade completes it is
   * queued, and goes out right after it, in order.
   *
   * @returns A promise resolved once the message was handed to the socket, rejected with `ConnectionClosed` when
   * the connection closed (or its handshake failed) first. Never an unhandled rejection: a broadcast may ignore it.
   * @example
   * for (const mind of room) void mind.send(JSON.stringify({ from: 'alice', text: 'hello' }))
   */
  send (data: WebSocketData): Promise<void> {
    let sent: Promise<void>
    if (this.#state === 'closing' || this.#state === 'closed') {
      sent = Promise.reject(new ConnectionClosed(`The WebSocket connection is ${this.#state}: the message was not sent`))
    } else {
      sent = new Promise((resolve, reject) => {
        const socket = this.#socket
        if (socket === undefined) this.#queue.push({ data, resolve, reject })
        else sendNow(socket, data, resolve, reject)
      })
    }
    sent.catch(() => {})
    return sent
  }

  /**
   * Starts the closing handshake with `code` (1000, or 3000–4999) and `reason` (at most 123 bytes of UTF-8). Before
   * the upgrade completes, the connection closes right after it (and after the queued sends). Closing twice does
   * nothing more.
   *
   * @throws RangeError for a code or reason a WebSocket close frame cannot carry.
   * @example
   * mind.close(4001, 'session expired')
   */
  close (code?: number, reason?: string): void {
    if (code !== undefined && code !== 1000 && !(Number.isInteger(code) && code >= 3000 && code <= 4999)) {
      throw new RangeError(`A WebSocket close code must be 1000 or 3000–4999, got ${String(code)}`)
    }
    if (reason !== undefined && Buffer.byteLength(reason) > 123) throw new RangeError('A WebSocket close reason must be at most 123 bytes of UTF-8')
    this.#closeWith(code, reason)
  }

  #closeWith (code: number | undefined, reason: string | undefined): void {
    if (this.#state !== 'connecting' && this.#state !== 'open') return
    this.#state = 'closing'
    this.#closing = { code: code ?? (reason === undefined ? undefined : 1000), reason }
    this.#socket?.close(this.#closing.code, this.#closing.reason)
  }

  #open (socket: WsSocket, settings: WebSocketSettings): void {
    if (this.#state === 'closed' || this.#socket !== undefined) return
    this.#socket = socket
    socket.on('close', (code, reason) => { this.#end(code, reason.toString('utf8')) })
    if (this.#state === 'connecting') this.#state = 'open'
    const queued = this.#queue
    this.#queue = []
    for (const { data, resolve, reject } of queued) sendNow(socket, data, resolve, reject)
    if (this.#closing !== undefined) socket.close(this.#closing.code, this.#closing.reason)
    if (settings.pingInterval > 0) keepAlive(socket, settings.pingInterval, this.closed)
  }

  #end (code: number, reason: string): void {
    if (this.#state === 'closed') return
    this.#state = 'closed'
    const queued = this.#queue
    this.#queue = []
    for (const { reject } of queued) reject(new ConnectionClosed('The WebSocket handshake did not complete: the message was not sent'))
    const listeners = this.#onEnd
    this.#onEnd = []
    for (const listener of listeners) listener()
    this.#resolveClosed({ code, reason })
  }
}

function sendNow (socket: WsSocket, data: WebSocketData, resolve: () => void, reject: (err: Error) => void): void {
  try {
    socket.send(data, (err) => {
      if (err === undefined || err === null) resolve()
      else reject(new ConnectionClosed('The WebSocket connection closed before the message was sent', { cause: err }))
    })
  } catch (err) {
    // `ws` throws when the socket is no longer open (it closed between our look at it and this send).
    reject(new ConnectionClosed('The WebSocket connection is closed: the message was not sent', { cause: err }))
  }
}

/** Pings every `interval` ms; a socket that did not answer the previous ping is terminated (its logout follows). */
function keepAlive (socket: WsSocket, interval: number, closed: Promise<unknown>): void {
  let answered = true
  socket.on('pong', () => { answered = true })
  const timer = setInterval(() => {
    if (!answered) { socket.terminate(); return }
    answered = false
    socket.ping()
  }, interval)
  timer.unref()
  void closed.then(() => { clearInterval(timer) })
}

interface UpgradeRequest {
  readonly upgrade?: boolean
  readonly socket?: EventEmitter & { destroyed?: boolean } | null
}

interface WebSocketServerLike extends EventEmitter {
  readonly clients?: unknown
}

/** The minds of handshakes in progress or open, by the Node request of their handshake, with their settings. */
const minds = new WeakMap<object, { readonly mind: WebSocketMind, readonly settings: WebSocketSettings }>()
/** The `@fastify/websocket` servers whose connections this module watches. */
const watched = new WeakSet<WebSocketServerLike>()

function websocketServerOf (request: FastifyRequest): WebSocketServerLike | undefined {
  return (request.server as FastifyInstance & { websocketServer?: WebSocketServerLike }).websocketServer
}

/**
 * True when `request` is a WebSocket handshake that `@fastify/websocket` will upgrade (Node sets `upgrade` on a
 * request it emitted as `'upgrade'`; `injectWS` marks its own through `request.ws`).
 */
export function isWebSocketHandshake (request: FastifyRequest): boolean {
  if (websocketServerOf(request) === undefined) return false
  return (request.raw as UpgradeRequest).upgrade === true || (request as { ws?: unknown }).ws === true
}

/**
 * The mind for a WebSocket handshake (the same one however often asked): `connecting` until `@fastify/websocket`
 * upgrades the request, closed when its socket closes before that.
 */
export function webSocketMind (request: FastifyRequest, settings: WebSocketSettings): WebSocketMind {
  const raw = request.raw
  const known = minds.get(raw)
  if (known !== undefined) return known.mind
  const server = websocketServerOf(request) as WebSocketServerLike
  if (!watched.has(server)) {
    watched.add(server)
    // Emitted by @fastify/websocket right after the upgrade, before it calls the route's handler.
    server.on('connection', (socket: WsSocket, handshake: object) => {
      const opened = minds.get(handshake)
      if (opened !== undefined) openMind(opened.mind, socket, opened.settings)
    })
  }
  const created = createMind()
  minds.set(raw, { mind: created, settings })
  settings.live.add(created)
  onMindEnd(created, () => { settings.live.delete(created) })
  // Until the upgrade, the TCP socket is the connection: when it closes, so does the handshake (refused, or gone).
  const socket = (raw as UpgradeRequest).socket
  if (socket === null || socket === undefined || socket.destroyed === true) endHandshake(created)
  else socket.once('close', () => { endHandshake(created) })
  return created
}

/** The mind made for this request's WebSocket handshake, if one was. */
export function handshakeMindOf (request: FastifyRequest): WebSocketMind | undefined {
  return minds.get(request.raw)?.mind
}

/** Calls `listener` once, when the mind's connection has ended (at once if it already has). */
export function whenMindEnds (mind: WebSocketMind, listener: () => void): void {
  onMindEnd(mind, listener)
}

/** The plugin's `websocket` option. */
export interface CredWebSocketOption {
  /**
   * Milliseconds between server pings to each authenticated WebSocket; a client that has not answered the previous
   * ping by the next one is disconnected, and its logout runs. Default 0: no pings.
   */
  pingInterval?: number
}

/**
 * Resolves the plugin's `websocket` option; with one, registers `@fastify/websocket` unless it already is.
 *
 * @throws MissingPeerDependency naming `@fastify/websocket` when it is asked for and not installed.
 * @throws InvalidOption for a `pingInterval` that is not a whole number of milliseconds.
 */
export async function setUpWebSocket (fastify: FastifyInstance, option: boolean | CredWebSocketOption | undefined): Promise<WebSocketSettings> {
  if (option === undefined || option === false) return { pingInterval: 0, live: new Set() }
  if (option !== true && (option === null || typeof option !== 'object')) throw new InvalidOption('fastify-cred: `websocket` must be true or { pingInterval }')
  const pingInterval = option === true ? 0 : option.pingInterval ?? 0
  if (!Number.isSafeInteger(pingInterval) || pingInterval < 0) throw new InvalidOption(`fastify-cred: \`websocket.pingInterval\` must be a whole number of milliseconds (0: no pings), got ${String(pingInterval)}`)
  if (!fastify.hasDecorator('websocketServer')) {
    const websocket = await loadDriver('@fastify/websocket', 'fastify-cred\'s `websocket` option') as { default: Parameters<FastifyInstance['register']>[0] }
    await fastify.register(websocket.default)
  }
  return { pingInterval, live: new Set() }
}

/**
 * For `fastify.close()`: closes every session still open (1001, going away; a handshake in progress right after
 * its upgrade, if it ever completes) and resolves once each has closed, so every logout has run when the server's
 * close resolves. A client that never answers is cut off by `ws` after its close timeout (30 s).
 */
export async function closeWebSocketSessions (settings: WebSocketSettings): Promise<void> {
  const open = [...settings.live]
  for (const mind of open) goAway(mind)
  await Promise.all(open.map(async (mind) => await mind.closed))
}
