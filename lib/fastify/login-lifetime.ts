import type { Socket } from 'node:net'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { NOOP_LOGOUT } from '../cred/index.js'
import type { Logout } from '../cred/index.js'
import { runLogout } from '../http/guard.js'
import type { GuardAccepted } from '../http/guard.js'
import type { CredAvatar } from './types.js'
import { handshakeMindOf, whenMindEnds } from './websocket.js'

/**
 * Where a login meets the response's lifetime: the avatar goes onto the request, and `logout` runs exactly once,
 * when the response is closed (sent, or failed) or when its connection closes, whichever comes first. The
 * connection matters for pipelined requests: when the client hangs up, responses still queued behind the first
 * never emit 'close', but their socket does.
 */

/**
 * The logins waiting on each connection's 'close'. A WeakMap rather than a property on the socket: a property would
 * give Node's sockets a second hidden class, and its stream and HTTP code then runs polymorphic for every request.
 */
const openLogins = new WeakMap<Socket, Set<() => void>>()

/** True when the client went away: there is nobody to answer and nothing to hand an avatar to. */
function clientGone (request: FastifyRequest, reply: FastifyReply): boolean {
  return reply.raw.destroyed || request.raw.socket?.destroyed === true
}

/**
 * Puts an accepted login on the request and its headers on the reply, and ties its `logout` to the response (to
 * the socket, for a WebSocket handshake).
 * When the client is already gone the avatar is logged out at once and `false` is returned: the caller must then
 * not let the request reach its handler.
 */
export function attachLogin (request: FastifyRequest, reply: FastifyReply, login: GuardAccepted): boolean {
  if (clientGone(request, reply)) {
    if (login.logout !== NOOP_LOGOUT) releaseLogin(request, login.logout)
    return false
  }
  request.avatar = login.avatar as CredAvatar
  request.avatarId = login.avatarId
  request.avatarInterface = login.interface
  const headers = login.headers
  if (headers !== undefined) for (const name in headers) reply.header(name, headers[name])
  // Only logins with something to release pay for the listeners.
  if (login.logout === NOOP_LOGOUT) return true
  // A WebSocket login lives as long as its socket, not as long as the handshake's response.
  const mind = handshakeMindOf(request)
  if (mind === undefined) bindLogout(request, reply, login.logout)
  else whenMindEnds(mind, () => { releaseLogin(request, login.logout) })
  return true
}

function bindLogout (request: FastifyRequest, reply: FastifyReply, logout: Logout): void {
  const response = reply.raw
  // Queued behind another response on a pipelined connection: not yet given the socket, and it never will be if
  // the client hangs up first, so its 'close' would never come (Node's http server assigns sockets in order).
  const socket = response.socket === null ? request.raw.socket as Socket | null : null
  let open: Set<() => void> | undefined
  let pending = true
  const release = (): void => {
    if (!pending) return
    pending = false
    open?.delete(release)
    releaseLogin(request, logout)
  }
  // `on`, not `once`: 'close' comes once, and `once` pays for a wrapper on every request.
  response.on('close', release)
  if (socket === null || typeof socket.once !== 'function') return
  open = openLogins.get(socket)
  if (open === undefined) {
    const logins = new Set<() => void>()
    open = logins
    openLogins.set(socket, logins)
    socket.once('close', () => { for (const queued of [...logins]) queued() })
  }
  open.add(release)
}

/** Runs `logout`; what it throws or rejects with is logged against the request, and the server carries on. */
function releaseLogin (request: FastifyRequest, logout: Logout): void {
  runLogout(logout, (err) => { request.log.error({ err }, 'fastify-cred: logout failed') })
}
