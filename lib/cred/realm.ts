import type { AvatarId } from './checker.js'
import { NoAvatarInterface } from './errors.js'
import type { Interface } from './interfaces.js'
import { isThenable } from './thenable.js'

/** Ends an avatar's session: release what the realm gave the user. The portal's callers call it exactly once. */
export type Logout = () => void | PromiseLike<void>

/** What a login resolves to: which of the asked interfaces the realm chose, the avatar, and its logout. */
export interface LoginResult<T> {
  readonly interface: Interface<T>
  readonly avatar: T
  readonly logout: Logout
}

/**
 * Knows *what* a user becomes after login. Called only after a checker accepted the credentials. Picks the first
 * of `interfaces` (in order of the caller's preference) it can serve. May answer synchronously.
 */
export interface Realm<Mind = unknown> {
  /** The avatar for `avatarId` of the first of `interfaces` this realm serves, with its `logout`; `NoAvatarInterface` when it serves none of them. */
  requestAvatar (avatarId: AvatarId, mind: Mind, ...interfaces: Interface<unknown>[]): LoginResult<unknown> | PromiseLike<LoginResult<unknown>>
}

/** The logout of avatars that hold nothing. Shared, so protocols can tell there is nothing to call. */
export const NOOP_LOGOUT: Logout = () => {}

type AvatarFactory<T, Mind> = (avatarId: AvatarId, mind: Mind) => T | PromiseLike<T>
type AvatarLogout<T> = (avatar: T, avatarId: AvatarId) => void | PromiseLike<void>

interface Served<Mind> {
  readonly makeAvatar: AvatarFactory<unknown, Mind>
  readonly logout: AvatarLogout<unknown> | undefined
}

/**
 * A realm built from one avatar factory per interface, for the common case. Asked for several interfaces, it serves
 * the first it has a factory for; for none it throws `NoAvatarInterface`.
 *
 * @example
 * import { SimpleRealm, defineInterface } from 'fastify-cred'
 * interface User { name: string }
 * const IUser = defineInterface<User>('IUser')
 * const realm = new SimpleRealm()
 *   .serve(IUser, (avatarId) => ({ name: String(avatarId) }), (user) => { console.log(user.name, 'left') })
 */
export class SimpleRealm<Mind = unknown> implements Realm<Mind> {
  readonly #served = new Map<Interface<unknown>, Served<Mind>>()

  /** Serves `iface` with avatars made by `makeAvatar`; `logout`, when given, runs once when the session ends. */
  serve<T> (iface: Interface<T>, makeAvatar: AvatarFactory<T, Mind>, logout?: AvatarLogout<T>): this {
    this.#served.set(iface, { makeAvatar, logout: logout as AvatarLogout<unknown> | undefined })
    return this
  }

  /** The avatar for `avatarId` of the first of `interfaces` this realm serves, with its `logout`; `NoAvatarInterface` when it serves none of them. */
  requestAvatar (avatarId: AvatarId, mind: Mind, ...interfaces: Interface<unknown>[]): LoginResult<unknown> | PromiseLike<LoginResult<unknown>> {
    for (const iface of interfaces) {
      const served = this.#served.get(iface)
      if (served === undefined) continue
      const avatar = served.makeAvatar(avatarId, mind)
      if (isThenable(avatar)) return Promise.resolve(avatar).then((resolved) => loginResult(iface, resolved, avatarId, served.logout))
      return loginResult(iface, avatar, avatarId, served.logout)
    }
    throw new NoAvatarInterface(`Realm serves none of the requested interfaces (${interfaces.map((i) => i.name).join(', ')}); it serves ${[...this.#served.keys()].map((i) => i.name).join(', ') || 'nothing'}`)
  }
}

function loginResult (iface: Interface<unknown>, avatar: unknown, avatarId: AvatarId, logout: AvatarLogout<unknown> | undefined): LoginResult<unknown> {
  return { interface: iface, avatar, logout: logout === undefined ? NOOP_LOGOUT : () => logout(avatar, avatarId) }
}
