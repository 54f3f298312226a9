import { IUsernamePassword } from '../../cred/index.js'
import type { Credentials, Interface } from '../../cred/index.js'
import type { CheckerArguments } from '../factory.js'
import { count, duration, secret } from './options.js'

// What several built-in types share: the argument checks, and the options of file and database stores.

export const PASSWORD_INTERFACES: readonly Interface<Credentials>[] = Object.freeze([IUsernamePassword])

export const noArgument = (args: CheckerArguments): void => {
  if (args.argument !== '') args.fail('this type takes no argument')
}

/** Drops the options that were not given, so that the checker's own defaults apply. */
export const given = <T extends Record<string, unknown>>(options: T): Partial<T> =>
  Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as Partial<T>

/** The option of the file stores (`file:`, `htdigest:`). */
export const FILE_OPTIONS = {
  'check-interval': duration({ help: 'how often at most the file is looked at for changes (0: at every login)', default: '1s' })
}

/** The options of the database stores (`django:`, `sql:`). */
export const DATABASE_OPTIONS = {
  password: secret({ help: 'the database password, instead of one in the URL (postgres:// and mysql:// only)' }),
  timeout: duration({ help: 'how long a connection or a query may take', default: '5s' }),
  'pool-size': count({ help: 'connections per pool (PostgreSQL, MySQL)', default: '10' })
}

/** The database argument of `django:` and `sql:`: a SQLite path or a postgres:// / mysql:// URL. */
export const databaseArgument = (args: CheckerArguments): string => {
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
export function withPassword (args: CheckerArguments, database: string, password: string | undefined): string {
  if (password === undefined) return database
  if (!/^(postgres|postgresql|mysql|mariadb):\/\//i.test(database)) args.fail('the password option is for postgres:// and mysql:// databases')
  let url: URL
  try { url = new URL(database) } catch { return args.fail('the database URL cannot be read') }
  if (url.username === '') args.fail('the URL names no user for the password')
  url.password = encodeURIComponent(password)
  return url.href
}
