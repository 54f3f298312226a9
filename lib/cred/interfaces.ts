/**
 * Interfaces as run-time tokens. TypeScript's interfaces vanish at run time, but cred negotiates them: a checker
 * says which kinds of credentials it understands, and a protocol asks the realm for an avatar of a given kind.
 * A token carries its name for messages and, at the type level only, the type of the object it stands for.
 */

declare const providedType: unique symbol

/** A run-time token standing for the TypeScript type `T`. Compare tokens by identity. */
export interface Interface<T> {
  readonly name: string
  /** Tokens this one refines: credentials providing this token also provide these. */
  readonly extends: readonly Interface<unknown>[]
  /** Phantom, type level only: never set at run time. */
  readonly [providedType]?: T
}

/** The type an interface token stands for. */
export type Provided<I> = I extends Interface<infer T> ? T : never

/**
 * Creates the token for an interface.
 *
 * @example
 * import { defineInterface } from 'fastify-cred'
 * interface Mailbox { messages(): string[] }
 * const IMailbox = defineInterface<Mailbox>('IMailbox')
 * // portal.login(creds, null, IMailbox) then resolves to { interface: IMailbox, avatar: Mailbox, logout }
 */
export function defineInterface<T> (name: string, options: { extends?: readonly Interface<unknown>[] } = {}): Interface<T> {
  if (typeof name !== 'string' || name.length === 0) throw new TypeError('defineInterface needs a non-empty name')
  return Object.freeze({ name, extends: Object.freeze([...(options.extends ?? [])]) })
}

/** True when `candidate` is `wanted` or refines it, directly or through other tokens. */
export function isOrExtends (candidate: Interface<unknown>, wanted: Interface<unknown>): boolean {
  if (candidate === wanted) return true
  for (const parent of candidate.extends) {
    if (isOrExtends(parent, wanted)) return true
  }
  return false
}
