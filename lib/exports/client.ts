/**
 * `fastify-cred/client`: `fetch` with Basic and Digest (RFC 7616) credentials, and the Digest steps it is made of
 * for other clients. Loads nothing of the server side.
 *
 * @example
 * import { credFetch } from 'fastify-cred/client'
 */
export { credFetch, digestAuthorization, pickDigestChallenge, readDigestChallenge, rspauthMatches } from '../client/index.js'
export type {
  CredFetch, CredFetchOptions, FetchLike, MutualAuthentication, DigestAnswer, DigestChallenge, DigestRequest
} from '../client/index.js'
