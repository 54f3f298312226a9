import { execFile } from 'node:child_process'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { needProgram } from './binaries.js'

const run = promisify(execFile)

/** The `openssl` program, or a skip naming the Debian package. */
export const openssl = needProgram('openssl', 'openssl')

/** A certificate authority made by `openssl` in a test's folder. */
export interface TestCa {
  readonly dir: string
  readonly cert: string
  readonly key: string
  /** The CA certificate, PEM. */
  readonly pem: string
}

/** A key and certificate (PEM files) signed by a test CA. */
export interface TestCert {
  readonly cert: string
  readonly key: string
  readonly pem: string
}

const CA_CONFIG = (dir: string): string => `[ca]
default_ca = test_ca
[test_ca]
database = ${dir}/index.txt
new_certs_dir = ${dir}/issued
serial = ${dir}/serial
default_md = sha256
policy = anything
copy_extensions = copy
unique_subject = no
[anything]
commonName = optional
emailAddress = optional
`

/**
 * A self-signed CA (EC P-256) in `dir`, with `openssl ca`'s bookkeeping so it can sign certificates with any
 * validity period (OpenSSL 3.0's `x509 -req` cannot backdate).
 */
export async function makeCa (dir: string, name: string): Promise<TestCa> {
  const path = openssl.path as string
  await mkdir(join(dir, 'issued'), { recursive: true })
  await writeFile(join(dir, 'index.txt'), '')
  await writeFile(join(dir, 'serial'), '1000\n')
  await writeFile(join(dir, 'ca.cnf'), CA_CONFIG(dir))
  const key = join(dir, 'ca.key')
  const cert = join(dir, 'ca.pem')
  await run(path, ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', cert,
    '-days', '30', '-subj', `/CN=${name}`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'])
  return { dir, cert, key, pem: await readFile(cert, 'utf8') }
}

/**
 * A certificate for `subject` (`/CN=alice`) signed by `ca`, with `subjectAltName` when given (`email:a@b,DNS:x`),
 * valid from `start` to `end` (openssl's `YYYYMMDDHHMMSSZ`; default: from yesterday for 30 days).
 */
export async function makeCert (ca: TestCa, name: string, subject: string, options: { altNames?: string, start?: string, end?: string, server?: boolean } = {}): Promise<TestCert> {
  const path = openssl.path as string
  const key = join(ca.dir, `${name}.key`)
  const csr = join(ca.dir, `${name}.csr`)
  const cert = join(ca.dir, `${name}.pem`)
  const extensions = [
    ...(options.altNames === undefined ? [] : ['-addext', `subjectAltName=${options.altNames}`]),
    '-addext', `extendedKeyUsage=${options.server === true ? 'serverAuth' : 'clientAuth'}`
  ]
  await run(path, ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', csr, '-subj', subject, ...extensions])
  const day = 24 * 3600 * 1000
  const start = options.start ?? openSslTime(new Date(Date.now() - day))
  const end = options.end ?? openSslTime(new Date(Date.now() + 30 * day))
  await run(path, ['ca', '-batch', '-notext', '-config', join(ca.dir, 'ca.cnf'), '-cert', ca.cert, '-keyfile', ca.key, '-in', csr, '-out', cert,
    '-startdate', start, '-enddate', end])
  return { cert, key, pem: await readFile(cert, 'utf8') }
}

/** `YYYYMMDDHHMMSSZ`, as `openssl ca -startdate` takes it. */
export const openSslTime = (date: Date): string => date.toISOString().replace(/[-:T]/g, '').slice(0, 14) + 'Z'
