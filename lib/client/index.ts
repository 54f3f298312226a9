export { credFetch } from './fetch.js'
export type { CredFetch, CredFetchOptions, FetchLike } from './fetch.js'
export { digestAuthorization, pickDigestChallenge, readDigestChallenge, rspauthMatches } from './digest.js'
export type { DigestAnswer, DigestChallenge, DigestRequest } from './digest.js'
