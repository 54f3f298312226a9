import { execFile, spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { needProgram } from './binaries.js'
import { freePort } from './private-server.js'

const run = promisify(execFile)

/** slapd and its tools, or why the LDAP tests are skipped (Debian packages slapd, ldap-utils, openssl). */
export const slapdProgram = needProgram('slapd', 'slapd')
export const slapaddProgram = needProgram('slapadd', 'slapd')
export const slappasswdProgram = needProgram('slappasswd', 'slapd')
export const ldapaddProgram = needProgram('ldapadd', 'ldap-utils')
export const opensslProgram = needProgram('openssl', 'openssl')
/** The first reason to skip, or false when every program is there. */
export const slapdSkip: string | false =
  [slapdProgram, slapaddProgram, slappasswdProgram, ldapaddProgram, opensslProgram].map((p) => p.skip).find((s) => s !== false) ?? false

export const SUFFIX = 'dc=example,dc=org'
export const PEOPLE = `ou=people,${SUFFIX}`
export const GROUPS = `ou=groups,${SUFFIX}`
export const ROOT_DN = `cn=admin,${SUFFIX}`
/** The service account a search-then-bind checker binds as: it may read entries, not passwords. */
export const READER_DN = `cn=reader,${SUFFIX}`

export interface LdapTestUser {
  /** The `uid`, also the RDN value (escaped into the DN by the helper). */
  readonly uid: string
  readonly password: string
  readonly cn?: string
  readonly mail?: string
}

export interface LdapTestGroup {
  readonly cn: string
  /** uids of the members. */
  readonly members: readonly string[]
}

/** What a test needs of the slapd it owns. */
export interface PrivateSlapd {
  readonly host: '127.0.0.1'
  /** Plain LDAP (StartTLS available) on `ldap://127.0.0.1:port`. */
  readonly url: string
  /** LDAP over TLS on `ldaps://127.0.0.1:tlsPort`. */
  readonly ldapsUrl: string
  /** The PEM of the self-signed certificate slapd presents (SAN IP:127.0.0.1): the CA to trust. */
  readonly ca: string
  readonly rootPassword: string
  readonly readerPassword: string
  /** The DN of a user loaded at start, per RFC 4514 (what slapd answers). */
  dnOf (uid: string): string
  /** slapd's stats log (loglevel 256) since the server was (re)started. */
  log (): string
  /**
   * The simple binds slapd received since `mark` (an index into `log()`), as `{ dn, err }`, in order. Waits until
   * slapd's log has been quiet for a moment and every bind has its result (the log arrives through a pipe, a little
   * after the answers).
   */
  bindsSince (mark: number): Promise<Array<{ dn: string, err: number | undefined }>>
  /** `log()` once it has been quiet for a moment: what slapd logged for the requests already answered. */
  settledLog (): Promise<string>
  /** Stops the server (SIGTERM, SIGKILL when paused) and waits until it has exited. The data stays. */
  stop (): Promise<void>
  /** Starts it again on the same ports and data, and waits until it answers. */
  start (): Promise<void>
  /** Freezes the process (SIGSTOP) and waits until the kernel shows it stopped: connections stay open, requests get no answer. */
  pause (): Promise<void>
  resume (): void
}

interface Teardownable {
  teardown (fn: () => void | Promise<void>): void
}


/** True once something accepts TCP connections on the port (slapd opens its listeners when it is ready). */
const accepts = async (port: number): Promise<boolean> => await new Promise((resolve) => {
  const socket = connect({ host: '127.0.0.1', port })
  const done = (ok: boolean): void => { socket.destroy(); resolve(ok) }
  socket.setTimeout(500, () => done(false))
  socket.once('error', () => done(false))
  socket.once('connect', () => done(true))
})

/** RFC 4514 escaping of an RDN value, for the LDIF the helper writes (kept apart from the code under test). */
const rdnValue = (value: string): string => value
  .replace(/[\\"+,;<>=]/g, (c) => `\\${c}`)
  .replace(/^[ #]/, (c) => `\\${c}`)
  .replace(/ $/, '\\ ')

/** An LDIF line, base64 (`attr:: …`) when the value is not safe as is (RFC 2849 SAFE-STRING). */
const ldifLine = (attribute: string, value: string): string =>
  /^[\x01-\x09\x0b-\x0c\x0e-\x1f\x21-\x39\x3b\x3d-\x7f][\x01-\x09\x0b-\x0c\x0e-\x7f]*$/.test(value) && !value.endsWith(' ')
    ? `${attribute}: ${value}`
    : `${attribute}:: ${Buffer.from(value, 'utf8').toString('base64')}`

const live = new Set<ChildProcess>()
process.once('exit', () => { for (const child of live) child.kill('SIGKILL') })

/**
 * Starts a private slapd (OpenLDAP) for one test file: 127.0.0.1, two free ports (ldap:// with StartTLS and
 * ldaps://), a temp dir with an mdb database, a self-signed certificate made by `openssl` (SAN IP:127.0.0.1), the
 * users loaded with `slapadd` (`{SSHA}` passwords from `slappasswd`) and the groups added online with `ldapadd` (so
 * the memberof overlay fills `memberOf`). Killed and removed in `t.teardown`.
 *
 * ACLs: anonymous may only bind; bound users read everything but passwords. The service account is `READER_DN`.
 *
 * @example
 * import t from 'tap'
 * import { slapdSkip, startSlapd } from './helpers/slapd.js'
 * if (slapdSkip !== false) t.plan(0, slapdSkip)
 * else {
 *   const slapd = await startSlapd(t, { users: [{ uid: 'alice', password: 'wonderland' }] })
 *   // new LdapChecker({ url: slapd.url, ... }); await slapd.stop(); await slapd.start()
 * }
 */
export async function startSlapd (t: Teardownable, options: { users: readonly LdapTestUser[], groups?: readonly LdapTestGroup[] }): Promise<PrivateSlapd> {
  if (slapdSkip !== false) throw new Error(slapdSkip)
  const dir = await mkdtemp(join(tmpdir(), 'fastify-cred-slapd-'))
  const rootPassword = 'root-secret'
  const readerPassword = 'reader-secret'
  let child: ChildProcess | undefined
  let paused = false
  let port = 0
  let tlsPort = 0
  let output = ''

  const stop = async (): Promise<void> => {
    const proc = child
    child = undefined
    if (proc === undefined || proc.exitCode !== null || proc.signalCode !== null) return
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()))
    proc.kill(paused ? 'SIGKILL' : 'SIGTERM')
    paused = false
    await exited
  }
  t.teardown(async () => {
    await stop()
    await rm(dir, { recursive: true, force: true })
  })

  await run(opensslProgram.path as string, [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
    '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-subj', '/CN=127.0.0.1',
    '-addext', 'subjectAltName=IP:127.0.0.1'
  ])
  const ca = await readFile(join(dir, 'cert.pem'), 'utf8')

  await mkdir(join(dir, 'db'))
  await writeFile(join(dir, 'slapd.conf'), [
    ...['core', 'cosine', 'nis', 'inetorgperson'].map((s) => `include /etc/ldap/schema/${s}.schema`),
    'modulepath /usr/lib/ldap',
    'moduleload back_mdb',
    'moduleload memberof',
    `pidfile ${join(dir, 'slapd.pid')}`,
    `argsfile ${join(dir, 'slapd.args')}`,
    `TLSCertificateFile ${join(dir, 'cert.pem')}`,
    `TLSCertificateKeyFile ${join(dir, 'key.pem')}`,
    'database mdb',
    'maxsize 16777216',
    `suffix "${SUFFIX}"`,
    `rootdn "${ROOT_DN}"`,
    `rootpw ${rootPassword}`,
    `directory ${join(dir, 'db')}`,
    'overlay memberof',
    'access to attrs=userPassword by self write by anonymous auth by * none',
    'access to * by users read by * none',
    ''
  ].join('\n'))

  const ssha = async (password: string): Promise<string> =>
    (await run(slappasswdProgram.path as string, ['-h', '{SSHA}', '-s', password], { encoding: 'utf8' })).stdout.trim()
  const dnOf = (uid: string): string => `uid=${rdnValue(uid)},${PEOPLE}`

  const entries: string[] = [
    [`dn: ${SUFFIX}`, 'objectClass: dcObject', 'objectClass: organization', 'o: Example', 'dc: example'].join('\n'),
    [`dn: ${PEOPLE}`, 'objectClass: organizationalUnit', 'ou: people'].join('\n'),
    [`dn: ${GROUPS}`, 'objectClass: organizationalUnit', 'ou: groups'].join('\n'),
    [`dn: ${READER_DN}`, 'objectClass: organizationalRole', 'objectClass: simpleSecurityObject', 'cn: reader',
      `userPassword: ${await ssha(readerPassword)}`].join('\n')
  ]
  for (const user of options.users) {
    entries.push([
      ldifLine('dn', dnOf(user.uid)), 'objectClass: inetOrgPerson', ldifLine('uid', user.uid),
      ldifLine('cn', user.cn ?? user.uid), ldifLine('sn', user.cn ?? user.uid),
      ...(user.mail === undefined ? [] : [ldifLine('mail', user.mail)]),
      `userPassword: ${await ssha(user.password)}`
    ].join('\n'))
  }
  await writeFile(join(dir, 'data.ldif'), entries.join('\n\n') + '\n')
  await run(slapaddProgram.path as string, ['-q', '-f', join(dir, 'slapd.conf'), '-l', join(dir, 'data.ldif')])

  const launch = async (): Promise<boolean> => {
    output = ''
    const proc = spawn(slapdProgram.path as string, [
      '-f', join(dir, 'slapd.conf'), '-h', `ldap://127.0.0.1:${port}/ ldaps://127.0.0.1:${tlsPort}/`, '-d', '256'
    ], { stdio: ['ignore', 'ignore', 'pipe'] })
    proc.stderr?.on('data', (chunk: Buffer) => { output += chunk.toString('utf8') })
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()))
    live.add(proc)
    void exited.then(() => live.delete(proc))
    child = proc
    const deadline = Date.now() + 10_000
    while (Date.now() < deadline) {
      if (proc.exitCode !== null || proc.signalCode !== null) return false
      if (await accepts(port) && await accepts(tlsPort)) return true
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    proc.kill('SIGKILL')
    await exited
    throw new Error(`slapd did not listen on ports ${port}/${tlsPort} within 10 s: ${output}`)
  }

  for (let attempt = 0; ; attempt++) {
    port = await freePort()
    tlsPort = await freePort()
    if (port !== tlsPort && await launch()) break
    if (attempt === 4) throw new Error(`slapd would not start: ${output}`)
  }

  if (options.groups !== undefined && options.groups.length > 0) {
    const ldif = options.groups.map((group) => [
      ldifLine('dn', `cn=${rdnValue(group.cn)},${GROUPS}`), 'objectClass: groupOfNames', ldifLine('cn', group.cn),
      ...group.members.map((uid) => ldifLine('member', dnOf(uid)))
    ].join('\n')).join('\n\n') + '\n'
    await writeFile(join(dir, 'groups.ldif'), ldif)
    await run(ldapaddProgram.path as string, ['-x', '-H', `ldap://127.0.0.1:${port}`, '-D', ROOT_DN, '-w', rootPassword, '-f', join(dir, 'groups.ldif')])
  }

  const log = (): string => output
  const settledLog = async (): Promise<string> => {
    let seen = -1
    const deadline = Date.now() + 2000
    while (seen !== output.length && Date.now() < deadline) {
      seen = output.length
      await new Promise((resolve) => setTimeout(resolve, 25))
    }
    return output
  }
  return {
    host: '127.0.0.1',
    get url () { return `ldap://127.0.0.1:${port}` },
    get ldapsUrl () { return `ldaps://127.0.0.1:${tlsPort}` },
    ca,
    rootPassword,
    readerPassword,
    dnOf,
    log,
    settledLog,
    bindsSince: async (mark) => {
      await settledLog()
      // "conn=1001 op=0 BIND dn="…" method=128" … "conn=1001 op=0 RESULT tag=97 err=49 …"
      const binds: Array<{ op: string, dn: string, err: number | undefined }> = []
      for (const line of output.slice(mark).split('\n')) {
        const bind = / (conn=\d+ op=\d+) BIND dn="(.*)" method=128$/.exec(line)
        if (bind !== null) { binds.push({ op: bind[1] as string, dn: bind[2] as string, err: undefined }); continue }
        const result = / (conn=\d+ op=\d+) RESULT tag=97 err=(\d+) /.exec(line)
        if (result !== null) {
          const pending = binds.find((b) => b.op === result[1] && b.err === undefined)
          if (pending !== undefined) pending.err = Number(result[2])
        }
      }
      return binds.map(({ dn, err }) => ({ dn, err }))
    },
    stop,
    start: async () => {
      await stop()
      for (let attempt = 0; attempt < 50; attempt++) {
        if (await launch()) return
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
      throw new Error(`slapd would not restart on ports ${port}/${tlsPort}: ${output}`)
    },
    pause: async () => {
      if (child === undefined || paused || child.pid === undefined) return
      child.kill('SIGSTOP')
      paused = true
      // The signal is delivered asynchronously: a request sent right after kill() could still be answered.
      const deadline = Date.now() + 2000
      while (Date.now() < deadline) {
        const stat = await readFile(`/proc/${child.pid}/stat`, 'utf8').catch(() => '')
        if (/^\d+ \(.*\) [tT] /.test(stat)) return
        await new Promise((resolve) => setTimeout(resolve, 5))
      }
    },
    resume: () => { if (child !== undefined && paused) { child.kill('SIGCONT'); paused = false } }
  }
}
