import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify'
import type { AvatarId, Interface, Portal } from '../cred/index.js'

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
