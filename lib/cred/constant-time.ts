import { hash, timingSafeEqual } from 'node:crypto'

/**
 * Compares two secrets in time that depends on neither their contents nor their lengths: both sides are hashed to
 * 32 bytes first, so `timingSafeEqual` always compares equal lengths and a length mismatch is not revealed early.
 *
 * @example
 * import { constantTimeEqual } from 'fastify-cred'
 * constantTimeEqual('s3cret', 's3cret') // true
 */
export function constantTimeEqual (a: string | Uint8Array, b: string | Uint8Array): boolean {
  return timingSafeEqual(hash('sha256', a, 'buffer'), hash('sha256', b, 'buffer'))
}
