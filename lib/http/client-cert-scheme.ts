import { BlockList, isIP } from 'node:net'
import { ClientCertificate, InvalidOption, MalformedCredentials, UnauthorizedLogin } from '../cred/index.js'
import { forwardedCertificate } from './client-cert.js'
import type { ForwardedCertFormat } from './client-cert.js'
import type { HttpAuthScheme, HttpRequestWithHeaders } from './scheme.js'

/** A TLS proxy in front of the server that verifies client certificates and forwards them in a header. */
export interface ForwardedCertOptions {
  /**
   * The proxies' addresses (`10.0.0.5`, `::1`) or ranges (`10.0.0.0/8`): the header is read only on a connection
   * whose peer (`socket.remoteAddress`, not `request.ip`) is one of them. Required, never empty.
   */
  readonly proxies: readonly string[]
  /**
   * The header, lower-case. Default `'x-ssl-client-cert'` (nginx: `proxy_set_header X-SSL-Client-Cert
   * $ssl_client_escaped_cert`); `'x-forwarded-client-cert'` is Envoy's XFCC.
   */
  readonly header?: string
  /** How the header is written. Default: `'xfcc'` for `x-forwarded-client-cert`, else `'pem'` (URL-encoded or not). */
  readonly format?: ForwardedCertFormat
}

/** Options of `ClientCertScheme`: the TLS connection's certificate, or a trusted TLS proxy's forwarded header. */
export interface ClientCertSchemeOptions {
  /** Read the certificate of the TLS connection (`getPeerCertificate()`), when the server terminates TLS. Default `true`. */
  readonly tls?: boolean
  /** Also read a trusted proxy's forwarded-certificate header. Default: no header is read. */
  readonly forwarded?: ForwardedCertOptions
  /**
   * Where a forwarded-certificate header from an address not in `proxies` is reported (it is ignored). Default: the
   * request's `log.warn` (a Fastify request has one), else `process.emitWarning`.
   */
  readonly onUntrustedHeader?: (message: string) => void
}

/**
 * Client certificates (mutual TLS) as a scheme: the certificate the client presented, as `ClientCertificate`
 * credentials, read from the connection rather than from `Authorization`. Only a certificate whose chain verified
 * counts: the TLS handshake's (`authorized`; start the server with `requestCert: true, rejectUnauthorized: false`
 * and your CA as `ca`), or, when configured with its addresses, a TLS proxy's forwarded header. A certificate
 * that did not verify (another CA, expired) is refused with 401, never ignored; a request with no certificate goes
 * on to the other schemes (or anonymous access) as a request without `Authorization` does. It sends no challenge:
 * HTTP has no scheme name for a certificate.
 *
 * @example
 * import { ClientCertScheme } from 'fastify-cred/http'
 * import { ClientCertChecker } from 'fastify-cred/checkers'
 * const app = Fastify({ https: { key, cert, ca, requestCert: true, rejectUnauthorized: false } })
 * await app.register(cred, { realm, checkers: [new ClientCertChecker({ by: 'cn' }), users], schemes: [new ClientCertScheme(), 'basic'], interfaces: [IUser] })
 * @throws InvalidOption for a `forwarded` without proxies, or a proxy that is no address or range
 */
export class ClientCertScheme implements HttpAuthScheme {
  readonly name = 'client-cert'
  readonly #tls: boolean
  readonly #proxies: BlockList | undefined
  readonly #header: string | undefined
  readonly #format: ForwardedCertFormat
  readonly #onUntrustedHeader: ((message: string) => void) | undefined

  constructor (options: ClientCertSchemeOptions = {}) {
    if (options === null || typeof options !== 'object') throw new InvalidOption('ClientCertScheme: options must be an object')
    this.#tls = options.tls ?? true
    if (typeof this.#tls !== 'boolean') throw new InvalidOption('ClientCertScheme: `tls` must be true or false')
    if (options.onUntrustedHeader !== undefined && typeof options.onUntrustedHeader !== 'function') throw new InvalidOption('ClientCertScheme: `onUntrustedHeader` must be a function')
    this.#onUntrustedHeader = options.onUntrustedHeader
    const forwarded = options.forwarded
    this.#format = 'pem'
    if (forwarded !== undefined) {
      if (!Array.isArray(forwarded.proxies) || forwarded.proxies.length === 0) {
        throw new InvalidOption('ClientCertScheme: `forwarded.proxies` must list the addresses of the TLS proxies whose header is trusted')
      }
      this.#proxies = addressList(forwarded.proxies)
      const header = forwarded.header ?? 'x-ssl-client-cert'
      if (typeof header !== 'string' || !/^[a-z0-9-]+$/.test(header)) throw new InvalidOption('ClientCertScheme: `forwarded.header` must be a lower-case header name')
      this.#header = header
      const format = forwarded.format ?? (header === 'x-forwarded-client-cert' ? 'xfcc' : 'pem')
      if (format !== 'pem' && format !== 'xfcc') throw new InvalidOption('ClientCertScheme: `forwarded.format` must be \'pem\' or \'xfcc\'')
      this.#format = format
    } else if (!this.#tls) {
      throw new InvalidOption('ClientCertScheme: with `tls: false`, `forwarded` must say which proxy header to read')
    }
  }

  challenges (): readonly string[] {
    return NO_CHALLENGES
  }

  credentials (): never {
    throw new MalformedCredentials('A client certificate is not sent in Authorization')
  }

  connectionCredentials (request: HttpRequestWithHeaders): ClientCertificate | undefined {
    const socket = request.socket
    const header = this.#header === undefined ? undefined : request.headers[this.#header]
    if (header !== undefined && header !== '') {
      const peer = socket?.remoteAddress
      if (peer !== undefined && this.#proxies !== undefined && isListed(this.#proxies, peer)) {
        if (typeof header !== 'string') throw new MalformedCredentials('More than one forwarded client certificate header')
        return new ClientCertificate(forwardedCertificate(header, this.#format), 'proxy')
      }
      this.#untrusted(request, `fastify-cred: ignored a ${String(this.#header)} header from ${String(peer)}, which is not a trusted proxy`)
    }
    if (!this.#tls || socket === undefined || typeof socket.getPeerCertificate !== 'function') return undefined
    const raw = (socket.getPeerCertificate() as { raw?: unknown }).raw
    if (!(raw instanceof Uint8Array)) return undefined
    if (socket.authorized !== true) {
      const reason = socket.authorizationError
      throw new UnauthorizedLogin(`The client certificate was not verified (${reason instanceof Error ? reason.message : String(reason ?? 'unknown reason')})`)
    }
    return new ClientCertificate(raw, 'tls')
  }

  #untrusted (request: HttpRequestWithHeaders, message: string): void {
    if (this.#onUntrustedHeader !== undefined) return this.#onUntrustedHeader(message)
    const log = (request as { log?: { warn?: unknown } }).log
    if (typeof log?.warn === 'function') (log.warn as (message: string) => void).call(log, message)
    else process.emitWarning(message, { code: 'FASTIFY_CRED_UNTRUSTED_PROXY' })
  }
}

const NO_CHALLENGES: readonly string[] = Object.freeze([])

/** `10.0.0.5`, `::1`, `10.0.0.0/8` → a `BlockList` that says whether an address is one of them. */
function addressList (entries: readonly string[]): BlockList {
  const list = new BlockList()
  for (const entry of entries) {
    const [address = '', prefix, extra] = typeof entry === 'string' ? entry.split('/') : []
    const family = isIP(address)
    const bits = prefix === undefined ? undefined : Number(prefix)
    const max = family === 6 ? 128 : 32
    if (family === 0 || extra !== undefined || (bits !== undefined && !(Number.isInteger(bits) && bits >= 0 && bits <= max && /^\d+$/.test(prefix ?? '')))) {
      throw new InvalidOption(`ClientCertScheme: ${JSON.stringify(entry)} in \`forwarded.proxies\` is no IP address or range (10.0.0.5, 10.0.0.0/8, ::1)`)
    }
    const type = family === 6 ? 'ipv6' : 'ipv4'
    if (bits === undefined) list.addAddress(address, type)
    else list.addSubnet(address, bits, type)
  }
  return list
}

/** Whether `address` is in `list`; an IPv4 address written IPv6-mapped (`::ffff:127.0.0.1`) counts as IPv4. */
function isListed (list: BlockList, address: string): boolean {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1]
  if (mapped !== undefined) return list.check(mapped, 'ipv4')
  const family = isIP(address)
  return family !== 0 && list.check(address, family === 6 ? 'ipv6' : 'ipv4')
}
