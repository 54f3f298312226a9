import type { Readable } from 'node:stream'
import type { CheckerSetup, Credentials } from '../cred/index.js'

/** What a scheme sees of a request. A Fastify request fits as it is; no framework type is needed. */
export interface HttpRequestLike {
  readonly method: string
  /** The request-target as the client sent it: path and query. */
  readonly url: string
  /**
   * The authority the request was sent to (`Host`, or HTTP/2's `:authority`; a Fastify request's `host`). A Digest
   * `uri` in absolute form must name it; without it, only an absolute `url` admits an absolute `uri`.
   */
  readonly host?: string
  /**
   * The connection the request came on (a Fastify or Node request's `socket`), for schemes that read it rather than
   * a header: a TLS client certificate, or the address of the proxy that forwarded one.
   */
  readonly socket?: ConnectionLike
}

/** What a scheme may read of a connection: a `net.Socket`, or a `tls.TLSSocket` when the server terminates TLS. */
export interface ConnectionLike {
  /** The address of the peer: the client, or the proxy in front of this server. */
  readonly remoteAddress?: string | undefined
  /** TLS only: whether the peer's certificate chains to a CA the server trusts (`ca`), and is in its validity period. */
  readonly authorized?: boolean
  /** TLS only: why `authorized` is false (`CERT_HAS_EXPIRED`, `UNABLE_TO_VERIFY_LEAF_SIGNATURE`, …). */
  readonly authorizationError?: Error | string | null | undefined
  /** TLS only: the peer's certificate (`raw` is its DER), or an empty object when it sent none. */
  getPeerCertificate? (detailed?: boolean): { readonly raw?: Uint8Array } | object
}

/** A request with its headers (names lower-case, as Node gives them). */
export interface HttpRequestWithHeaders extends HttpRequestLike {
  readonly headers: Readonly<Record<string, string | readonly string[] | undefined>>
}

/** The request body, for credentials that cover it: its bytes, or its hash (hex, of the credentials' function). */
export type EntityBody = { readonly bytes: Uint8Array } | { readonly hash: string }

/**
 * Credentials that cover the request body (Digest `qop=auth-int`): they cannot be checked until the body has been
 * read and given to `setEntityBody`. The guard asks for the body when `needsEntityBody` is true.
 */
export interface BodyBoundCredentials extends Credentials {
  readonly needsEntityBody: boolean
  /** Gives the credentials the body they cover (its hash, for Digest `auth-int`), before they are checked. */
  setEntityBody (body: EntityBody): void
}

/** True for credentials that still wait for the request body. */
export function needsEntityBody (credentials: Credentials): credentials is BodyBoundCredentials {
  return (credentials as Partial<BodyBoundCredentials>).needsEntityBody === true
}

/** Hashes a request body as it streams through, for credentials that cover the body. */
export interface EntityBodyHasher {
  /** A stream giving the same bytes as `body`, hashing them as they pass. */
  wrap (body: Readable): Readable
  /** The hash (hex) once the whole body has gone through `wrap`'s stream; `undefined` before. */
  readonly hash: string | undefined
  /**
   * The most bytes of body these credentials may cover: `wrap`'s stream fails with a 413 error (`statusCode` 413)
   * past it, and a framework refuses a longer `Content-Length` before reading. `undefined`: no bound of its own.
   */
  readonly maxBytes?: number
}

/**
 * One HTTP authentication scheme (Basic, Digest): turns an `Authorization` value into cred credentials and makes
 * the challenges sent when a request is refused. Knows nothing of portals, realms or frameworks.
 */
export interface HttpAuthScheme {
  /** The scheme's name, lower-case, as it starts an `Authorization` value: `'basic'`, `'digest'`. */
  readonly name: string
  /** What this scheme tells checkers at set-up (Digest: its protection space and algorithms). */
  readonly checkerSetup?: Partial<CheckerSetup>
  /**
   * Challenges for `WWW-Authenticate` / `Proxy-Authenticate`, in order of preference. `stale` is true when the
   * refusal was a `StaleNonce` (Digest then adds `stale=true`). `refused` is the error that refused this scheme's
   * own credentials, when the request carried them (Bearer then adds `error="invalid_token"`); `undefined` otherwise.
   */
  challenges (request: HttpRequestLike, stale: boolean, refused?: unknown): readonly string[]
  /**
   * Credentials from an `Authorization` value of this scheme. Throws (or rejects with) `MalformedCredentials` for
   * a value that cannot be parsed, `UnauthorizedLogin` / `StaleNonce` for one that can never succeed, and
   * `StoreUnavailable` when a store it needs is down. Credentials that cover the body implement
   * `BodyBoundCredentials`; the scheme must then offer `bodyHasher`.
   */
  credentials (authorization: string, request: HttpRequestLike): Credentials | PromiseLike<Credentials>
  /**
   * Called once a checker accepted `credentials` and before the realm is asked for an avatar: the place for what
   * may only happen for a proven user and must happen before anything is handed out (Digest records its nonce
   * count here, so a forged response burns no count and a replay never reaches the realm). Throws or rejects to
   * refuse after all.
   */
  confirm? (credentials: Credentials): void | PromiseLike<void>
  /** Headers for a successful response (Digest's `Authentication-Info`), if any. */
  successHeaders? (credentials: Credentials, request: HttpRequestLike): Readonly<Record<string, string>> | undefined
  /**
   * For schemes whose credentials may cover the body: given the `Authorization` value, before the body is read,
   * something to pass the raw body through that hashes it; `undefined` when this request's credentials do not
   * cover the body.
   */
  bodyHasher? (authorization: string): EntityBodyHasher | undefined
  /**
   * For schemes whose credentials come with the connection instead of `Authorization` (a TLS client certificate,
   * or a trusted proxy's header carrying one): the credentials the request carries, or `undefined` when it carries
   * none. The guard asks, in the schemes' order, only for a request without `Authorization`. Throws like
   * `credentials` (`UnauthorizedLogin` for a certificate whose chain did not verify).
   */
  connectionCredentials? (request: HttpRequestWithHeaders): Credentials | undefined
}
