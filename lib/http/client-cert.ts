import { MalformedCredentials } from '../cred/index.js'

/**
 * The forwarded-certificate headers of TLS proxies. `'pem'`: nginx's (`proxy_set_header X-SSL-Client-Cert
 * $ssl_client_escaped_cert`, a URL-encoded PEM) or HAProxy's (`%[ssl_c_der,base64]`, a bare base64 DER). `'xfcc'`:
 * Envoy's `X-Forwarded-Client-Cert` (elements of `key=value` pairs, the certificate in `Cert="<URL-encoded PEM>"`).
 */
export type ForwardedCertFormat = 'pem' | 'xfcc'

/** The longest forwarded-certificate header read: a certificate chain of a few kilobytes fits many times over. */
export const MAX_FORWARDED_CERT_LENGTH = 64 * 1024

const PEM = /-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]+)-----END CERTIFICATE-----/

/**
 * The DER bytes of the first certificate in a PEM text (URL-encoded or not, line breaks as newlines, spaces or
 * tabs, as proxies write it), or of a bare base64 DER.
 *
 * @throws MalformedCredentials when no certificate can be read from it
 * @example
 * pemCertificateToDer(decodeURIComponent(header))
 */
export function pemCertificateToDer (text: string): Uint8Array {
  let pem = text
  if (pem.includes('%')) {
    try {
      pem = decodeURIComponent(pem)
    } catch {
      throw new MalformedCredentials('The forwarded client certificate is not valid URL encoding')
    }
  }
  // No PEM armour: a bare base64 DER, as HAProxy's `%[ssl_c_der,base64]` writes it.
  const body = (pem.includes('-----') ? PEM.exec(pem)?.[1] : pem)?.replace(/\s+/g, '')
  if (body === undefined || body === '' || body.length % 4 !== 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(body)) throw new MalformedCredentials('The forwarded client certificate is not a PEM certificate')
  return Buffer.from(body, 'base64')
}

/**
 * The client certificate a proxy forwarded, as DER: for `'pem'` the header is the (URL-encoded) PEM; for `'xfcc'`
 * the `Cert` of the **last** element, the one the nearest proxy (the trusted one) added.
 *
 * @throws MalformedCredentials for a value that holds no readable certificate
 * @example
 * forwardedCertificate('By=spiffe://a;Hash=…;Cert="-----BEGIN%20CERTIFICATE-----%0A…"', 'xfcc')
 */
export function forwardedCertificate (value: string, format: ForwardedCertFormat): Uint8Array {
  if (value.length > MAX_FORWARDED_CERT_LENGTH) throw new MalformedCredentials('The forwarded client certificate header is too long')
  if (format === 'pem') return pemCertificateToDer(value)
  const elements = parseXfcc(value)
  const cert = elements[elements.length - 1]?.get('cert')
  if (cert === undefined) throw new MalformedCredentials('The X-Forwarded-Client-Cert header carries no Cert field')
  return pemCertificateToDer(cert)
}

/**
 * Envoy's `X-Forwarded-Client-Cert`: elements separated by `,`, each `key=value` pairs separated by `;`, a value
 * possibly in double quotes (with `\"` inside). Keys are returned lower-case.
 *
 * @throws MalformedCredentials for an unterminated quote or a pair without `=`
 */
export function parseXfcc (value: string): Array<Map<string, string>> {
  const elements: Array<Map<string, string>> = []
  let pairs = new Map<string, string>()
  let at = 0
  while (at <= value.length) {
    const equals = value.indexOf('=', at)
    if (equals < 0) throw new MalformedCredentials('Malformed X-Forwarded-Client-Cert header')
    const key = value.slice(at, equals).trim().toLowerCase()
    if (key === '' || /[;,"]/.test(key)) throw new MalformedCredentials('Malformed X-Forwarded-Client-Cert header')
    let end = equals + 1
    let field = ''
    if (value[end] === '"') {
      end++
      for (; end < value.length && value[end] !== '"'; end++) {
        if (value[end] === '\\' && end + 1 < value.length) end++
        field += value[end]
      }
      if (end >= value.length) throw new MalformedCredentials('Malformed X-Forwarded-Client-Cert header: unterminated quote')
      end++
    } else {
      while (end < value.length && value[end] !== ';' && value[end] !== ',') field += value[end++]
    }
    pairs.set(key, field)
    if (end >= value.length) break
    if (value[end] === ',') {
      elements.push(pairs)
      pairs = new Map()
    } else if (value[end] !== ';') {
      throw new MalformedCredentials('Malformed X-Forwarded-Client-Cert header')
    }
    at = end + 1
  }
  elements.push(pairs)
  return elements
}
