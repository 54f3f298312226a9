import { readdir, readFile, realpath } from 'node:fs/promises'
import { basename, delimiter, dirname, join, relative, resolve, isAbsolute } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { InvalidOption } from '../cred/index.js'
import type { CheckerFactory } from './factory.js'

/** A factory found in an installed package. */
export interface DiscoveredFactory {
  readonly factory: CheckerFactory
  /** The `name` of the package that declared it. */
  readonly packageName: string
}

/** The `package.json` field a package declares its factories in. */
export const PACKAGE_FIELD = 'fastify-cred'

/** The environment variable `checkersFromEnvironment` and `fastify-cred serve` read extra plugin directories from. */
export const PLUGINS_ENV = 'CRED_AUTH_PLUGINS'

/** A package that declares auth types, as read from its `package.json` alone (none of its code has run). */
export interface CheckerPackage {
  /** The package's `name`. */
  readonly packageName: string
  /** Where it is installed. */
  readonly packageDir: string
  /** Its `checkerFactories` module, a path inside the package. */
  readonly module: string
  /** The auth types it declares (`"authTypes": [...]`): the only specs that load it. */
  readonly authTypes: readonly string[]
}

/** What a search of plugin directories found. */
export interface CheckerPackageSearch {
  /** The usable declarations, nearest copy of each package name first. */
  readonly packages: readonly CheckerPackage[]
  /** Packages with the field that cannot be used, one line each, naming the package (nothing of theirs was run). */
  readonly ignored: readonly string[]
}

/** Where to look for third-party auth types. */
export interface PluginSearchOptions {
  /**
   * Directories of installed packages (`node_modules` folders) to look in, before the default ones. Each is searched
   * by itself: never the directories above it.
   */
  readonly pluginDirs?: readonly string[]
}

const AUTH_TYPE = /^[a-z][a-z0-9-]*$/

/**
 * The `node_modules` folders Node would search for fastify-cred's own dependencies: beside this installed copy of
 * fastify-cred and above it (ESM resolution, no global folders). Never the working directory or its ancestors: a
 * server started in `/srv/app/site` must not run code that someone left in `/srv/node_modules`.
 *
 * @example
 * defaultPluginDirs()  // ['/srv/app/node_modules/fastify-cred/node_modules', '/srv/app/node_modules', '/srv/node_modules', '/node_modules']
 */
export function defaultPluginDirs (): string[] {
  const dirs: string[] = []
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    if (basename(dir) !== 'node_modules') dirs.push(join(dir, 'node_modules'))
    if (dirname(dir) === dir) break
  }
  return dirs
}

/**
 * Plugin directories from the `CRED_AUTH_PLUGINS` variable (separated as in `PATH`), resolved against `cwd`.
 *
 * @example
 * pluginDirsFromEnvironment({ CRED_AUTH_PLUGINS: '/opt/cred-plugins/node_modules' }, '/srv')  // ['/opt/cred-plugins/node_modules']
 */
export function pluginDirsFromEnvironment (env: Readonly<Record<string, string | undefined>>, cwd: string = process.cwd()): string[] {
  return (env[PLUGINS_ENV] ?? '').split(delimiter).filter((d) => d.trim() !== '').map((d) => resolve(cwd, d.trim()))
}

/** The package directories of one `node_modules`, scoped ones (`@scope/name`) included. */
async function packageDirs (nodeModules: string): Promise<string[]> {
  let entries: string[]
  try { entries = await readdir(nodeModules) } catch { return [] }
  const dirs: string[] = []
  for (const entry of entries.sort()) {
    if (entry.startsWith('.')) continue
    if (entry.startsWith('@')) {
      let scoped: string[] = []
      try { scoped = await readdir(join(nodeModules, entry)) } catch {}
      for (const name of scoped.sort()) if (!name.startsWith('.')) dirs.push(join(nodeModules, entry, name))
    } else {
      dirs.push(join(nodeModules, entry))
    }
  }
  return dirs
}

type Declaration = { readonly found: CheckerPackage } | { readonly ignored: string } | undefined

/** Reads one package's declaration from its `package.json`; never imports anything. */
async function declarationOf (packageDir: string): Promise<Declaration> {
  let manifest: unknown
  try { manifest = JSON.parse(await readFile(join(packageDir, 'package.json'), 'utf8')) } catch { return undefined }
  if (manifest === null || typeof manifest !== 'object') return undefined
  const { name, [PACKAGE_FIELD]: field } = manifest as Record<string, unknown>
  if (field === undefined || field === null || typeof field !== 'object') return undefined
  const { checkerFactories: module, authTypes } = field as Record<string, unknown>
  const packageName = typeof name === 'string' ? name : packageDir
  if (typeof module !== 'string' || module === '') {
    return { ignored: `package "${packageName}": its "${PACKAGE_FIELD}" field has no "checkerFactories" module path` }
  }
  if (!Array.isArray(authTypes) || authTypes.length === 0 || !authTypes.every((t) => typeof t === 'string' && AUTH_TYPE.test(t))) {
    return { ignored: `package "${packageName}": its "${PACKAGE_FIELD}" field has no "authTypes" list (e.g. "authTypes": ["redis-users"])` }
  }
  return { found: { packageName, packageDir, module, authTypes: authTypes as string[] } }
}

const searches = new Map<string, Promise<CheckerPackageSearch>>()

/**
 * The packages that declare auth types, read from their `package.json` files only (no package code runs): in each
 * of `pluginDirs` (by itself), then in `defaultPluginDirs()`. A package name found twice is taken from the first
 * directory, as Node takes the nearest copy. A package declares its types and its module:
 *
 * ```json
 * { "name": "fastify-cred-redis", "fastify-cred": { "authTypes": ["redis-users"], "checkerFactories": "./factory.js" } }
 * ```
 *
 * Searches are cached per list of directories.
 *
 * @example
 * const { packages } = await findCheckerPackages({ pluginDirs: ['/opt/cred-plugins/node_modules'] })
 * packages.map((p) => [p.packageName, p.authTypes])  // [['fastify-cred-redis', ['redis-users']]]
 */
export async function findCheckerPackages (options: PluginSearchOptions = {}): Promise<CheckerPackageSearch> {
  const dirs = [...(options.pluginDirs ?? []).map((d) => resolve(d)), ...defaultPluginDirs()]
  const key = dirs.join('\0')
  let search = searches.get(key)
  if (search === undefined) {
    search = (async () => {
      const seen = new Set<string>()
      const packages: CheckerPackage[] = []
      const ignored: string[] = []
      for (const nodeModules of dirs) {
        for (const packageDir of await packageDirs(nodeModules)) {
          const name = relative(nodeModules, packageDir)
          if (seen.has(name)) continue
          seen.add(name)
          const declaration = await declarationOf(packageDir)
          if (declaration === undefined) continue
          if ('found' in declaration) packages.push(declaration.found)
          else ignored.push(declaration.ignored)
        }
      }
      return { packages, ignored }
    })()
    searches.set(key, search)
    search.catch(() => { searches.delete(key) })
  }
  return await search
}

/**
 * Finds and imports the checker factories for `authTypes`, and only those: a package is imported when one of the
 * types it declares in its `package.json` is asked for (a spec names it), never otherwise. Where packages are looked
 * for: see `findCheckerPackages` (never the working directory or its ancestors). The module (a path inside the
 * package) exports `factories`, an array of `CheckerFactory`, or a default export that is one factory or an array.
 *
 * @example
 * const found = await discoverCheckerFactories(['redis-users'], { pluginDirs: ['/opt/cred-plugins/node_modules'] })
 * found.map((f) => [f.factory.authType, f.packageName])  // [['redis-users', 'fastify-cred-redis']]
 * @throws {InvalidOption} a type declared by two packages, or the declaring package's module that is malformed, cannot
 * be imported, or exports no factory for the type it declared, naming the package.
 */
export async function discoverCheckerFactories (authTypes: readonly string[], options: PluginSearchOptions = {}): Promise<DiscoveredFactory[]> {
  if (authTypes.length === 0) return []
  const { packages } = await findCheckerPackages(options)
  const found: DiscoveredFactory[] = []
  const imported = new Set<CheckerPackage>()
  for (const authType of authTypes) {
    const declaring = packages.filter((p) => p.authTypes.includes(authType))
    if (declaring.length === 0) continue
    if (declaring.length > 1) {
      // Neither is imported: which one the deployment meant is not ours to guess.
      throw new InvalidOption(`Auth type "${authType}" is declared by two packages, "${declaring[0]?.packageName ?? ''}" and "${declaring[1]?.packageName ?? ''}"; uninstall one of them`)
    }
    const declaration = declaring[0] as CheckerPackage
    if (imported.has(declaration)) continue
    imported.add(declaration)
    const factories = await importFactories(declaration)
    if (!factories.some((f) => f !== null && typeof f === 'object' && f.authType === authType)) {
      throw new InvalidOption(`Package "${declaration.packageName}" declares auth type "${authType}", but its checkerFactories module exports no factory for it`)
    }
    for (const factory of factories) found.push({ factory, packageName: declaration.packageName })
  }
  return found
}

async function importFactories ({ packageName, packageDir, module }: CheckerPackage): Promise<CheckerFactory[]> {
  const realDir = await realpath(packageDir)
  const target = resolve(realDir, module)
  const inside = relative(realDir, target)
  if (isAbsolute(module) || inside.startsWith('..') || isAbsolute(inside)) {
    throw new InvalidOption(`Package "${packageName}": its checkerFactories module must be a path inside the package, like "./factory.js"`)
  }
  let exported: Record<string, unknown>
  try {
    exported = await import(pathToFileURL(target).href) as Record<string, unknown>
  } catch (err) {
    throw new InvalidOption(`Package "${packageName}": cannot import its checkerFactories module ${JSON.stringify(module)}: ${(err as Error).message.split('\n')[0] ?? ''}`)
  }
  const value = exported.factories ?? exported.default
  const list = Array.isArray(value) ? value : value === undefined ? [] : [value]
  if (list.length === 0) {
    throw new InvalidOption(`Package "${packageName}": its checkerFactories module ${JSON.stringify(module)} exports no "factories" array and no default export`)
  }
  return list as CheckerFactory[]
}
