import type { FastifyReply, FastifyRequest } from 'fastify'
import type { GuardAccepted, GuardRefusal, HttpAuthGuard } from '../http/guard.js'

/**
 * How a guard's outcome goes onto a Fastify reply and into `request.log`. The log lines share stable fields:
 * `authScheme` (the scheme, when the request used one), `authError` (the refusal's code), `avatarId` (who logged in).
 */

/**
 * Logs a refusal: bugs as errors, outages as warnings, refused credentials (and throttled attempts) as information
 * without the user name that was tried; a request that carried no credentials is not a login and is not logged.
 */
export function logRefusal (request: FastifyRequest, refusal: GuardRefusal): void {
  if (refusal.logLevel === 'error') {
    request.log.error({ err: refusal.error, authScheme: refusal.scheme, authError: refusal.code }, 'fastify-cred: unexpected error during login')
  } else if (refusal.logLevel === 'warn') {
    request.log.warn({ err: refusal.error, authScheme: refusal.scheme, authError: refusal.code }, 'fastify-cred: authentication is unavailable')
  } else if (refusal.error !== undefined) {
    request.log.info({ authScheme: refusal.scheme, authError: refusal.code }, 'fastify-cred: login refused')
  }
}

/** Logs a login at `debug` (one per authenticated request): the object is built only when that level is on. */
export function logLogin (request: FastifyRequest, login: GuardAccepted): void {
  const log = request.log
  const isLevelEnabled = (log as { isLevelEnabled?: (level: string) => boolean }).isLevelEnabled
  const enabled = typeof isLevelEnabled === 'function' ? isLevelEnabled.call(log, 'debug') : log.level === 'debug' || log.level === 'trace'
  if (!enabled) return
  const avatarId = typeof login.avatarId === 'string' ? login.avatarId : 'ANONYMOUS'
  log.debug({ avatarId, authScheme: login.scheme }, 'fastify-cred: login succeeded')
}

/**
 * Sets what every refusal carries besides its status: the challenges (after those a sibling strategy set, with
 * `append`) and `Retry-After`.
 */
export function setRefusalHeaders (reply: FastifyReply, guard: HttpAuthGuard<unknown>, refusal: GuardRefusal, append: boolean): void {
  const ours = refusal.challenges
  if (ours.length > 0) {
    const existing = append ? reply.getHeader(guard.challengeHeader) : undefined
    const previous = existing === undefined ? [] : Array.isArray(existing) ? existing.map(String) : [String(existing)]
    const all = previous.length === 0 ? ours : [...previous, ...ours]
    // One challenge goes out as a plain header value, several as one header line each.
    reply.header(guard.challengeHeader, all.length === 1 ? all[0] : all)
  }
  if (refusal.retryAfter !== undefined) reply.header('Retry-After', refusal.retryAfter)
}
