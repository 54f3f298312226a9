import type { FastifyRequest } from 'fastify'
import type { GuardRequest } from '../http/guard.js'

/** The route's pattern (`'/users/:id'`) for login events: never the requested URL, which may carry a token. */
export function routeOf (request: GuardRequest): string | undefined {
  return (request as Partial<FastifyRequest>).routeOptions?.url
}
