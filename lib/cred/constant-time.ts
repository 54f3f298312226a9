import { hash } from 'node:crypto'

/**
 * Compares two strings of equal length (hex digests, Digest responses) without an early exit: the time depends
 * on the length only. Strings of different lengths are unequal (and the length is all that is revealed).
 *
 * @example
 * import { constantTimeEqualStrings } from 'fastify-cred/cred'
 * constantTimeEqualStrings('8ca523f5', '8ca523f5') // true
 */
export function constantTimeEqualStrings (a: string, b: string): boolean {
  let difference = a.length ^ b.length
  const length = Math.min(a.length, b.length)
  for (let i = 0; i < length; i++) difference |= a.charCodeAt(i) ^ b.charCodeAt(i)
  return difference === 0
}

/**
 * The SHA-256 of a secret as a 32-character binary string: what constant-time comparisons of secrets of any length
 * compare. A string, because Node's one-shot hash is about three times slower when asked for a Buffer; binary
 * rather than hex, because half the characters make the comparison loop half as long.
 */
export function secretDigest (secret: string | Uint8Array): string {
  return hash('sha256', secret, 'binary')
}

/**
 * Compares two secrets in time that depends on neither their contents nor (beyond SHA-256's 64-byte blocks) their
 * lengths: both are hashed first, so equal-length digests are compared and a length mismatch is not revealed.
 *
 * @example
 * import { constantTimeEqual } from 'fastify-cred/cred'
 * constantTimeEqual('s3cret', 's3cret') // true
 */
export function constantTimeEqual (a: string | Uint8Array, b: string | Uint8Array): boolean {
  return constantTimeEqualStrings(secretDigest(a), secretDigest(b))
}
