import { readFile } from 'node:fs/promises'
import { InvalidOption } from '../cred/index.js'
import type { CredentialsChecker } from '../cred/index.js'
import { builtinCheckerFactories } from './types/index.js'
import { discoverCheckerFactories, findCheckerPackages, pluginDirsFromEnvironment } from './discover.js'
import type { PluginSearchOptions } from './discover.js'
import { CheckerFactoryRegistry } from './factory.js'
import type { CheckerArguments, CheckerFactory, CheckerFactoryOption } from './factory.js'
import { parseArgString, parseDuration, parsePositiveInteger, parseSpec } from './spec.js'

/** Options of `makeChecker`, `resolveCheckers` and `checkersFromEnvironment`. */
export interface MakeCheckerOptions extends PluginSearchOptions {
  /**
   * The auth types to use. Default: the built-ins, plus the factory of the one installed package that declares the
   * spec's type (see `findCheckerPackages`: never looked for in the working directory or above it).
   */
  readonly registry?: CheckerFactoryRegistry
  /** Where `name-env=VAR` secrets are read. Default: `process.env`. */
  readonly env?: Readonly<Record<string, string | undefined>>
}

/** Options every auth type accepts; `makeChecker` applies them around the type's checker. */
export const SHARED_OPTIONS: readonly CheckerFactoryOption[] = Object.freeze([
  { name: 'cache', help: 'remember verified passwords this long (30s, 5m…) in a CachingChecker; off by default' },
  { name: 'cache-size', help: 'with cache: the most users remembered (default: the CachingChecker\'s)' }
])
const SHARED = new Set(SHARED_OPTIONS.map((o) => o.name))

/**
 * The built-in auth types, plus the factories of the installed packages that declare one of `authTypes` (and no
 * other package: a package's code runs only when a spec names its type). A built-in type is never looked up, so no
 * package can replace it.
 *
 * @example
 * const registry = await loadCheckerFactories(['redis-users'], { pluginDirs: ['/opt/cred-plugins/node_modules'] })
 * registry.authTypes()  // ['anonymous', 'django', 'file', 'htdigest', 'ldap', 'memory', 'redis-users', 'sql', 'unix']
 * @param authTypes the third-party types wanted (built-in ones are skipped); none: the built-ins only.
 * @throws {InvalidOption} the declaring package's factory is malformed, declared twice, or would shadow a built-in.
 */
export async function loadCheckerFactories (authTypes: readonly string[] = [], options: PluginSearchOptions = {}): Promise<CheckerFactoryRegistry> {
  const registry = new CheckerFactoryRegistry(builtinCheckerFactories)
  const wanted = authTypes.filter((type) => registry.get(type) === undefined)
  for (const { factory, packageName } of await discoverCheckerFactories(wanted, options)) registry.add(factory, packageName)
  return registry
}

/** "1st", "2nd", "3rd", "4th"…: where in a spec something is, since what is there may be a password. */
const ordinal = (n: number): string => {
  const tens = n % 100
  const suffix = tens >= 11 && tens <= 13 ? 'th' : ['th', 'st', 'nd', 'rd'][n % 10] ?? 'th'
  return `${n}${suffix}`
}

/**
 * Makes a checker from a spec `type[:argument][;name=value]…` (Twisted's `strcred.makeChecker`, with one option
 * syntax for every type; see `parseArgString`).
 *
 * @example
 * import { makeChecker } from 'fastify-cred/strcred'
 * const checker = await makeChecker('memory:alice:wonderland:bob:builder')
 * const fromFile = await makeChecker('file:/etc/app/users.htpasswd;cache=30s')
 * @throws {InvalidOption} an unknown type (the message lists the valid ones), an argument the type cannot read (the
 * message gives the expected format), an unknown option, a missing secret. Messages never contain the argument
 * string or a secret.
 */
export async function makeChecker (spec: string, options: MakeCheckerOptions = {}): Promise<CredentialsChecker> {
  const { authType, argString } = parseSpec(spec)
  // Only a name that can be an auth type is looked up: a spec of only a password never reaches the package search.
  const lookUp = /^[a-z][a-z0-9-]*$/.test(authType) ? [authType] : []
  const registry = options.registry ?? await loadCheckerFactories(lookUp, options)
  const factory = registry.get(authType)
  if (factory === undefined) {
    // The unknown "type" is never repeated: a spec of only a password (or one missing its "type:") would put the
    // password here. Say what the text before the first ":" must be instead.
    const shape = spec.includes(':') || spec.includes(';') ? 'the text before its first ":"' : 'the spec has no ":", so all of it'
    const ignored = options.registry === undefined ? (await findCheckerPackages(options)).ignored : []
    const why = ignored.length === 0 ? '' : `; not usable: ${ignored.join('; ')}`
    throw new InvalidOption(`Unknown auth type (${shape} is taken as the type, and it is none of these); valid types: ${registry.authTypes().join(', ')} (fastify-cred --help-auth)${why}`)
  }
  const env = options.env ?? process.env
  let parsed
  try {
    parsed = parseArgString(argString)
  } catch (err) {
    throw new InvalidOption(`Auth type "${authType}": ${(err as Error).message}; expected format: ${authType}:${factory.argStringFormat}`)
  }
  const { typeOptions, cache } = await resolveOptions(factory, parsed.options, env)
  const args: CheckerArguments = {
    authType,
    argument: parsed.argument,
    options: typeOptions,
    env,
    fail (reason?: string): never {
      throw new InvalidOption(`Invalid argument for auth type "${authType}"${reason === undefined ? '' : ` (${reason})`}; expected format: ${authType}:${factory.argStringFormat} (fastify-cred --help-auth-type ${authType})`)
    }
  }
  const checker = await factory.generateChecker(argString, args)
  if (checker === null || typeof checker !== 'object' || typeof checker.requestAvatarId !== 'function' || !Array.isArray(checker.credentialInterfaces)) {
    throw new InvalidOption(`The factory of auth type "${authType}" did not return a checker ({ credentialInterfaces, requestAvatarId })`)
  }
  if (cache === undefined) return checker
  const { CachingChecker } = await import('../checkers/caching.js')
  return new CachingChecker(checker, cache)
}

/**
 * Releases what checkers hold (database pools, directory connections, worker threads): calls `close()` on each
 * checker that has one, all at once (a `CachingChecker`, as a `cache=` option makes, closes the checker it wraps).
 * Call it when the server stops; errors are ignored (a pool that is already gone is fine).
 *
 * @example
 * const checkers = await resolveCheckers(['django:postgres://app@db/app;password-env=PGPASSWORD'])
 * app.addHook('onClose', async () => { await closeCheckers(checkers) })
 */
export async function closeCheckers (checkers: Iterable<CredentialsChecker>): Promise<void> {
  await Promise.all(Array.from(checkers, async (checker) => {
    try { await checker.close?.() } catch {}
  }))
}

async function resolveOptions (
  factory: CheckerFactory, given: ReadonlyArray<readonly [string, string]>, env: Readonly<Record<string, string | undefined>>
): Promise<{ typeOptions: Map<string, string>, cache: { ttl: number, maxEntries?: number } | undefined }> {
  const declared = new Map((factory.options ?? []).map((o) => [o.name, o]))
  const typeOptions = new Map<string, string>()
  const shared = new Map<string, string>()
  const known = (): string => [...declared.keys(), ...SHARED].join(', ')
  let position = 0
  for (const [name, value] of given) {
    position++
    let target = name
    let source: 'inline' | 'file' | 'env' = 'inline'
    const suffix = /^(.+)-(file|env)$/.exec(name)
    if (!declared.has(name) && !SHARED.has(name) && suffix !== null && declared.get(suffix[1] ?? '')?.secret === true) {
      target = suffix[1] ?? name
      source = suffix[2] as 'file' | 'env'
    }
    if (!declared.has(target) && !SHARED.has(target)) {
      // Not named: after a single ";" inside a password, the rest of the password reads as an option name.
      throw new InvalidOption(`Auth type "${factory.authType}": the option after the ${ordinal(position)} single ";" is not one of its options: ${known()} (write ";;" for a ";" inside a password or value)`)
    }
    const into = SHARED.has(target) ? shared : typeOptions
    if (into.has(target)) throw new InvalidOption(`Auth type "${factory.authType}": option "${target}" is given more than once`)
    into.set(target, await readOptionValue(target, name, value, source, env))
  }
  let cache: { ttl: number, maxEntries?: number } | undefined
  const ttl = shared.get('cache')
  const size = shared.get('cache-size')
  if (ttl !== undefined) {
    cache = { ttl: parseDuration(ttl, 'cache') }
    if (size !== undefined) cache.maxEntries = parsePositiveInteger(size, 'cache-size')
  } else if (size !== undefined) {
    throw new InvalidOption('Option "cache-size" needs "cache" (e.g. ";cache=30s;cache-size=10000")')
  }
  return { typeOptions, cache }
}

/** What an environment variable's name looks like (upper case, digits, `_`). */
const ENV_NAME = /^[A-Z_][A-Z0-9_]{0,63}$/

async function readOptionValue (
  target: string, written: string, value: string, source: 'inline' | 'file' | 'env', env: Readonly<Record<string, string | undefined>>
): Promise<string> {
  if (source === 'inline') return value
  if (source === 'env') {
    const found = env[value]
    // The name is shown only when it looks like one: a password written as `password-env=…` by mistake is not.
    if (found === undefined) throw new InvalidOption(`Option "${written}" names an environment variable${ENV_NAME.test(value) ? ` (${value})` : ''} that is not set`)
    return found
  }
  let text: string
  try {
    text = await readFile(value, 'utf8')
  } catch (err) {
    // Likewise a path is shown only when it looks like one (holds a "/"), not a password given as `password-file=…`.
    throw new InvalidOption(`Option "${written}": cannot read ${/[/\\]/.test(value) ? JSON.stringify(value) : 'the file it names'} (${(err as NodeJS.ErrnoException).code ?? 'error'})`, { cause: err })
  }
  // Files written by `echo` or an editor end with a newline that is not part of the secret.
  const secret = text.replace(/\r?\n$/, '')
  if (secret.includes('\n')) throw new InvalidOption(`Option "${written}": the file for "${target}" must hold one line`)
  return secret
}

/**
 * Turns a list of checkers and spec strings into checkers, in order: what the plugin does with its `checkers`
 * option, so that `checkers: ['file:/etc/app/users.htpasswd']` works wherever checkers are accepted.
 *
 * @example
 * const checkers = await resolveCheckers([new AnonymousChecker(), 'file:/etc/app/users.htpasswd'])
 * @throws {InvalidOption} as `makeChecker`, with the position of the spec that failed.
 */
export async function resolveCheckers (
  checkersOrSpecs: Iterable<CredentialsChecker | string>, options: MakeCheckerOptions = {}
): Promise<CredentialsChecker[]> {
  const out: CredentialsChecker[] = []
  let index = 0
  for (const item of checkersOrSpecs) {
    index++
    if (typeof item !== 'string') { out.push(item); continue }
    try {
      out.push(await makeChecker(item, options))
    } catch (err) {
      if (err instanceof InvalidOption) throw new InvalidOption(`checkers[${index - 1}]: ${err.message}`, { cause: err })
      throw err
    }
  }
  return out
}

/**
 * The specs in a `CRED_AUTH` value. Two encodings, so that any spec (with `:`, `,`, `;`, spaces) fits:
 * - a JSON array of strings, when the value starts with `[`: `["memory:alice:pw", "file:/etc/users"]`;
 * - otherwise one spec per line; blank lines and lines starting with `#` are skipped, and spaces around a line are
 *   trimmed.
 *
 * @example
 * parseAuthEnvironment('file:/etc/app/users.htpasswd\nanonymous')  // ['file:/etc/app/users.htpasswd', 'anonymous']
 * @throws {InvalidOption} a JSON value that is not an array of strings.
 */
export function parseAuthEnvironment (value: string): string[] {
  const trimmed = value.trim()
  if (trimmed.startsWith('[')) {
    let list: unknown
    try { list = JSON.parse(trimmed) } catch { list = undefined }
    if (!Array.isArray(list) || !list.every((s) => typeof s === 'string')) {
      throw new InvalidOption('CRED_AUTH starts with "[" but is not a JSON array of strings such as ["memory:alice:pw"]')
    }
    return list as string[]
  }
  return trimmed.split(/\r?\n/).map((line) => line.trim()).filter((line) => line !== '' && !line.startsWith('#'))
}

/**
 * The checkers named by the `CRED_AUTH` environment variable (see `parseAuthEnvironment` for its encoding): empty
 * when it is unset or empty. Secrets (`name-env=VAR`) are read from the same environment, and so are extra plugin
 * directories (`CRED_AUTH_PLUGINS`, separated as in `PATH`) unless `options.pluginDirs` is given.
 *
 * @example
 * // CRED_AUTH='file:/etc/app/users.htpasswd;cache=30s'
 * const checkers = await checkersFromEnvironment()
 * await app.register(cred, { realm, checkers, interfaces: [IUser] })
 * @throws {InvalidOption} as `makeChecker`, prefixed with `CRED_AUTH`.
 */
export async function checkersFromEnvironment (
  env: Readonly<Record<string, string | undefined>> = process.env, options: Omit<MakeCheckerOptions, 'env'> = {}
): Promise<CredentialsChecker[]> {
  const value = env.CRED_AUTH
  if (value === undefined || value.trim() === '') return []
  const specs = parseAuthEnvironment(value)
  try {
    const pluginDirs = options.pluginDirs ?? pluginDirsFromEnvironment(env)
    return await resolveCheckers(specs, { ...options, pluginDirs, env })
  } catch (err) {
    if (err instanceof InvalidOption) throw new InvalidOption(`CRED_AUTH ${err.message}`)
    throw err
  }
}
