export { credFetch } from './fetch.js'
export type { CredFetch, CredFetchOptions, FetchLike, MutualAuthentication } from './fetch.js'
export { digestAuthorization, pickDigestChallenge, readDigestChallenge, rspauthMatches } from './digest.js'
export type { DigestAnswer, DigestChallenge, DigestRequest } from './digest.js'
