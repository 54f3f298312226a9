import { MissingPeerDependency } from './errors.js'

/** True when `err` says a package could not be found (and, from loader hooks without a code, that it was `packageName`). */
export const isModuleNotFound = (err: unknown, packageName?: string): boolean => {
  const { code, message } = (err ?? {}) as { code?: unknown, message?: unknown }
  if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') return true
  // Loader hooks (tsx, tap's TypeScript loader) rethrow without the code.
  return typeof message === 'string' && /Cannot find (package|module)/.test(message) && (packageName === undefined || message.includes(`'${packageName}`))
}

/**
 * Loads an optional peer dependency once, on first use. A package that is not installed becomes a
 * `MissingPeerDependency` naming what to install; any other failure (a broken native build) is rethrown as is.
 *
 * @param packageName What `npm install` needs, e.g. `'pg'`.
 * @param needer Who needs it, for the message: `'DjangoChecker with a postgres:// database'`.
 * @param importer The `import()` itself, written at the call site so bundlers and TypeScript see the module name.
 * @throws MissingPeerDependency when the package is not installed.
 *
 * @example
 * const pg = optionalPeer('pg', 'SqlChecker with postgres://', async () => await import('pg'))
 * const { Pool } = (await pg()).default
 */
export function optionalPeer<T> (packageName: string, needer: string, importer: () => Promise<T>): () => Promise<T> {
  let loading: Promise<T> | undefined
  return async () => {
    loading ??= importer().catch((err: unknown) => {
      loading = undefined
      if (isModuleNotFound(err, packageName)) {
        throw new MissingPeerDependency(`${needer} needs the ${packageName} package: install it (npm install ${packageName})`, { cause: err })
      }
      throw err
    })
    return await loading
  }
}
