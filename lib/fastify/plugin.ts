import { PassThrough } from 'node:stream'
import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest, HookHandlerDoneFunction, RouteOptions } from 'fastify'
import fp from 'fastify-plugin'
import { EntityTooLarge, UnauthorizedLogin, isThenable } from '../cred/index.js'
import type { EntityBodyHasher } from '../http/scheme.js'
import { kVerifiedCredentials } from '../http/guard.js'
import type { GuardAwaitingBody, GuardOutcome, GuardRefusal, HttpAuthGuard } from '../http/guard.js'
import { buildGuard } from './build-guard.js'
import type { CredPluginOptions, PluginSettings } from './build-guard.js'
import { attachLogin } from './login-lifetime.js'
import { credMetrics } from './metrics.js'
import type { CredMetrics } from './metrics.js'
import { OpenApiDeclaration, runsCredAuthenticate } from './openapi.js'
import { logLogin, logRefusal, refusalError, sendRefusal, setRefusalHeaders } from './refusal-reply.js'
import { closeWebSocketSessions, isWebSocketHandshake, setUpWebSocket, webSocketMind } from './websocket.js'
import type { WebSocketSettings } from './websocket.js'
import { pinNextTickShape } from './tick-shape.js'
import './types.js'

/**
 * The Fastify adapter of `HttpAuthGuard`: it wires the guard into hooks and routes and copies each outcome onto the
 * request and reply. Every decision (which scheme, which status, which challenge) is the guard's.
 */

// On import, not at register time: a collection that comes between the two would be too early for the pin.
pinNextTickShape()

const kAwaitingBody = Symbol('fastify-cred.awaitingBody')
const kBodyHasher = Symbol('fastify-cred.bodyHasher')

interface CredRequest extends FastifyRequest {
  [kAwaitingBody]?: GuardAwaitingBody | null
  [kBodyHasher]?: EntityBodyHasher | null
}

// Every set-up error rejects `register()`: checker specs are built asynchronously (drivers load on first use).
const credPlugin: FastifyPluginAsync<CredPluginOptions> = async (fastify, options) => {
  const websocket = await setUpWebSocket(fastify, options?.websocket)
  const settings = await buildGuard(options, fastify.log)
  const wanted = options.metrics
  if (wanted !== undefined && wanted !== false) {
    let metrics: CredMetrics
    try {
      metrics = await credMetrics(wanted === true ? {} : wanted)
    } catch (err) {
      await settings.close()
      throw err
    }
    fastify.addHook('onClose', async () => { metrics.close() })
  }
  install(fastify, settings, websocket)
}

/**
 * What to do with a refusal: `'answer'` it from the hook (the plugin's own hook: no error handler, and no `Error` at
 * all on the hot no-credentials path), or `'fail'` with it through `done(err)` after setting the challenges
 * (`credAuthenticate` composed with other strategies, e.g. by `@fastify/auth`).
 */
type OnRefusal = 'answer' | 'fail'

type Settle = (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction, outcome: GuardOutcome | Promise<GuardOutcome>, onRefusal: OnRefusal) => void

function install (fastify: FastifyInstance, settings: PluginSettings, websocket: WebSocketSettings): void {
  const { guard, mind } = settings
  // A WebSocket handshake's realm gets the connection's mind; every other request, the app's.
  const mindFor = (request: FastifyRequest, reply: FastifyReply): unknown =>
    isWebSocketHandshake(request) ? webSocketMind(request, websocket) : mind(request, reply)

  const settleNow = (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction, outcome: GuardOutcome, onRefusal: OnRefusal): void => {
    if (outcome.kind === 'accepted') {
      logLogin(request, outcome)
      // A login that finished after the client left was logged out: the handler must not run with it.
      if (!attachLogin(request, reply, outcome)) reply.hijack()
      done()
    } else if (outcome.kind === 'refused') {
      refuse(request, reply, done, outcome, onRefusal)
    } else if (onRefusal === 'answer') {
      // Credentials that cover the body (Digest auth-int): finish once the body has been read (preParsing, or
      // preValidation when no parser read it).
      (request as CredRequest)[kAwaitingBody] = outcome
      done()
    } else {
      // Composition runs after the body was hashed on its way to the parser (or not at all).
      settle(request, reply, done, resumeWithBody(guard, request, outcome), onRefusal)
    }
  }

  const settle: Settle = (request, reply, done, outcome, onRefusal) => {
    if (!isThenable(outcome)) { settleNow(request, reply, done, outcome, onRefusal); return }
    // The guard never rejects; should a custom scheme make it, the request still gets an answer (a logged 500).
    outcome.then((settled) => { settleNow(request, reply, done, settled, onRefusal) },
      (err: unknown) => { settleNow(request, reply, done, guard.refusal(err, request), onRefusal) })
  }

  const { refusalBody } = settings
  const bodyShape = typeof refusalBody === 'function' ? refusalBody : undefined
  const refuse = (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction, refusal: GuardRefusal, onRefusal: OnRefusal): void => {
    logRefusal(request, refusal)
    setRefusalHeaders(reply, guard, refusal, onRefusal === 'fail')
    if (onRefusal === 'answer' && refusalBody !== 'error-handler') sendRefusal(request, reply, refusal, bodyShape)
    else done(refusalError(refusal))
  }

  const authenticate = (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction, onRefusal: OnRefusal): void => {
    // Already logged in by this plugin's hook (a route that also lists credAuthenticate): a second login would
    // hand out a second avatar, and a Digest nonce count cannot be used twice.
    if (request.avatarInterface !== null) { done(); return }
    settle(request, reply, done, guard.authenticate(request, mindFor(request, reply)), onRefusal)
  }

  const hook = (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void => {
    authenticate(request, reply, done, 'answer')
  }

  fastify.decorate('portal', guard.portal)
  fastify.decorate('credAuthenticate', (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void => {
    authenticate(request, reply, done, 'fail')
  })
  fastify.decorateRequest('avatar', null)
  fastify.decorateRequest('avatarId', null)
  fastify.decorateRequest('avatarInterface', null)
  // The guard's slot for the accepted credentials, declared so that filling it keeps every request one shape.
  fastify.decorateRequest(kVerifiedCredentials, null)

  const openapi = settings.openapi ? new OpenApiDeclaration(guard, settings.authenticationRealm) : undefined
  fastify.addHook('onRoute', function (route: RouteOptions) {
    const wanted = route.config?.cred
    const hooked = settings.mode === 'always' ? wanted !== false : wanted === true
    if (hooked) {
      const existing = route.onRequest
      route.onRequest = existing === undefined ? [hook] : [hook, ...(Array.isArray(existing) ? existing : [existing])]
    }
    if (openapi !== undefined && (hooked || runsCredAuthenticate(route, fastify.credAuthenticate))) openapi.markRoute(route, this)
  })
  if (openapi !== undefined) fastify.addHook('onReady', (done) => { openapi.install(fastify); done() })

  if (guard.bodySchemes.length > 0) installBodyHooks(fastify, guard, settle)

  fastify.addHook('onClose', async () => {
    // WebSocket logins first: their logouts may still need the stores closed below.
    await closeWebSocketSessions(websocket)
    await Promise.all([...settings.owned.map(async (scheme) => { await scheme.close() }), settings.close()])
  })
}

/** Resumes a login that waits for the body with the hash made on the body's way through, or refuses without one. */
function resumeWithBody (guard: HttpAuthGuard<unknown>, request: FastifyRequest, awaiting: GuardAwaitingBody): GuardOutcome | Promise<GuardOutcome> {
  const hash = (request as CredRequest)[kBodyHasher]?.hash
  return hash === undefined
    ? guard.refusal(new UnauthorizedLogin('The request body covered by the credentials was not read'), request)
    : awaiting.resume({ hash })
}

/** For credentials that cover the body: hash the raw body on its way to the parser, resume the login after it. */
function installBodyHooks (fastify: FastifyInstance, guard: HttpAuthGuard<unknown>, settle: Settle): void {
  fastify.decorateRequest(kAwaitingBody, null)
  fastify.decorateRequest(kBodyHasher, null)
  fastify.addHook('preParsing', (request, reply, payload, done) => {
    const hasher = guard.bodyHasher(request)
    if (hasher === undefined) { done(null, payload); return }
    const credRequest = request as CredRequest
    credRequest[kBodyHasher] = hasher
    const awaiting = credRequest[kAwaitingBody]
    // Composition (credAuthenticate later than onRequest): the body streams on to the parser, hashed on the way.
    if (awaiting === null || awaiting === undefined) { done(null, hasher.wrap(payload)); return }
    // Our own hook's login waits for this body: read it whole (bounded), decide, and only then let a content-type
    // parser see it, so a wrong response costs reading and hashing the body but never parsing it.
    credRequest[kAwaitingBody] = null
    const limit = Math.min(hasher.maxBytes ?? Infinity, request.routeOptions.bodyLimit ?? Infinity)
    const declared = Number(request.headers['content-length'])
    if (declared > limit) { done(tooLarge(limit)); return }
    const chunks: Buffer[] = []
    let length = 0
    let finished = false
    const through = hasher.wrap(payload)
    const fail = (err: Error): void => {
      if (finished) return
      finished = true
      done(length > limit || err instanceof EntityTooLarge ? tooLarge(limit) : err)
    }
    through.on('data', (chunk: Buffer) => {
      length += chunk.length
      if (length > limit) { through.destroy(); fail(tooLarge(limit)); return }
      chunks.push(chunk)
    })
    through.on('error', fail)
    through.on('end', () => {
      if (finished) return
      finished = true
      settle(request, reply, (err) => {
        if (err !== undefined && err !== null) { done(err); return }
        // The parser reads the same bytes from a fresh stream (Fastify checks Content-Length against them).
        const body = new PassThrough()
        body.end(Buffer.concat(chunks, length))
        done(null, body)
      }, resumeWithBody(guard, request, awaiting), 'answer')
    })
  })
  fastify.addHook('preValidation', (request, reply, done) => {
    const awaiting = (request as CredRequest)[kAwaitingBody]
    if (awaiting === null || awaiting === undefined) { done(); return }
    (request as CredRequest)[kAwaitingBody] = null
    settle(request, reply, done, resumeWithBody(guard, request, awaiting), 'answer')
  })
}

/**
 * A body past the bound for credentials that cover it: 413 with Fastify's own code, as Fastify answers a body past
 * its `bodyLimit`, so clients see one kind of refusal for a body that is too long.
 */
function tooLarge (limit: number): Error {
  return Object.assign(new Error(`Request body is too large (at most ${limit} bytes when the credentials cover it)`), { statusCode: 413, code: 'FST_ERR_CTP_BODY_TOO_LARGE' })
}

/**
 * The fastify-cred plugin: logs every request in through a Portal, via HTTP Basic (and Digest, when enabled), and
 * puts the avatar on `request.avatar`. Its `logout` runs exactly once when the response is done or the client
 * goes away.
 *
 * @example
 * import Fastify from 'fastify'
 * import cred, { SimpleRealm, defineInterface } from 'fastify-cred'
 * import { MemoryChecker } from 'fastify-cred/checkers'
 * const IUser = defineInterface<{ name: string }>('IUser')
 * const app = Fastify()
 * await app.register(cred, {
 *   realm: new SimpleRealm().serve(IUser, (id) => ({ name: String(id) })),
 *   checkers: [new MemoryChecker({ alice: 'wonderland' })],
 *   interfaces: [IUser],
 *   authenticationRealm: 'example'
 * })
 * app.get('/whoami', async (request) => ({ avatarId: request.avatarId }))
 */
export const cred = fp(credPlugin, { fastify: '5.x', name: 'fastify-cred' })
