import { MissingPeerDependency } from '../cred/index.js'
import { randomSecret } from './common.js'
import type { PasswordHasher } from './hasher.js'

/** The slice of the native `bcrypt` package used here (its promise API, computed on libuv's threadpool). */
interface BcryptModule {
  hash (data: string, saltOrRounds: number): Promise<string>
  compare (data: string, encrypted: string): Promise<boolean>
}

const BCRYPT = /^\$2[aby]\$(\d\d)\$[./A-Za-z0-9]{53}$/
const DEFAULT_COST = 10

let loading: Promise<BcryptModule> | undefined
let loadedWith: unknown

/** Internal, for tests only: replaces `import('bcrypt')`, to simulate a missing package. */
export const bcryptImport = { load: async (): Promise<unknown> => await import('bcrypt' as string) }

async function loadBcrypt (): Promise<BcryptModule> {
  if (loadedWith !== bcryptImport.load) loading = undefined
  loadedWith = bcryptImport.load
  loading ??= bcryptImport.load().then((loaded) => {
    const module = ((loaded as { default?: unknown }).default ?? loaded) as Partial<BcryptModule>
    if (typeof module.compare !== 'function' || typeof module.hash !== 'function') {
      throw new MissingPeerDependency('bcrypt hashes need the bcrypt package (version 6): npm install bcrypt@6')
    }
    return module as BcryptModule
  }, (err: unknown) => {
    throw new MissingPeerDependency('bcrypt hashes need the optional bcrypt package: npm install bcrypt@6', { cause: err })
  })
  // Do not remember a failure: installing the package must not need a restart of a test runner or REPL.
  loading.catch(() => { loading = undefined })
  return await loading
}

/** The cost of a bcrypt hash (its `$2y$NN$`), or undefined. */
export function bcryptCost (encoded: string): number | undefined {
  const match = BCRYPT.exec(encoded)
  return match === null ? undefined : Number(match[1])
}

/**
 * bcrypt (`htpasswd -B`, which always writes `$2y$`; also `$2a$` and `$2b$`), with the native `bcrypt` package:
 * an optional peer dependency, loaded on first use, that hashes on libuv's threadpool so the event loop stays free.
 * `$2y$` is rewritten to `$2b$` before comparing: the algorithms are identical, but native bcrypt answers `false`
 * for the `$2y$` spelling. `hash` writes `$2y$`, as Apache does. Only the first 72 bytes of a password count.
 *
 * @example
 * import { bcryptHasher } from 'fastify-cred'
 * const encoded = await bcryptHasher.hash('wonderland', { cost: 12 }) // '$2y$12$…'
 * await bcryptHasher.verify('wonderland', encoded) // true
 * @throws MissingPeerDependency from `verify`, `decoy` and `hash` when the `bcrypt` package is not installed
 */
export const bcryptHasher: PasswordHasher = Object.freeze({
  name: 'bcrypt',
  identifies (encoded: string): boolean {
    return /^\$2[aby]\$/.test(encoded)
  },
  async verify (plain: string, encoded: string): Promise<boolean> {
    if (!BCRYPT.test(encoded)) return false
    const bcrypt = await loadBcrypt()
    return await bcrypt.compare(plain, encoded.startsWith('$2y$') ? `$2b$${encoded.slice(4)}` : encoded)
  },
  async decoy (like?: string): Promise<string> {
    return await hashBcrypt(randomSecret(), (like === undefined ? undefined : bcryptCost(like)) ?? DEFAULT_COST)
  },
  /** `options.cost`: 4 to 31, default 10. */
  async hash (plain: string, options: Readonly<Record<string, unknown>> = {}): Promise<string> {
    const cost = options.cost ?? DEFAULT_COST
    if (typeof cost !== 'number' || !Number.isInteger(cost) || cost < 4 || cost > 31) throw new RangeError('bcrypt cost must be an integer from 4 to 31')
    return await hashBcrypt(plain, cost)
  }
})

async function hashBcrypt (plain: string, cost: number): Promise<string> {
  const bcrypt = await loadBcrypt()
  const encoded = await bcrypt.hash(plain, cost)
  return encoded.startsWith('$2b$') ? `$2y$${encoded.slice(4)}` : encoded
}
