import { IUsernamePassword, InvalidOption, StoreUnavailable, UnauthorizedLogin } from '../cred/index.js'
import type { CredentialsChecker, Interface } from '../cred/index.js'
import { HTPASSWD_HASHERS, identifyHasher } from '../hashers/index.js'
import type { PasswordHasher } from '../hashers/index.js'
import { prepareFormats, setUpError } from './set-up.js'
import { LINES_PER_SLICE, WatchedFile, apacheLines, parseNow } from './watched-file.js'
import type { ParseOutcome, ReloadingChecker, WatchedFileOptions } from './watched-file.js'

export interface HtpasswdCheckerOptions extends WatchedFileOptions {
  /**
   * The password formats read, tried in order (see `identifyHasher`). Default `HTPASSWD_HASHERS`: every format
   * Apache's `htpasswd` writes. Put other formats in front to read mixed files.
   */
  hashers?: readonly PasswordHasher[]
}

interface HtpasswdUser {
  readonly username: string
  readonly encoded: string
  /** Undefined for a format none of the hashers reads: such a user can never log in. */
  readonly hasher: PasswordHasher | undefined
  /** The line it was read from. */
  readonly line: number
}

interface Decoy {
  readonly hasher: PasswordHasher
  readonly encoded: string
}

interface HtpasswdContents {
  readonly users: ReadonlyMap<string, HtpasswdUser>
  /** A hash of a random secret, in the format (and at the cost) most users' lines have; made in the background. */
  readonly decoy: Promise<Decoy> | undefined
  /** The decoy's format. */
  readonly decoyFormat: string | undefined
}

type ParsedHtpasswd = { users: Map<string, HtpasswdUser>, dominant: { hasher: PasswordHasher, like: string } | undefined }

/**
 * A value that is no password but a damaged hash, which the plaintext format would otherwise take as the password
 * itself (so that the damaged line logs in with its own text): a DES crypt hash cut short (10 to 12 of its 13
 * characters of the crypt alphabet), or a prefixed hash that lost its first character (`apr1$…`, `2y$…`, `SHA}…`).
 */
function damagedHash (encoded: string): string | undefined {
  if (/^[./0-9A-Za-z]{10,12}$/.test(encoded)) return `looks like a DES crypt hash cut short (${encoded.length} of 13 characters)`
  if (/^(?:apr1|2[abxy]|[1256y])\$|^(?:SHA|SSHA|MD5|SMD5|CRYPT)\}/i.test(encoded)) return 'looks like a hash that lost its first character'
  return undefined
}

/**
 * Reads `user:hash` lines as Apache's server does (`mod_authn_file`): leading and trailing white space is dropped,
 * then blank lines and lines starting with `#` are skipped; the user name ends at the first `:`. The hash is the
 * rest of the line; when the rest is not a known format but its part before another `:` is, that part (a trailing
 * field, as some tools write, is ignored). A plaintext password keeps its `:`. A value that looks like a damaged
 * hash (a DES hash cut short) is never taken as a plaintext password: that user cannot log in, with a warning.
 * Yields every `LINES_PER_SLICE` lines (see `FileParser`).
 */
export function * parseHtpasswdSliced (text: string, hashers: readonly PasswordHasher[]): Generator<void, ParseOutcome<ParsedHtpasswd>, void> {
  const users = new Map<string, HtpasswdUser>()
  const warnings: string[] = []
  const counts = new Map<PasswordHasher, { count: number, like: string }>()
  for (const { number, line } of apacheLines(text)) {
    if (number % LINES_PER_SLICE === 0) yield
    if (line === '' || line.startsWith('#')) continue
    const colon = line.indexOf(':')
    if (colon < 0) return { ok: false, line: number, problem: 'no ":" between the user name and the password hash' }
    if (colon === 0) return { ok: false, line: number, problem: 'empty user name' }
    const username = line.slice(0, colon)
    let encoded = line.slice(colon + 1)
    if (encoded === '') return { ok: false, line: number, problem: `user ${JSON.stringify(username)} has an empty password hash` }
    let hasher = identifyHasher(encoded, hashers)
    // Hashes never contain ':': after one, a known format ends at it (a trailing field, as some tools write).
    if (encoded.includes(':')) {
      const field = encoded.slice(0, encoded.indexOf(':'))
      const fieldHasher = identifyHasher(field, hashers)
      if (fieldHasher !== undefined && fieldHasher.name !== 'plain') {
        hasher = fieldHasher
        encoded = field
      }
    }
    const seen = users.get(username)
    if (seen !== undefined) {
      warnings.push(`line ${number}: user ${JSON.stringify(username)} is listed again; line ${seen.line} is used`)
      continue
    }
    const damage = hasher?.name === 'plain' ? damagedHash(encoded) : undefined
    if (damage !== undefined) {
      // Never guessed as plaintext: the user is refused (after a decoy check, as an unknown user is).
      hasher = undefined
      warnings.push(`line ${number}: the password hash of user ${JSON.stringify(username)} ${damage}; that user cannot log in`)
    } else if (hasher === undefined) {
      warnings.push(`line ${number}: the password hash of user ${JSON.stringify(username)} is in a format not read here; that user cannot log in`)
    } else if (hasher.name === 'plain') {
      warnings.push(`line ${number}: user ${JSON.stringify(username)} has a plaintext password`)
    }
    users.set(username, { username, encoded, hasher, line: number })
    if (hasher !== undefined) {
      const count = counts.get(hasher)
      if (count === undefined) counts.set(hasher, { count: 1, like: encoded })
      else count.count++
    }
  }
  let dominant: { hasher: PasswordHasher, like: string } | undefined
  let best = 0
  for (const [hasher, { count, like }] of counts) {
    if (count > best) {
      best = count
      dominant = { hasher, like }
    }
  }
  return { ok: true, value: { users, dominant }, warnings }
}

const closed = (): StoreUnavailable => new StoreUnavailable('HtpasswdChecker is closed')

/** `parseHtpasswdSliced` run straight through. */
export function parseHtpasswd (text: string, hashers: readonly PasswordHasher[]): ParseOutcome<ParsedHtpasswd> {
  return parseNow(parseHtpasswdSliced(text, hashers))
}

/**
 * Users and password hashes from an Apache `htpasswd` file, in every format `htpasswd` writes (bcrypt, apr1-MD5,
 * `{SHA}`, DES crypt, SHA-crypt, plaintext), mixed freely. Checks HTTP Basic credentials (`IUsernamePassword`);
 * Digest cannot be served from such hashes (use `HtdigestChecker`).
 *
 * - **Reload**: the file is looked at again at most every `checkInterval` ms (default 1000) when a login comes, and
 *   reloaded when it changed, even within the same second. `onReload(listener)` announces reloads.
 * - **Broken files**: a line it cannot read keeps the last good copy in service and warns (via `onWarning`) naming
 *   the line; a missing or malformed file at construction throws `InvalidOption`. The first read is synchronous,
 *   at set-up, so the checker can go straight into `checkers: [...]`; later reads are asynchronous.
 * - **Unknown users** cost what a wrong password costs: their password is verified against a decoy hash in the
 *   format (and at the cost) most lines of the file use, so response times do not tell which users exist.
 * - Hashing never blocks the event loop: bcrypt runs on libuv's threadpool (native `bcrypt`, an optional peer
 *   dependency needed only for files with bcrypt lines), the pure-JavaScript formats in worker threads.
 *
 * @example
 * import Fastify from 'fastify'
 * import { cred, SimpleRealm, defineInterface } from 'fastify-cred'
 * import { HtpasswdChecker } from 'fastify-cred/checkers'
 * const IUser = defineInterface<{ name: string }>('IUser')
 * const app = Fastify({ logger: true })
 * await app.register(cred, {
 *   realm: new SimpleRealm().serve(IUser, (id) => ({ name: String(id) })),
 *   checkers: [new HtpasswdChecker('/etc/myapp/htpasswd', { onWarning: (m) => app.log.warn(m) })],
 *   interfaces: [IUser]
 * })
 * @throws InvalidOption when the file is missing, unreadable or malformed at construction
 */
export class HtpasswdChecker implements CredentialsChecker<IUsernamePassword>, ReloadingChecker {
  static readonly credentialInterfaces: readonly Interface<IUsernamePassword>[] = Object.freeze([IUsernamePassword])
  readonly credentialInterfaces: readonly Interface<IUsernamePassword>[] = HtpasswdChecker.credentialInterfaces
  readonly #file: WatchedFile<HtpasswdContents>
  #closed = false

  constructor (path: string, options: HtpasswdCheckerOptions = {}) {
    const hashers = options.hashers ?? HTPASSWD_HASHERS
    if (!Array.isArray(hashers) || hashers.length === 0) throw new InvalidOption('HtpasswdChecker: hashers must be a non-empty array of PasswordHasher')
    if (options.onWarning !== undefined && typeof options.onWarning !== 'function') throw new InvalidOption('HtpasswdChecker: onWarning must be a function')
    const warn = options.onWarning ?? ((message: string) => { process.emitWarning(message, { code: 'FASTIFY_CRED_FILE' }) })
    let loaded = false
    this.#file = new WatchedFile<HtpasswdContents>('HtpasswdChecker', path, function * (text) {
      const parsed = yield * parseHtpasswdSliced(text, hashers)
      if (!parsed.ok) return parsed
      const { users, dominant } = parsed.value
      let decoy: Promise<Decoy> | undefined
      if (dominant !== undefined) {
        decoy = dominant.hasher.decoy(dominant.like).then((encoded) => ({ hasher: dominant.hasher, encoded }))
        // Made ahead of need. A failure (bcrypt not installed) of the first load is prepare()'s to report (the plugin
        // then refuses to start); one after a reload is said here, and again at the first unknown user.
        const reloaded = loaded
        decoy.catch((err: unknown) => {
          if (reloaded) warn(`HtpasswdChecker: ${path}: cannot make a ${dominant.hasher.name} decoy: ${err instanceof Error ? err.message : String(err)}`)
        })
      }
      return { ok: true, value: { users, decoy, decoyFormat: dominant?.hasher.name }, warnings: parsed.warnings }
    }, { ...options, onWarning: warn })
    loaded = true
  }

  /** The file's path. */
  get path (): string { return this.#file.path }

  /** The user names in the last good copy of the file. */
  usernames (): IterableIterator<string> {
    return this.#file.value.users.keys()
  }

  onReload (listener: () => void): () => void {
    return this.#file.onReload(listener)
  }

  refreshIfDue (): Promise<void> | undefined {
    return this.#file.refreshIfDue()
  }

  requestAvatarId (credentials: IUsernamePassword): Promise<string> {
    if (this.#closed) return Promise.reject(closed())
    const pending = this.#file.refreshIfDue()
    return pending === undefined ? this.#check(credentials) : pending.then(async () => await this.#check(credentials))
  }

  /**
   * Proves the file can be served: every hash format its lines use can be verified here (bcrypt lines need the
   * `bcrypt` package), and the decoy is made.
   *
   * @throws MissingPeerDependency naming the package a format needs and the first line holding it.
   * @throws InvalidOption when the decoy cannot be made; StoreUnavailable once closed.
   */
  async prepare (): Promise<void> {
    if (this.#closed) throw closed()
    const { users, decoy, decoyFormat } = this.#file.value
    const formats = new Map<PasswordHasher, string>()
    for (const user of users.values()) {
      if (user.hasher !== undefined && !formats.has(user.hasher)) formats.set(user.hasher, `line ${user.line} holds a ${user.hasher.name} hash`)
    }
    await prepareFormats(`HtpasswdChecker(${this.path})`, formats)
    try {
      await decoy
    } catch (err) {
      throw setUpError(err, `HtpasswdChecker(${this.path}): cannot make a ${String(decoyFormat)} decoy`)
    }
  }

  /** Stops looking at the file (it holds no handle between looks); afterwards every login rejects with `StoreUnavailable`. Idempotent. */
  async close (): Promise<void> {
    this.#closed = true
    this.#file.close()
  }

  async #check (credentials: IUsernamePassword): Promise<string> {
    if (this.#closed) throw closed()
    const { users, decoy } = this.#file.value
    const user = users.get(credentials.username)
    const password = credentials.password
    if (user?.hasher !== undefined && typeof password === 'string') {
      if (await user.hasher.verify(password, user.encoded)) return user.username
    } else if (decoy !== undefined) {
      const { hasher, encoded } = await decoy
      await hasher.verify(typeof password === 'string' ? password : '', encoded)
    }
    throw new UnauthorizedLogin('Invalid user name or password')
  }
}
