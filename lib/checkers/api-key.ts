import { hash, randomBytes, randomInt } from 'node:crypto'
import { IBearerToken, InvalidOption, StoreUnavailable, UnauthorizedLogin } from '../cred/index.js'
import type { CredentialsChecker, Interface } from '../cred/index.js'
import { WatchedFile, apacheLines } from './watched-file.js'
import type { ParseOutcome, ReloadingChecker, WatchedFileOptions } from './watched-file.js'

/**
 * Opaque API keys: `fck_<id>_<secret>`, where `fck_<id>` (16 characters) is the key's public prefix, which names it
 * in logs and in the key file without revealing it, and `<secret>` is 32 random bytes (256 bits), base64url. Only
 * the SHA-256 of the whole key is stored: a key has too much randomness to be guessed from its hash, so a slow
 * password hash would buy nothing (GitHub's and Stripe's tokens are stored the same way).
 */

/** What every key starts with: a key found in a repository or a log is recognisable (secret scanners match it). */
export const API_KEY_TAG = 'fck'
const ID_LENGTH = 12
const ID_ALPHABET = 'abcdefghijklmnopqrstuvwxyz0234567' // no 1: it reads as l
const SECRET_BYTES = 32
const PREFIX_LENGTH = API_KEY_TAG.length + 1 + ID_LENGTH
const KEY = new RegExp(`^${API_KEY_TAG}_[${ID_ALPHABET}]{${ID_LENGTH}}_[A-Za-z0-9_-]{43}$`)
const PREFIX = new RegExp(`^${API_KEY_TAG}_[${ID_ALPHABET}]{${ID_LENGTH}}$`)
const SHA256_HEX = /^[0-9a-f]{64}$/

/** A new key: the key itself (shown once, never stored), its public prefix, and the SHA-256 (hex) to store. */
export interface NewApiKey {
  readonly key: string
  readonly prefix: string
  readonly sha256: string
}

/**
 * Makes a new API key from the system's random source.
 *
 * @example
 * const { key, prefix, sha256 } = newApiKey()
 * // key 'fck_k3v0q7m2xa5d_Qm9…' for the client, `${prefix}:${sha256}:alice` for the key file
 */
export function newApiKey (): NewApiKey {
  let id = ''
  for (let i = 0; i < ID_LENGTH; i++) id += ID_ALPHABET[randomInt(ID_ALPHABET.length)]
  const prefix = `${API_KEY_TAG}_${id}`
  const key = `${prefix}_${randomBytes(SECRET_BYTES).toString('base64url')}`
  return { key, prefix, sha256: hash('sha256', key, 'hex') }
}

/**
 * The public prefix of a key (`fck_<id>`), or `undefined` for a value that is no key of this format.
 *
 * @example
 * apiKeyPrefix('fck_k3v0q7m2xa5d_Qm9…')  // 'fck_k3v0q7m2xa5d'
 */
export function apiKeyPrefix (key: string): string | undefined {
  return typeof key === 'string' && KEY.test(key) ? key.slice(0, PREFIX_LENGTH) : undefined
}

/** True for a public prefix (`fck_<id>`). */
export function isApiKeyPrefix (value: string): boolean {
  return PREFIX.test(value)
}

/** One line of a key file. */
export interface ApiKeyEntry {
  readonly prefix: string
  /** SHA-256 of the whole key, lower-case hex. */
  readonly sha256: string
  readonly avatarId: string
  readonly line: number
}

/**
 * The line a key file holds for a key: `prefix:sha256:avatar-id`.
 *
 * @throws InvalidOption for an avatar id that is empty or holds a line break.
 */
export function formatApiKeyLine (prefix: string, sha256: string, avatarId: string): string {
  if (typeof avatarId !== 'string' || avatarId === '' || /[\r\n]/.test(avatarId)) throw new InvalidOption('an avatar id is a non-empty string without line breaks')
  return `${prefix}:${sha256}:${avatarId}`
}

/**
 * Reads a key file: `prefix:sha256:avatar-id` lines (the avatar id is the rest of the line); blank lines and lines
 * starting with `#` are skipped.
 */
export function parseApiKeyFile (text: string): ParseOutcome<ReadonlyMap<string, ApiKeyEntry>> {
  const entries = new Map<string, ApiKeyEntry>()
  const warnings: string[] = []
  for (const { number, line } of apacheLines(text)) {
    if (line === '' || line.startsWith('#')) continue
    const first = line.indexOf(':')
    const second = first < 0 ? -1 : line.indexOf(':', first + 1)
    if (second < 0) return { ok: false, line: number, problem: 'not a "prefix:sha256:avatar-id" line' }
    const prefix = line.slice(0, first)
    const sha256 = line.slice(first + 1, second).toLowerCase()
    const avatarId = line.slice(second + 1)
    if (!isApiKeyPrefix(prefix)) return { ok: false, line: number, problem: `${JSON.stringify(prefix.slice(0, 40))} is not a key prefix (${API_KEY_TAG}_ and ${ID_LENGTH} characters)` }
    if (!SHA256_HEX.test(sha256)) return { ok: false, line: number, problem: 'the key hash is not 64 hex digits of SHA-256' }
    if (avatarId === '') return { ok: false, line: number, problem: 'the avatar id is empty' }
    const seen = entries.get(prefix)
    if (seen !== undefined) {
      warnings.push(`line ${number}: key ${prefix} is listed again; line ${seen.line} is used`)
      continue
    }
    entries.set(prefix, { prefix, sha256, avatarId, line: number })
  }
  return { ok: true, value: entries, warnings }
}

export interface ApiKeyCheckerOptions extends WatchedFileOptions {}

/** Compared against when the key is unknown or malformed, so that costs what a wrong key costs. */
const DECOY = hash('sha256', randomBytes(32), 'hex')

/**
 * Bearer tokens that are opaque API keys (`fastify-cred apikey create` makes them), checked against a file of their
 * SHA-256 hashes (`prefix:sha256:avatar-id` lines). The key's public prefix finds its line; the hash is compared in
 * constant time, and an unknown or malformed key is compared against a decoy, so the answer's time does not tell
 * whether a prefix exists. Revoking a key is removing its line (`fastify-cred apikey revoke`): the file is looked at
 * again at most every `checkInterval` ms (default 1000; 0 at every login), so the key stops working within that time,
 * without a restart. An accepted key's prefix is recorded on the credentials (`claims.keyPrefix`), for logs.
 *
 * @example
 * import { ApiKeyChecker } from 'fastify-cred/checkers'
 * await app.register(cred, { realm, checkers: [new ApiKeyChecker('/etc/app/api-keys')], schemes: ['bearer'], interfaces: [IUser] })
 * @throws InvalidOption when the file is missing, unreadable or malformed at construction.
 */
export class ApiKeyChecker implements CredentialsChecker<IBearerToken>, ReloadingChecker {
  static readonly credentialInterfaces: readonly Interface<IBearerToken>[] = Object.freeze([IBearerToken])
  readonly credentialInterfaces: readonly Interface<IBearerToken>[] = ApiKeyChecker.credentialInterfaces
  readonly #file: WatchedFile<ReadonlyMap<string, ApiKeyEntry>>
  #closed = false

  constructor (path: string, options: ApiKeyCheckerOptions = {}) {
    if (options === null || typeof options !== 'object') throw new InvalidOption('ApiKeyChecker: options must be an object')
    this.#file = new WatchedFile('ApiKeyChecker', path, parseApiKeyFile, options)
  }

  /** The file's path. */
  get path (): string { return this.#file.path }

  /** The public prefixes of the keys in the last good copy of the file. */
  prefixes (): IterableIterator<string> {
    return this.#file.value.keys()
  }

  onReload (listener: () => void): () => void {
    return this.#file.onReload(listener)
  }

  refreshIfDue (): Promise<void> | undefined {
    return this.#file.refreshIfDue()
  }

  /** Synchronous unless the file is due a look. @throws UnauthorizedLogin for an unknown, revoked or malformed key. */
  requestAvatarId (credentials: IBearerToken): string | Promise<string> {
    if (this.#closed) throw new StoreUnavailable('ApiKeyChecker is closed')
    const pending = this.#file.refreshIfDue()
    return pending === undefined ? this.#check(credentials) : pending.then(() => this.#check(credentials))
  }

  /** Stops looking at the file; afterwards every login throws `StoreUnavailable`. Idempotent. */
  async close (): Promise<void> {
    this.#closed = true
    this.#file.close()
  }

  #check (credentials: IBearerToken): string {
    if (this.#closed) throw new StoreUnavailable('ApiKeyChecker is closed')
    const prefix = apiKeyPrefix(credentials.token)
    const entry = prefix === undefined ? undefined : this.#file.value.get(prefix)
    const matched = credentials.matchesSha256(entry?.sha256 ?? DECOY)
    if (entry === undefined || !matched) throw new UnauthorizedLogin('Invalid API key')
    credentials.setClaims({ keyPrefix: entry.prefix })
    return entry.avatarId
  }
}
