import type { FastifyReply, FastifyRequest } from 'fastify'
import type { GuardRefusal, HttpAuthGuard } from '../http/guard.js'

/** How a guard's refusal goes onto a Fastify reply: its log line and its headers. */

/** Logs a refusal that deserves it: bugs as errors, outages as warnings; refused passwords are not news. */
export function logRefusal (request: FastifyRequest, refusal: GuardRefusal): void {
  if (refusal.logLevel === 'error') request.log.error({ err: refusal.error }, 'fastify-cred: unexpected error during login')
  else if (refusal.logLevel === 'warn') request.log.warn({ err: refusal.error }, 'fastify-cred: authentication is unavailable')
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
