import { InvalidOption } from '../cred/index.js'
import { BasicScheme } from './basic-scheme.js'
import { BearerScheme } from './bearer-scheme.js'
import { DigestScheme } from './digest-scheme.js'
import type { DigestSchemeOptions } from './digest-scheme.js'
import type { HttpAuthScheme } from './scheme.js'

/** The schemes built in, by name; objects implementing `HttpAuthScheme` stand for others. */
export type SchemeName = 'basic' | 'digest' | 'bearer'

/** Options of the `'digest'` scheme; its protection space is the `authenticationRealm` given beside them. */
export type DigestPluginOptions = Omit<DigestSchemeOptions, 'authenticationRealm'>

/** What `buildSchemes` made, and the Digest schemes it owns (to `close()` when the server stops). */
export interface BuiltSchemes {
  readonly schemes: HttpAuthScheme[]
  readonly owned: DigestScheme[]
}

/**
 * Builds the schemes named in `list` (`'basic'`, `'digest'`, `'bearer'`), keeping `HttpAuthScheme` objects as they are.
 *
 * @param list Names or scheme objects, in the order their challenges are sent.
 * @param authenticationRealm The protection space of the built schemes.
 * @param digest Options of the `'digest'` scheme; an error when `list` does not name `'digest'`.
 * @throws `InvalidOption` for an unknown name, an empty list, or Digest options without `'digest'`.
 *
 * @example
 * const { schemes } = buildSchemes(['digest', 'basic'], 'api', { algorithms: ['SHA-256', 'MD5'] })
 */
export function buildSchemes (list: ReadonlyArray<SchemeName | HttpAuthScheme>, authenticationRealm: string, digest?: DigestPluginOptions): BuiltSchemes {
  if (!Array.isArray(list) || list.length === 0) throw new InvalidOption('`schemes` must be a non-empty array, e.g. [\'basic\']')
  if (digest !== undefined && !list.includes('digest')) {
    throw new InvalidOption('`digest` options are given but `schemes` does not list \'digest\'')
  }
  const owned: DigestScheme[] = []
  const schemes = list.map((scheme): HttpAuthScheme => {
    if (scheme === 'basic') return new BasicScheme(authenticationRealm)
    if (scheme === 'bearer') return new BearerScheme({ authenticationRealm })
    if (scheme === 'digest') {
      const built = new DigestScheme({ ...digest, authenticationRealm })
      owned.push(built)
      return built
    }
    if (typeof scheme === 'object' && scheme !== null) return scheme
    throw new InvalidOption(`unknown scheme ${JSON.stringify(scheme)}; use 'basic', 'digest', 'bearer' or an HttpAuthScheme object`)
  })
  return { schemes, owned }
}
