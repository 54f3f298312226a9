import { hash, randomBytes } from 'node:crypto'
import { IUsernamePassword, InvalidOption, StoreUnavailable, isOrExtends, isThenable } from '../cred/index.js'
import type { AvatarId, CheckerSetup, Credentials, CredentialsChecker, Interface } from '../cred/index.js'
import type { ReloadingChecker } from './watched-file.js'

/** Options of `CachingChecker`: how long, and how many, verified passwords are remembered. */
export interface CachingCheckerOptions {
  /** How long a verified password is remembered, in milliseconds. Default 60,000 (one minute). */
  ttl?: number
  /** At most this many remembered logins; the least recently used is forgotten first. Default 10,000. */
  maxEntries?: number
}

interface Entry {
  readonly avatarId: string
  readonly expires: number
}

/**
 * Remembers successful verifications of plaintext credentials (HTTP Basic), so that a client sending the same
 * user name and password on every request pays for the costly hash (bcrypt, SHA-crypt, PBKDF2) once per `ttl`
 * instead of on every request. Opt-in: wrap the checker.
 *
 * - Entries are keyed by a SHA-256 of (a random key made per instance, user name, password): the password itself is
 *   never kept, and a cache key copied out of the process is no hash one could attack offline without the key. (Not
 *   an HMAC: the digest never leaves the process, so length extension gives an attacker nothing.)
 * - Only successes are remembered; failures and errors (`StoreUnavailable`) go to the wrapped checker every time.
 * - Bounded: at most `maxEntries`, least recently used first out; each lives `ttl` ms.
 * - Forgotten at once when the wrapped checker reloads its users (it implements `onReload`, as `HtpasswdChecker`
 *   and `HtdigestChecker` do), so a removed user or a changed password takes effect with the file.
 * - Concurrent logins with the same credentials share one verification.
 * - Other credentials (Digest, whose response changes with every nonce) pass straight through.
 * - It owns the checker it wraps: `close()` closes both.
 *
 * @example
 * import { CachingChecker, HtpasswdChecker } from 'fastify-cred/checkers'
 * const checker = new CachingChecker(new HtpasswdChecker('/etc/myapp/htpasswd'), { ttl: 5 * 60_000, maxEntries: 1000 })
 * // then: app.register(cred, { checkers: [checker], … })
 * @throws InvalidOption when `ttl` or `maxEntries` is not a positive number
 */
export class CachingChecker<C extends Credentials = Credentials> implements CredentialsChecker<C> {
  readonly credentialInterfaces: readonly Interface<C>[]
  readonly #checker: CredentialsChecker<C>
  readonly #ttl: number
  readonly #maxEntries: number
  /** 32 random bytes per instance, as a binary string: it leads every entry's hash input. */
  readonly #key = randomBytes(32).toString('latin1')
  readonly #entries = new Map<string, Entry>()
  readonly #inFlight = new Map<string, Promise<AvatarId>>()
  /** Bumped on every reload: a verification that started before it must not be remembered after it. */
  #generation = 0
  readonly #stopListening: (() => void) | undefined
  #closing: Promise<void> | undefined

  constructor (checker: CredentialsChecker<C>, options: CachingCheckerOptions = {}) {
    if (checker === null || typeof checker !== 'object' || typeof checker.requestAvatarId !== 'function') {
      throw new InvalidOption('CachingChecker(checker, options): checker must be a credentials checker')
    }
    const ttl = options.ttl ?? 60_000
    const maxEntries = options.maxEntries ?? 10_000
    if (typeof ttl !== 'number' || !(ttl > 0)) throw new InvalidOption('CachingChecker: ttl must be a number of milliseconds > 0')
    if (typeof maxEntries !== 'number' || !Number.isInteger(maxEntries) || maxEntries < 1) throw new InvalidOption('CachingChecker: maxEntries must be an integer ≥ 1')
    this.#checker = checker
    this.#ttl = ttl
    this.#maxEntries = maxEntries
    this.credentialInterfaces = checker.credentialInterfaces
    const reloading = checker as Partial<ReloadingChecker>
    this.#stopListening = typeof reloading.onReload === 'function' ? reloading.onReload(() => { this.clear() }) : undefined
  }

  /** How many logins are remembered now. */
  get size (): number { return this.#entries.size }

  /** Forgets every remembered login. */
  clear (): void {
    this.#generation++
    this.#entries.clear()
    this.#inFlight.clear()
  }

  setupProblems (setup: CheckerSetup): readonly string[] {
    return this.#checker.setupProblems?.(setup) ?? []
  }

  /** The wrapped checker's key for `username` (its store's notion of one user), for the throttle. */
  throttleKey (username: string): string {
    return typeof this.#checker.throttleKey === 'function' ? this.#checker.throttleKey(username) : username
  }

  /** Prepares the wrapped checker (see `CredentialsChecker.prepare`). */
  async prepare (): Promise<void> {
    if (this.#closing !== undefined) throw new StoreUnavailable('CachingChecker is closed')
    await this.#checker.prepare?.()
  }

  /**
   * Forgets every remembered login and closes the wrapped checker (a wrapper owns what it wraps). Idempotent and
   * final: afterwards every login rejects with `StoreUnavailable`.
   */
  async close (): Promise<void> {
    this.#closing ??= (async () => {
      this.clear()
      this.#stopListening?.()
      await this.#checker.close?.()
    })()
    await this.#closing
  }

  /** @throws StoreUnavailable once closed; otherwise what the wrapped checker throws. */
  requestAvatarId (credentials: C): AvatarId | PromiseLike<AvatarId> {
    if (this.#closing !== undefined) throw new StoreUnavailable('CachingChecker is closed')
    const password = (credentials as Partial<IUsernamePassword>).password
    if (typeof password !== 'string' || !providesPassword(credentials)) return this.#checker.requestAvatarId(credentials)
    const username = (credentials as unknown as IUsernamePassword).username
    // A keyed one-shot SHA-256 (key, then the name's length, so no two (name, password) pairs give one input): no
    // hash object per request, which cost a tenth of the cached path's throughput as HMAC's createHmac did.
    const key = hash('sha256', `${this.#key}${username.length}:${username}:${password}`, 'base64')
    const entry = this.#entries.get(key)
    if (entry !== undefined && entry.expires > Date.now()) {
      // The file may have changed: let the wrapped checker look (at most every checkInterval), then decide again.
      const pending = (this.#checker as Partial<ReloadingChecker>).refreshIfDue?.()
      if (pending !== undefined) return pending.then(() => this.#answer(key, credentials))
    }
    return this.#answer(key, credentials)
  }

  #answer (key: string, credentials: C): AvatarId | PromiseLike<AvatarId> {
    const entry = this.#entries.get(key)
    if (entry !== undefined) {
      if (entry.expires > Date.now()) {
        this.#entries.delete(key) // re-inserted last: the Map's order is the recency order
        this.#entries.set(key, entry)
        return entry.avatarId
      }
      this.#entries.delete(key)
    }
    const shared = this.#inFlight.get(key)
    if (shared !== undefined) return shared
    const generation = this.#generation
    const answer = this.#checker.requestAvatarId(credentials)
    if (!isThenable(answer)) {
      this.#remember(key, answer, generation)
      return answer
    }
    const promise = Promise.resolve(answer).then((avatarId) => {
      this.#remember(key, avatarId, generation)
      return avatarId
    }).finally(() => {
      if (this.#inFlight.get(key) === promise) this.#inFlight.delete(key)
    })
    this.#inFlight.set(key, promise)
    return promise
  }

  #remember (key: string, avatarId: AvatarId, generation: number): void {
    if (typeof avatarId !== 'string' || generation !== this.#generation) return
    this.#entries.delete(key)
    this.#entries.set(key, { avatarId, expires: Date.now() + this.#ttl })
    if (this.#entries.size > this.#maxEntries) {
      const oldest = this.#entries.keys().next()
      if (oldest.done !== true) this.#entries.delete(oldest.value)
    }
  }
}

const passwordKinds = new WeakMap<readonly Interface<unknown>[], boolean>()

/** True when the credentials claim `IUsernamePassword`; remembered per class's shared `provides` array. */
function providesPassword (credentials: Credentials): boolean {
  const provides = credentials.provides
  let answer = passwordKinds.get(provides)
  if (answer === undefined) {
    answer = provides.some((provided) => isOrExtends(provided, IUsernamePassword))
    passwordKinds.set(provides, answer)
  }
  return answer
}
