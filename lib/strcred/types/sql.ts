import type { PasswordHasher } from '../../hashers/hasher.js'
import type { CheckerFactory } from '../factory.js'
import { defineOptions, text } from './options.js'
import { DATABASE_OPTIONS, PASSWORD_INTERFACES, databaseArgument, given, withPassword } from './shared.js'

const { options, values } = defineOptions({
  table: text({ help: 'the table of users and password hashes', required: 'unless query is given', example: 'users' }),
  'username-column': text({ help: 'with table: the user name column', default: 'username', example: 'login' }),
  'password-column': text({ help: 'with table: the password hash column', default: 'password', example: 'pw_hash' }),
  'active-column': text({ help: 'with table: a flag column; users whose flag is false are refused', default: 'none' }),
  query: text({
    help: 'instead of table and columns: one query, its only parameter the user name ($1 on PostgreSQL, ? on MySQL and SQLite), answering the hash as a column named password',
    required: 'unless table is given',
    example: 'SELECT hash AS password FROM staff WHERE email = ?'
  }),
  ...DATABASE_OPTIONS
})

/** `sql:<database>;table=…`: any table of user names and password hashes. */
export const sqlFactory: CheckerFactory = {
  authType: 'sql',
  argStringFormat: '<sqlite path | postgres://… | mysql://…>;table=…',
  authHelp: `
A table of user names and password hashes in SQLite, PostgreSQL or MySQL/MariaDB. The hashes may be in any format
fastify-cred reads: bcrypt, $apr1$, SHA-crypt, {SHA}, DES crypt, and Django's.
  sql:/srv/app/users.sqlite3;table=users
  sql:postgres://auth@db/app;table=accounts;username-column=login;password-column=pw_hash;password-env=PGPASSWORD
  sql:mysql://auth@db/app;query=SELECT hash AS password FROM staff WHERE email = ?`,
  credentialInterfaces: PASSWORD_INTERFACES,
  options,
  async generateChecker (_argString, args) {
    const option = values(args)
    const database = withPassword(args, databaseArgument(args), option.password)
    const table = option.table
    let query = option.query
    const columns = (['username-column', 'password-column', 'active-column'] as const).filter((c) => option[c] !== undefined)
    if ((table === undefined) === (query === undefined)) args.fail('give the table option or the query option')
    if (query !== undefined && columns.length > 0) args.fail('the column options go with table, not with query')
    const connection = given({ timeout: option.timeout, poolSize: option['pool-size'] })
    const { SqlChecker } = await import('../../checkers/sql.js')
    let decoyQuery: string | undefined
    if (query === undefined) {
      const { quoteIdentifier, placeholder, dialectOf } = await import('../../checkers/sql-database.js')
      const dialect = dialectOf(database)
      const q = (name: string): string => quoteIdentifier(name, dialect)
      const active = option['active-column']
      query = `SELECT ${q(option['password-column'] ?? 'password')} AS password` +
        `${active === undefined ? '' : `, ${q(active)} AS active`}` +
        ` FROM ${q(table ?? '')} WHERE ${q(option['username-column'] ?? 'username')} = ${placeholder(1, dialect)}`
      // Unknown users cost what most of the table's hashes cost.
      decoyQuery = `SELECT ${q(option['password-column'] ?? 'password')} AS password FROM ${q(table ?? '')} LIMIT 1000`
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
  const { DJANGO_HASHERS, HTPASSWD_HASHERS } = await import('../../hashers/index.js')
  return [...new Set([...DJANGO_HASHERS, ...HTPASSWD_HASHERS])]
}
