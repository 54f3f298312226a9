import type { FastifyReply, FastifyRequest } from 'fastify'
import { LoginDenied, LoginFailed, NOOP_LOGOUT, StoreUnavailable, UsernamePassword, isThenable } from '../cred/index.js'
import type { AvatarInterfaces, LoginResultFor, Portal } from '../cred/index.js'
import type { CredAvatar } from './plugin.js'

type Done = (err?: Error) => void

export interface PortalValidateOptions<Mind> {
  /** The mind given to the realm for each request. Default: `null`. */
  mind?: (request: FastifyRequest, reply: FastifyReply) => Mind
}

/** Carries the status @fastify/basic-auth should answer with; 401s get its challenge added. */
class ValidateError extends Error {
  constructor (message: string, readonly statusCode: number | undefined, readonly code: string) { super(message) }
}

function toValidateError (request: FastifyRequest, err: unknown): Error {
  if (err instanceof LoginDenied) return new ValidateError('Access denied', 403, err.code)
  if (err instanceof LoginFailed) return new ValidateError('Invalid credentials', undefined, err.code)
  if (err instanceof StoreUnavailable) {
    request.log.warn({ err }, 'fastify-cred: a store needed for login is unavailable')
    return new ValidateError('Authentication is unavailable, try again later', 503, err.code)
  }
  // A bug in a checker or realm: logged here, never shown to the client (nor mistaken for a 401).
  request.log.error({ err }, 'fastify-cred: unexpected error during login')
  return new ValidateError('Internal Server Error', 500, 'ERR_CRED_INTERNAL')
}

/**
 * A `validate` function for `@fastify/basic-auth` that logs in through a cred Portal: keep the incumbent plugin and
 * its configuration, and move the user store and the avatars to cred. Sets `request.avatar`, `request.avatarId` and
 * `request.avatarInterface` (decorate them, or register fastify-cred in `on-demand` mode, which does), and calls
 * `logout` once when the response is closed, whether it was sent or the client went away.
 *
 * @example
 * import basicAuth from '@fastify/basic-auth'
 * import { Portal, portalValidate } from 'fastify-cred'
 * await app.register(basicAuth, { validate: portalValidate(portal, [IUser]), authenticate: { realm: 'api' } })
 * app.addHook('onRequest', app.basicAuth)
 */
export function portalValidate<Mind> (portal: Portal<Mind>, interfaces: AvatarInterfaces, options: PortalValidateOptions<Mind> = {}) {
  const mind = options.mind ?? ((): Mind => null as Mind)
  const accept = (request: FastifyRequest, reply: FastifyReply, result: LoginResultFor<AvatarInterfaces>): void => {
    request.avatar = result.avatar as CredAvatar
    request.avatarId = result.avatarId
    request.avatarInterface = result.interface
    const logout = result.logout
    if (logout === NOOP_LOGOUT) return
    const release = (): void => {
      Promise.resolve().then(logout).catch((err: unknown) => request.log.error({ err }, 'fastify-cred: logout failed'))
    }
    // A login that finished after the client went away has no 'close' left to wait for.
    if (reply.raw.destroyed || request.raw.aborted) release()
    else reply.raw.once('close', release)
  }
  return function validate (username: string, password: string, request: FastifyRequest, reply: FastifyReply, done: Done): Promise<void> | undefined {
    let result: LoginResultFor<AvatarInterfaces> | Promise<LoginResultFor<AvatarInterfaces>>
    try {
      result = portal.loginMaybeSync(new UsernamePassword(username, password), mind(request, reply), ...interfaces)
    } catch (err) {
      done(toValidateError(request, err))
      return undefined
    }
    if (!isThenable(result)) {
      accept(request, reply, result)
      done()
      return undefined
    }
    return result.then((resolved) => { accept(request, reply, resolved) }, (err: unknown) => { throw toValidateError(request, err) })
  }
}
