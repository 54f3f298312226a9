import { X509Certificate } from 'node:crypto'
import { MalformedCredentials } from '../errors.js'
import { defineInterface } from '../interfaces.js'
import type { Interface } from '../interfaces.js'
import type { Credentials } from './credentials.js'

/** Who verified a client certificate's chain before it became credentials. */
export type CertificateVerifier = 'tls' | 'proxy'

/** The subject alternative names of a certificate that can name a user. */
export interface CertificateAltNames {
  readonly email: readonly string[]
  readonly dns: readonly string[]
  readonly uri: readonly string[]
}

/**
 * A client certificate whose chain was verified before it got here (by the TLS handshake, or by a TLS proxy the
 * server trusts): what a checker maps to a user. The certificate is public; holding it proves nothing on its own,
 * which is why only a verified one becomes credentials.
 */
export interface IClientCertificate extends Credentials {
  /** The certificate, DER-encoded. */
  readonly der: Uint8Array
  /** SHA-256 of `der`, lower-case hex without separators. */
  readonly fingerprint256: string
  /** The subject's common names (`CN`), in the order the certificate lists them; usually one. */
  readonly commonNames: readonly string[]
  readonly altNames: CertificateAltNames
  readonly serialNumber: string
  readonly validFrom: Date
  readonly validTo: Date
  /** `'tls'`: this server's TLS handshake; `'proxy'`: a trusted proxy's forwarded-certificate header. */
  readonly verifiedBy: CertificateVerifier
}
/** The run-time token of `IClientCertificate`: checkers list it in `credentialInterfaces` to say they check these credentials. */
export const IClientCertificate = defineInterface<IClientCertificate>('IClientCertificate')

/**
 * Client certificate credentials, parsed once from DER (Node's `X509Certificate`).
 *
 * @example
 * import { ClientCertificate } from 'fastify-cred/cred'
 * const credentials = new ClientCertificate(socket.getPeerCertificate().raw, 'tls')
 * credentials.commonNames // ['alice']
 * @throws MalformedCredentials when `der` is no certificate
 */
export class ClientCertificate implements IClientCertificate {
  static readonly provides = Object.freeze([IClientCertificate])
  readonly der: Uint8Array
  readonly fingerprint256: string
  readonly commonNames: readonly string[]
  readonly altNames: CertificateAltNames
  readonly serialNumber: string
  readonly validFrom: Date
  readonly validTo: Date
  readonly verifiedBy: CertificateVerifier

  constructor (der: Uint8Array, verifiedBy: CertificateVerifier) {
    let x509: X509Certificate
    try {
      x509 = new X509Certificate(der)
    } catch (err) {
      throw new MalformedCredentials('The client certificate cannot be parsed', { cause: err })
    }
    this.der = Uint8Array.from(der)
    this.fingerprint256 = x509.fingerprint256.replaceAll(':', '').toLowerCase()
    this.commonNames = Object.freeze(distinguishedNameValues(x509.subject, 'CN'))
    this.altNames = Object.freeze(parseAltNames(x509.subjectAltName))
    this.serialNumber = x509.serialNumber
    this.validFrom = new Date(x509.validFrom)
    this.validTo = new Date(x509.validTo)
    this.verifiedBy = verifiedBy
  }

  /** The credential interfaces these credentials provide (the class's static `provides`): the portal picks the checker by them. */
  get provides (): readonly Interface<unknown>[] { return ClientCertificate.provides }

  /** Whether `at` lies within the certificate's validity period. */
  isValidAt (at: Date = new Date()): boolean {
    return at.getTime() >= this.validFrom.getTime() && at.getTime() <= this.validTo.getTime()
  }

  /** What a log may show of the certificate: names, fingerprint and who verified it, never the raw certificate. */
  toJSON (): { commonNames: readonly string[], fingerprint256: string, verifiedBy: CertificateVerifier } {
    return { commonNames: this.commonNames, fingerprint256: this.fingerprint256, verifiedBy: this.verifiedBy }
  }
}

/**
 * The values of attribute `key` in Node's rendering of a distinguished name: one `KEY=value` per line, a value with
 * special characters written as a JSON string (Node ≥ 17.3.1 escapes them so a CN cannot forge another line).
 */
function distinguishedNameValues (dn: string | undefined, key: string): string[] {
  const values: string[] = []
  for (const line of (dn ?? '').split('\n')) {
    const equals = line.indexOf('=')
    if (equals < 0 || line.slice(0, equals) !== key) continue
    const value = unquote(line.slice(equals + 1))
    if (value !== undefined) values.push(value)
  }
  return values
}

/** Node's `subjectAltName`: `DNS:a, email:b, URI:"c,d"`, values with special characters as JSON strings. */
function parseAltNames (text: string | undefined): CertificateAltNames {
  const names = { email: [] as string[], dns: [] as string[], uri: [] as string[] }
  const input = text ?? ''
  let at = 0
  while (at < input.length) {
    const colon = input.indexOf(':', at)
    if (colon < 0) break
    const type = input.slice(at, colon)
    let value: string | undefined
    let end: number
    if (input[colon + 1] === '"') {
      end = closingQuote(input, colon + 2)
      value = unquote(input.slice(colon + 1, end + 1))
      end = end + 1
    } else {
      end = input.indexOf(', ', colon + 1)
      if (end < 0) end = input.length
      value = input.slice(colon + 1, end)
    }
    if (value !== undefined) {
      if (type === 'email') names.email.push(value)
      else if (type === 'DNS') names.dns.push(value)
      else if (type === 'URI') names.uri.push(value)
    }
    at = input.startsWith(', ', end) ? end + 2 : end + 1
  }
  return { email: Object.freeze(names.email), dns: Object.freeze(names.dns), uri: Object.freeze(names.uri) }
}

function closingQuote (input: string, from: number): number {
  for (let i = from; i < input.length; i++) {
    if (input[i] === '\\') i++
    else if (input[i] === '"') return i
  }
  return input.length - 1
}

function unquote (value: string): string | undefined {
  if (!value.startsWith('"')) return value
  try {
    const parsed: unknown = JSON.parse(value)
    return typeof parsed === 'string' ? parsed : undefined
  } catch {
    return undefined
  }
}
