import type { Credentials } from '../cred/index.js'

/** What a scheme sees of a request. A Fastify request fits as it is; no framework type is needed. */
export interface HttpRequestLike {
  readonly method: string
  /** The request-target as the client sent it: path and query. */
  readonly url: string
}

/**
 * One HTTP authentication scheme (Basic, Digest): turns an `Authorization` value into cred credentials and makes
 * the challenges sent when a request is refused. Knows nothing of portals, realms or frameworks.
 */
export interface HttpAuthScheme {
  /** The scheme's name, lower-case, as it starts an `Authorization` value: `'basic'`, `'digest'`. */
  readonly name: string
  /**
   * Challenges for `WWW-Authenticate` / `Proxy-Authenticate`, in order of preference. `stale` is true when the
   * refusal was a `StaleNonce` (Digest then adds `stale=true`).
   */
  challenges (request: HttpRequestLike, stale: boolean): readonly string[]
  /**
   * Credentials from an `Authorization` value of this scheme. Throws (or rejects with) `MalformedCredentials` for
   * a value that cannot be parsed, `UnauthorizedLogin` / `StaleNonce` for one that can never succeed, and
   * `StoreUnavailable` when a store it needs is down.
   */
  credentials (authorization: string, request: HttpRequestLike): Credentials | PromiseLike<Credentials>
  /**
   * Called once a checker and the realm accepted `credentials`, before the request goes on: the place for what may
   * only happen for a proven user (Digest records its nonce count here). Throws or rejects to refuse after all;
   * the avatar is then logged out at once.
   */
  confirm? (credentials: Credentials): void | PromiseLike<void>
  /** Headers for a successful response (Digest's `Authentication-Info`), if any. */
  successHeaders? (credentials: Credentials, request: HttpRequestLike): Readonly<Record<string, string>> | undefined
}
