import { randomBytes } from 'node:crypto'
import { Socket } from 'node:net'
import type { ConnectionOptions as TlsConnectionOptions } from 'node:tls'
import {
  IUsernamePassword, InvalidOption, MissingPeerDependency, StoreUnavailable, UnauthorizedLogin, withinDeadline
} from '../cred/index.js'
import type { CredentialsChecker, Interface } from '../cred/index.js'
import { loadDriver } from '../drivers/index.js'
import { ldapNameKey } from './name-keys.js'

/**
 * Escapes a value for an LDAP search filter, per RFC 4515 section 3: in an `assertionvalue` the octets of
 * `*` (0x2a), `(` (0x28), `)` (0x29), `\` (0x5c) and NUL (0x00) MUST be written as a backslash and two hex digits.
 * Nothing else needs escaping: other characters, UTF-8 included, stand for themselves. (Non-ASCII is deliberately
 * left as is: escaping UTF-8 octets one by one would be valid RFC 4515, but ldapts decodes each `\XX` into one
 * UTF-16 unit and would then double-encode them.)
 *
 * @example
 * escapeFilterValue('alice)(uid=*') // 'alice\\29\\28uid=\\2a'
 * `(uid=${escapeFilterValue(name)})`
 */
export function escapeFilterValue (value: string): string {
  return value.replace(/[*()\\\0]/g, (c) => `\\${c.charCodeAt(0).toString(16).padStart(2, '0')}`)
}

/**
 * Escapes a value for an attribute value of a distinguished name, per RFC 4514 section 2.4:
 * - `"`, `+`, `,`, `;`, `<`, `>` and `\` anywhere are prefixed with a backslash;
 * - a space or `#` at the start and a space at the end are prefixed with a backslash;
 * - NUL is written `\00`.
 * "Other characters may be escaped" (2.4): we also escape `=` (`\=`, a `special` in the section 3 grammar) and the
 * other ASCII control characters as `\XX` hex pairs, so that no value can look like the start of another
 * attribute or hide in a log. UTF-8 stands for itself (2.4 allows it unescaped).
 *
 * @example
 * escapeDnValue('Smith, James') // 'Smith\\, James'
 * `uid=${escapeDnValue(name)},ou=people,dc=example,dc=org`
 */
export function escapeDnValue (value: string): string {
  let escaped = ''
  for (let i = 0; i < value.length; i++) {
    const c = value[i] as string
    const code = c.charCodeAt(0)
    if (code < 0x20 || code === 0x7f) escaped += `\\${code.toString(16).padStart(2, '0')}`
    else if ('"+,;<>=\\'.includes(c)) escaped += `\\${c}`
    else if (i === 0 && (c === ' ' || c === '#')) escaped += `\\${c}`
    else if (i === value.length - 1 && c === ' ') escaped += '\\ '
    else escaped += c
  }
  return escaped
}

/** An entry read for a login: its DN and the attributes asked for (`attributes`), each as a list of strings. */
export interface LdapEntry {
  readonly dn: string
  /** Keyed by the names given in `attributes` (matched ignoring case); an attribute the entry lacks is `[]`. */
  readonly attributes: Readonly<Record<string, readonly string[]>>
}

/** Search-then-bind: a service account finds the user's entry, then the user's password is bound to it. */
export interface LdapSearchOptions {
  /** Where to search, e.g. `'ou=people,dc=example,dc=org'`. */
  base: string
  /**
   * The filter; every `{username}` is replaced by the user name escaped per RFC 4515, e.g.
   * `'(&(objectClass=inetOrgPerson)(uid={username}))'`, or for Active Directory
   * `'(&(objectCategory=person)(objectClass=user)(sAMAccountName={username}))'`.
   */
  filter: string
  /** Default `'sub'` (the whole subtree). */
  scope?: 'base' | 'one' | 'sub'
  /** The service account's DN. Omit it (with `bindPassword`) to search anonymously. */
  bindDn?: string
  bindPassword?: string
}

/** Options of `LdapChecker`: the directory, how a user is found (search or a DN template), TLS and timeouts. */
export interface LdapCheckerOptions {
  /** `ldap://host:389` (add `startTLS: true`) or `ldaps://host:636`. */
  url: string
  /** Upgrade an `ldap://` connection with StartTLS (RFC 4511 section 4.14) before anything is sent. */
  startTLS?: boolean
  /**
   * TLS options for `ldaps://` and StartTLS, e.g. `{ ca: readFileSync('ca.pem') }`. The server's name is checked
   * against the host of `url` (an IP address against the certificate's IP SANs).
   */
  tls?: TlsConnectionOptions
  /**
   * Direct bind: the DN to bind as, `{username}` replaced by the user name escaped per RFC 4514, e.g.
   * `'uid={username},ou=people,dc=example,dc=org'`. Active Directory also binds with
   * `'{username}@corp.example.com'` (userPrincipalName) or `'CORP\\{username}'` (down-level logon name).
   * Give this or `search`, not both.
   */
  userDn?: string
  /** Search-then-bind. Give this or `userDn`, not both. */
  search?: LdapSearchOptions
  /** Attributes read from the entry for the realm (`entryFor(avatarId)`), e.g. `['cn', 'mail', 'memberOf']`. */
  attributes?: readonly string[]
  /**
   * The attribute whose (first) value becomes the avatar id, e.g. `'uid'` or `'sAMAccountName'`: the directory's
   * spelling instead of what the user typed (directories match names ignoring case and extra spaces). Default: the
   * attribute the name is matched against, `uid` in `(uid={username})` or `uid={username},ou=…` (read from the
   * entry); for other templates (`{username}@corp.example.com`), the name as `throttleKey` folds it.
   */
  avatarIdAttribute?: string
  /**
   * How the directory compares names, for the throttle (see `CredentialsChecker.throttleKey`). Default: LDAP's
   * `caseIgnoreMatch` (case folded, leading, trailing and repeated spaces ignored), as for `uid` and AD's names.
   */
  throttleKey?: (username: string) => string
  /** Milliseconds for connecting and for each operation; past it the login is `StoreUnavailable`. Default 5000. */
  timeout?: number
  /** Connections kept for users' binds (a bind needs a connection to itself). Default 4. */
  poolSize?: number
  /** How long `entryFor` keeps an entry after its login, in ms. Default 60000. */
  entryTtl?: number
}

type SearchSettings = Required<Pick<LdapSearchOptions, 'base' | 'filter' | 'scope'>> & Pick<LdapSearchOptions, 'bindDn' | 'bindPassword'>

// The parts of ldapts used here, typed locally so that the public API does not depend on ldapts being installed.
interface LdapClient {
  readonly isConnected: boolean
  startTLS (options?: TlsConnectionOptions): Promise<void>
  bind (dn: string, password?: string): Promise<void>
  search (base: string, options: { scope?: string, filter?: string, attributes?: string[], sizeLimit?: number }): Promise<{ searchEntries: Array<Record<string, unknown> & { dn: string }> }>
  unbind (): Promise<void>
}
interface LdapClientOptions {
  url: string
  timeout: number
  connectTimeout: number
  tlsOptions?: TlsConnectionOptions
  createConnection?: (...args: unknown[]) => Socket
  createSecureConnection?: (...args: unknown[]) => Socket
}
interface Ldapts {
  Client: new (options: LdapClientOptions) => LdapClient
  ResultCodeError: abstract new (...args: never[]) => Error & { code: number }
  FilterParser: { parseString (filter: string): unknown }
}

/** LDAP result codes (RFC 4511 appendix A) that mean the server, not the user, is the problem. */
const SERVER_SIDE_CODES = new Set([
  1, // operationsError
  2, // protocolError
  3, // timeLimitExceeded
  11, // adminLimitExceeded
  13, // confidentialityRequired: the server wants TLS (set `startTLS` or use ldaps://)
  51, // busy
  52, // unavailable
  80 // other
])
const INVALID_CREDENTIALS = 49

const closed = (): StoreUnavailable => new StoreUnavailable('LdapChecker is closed')

const PLACEHOLDER = '{username}'
const REFUSED = 'Invalid user name or password'
const MAX_USERNAME_LENGTH = 256

/** One LDAP connection, never silently reopened: once its socket is gone it is thrown away. */
class Connection {
  readonly client: LdapClient
  constructor (client: LdapClient) { this.client = client }
  get alive (): boolean { return this.client.isConnected }
  close (): void { this.client.unbind().catch(() => {}) }
}

/**
 * Connections for users' binds. A bind must have its connection to itself (RFC 4511 section 4.2.1: no other
 * request until the BindResponse), so each login borrows one, up to `size`, and gives it back for the next login.
 */
class Pool {
  readonly #open: () => Promise<Connection>
  readonly #size: number
  readonly #idle: Connection[] = []
  readonly #waiting: Array<(connection: Connection | undefined) => void> = []
  #count = 0
  #closed = false

  constructor (open: () => Promise<Connection>, size: number) {
    this.#open = open
    this.#size = size
  }

  /** A connection, opened when none is idle and the pool is not full; else the first to be given back. */
  async acquire (): Promise<Connection> {
    while (true) {
      if (this.#closed) throw closed()
      const idle = this.#idle.pop()
      if (idle !== undefined) {
        if (idle.alive) return idle
        this.#discard(idle)
        continue
      }
      if (this.#count < this.#size) {
        this.#count++
        try {
          return await this.#open()
        } catch (err) {
          this.#count--
          this.#wakeOne(undefined)
          throw err
        }
      }
      const handed = await new Promise<Connection | undefined>((resolve) => { this.#waiting.push(resolve) })
      if (handed !== undefined) return handed
    }
  }

  /** Gives a connection back; a broken one (`healthy` false, or its socket gone) is closed and its slot freed. */
  release (connection: Connection, healthy: boolean): void {
    if (!healthy || !connection.alive || this.#closed) {
      this.#discard(connection)
      return
    }
    const waiter = this.#waiting.shift()
    if (waiter !== undefined) waiter(connection)
    else this.#idle.push(connection)
  }

  close (): void {
    this.#closed = true
    for (const connection of this.#idle.splice(0)) this.#discard(connection)
    for (const waiter of this.#waiting.splice(0)) waiter(undefined)
  }

  #discard (connection: Connection): void {
    this.#count--
    connection.close()
    this.#wakeOne(undefined)
  }

  /** A waiter retries `acquire` (a slot is free) when handed nothing. */
  #wakeOne (connection: Connection | undefined): void {
    const waiter = this.#waiting.shift()
    if (waiter !== undefined) waiter(connection)
  }
}

/**
 * Checks passwords against an LDAP directory (OpenLDAP, Active Directory, 389-ds, …) by binding as the user, as
 * Twisted's LDAP-backed checkers do: the directory, not this process, verifies the password. Needs the optional
 * peer dependency `ldapts` (`npm install ldapts@8`), loaded on first use.
 *
 * Two ways to find the user's DN:
 * - **direct bind** (`userDn`): the DN is a template, `uid={username},ou=people,dc=example,dc=org`;
 * - **search-then-bind** (`search`): a service account (or an anonymous connection) searches with a filter template,
 *   then the single entry found is bound with the user's password. An unknown (or ambiguous) name then binds a DN
 *   that does not exist, with a random password, so it makes the same requests as a wrong password.
 *
 * User names are escaped per RFC 4515 into filters and per RFC 4514 into DNs, so `*`, `)(uid=*` or `,` in a name
 * are only characters. An empty password is refused before any request: LDAP would take it for an
 * unauthenticated bind and answer success (RFC 4513 section 5.1.2).
 *
 * Connections are kept and reused (one for the service account, up to `poolSize` for users' binds), and reopened
 * after the server went away. An unreachable, stopped or hanging server is `StoreUnavailable` (HTTP 503); invalid
 * credentials (result code 49) are `UnauthorizedLogin`.
 *
 * @example
 * import { readFileSync } from 'node:fs'
 * import { LdapChecker } from 'fastify-cred/checkers'
 * const checker = new LdapChecker({
 *   url: 'ldap://ldap.example.org', startTLS: true, tls: { ca: readFileSync('/etc/ssl/ldap-ca.pem') },
 *   search: {
 *     base: 'ou=people,dc=example,dc=org', filter: '(&(objectClass=inetOrgPerson)(uid={username}))',
 *     bindDn: 'cn=reader,dc=example,dc=org', bindPassword: process.env.LDAP_READER_PASSWORD
 *   },
 *   attributes: ['cn', 'mail', 'memberOf'], avatarIdAttribute: 'uid'
 * })
 * // realm: (avatarId) => ({ name: checker.entryFor(avatarId)?.attributes.cn?.[0] })
 */
export class LdapChecker implements CredentialsChecker<IUsernamePassword> {
  static readonly credentialInterfaces: readonly Interface<IUsernamePassword>[] = Object.freeze([IUsernamePassword])
  readonly credentialInterfaces: readonly Interface<IUsernamePassword>[] = LdapChecker.credentialInterfaces

  readonly #url: string
  readonly #host: string
  readonly #secure: boolean
  readonly #startTLS: boolean
  readonly #tls: TlsConnectionOptions | undefined
  readonly #userDn: string | undefined
  readonly #search: SearchSettings | undefined
  readonly #attributes: readonly string[]
  readonly #avatarIdAttribute: string | undefined
  /** The attribute the template matches the name against, when `avatarIdAttribute` is not given. */
  readonly #matchedAttribute: string | undefined
  readonly #throttleKey: (username: string) => string
  readonly #timeout: number
  readonly #entryTtl: number
  readonly #pool: Pool
  readonly #entries = new Map<string, { entry: LdapEntry, expires: number }>()
  #driver: Promise<Ldapts> | undefined
  #service: Promise<Connection> | undefined
  #closed = false

  /**
   * @param options See `LdapCheckerOptions`: `url`, then `userDn` or `search`.
   * @throws {InvalidOption} for a bad URL, both or neither of `userDn` / `search`, a template without `{username}`.
   */
  constructor (options: LdapCheckerOptions) {
    if (typeof options !== 'object' || options === null) throw new InvalidOption('LdapChecker(options) takes an object with url and userDn or search')
    let parsed: URL
    try { parsed = new URL(options.url) } catch { throw new InvalidOption(`LdapChecker: url must be ldap://host[:port] or ldaps://host[:port], not ${JSON.stringify(options.url)}`) }
    if (parsed.protocol !== 'ldap:' && parsed.protocol !== 'ldaps:') throw new InvalidOption(`LdapChecker: url must start with ldap:// or ldaps://, not ${JSON.stringify(options.url)}`)
    if (parsed.username !== '' || parsed.password !== '') throw new InvalidOption('LdapChecker: put the service account in search.bindDn / search.bindPassword, not in the url')
    this.#url = `${parsed.protocol}//${parsed.host}`
    this.#host = parsed.hostname.replace(/^\[(.*)\]$/, '$1')
    this.#secure = parsed.protocol === 'ldaps:'
    this.#startTLS = options.startTLS === true
    if (this.#startTLS && this.#secure) throw new InvalidOption('LdapChecker: startTLS upgrades ldap:// connections; an ldaps:// url is already TLS')
    this.#tls = options.tls
    if ((options.userDn === undefined) === (options.search === undefined)) {
      throw new InvalidOption('LdapChecker: give userDn (direct bind) or search (search-then-bind), exactly one of them')
    }
    if (options.userDn !== undefined) {
      if (typeof options.userDn !== 'string' || !options.userDn.includes(PLACEHOLDER)) throw new InvalidOption(`LdapChecker: userDn must contain ${PLACEHOLDER}, e.g. 'uid=${PLACEHOLDER},ou=people,dc=example,dc=org'`)
      this.#userDn = options.userDn
    }
    if (options.search !== undefined) {
      const { base, filter, scope = 'sub', bindDn, bindPassword } = options.search
      if (typeof base !== 'string') throw new InvalidOption('LdapChecker: search.base must be a DN string')
      if (typeof filter !== 'string' || !filter.includes(PLACEHOLDER) || !balancedFilter(filter)) {
        throw new InvalidOption(`LdapChecker: search.filter must be a parenthesised filter containing ${PLACEHOLDER}, e.g. '(uid=${PLACEHOLDER})'`)
      }
      if (!['base', 'one', 'sub'].includes(scope)) throw new InvalidOption("LdapChecker: search.scope is 'base', 'one' or 'sub'")
      if ((bindDn === undefined) !== (bindPassword === undefined)) throw new InvalidOption('LdapChecker: give search.bindDn and search.bindPassword together (or neither, to search anonymously)')
      if (bindPassword === '') throw new InvalidOption('LdapChecker: search.bindPassword is empty; LDAP would bind anonymously')
      this.#search = { base, filter, scope, bindDn, bindPassword }
    }
    this.#attributes = [...(options.attributes ?? [])]
    if (!this.#attributes.every(isAttributeName)) throw new InvalidOption('LdapChecker: attributes are attribute names such as cn, mail, memberOf')
    if (options.avatarIdAttribute !== undefined && !isAttributeName(options.avatarIdAttribute)) {
      throw new InvalidOption('LdapChecker: avatarIdAttribute is an attribute name such as uid or sAMAccountName')
    }
    this.#avatarIdAttribute = options.avatarIdAttribute
    this.#matchedAttribute = options.avatarIdAttribute !== undefined
      ? undefined
      : options.search !== undefined ? matchedInFilter(options.search.filter) : matchedInDn(options.userDn as string)
    if (options.throttleKey !== undefined && typeof options.throttleKey !== 'function') throw new InvalidOption('LdapChecker: throttleKey is a function from a user name to its key')
    this.#throttleKey = options.throttleKey ?? ldapNameKey
    this.#timeout = options.timeout ?? 5000
    if (!Number.isInteger(this.#timeout) || this.#timeout <= 0) throw new InvalidOption('LdapChecker: timeout is a positive number of milliseconds')
    const poolSize = options.poolSize ?? 4
    if (!Number.isInteger(poolSize) || poolSize < 1) throw new InvalidOption('LdapChecker: poolSize is a positive integer')
    this.#entryTtl = options.entryTtl ?? 60_000
    if (!Number.isFinite(this.#entryTtl) || this.#entryTtl < 0) throw new InvalidOption('LdapChecker: entryTtl is a number of milliseconds')
    this.#pool = new Pool(async () => await this.#connect(), poolSize)
  }

  /**
   * The key the directory knows `username` by (default: `caseIgnoreMatch`'s folding), so that `" alice"`, `"alice "`
   * and `"ALICE"` are counted as one user by the throttle, as the directory binds them as one.
   *
   * @example
   * checker.throttleKey('  Alice ') // 'alice'
   */
  throttleKey (username: string): string {
    return this.#throttleKey(username)
  }

  /**
   * Binds as the user; answers the avatar id: the entry's own spelling of the name (`avatarIdAttribute`, or the
   * attribute the name was matched against), never the name as typed, so one user is one avatar however the name
   * was spelled.
   *
   * @throws {UnauthorizedLogin} wrong password, unknown or ambiguous user, empty password (one message for all).
   * @throws {StoreUnavailable} the directory cannot be reached, times out, or refuses the service account.
   * @throws {MissingPeerDependency} `ldapts` is not installed.
   */
  async requestAvatarId (credentials: IUsernamePassword): Promise<string> {
    if (this.#closed) throw closed()
    const { username, password } = credentials
    // Refused for every user alike, so no request is needed to keep this from telling anything.
    if (typeof password !== 'string' || password === '' || typeof username !== 'string' || username === '' ||
        username.length > MAX_USERNAME_LENGTH) {
      throw new UnauthorizedLogin(REFUSED)
    }
    const driver = await this.#driverLoaded()
    let dn: string
    let found: Record<string, unknown> | undefined
    if (this.#search !== undefined) {
      found = await this.#find(driver, username)
      // Unknown or ambiguous: bind a DN that cannot exist, so the directory sees the same two requests.
      dn = found?.dn as string | undefined ?? `cn=fastify-cred-decoy-${randomBytes(12).toString('hex')},${this.#search.base}`
      const bound = await this.#bindUser(driver, dn, found === undefined ? randomBytes(24).toString('base64') : password)
      if (found === undefined || bound === undefined) throw new UnauthorizedLogin(REFUSED)
    } else {
      dn = (this.#userDn as string).replaceAll(PLACEHOLDER, escapeDnValue(username))
      // Only the attribute the DN template names is wanted: an entry the user may not read falls back to the key.
      const read = this.#attributes.length > 0 || this.#avatarIdAttribute !== undefined ? 'required' : this.#matchedAttribute !== undefined ? 'optional' : 'no'
      const bound = await this.#bindUser(driver, dn, password, read)
      if (bound === undefined) throw new UnauthorizedLogin(REFUSED)
      found = bound.entry
    }
    const entry = found === undefined ? undefined : this.#entryOf(found)
    let avatarId: string
    if (this.#avatarIdAttribute !== undefined) {
      const value = valuesOf(found, this.#avatarIdAttribute)[0]
      if (value === undefined) throw new StoreUnavailable(`LdapChecker: the entry has no ${this.#avatarIdAttribute} attribute for the avatar id`)
      avatarId = value
    } else {
      // The stored spelling of the matched attribute; else the name as the directory folds it, never as typed.
      avatarId = (this.#matchedAttribute === undefined ? undefined : valuesOf(found, this.#matchedAttribute)[0]) ?? this.#throttleKey(username)
      if (avatarId === '') avatarId = username
    }
    if (entry !== undefined) this.#remember(avatarId, entry)
    return avatarId
  }

  /**
   * The entry read when `avatarId` last logged in (within `entryTtl`), with the `attributes` asked for: what a
   * realm builds its avatar from. `undefined` when no attributes were asked for or the login is too old.
   *
   * @example
   * const realm = new SimpleRealm().serve(IUser, (id) => {
   *   const entry = checker.entryFor(String(id))
   *   return { name: String(id), mail: entry?.attributes.mail?.[0], groups: entry?.attributes.memberOf ?? [] }
   * })
   */
  entryFor (avatarId: string): LdapEntry | undefined {
    const kept = this.#entries.get(avatarId)
    if (kept === undefined) return undefined
    if (kept.expires < Date.now()) {
      this.#entries.delete(avatarId)
      return undefined
    }
    return kept.entry
  }

  /**
   * Loads `ldapts` and checks the search filter with its parser, without connecting: a directory that is down now is
   * a login's `StoreUnavailable`, not a set-up error.
   *
   * @throws MissingPeerDependency when ldapts is not installed; InvalidOption for a filter ldapts cannot parse;
   * StoreUnavailable once closed.
   */
  async prepare (): Promise<void> {
    await this.#driverLoaded()
  }

  /** Closes every connection. Idempotent and final: logins after this reject with `StoreUnavailable`. */
  async close (): Promise<void> {
    this.#closed = true
    this.#pool.close()
    const service = this.#service
    this.#service = undefined
    if (service !== undefined) (await service.catch(() => undefined))?.close()
  }

  #requestedAttributes (): string[] {
    const wanted = [...this.#attributes]
    const avatar = this.#avatarIdAttribute ?? this.#matchedAttribute
    if (avatar !== undefined && !wanted.some((a) => a.toLowerCase() === avatar.toLowerCase())) wanted.push(avatar)
    // "1.1": no attributes at all (RFC 4511 section 4.5.1.8), when only the DN is needed.
    return wanted.length === 0 ? ['1.1'] : wanted
  }

  #entryOf (raw: Record<string, unknown>): LdapEntry | undefined {
    if (this.#attributes.length === 0) return undefined
    const attributes: Record<string, readonly string[]> = {}
    for (const name of this.#attributes) attributes[name] = valuesOf(raw, name)
    return Object.freeze({ dn: String(raw.dn), attributes: Object.freeze(attributes) })
  }

  #remember (avatarId: string, entry: LdapEntry): void {
    this.#entries.delete(avatarId)
    this.#entries.set(avatarId, { entry, expires: Date.now() + this.#entryTtl })
    // Bounded: the oldest logins go first.
    while (this.#entries.size > 10_000) {
      const oldest = this.#entries.keys().next().value
      if (oldest === undefined) break
      this.#entries.delete(oldest)
    }
  }

  async #driverLoaded (): Promise<Ldapts> {
    if (this.#closed) throw closed()
    this.#driver ??= loadDriver('ldapts', 'LdapChecker').then((mod) => {
      const m = mod as Partial<Ldapts> & { default?: Partial<Ldapts> }
      const driver = typeof m.Client === 'function' ? m : m.default
      if (typeof driver?.Client !== 'function' || typeof driver.ResultCodeError !== 'function' || driver.FilterParser === undefined) {
        throw new MissingPeerDependency('LdapChecker: the ldapts module has no Client; install ldapts 8 (npm install ldapts@8)')
      }
      if (this.#search !== undefined) {
        try {
          driver.FilterParser.parseString(this.#search.filter.replaceAll(PLACEHOLDER, 'x'))
        } catch (err) {
          throw new InvalidOption(`LdapChecker: search.filter is not a valid LDAP filter: ${(err as Error).message}`, { cause: err })
        }
      }
      return driver as Ldapts
    })
    try {
      return await this.#driver
    } catch (err) {
      this.#driver = undefined // the application may install it and retry
      throw err
    }
  }

  /** A new connection, TLS set up, not bound. Never reconnects by itself (see `Connection`). */
  async #connect (): Promise<Connection> {
    const driver = await this.#driverLoaded()
    // ldapts reopens a closed socket on the next request, in clear text even after StartTLS: we open each socket
    // once, and a connection whose socket died is thrown away and replaced by a new one set up from scratch.
    let opened = false
    const once = (open: () => Socket): Socket => {
      if (!opened) {
        opened = true
        return open()
      }
      const refused = new Socket()
      setImmediate(() => refused.destroy(new Error('LDAP connection closed')))
      return refused
    }
    const options: LdapClientOptions = { url: this.#url, timeout: this.#timeout, connectTimeout: this.#timeout }
    if (this.#secure) {
      options.tlsOptions = { ...this.#tls }
      const { connect } = await import('node:tls')
      options.createSecureConnection = (...args: unknown[]) => once(() => (connect as (...a: unknown[]) => Socket)(...args))
    } else {
      const { connect } = await import('node:net')
      options.createConnection = (...args: unknown[]) => once(() => (connect as (...a: unknown[]) => Socket)(...args))
    }
    const client = new driver.Client(options)
    const connection = new Connection(client)
    try {
      // ldapts bounds the StartTLS request but not the TLS handshake that follows it.
      if (this.#startTLS) await withinDeadline(client.startTLS({ ...this.#tls, host: this.#host }), this.#timeout, () => new StoreUnavailable(`LDAP StartTLS did not finish within ${this.#timeout} ms`))
      return connection
    } catch (err) {
      connection.close()
      throw this.#unavailable(err, 'cannot connect')
    }
  }

  /** The service account's connection: opened and bound once, shared by the searches, replaced when it dies. */
  async #serviceConnection (driver: Ldapts): Promise<Connection> {
    const current = this.#service
    if (current !== undefined) {
      const connection = await current.catch(() => undefined)
      if (connection?.alive === true) return connection
      if (this.#service === current) this.#service = undefined
    }
    this.#service ??= (async () => {
      const connection = await this.#connect()
      const search = this.#search
      if (search?.bindDn !== undefined) {
        try {
          await connection.client.bind(search.bindDn, search.bindPassword)
        } catch (err) {
          connection.close()
          throw this.#unavailable(err, 'the service account cannot bind')
        }
      }
      return connection
    })()
    const starting = this.#service
    try {
      return await starting
    } catch (err) {
      if (this.#service === starting) this.#service = undefined
      throw err
    }
  }

  /** The single entry matching the filter, or undefined for none or several. Retried once on a dead connection. */
  async #find (driver: Ldapts, username: string): Promise<Record<string, unknown> | undefined> {
    const search = this.#search as SearchSettings
    const filter = search.filter.replaceAll(PLACEHOLDER, escapeFilterValue(username))
    for (let attempt = 0; ; attempt++) {
      const connection = await this.#serviceConnection(driver)
      try {
        const { searchEntries } = await connection.client.search(search.base, {
          scope: search.scope, filter, attributes: this.#requestedAttributes(), sizeLimit: 2
        })
        return searchEntries.length === 1 ? searchEntries[0] : undefined
      } catch (err) {
        const resultCode = err instanceof driver.ResultCodeError
        if (!resultCode && attempt === 0 && !connection.alive) continue // the server closed it while idle
        if (resultCode && (err as { code: number }).code === 32) {
          throw new StoreUnavailable(`LdapChecker: search.base ${JSON.stringify(search.base)} does not exist or is not visible to the ${search.bindDn === undefined ? 'anonymous search' : 'service account'}`, { cause: err })
        }
        throw this.#unavailable(err, 'search failed')
      }
    }
  }

  /**
   * Binds `dn` with `password` on a pooled connection. Resolves to `{ entry }` when the bind succeeded (the entry
   * read on the same connection, as the user, unless `readEntry` is `'no'`; with `'optional'` a refused read gives no
   * entry instead of `StoreUnavailable`), or undefined for invalid credentials.
   */
  async #bindUser (driver: Ldapts, dn: string, password: string, readEntry: 'no' | 'optional' | 'required' = 'no'): Promise<{ entry: Record<string, unknown> | undefined } | undefined> {
    for (let attempt = 0; ; attempt++) {
      const connection = await this.#pool.acquire()
      let healthy = true
      try {
        try {
          await connection.client.bind(dn, password)
        } catch (err) {
          if (err instanceof driver.ResultCodeError) {
            const code = (err as { code: number }).code
            if (code === INVALID_CREDENTIALS) return undefined
            if (SERVER_SIDE_CODES.has(code)) { healthy = false; throw this.#unavailable(err, 'bind failed') }
            // Any other refusal of a user's bind (unwillingToPerform for a locked account, invalidDNSyntax for a
            // name that makes no DN, …) is the user's, and looks exactly like a wrong password.
            return undefined
          }
          healthy = false
          if (attempt === 0 && !connection.alive) continue // the server closed it while idle: one fresh try
          throw this.#unavailable(err, 'bind failed')
        }
        if (readEntry === 'no') return { entry: undefined }
        try {
          const { searchEntries } = await connection.client.search(dn, { scope: 'base', filter: '(objectClass=*)', attributes: this.#requestedAttributes() })
          return { entry: searchEntries[0] }
        } catch (err) {
          if (readEntry === 'optional' && err instanceof driver.ResultCodeError) return { entry: undefined }
          // The password was right: a failure to read the entry is the directory's (ACLs, an outage), not the user's.
          healthy = err instanceof driver.ResultCodeError
          throw this.#unavailable(err, "reading the user's entry failed")
        }
      } finally {
        this.#pool.release(connection, healthy)
      }
    }
  }

  #unavailable (err: unknown, what: string): Error {
    if (err instanceof MissingPeerDependency || err instanceof InvalidOption) return err
    return StoreUnavailable.from(err, `LdapChecker: ${what} at ${this.#url}`)
  }
}

const ATTRIBUTE = '([A-Za-z][A-Za-z0-9-]*|\\d+(?:\\.\\d+)+)(?:;[A-Za-z0-9-]+)*'
/** The attribute of the first `(attr={username})` of a filter template, or undefined. */
function matchedInFilter (filter: string): string | undefined {
  return new RegExp(`\\(${ATTRIBUTE}=\\{username\\}\\)`).exec(filter)?.[1]
}
/** The attribute of a DN template whose first RDN is `attr={username}`, or undefined (`{username}@corp…`). */
function matchedInDn (userDn: string): string | undefined {
  return new RegExp(`^\\s*${ATTRIBUTE}\\s*=\\s*\\{username\\}\\s*(?:[,+]|$)`).exec(userDn)?.[1]
}

/** An attribute description (RFC 4512 section 2.5): a name with options, or a numeric OID. */
function isAttributeName (name: unknown): boolean {
  return typeof name === 'string' && /^(?:[A-Za-z][A-Za-z0-9-]*|\d+(?:\.\d+)+)(?:;[A-Za-z0-9-]+)*$/.test(name)
}

/** The attribute's values as strings, matching its name ignoring case as LDAP does. */
function valuesOf (raw: Record<string, unknown> | undefined, name: string): string[] {
  if (raw === undefined) return []
  const lower = name.toLowerCase()
  const key = Object.keys(raw).find((k) => k.toLowerCase() === lower)
  const value = key === undefined ? undefined : raw[key]
  const list = value === undefined ? [] : Array.isArray(value) ? value : [value]
  return list.map((v) => Buffer.isBuffer(v) ? v.toString('utf8') : String(v))
}

/** A cheap look at a filter template at set-up: parenthesised and balanced (ldapts parses it fully on first use). */
function balancedFilter (filter: string): boolean {
  if (!filter.startsWith('(') || !filter.endsWith(')')) return false
  let depth = 0
  for (let i = 0; i < filter.length; i++) {
    const c = filter[i]
    if (depth === 0 && i > 0) return false // text or a second filter after the outer one closed
    if (c === '\\') i += 2
    else if (c === '(') depth++
    else if (c === ')') depth--
  }
  return depth === 0
}
