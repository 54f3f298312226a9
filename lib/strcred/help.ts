import { InvalidOption } from '../cred/index.js'
import type { CheckerFactoryRegistry } from './factory.js'
import { SHARED_OPTIONS } from './make-checker.js'

/**
 * The table of auth types and their argument formats, as Twisted's `--help-auth` prints it.
 *
 * @example
 * process.stdout.write(formatAuthHelp(await loadCheckerFactories()))
 * // Usage: --auth AuthType[:ArgString][;option=value…]
 * // …
 * //   AuthType   ArgString format
 * //   ========   ================
 * //   anonymous  (no argument)
 */
export function formatAuthHelp (registry: CheckerFactoryRegistry): string {
  const factories = registry.factories()
  const width = Math.max('AuthType'.length, ...factories.map((f) => f.authType.length))
  const row = (a: string, b: string): string => `  ${a.padEnd(width)}  ${b}\n`
  let out = 'Usage: --auth AuthType[:ArgString][;option=value…]\n'
  out += 'For detailed help: --help-auth-type AuthType\n\n'
  out += row('AuthType', 'ArgString format')
  out += row('='.repeat('AuthType'.length), '='.repeat('ArgString format'.length))
  for (const factory of factories) {
    const source = registry.sourceOf(factory.authType)
    out += row(factory.authType, factory.argStringFormat + (source === 'built-in' || source === undefined ? '' : `   (from ${source})`))
  }
  out += '\nEvery type also takes ' + SHARED_OPTIONS.map((o) => `;${o.name}=…`).join(' and ') +
    ' (a cache of verified passwords).\nWrite ";;" for a ";" inside a value. Secret options also take NAME-file=PATH or NAME-env=VAR.\n'
  return out
}

/**
 * One auth type's help, as Twisted's `--help-auth-type` prints it: the format, then the indented help.
 *
 * @throws {InvalidOption} an unknown type, naming the valid ones.
 */
export function formatAuthTypeHelp (registry: CheckerFactoryRegistry, authType: string): string {
  const factory = registry.get(authType)
  if (factory === undefined) {
    const shown = /^[A-Za-z][A-Za-z0-9-]{0,39}$/.test(authType) ? ` "${authType}"` : ''
    throw new InvalidOption(`Unknown auth type${shown}; valid types: ${registry.authTypes().join(', ')}`)
  }
  let out = `Usage: --auth ${factory.authType}${factory.argStringFormat.startsWith('(') ? '' : ':ArgString'}\n`
  out += `ArgString format: ${factory.argStringFormat}\n`
  const source = registry.sourceOf(authType)
  if (source !== 'built-in' && source !== undefined) out += `Provided by package: ${source}\n`
  out += '\n'
  for (const line of factory.authHelp.trim().split('\n')) out += `  ${line.trimEnd()}\n`
  const documented = factory.authHelp.includes('Options:')
  const options = factory.options ?? []
  if (!documented && options.length > 0) {
    out += '  Options:\n'
    for (const option of options) out += `    ${option.name}=…`.padEnd(24) + `${option.help}${option.secret === true ? ` (or ${option.name}-file=, ${option.name}-env=)` : ''}\n`
  }
  out += '  Shared options:\n'
  for (const option of SHARED_OPTIONS) out += `    ${option.name}=…`.padEnd(24) + `${option.help}\n`
  return out + '\n'
}
