import { IClientCertificate, InvalidOption, StoreUnavailable, UnauthorizedLogin } from '../cred/index.js'
import type { CredentialsChecker, Interface } from '../cred/index.js'
import { WatchedFile, apacheLines } from './watched-file.js'
import type { ParseOutcome, ReloadingChecker, WatchedFileOptions } from './watched-file.js'

/** What of a certificate names the user: the subject's CN, one of its SANs, or a pinned fingerprint. */
export type CertificateIdentity = 'cn' | 'email' | 'dns' | 'uri' | 'fingerprint'

export const CERTIFICATE_IDENTITIES: readonly CertificateIdentity[] = Object.freeze(['cn', 'email', 'dns', 'uri', 'fingerprint'])

export interface ClientCertCheckerOptions extends WatchedFileOptions {
  /**
   * What names the user: `'cn'` the subject's common name, `'email'` / `'dns'` / `'uri'` the subject alternative
   * name of that kind (the certificate must hold exactly one), `'fingerprint'` the avatar id the `pins` file gives
   * the certificate's SHA-256 fingerprint.
   */
  readonly by: CertificateIdentity
  /**
   * For `by: 'fingerprint'`: a file of `<SHA-256 fingerprint> <avatar id>` lines (hex, with or without `:`, any case;
   * `#` comments), reloaded when it changes: removing a line revokes that certificate at the next login.
   */
  readonly pins?: string
}

/** The pin file: avatar ids by fingerprint (lower-case hex, no separators). */
type Pins = ReadonlyMap<string, string>

/** Reads a pin file: `<fingerprint> <avatar id>` lines. */
export function parsePins (text: string): ParseOutcome<Pins> {
  const pins = new Map<string, string>()
  const warnings: string[] = []
  for (const { number, line } of apacheLines(text)) {
    if (line === '' || line.startsWith('#')) continue
    const match = /^([0-9A-Fa-f:]+)\s+(\S.*)$/.exec(line)
    if (match === null) return { ok: false, line: number, problem: 'expected "<SHA-256 fingerprint> <avatar id>"' }
    const fingerprint = (match[1] as string).replaceAll(':', '').toLowerCase()
    if (!/^[0-9a-f]{64}$/.test(fingerprint)) return { ok: false, line: number, problem: 'the fingerprint is not 32 bytes of hex (SHA-256)' }
    if (pins.has(fingerprint)) {
      warnings.push(`line ${number}: this fingerprint is listed again; the first line is used`)
      continue
    }
    pins.set(fingerprint, match[2] as string)
  }
  return { ok: true, value: pins, warnings }
}

const closed = (): StoreUnavailable => new StoreUnavailable('ClientCertChecker is closed')
const NOT_ACCEPTED = 'The client certificate is not accepted'

/**
 * Maps a verified client certificate (`IClientCertificate`, from `ClientCertScheme`) to an avatar id: by the
 * subject's CN, by a subject alternative name (email, DNS, URI), or through a file of pinned SHA-256 fingerprints.
 * The chain was verified before the certificate became credentials; the checker also refuses one outside its
 * validity period (a proxy may forward what it should not have).
 *
 * - With `'cn'` and the SAN kinds, every certificate your CA signs is a user: revoke by not renewing (keep them
 *   short-lived), or through the realm. With `'fingerprint'`, removing a line revokes at once (the file is looked
 *   at every `checkInterval` ms, default 1000).
 * - A certificate that names no user, or several (two CNs, two email SANs), is refused.
 *
 * @example
 * import { ClientCertChecker } from 'fastify-cred/checkers'
 * const byName = new ClientCertChecker({ by: 'cn' })
 * const pinned = new ClientCertChecker({ by: 'fingerprint', pins: '/etc/app/client-pins' })
 * @throws InvalidOption for an unknown `by`, `pins` missing (or given without `'fingerprint'`), a pin file missing or malformed
 */
export class ClientCertChecker implements CredentialsChecker<IClientCertificate>, ReloadingChecker {
  static readonly credentialInterfaces: readonly Interface<IClientCertificate>[] = Object.freeze([IClientCertificate])
  readonly credentialInterfaces: readonly Interface<IClientCertificate>[] = ClientCertChecker.credentialInterfaces
  readonly by: CertificateIdentity
  readonly #pins: WatchedFile<Pins> | undefined
  #closed = false

  constructor (options: ClientCertCheckerOptions) {
    if (options === null || typeof options !== 'object') throw new InvalidOption('ClientCertChecker needs options: { by: \'cn\' | \'email\' | \'dns\' | \'uri\' | \'fingerprint\' }')
    const { by, pins } = options
    if (!CERTIFICATE_IDENTITIES.includes(by)) throw new InvalidOption(`ClientCertChecker: \`by\` must be one of ${CERTIFICATE_IDENTITIES.join(', ')}; got ${JSON.stringify(by)}`)
    if (by === 'fingerprint' && (typeof pins !== 'string' || pins === '')) throw new InvalidOption('ClientCertChecker: `by: \'fingerprint\'` needs `pins`, the path of the pin file')
    if (by !== 'fingerprint' && pins !== undefined) throw new InvalidOption('ClientCertChecker: `pins` is read only with `by: \'fingerprint\'`')
    this.by = by
    this.#pins = pins === undefined ? undefined : new WatchedFile('ClientCertChecker', pins, parsePins, options)
  }

  onReload (listener: () => void): () => void {
    return this.#pins?.onReload(listener) ?? (() => {})
  }

  refreshIfDue (): Promise<void> | undefined {
    return this.#pins?.refreshIfDue()
  }

  requestAvatarId (credentials: IClientCertificate): string | Promise<string> {
    if (this.#closed) return Promise.reject(closed())
    const pending = this.#pins?.refreshIfDue()
    return pending === undefined ? this.#check(credentials) : pending.then(() => this.#check(credentials))
  }

  /** Stops looking at the pin file; afterwards every login rejects with `StoreUnavailable`. Idempotent. */
  async close (): Promise<void> {
    this.#closed = true
    this.#pins?.close()
  }

  #check (credentials: IClientCertificate): string {
    if (this.#closed) throw closed()
    const now = Date.now()
    if (!(now >= credentials.validFrom.getTime() && now <= credentials.validTo.getTime())) {
      throw new UnauthorizedLogin('The client certificate is outside its validity period')
    }
    let id: string | undefined
    switch (this.by) {
      case 'fingerprint': id = this.#pins?.value.get(credentials.fingerprint256); break
      case 'cn': id = only(credentials.commonNames); break
      default: id = only(credentials.altNames[this.by])
    }
    if (id === undefined || id === '') throw new UnauthorizedLogin(NOT_ACCEPTED)
    return id
  }
}

/** The one value of a list; `undefined` for none or several (a certificate naming two users names none). */
const only = (values: readonly string[]): string | undefined => values.length === 1 ? values[0] : undefined
