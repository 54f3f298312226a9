import { isModuleNotFound, missingPeer } from './optional-peer.js'

/**
 * The one place the store drivers and native hashers are loaded: optional peer dependencies, imported on first use
 * (a user of htpasswd files installs none of them), each a `MissingPeerDependency` naming what to install when it is
 * missing. Every store and hasher loads its driver through `loadDriver`, and tests replace one with `overrideDriver`:
 * no store carries a test-only hook in its options.
 */

interface Driver {
  /** What `npm install` needs, with the version the README names. */
  readonly install: string
  /** The `import()` itself, written here so that bundlers and TypeScript see the module name. */
  readonly load: () => Promise<unknown>
}

/** The optional peer dependencies fastify-cred loads: store drivers, native hashers, and prom-client for metrics. */
export type DriverName = 'bcrypt' | 'argon2' | 'pg' | 'mysql2' | 'better-sqlite3' | 'ldapts' | 'node-linux-pam' | 'ioredis'
  | 'jose' | '@fastify/websocket' | 'ssh2' | 'prom-client'

const DRIVERS: Readonly<Record<DriverName, Driver>> = {
  bcrypt: { install: 'bcrypt', load: async () => await import('bcrypt') },
  argon2: { install: 'argon2', load: async () => await import('argon2') },
  pg: { install: 'pg', load: async () => await import('pg') },
  mysql2: { install: 'mysql2', load: async () => await import('mysql2/promise') },
  // Only resolved here: the SQLite worker thread imports it from this URL, so no SQLite runs on the event loop.
  'better-sqlite3': { install: 'better-sqlite3@12', load: async () => import.meta.resolve('better-sqlite3') },
  ldapts: { install: 'ldapts@8', load: async () => await import('ldapts') },
  'node-linux-pam': { install: 'node-linux-pam; it builds against libpam0g-dev', load: async () => await import('node-linux-pam') },
  ioredis: { install: 'ioredis', load: async () => await import('ioredis') },
  jose: { install: 'jose@6', load: async () => await import('jose') },
  '@fastify/websocket': { install: '@fastify/websocket', load: async () => await import('@fastify/websocket') },
  ssh2: { install: 'ssh2', load: async () => await import('ssh2') },
  'prom-client': { install: 'prom-client@15', load: async () => await import('prom-client') }
}

const loaded = new Map<DriverName, Promise<unknown>>()
const overrides = new Map<DriverName, () => Promise<unknown>>()

/**
 * The module of driver `name` (for `better-sqlite3`, the URL to import it from), imported once; a failed import is
 * not remembered, so an app may install the package and try again.
 *
 * @param needer Who needs it, for the message: `'LdapChecker'`, `'A postgres:// user database'`.
 * @throws MissingPeerDependency naming the package and the `npm install` line when it is not installed; any other
 * failure (a native build that does not load) as it is.
 * @example
 * const pg = await loadDriver('pg', 'A postgres:// user database')
 */
export async function loadDriver (name: DriverName, needer: string): Promise<unknown> {
  const override = overrides.get(name)
  let loading = override === undefined ? loaded.get(name) : override()
  if (loading === undefined) {
    const started = DRIVERS[name].load()
    loading = started
    loaded.set(name, started)
    started.catch(() => { if (loaded.get(name) === started) loaded.delete(name) })
  }
  try {
    return await loading
  } catch (err) {
    if (isModuleNotFound(err, name)) throw missingPeer(name, needer, DRIVERS[name].install, err)
    throw err
  }
}

/**
 * For tests, never exported from the package: until the returned function is called, `loadDriver(name)` answers
 * what `loader` does (called on every load, so a test can count loads), e.g. a rejection with a module-not-found
 * error to simulate a missing package, or a fake module for fault injection.
 *
 * @example
 * const restore = overrideDriver('ldapts', async () => { throw Object.assign(new Error("Cannot find package 'ldapts'"), { code: 'ERR_MODULE_NOT_FOUND' }) })
 * t.teardown(restore)
 * @internal
 */
export function overrideDriver (name: DriverName, loader: () => Promise<unknown>): () => void {
  if (!(name in DRIVERS)) throw new TypeError(`overrideDriver: no driver named ${JSON.stringify(name)}`)
  const previous = overrides.get(name)
  overrides.set(name, loader)
  return () => {
    if (overrides.get(name) !== loader) return
    if (previous === undefined) overrides.delete(name)
    else overrides.set(name, previous)
  }
}
