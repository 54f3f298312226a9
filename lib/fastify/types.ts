import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify'
import type { AvatarId, CredErrorCode, Interface, Portal } from '../cred/index.js'

/**
 * The app's own avatar type, by declaration merging, so that `request.avatar` is typed in routes:
 *
 * ```ts
 * declare module 'fastify-cred' {
 *   interface CredTypes { avatar: User }
 * }
 * ```
 */
export interface CredTypes {}

/** The type of `request.avatar` once logged in: `CredTypes['avatar']` when the app declared it, else `unknown`. */
export type CredAvatar = CredTypes extends { avatar: infer A } ? A : unknown

/**
 * A refusal as the `refusalBody` option sees it: the fields of the default JSON body, and `retryAfter`. It holds
 * nothing the client sent (no user name, no credentials) and no internal error message.
 */
export interface CredRefusal {
  /** 400, 401 (407 in proxy mode), 403, 429, 500 or 503: the reply's status, already set. */
  readonly statusCode: number
  /** The stable code, e.g. `ERR_CRED_UNAUTHORIZED`, `ERR_CRED_TOO_MANY_ATTEMPTS`, `ERR_CRED_STORE_UNAVAILABLE`. */
  readonly code: CredErrorCode
  /** The status text, e.g. `'Unauthorized'`. */
  readonly error: string
  /** A message for clients, e.g. `'Invalid credentials'`. */
  readonly message: string
  /** Seconds in the `Retry-After` header (429 and 503), already set; `undefined` otherwise. */
  readonly retryAfter: number | undefined
}

/**
 * Makes the body of a refusal the plugin answers (401, 403, 429, 503, and 400, 407, 500): what it returns (or
 * resolves to) is sent as `reply.send` sends it (an object as JSON, a string as text unless `reply.type` was set).
 * The status, the challenges and `Retry-After` are set before it is called and stay as they are.
 */
export type CredRefusalBody = (refusal: CredRefusal, request: FastifyRequest, reply: FastifyReply) => unknown

/**
 * The `refusalBody` option: `'json'` (the default body `{ statusCode, code, error, message }`), `'error-handler'`
 * (Fastify's error handler gets an `Error` with `statusCode`, `code` and `message`), or a `CredRefusalBody` function.
 */
export type RefusalBodyOption = 'json' | 'error-handler' | CredRefusalBody

/**
 * `app.credAuthenticate`'s signature. Declared out here, not inline in the augmentation below: TypeScript's
 * declaration emit drops an import that is used only inside a `declare module` block, so the published `.d.ts`
 * named `FastifyReply` without importing it and failed to compile for consumers with `skipLibCheck: false`
 * (`test/package/consumer.test.ts` compiles the packed package that way).
 */
type CredAuthenticateHook = (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => void

declare module 'fastify' {
  interface FastifyInstance {
    /** The portal this plugin logs in through; other protocols can use the same one. */
    portal: Portal<unknown>
    /**
     * The authentication step as an `onRequest`-style hook, for routes of an `on-demand` plugin and for
     * `@fastify/auth` composition. On failure it sets the challenges and calls `done` with an error carrying
     * `statusCode` (401, 400, 403, 407, 503 or 500).
     */
    credAuthenticate: CredAuthenticateHook
  }
  interface FastifyRequest {
    /** The avatar the realm gave this request's user, or `null` when the request was not authenticated. */
    avatar: CredAvatar | null
    /** Who logged in: the checker's answer (a user name, or `ANONYMOUS`); `null` when not authenticated. */
    avatarId: AvatarId | null
    /** Which of the configured interfaces the realm chose; `null` when not authenticated. */
    avatarInterface: Interface<unknown> | null
  }
  interface FastifyContextConfig {
    /**
     * Per route: `false` makes a route public when the plugin authenticates every route (the default mode);
     * `true` makes it authenticated when the plugin is registered with `mode: 'on-demand'`.
     */
    cred?: boolean
  }
}
