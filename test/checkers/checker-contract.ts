import { randomBytes } from 'node:crypto'
import type { Test } from 'tap'
import { StoreUnavailable, UnauthorizedLogin, UsernamePassword } from '../../lib/index.js'
import { InvalidOption, MissingPeerDependency } from '../../lib/cred/index.js'
import { formatBasic } from '../../lib/http/index.js'
import type { CredPluginOptions, Credentials, CredentialsChecker } from '../../lib/index.js'
import { overrideDriver } from '../../lib/drivers/index.js'
import type { DriverName } from '../../lib/drivers/index.js'
import { buildApp } from '../helpers/app.js'

/** What a store's test tells the contract about it. */
export interface CheckerContract {
  /** A new checker on the store, which holds `user` with `password`. Called several times; the contract closes each. */
  readonly make: () => CredentialsChecker | Promise<CredentialsChecker>
  readonly user: string
  readonly password: string
  /** The credentials of a login; default HTTP Basic's `UsernamePassword`. */
  readonly credentials?: (username: string, password: string) => Credentials
  /** Each construction with a bad option, by what is wrong with it: each must throw `InvalidOption`. */
  readonly badOptions: ReadonlyArray<readonly [string, () => unknown]>
  /** The driver (optional peer dependency) the store loads; none for stores that need no package. */
  readonly driver?: DriverName
  /**
   * The work the store's logins have done so far: hash verifications, binds, PAM calls, as the store's test counts
   * them (counting hashers, the server's log, a counting binding). Counted, never timed.
   */
  readonly work: () => number | Promise<number>
  /** Stops and starts the store's real server (test/helpers); none for stores without a server. */
  readonly outage?: { readonly stop: () => Promise<void>, readonly start: () => Promise<void> }
  /**
   * How a login reaches the plugin, for stores of other credentials than passwords (default HTTP Basic): the plugin's
   * `schemes`, and a login's `Authorization` value, or its whole headers (a proxy's forwarded client certificate).
   */
  readonly http?: {
    readonly schemes: NonNullable<CredPluginOptions['schemes']>
    readonly authorization?: (username: string, password: string) => string
    readonly headers?: (username: string, password: string) => Record<string, string>
  }
}

const MODULE_NOT_FOUND = (name: string) => async (): Promise<never> => {
  throw Object.assign(new Error(`Cannot find package '${name}' imported from the test`), { code: 'ERR_MODULE_NOT_FOUND' })
}
const settled = async <T>(promise: PromiseLike<T> | T): Promise<T | Error> => await Promise.resolve(promise).then((v) => v, (err: unknown) => err as Error)

/**
 * The contract every user store keeps (as `test/http/nonce-store-contract.ts` is for nonce stores): bad options
 * are an `InvalidOption` when the checker is built; `prepare()` and `register()` fail with `MissingPeerDependency`
 * naming the package when the driver is missing, and succeed when the store's server is merely down (its logins then
 * answer 503); an unknown user costs the work of a wrong password; an outage is `StoreUnavailable`, never a refusal;
 * `close()` is idempotent and final; no error message ever holds a password that was tried.
 *
 * @example
 * await checkerContract(t, 'HtpasswdChecker', { make: () => new HtpasswdChecker(file, { hashers }), user: 'alice',
 *   password: 'wonderland', badOptions: [['no path', () => new HtpasswdChecker('')]], driver: 'bcrypt', work: () => verifies })
 */
export async function checkerContract (t: Test, name: string, contract: CheckerContract): Promise<void> {
  const { user, password } = contract
  const credentials = contract.credentials ?? ((username: string, pw: string) => new UsernamePassword(username, pw))
  const wrong = `wrong-${randomBytes(9).toString('base64url')}`
  const unknownUser = `nobody-${randomBytes(6).toString('hex')}`
  const unknownPassword = `unknown-${randomBytes(9).toString('base64url')}`
  const secrets = [password, wrong, unknownPassword].filter((s) => s.length >= 6)
  const login = async (checker: CredentialsChecker, username: string, pw: string): Promise<unknown> =>
    await settled(Promise.resolve().then(() => checker.requestAvatarId(credentials(username, pw))))
  /** A checker made for one subtest, closed at its end. */
  const made = async (t: Test): Promise<CredentialsChecker> => {
    const checker = await contract.make()
    t.teardown(async () => { await checker.close?.() })
    return checker
  }
  /** Neither the message of `err` nor of any of its causes holds a password tried. */
  const noSecret = (t: Test, err: unknown, what: string): void => {
    const messages: string[] = []
    for (let e = err, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) messages.push(e.message)
    t.notOk(secrets.some((secret) => messages.some((m) => m.includes(secret))), `${what}: no password tried in the error (${messages[0] ?? String(err)})`)
  }
  const plugin = (checker: CredentialsChecker): Parameters<typeof buildApp>[0] =>
    ({ checkers: [checker], ...(contract.http === undefined ? {} : { schemes: contract.http.schemes }) })
  const authorization = contract.http?.authorization ?? formatBasic
  const app = async (t: Test, checker: CredentialsChecker): Promise<Awaited<ReturnType<typeof buildApp>>> => {
    const built = await buildApp(plugin(checker))
    t.teardown(async () => { await built.app.close() })
    return built
  }
  const whoami = async (built: Awaited<ReturnType<typeof buildApp>>, username: string, pw: string): Promise<number> =>
    (await built.app.inject({ url: '/whoami', headers: contract.http?.headers?.(username, pw) ?? { authorization: authorization(username, pw) } })).statusCode

  await t.test(`${name}: a bad option is an InvalidOption when the checker is built`, async (t) => {
    t.ok(contract.badOptions.length > 0, 'the store names its bad options')
    for (const [what, build] of contract.badOptions) t.throws(build, InvalidOption, what)
  })

  await t.test(`${name}: prepare() and register() succeed; the user logs in; a wrong password and an unknown user get one refusal`, async (t) => {
    const checker = await made(t)
    await checker.prepare?.()
    const built = await app(t, checker)
    t.equal(await whoami(built, user, password), 200, 'through the plugin: 200')
    t.equal(await whoami(built, user, wrong), 401, 'a wrong password: 401')
    t.equal(await whoami(built, unknownUser, unknownPassword), 401, 'an unknown user: 401')
    t.type(await login(checker, user, password), 'string', 'the checker answers an avatar id')
    const refusals = [await login(checker, user, wrong), await login(checker, unknownUser, unknownPassword)]
    for (const refusal of refusals) {
      t.type(refusal, UnauthorizedLogin)
      noSecret(t, refusal, 'a refusal')
    }
    t.equal((refusals[0] as Error).message, (refusals[1] as Error).message, 'one message for both')
  })

  await t.test(`${name}: an unknown user costs the work of a wrong password (counted, not timed)`, async (t) => {
    const checker = await made(t)
    // Warm up: connections open, the decoy made, whatever a first refusal learns (PAM's delay) learned.
    t.type(await login(checker, user, password), 'string')
    t.type(await login(checker, user, wrong), UnauthorizedLogin)
    const before = await contract.work()
    t.type(await login(checker, user, wrong), UnauthorizedLogin)
    const afterWrong = await contract.work()
    t.type(await login(checker, unknownUser, unknownPassword), UnauthorizedLogin)
    const afterUnknown = await contract.work()
    t.ok(afterWrong - before > 0, `a wrong password does work (${afterWrong - before})`)
    t.equal(afterUnknown - afterWrong, afterWrong - before, 'an unknown user does as much')
  })

  const driver = contract.driver
  if (driver !== undefined) {
    await t.test(`${name}: without ${driver}, prepare(), register() and a login are MissingPeerDependency naming the package`, async (t) => {
      t.teardown(overrideDriver(driver, MODULE_NOT_FOUND(driver)))
      const checker = await made(t)
      const install = new RegExp(`needs the ${driver} package: install it \\(npm install ${driver}\\b`)
      const prepared = await settled(checker.prepare?.())
      t.type(prepared, MissingPeerDependency, 'prepare()')
      t.match((prepared as Error).message, install, 'naming the package and the npm install line')
      const registered = await settled(buildApp(plugin(checker)))
      t.type(registered, MissingPeerDependency, 'register() rejects: the server does not start')
      const refused = await login(checker, user, password)
      t.type(refused, MissingPeerDependency, 'a login without the plugin')
      t.match((refused as Error).message, install)
      for (const err of [prepared, registered, refused]) noSecret(t, err, 'a missing driver')
    })
  }

  const outage = contract.outage
  if (outage !== undefined) {
    await t.test(`${name}: an outage is StoreUnavailable, never a refusal; down at start, register() succeeds and answers 503; back, it logs in`, async (t) => {
      const checker = await made(t)
      t.type(await login(checker, user, password), 'string', 'up: logs in')
      await outage.stop()
      let restarted = false
      t.teardown(async () => { if (!restarted) await outage.start() })
      for (const [username, pw] of [[user, password], [user, wrong], [unknownUser, unknownPassword]] as const) {
        const down = await login(checker, username, pw)
        t.type(down, StoreUnavailable, `down: ${username === user ? (pw === password ? 'the right password' : 'a wrong password') : 'an unknown user'} is StoreUnavailable`)
        noSecret(t, down, 'an outage')
      }
      const fresh = await made(t)
      await fresh.prepare?.()
      const built = await app(t, fresh)
      t.pass('a store that is down at start registers: an outage is no set-up error')
      t.equal(await whoami(built, user, password), 503, 'and answers 503')
      await outage.start()
      restarted = true
      let status = 0
      for (let attempt = 0; attempt < 50 && status !== 200; attempt++) {
        status = await whoami(built, user, password)
        if (status !== 200) await new Promise((resolve) => setTimeout(resolve, 100))
      }
      t.equal(status, 200, 'back: the server started while it was down logs in, without a restart')
      t.type(await login(checker, user, password), 'string', 'and so does the checker that saw the outage')
    })
  }

  await t.test(`${name}: close() is idempotent and final: every later call is StoreUnavailable`, async (t) => {
    const checker = await made(t)
    t.type(await login(checker, user, password), 'string')
    t.ok(typeof checker.close === 'function', 'the store can be closed')
    await Promise.all([checker.close?.(), checker.close?.()])
    await checker.close?.()
    for (const [username, pw] of [[user, password], [user, wrong], [unknownUser, unknownPassword]] as const) {
      const closed = await login(checker, username, pw)
      t.type(closed, StoreUnavailable, 'a login after close()')
      noSecret(t, closed, 'a closed store')
    }
    if (checker.prepare !== undefined) t.type(await settled(checker.prepare()), StoreUnavailable, 'prepare() after close()')
  })
}

/**
 * The contract for `DjangoChecker` on one of Django's databases (and, given `sqlQuery`, for `SqlChecker` with its own
 * query on the same table), its work counted by hashers that count their verifications.
 *
 * @example
 * await djangoContract(t, { database: server.url('django'), driver: 'pg', outage: server })
 */
export async function djangoContract (t: Test, options: {
  readonly database: string
  readonly driver: DriverName
  readonly outage?: CheckerContract['outage']
  /** SqlChecker's query, in the database's dialect, answering `password` (and `active`) for a user name. */
  readonly sqlQuery?: string
}): Promise<void> {
  const { DjangoChecker, SqlChecker } = await import('../../lib/checkers/index.js')
  const { DJANGO_HASHERS } = await import('../../lib/hashers/index.js')
  const { djangoUser } = await import('../helpers/django-fixtures.js')
  let verifications = 0
  const hashers = DJANGO_HASHERS.map((h) => ({ ...h, verify: async (plain: string, encoded: string) => { verifications++; return await h.verify(plain, encoded) } }))
  const { database, driver, outage } = options
  const shared = { user: 'alice', password: djangoUser('alice').password as string, driver, work: () => verifications, ...(outage === undefined ? {} : { outage }) }
  await checkerContract(t, 'DjangoChecker', {
    ...shared,
    make: () => new DjangoChecker({ database, hashers, timeout: 1500, poolSize: 2 }),
    badOptions: [
      ['no options', () => new DjangoChecker(undefined as never)],
      ['a table option that carries SQL', () => new DjangoChecker({ database, table: 'auth_user; DROP TABLE auth_user' })],
      ['a decoy in no format it reads', () => new DjangoChecker({ database, decoy: 'nonsense' })],
      ['a timeout of 0', () => new DjangoChecker({ database, timeout: 0 })],
      ['a pool size that is no whole number', () => new DjangoChecker({ database, poolSize: 1.5 })]
    ]
  })
  const query = options.sqlQuery
  if (query === undefined) return
  await checkerContract(t, 'SqlChecker', {
    ...shared,
    make: () => new SqlChecker({ database, query, hashers, decoyQuery: 'SELECT password FROM auth_user', timeout: 1500, poolSize: 2 }),
    badOptions: [
      ['no query', () => new SqlChecker({ database, query: '', hashers })],
      ['no hashers', () => new SqlChecker({ database, query, hashers: [] })],
      ['a database that is no SqlDatabase', () => new SqlChecker({ database: { dialect: 'oracle' } as never, query, hashers })]
    ]
  })
}
