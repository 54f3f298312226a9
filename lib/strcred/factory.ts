import type { Credentials, CredentialsChecker, Interface } from '../cred/index.js'
import { InvalidOption } from '../cred/index.js'

/**
 * An option an auth type accepts in its spec (`;name=value`), described for `--help-auth-type`: the help prints one
 * line per option from these fields, so what they say is all the documentation an option gets.
 *
 * @example
 * { name: 'table', help: 'the user table', default: 'auth_user', example: 'accounts_user' }
 * { name: 'timeout', help: 'how long a query may take', values: 'a duration (30s, 500ms, 5m, 1h)', default: '5s' }
 * { name: 'token', help: 'the token', required: true, secret: true }
 */
export interface CheckerFactoryOption {
  /** Lower-case name, e.g. `table`, `base-dn`. */
  readonly name: string
  /** What it is, a short phrase without a final period (`the user table`). */
  readonly help: string
  /** `true` when every spec of the type must give it; a phrase when only some must (`unless query is given`). */
  readonly required?: boolean | string
  /** What applies when it is not given (`auth_user`, `5s`, `an anonymous search`). */
  readonly default?: string
  /** The values it takes when they are not free text (`yes or no`, `base, one or sub`, `a duration (30s, 5m)`). */
  readonly values?: string
  /** A value to show (`accounts_user`); printed as `name=example`. */
  readonly example?: string
  /**
   * A secret (a password): may also be given as `name-file=PATH` or `name-env=VAR`, and is never printed in an
   * error message.
   */
  readonly secret?: boolean
}

/** What `makeChecker` hands a factory besides Twisted's raw argument string. */
export interface CheckerArguments {
  /** The auth type as written. */
  readonly authType: string
  /** The argument (before the first lone `;`), with `;;` turned into `;`. */
  readonly argument: string
  /**
   * The declared options that were given, by name, secrets already read from their file or variable. The options
   * every type shares (`cache`, `cache-size`) are handled by `makeChecker` and are not in here.
   */
  readonly options: ReadonlyMap<string, string>
  /** The environment secrets were read from (`process.env` unless `makeChecker` was given another). */
  readonly env: Readonly<Record<string, string | undefined>>
  /**
   * Throws the standard "bad argument" error: the type's expected format, and `reason` when given. Never put a
   * secret or the argument itself in `reason`.
   */
  fail (reason?: string): never
}

/**
 * Makes checkers of one auth type from a spec string, as Twisted's `ICheckerFactory` does: the person deploying a
 * server picks the store with `--auth type:args` (or `CRED_AUTH`) instead of the code choosing it.
 *
 * A third-party package provides factories by naming its types and a module in its `package.json`:
 * `"fastify-cred": { "authTypes": ["static-token"], "checkerFactories": "./factory.js" }`, the module exporting
 * `factories` (an array) or a default export (one factory or an array). It is imported only when a spec names one of
 * its `authTypes` (see `findCheckerPackages` for where packages are looked for).
 *
 * @example
 * import { IUsernamePassword, UnauthorizedLogin } from 'fastify-cred'
 * export const factories = [{
 *   authType: 'static-token',
 *   argStringFormat: 'user;token-env=VAR',
 *   authHelp: 'One user whose password is a token from the environment.',
 *   credentialInterfaces: [IUsernamePassword],
 *   options: [{ name: 'token', help: 'the token', required: true, secret: true }],
 *   generateChecker (argString, args) {
 *     const token = args.options.get('token') ?? args.fail('the token option is required')
 *     return { credentialInterfaces: [IUsernamePassword], requestAvatarId: (c) => { … } }
 *   }
 * }]
 */
export interface CheckerFactory {
  /** The name before the `:` in a spec: lower case letters, digits and `-`, starting with a letter. */
  readonly authType: string
  /** One line: the argument's shape, e.g. `user:pass[:user:pass…]`. */
  readonly argStringFormat: string
  /**
   * Several lines: what the type is for, and example specs. Its options are described by `options`, from which
   * `--help-auth-type` prints them (a factory without `options` data may describe them here instead).
   */
  readonly authHelp: string
  /** The credential interfaces its checkers serve. */
  readonly credentialInterfaces: readonly Interface<Credentials>[]
  /** The options it accepts. Absent or empty: the type takes none (besides the shared `cache`, `cache-size`). */
  readonly options?: readonly CheckerFactoryOption[]
  /** Makes a checker; may be asynchronous (a driver is imported, a file or a connection is checked). */
  generateChecker (argString: string, args: CheckerArguments): CredentialsChecker | PromiseLike<CredentialsChecker>
}

const AUTH_TYPE = /^[a-z][a-z0-9-]*$/

/** Where a factory came from: `'built-in'` or the name of the package that declared it. */
export type FactorySource = 'built-in' | (string & {})

/**
 * The auth types known to `makeChecker`: the built-ins, plus the factories of installed packages. Types are unique;
 * a package cannot replace a built-in type or another package's type.
 *
 * @example
 * import { CheckerFactoryRegistry, builtinCheckerFactories } from 'fastify-cred/strcred'
 * const registry = new CheckerFactoryRegistry(builtinCheckerFactories).add(myFactory, 'my-package')
 * await makeChecker('mine:arg', { registry })
 */
export class CheckerFactoryRegistry {
  readonly #factories = new Map<string, { factory: CheckerFactory, source: FactorySource }>()

  /** @param builtins the factories that count as built in (shadowing one is refused). */
  constructor (builtins: Iterable<CheckerFactory> = []) {
    for (const factory of builtins) this.add(factory, 'built-in')
  }

  /**
   * Adds a factory.
   *
   * @throws {InvalidOption} a malformed factory, or a type that is already known (built in or from another package).
   */
  add (factory: CheckerFactory, source: FactorySource): this {
    checkFactoryShape(factory, source)
    const existing = this.#factories.get(factory.authType)
    if (existing !== undefined) {
      if (existing.source === 'built-in') {
        throw new InvalidOption(`Package "${source}" declares a checker factory for auth type "${factory.authType}", which is built in; a package cannot replace a built-in type (give its authType another name)`)
      }
      throw new InvalidOption(`Auth type "${factory.authType}" is declared by two packages, "${existing.source}" and "${source}"; uninstall one of them`)
    }
    this.#factories.set(factory.authType, { factory, source })
    return this
  }

  /** The factory for `authType`, or undefined. */
  get (authType: string): CheckerFactory | undefined {
    return this.#factories.get(authType)?.factory
  }

  /** Where the factory for `authType` came from. */
  sourceOf (authType: string): FactorySource | undefined {
    return this.#factories.get(authType)?.source
  }

  /** Every factory, sorted by auth type. */
  factories (): CheckerFactory[] {
    return [...this.#factories.values()].map((e) => e.factory).sort((a, b) => a.authType < b.authType ? -1 : 1)
  }

  /** The known auth types, sorted. */
  authTypes (): string[] {
    return this.factories().map((f) => f.authType)
  }
}

function checkFactoryShape (factory: CheckerFactory, source: FactorySource): void {
  const from = source === 'built-in' ? 'A built-in checker factory' : `The checker factory of package "${source}"`
  if (factory === null || typeof factory !== 'object') throw new InvalidOption(`${from} is not an object`)
  if (typeof factory.authType !== 'string' || !AUTH_TYPE.test(factory.authType)) {
    throw new InvalidOption(`${from} has no valid authType (lower-case letters, digits and "-", starting with a letter)`)
  }
  const missing = (['argStringFormat', 'authHelp'] as const).filter((k) => typeof factory[k] !== 'string')
  if (typeof factory.generateChecker !== 'function') missing.push('generateChecker' as never)
  if (!Array.isArray(factory.credentialInterfaces)) missing.push('credentialInterfaces' as never)
  if (factory.options !== undefined && (!Array.isArray(factory.options) || !factory.options.every((o) => typeof o?.name === 'string' && AUTH_TYPE.test(o.name)))) {
    missing.push('options' as never)
  }
  if (missing.length > 0) throw new InvalidOption(`${from} (auth type "${factory.authType}") lacks a valid ${missing.join(', ')}`)
}
