import { readFile } from 'node:fs/promises'
import { InvalidOption } from '../cred/index.js'
import type { CredentialsChecker } from '../cred/index.js'
import { builtinCheckerFactories, wrapInCache } from './builtins.js'
import { discoverCheckerFactories } from './discover.js'
import { CheckerFactoryRegistry } from './factory.js'
import type { CheckerArguments, CheckerFactory, CheckerFactoryOption } from './factory.js'
import { parseArgString, parseDuration, parsePositiveInteger, parseSpec } from './spec.js'

/** Options of `makeChecker`, `resolveCheckers` and `checkersFromEnvironment`. */
export interface MakeCheckerOptions {
  /** The auth types to use. Default: the built-ins plus the factories of packages installed around `from`. */
  readonly registry?: CheckerFactoryRegistry
  /** Where third-party factories are looked for (see `discoverCheckerFactories`). Default: `process.cwd()`. */
  readonly from?: string
  /** Where `name-env=VAR` secrets are read. Default: `process.env`. */
  readonly env?: Readonly<Record<string, string | undefined>>
}

/** Options every auth type accepts; `makeChecker` applies them around the type's checker. */
export const SHARED_OPTIONS: readonly CheckerFactoryOption[] = Object.freeze([
  { name: 'cache', help: 'remember verified passwords this long (30s, 5m…) in a CachingChecker; off by default' },
  { name: 'cache-size', help: 'with cache: the most users remembered (default: the CachingChecker\'s)' }
])
const SHARED = new Set(SHARED_OPTIONS.map((o) => o.name))

const registries = new Map<string, Promise<CheckerFactoryRegistry>>()

/**
 * The built-in auth types plus the checker factories of the packages installed around `from` (default
 * `process.cwd()`), discovered once per directory and then cached.
 *
 * @example
 * const registry = await loadCheckerFactories()
 * registry.authTypes()  // ['anonymous', 'django', 'file', 'htdigest', 'ldap', 'memory', 'sql', 'unix', …]
 * @throws {InvalidOption} a package's factory is malformed or would shadow a built-in or another package's type.
 */
export async function loadCheckerFactories (from: string = process.cwd()): Promise<CheckerFactoryRegistry> {
  let registry = registries.get(from)
  if (registry === undefined) {
    registry = (async () => {
      const result = new CheckerFactoryRegistry(builtinCheckerFactories)
      for (const { factory, packageName } of await discoverCheckerFactories(from)) result.add(factory, packageName)
      return result
    })()
    registries.set(from, registry)
    // A failed discovery (a broken package) is reported again next time instead of being cached.
    registry.catch(() => { registries.delete(from) })
  }
  return await registry
}

/** A type name safe to repeat in a message (a mistyped spec may start with a password). */
const printableType = (authType: string): string => /^[A-Za-z][A-Za-z0-9-]{0,39}$/.test(authType) ? ` "${authType}"` : ''

/**
 * Makes a checker from a spec `type[:argument][;name=value]…` (Twisted's `strcred.makeChecker`, with one option
 * syntax for every type; see `parseArgString`).
 *
 * @example
 * import { makeChecker } from 'fastify-cred'
 * const checker = await makeChecker('memory:alice:wonderland:bob:builder')
 * const fromFile = await makeChecker('file:/etc/app/users.htpasswd;cache=30s')
 * @throws {InvalidOption} an unknown type (the message lists the valid ones), an argument the type cannot read (the
 * message gives the expected format), an unknown option, a missing secret. Messages never contain the argument
 * string or a secret.
 */
export async function makeChecker (spec: string, options: MakeCheckerOptions = {}): Promise<CredentialsChecker> {
  const { authType, argString } = parseSpec(spec)
  const registry = options.registry ?? await loadCheckerFactories(options.from)
  const factory = registry.get(authType)
  if (factory === undefined) {
    throw new InvalidOption(`Unknown auth type${printableType(authType)}; valid types: ${registry.authTypes().join(', ')} (fastify-cred --help-auth)`)
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
  return cache === undefined ? checker : await wrapInCache(checker, cache)
}

async function resolveOptions (
  factory: CheckerFactory, given: ReadonlyArray<readonly [string, string]>, env: Readonly<Record<string, string | undefined>>
): Promise<{ typeOptions: Map<string, string>, cache: { ttl: number, maxEntries?: number } | undefined }> {
  const declared = new Map((factory.options ?? []).map((o) => [o.name, o]))
  const typeOptions = new Map<string, string>()
  const shared = new Map<string, string>()
  const known = (): string => [...declared.keys(), ...SHARED].join(', ')
  for (const [name, value] of given) {
    let target = name
    let source: 'inline' | 'file' | 'env' = 'inline'
    const suffix = /^(.+)-(file|env)$/.exec(name)
    if (!declared.has(name) && !SHARED.has(name) && suffix !== null && declared.get(suffix[1] ?? '')?.secret === true) {
      target = suffix[1] ?? name
      source = suffix[2] as 'file' | 'env'
    }
    if (!declared.has(target) && !SHARED.has(target)) {
      throw new InvalidOption(`Auth type "${factory.authType}" has no option "${name}"; its options: ${known()}`)
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

async function readOptionValue (
  target: string, written: string, value: string, source: 'inline' | 'file' | 'env', env: Readonly<Record<string, string | undefined>>
): Promise<string> {
  if (source === 'inline') return value
  if (source === 'env') {
    const found = env[value]
    if (found === undefined) throw new InvalidOption(`Option "${written}" names the environment variable ${JSON.stringify(value)}, which is not set`)
    return found
  }
  let text: string
  try {
    text = await readFile(value, 'utf8')
  } catch (err) {
    throw new InvalidOption(`Option "${written}": cannot read ${JSON.stringify(value)} (${(err as NodeJS.ErrnoException).code ?? 'error'})`, { cause: err })
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
 * const checkers = await resolveCheckers([new AllowAnonymousAccess(), 'file:/etc/app/users.htpasswd'])
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
 * when it is unset or empty. Secrets (`name-env=VAR`) are read from the same environment.
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
    return await resolveCheckers(specs, { ...options, env })
  } catch (err) {
    if (err instanceof InvalidOption) throw new InvalidOption(`CRED_AUTH ${err.message}`)
    throw err
  }
}
