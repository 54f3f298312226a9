import { readdir, readFile, realpath } from 'node:fs/promises'
import { dirname, join, relative, resolve, isAbsolute } from 'node:path'
import { pathToFileURL } from 'node:url'
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

interface Declaration {
  readonly packageName: string
  readonly packageDir: string
  readonly module: string
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

async function declarationOf (packageDir: string): Promise<Declaration | undefined> {
  let manifest: unknown
  try { manifest = JSON.parse(await readFile(join(packageDir, 'package.json'), 'utf8')) } catch { return undefined }
  if (manifest === null || typeof manifest !== 'object') return undefined
  const { name, [PACKAGE_FIELD]: field } = manifest as Record<string, unknown>
  if (field === undefined || field === null || typeof field !== 'object') return undefined
  const module = (field as Record<string, unknown>).checkerFactories
  const packageName = typeof name === 'string' ? name : packageDir
  if (typeof module !== 'string' || module === '') {
    throw new InvalidOption(`Package "${packageName}" has a "${PACKAGE_FIELD}" field without a "checkerFactories" module path`)
  }
  return { packageName, packageDir, module }
}

/**
 * Finds the checker factories of installed packages, as Node would find the packages: in `node_modules` of `from`
 * and of each directory above it, the nearest copy of a package winning. A package declares its factories in its
 * `package.json`:
 *
 * ```json
 * { "name": "fastify-cred-redis", "fastify-cred": { "checkerFactories": "./factory.js" } }
 * ```
 *
 * The module (a path inside the package) exports `factories`, an array of `CheckerFactory`, or a default export
 * that is one factory or an array of them. Only packages declaring the field are imported.
 *
 * @example
 * for (const { factory, packageName } of await discoverCheckerFactories()) console.log(factory.authType, packageName)
 * @throws {InvalidOption} a declaration or module that is malformed or cannot be imported, naming the package.
 */
export async function discoverCheckerFactories (from: string = process.cwd()): Promise<DiscoveredFactory[]> {
  const seen = new Set<string>()
  const declarations: Declaration[] = []
  for (let dir = resolve(from); ; dir = dirname(dir)) {
    for (const packageDir of await packageDirs(join(dir, 'node_modules'))) {
      const key = relative(join(dir, 'node_modules'), packageDir)
      if (seen.has(key)) continue
      seen.add(key)
      const declaration = await declarationOf(packageDir)
      if (declaration !== undefined) declarations.push(declaration)
    }
    if (dirname(dir) === dir) break
  }
  const found: DiscoveredFactory[] = []
  for (const declaration of declarations) {
    for (const factory of await importFactories(declaration)) found.push({ factory, packageName: declaration.packageName })
  }
  return found
}

async function importFactories ({ packageName, packageDir, module }: Declaration): Promise<CheckerFactory[]> {
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
