import { randomBytes } from 'node:crypto'
import {
  ContractViolation, IUsernameDigestHash, IUsernameHashedPassword, IUsernamePassword, InvalidOption, StoreUnavailable, UnauthorizedLogin,
  digestHa1, digestHashName
} from '../cred/index.js'
import type { CredentialsChecker, Interface, PasswordCheckable } from '../cred/index.js'

function isDigest (credentials: PasswordCheckable): credentials is IUsernameDigestHash {
  const candidate = credentials as Partial<IUsernameDigestHash>
  return typeof candidate.checkHash === 'function' && typeof candidate.realm === 'string' && typeof candidate.algorithm === 'string'
}

interface StoredUser {
  readonly username: string
  readonly password: string
  /** The password padded with NULs to the checker's comparison width (`equalPadded`). */
  padded: string
  /** Digest HA1s already computed, by hash function and realm. */
  readonly ha1s: Map<string, string>
}

/** HA1s kept per user: enough for every algorithm and a few realms; more are computed each time, for every user alike. */
const MAX_HA1S_PER_USER = 16

/** Comparison width for short passwords: every password up to this length costs the same. */
const MIN_COMPARISON_WIDTH = 32

function storedUser (username: string, password: string, width: number): StoredUser {
  return { username, password, padded: password.padEnd(width, '\0'), ha1s: new Map() }
}

/**
 * Compares a given password with a stored one in `width` steps, the same for every user, the decoy and every
 * password up to `width` characters (the longest stored password sets it): no step depends on the stored password,
 * and the only branch on a length depends on the given one, which the client knows. No hash: hashing both sides
 * took a third of the checker's time.
 */
function equalPadded (given: string, stored: StoredUser, width: number): boolean {
  const length = given.length
  const padded = stored.padded
  let difference = length ^ stored.password.length
  for (let i = 0; i < width; i++) difference |= (i < length ? given.charCodeAt(i) : 0) ^ padded.charCodeAt(i)
  return difference === 0
}

/**
 * H(username:realm:password) for `user`, remembered per hash function and realm. Only where the name in the
 * credentials is always the stored one (case-sensitive names): the decoy then remembers its HA1s the same way, so a
 * known and an unknown user cost the same. With case-insensitive names a client may spell a known name many ways,
 * and every HA1 is computed, for every user alike.
 */
function ha1Of (user: StoredUser, credentials: IUsernameDigestHash, remember: boolean): string {
  if (!remember) return digestHa1(credentials.algorithm, credentials.username, credentials.realm, user.password)
  const key = `${digestHashName(credentials.algorithm)}\0${credentials.realm}`
  let ha1 = user.ha1s.get(key)
  if (ha1 === undefined) {
    ha1 = digestHa1(credentials.algorithm, user.username, credentials.realm, user.password)
    if (user.ha1s.size < MAX_HA1S_PER_USER) user.ha1s.set(key, ha1)
  }
  return ha1
}

/** Credentials that claim a password interface must be able to check one: anything else is a bug, not a refusal. */
function checkPasswordOf (credentials: PasswordCheckable, password: string): boolean {
  if (typeof credentials.checkPassword !== 'function') {
    throw new ContractViolation('MemoryChecker: the credentials claim a password interface but have neither a string `password` nor a `checkPassword` function')
  }
  return credentials.checkPassword(password)
}

/** Options of `MemoryChecker`. */
export interface MemoryCheckerOptions {
  /** `false` matches user names ignoring case (`Alice` logs in as `alice`). Default: `true`, names are case-sensitive. */
  caseSensitive?: boolean
}

/**
 * A user store held in memory, with plaintext passwords: **for development, tests and demos**, not for production
 * (passwords sit in the process's memory and in your source). Answers synchronously, compares in constant time and
 * does the same work for an unknown user as for a wrong password, so the response time does not tell which.
 *
 * Accepts every credentials kind that can check a plaintext: `UsernamePassword` (HTTP Basic),
 * `UsernameHashedPassword`, and Digest credentials.
 *
 * @example
 * import { MemoryChecker } from 'fastify-cred/checkers'
 * const checker = new MemoryChecker({ alice: 'wonderland' })
 * checker.addUser('bob', 'builder')
 */
export class MemoryChecker implements CredentialsChecker<PasswordCheckable> {
  static readonly credentialInterfaces: readonly Interface<PasswordCheckable>[] = Object.freeze([IUsernamePassword, IUsernameDigestHash, IUsernameHashedPassword])
  readonly credentialInterfaces: readonly Interface<PasswordCheckable>[] = MemoryChecker.credentialInterfaces
  readonly #users = new Map<string, StoredUser>()
  readonly #caseSensitive: boolean
  /** Characters every password comparison steps through (`equalPadded`). */
  #width = MIN_COMPARISON_WIDTH
  /** Checked against when the user is unknown, so that path costs what a wrong password costs. */
  readonly #decoy: StoredUser = storedUser('', randomBytes(16).toString('base64'), MIN_COMPARISON_WIDTH)
  #closed = false

  constructor (users: Record<string, string> | Iterable<readonly [string, string]> = {}, options: MemoryCheckerOptions = {}) {
    this.#caseSensitive = options.caseSensitive ?? true
    const entries = Symbol.iterator in users ? users as Iterable<readonly [string, string]> : Object.entries(users)
    for (const [username, password] of entries) this.addUser(username, password)
  }

  /** Adds a user, or replaces the password of one already there. */
  addUser (username: string, password: string): void {
    if (typeof username !== 'string' || typeof password !== 'string') {
      throw new InvalidOption('MemoryChecker.addUser(username, password) takes two strings')
    }
    if (password.length > this.#width) {
      // Every comparison steps through the longest password, so that none takes longer for one user than another.
      this.#width = password.length
      for (const user of [this.#decoy, ...this.#users.values()]) user.padded = user.password.padEnd(this.#width, '\0')
    }
    this.#users.set(this.#key(username), storedUser(username, password, this.#width))
  }

  /** The user names, as added: what a Digest `userhashResolver` needs to find users by their hash. */
  usernames (): IterableIterator<string> {
    return Array.from(this.#users.values(), (user) => user.username).values()
  }

  /** @throws UnauthorizedLogin for a wrong password or an unknown user; StoreUnavailable once closed. */
  requestAvatarId (credentials: PasswordCheckable): string {
    if (this.#closed) throw new StoreUnavailable('MemoryChecker is closed')
    if (typeof credentials.username !== 'string') throw new ContractViolation('MemoryChecker: the credentials have no string `username`')
    const user = this.#users.get(this.#key(credentials.username))
    const against = user ?? this.#decoy
    // A plaintext from the client is compared in a fixed number of steps; a Digest response is checked against a
    // remembered HA1 (the decoy's too, so an unknown user costs the same); other kinds derive from the plaintext.
    const plaintext = (credentials as Partial<IUsernamePassword>).password
    const matched = typeof plaintext === 'string'
      ? equalPadded(plaintext, against, this.#width)
      : isDigest(credentials) ? credentials.checkHash(ha1Of(against, credentials, this.#caseSensitive)) : checkPasswordOf(credentials, against.password)
    if (user === undefined || !matched) throw new UnauthorizedLogin('Invalid user name or password')
    return user.username
  }

  /** Forgets every user; afterwards every login throws `StoreUnavailable`. Idempotent. */
  async close (): Promise<void> {
    this.#closed = true
    this.#users.clear()
  }

  #key (username: string): string {
    return this.#caseSensitive ? username : username.toLowerCase()
  }
}
