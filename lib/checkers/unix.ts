import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { basename } from 'node:path'
import { IUsernamePassword, InvalidOption, MissingPeerDependency, StoreUnavailable, UnauthorizedLogin } from '../cred/index.js'
import type { CredentialsChecker, Interface } from '../cred/index.js'
import { loadDriver } from '../drivers/index.js'

/** Options of `UnixChecker`: the PAM service, and which accounts may log in. */
export interface UnixCheckerOptions {
  /**
   * The PAM service (a file in `/etc/pam.d`). Default `'login'`, as the binding's, which exists on every Linux.
   * For a network service, create `/etc/pam.d/<name>` with `@include common-auth` and `@include common-account`
   * (Debian) and give `<name>` here: a service without a file gets `/etc/pam.d/other`.
   */
  service?: string
  /**
   * PAM calls run at once, at most. Each call holds a libuv threadpool thread (4 by default, shared with `fs`,
   * `crypto` and DNS) for as long as PAM takes, which after a wrong password is the 2-3 s of `pam_faildelay`:
   * keeping this below the pool size keeps file and crypto work going while wrong passwords are being delayed.
   * Default 2.
   */
  maxConcurrent?: number
  /** Logins waiting for a PAM slot, at most; past that a login is `StoreUnavailable` (503). Default 64. */
  maxQueued?: number
  /**
   * Let in accounts whose login shell is `nologin` or `false` (system and service accounts, which are not meant to
   * log in). Default `false`: such an account is refused even with the right password.
   */
  allowNoLoginShell?: boolean
  /** Let in `root` (any account with uid 0). Default `false`. */
  allowRoot?: boolean
}

/** What the account database says of a user (`getent passwd`). */
export interface UnixAccount {
  readonly name: string
  readonly uid: number
  readonly shell: string
}

/** The part of node-linux-pam used here. */
type PamAuthenticate = (
  options: { username: string, password: string, serviceName?: string },
  callback: (err: Error | null, code: number) => void
) => void

/**
 * PAM return codes (`security/_pam_types.h`) that mean the password database could not be consulted, not that the
 * credentials are bad: these fail closed as `StoreUnavailable`. Every other failure is a refusal.
 */
const UNAVAILABLE_CODES = new Map([
  [1, 'PAM_OPEN_ERR'],
  [2, 'PAM_SYMBOL_ERR'],
  [3, 'PAM_SERVICE_ERR'],
  [4, 'PAM_SYSTEM_ERR'],
  [5, 'PAM_BUF_ERR'],
  [9, 'PAM_AUTHINFO_UNAVAIL'],
  [19, 'PAM_CONV_ERR'],
  [24, 'PAM_TRY_AGAIN'],
  [26, 'PAM_ABORT'],
  [28, 'PAM_MODULE_UNKNOWN']
])

/**
 * Refusals that only `pam_acct_mgmt` gives (the password was right): PAM_PERM_DENIED, PAM_NEW_AUTHTOK_REQD,
 * PAM_ACCT_EXPIRED, PAM_AUTHTOK_EXPIRED. PAM waits its failure delay only after a failed `pam_authenticate`, so these
 * would answer in milliseconds where a wrong password takes seconds: the checker adds the delay itself. (Debian's
 * `common-account` turns an expired account into PAM_AUTH_ERR through `pam_deny`, the code of a wrong password:
 * such a refusal is recognised by its missing delay instead, see `#failDelay`.)
 */
const ACCOUNT_REFUSALS = new Set([6, 12, 13, 27])
/** Login shells that say "this account does not log in". */
const NO_LOGIN_SHELLS = new Set(['nologin', 'false'])

const REFUSED = 'Invalid user name or password'
/** PAM_MAX_RESP_SIZE: pam_unix refuses longer passwords anyway. */
const MAX_PASSWORD_BYTES = 512
const MAX_USERNAME_BYTES = 256

/**
 * Checks passwords against the machine's own users (`/etc/passwd` and `/etc/shadow`, or whatever PAM is set up to
 * ask: NIS, SSSD, LDAP through `pam_sss`), as Twisted's UNIX checker does. Through PAM, because Debian and Ubuntu
 * hash new passwords with yescrypt (`$y$`), which no npm package verifies, and because PAM also applies the account
 * rules (expired or locked accounts, `pam_nologin`, `pam_faildelay`) that reading `/etc/shadow` would skip.
 *
 * Needs the optional peer dependency `node-linux-pam` (`npm install node-linux-pam`; built from source, which
 * needs a C++ compiler and `libpam0g-dev` on Debian, `pam-devel` on Fedora). Its PAM calls run on the libuv
 * threadpool, never on the event loop. It calls both `pam_authenticate` and `pam_acct_mgmt`.
 *
 * The process must be allowed to read the password hashes: run as root, or (Debian) in the `shadow` group. Otherwise
 * pam_unix can only check the password of the user the process runs as.
 *
 * Refused without asking PAM: an empty password (`nullok` would accept it for an account without one), a NUL in the
 * name or password (the binding passes C strings: `pw\0anything` would log in as `pw`), names over 256 and passwords
 * over 512 bytes. An unknown user and a wrong password go through the same PAM call and the same failure delay.
 *
 * @example
 * ```ts
 * import { UnixChecker } from 'fastify-cred/checkers'
 * // /etc/pam.d/my-app:  @include common-auth
 * //                     @include common-account
 * const checker = new UnixChecker({ service: 'my-app' })
 * await app.register(cred, { realm, checkers: [checker], interfaces: [IUser] })
 * ```
 */
export class UnixChecker implements CredentialsChecker<IUsernamePassword> {
  static readonly credentialInterfaces: readonly Interface<IUsernamePassword>[] = Object.freeze([IUsernamePassword])
  readonly credentialInterfaces: readonly Interface<IUsernamePassword>[] = UnixChecker.credentialInterfaces

  readonly #service: string
  readonly #maxConcurrent: number
  readonly #maxQueued: number
  readonly #allowNoLoginShell: boolean
  readonly #allowRoot: boolean
  readonly #lookupAccount: (username: string) => Promise<UnixAccount | undefined>
  readonly #now: () => number
  /** The shortest failure delay seen on this service (a failing call of a name that does not exist), in ms. */
  #failDelay: number | undefined
  readonly #queue: Array<() => void> = []
  #running = 0
  #binding: Promise<PamAuthenticate> | undefined
  #closed = false

  /** @throws {InvalidOption} for a bad service name or limits. */
  constructor (options: UnixCheckerOptions = {}) {
    this.#service = options.service ?? 'login'
    // A service name is a file name in /etc/pam.d.
    if (typeof this.#service !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(this.#service)) {
      throw new InvalidOption(`UnixChecker: service is the name of a file in /etc/pam.d, not ${JSON.stringify(this.#service)}`)
    }
    this.#maxConcurrent = options.maxConcurrent ?? 2
    this.#maxQueued = options.maxQueued ?? 64
    if (!Number.isInteger(this.#maxConcurrent) || this.#maxConcurrent < 1) throw new InvalidOption('UnixChecker: maxConcurrent is a positive integer')
    if (!Number.isInteger(this.#maxQueued) || this.#maxQueued < 0) throw new InvalidOption('UnixChecker: maxQueued is a whole number')
    this.#allowNoLoginShell = options.allowNoLoginShell === true
    this.#allowRoot = options.allowRoot === true
    this.#lookupAccount = system.lookupAccount
    this.#now = system.now
  }

  /**
   * Asks PAM; answers the user name (as the account database spells it). Every refusal takes PAM's failure delay:
   * after a refusal that PAM answers without it (an expired account, a password that must be changed, a `nologin`
   * shell or `root` refused here, all with the right password), one more `pam_authenticate` of a name that does not
   * exist, with a random password, waits the service's own delay, so the answer's timing does not tell that the
   * password was right.
   *
   * @throws {UnauthorizedLogin} wrong password, unknown user, expired or locked account, `nologin`/`false` shell,
   * `root` (one message for all).
   * @throws {StoreUnavailable} PAM cannot consult its database, too many logins are waiting for PAM, or the checker
   * is closed.
   * @throws {MissingPeerDependency} `node-linux-pam` is not installed.
   */
  async requestAvatarId (credentials: IUsernamePassword): Promise<string> {
    if (this.#closed) throw new StoreUnavailable('UnixChecker is closed')
    const { username, password } = credentials
    if (typeof username !== 'string' || typeof password !== 'string' || username === '' || password === '' ||
        username.includes('\0') || password.includes('\0') ||
        Buffer.byteLength(username) > MAX_USERNAME_BYTES || Buffer.byteLength(password) > MAX_PASSWORD_BYTES) {
      throw new UnauthorizedLogin(REFUSED)
    }
    const authenticate = await this.#load()
    await this.#slot()
    try {
      const started = this.#now()
      const code = await this.#pam(authenticate, username, password)
      const took = this.#now() - started
      if (code === 0) {
        const account = await this.#permitted(username)
        if (account !== undefined) return account
      } else {
        const unavailable = UNAVAILABLE_CODES.get(code)
        if (unavailable !== undefined) throw new StoreUnavailable(`UnixChecker: PAM service ${this.#service} answered ${unavailable}`)
        // A failed pam_authenticate was delayed by PAM (at least 3/4 of its delay: PAM varies it by ±25 %); a refusal
        // that came back in less than half the delay was account management's, after a right password.
        if (!ACCOUNT_REFUSALS.has(code) && this.#failDelay !== undefined && took >= this.#failDelay / 2) throw new UnauthorizedLogin(REFUSED)
      }
      // Wait PAM's failure delay as a wrong password does, by failing once more: a name that cannot exist (so no
      // lock-out counter of a real account moves) with a random password, on the same service. It also measures it.
      const delayStarted = this.#now()
      await this.#pam(authenticate, `fastify-cred-no-such-user-${randomBytes(8).toString('hex')}`, randomBytes(18).toString('base64'))
      const delay = this.#now() - delayStarted
      this.#failDelay = Math.min(this.#failDelay ?? delay, delay)
      throw new UnauthorizedLogin(REFUSED)
    } finally {
      this.#release()
    }
  }

  /**
   * Loads the PAM binding (`node-linux-pam`), so that a server without it does not start.
   *
   * @throws MissingPeerDependency when it is not installed; StoreUnavailable once closed.
   */
  async prepare (): Promise<void> {
    if (this.#closed) throw new StoreUnavailable('UnixChecker is closed')
    await this.#load()
  }

  /**
   * Refuses every later login with `StoreUnavailable` (PAM holds nothing between calls; logins already running
   * finish). Idempotent.
   */
  async close (): Promise<void> {
    this.#closed = true
  }

  async #pam (authenticate: PamAuthenticate, username: string, password: string): Promise<number> {
    return await new Promise<number>((resolve) => {
      authenticate({ username, password, serviceName: this.#service }, (err, code) => {
        resolve(err === null ? 0 : (Number.isInteger(code) && code !== 0 ? code : -1))
      })
    })
  }

  /** The account's name when it may log in; undefined for a `nologin`/`false` shell or uid 0 (unless allowed). */
  async #permitted (username: string): Promise<string | undefined> {
    if (this.#allowNoLoginShell && this.#allowRoot) return username
    let account: UnixAccount | undefined
    try {
      account = await this.#lookupAccount(username)
    } catch (err) {
      throw StoreUnavailable.from(err, 'UnixChecker: the account database (getent passwd) did not answer')
    }
    if (account === undefined) return undefined
    if (!this.#allowRoot && account.uid === 0) return undefined
    if (!this.#allowNoLoginShell && NO_LOGIN_SHELLS.has(basename(account.shell))) return undefined
    return account.name === '' ? username : account.name
  }

  async #load (): Promise<PamAuthenticate> {
    this.#binding ??= loadDriver('node-linux-pam', 'UnixChecker').then((mod) => {
      const m = mod as { pamAuthenticate?: unknown, default?: { pamAuthenticate?: unknown } }
      const authenticate = m.pamAuthenticate ?? m.default?.pamAuthenticate
      if (typeof authenticate !== 'function') throw new MissingPeerDependency('UnixChecker: the node-linux-pam module has no pamAuthenticate; install node-linux-pam 0.2 (npm install node-linux-pam)')
      return authenticate as PamAuthenticate
    })
    try {
      return await this.#binding
    } catch (err) {
      this.#binding = undefined // the application may install it and retry
      throw err
    }
  }

  async #slot (): Promise<void> {
    if (this.#running < this.#maxConcurrent) {
      this.#running++
      return
    }
    if (this.#queue.length >= this.#maxQueued) throw new StoreUnavailable('UnixChecker: too many logins waiting for PAM')
    // The slot is handed over directly by #release, so #running stays counted.
    await new Promise<void>((resolve) => { this.#queue.push(resolve) })
  }

  #release (): void {
    const next = this.#queue.shift()
    if (next !== undefined) next()
    else this.#running--
  }
}

/**
 * The account through NSS (`getent passwd`, so SSSD, LDAP and NIS accounts are found as PAM finds them), in a child
 * process: libc's getpwnam would block the event loop. Undefined when there is no such account.
 */
/** What `UnixChecker` asks of the system besides PAM: the account database and the monotonic clock (ms). */
interface UnixSystem {
  readonly lookupAccount: (username: string) => Promise<UnixAccount | undefined>
  readonly now: () => number
}

let system: UnixSystem = { lookupAccount: getentPasswd, now: () => performance.now() }

/**
 * Internal, for fault injection in tests (no entry point exports it, as `overrideDriver` for PAM itself): the
 * `UnixChecker`s constructed until `restore()` is called ask `replacement` instead of `getent passwd` / the clock.
 *
 * @returns `restore`, putting back what was there before.
 */
export function overrideUnixSystem (replacement: Partial<UnixSystem>): () => void {
  const previous = system
  system = { ...previous, ...replacement }
  return () => { system = previous }
}

async function getentPasswd (username: string): Promise<UnixAccount | undefined> {
  return await new Promise((resolve, reject) => {
    execFile('getent', ['passwd', '--', username], { timeout: 5000, encoding: 'utf8' }, (err, stdout) => {
      if (err !== null) {
        if ((err as { code?: unknown }).code === 2) resolve(undefined) // getent: no such key
        else reject(err)
        return
      }
      const fields = stdout.split('\n')[0]?.split(':') ?? []
      if (fields.length < 7) { resolve(undefined); return }
      resolve({ name: fields[0] as string, uid: Number(fields[2]), shell: fields[6] as string })
    })
  })
}
