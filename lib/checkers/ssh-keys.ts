import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { ISshPublicKey, InvalidOption, StoreUnavailable, UnauthorizedLogin, ValidPublicKey } from '../cred/index.js'
import type { CredentialsChecker, Interface } from '../cred/index.js'
import { SSH_KEY_TYPES, keyTypeOfAlgorithm, parseSshKeyBlob, verifySshSignature } from '../cred/credentials/ssh-key-blob.js'
import { WatchedFile, apacheLines } from './watched-file.js'
import type { ParseOutcome, ReloadingChecker, WatchedFileOptions } from './watched-file.js'

export interface SshKeyCheckerOptions extends WatchedFileOptions {
  /**
   * A folder holding one `authorized_keys`-format file per user, named as the user (OpenSSH's
   * `AuthorizedKeysFile /etc/ssh/authorized_keys/%u`). Read at every login: deleting a line revokes at once.
   */
  readonly directory?: string
  /**
   * One file for every user: `<user> <key type> <base64 key> [comment]` lines, reloaded when it changes (every
   * `checkInterval` ms at most, default 1000).
   */
  readonly file?: string
}

/** The keys of one user: the base64 of each blob. */
type KeySet = ReadonlySet<string>

/**
 * One `authorized_keys` line (`<key type> <base64 key> [comment]`), checked: the blob must be a key of the named
 * type that can be used. A line with OpenSSH options (`from=`, `command=`, `restrict`) is not accepted: the checker
 * cannot enforce them, and a key meant to be restricted must not log in unrestricted.
 */
export function parseAuthorizedKey (line: string): { ok: true, blob: string } | { ok: false, problem: string } {
  const [type = '', base64 = ''] = line.split(/[ \t]+/)
  if (!SSH_KEY_TYPES.includes(type)) {
    return /^[a-z0-9@.-]+$/i.test(type) && /^[A-Za-z0-9+/=]{20,}$/.test(base64)
      ? { ok: false, problem: `key type ${type} is not accepted (${SSH_KEY_TYPES.join(', ')})` }
      : { ok: false, problem: 'not "<key type> <base64 key>" (key options such as from= or command= are not supported)' }
  }
  const blob = Buffer.from(base64, 'base64')
  if (blob.toString('base64') !== base64) return { ok: false, problem: 'the key is not base64' }
  const key = parseSshKeyBlob(blob)
  if (key === undefined) return { ok: false, problem: 'the key cannot be read' }
  if (key.type !== type) return { ok: false, problem: `the line says ${type} but the key is ${key.type}` }
  return { ok: true, blob: base64 }
}

/** Reads `authorized_keys` text (with a user column when `withUser`): keys by user, and the lines skipped. */
export function parseAuthorizedKeys (text: string, withUser: boolean): ParseOutcome<ReadonlyMap<string, KeySet>> {
  const users = new Map<string, Set<string>>()
  const warnings: string[] = []
  for (const { number, line } of apacheLines(text)) {
    if (line === '' || line.startsWith('#')) continue
    let user = ''
    let rest = line
    if (withUser) {
      const space = line.search(/[ \t]/)
      if (space <= 0) return { ok: false, line: number, problem: 'expected "<user> <key type> <base64 key> [comment]"' }
      user = line.slice(0, space)
      rest = line.slice(space).trimStart()
    }
    const parsed = parseAuthorizedKey(rest)
    if (!parsed.ok) {
      warnings.push(`line ${number}: ${parsed.problem}; skipped`)
      continue
    }
    let keys = users.get(user)
    if (keys === undefined) users.set(user, keys = new Set())
    keys.add(parsed.blob)
  }
  return { ok: true, value: users, warnings }
}

const closed = (): StoreUnavailable => new StoreUnavailable('SshKeyChecker is closed')
const REFUSED = 'Invalid user name or key'
const NO_KEYS: KeySet = new Set()
/** User names that can name a file in the folder: no `/`, no leading `.`, nothing odd. */
const SAFE_USER = /^[A-Za-z0-9_][A-Za-z0-9._@-]{0,255}$/

/**
 * SSH public-key logins (`ISshPublicKey`) against `authorized_keys`-format files: one per user under a folder, or
 * one file with a user column (Twisted's `SSHPublicKeyChecker` with its `authorized_keys` database). A signed login
 * logs in when the key is the user's and the signature verifies; an unsigned query for one of the user's keys
 * answers `ValidPublicKey` (SSH then tells the client to sign), never an avatar id.
 *
 * - Keys: Ed25519, RSA (signatures with SHA-256 or SHA-512; `ssh-rsa` with SHA-1 is refused, as OpenSSH ≥ 8.8
 *   does) and ECDSA P-256/384/521, verified with `node:crypto` (no SSH library needed). Lines with key options, or
 *   keys that cannot be read, are skipped with a warning.
 * - Every signed login verifies its signature once, whether the user or the key is known or not.
 * - Revoking: delete the line (or the user's file).
 *
 * @example
 * import { SshKeyChecker } from 'fastify-cred/checkers'
 * const keys = new SshKeyChecker({ directory: '/etc/app/ssh-keys' }) // /etc/app/ssh-keys/alice, …
 * const shared = new SshKeyChecker({ file: '/etc/app/authorized_keys' }) // "alice ssh-ed25519 AAAA… laptop"
 * @throws InvalidOption for neither or both of `directory` and `file`, or a `file` missing or malformed
 */
export class SshKeyChecker implements CredentialsChecker<ISshPublicKey>, ReloadingChecker {
  static readonly credentialInterfaces: readonly Interface<ISshPublicKey>[] = Object.freeze([ISshPublicKey])
  readonly credentialInterfaces: readonly Interface<ISshPublicKey>[] = SshKeyChecker.credentialInterfaces
  readonly #directory: string | undefined
  readonly #file: WatchedFile<ReadonlyMap<string, KeySet>> | undefined
  readonly #warn: (message: string) => void
  readonly #warned = new Set<string>()
  #closed = false

  constructor (options: SshKeyCheckerOptions) {
    if (options === null || typeof options !== 'object') throw new InvalidOption('SshKeyChecker needs options: { directory } or { file }')
    const { directory, file } = options
    if ((directory === undefined) === (file === undefined)) throw new InvalidOption('SshKeyChecker: give either `directory` (a file per user) or `file` (one file with a user column)')
    if (directory !== undefined && (typeof directory !== 'string' || directory === '')) throw new InvalidOption('SshKeyChecker: `directory` must be a path')
    if (options.onWarning !== undefined && typeof options.onWarning !== 'function') throw new InvalidOption('SshKeyChecker: onWarning must be a function')
    this.#warn = options.onWarning ?? ((message) => { process.emitWarning(message, { code: 'FASTIFY_CRED_FILE' }) })
    this.#directory = directory
    this.#file = file === undefined ? undefined : new WatchedFile('SshKeyChecker', file, (text) => parseAuthorizedKeys(text, true), options)
  }

  onReload (listener: () => void): () => void {
    return this.#file?.onReload(listener) ?? (() => {})
  }

  refreshIfDue (): Promise<void> | undefined {
    return this.#file?.refreshIfDue()
  }

  async requestAvatarId (credentials: ISshPublicKey): Promise<string> {
    if (this.#closed) throw closed()
    const keys = await this.#keysOf(credentials.username)
    if (this.#closed) throw closed()
    const blob = credentials.blob instanceof Uint8Array ? credentials.blob : new Uint8Array(0)
    const key = parseSshKeyBlob(blob)
    const authorized = key !== undefined && keys.has(Buffer.from(blob).toString('base64'))
    const { signature, signedData } = credentials
    if (signature === undefined || signedData === undefined) {
      if (authorized) throw new ValidPublicKey('This key would be accepted: sign with it')
      throw new UnauthorizedLogin(REFUSED)
    }
    // Verified whatever the outcome: an unknown user or key costs what a known one does.
    const verified = key !== undefined && keyTypeOfAlgorithm(credentials.algorithm) === key.type &&
      verifySshSignature(key, credentials.algorithm, signedData, signature)
    if (verified && authorized) return credentials.username
    throw new UnauthorizedLogin(REFUSED)
  }

  /** Stops looking at the file; afterwards every login rejects with `StoreUnavailable`. Idempotent. */
  async close (): Promise<void> {
    this.#closed = true
    this.#file?.close()
  }

  async #keysOf (username: string): Promise<KeySet> {
    if (this.#file !== undefined) {
      await this.#file.refreshIfDue()
      return this.#file.value.get(username) ?? NO_KEYS
    }
    if (typeof username !== 'string' || !SAFE_USER.test(username)) return NO_KEYS
    const path = join(this.#directory as string, username)
    let text: string
    try {
      text = await readFile(path, 'utf8')
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR') return NO_KEYS
      throw StoreUnavailable.from(err, `SshKeyChecker: cannot read ${path}`)
    }
    const parsed = parseAuthorizedKeys(text, false)
    if (!parsed.ok) return NO_KEYS
    for (const warning of parsed.warnings) this.#warnOnce(`SshKeyChecker: ${path} ${warning}`)
    return parsed.value.get('') ?? NO_KEYS
  }

  #warnOnce (message: string): void {
    if (this.#warned.has(message)) return
    if (this.#warned.size > 1000) this.#warned.clear()
    this.#warned.add(message)
    this.#warn(message)
  }
}
