import { ANONYMOUS } from './checker.js'
import type { AvatarId, CredentialsChecker } from './checker.js'
import type { Credentials } from './credentials/credentials.js'
import { ContractViolation, InvalidOption, NoAvatarInterface, UnauthorizedLogin, UnhandledCredentials, ValidPublicKey } from './errors.js'
import { isOrExtends } from './interfaces.js'
import type { Interface, Provided } from './interfaces.js'
import type { LoginResult, Realm } from './realm.js'
import { loginWatchStart, observedLogin } from './events.js'
import { isThenable } from './thenable.js'
import type { LoginAttempt, LoginClient, LoginThrottle } from './throttle.js'

/** Options of `new Portal(realm, checkers, options)`. */
export interface PortalOptions<Mind> {
  /** Asked before every checker, told every checker's verdict: brute-force throttling for every protocol. */
  throttle?: LoginThrottle
  /**
   * Where `login` finds the client's address in a mind, for the throttle, and the protocol's name, for login events.
   * Default: the mind's `address` and `protocol` properties when they are strings. (The HTTP guard passes the
   * request's address itself.)
   */
  clientOf?: (mind: Mind) => LoginClient | undefined
}

const clientFromMind = (mind: unknown): LoginClient | undefined => {
  if (typeof mind !== 'object' || mind === null) return undefined
  const { address, protocol } = mind as { address?: unknown, protocol?: unknown }
  if (typeof address !== 'string' && typeof protocol !== 'string') return undefined
  return { address: typeof address === 'string' ? address : undefined, protocol: typeof protocol === 'string' ? protocol : undefined }
}

/** One or more avatar interfaces, in order of preference. */
export type AvatarInterfaces = readonly [Interface<unknown>, ...Interface<unknown>[]]

/** A realm's answer with the avatar id the checker answered, so protocols can tell who logged in. */
export interface PortalLogin<T> extends LoginResult<T> {
  readonly avatarId: AvatarId
}

/** The result of a login asking for `Is`: one `PortalLogin` per interface the realm may have chosen. */
export type LoginResultFor<Is extends readonly Interface<unknown>[]> = { [K in keyof Is]: PortalLogin<Provided<Is[K]>> }[number]

/**
 * Joins one realm with any number of credentials checkers; the only object a protocol talks to.
 *
 * `login` chooses the checker by the first registered credential interface the credentials provide (registration
 * order, as in Twisted), asks it for an avatar id, then asks the realm for an avatar of the first interface it can
 * serve, and checks that the realm answered with one that was asked for.
 *
 * @example
 * import { Portal, SimpleRealm, UsernamePassword, defineInterface } from 'fastify-cred'
 * import { MemoryChecker } from 'fastify-cred/checkers'
 * const IUser = defineInterface<{ name: string }>('IUser')
 * const realm = new SimpleRealm().serve(IUser, (id) => ({ name: String(id) }))
 * const portal = new Portal(realm, [new MemoryChecker({ alice: 'wonderland' })])
 * const { avatar, logout } = await portal.login(new UsernamePassword('alice', 'wonderland'), null, IUser)
 * avatar.name // 'alice'
 * await logout()
 */
export class Portal<Mind = unknown> {
  readonly realm: Realm<Mind>
  readonly #checkers = new Map<Interface<unknown>, CredentialsChecker>()
  /** The checker chosen for each `provides` array seen; credentials of one class share one array. */
  #choice = new WeakMap<readonly Interface<unknown>[], CredentialsChecker | null>()

  readonly throttle: LoginThrottle | undefined
  readonly #clientOf: (mind: Mind) => LoginClient | undefined

  constructor (realm: Realm<Mind>, checkers: Iterable<CredentialsChecker> = [], options: PortalOptions<Mind> = {}) {
    if (realm === null || typeof realm !== 'object' || typeof realm.requestAvatar !== 'function') {
      throw new InvalidOption('Portal needs a realm: an object with a requestAvatar(avatarId, mind, ...interfaces) method')
    }
    this.realm = realm
    const throttle = options.throttle
    if (throttle !== undefined && (throttle === null || typeof throttle.acquire !== 'function' || typeof throttle.record !== 'function')) {
      throw new InvalidOption('Portal `throttle` must implement LoginThrottle: acquire(attempt) and record(attempt, succeeded)')
    }
    this.throttle = throttle
    this.#clientOf = options.clientOf ?? clientFromMind
    for (const checker of checkers) {
      // Two checkers given together for one kind of credentials would leave one of them silently unused (a
      // registration replaces the last one for its interfaces): a set-up mistake, refused here.
      for (const iface of Array.isArray(checker?.credentialInterfaces) ? checker.credentialInterfaces : []) {
        const earlier = this.#checkers.get(iface)
        if (earlier !== undefined && earlier !== checker) {
          throw new InvalidOption(`Two checkers handle ${iface.name}: ${earlier.constructor.name} and ${checker.constructor.name}; a portal asks one checker per kind of credentials (combine them in one checker, or call registerChecker to replace one on purpose)`)
        }
      }
      this.registerChecker(checker)
    }
  }

  /**
   * Registers `checker` for the given credential interfaces, or for its own `credentialInterfaces` when none are
   * given. A later registration for the same interface replaces the earlier one and keeps its place in the order
   * (the constructor, given several checkers at once, refuses two for one interface instead).
   */
  registerChecker<C extends Credentials> (checker: CredentialsChecker<C>, ...credentialInterfaces: Interface<C>[]): void {
    if (checker === null || typeof checker !== 'object' || typeof checker.requestAvatarId !== 'function') {
      throw new InvalidOption('A checker must be an object with a requestAvatarId(credentials) method')
    }
    const ifaces = credentialInterfaces.length > 0 ? credentialInterfaces : checker.credentialInterfaces
    if (!Array.isArray(ifaces) || ifaces.length === 0) {
      throw new InvalidOption(`Checker ${checker.constructor.name} names no credential interfaces: give them to registerChecker or set credentialInterfaces`)
    }
    for (const iface of ifaces) this.#checkers.set(iface, checker as CredentialsChecker)
    this.#choice = new WeakMap()
  }

  /** The credential interfaces some checker handles, in registration order. */
  listCredentialsInterfaces (): Interface<unknown>[] {
    return [...this.#checkers.keys()]
  }

  /** The registered checkers, each once, in registration order. */
  listCheckers (): CredentialsChecker[] {
    return [...new Set(this.#checkers.values())]
  }

  /** The checker `login` would use for `credentials`, or `undefined` (also for a value that is not credentials). */
  checkerFor (credentials: Credentials): CredentialsChecker | undefined {
    const provides: unknown = (credentials as Partial<Credentials> | null)?.provides
    if (!Array.isArray(provides)) return undefined
    let checker = this.#choice.get(provides)
    if (checker === undefined) {
      if (!provides.every(isInterface)) return undefined
      checker = null
      for (const [registered, candidate] of this.#checkers) {
        if (provides.some((provided) => isOrExtends(provided, registered))) {
          checker = candidate
          break
        }
      }
      this.#choice.set(provides, checker)
    }
    return checker ?? undefined
  }

  /**
   * Logs in: resolves to `{ interface, avatar, logout, avatarId }`. Call `logout` exactly once when the session ends.
   *
   * @param credentials What the client proved: a credentials object (`UsernamePassword`, `Anonymous`, …).
   * @param mind Whatever the protocol wants the realm to know about the client; opaque to cred.
   * @param interfaces The avatar interfaces wanted, in order of preference.
   * @throws (rejects with) `UnauthorizedLogin` (a checker refused), `UnhandledCredentials` (no checker, or not
   * credentials at all), `LoginDenied` (the realm refused), `NoAvatarInterface` or `ContractViolation` (a realm or
   * checker bug), `StoreUnavailable` (a store is down).
   */
  login<Is extends AvatarInterfaces> (credentials: Credentials, mind: Mind, ...interfaces: Is): Promise<LoginResultFor<Is>> {
    try {
      return Promise.resolve(this.loginMaybeSync(credentials, mind, ...interfaces))
    } catch (err) {
      return Promise.reject(err)
    }
  }

  /**
   * `login` without the promise when every step answers synchronously: returns the result, or throws; a promise
   * only when a checker or the realm returned one. For protocol layers on a hot path.
   *
   * @example
   * const result = portal.loginMaybeSync(creds, null, IUser)
   * const { avatar } = result instanceof Promise ? await result : result
   */
  loginMaybeSync<Is extends AvatarInterfaces> (credentials: Credentials, mind: Mind, ...interfaces: Is): LoginResultFor<Is> | Promise<LoginResultFor<Is>> {
    if (interfaces.length === 0) throw new InvalidOption('login needs at least one avatar interface')
    const startedAt = loginWatchStart()
    if (startedAt === 0) return this.#login(credentials, mind, interfaces)
    const client = this.#clientOf(mind)
    const origin = { protocol: client?.protocol, scheme: undefined, client: client?.address, route: undefined }
    return observedLogin(startedAt, origin, credentials, () => this.#login(credentials, mind, interfaces))
  }

  #login<Is extends AvatarInterfaces> (credentials: Credentials, mind: Mind, interfaces: Is): LoginResultFor<Is> | Promise<LoginResultFor<Is>> {
    const client = this.throttle === undefined ? undefined : this.#clientOf(mind)
    const avatarId = this.requestAvatarId(credentials, client)
    if (isThenable(avatarId)) return avatarId.then((id) => this.#reachRealm(credentials, client, id, mind, interfaces))
    return this.#reachRealm(credentials, client, avatarId, mind, interfaces)
  }

  #reachRealm<Is extends AvatarInterfaces> (credentials: Credentials, client: LoginClient | undefined, avatarId: AvatarId, mind: Mind, interfaces: Is): LoginResultFor<Is> | Promise<LoginResultFor<Is>> {
    this.recordSuccess(credentials, client)
    return this.requestAvatar(avatarId, mind, ...interfaces)
  }

  /**
   * The first half of `login`: asks the checker for these credentials who they prove, and nothing more. Protocols
   * that must act between the checker and the realm use it with `requestAvatar` (HTTP Digest records a nonce count
   * there, so a replay is refused before the realm opens anything). A refused password is counted by the throttle
   * here; an accepted one is not a success yet: call `recordSuccess` once the login goes on to the realm.
   *
   * @param credentials What the client proved.
   * @param client What the protocol knows of the client (its address), for the throttle.
   * @throws `UnhandledCredentials`, `UnauthorizedLogin`, `TooManyAttempts` (the throttle), `StoreUnavailable`,
   * `ContractViolation`; synchronously when the checker (and throttle) answer synchronously, else as a rejection.
   */
  requestAvatarId (credentials: Credentials, client?: LoginClient): AvatarId | Promise<AvatarId> {
    const checker = this.checkerFor(credentials)
    if (checker === undefined) throw new UnhandledCredentials(unhandledMessage(credentials))
    const throttle = this.throttle
    if (throttle === undefined) return this.#check(checker, credentials)
    const attempt = attemptOf(checker, credentials, client)
    const acquired = throttle.acquire(attempt)
    if (isThenable(acquired)) return Promise.resolve(acquired).then(() => this.#checkThrottled(checker, credentials, throttle, attempt))
    return this.#checkThrottled(checker, credentials, throttle, attempt)
  }

  /**
   * Tells the throttle that a login whose password the checker accepted goes on to the realm: a success, which
   * clears the user's failures. `login` calls it itself; protocols that call `requestAvatarId` and `requestAvatar`
   * call it in between, after their own checks (a replayed Digest response, refused after the checker accepted it,
   * must not count as a success: it would clear the failures of whoever replays it between guesses).
   *
   * @param credentials The credentials `requestAvatarId` accepted.
   * @param client What the protocol knows of the client, as given to `requestAvatarId`.
   * @example
   * const avatarId = await portal.requestAvatarId(credentials, { address })
   * await claimNonceCount(credentials)                 // the protocol's own check
   * portal.recordSuccess(credentials, { address })
   * const login = await portal.requestAvatar(avatarId, mind, IUser)
   */
  recordSuccess (credentials: Credentials, client?: LoginClient): void {
    const throttle = this.throttle
    const checker = throttle === undefined ? undefined : this.checkerFor(credentials)
    if (throttle === undefined || checker === undefined) return
    let attempt: LoginAttempt
    try {
      attempt = attemptOf(checker, credentials, client)
    } catch {
      return
    }
    tellThrottle(throttle, attempt, true)
  }

  #checkThrottled (checker: CredentialsChecker, credentials: Credentials, throttle: LoginThrottle, attempt: LoginAttempt): AvatarId | Promise<AvatarId> {
    let avatarId: AvatarId | Promise<AvatarId>
    try {
      avatarId = this.#check(checker, credentials)
    } catch (err) {
      if (isFailure(err)) tellThrottle(throttle, attempt, false)
      throw err
    }
    if (!isThenable(avatarId)) return avatarId
    return avatarId.then(undefined, (err: unknown) => {
      if (isFailure(err)) tellThrottle(throttle, attempt, false)
      throw err
    })
  }

  #check (checker: CredentialsChecker, credentials: Credentials): AvatarId | Promise<AvatarId> {
    let avatarId: AvatarId | PromiseLike<AvatarId>
    try {
      avatarId = checker.requestAvatarId(credentials)
    } catch (err) {
      throw asError(err, checker)
    }
    if (isThenable(avatarId)) return Promise.resolve(avatarId).then((id) => checkAvatarId(id, checker), (err: unknown) => { throw asError(err, checker) })
    return checkAvatarId(avatarId, checker)
  }

  /**
   * The second half of `login`: asks the realm for an avatar of `avatarId`, of the first of `interfaces` it serves,
   * and checks its answer.
   *
   * @throws `LoginDenied`, `NoAvatarInterface`, `ContractViolation`; as a rejection when the realm answers a promise.
   */
  requestAvatar<Is extends AvatarInterfaces> (avatarId: AvatarId, mind: Mind, ...interfaces: Is): LoginResultFor<Is> | Promise<LoginResultFor<Is>> {
    let result: LoginResult<unknown> | PromiseLike<LoginResult<unknown>>
    try {
      result = this.realm.requestAvatar(avatarId, mind, ...interfaces)
    } catch (err) {
      throw asError(err, this.realm)
    }
    if (isThenable(result)) {
      return Promise.resolve(result).then((resolved) => checkRealmResult(resolved, avatarId, interfaces), (err: unknown) => { throw asError(err, this.realm) })
    }
    return checkRealmResult(result, avatarId, interfaces)
  }
}

function isInterface (value: unknown): value is Interface<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as Interface<unknown>).name === 'string' &&
    Array.isArray((value as Interface<unknown>).extends) && (value as Interface<unknown>).extends.every(isInterface)
}

function unhandledMessage (credentials: unknown): string {
  const provides: unknown = typeof credentials === 'object' && credentials !== null ? (credentials as Partial<Credentials>).provides : undefined
  if (provides === undefined) {
    const what = credentials === null ? 'null' : typeof credentials === 'object' ? 'an object without `provides`' : `a ${typeof credentials}`
    return `login needs a credentials object (with a \`provides\` array of interfaces from defineInterface), got ${what}`
  }
  if (!Array.isArray(provides)) return 'The credentials\' `provides` is not an array of interfaces from defineInterface'
  if (!provides.every(isInterface)) return 'The credentials\' `provides` holds something that is not an interface from defineInterface (a token needs a name and an `extends` array)'
  return `No checker for ${provides.map((i: Interface<unknown>) => i.name).join(', ') || 'credentials that provide no interface'}`
}

/** Who is trying, as the throttle counts: the store's key for the user name (`throttleKey`) and the address. */
function attemptOf (checker: CredentialsChecker, credentials: Credentials, client: LoginClient | undefined): LoginAttempt {
  const username = (credentials as { username?: unknown }).username
  return { username: typeof username === 'string' ? throttleKeyOf(checker, username) : undefined, address: client?.address }
}

/** The throttle's failures are ignored: it must not turn a login into an error. */
function tellThrottle (throttle: LoginThrottle, attempt: LoginAttempt, succeeded: boolean): void {
  try {
    const recorded = throttle.record(attempt, succeeded)
    if (isThenable(recorded)) recorded.then(undefined, () => {})
  } catch {}
}

/** The name the throttle counts: the checker's key for `username` (one per user of its store), else the name. */
function throttleKeyOf (checker: CredentialsChecker, username: string): string {
  if (typeof checker.throttleKey !== 'function') return username
  let key: unknown
  try {
    key = checker.throttleKey(username)
  } catch (err) {
    throw asError(err, checker)
  }
  if (typeof key !== 'string') throw new ContractViolation(`Checker ${nameOf(checker)} answered ${key === null ? 'null' : typeof key} as a throttle key; it must answer a string`)
  return key
}

function checkAvatarId (avatarId: unknown, checker: CredentialsChecker): AvatarId {
  if ((typeof avatarId === 'string' && avatarId !== '') || avatarId === ANONYMOUS) return avatarId
  const answered = avatarId === '' ? 'an empty string' : avatarId === null ? 'null' : typeof avatarId
  throw new ContractViolation(`Checker ${nameOf(checker)} answered ${answered} as the avatar id; it must answer a non-empty string or ANONYMOUS, or throw UnauthorizedLogin`)
}

/** An Error stays as it is; anything else thrown is a bug of `culprit`, named in the message. */
function asError (thrown: unknown, culprit: object): Error {
  if (thrown instanceof Error) return thrown
  return new ContractViolation(`${nameOf(culprit)} threw ${thrown === null ? 'null' : typeof thrown} instead of an Error`, { cause: thrown })
}

function nameOf (value: object): string {
  return value.constructor?.name ?? 'an object'
}

function checkRealmResult<Is extends AvatarInterfaces> (result: LoginResult<unknown>, avatarId: AvatarId, interfaces: Is): LoginResultFor<Is> {
  if (result === null || typeof result !== 'object' || !interfaces.includes(result.interface)) {
    const answered = result?.interface?.name ?? String(result)
    throw new NoAvatarInterface(`Realm answered with ${answered}, which was not requested (asked for ${interfaces.map((i) => i.name).join(', ')})`)
  }
  if (typeof result.logout !== 'function') {
    throw new NoAvatarInterface(`Realm answered ${result.interface.name} without a logout function`)
  }
  return { interface: result.interface, avatar: result.avatar, logout: result.logout, avatarId } as LoginResultFor<Is>
}

/**
 * Narrows a login result to the interface the realm chose.
 *
 * @example
 * const result = await portal.login(creds, null, IAdmin, IUser)
 * if (resultProvides(result, IAdmin)) result.avatar.deleteEverything()
 */
export function resultProvides<T> (result: LoginResult<unknown>, iface: Interface<T>): result is LoginResult<T> {
  return result.interface === iface
}

/** A refusal the throttle counts: an unsigned public-key query (`ValidPublicKey`) is a question, not a guess. */
const isFailure = (err: unknown): boolean => err instanceof UnauthorizedLogin && !(err instanceof ValidPublicKey)
