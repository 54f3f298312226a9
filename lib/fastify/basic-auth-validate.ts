import type { FastifyReply, FastifyRequest } from 'fastify'
import { InternalError, InvalidOption, Portal, UsernamePassword, isThenable } from '../cred/index.js'
import type { AvatarInterfaces, CredErrorCode } from '../cred/index.js'
import { HttpAuthGuard } from '../http/guard.js'
import type { GuardOutcome } from '../http/guard.js'
import { attachLogin } from './login-lifetime.js'
import { logLogin, logRefusal } from './refusal-reply.js'
import { routeOf } from './route.js'

type Done = (err?: Error) => void

/** Options of `portalValidate`, the `validate` function for `@fastify/basic-auth`. */
export interface PortalValidateOptions<Mind> {
  /** The mind given to the realm for each request. Default: `null`. */
  mind?: (request: FastifyRequest, reply: FastifyReply) => Mind
  /** Milliseconds an asynchronous login may take before it is answered 503. Default 10,000; `0` waits forever. */
  loginTimeout?: number
}

/** Carries the status @fastify/basic-auth should answer with; without one it answers 401 with its challenge. */
class ValidateError extends Error {
  constructor (message: string, readonly statusCode: number | undefined, readonly code: CredErrorCode) { super(message) }
}

/**
 * A `validate` function for `@fastify/basic-auth` that logs in through a cred Portal: keep the incumbent plugin and
 * its configuration, and move the user store and the avatars to cred. The login, its deadline and the mapping of
 * failures are the same `HttpAuthGuard` the fastify-cred plugin uses: refusals become basic-auth's 401 (with its
 * challenge), `LoginDenied` 403, an unavailable store or a timeout 503 with `Retry-After`, a bug a logged 500.
 * Sets `request.avatar`, `request.avatarId` and `request.avatarInterface` (decorate them, or register fastify-cred
 * in `on-demand` mode, which does), and calls `logout` once when the response or its connection closes.
 *
 * @example
 * import basicAuth from '@fastify/basic-auth'
 * import { Portal, portalValidate } from 'fastify-cred'
 * await app.register(basicAuth, { validate: portalValidate(portal, [IUser]), authenticate: { realm: 'api' } })
 * app.addHook('onRequest', app.basicAuth)
 *
 * @throws `InvalidOption` when `portal` is not a Portal or `interfaces` are not interface tokens.
 */
export function portalValidate<Mind> (portal: Portal<Mind>, interfaces: AvatarInterfaces, options: PortalValidateOptions<Mind> = {}) {
  if (!(portal instanceof Portal)) throw new InvalidOption('portalValidate: `portal` must be a Portal')
  const guard = new HttpAuthGuard<Mind>({
    portal, schemes: [], interfaces, loginTimeout: options.loginTimeout, routeOf, onLogoutError: (err) => { console.error('fastify-cred: logout failed', err) }
  })
  const mind = options.mind ?? ((): Mind => null as Mind)
  const settle = (request: FastifyRequest, reply: FastifyReply, outcome: GuardOutcome): ValidateError | undefined => {
    if (outcome.kind === 'accepted') {
      logLogin(request, outcome)
      if (attachLogin(request, reply, outcome)) return undefined
      // The client left while its login ran: nobody to answer, and the handler must not run.
      reply.hijack()
      return undefined
    }
    // Basic credentials cover no body, so a guard waiting for one is a bug: answered (500) and logged as one.
    const refusal = outcome.kind === 'awaiting-body'
      ? guard.refusal(new InternalError('portalValidate: the guard waits for a request body, which Basic credentials never cover'), request)
      : outcome
    logRefusal(request, refusal)
    if (refusal.retryAfter !== undefined) reply.header('Retry-After', refusal.retryAfter)
    // 401 (and 400, which Basic credentials that basic-auth parsed cannot be) is basic-auth's to answer, with its challenge.
    return new ValidateError(refusal.message, refusal.status === 401 ? undefined : refusal.status, refusal.code)
  }
  return function validate (username: string, password: string, request: FastifyRequest, reply: FastifyReply, done: Done): Promise<void> | undefined {
    const outcome = guard.authenticateCredentials(new UsernamePassword(username, password), request, mind(request, reply))
    if (!isThenable(outcome)) {
      done(settle(request, reply, outcome))
      return undefined
    }
    return outcome.then((settled) => {
      const err = settle(request, reply, settled)
      if (err !== undefined) throw err
    }, (err: unknown) => { throw settle(request, reply, guard.refusal(err, request)) })
  }
}
