import type { CheckerFactory } from '../factory.js'
import { column, defineOptions, text } from './options.js'
import { DATABASE_OPTIONS, PASSWORD_INTERFACES, databaseArgument, given, withPassword } from './shared.js'

const { options, values } = defineOptions({
  table: text({ help: 'the user table (a custom user model accounts.User lives in accounts_user)', default: 'auth_user', example: 'accounts_user' }),
  'username-column': text({ help: 'the column users log in with', default: 'username', example: 'email' }),
  'active-column': column({ help: 'the active flag; users whose flag is false are refused', default: 'is_active', example: 'none' }),
  ...DATABASE_OPTIONS
})

/** `django:<sqlite path | postgres://… | mysql://…>`: the users of a Django project's database. */
export const djangoFactory: CheckerFactory = {
  authType: 'django',
  argStringFormat: '<sqlite path | postgres://… | mysql://…>',
  authHelp: `
The users of a Django project, read from its database with Django's own password hashers (PBKDF2, argon2, bcrypt,
scrypt, …). Inactive users and unusable passwords are refused, as Django's ModelBackend does.
  django:/srv/app/db.sqlite3
  django:postgres://app@db.internal/app;password-env=PGPASSWORD
  django:mysql://app@127.0.0.1/app;password-file=/run/secrets/db;table=accounts_user;username-column=email`,
  credentialInterfaces: PASSWORD_INTERFACES,
  options,
  async generateChecker (_argString, args) {
    const option = values(args)
    const database = withPassword(args, databaseArgument(args), option.password)
    const options = given({
      table: option.table,
      usernameColumn: option['username-column'],
      activeColumn: option['active-column'],
      timeout: option.timeout,
      poolSize: option['pool-size']
    })
    const { DjangoChecker } = await import('../../checkers/django.js')
    return new DjangoChecker({ database, ...options })
  }
}
