import { randomBytes } from 'node:crypto'
import {
  IUsernameDigestHash, IUsernamePassword, InvalidOption, StoreUnavailable, UnauthorizedLogin, constantTimeEqualStrings, digestHa1,
  isOrExtends
} from '../cred/index.js'
import type { CheckerSetup, Credentials, CredentialsChecker, Interface } from '../cred/index.js'
import { LINES_PER_SLICE, WatchedFile, apacheLines, parseNow } from './watched-file.js'
import type { ParseOutcome, ReloadingChecker, WatchedFileOptions } from './watched-file.js'

export interface HtdigestCheckerOptions extends WatchedFileOptions {
  /**
   * The realm whose lines verify HTTP Basic logins (hashed as MD5(user:realm:password) and compared with the line's
   * HA1). Default: the file's only realm; required when the file has several. Digest logins use the realm the
   * client answered for (the plugin's `authenticationRealm`).
   */
  realm?: string
}

type Realms = ReadonlyMap<string, ReadonlyMap<string, string>>

const HA1 = /^[0-9a-fA-F]{32}$/

/**
 * Reads `user:realm:HA1` lines (HA1 = hex MD5 of `user:realm:password`), as Apache's `htdigest` writes them and its
 * server reads them (leading and trailing white space dropped, blank lines and `#` comments skipped). Yields every
 * `LINES_PER_SLICE` lines (see `FileParser`).
 */
export function * parseHtdigestSliced (text: string): Generator<void, ParseOutcome<Realms>, void> {
  const realms = new Map<string, Map<string, string>>()
  const warnings: string[] = []
  for (const { number, line } of apacheLines(text)) {
    if (number % LINES_PER_SLICE === 0) yield
    if (line === '' || line.startsWith('#')) continue
    const first = line.indexOf(':')
    const last = line.lastIndexOf(':')
    if (first < 0 || first === last) return { ok: false, line: number, problem: 'expected user:realm:HA1' }
    if (first === 0) return { ok: false, line: number, problem: 'empty user name' }
    const username = line.slice(0, first)
    const realm = line.slice(first + 1, last)
    const ha1 = line.slice(last + 1)
    if (!HA1.test(ha1)) return { ok: false, line: number, problem: `the HA1 of user ${JSON.stringify(username)} is not 32 hex digits (MD5)` }
    let users = realms.get(realm)
    if (users === undefined) realms.set(realm, users = new Map())
    if (users.has(username)) {
      warnings.push(`line ${number}: user ${JSON.stringify(username)} is listed again in realm ${JSON.stringify(realm)}; the first line is used`)
      continue
    }
    users.set(username, ha1.toLowerCase())
  }
  return { ok: true, value: realms, warnings }
}

/** `parseHtdigestSliced` run straight through. */
export function parseHtdigest (text: string): ParseOutcome<Realms> {
  return parseNow(parseHtdigestSliced(text))
}

/**
 * Users from an Apache `htdigest` file (`user:realm:HA1`). Verifies HTTP Digest credentials with `checkHash`,
 * without ever knowing a plaintext, and HTTP Basic ones by hashing the password the client sent.
 *
 * An HA1 is bound to MD5 and to its realm: Digest works only for the `MD5` and `MD5-sess` algorithms, and only
 * when the plugin's `authenticationRealm` is a realm of the file. `setupProblems` says so at set-up (register the
 * plugin with `schemes: ['digest'], digest: { algorithms: ['MD5'] }` and the file's realm). Reloads, broken files
 * and unknown users work as in `HtpasswdChecker` (a random decoy HA1 is checked for unknown users).
 *
 * @example
 * import Fastify from 'fastify'
 * import { cred, SimpleRealm, defineInterface } from 'fastify-cred'
 * import { HtdigestChecker } from 'fastify-cred/checkers'
 * const IUser = defineInterface<{ name: string }>('IUser')
 * const app = Fastify()
 * await app.register(cred, {
 *   realm: new SimpleRealm().serve(IUser, (id) => ({ name: String(id) })),
 *   checkers: [new HtdigestChecker('/etc/myapp/htdigest')], // lines made with: htdigest /etc/myapp/htdigest staff alice
 *   interfaces: [IUser],
 *   authenticationRealm: 'staff',
 *   schemes: ['digest', 'basic'],
 *   digest: { algorithms: ['MD5'] }
 * })
 * @throws InvalidOption when the file is missing, unreadable or malformed at construction, or when it has several
 *   realms and `options.realm` is not given
 */
export class HtdigestChecker implements CredentialsChecker<IUsernameDigestHash | IUsernamePassword>, ReloadingChecker {
  static readonly credentialInterfaces: readonly Interface<IUsernameDigestHash | IUsernamePassword>[] = Object.freeze([IUsernameDigestHash, IUsernamePassword])
  readonly credentialInterfaces: readonly Interface<IUsernameDigestHash | IUsernamePassword>[] = HtdigestChecker.credentialInterfaces
  readonly #file: WatchedFile<Realms>
  readonly #basicRealm: string | undefined
  /** Checked when the user is unknown, so that path costs what a wrong password costs. Never a real HA1. */
  readonly #decoyHa1 = randomBytes(16).toString('hex')
  #closed = false

  constructor (path: string, options: HtdigestCheckerOptions = {}) {
    if (options.realm !== undefined && typeof options.realm !== 'string') throw new InvalidOption('HtdigestChecker: realm must be a string')
    this.#file = new WatchedFile('HtdigestChecker', path, parseHtdigestSliced, options)
    const realms = [...this.#file.value.keys()]
    if (options.realm === undefined && realms.length > 1) {
      throw new InvalidOption(`HtdigestChecker: ${path} has ${realms.length} realms (${realms.map((r) => JSON.stringify(r)).join(', ')}); pass { realm } to say which one verifies Basic logins`)
    }
    this.#basicRealm = options.realm ?? realms[0]
  }

  /** The file's path. */
  get path (): string { return this.#file.path }

  /** The realms in the last good copy of the file. */
  realms (): string[] {
    return [...this.#file.value.keys()]
  }

  /** The user names of `realm` (default: the Basic realm): what a Digest `userhashResolver` needs. */
  usernames (realm: string | undefined = this.#basicRealm): IterableIterator<string> {
    return (realm === undefined ? undefined : this.#file.value.get(realm))?.keys() ?? [].values()
  }

  onReload (listener: () => void): () => void {
    return this.#file.onReload(listener)
  }

  refreshIfDue (): Promise<void> | undefined {
    return this.#file.refreshIfDue()
  }

  /**
   * What this file cannot serve of the plugin's set-up: Digest algorithms other than MD5 / MD5-sess, and an
   * `authenticationRealm` (when Digest is offered) that no line of the file uses.
   *
   * @example
   * checker.setupProblems({ authenticationRealm: 'staff', digestAlgorithms: ['SHA-256', 'MD5'] })
   * // ['HtdigestChecker(/etc/myapp/htdigest): its HA1s are MD5 and cannot verify Digest SHA-256; …']
   */
  setupProblems (setup: CheckerSetup): readonly string[] {
    const problems: string[] = []
    const name = `HtdigestChecker(${this.#file.path})`
    const unusable = setup.digestAlgorithms.filter((algorithm) => algorithm !== 'MD5' && algorithm !== 'MD5-sess')
    if (unusable.length > 0) {
      problems.push(`${name}: its HA1s are MD5 and cannot verify Digest ${unusable.join(', ')}; offer only MD5 (digest: { algorithms: ['MD5'] })`)
    }
    const realm = setup.authenticationRealm
    if (setup.digestAlgorithms.length > 0 && realm !== undefined && !this.#file.value.has(realm)) {
      const realms = this.realms()
      problems.push(`${name}: no line is for realm ${JSON.stringify(realm)}, so every Digest login would fail; ` +
        (realms.length === 0 ? 'the file has no users' : `its realm${realms.length > 1 ? 's are' : ' is'} ${realms.map((r) => JSON.stringify(r)).join(', ')}: set authenticationRealm to it`))
    }
    return problems
  }

  /** @throws UnauthorizedLogin for a wrong password or an unknown user; StoreUnavailable once closed. */
  requestAvatarId (credentials: IUsernameDigestHash | IUsernamePassword): string | Promise<string> {
    if (this.#closed) throw new StoreUnavailable('HtdigestChecker is closed')
    const pending = this.#file.refreshIfDue()
    return pending === undefined ? this.#check(credentials) : pending.then(() => this.#check(credentials))
  }

  /** Stops looking at the file (it holds no handle between looks); afterwards every login throws `StoreUnavailable`. Idempotent. */
  async close (): Promise<void> {
    this.#closed = true
    this.#file.close()
  }

  #check (credentials: IUsernameDigestHash | IUsernamePassword): string {
    if (this.#closed) throw new StoreUnavailable('HtdigestChecker is closed')
    const realms = this.#file.value
    if (isDigest(credentials)) {
      const ha1 = realms.get(credentials.realm)?.get(credentials.username)
      const matched = credentials.checkHash(ha1 ?? this.#decoyHa1)
      if (ha1 !== undefined && matched) return credentials.username
    } else {
      const realm = this.#basicRealm ?? ''
      const ha1 = realms.get(realm)?.get(credentials.username)
      const password = typeof credentials.password === 'string' ? credentials.password : ''
      const matched = constantTimeEqualStrings(digestHa1('MD5', credentials.username, realm, password), ha1 ?? this.#decoyHa1)
      if (ha1 !== undefined && matched) return credentials.username
    }
    throw new UnauthorizedLogin('Invalid user name or password')
  }
}

function isDigest (credentials: Credentials): credentials is IUsernameDigestHash {
  return credentials.provides.some((provided) => isOrExtends(provided, IUsernameDigestHash))
}
