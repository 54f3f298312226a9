import type { CredentialsChecker } from '../cred/index.js'

// The built-in auth types live in ./types/, one module each. Each store's checker module (and through it, its
// driver) is imported on first use, so that a spec for one store loads nothing of the others: `memory:` costs no
// database driver, `file:` no LDAP client.
export {
  builtinCheckerFactories, anonymousFactory, djangoFactory, fileFactory, htdigestFactory, ldapFactory, memoryFactory,
  sqlFactory, unixFactory
} from './types/index.js'

/** The checker a `cache=` option wrapped, by its wrapper: `closeCheckers` closes both. */
const wrapped = new WeakMap<CredentialsChecker, CredentialsChecker>()

/** Wraps a checker in a `CachingChecker` (the shared `cache=` option). */
export async function wrapInCache (checker: CredentialsChecker, options: { ttl: number, maxEntries?: number }): Promise<CredentialsChecker> {
  const { CachingChecker } = await import('../checkers/caching.js')
  const cached = new CachingChecker(checker, options)
  wrapped.set(cached, checker)
  return cached
}

/**
 * Releases what checkers hold (database pools, directory connections, file watchers): calls `close()` on each
 * checker that has one, and on the checker inside a `cache=` wrapper. Call it when the server stops; errors are
 * ignored (a pool that is already gone is fine).
 *
 * @example
 * const checkers = await resolveCheckers(['django:postgres://app@db/app;password-env=PGPASSWORD'])
 * app.addHook('onClose', async () => { await closeCheckers(checkers) })
 */
export async function closeCheckers (checkers: Iterable<CredentialsChecker>): Promise<void> {
  const all: CredentialsChecker[] = []
  for (const checker of checkers) {
    for (let inner: CredentialsChecker | undefined = checker; inner !== undefined; inner = wrapped.get(inner)) all.push(inner)
  }
  await Promise.all(all.map(async (checker) => {
    const close = (checker as { close?: unknown }).close
    if (typeof close === 'function') {
      try { await (close as () => unknown).call(checker) } catch {}
    }
  }))
}
