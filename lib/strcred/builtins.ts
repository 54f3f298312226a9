import { readFile } from 'node:fs/promises'
import { AllowAnonymousAccess, InMemoryChecker } from '../checkers/index.js'
import {
  IAnonymous, IUsernameDigestHash, IUsernamePassword, InvalidOption
} from '../cred/index.js'
import type { Credentials, CredentialsChecker, Interface } from '../cred/index.js'
import type { CheckerArguments, CheckerFactory } from './factory.js'
import { parseBoolean, parseDuration } from './spec.js'

const PASSWORD_INTERFACES: readonly Interface<Credentials>[] = Object.freeze([IUsernamePassword])

/**
 * Imports one of our own checker modules on first use, so that `makeChecker('memory:…')` loads no driver and no
 * file parser. A module this build does not contain gives a clear error instead of a resolution stack.
 */
async function loadCheckerModule<T> (file: string, needer: string): Promise<T> {
  // A computed specifier: the module may not exist in this build, and TypeScript must not insist that it does.
  const specifier = `../checkers/${file}.js`
  try {
    return await import(specifier) as T
  } catch (err) {
    if (isModuleNotFound(err, `checkers/${file}.`)) {
      throw new InvalidOption(`${needer} needs the checker module lib/checkers/${file}.ts, which this build of fastify-cred does not include`)
    }
    throw err
  }
}

/** True when `err` says that the module whose path contains `path` does not exist (Node's or a loader's wording). */
export function isModuleNotFound (err: unknown, path: string): boolean {
  const code = (err as NodeJS.ErrnoException | null)?.code
  const message = String((err as Error | null)?.message)
  return (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND' || /Cannot find module/.test(message)) && message.includes(path)
}

/** Wraps a checker in a `CachingChecker` (the shared `cache=` option). */
export async function wrapInCache (checker: CredentialsChecker, options: { ttl: number, maxEntries?: number }): Promise<CredentialsChecker> {
  const { CachingChecker } = await loadCheckerModule<{
    CachingChecker: new (checker: CredentialsChecker, options: { ttl: number, maxEntries?: number }) => CredentialsChecker
  }>('caching', 'The cache= option')
  return new CachingChecker(checker, options)
}

const optionalBoolean = (args: CheckerArguments, name: string): boolean | undefined => {
  const value = args.options.get(name)
  return value === undefined ? undefined : parseBoolean(value, name)
}

const noArgument = (args: CheckerArguments): void => {
  if (args.argument !== '') args.fail('this type takes no argument')
}

/** `memory:user:pass[:user:pass…]`: Twisted's in-memory store, for development and tests. */
export const memoryFactory: CheckerFactory = {
  authType: 'memory',
  argStringFormat: 'user:pass[:user:pass…]',
  authHelp: `
Users and plaintext passwords given in the spec itself, as Twisted's "memory" type: for development, tests and demos.
Passwords cannot contain ":" (the separator); write ";;" for a ";". To keep a password out of the command line and
the process list, name one user and give the password as an option:
  memory:alice;password-env=ALICE_PASSWORD
Options:
  password=…          the password of the single user named in the argument (or password-file=, password-env=)
  case-sensitive=no   user names match ignoring case (default: yes)`,
  credentialInterfaces: InMemoryChecker.credentialInterfaces,
  options: [
    { name: 'password', help: 'the password of the single user named in the argument', secret: true },
    { name: 'case-sensitive', help: 'no: user names match ignoring case (default yes)' }
  ],
  generateChecker (_argString, args) {
    const fields = args.argument.split(':')
    const password = args.options.get('password')
    const caseSensitive = optionalBoolean(args, 'case-sensitive') ?? true
    let pairs: Array<[string, string]> = []
    if (password !== undefined) {
      if (fields.length !== 1 || fields[0] === '') args.fail('with the password option, the argument is one user name')
      pairs = [[fields[0] ?? '', password]]
    } else {
      if (fields.length < 2 || fields.length % 2 !== 0) args.fail('user names and passwords must come in pairs')
      for (let i = 0; i < fields.length; i += 2) pairs.push([fields[i] ?? '', fields[i + 1] ?? ''])
    }
    if (pairs.some(([user]) => user === '')) args.fail('a user name is empty')
    return new InMemoryChecker(pairs, { caseSensitive })
  }
}

/** `anonymous`: lets unauthenticated requests in as the `ANONYMOUS` avatar id. */
export const anonymousFactory: CheckerFactory = {
  authType: 'anonymous',
  argStringFormat: '(no argument)',
  authHelp: `
Lets requests without credentials in, as the ANONYMOUS avatar id (the realm decides what an anonymous user may do).
Combine it with a store: --auth anonymous --auth file:/etc/app/users.htpasswd`,
  credentialInterfaces: [IAnonymous],
  generateChecker (_argString, args) {
    noArgument(args)
    return new AllowAnonymousAccess()
  }
}

interface HtpasswdModule {
  HtpasswdChecker: new (path: string, options?: Record<string, unknown>) => CredentialsChecker
}

/** `file:<htpasswd file>`: an Apache htpasswd file, every format Apache writes. */
export const fileFactory: CheckerFactory = {
  authType: 'file',
  argStringFormat: '<htpasswd file>',
  authHelp: `
An Apache htpasswd file (user:hash lines, as written by "htpasswd" or "fastify-cred passwd"): bcrypt, $apr1$ MD5,
{SHA}, SHA-256/512-crypt and DES crypt. The file is re-read when it changes, so users can be added while the
server runs. Serves HTTP Basic (one-way hashes cannot verify a Digest response; use htdigest: for Digest).
  file:/etc/app/users.htpasswd
  file:/etc/app/users.htpasswd;cache=30s    (remember verified passwords: bcrypt costs ~50 ms per check)`,
  credentialInterfaces: PASSWORD_INTERFACES,
  options: [],
  async generateChecker (_argString, args) {
    if (args.argument === '') args.fail('the file path is missing')
    const { HtpasswdChecker } = await loadCheckerModule<HtpasswdModule>('htpasswd', 'Auth type "file"')
    return new HtpasswdChecker(args.argument)
  }
}

interface HtdigestModule {
  HtdigestChecker: new (path: string, options?: Record<string, unknown>) => CredentialsChecker
}

/** `htdigest:<file>`: an Apache htdigest file (user:realm:MD5 HA1). */
export const htdigestFactory: CheckerFactory = {
  authType: 'htdigest',
  argStringFormat: '<htdigest file>',
  authHelp: `
An Apache htdigest file (user:realm:md5(user:realm:password) lines, as written by "htdigest" or
"fastify-cred passwd --htdigest"). Serves HTTP Digest with MD5 for the realm the lines were written for (the server's
realm name must be that realm), and HTTP Basic.
  htdigest:/etc/app/users.htdigest`,
  credentialInterfaces: [IUsernameDigestHash, IUsernamePassword],
  options: [],
  async generateChecker (_argString, args) {
    if (args.argument === '') args.fail('the file path is missing')
    const { HtdigestChecker } = await loadCheckerModule<HtdigestModule>('htdigest', 'Auth type "htdigest"')
    return new HtdigestChecker(args.argument)
  }
}

/** The database argument of `django:` and `sql:`: a SQLite path or a postgres:// / mysql:// URL. */
const databaseArgument = (args: CheckerArguments): string => {
  const database = args.argument
  if (database === '') args.fail('the database is missing')
  return database
}

interface DjangoModule {
  DjangoChecker: new (options: Record<string, unknown>) => CredentialsChecker
}

/** `django:<sqlite path | postgres://… | mysql://…>`: the users of a Django project's database. */
export const djangoFactory: CheckerFactory = {
  authType: 'django',
  argStringFormat: '<sqlite path | postgres://… | mysql://…>[;table=auth_user]',
  authHelp: `
The users of a Django project, read from its database with Django's own password hashers (PBKDF2, argon2, bcrypt,
scrypt…). Inactive users and unusable passwords are refused, as Django's ModelBackend does.
  django:/srv/app/db.sqlite3
  django:postgres://app@db.internal/app;password-env=PGPASSWORD
  django:mysql://app@127.0.0.1/app;password-file=/run/secrets/db
Options:
  table=…             the user table (default auth_user; a custom user model's table)
  username-column=…   the column holding the user name (default username)
  password=…          the database password (or password-file=, password-env=), instead of one in the URL`,
  credentialInterfaces: PASSWORD_INTERFACES,
  options: [
    { name: 'table', help: 'the user table (default auth_user)' },
    { name: 'username-column', help: 'the user name column (default username)' },
    { name: 'password', help: 'the database password', secret: true }
  ],
  async generateChecker (_argString, args) {
    const database = databaseArgument(args)
    const { DjangoChecker } = await loadCheckerModule<DjangoModule>('django', 'Auth type "django"')
    return new DjangoChecker({
      database: withPassword(database, args.options.get('password')),
      table: args.options.get('table'),
      usernameColumn: args.options.get('username-column')
    })
  }
}

/** Puts a password read from a file or the environment into a database URL (a SQLite path is left alone). */
function withPassword (database: string, password: string | undefined): string {
  if (password === undefined || !/^[a-z][a-z0-9+.-]*:\/\//i.test(database)) return database
  const url = new URL(database)
  url.password = password
  return url.href
}

interface SqlModule {
  SqlChecker: new (options: Record<string, unknown>) => CredentialsChecker
}

/** `sql:<database>;table=…;username-column=…;password-column=…`: any table of users and password hashes. */
export const sqlFactory: CheckerFactory = {
  authType: 'sql',
  argStringFormat: '<sqlite path | postgres://… | mysql://…>;table=…[;username-column=username][;password-column=password]',
  authHelp: `
A table of user names and password hashes in SQLite, PostgreSQL or MySQL/MariaDB. The hashes may be in any format
fastify-cred reads (bcrypt, $apr1$, SHA-crypt, Django's).
  sql:postgres://auth@db/app;table=users;password-env=PGPASSWORD
Options:
  table=…             the table (required)
  username-column=…   the user name column (default username)
  password-column=…   the password hash column (default password)
  password=…          the database password (or password-file=, password-env=), instead of one in the URL`,
  credentialInterfaces: PASSWORD_INTERFACES,
  options: [
    { name: 'table', help: 'the table (required)' },
    { name: 'username-column', help: 'the user name column (default username)' },
    { name: 'password-column', help: 'the password hash column (default password)' },
    { name: 'password', help: 'the database password', secret: true }
  ],
  async generateChecker (_argString, args) {
    const database = databaseArgument(args)
    const table = args.options.get('table') ?? args.fail('the table option is required')
    const { SqlChecker } = await loadCheckerModule<SqlModule>('sql', 'Auth type "sql"')
    return new SqlChecker({
      database: withPassword(database, args.options.get('password')),
      table,
      usernameColumn: args.options.get('username-column'),
      passwordColumn: args.options.get('password-column')
    })
  }
}

interface LdapModule {
  LdapChecker: new (options: Record<string, unknown>) => CredentialsChecker
}

/** `ldap:<ldap[s]://host[:port]>;base-dn=…`: users of an LDAP directory, verified by binding as them. */
export const ldapFactory: CheckerFactory = {
  authType: 'ldap',
  argStringFormat: '<ldap[s]://host[:port]>;base-dn=…[;option=…]',
  authHelp: `
Users of an LDAP directory (OpenLDAP, Active Directory): the user's entry is searched under base-dn, then the
password is checked by binding as that entry. Empty passwords are refused (an LDAP server takes them as an
anonymous bind).
  ldap:ldaps://ldap.example.com;base-dn=ou=people,dc=example,dc=com;ca=/etc/ssl/ldap-ca.pem
  ldap:ldap://127.0.0.1:389;base-dn=dc=example,dc=com;bind-dn=cn=reader,dc=example,dc=com;bind-password-env=LDAP_PW
Options:
  base-dn=…           where users are searched (required)
  user-attribute=…    the attribute holding the user name (default uid)
  bind-dn=…           the entry to search as (default: an anonymous search)
  bind-password=…     its password (or bind-password-file=, bind-password-env=)
  ca=…                a PEM file of the CA that signed the server's certificate (ldaps:// or starttls)
  starttls=yes        upgrade an ldap:// connection with StartTLS
  timeout=…           how long to wait for the server (e.g. 5s)`,
  credentialInterfaces: PASSWORD_INTERFACES,
  options: [
    { name: 'base-dn', help: 'where users are searched (required)' },
    { name: 'user-attribute', help: 'the attribute holding the user name (default uid)' },
    { name: 'bind-dn', help: 'the entry to search as' },
    { name: 'bind-password', help: 'its password', secret: true },
    { name: 'ca', help: 'a PEM file of the CA of the server\'s certificate' },
    { name: 'starttls', help: 'yes: upgrade ldap:// with StartTLS' },
    { name: 'timeout', help: 'how long to wait for the server' }
  ],
  async generateChecker (_argString, args) {
    const url = args.argument
    if (!/^ldaps?:\/\/[^/;]+\/?$/i.test(url)) args.fail('the argument is an ldap:// or ldaps:// URL with no path')
    const baseDn = args.options.get('base-dn') ?? args.fail('the base-dn option is required')
    const caFile = args.options.get('ca')
    let ca: string | undefined
    if (caFile !== undefined) {
      try { ca = await readFile(caFile, 'utf8') } catch (err) {
        throw new InvalidOption(`Auth type "ldap": cannot read the CA file ${JSON.stringify(caFile)} (${(err as NodeJS.ErrnoException).code ?? 'error'})`)
      }
    }
    const timeout = args.options.get('timeout')
    const { LdapChecker } = await loadCheckerModule<LdapModule>('ldap', 'Auth type "ldap"')
    return new LdapChecker({
      url,
      baseDn,
      userAttribute: args.options.get('user-attribute'),
      bindDn: args.options.get('bind-dn'),
      bindPassword: args.options.get('bind-password'),
      ca,
      startTls: optionalBoolean(args, 'starttls'),
      timeout: timeout === undefined ? undefined : parseDuration(timeout, 'timeout')
    })
  }
}

interface UnixModule {
  UnixChecker: new (options?: Record<string, unknown>) => CredentialsChecker
}

/** `unix`: the accounts of this machine. */
export const unixFactory: CheckerFactory = {
  authType: 'unix',
  argStringFormat: '(no argument)',
  authHelp: `
The accounts of this machine (PAM, or /etc/shadow when readable), as Twisted's "unix" type. The server usually has
to run as root to read other users' passwords.
  unix`,
  credentialInterfaces: PASSWORD_INTERFACES,
  options: [],
  async generateChecker (_argString, args) {
    noArgument(args)
    const { UnixChecker } = await loadCheckerModule<UnixModule>('unix', 'Auth type "unix"')
    return new UnixChecker()
  }
}

/** Every built-in auth type, in the order `--help-auth` lists them. */
export const builtinCheckerFactories: readonly CheckerFactory[] = Object.freeze([
  anonymousFactory, djangoFactory, fileFactory, htdigestFactory, ldapFactory, memoryFactory, sqlFactory, unixFactory
])
