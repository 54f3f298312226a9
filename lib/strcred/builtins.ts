import { readFile } from 'node:fs/promises'
import { AllowAnonymousAccess, InMemoryChecker } from '../checkers/index.js'
import {
  IAnonymous, IUsernameDigestHash, IUsernamePassword, InvalidOption
} from '../cred/index.js'
import type { Credentials, CredentialsChecker, Interface } from '../cred/index.js'
import type { PasswordHasher } from '../hashers/hasher.js'
import type { CheckerArguments, CheckerFactory } from './factory.js'
import { parseBoolean, parseDuration, parsePositiveInteger } from './spec.js'

const PASSWORD_INTERFACES: readonly Interface<Credentials>[] = Object.freeze([IUsernamePassword])

// Each store's checker module (and through it, its driver) is imported on first use, so that a spec for one store
// loads nothing of the others: `memory:` costs no database driver, `file:` no LDAP client.

/** The checker a `cache=` option wrapped, by its wrapper: `closeCheckers` closes both. */
const wrapped = new WeakMap<CredentialsChecker, CredentialsChecker>()

/** Wraps a checker in a `CachingChecker` (the shared `cache=` option). */
export async function wrapInCache (checker: CredentialsChecker, options: { ttl: number, maxEntries?: number }): Promise<CredentialsChecker> {
  const { CachingChecker } = await import('../checkers/caching.js')
  const cached = new CachingChecker(checker, options)
  wrapped.set(cached, checker)
  return cached
}

/**
 * Releases what checkers hold (database pools, directory connections, file watchers): calls `close()` on each
 * checker that has one, and on the checker inside a `cache=` wrapper. Call it when the server stops; errors are
 * ignored (a pool that is already gone is fine).
 *
 * @example
 * const checkers = await resolveCheckers(['django:postgres://app@db/app;password-env=PGPASSWORD'])
 * app.addHook('onClose', async () => { await closeCheckers(checkers) })
 */
export async function closeCheckers (checkers: Iterable<CredentialsChecker>): Promise<void> {
  const all: CredentialsChecker[] = []
  for (const checker of checkers) {
    for (let inner: CredentialsChecker | undefined = checker; inner !== undefined; inner = wrapped.get(inner)) all.push(inner)
  }
  await Promise.all(all.map(async (checker) => {
    const close = (checker as { close?: unknown }).close
    if (typeof close === 'function') {
      try { await (close as () => unknown).call(checker) } catch {}
    }
  }))
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

const optionalDuration = (args: CheckerArguments, name: string): number | undefined => {
  const value = args.options.get(name)
  return value === undefined ? undefined : parseDuration(value, name)
}

const optionalCount = (args: CheckerArguments, name: string): number | undefined => {
  const value = args.options.get(name)
  return value === undefined ? undefined : parsePositiveInteger(value, name)
}

/** Drops the options that were not given, so that the checker's own defaults apply. */
const given = <T extends Record<string, unknown>>(options: T): Partial<T> =>
  Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as Partial<T>

const CHECK_INTERVAL = { name: 'check-interval', help: 'how often at most the file is looked at for changes (default 1s; 0 = every login)' }

/** `file:<htpasswd file>`: an Apache htpasswd file, every format Apache writes. */
export const fileFactory: CheckerFactory = {
  authType: 'file',
  argStringFormat: '<htpasswd file>',
  authHelp: `
An Apache htpasswd file (user:hash lines, as written by "htpasswd" or "fastify-cred passwd"): bcrypt, $apr1$ MD5,
{SHA}, SHA-256/512-crypt, DES crypt. The file is re-read when it changes, so users can be added while the server
runs. Serves HTTP Basic (one-way hashes cannot verify a Digest response; use htdigest: for Digest).
  file:/etc/app/users.htpasswd
  file:/etc/app/users.htpasswd;cache=30s    (remember verified passwords: bcrypt costs ~50 ms per check)
Options:
  check-interval=…    how often at most the file is looked at for changes (default 1s; 0 = every login)`,
  credentialInterfaces: PASSWORD_INTERFACES,
  options: [CHECK_INTERVAL],
  async generateChecker (_argString, args) {
    if (args.argument === '') args.fail('the file path is missing')
    const options = given({ checkInterval: optionalDuration(args, 'check-interval') })
    const { HtpasswdChecker } = await import('../checkers/htpasswd.js')
    return new HtpasswdChecker(args.argument, options)
  }
}

/** `htdigest:<file>`: an Apache htdigest file (user:realm:MD5 HA1). */
export const htdigestFactory: CheckerFactory = {
  authType: 'htdigest',
  argStringFormat: '<htdigest file>[;realm=…]',
  authHelp: `
An Apache htdigest file (user:realm:md5(user:realm:password) lines, as written by "htdigest" or
"fastify-cred passwd --htdigest"). Serves HTTP Digest with MD5 (the server's realm name must be the realm of the
lines, and its Digest algorithms MD5 or MD5-sess), and HTTP Basic.
  htdigest:/etc/app/users.htdigest
Options:
  realm=…             the realm whose lines check Basic logins (default: the file's only realm)
  check-interval=…    how often at most the file is looked at for changes (default 1s)`,
  credentialInterfaces: [IUsernameDigestHash, IUsernamePassword],
  options: [{ name: 'realm', help: 'the realm whose lines check Basic logins' }, CHECK_INTERVAL],
  async generateChecker (_argString, args) {
    if (args.argument === '') args.fail('the file path is missing')
    const options = given({ realm: args.options.get('realm'), checkInterval: optionalDuration(args, 'check-interval') })
    const { HtdigestChecker } = await import('../checkers/htdigest.js')
    return new HtdigestChecker(args.argument, options)
  }
}

/** The database argument of `django:` and `sql:`: a SQLite path or a postgres:// / mysql:// URL. */
const databaseArgument = (args: CheckerArguments): string => {
  const database = args.argument
  if (database === '') args.fail('the database is missing')
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(database)?.[1]?.toLowerCase()
  if (scheme !== undefined) {
    if (!['postgres', 'postgresql', 'mysql', 'mariadb'].includes(scheme)) args.fail('a database URL starts with postgres:// or mysql://; anything else is a SQLite file path')
    let host = ''
    try { host = new URL(database).hostname } catch {}
    if (host === '') args.fail('the database URL cannot be read (postgres://user@host[:port]/database)')
  }
  return database
}

/** Puts a password read from a file or the environment into a database URL (a SQLite path has none). */
function withPassword (args: CheckerArguments, database: string, password: string | undefined): string {
  if (password === undefined) return database
  if (!/^(postgres|postgresql|mysql|mariadb):\/\//i.test(database)) args.fail('the password option is for postgres:// and mysql:// databases')
  let url: URL
  try { url = new URL(database) } catch { return args.fail('the database URL cannot be read') }
  if (url.username === '') args.fail('the URL names no user for the password')
  url.password = encodeURIComponent(password)
  return url.href
}

const DATABASE_OPTIONS = [
  { name: 'password', help: 'the database password, instead of one in the URL', secret: true },
  { name: 'timeout', help: 'how long a connection or a query may take (default 5s)' },
  { name: 'pool-size', help: 'connections per pool (default 10)' }
]

/** `none` (or empty) for a column the table does not have. */
const optionalColumn = (args: CheckerArguments, name: string): string | null | undefined => {
  const value = args.options.get(name)
  return value === undefined ? undefined : value === '' || value === 'none' ? null : value
}

/** `django:<sqlite path | postgres://… | mysql://…>`: the users of a Django project's database. */
export const djangoFactory: CheckerFactory = {
  authType: 'django',
  argStringFormat: '<sqlite path | postgres://… | mysql://…>',
  authHelp: `
The users of a Django project, read from its database with Django's own password hashers (PBKDF2, argon2, bcrypt,
scrypt, …). Inactive users and unusable passwords are refused, as Django's ModelBackend does.
  django:/srv/app/db.sqlite3
  django:postgres://app@db.internal/app;password-env=PGPASSWORD
  django:mysql://app@127.0.0.1/app;password-file=/run/secrets/db;table=accounts_user;username-column=email
Options:
  table=…             the user table (default auth_user; a custom user model's table, e.g. accounts_user)
  username-column=…   the column users log in with (default username; email for e-mail logins)
  active-column=…     the active flag (default is_active; none when the model has none)
  password=…          the database password instead of one in the URL (or password-file=, password-env=)
  timeout=…           how long a connection or a query may take (default 5s)
  pool-size=…         connections per pool (default 10)`,
  credentialInterfaces: PASSWORD_INTERFACES,
  options: [
    { name: 'table', help: 'the user table (default auth_user)' },
    { name: 'username-column', help: 'the column users log in with (default username)' },
    { name: 'active-column', help: 'the active flag (default is_active; none when there is none)' },
    ...DATABASE_OPTIONS
  ],
  async generateChecker (_argString, args) {
    const database = withPassword(args, databaseArgument(args), args.options.get('password'))
    const options = given({
      table: args.options.get('table'),
      usernameColumn: args.options.get('username-column'),
      activeColumn: optionalColumn(args, 'active-column'),
      timeout: optionalDuration(args, 'timeout'),
      poolSize: optionalCount(args, 'pool-size')
    })
    const { DjangoChecker } = await import('../checkers/django.js')
    return new DjangoChecker({ database, ...options })
  }
}

/** `sql:<database>;table=…`: any table of user names and password hashes. */
export const sqlFactory: CheckerFactory = {
  authType: 'sql',
  argStringFormat: '<sqlite path | postgres://… | mysql://…>;table=…',
  authHelp: `
A table of user names and password hashes in SQLite, PostgreSQL or MySQL/MariaDB. The hashes may be in any format
fastify-cred reads: bcrypt, $apr1$, SHA-crypt, {SHA}, DES crypt, and Django's.
  sql:/srv/app/users.sqlite3;table=users
  sql:postgres://auth@db/app;table=accounts;username-column=login;password-column=pw_hash;password-env=PGPASSWORD
  sql:mysql://auth@db/app;query=SELECT hash AS password FROM staff WHERE email = ?
Options:
  table=…             the table (or query=)
  username-column=…   the user name column (default username)
  password-column=…   the password hash column (default password)
  active-column=…     a flag column; a false value refuses the user (default: none)
  query=…             instead of table and columns: one query, its only parameter the user name ($1 on PostgreSQL,
                      ? on MySQL and SQLite), answering the hash as a column named password
  password=…          the database password instead of one in the URL (or password-file=, password-env=)
  timeout=…           how long a connection or a query may take (default 5s)
  pool-size=…         connections per pool (default 10)`,
  credentialInterfaces: PASSWORD_INTERFACES,
  options: [
    { name: 'table', help: 'the table' },
    { name: 'username-column', help: 'the user name column (default username)' },
    { name: 'password-column', help: 'the password hash column (default password)' },
    { name: 'active-column', help: 'a flag column refusing users whose value is false' },
    { name: 'query', help: 'one query answering the hash as "password" for the user name' },
    ...DATABASE_OPTIONS
  ],
  async generateChecker (_argString, args) {
    const database = withPassword(args, databaseArgument(args), args.options.get('password'))
    const table = args.options.get('table')
    let query = args.options.get('query')
    const columns = ['username-column', 'password-column', 'active-column'].filter((c) => args.options.has(c))
    if ((table === undefined) === (query === undefined)) args.fail('give the table option or the query option')
    if (query !== undefined && columns.length > 0) args.fail('the column options go with table, not with query')
    const connection = given({ timeout: optionalDuration(args, 'timeout'), poolSize: optionalCount(args, 'pool-size') })
    const { SqlChecker } = await import('../checkers/sql.js')
    let decoyQuery: string | undefined
    if (query === undefined) {
      const { quoteIdentifier, placeholder, dialectOf } = await import('../checkers/sql-database.js')
      const dialect = dialectOf(database)
      const q = (name: string): string => quoteIdentifier(name, dialect)
      const active = args.options.get('active-column')
      query = `SELECT ${q(args.options.get('password-column') ?? 'password')} AS password` +
        `${active === undefined ? '' : `, ${q(active)} AS active`}` +
        ` FROM ${q(table ?? '')} WHERE ${q(args.options.get('username-column') ?? 'username')} = ${placeholder(1, dialect)}`
      // Unknown users cost what most of the table's hashes cost.
      decoyQuery = `SELECT ${q(args.options.get('password-column') ?? 'password')} AS password FROM ${q(table ?? '')} LIMIT 1000`
    }
    const hashers = await tableHashers()
    return new SqlChecker({
      database,
      query,
      ...(decoyQuery === undefined ? {} : { decoyQuery }),
      hashers,
      ...connection
    })
  }
}

/**
 * Every password format a `sql:` table may hold: Django's (they start with their name), then the htpasswd formats
 * (bcrypt, `$apr1$`, SHA-crypt, `{SHA}`, DES crypt; plaintext, which matches anything, last).
 */
async function tableHashers (): Promise<PasswordHasher[]> {
  const { DJANGO_HASHERS, HTPASSWD_HASHERS } = await import('../hashers/index.js')
  return [...new Set([...DJANGO_HASHERS, ...HTPASSWD_HASHERS])]
}

/** `ldap:<ldap[s]://host[:port]>;base-dn=…`: users of an LDAP directory, verified by binding as them. */
export const ldapFactory: CheckerFactory = {
  authType: 'ldap',
  argStringFormat: '<ldap[s]://host[:port]>;base-dn=… (or ;user-dn=…)',
  authHelp: `
Users of an LDAP directory (OpenLDAP, Active Directory), checked by binding as the user: either found first under
base-dn (search, then bind), or bound directly as user-dn. Empty passwords are refused (LDAP servers take them as
an anonymous bind).
  ldap:ldaps://ldap.example.com;base-dn=ou=people,dc=example,dc=com;ca=/etc/ssl/ldap-ca.pem
  ldap:ldap://127.0.0.1:389;base-dn=dc=example,dc=com;bind-dn=cn=reader,dc=example,dc=com;bind-password-env=LDAP_PW
  ldap:ldap://dc.corp.example.com;starttls=yes;user-dn={username}@corp.example.com
Options:
  base-dn=…           search users under this DN (search, then bind)
  filter=…            the search filter, {username} escaped into it (default (uid={username}))
  scope=…             base, one or sub (default sub)
  bind-dn=…           the entry to search as (default: an anonymous search)
  bind-password=…     its password (or bind-password-file=, bind-password-env=)
  user-dn=…           instead of base-dn: bind directly as this DN, e.g. uid={username},ou=people,dc=example,dc=com
  avatar-id-attribute=…  answer this attribute of the entry (e.g. uid) instead of the name as typed
  ca=…                a PEM file of the CA that signed the server's certificate (ldaps:// or starttls)
  starttls=yes        upgrade an ldap:// connection with StartTLS
  timeout=…           how long to wait for the server (default 5s)
  pool-size=…         connections for users' binds (default 4)`,
  credentialInterfaces: PASSWORD_INTERFACES,
  options: [
    { name: 'base-dn', help: 'search users under this DN' },
    { name: 'filter', help: 'the search filter (default (uid={username}))' },
    { name: 'scope', help: 'base, one or sub (default sub)' },
    { name: 'bind-dn', help: 'the entry to search as' },
    { name: 'bind-password', help: 'its password', secret: true },
    { name: 'user-dn', help: 'bind directly as this DN ({username} replaced)' },
    { name: 'avatar-id-attribute', help: 'the entry\'s attribute answered as the avatar id' },
    { name: 'ca', help: 'a PEM file of the CA of the server\'s certificate' },
    { name: 'starttls', help: 'yes: upgrade ldap:// with StartTLS' },
    { name: 'timeout', help: 'how long to wait for the server (default 5s)' },
    { name: 'pool-size', help: 'connections for users\' binds (default 4)' }
  ],
  async generateChecker (_argString, args) {
    const url = args.argument
    if (!/^ldaps?:\/\/[^/;?#\s]+\/?$/i.test(url)) args.fail('the argument is an ldap:// or ldaps:// URL with no path')
    const baseDn = args.options.get('base-dn')
    const userDn = args.options.get('user-dn')
    if ((baseDn === undefined) === (userDn === undefined)) args.fail('give base-dn (search, then bind) or user-dn (direct bind)')
    const searchOnly = ['filter', 'scope', 'bind-dn', 'bind-password'].filter((o) => args.options.has(o))
    if (userDn !== undefined && searchOnly.length > 0) args.fail(`${searchOnly.join(', ')} go with base-dn, not with user-dn`)
    if (userDn !== undefined && !userDn.includes('{username}')) args.fail('user-dn must contain {username}')
    const scope = args.options.get('scope')
    if (scope !== undefined && !['base', 'one', 'sub'].includes(scope)) args.fail('scope is base, one or sub')
    if (args.options.has('bind-dn') !== args.options.has('bind-password')) args.fail('bind-dn and bind-password go together')
    const caFile = args.options.get('ca')
    let ca: string | undefined
    if (caFile !== undefined) {
      try { ca = await readFile(caFile, 'utf8') } catch (err) {
        throw new InvalidOption(`Auth type "ldap": cannot read the CA file ${JSON.stringify(caFile)} (${(err as NodeJS.ErrnoException).code ?? 'error'})`, { cause: err })
      }
    }
    const options = {
      url,
      ...given({
        startTLS: optionalBoolean(args, 'starttls'),
        tls: ca === undefined ? undefined : { ca },
        userDn,
        search: baseDn === undefined
          ? undefined
          : given({
            base: baseDn,
            filter: args.options.get('filter') ?? '(uid={username})',
            scope,
            bindDn: args.options.get('bind-dn'),
            bindPassword: args.options.get('bind-password')
          }) as { base: string, filter: string },
        avatarIdAttribute: args.options.get('avatar-id-attribute'),
        timeout: optionalDuration(args, 'timeout'),
        poolSize: optionalCount(args, 'pool-size')
      })
    }
    const { LdapChecker } = await import('../checkers/ldap.js')
    return new LdapChecker(options)
  }
}

/** `unix`: the accounts of this machine, through PAM. */
export const unixFactory: CheckerFactory = {
  authType: 'unix',
  argStringFormat: '(no argument)',
  authHelp: `
The accounts of this machine, checked through PAM (the optional node-linux-pam binding), as Twisted's "unix" type.
The server usually has to run as root for PAM to read other users' passwords. A wrong password costs PAM's delay
(2-3 s), during which a login slot is held.
  unix
  unix;service=fastify-cred;cache=1m
Options:
  service=…           the PAM service, a file in /etc/pam.d (default login)
  max-concurrent=…    PAM calls at once (default 2)
  allow-nologin=yes   let in accounts whose shell is nologin or false (default: refused)
  allow-root=yes      let in root and other uid-0 accounts (default: refused)`,
  credentialInterfaces: PASSWORD_INTERFACES,
  options: [
    { name: 'service', help: 'the PAM service (default login)' },
    { name: 'max-concurrent', help: 'PAM calls at once (default 2)' },
    { name: 'allow-nologin', help: 'yes: let in accounts whose shell is nologin or false' },
    { name: 'allow-root', help: 'yes: let in root (uid 0)' }
  ],
  async generateChecker (_argString, args) {
    noArgument(args)
    const options = given({
      service: args.options.get('service'),
      maxConcurrent: optionalCount(args, 'max-concurrent'),
      allowNoLoginShell: optionalBoolean(args, 'allow-nologin'),
      allowRoot: optionalBoolean(args, 'allow-root')
    })
    const { UnixChecker } = await import('../checkers/unix.js')
    return new UnixChecker(options)
  }
}

/** Every built-in auth type, in the order `--help-auth` lists them. */
export const builtinCheckerFactories: readonly CheckerFactory[] = Object.freeze([
  anonymousFactory, djangoFactory, fileFactory, htdigestFactory, ldapFactory, memoryFactory, sqlFactory, unixFactory
])
