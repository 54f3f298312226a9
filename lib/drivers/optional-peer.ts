import { MissingPeerDependency } from '../cred/index.js'

/** True when `err` says a package could not be found (and, from loader hooks without a code, that it was `packageName`). */
export const isModuleNotFound = (err: unknown, packageName?: string): boolean => {
  const { code, message } = (err ?? {}) as { code?: unknown, message?: unknown }
  if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') return true
  // Loader hooks (tsx, tap's TypeScript loader) rethrow without the code.
  return typeof message === 'string' && /Cannot find (package|module)/.test(message) && (packageName === undefined || message.includes(`'${packageName}`))
}

/**
 * The `MissingPeerDependency` for `packageName` not being installed, naming what to type.
 *
 * @param install What follows `npm install`, e.g. `'ldapts@8'`; default `packageName`.
 * @example
 * missingPeer('pg', 'A postgres:// user database')
 * // MissingPeerDependency: A postgres:// user database needs the pg package: install it (npm install pg)
 */
export function missingPeer (packageName: string, needer: string, install: string = packageName, cause?: unknown): MissingPeerDependency {
  return new MissingPeerDependency(`${needer} needs the ${packageName} package: install it (npm install ${install})`, { cause })
}

/**
 * Loads an optional package once, on first use (a failure is not remembered: the app may install it and retry). A
 * package that is not installed becomes a `MissingPeerDependency` naming what to install; any other failure (a
 * broken native build) is rethrown as is. For the store drivers use `loadDriver`, which tests can override.
 *
 * @param packageName What `npm install` needs, e.g. `'@fastify/static'`.
 * @param needer Who needs it, for the message: `'serve --static'`.
 * @param importer The `import()` itself, written at the call site so bundlers and TypeScript see the module name.
 * @throws MissingPeerDependency when the package is not installed.
 *
 * @example
 * const loadStatic = optionalPeer('@fastify/static', 'serve --static', async () => await import('@fastify/static'))
 * const { default: fastifyStatic } = await loadStatic()
 */
export function optionalPeer<T> (packageName: string, needer: string, importer: () => Promise<T>): () => Promise<T> {
  let loading: Promise<T> | undefined
  return async () => {
    loading ??= importer().catch((err: unknown) => {
      loading = undefined
      if (isModuleNotFound(err, packageName)) throw missingPeer(packageName, needer, packageName, err)
      throw err
    })
    return await loading
  }
}
