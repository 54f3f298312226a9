import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { needProgram } from './binaries.js'
import { accepts, run, runAs, startPrivateServer } from './private-server.js'
import type { PrivateServer, Teardownable } from './private-server.js'

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

/** What a test needs of the slapd it owns. Its `output()` is slapd's stats log (loglevel 256) since it was (re)started. */
export interface PrivateSlapd extends PrivateServer {
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
  /**
   * The simple binds slapd received since `mark` (an index into `output()`), as `{ dn, err }`, in order. Waits until
   * slapd's log has been quiet for a moment and every bind has its result (the log arrives through a pipe, a little
   * after the answers).
   */
  bindsSince (mark: number): Promise<Array<{ dn: string, err: number | undefined }>>
  /** `output()` once it has been quiet for a moment: what slapd logged for the requests already answered. */
  settledLog (): Promise<string>
}

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

/**
 * Starts a private slapd (OpenLDAP) for one test file (see `startPrivateServer`): two ports (ldap:// with StartTLS
 * and ldaps://), an mdb database, a self-signed certificate made by `openssl` (SAN IP:127.0.0.1), the users loaded
 * with `slapadd` (`{SSHA}` passwords from `slappasswd`) and the groups added online with `ldapadd` (so the memberof
 * overlay fills `memberOf`); run as the `openldap` system user when we are root.
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
  const rootPassword = 'root-secret'
  const readerPassword = 'reader-secret'
  const dnOf = (uid: string): string => `uid=${rdnValue(uid)},${PEOPLE}`
  const ssha = async (password: string): Promise<string> =>
    (await run(slappasswdProgram.path as string, ['-h', '{SSHA}', '-s', password], { encoding: 'utf8' })).stdout.trim()

  const init = async (dir: string): Promise<void> => {
    // slapd reads its key and writes its database as `openldap`: both are made as that user.
    await runAs('openldap', [opensslProgram.path as string,
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
      '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-subj', '/CN=127.0.0.1',
      '-addext', 'subjectAltName=IP:127.0.0.1'
    ])

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
      `directory ${dir}`,
      'overlay memberof',
      'access to attrs=userPassword by self write by anonymous auth by * none',
      'access to * by users read by * none',
      ''
    ].join('\n'))

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
    await runAs('openldap', [slapaddProgram.path as string, '-q', '-f', join(dir, 'slapd.conf'), '-l', join(dir, 'data.ldif')])
  }

  const server = await startPrivateServer(t, {
    name: 'slapd',
    user: 'openldap',
    portCount: 2,
    init,
    argv: ([port, tlsPort], dir) => [slapdProgram.path as string, '-f', join(dir, 'slapd.conf'),
      '-h', `ldap://127.0.0.1:${port as number}/ ldaps://127.0.0.1:${tlsPort as number}/`, '-d', '256'],
    // slapd opens its listeners once it is ready.
    ready: async ([port, tlsPort]) => await accepts(port as number) && await accepts(tlsPort as number)
  })
  const url = `ldap://127.0.0.1:${server.port}`
  const ca = await readFile(join(server.dir, 'cert.pem'), 'utf8')
  if (options.groups !== undefined && options.groups.length > 0) {
    const ldif = join(server.dir, 'groups.ldif')
    await writeFile(ldif, options.groups.map((group) => [
      ldifLine('dn', `cn=${rdnValue(group.cn)},${GROUPS}`), 'objectClass: groupOfNames', ldifLine('cn', group.cn),
      ...group.members.map((uid) => ldifLine('member', dnOf(uid)))
    ].join('\n')).join('\n\n') + '\n')
    await run(ldapaddProgram.path as string, ['-x', '-H', url, '-D', ROOT_DN, '-w', rootPassword, '-f', ldif])
  }

  const settledLog = async (): Promise<string> => {
    let seen = -1
    const deadline = Date.now() + 2000
    while (seen !== server.output().length && Date.now() < deadline) {
      seen = server.output().length
      await new Promise((resolve) => setTimeout(resolve, 25))
    }
    return server.output()
  }
  return {
    ...server,
    url,
    ldapsUrl: `ldaps://127.0.0.1:${server.ports[1] as number}`,
    ca,
    rootPassword,
    readerPassword,
    dnOf,
    settledLog,
    bindsSince: async (mark) => {
      // "conn=1001 op=0 BIND dn="…" method=128" … "conn=1001 op=0 RESULT tag=97 err=49 …"
      const binds: Array<{ op: string, dn: string, err: number | undefined }> = []
      for (const line of (await settledLog()).slice(mark).split('\n')) {
        const bind = / (conn=\d+ op=\d+) BIND dn="(.*)" method=128$/.exec(line)
        if (bind !== null) { binds.push({ op: bind[1] as string, dn: bind[2] as string, err: undefined }); continue }
        const result = / (conn=\d+ op=\d+) RESULT tag=97 err=(\d+) /.exec(line)
        if (result !== null) {
          const pending = binds.find((b) => b.op === result[1] && b.err === undefined)
          if (pending !== undefined) pending.err = Number(result[2])
        }
      }
      return binds.map(({ dn, err }) => ({ dn, err }))
    }
  }
}
