import { STATUS_CODES } from 'node:http'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { InvalidOption, isThenable } from '../cred/index.js'
import type { CredErrorCode } from '../cred/index.js'
import type { GuardAccepted, GuardRefusal, HttpAuthGuard } from '../http/guard.js'
import type { CredRefusal, RefusalBodyOption } from './types.js'

/**
 * How a guard's outcome goes onto a Fastify reply and into `request.log`: its log line, its headers and its body.
 * The log lines share stable fields: `authScheme` (the scheme, when the request used one), `authError` (the refusal's
 * code), `avatarId` (who logged in).
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

/**
 * An error for Fastify's error handler (`done(err)`): for `credAuthenticate` composed with other strategies, and for
 * `refusalBody: 'error-handler'`. The handler answers with its `statusCode`; the challenges are already on the reply.
 */
export class HttpAuthError extends Error {
  constructor (message: string, readonly statusCode: number, readonly code: CredErrorCode) { super(message) }
}

/** The error a refusal hands to Fastify's error handler. */
export function refusalError (refusal: GuardRefusal): HttpAuthError {
  return new HttpAuthError(refusal.message, refusal.status, refusal.code)
}

/** What the app's `refusalBody` sees of a refusal: the default body's fields and nothing that came from the request. */
export function publicRefusal (refusal: GuardRefusal): CredRefusal {
  return {
    statusCode: refusal.status,
    code: refusal.code,
    error: STATUS_CODES[refusal.status] ?? 'Error',
    message: refusal.message,
    retryAfter: refusal.retryAfter === undefined ? undefined : Number(refusal.retryAfter)
  }
}

/** Checks the `refusalBody` option; `undefined` stands for the default JSON body. */
export function checkRefusalBody (option: unknown): Exclude<RefusalBodyOption, 'json'> | undefined {
  if (option === undefined || option === 'json') return undefined
  if (option === 'error-handler' || typeof option === 'function') return option as Exclude<RefusalBodyOption, 'json'>
  throw new InvalidOption(`fastify-cred: \`refusalBody\` must be 'json', 'error-handler' or a function (refusal, request, reply) => body, got ${typeof option === 'string' ? JSON.stringify(option) : typeof option}`)
}

/**
 * Answers a refusal from the plugin's own hook: the default JSON body, or what the app's `refusalBody` makes of it.
 * A `refusalBody` that throws or rejects is a bug of the app's: it is logged and the default body goes out, so the
 * client still gets the refusal's status and challenges (a 401 stays a 401 a browser can answer).
 */
export function sendRefusal (request: FastifyRequest, reply: FastifyReply, refusal: GuardRefusal, shape: Exclude<RefusalBodyOption, 'json' | 'error-handler'> | undefined): void {
  reply.code(refusal.status)
  if (shape === undefined) { sendDefault(reply, refusal); return }
  const failed = (err: unknown): void => {
    request.log.error({ err }, 'fastify-cred: refusalBody failed; the default body was sent')
    sendDefault(reply, refusal)
  }
  let body: unknown
  try {
    body = shape(publicRefusal(refusal), request, reply)
  } catch (err) {
    failed(err)
    return
  }
  // A `refusalBody` that sent the reply itself has answered already.
  if (isThenable(body)) body.then((settled) => { if (!reply.sent) reply.send(settled) }, failed)
  else if (!reply.sent) reply.send(body)
}

function sendDefault (reply: FastifyReply, refusal: GuardRefusal): void {
  reply.type('application/json; charset=utf-8').send(refusal.body)
}
