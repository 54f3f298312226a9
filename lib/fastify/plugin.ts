import { PassThrough } from 'node:stream'
import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest, HookHandlerDoneFunction, RouteOptions } from 'fastify'
import fp from 'fastify-plugin'
import { UnauthorizedLogin, isThenable } from '../cred/index.js'
import type { EntityBodyHasher } from '../http/scheme.js'
import type { GuardAwaitingBody, GuardOutcome, GuardRefusal, HttpAuthGuard } from '../http/guard.js'
import { buildGuard } from './build-guard.js'
import type { CredPluginOptions, PluginSettings } from './build-guard.js'
import { attachLogin, logRefusal, setRefusalHeaders } from './session.js'
import './types.js'

/**
 * The Fastify adapter of `HttpAuthGuard`: it wires the guard into hooks and routes and copies each outcome onto the
 * request and reply. Every decision (which scheme, which status, which challenge) is the guard's.
 */

const kAwaitingBody = Symbol('fastify-cred.awaitingBody')
const kBodyHasher = Symbol('fastify-cred.bodyHasher')

interface CredRequest extends FastifyRequest {
  [kAwaitingBody]?: GuardAwaitingBody | null
  [kBodyHasher]?: EntityBodyHasher | null
}

/** An error for `done(err)` in composition: Fastify's error handler answers with its `statusCode`. */
class HttpAuthError extends Error {
  constructor (message: string, readonly statusCode: number, readonly code: string) { super(message) }
}

// Every set-up error rejects `register()`: checker specs are built asynchronously (drivers load on first use).
const credPlugin: FastifyPluginAsync<CredPluginOptions> = async (fastify, options) => {
  install(fastify, await buildGuard(options, fastify.log))
}

function install (fastify: FastifyInstance, settings: PluginSettings): void {
  const { guard, mind } = settings

  /**
   * Applies an outcome. `direct`: a refusal is answered from the hook (no error handler, and no `Error` at all on
   * the hot no-credentials path); otherwise (composition) it goes to `done(err)` after the challenges are set.
   */
  const settle = (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction, outcome: GuardOutcome, direct: boolean): void => {
    if (outcome.kind === 'accepted') {
      // A login that finished after the client left was logged out: the handler must not run with it.
      if (!attachLogin(request, reply, outcome)) reply.hijack()
      done()
    } else if (outcome.kind === 'refused') {
      refuse(request, reply, done, outcome, direct)
    } else if (direct) {
      // Credentials that cover the body (Digest auth-int): finish in preValidation, once the body has been read.
      (request as CredRequest)[kAwaitingBody] = outcome
      done()
    } else {
      const hashed = (request as CredRequest)[kBodyHasher]?.hash
      if (hashed === undefined) refuse(request, reply, done, guard.refusal(new UnauthorizedLogin('The request body covered by the credentials was not read yet'), request), false)
      else settleLater(request, reply, done, outcome.resume({ hash: hashed }), false)
    }
  }

  const settleLater = (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction, outcome: GuardOutcome | Promise<GuardOutcome>, direct: boolean): void => {
    if (!isThenable(outcome)) { settle(request, reply, done, outcome, direct); return }
    // The guard never rejects; should a custom scheme make it, the request still gets an answer (a logged 500).
    outcome.then((settled) => { settle(request, reply, done, settled, direct) },
      (err: unknown) => { settle(request, reply, done, guard.refusal(err, request), direct) })
  }

  const refuse = (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction, refusal: GuardRefusal, direct: boolean): void => {
    logRefusal(request, refusal)
    setRefusalHeaders(reply, guard, refusal, !direct)
    if (direct) reply.code(refusal.status).type('application/json; charset=utf-8').send(refusal.body)
    else done(new HttpAuthError(refusal.message, refusal.status, refusal.code))
  }

  const authenticate = (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction, direct: boolean): void => {
    // Already logged in by this plugin's hook (a route that also lists credAuthenticate): a second login would
    // hand out a second avatar, and a Digest nonce count cannot be used twice.
    if (request.avatarInterface !== null) { done(); return }
    settleLater(request, reply, done, guard.authenticate(request, mind(request, reply)), direct)
  }

  const hook = (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void => {
    authenticate(request, reply, done, true)
  }

  fastify.decorate('portal', guard.portal)
  fastify.decorate('credAuthenticate', (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void => {
    authenticate(request, reply, done, false)
  })
  fastify.decorateRequest('avatar', null)
  fastify.decorateRequest('avatarId', null)
  fastify.decorateRequest('avatarInterface', null)

  fastify.addHook('onRoute', (route: RouteOptions) => {
    const wanted = route.config?.cred
    if (settings.mode === 'always' ? wanted === false : wanted !== true) return
    const existing = route.onRequest
    route.onRequest = existing === undefined ? [hook] : [hook, ...(Array.isArray(existing) ? existing : [existing])]
  })

  if (guard.bodySchemes.length > 0) installBodyHooks(fastify, guard, settleLater)

  fastify.addHook('onClose', async () => {
    await Promise.all([...settings.owned.map(async (scheme) => { await scheme.close() }), settings.close()])
  })
}

/** For credentials that cover the body: hash the raw body on its way to the parser, resume the login after it. */
function installBodyHooks (
  fastify: FastifyInstance, guard: HttpAuthGuard<unknown>,
  settleLater: (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction, outcome: GuardOutcome | Promise<GuardOutcome>, direct: boolean) => void
): void {
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
      done(length > limit ? tooLarge(limit) : err)
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
      const hash = hasher.hash
      const outcome = hash === undefined
        ? guard.refusal(new UnauthorizedLogin('The request body covered by the credentials could not be read'), request)
        : awaiting.resume({ hash })
      settleLater(request, reply, (err) => {
        if (err !== undefined && err !== null) { done(err); return }
        // The parser reads the same bytes from a fresh stream (Fastify checks Content-Length against them).
        const body = new PassThrough()
        body.end(Buffer.concat(chunks, length))
        done(null, body)
      }, outcome, true)
    })
  })
  fastify.addHook('preValidation', (request, reply, done) => {
    const awaiting = (request as CredRequest)[kAwaitingBody]
    if (awaiting === null || awaiting === undefined) { done(); return }
    (request as CredRequest)[kAwaitingBody] = null
    const hashed = (request as CredRequest)[kBodyHasher]?.hash
    settleLater(request, reply, done, hashed === undefined
      ? guard.refusal(new UnauthorizedLogin('The request body covered by the credentials could not be read'), request)
      : awaiting.resume({ hash: hashed }), true)
  })
}

/** A body past the bound for credentials that cover it: 413, as Fastify answers a body past its `bodyLimit`. */
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
 * import cred, { SimpleRealm, InMemoryChecker, defineInterface } from 'fastify-cred'
 * const IUser = defineInterface<{ name: string }>('IUser')
 * const app = Fastify()
 * await app.register(cred, {
 *   realm: new SimpleRealm().serve(IUser, (id) => ({ name: String(id) })),
 *   checkers: [new InMemoryChecker({ alice: 'wonderland' })],
 *   interfaces: [IUser],
 *   authenticationRealm: 'example'
 * })
 * app.get('/whoami', async (request) => ({ avatarId: request.avatarId }))
 */
export const cred = fp(credPlugin, { fastify: '5.x', name: 'fastify-cred' })
