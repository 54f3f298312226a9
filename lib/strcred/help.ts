import { InvalidOption } from '../cred/index.js'
import { findCheckerPackages } from './discover.js'
import type { CheckerPackageSearch, PluginSearchOptions } from './discover.js'
import type { CheckerFactoryOption, CheckerFactoryRegistry } from './factory.js'
import { SHARED_OPTIONS, loadCheckerFactories } from './make-checker.js'

/**
 * The table of auth types and their argument formats, as Twisted's `--help-auth` prints it. The types of installed
 * packages that are not loaded (`found`, from `findCheckerPackages`) are listed by name and package only: listing them
 * runs none of their code.
 *
 * @example
 * process.stdout.write(formatAuthHelp(await loadCheckerFactories()))
 * // Usage: --auth AuthType[:ArgString][;option=value…]
 * // …
 * //   AuthType   ArgString format
 * //   ========   ================
 * //   anonymous  (no argument)
 */
export function formatAuthHelp (registry: CheckerFactoryRegistry, found?: CheckerPackageSearch): string {
  const factories = registry.factories()
  const unloaded = (found?.packages ?? []).flatMap((p) => p.authTypes.filter((type) => registry.get(type) === undefined).map((type) => ({ type, packageName: p.packageName })))
    .sort((a, b) => a.type < b.type ? -1 : 1)
  const width = Math.max('AuthType'.length, ...factories.map((f) => f.authType.length), ...unloaded.map((u) => u.type.length))
  const row = (a: string, b: string): string => `  ${a.padEnd(width)}  ${b}\n`
  let out = 'Usage: --auth AuthType[:ArgString][;option=value…]\n'
  out += 'For detailed help: --help-auth-type AuthType\n\n'
  out += row('AuthType', 'ArgString format')
  out += row('='.repeat('AuthType'.length), '='.repeat('ArgString format'.length))
  for (const factory of factories) {
    const source = registry.sourceOf(factory.authType)
    out += row(factory.authType, factory.argStringFormat + (source === 'built-in' || source === undefined ? '' : `   (from ${source})`))
  }
  for (const { type, packageName } of unloaded) out += row(type, `(--help-auth-type ${type})   (from ${packageName})`)
  for (const line of found?.ignored ?? []) out += `Ignored ${line}\n`
  out += '\nEvery type also takes ' + SHARED_OPTIONS.map((o) => `;${o.name}=…`).join(' and ') +
    ' (a cache of verified passwords).\nWrite ";;" for a ";" inside a value. Secret options also take NAME-file=PATH or NAME-env=VAR.\n'
  return out
}

/**
 * One auth type's help, as Twisted's `--help-auth-type` prints it: the format, the indented help, then each option
 * from the factory's `options` data (what it is, whether it is required, its values, its default, an example).
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
  const options = factory.options ?? []
  const nameWidth = Math.max(...[...options, ...SHARED_OPTIONS].map((o) => optionName(o).length)) + 2
  // A factory without `options` data (a third-party one may describe its options in authHelp) gets no section.
  if (options.length > 0) out += '  Options:\n' + options.map((o) => formatOption(o, nameWidth)).join('')
  out += '  Shared options:\n' + SHARED_OPTIONS.map((o) => formatOption(o, nameWidth)).join('')
  return out + '\n'
}

/** Lines of `--help-auth-type` are wrapped to this width. */
const HELP_WIDTH = 118
const OPTION_INDENT = '    '
const SHORT_SENTENCE = 40

const optionName = (option: CheckerFactoryOption): string => `${OPTION_INDENT}${option.name}=…`

/**
 * One option's entry: its name, then a sentence for what it is and for each of its other fields, wrapped under one
 * another. Fields a third-party factory left out, or gave as something other than text, are skipped.
 */
function formatOption (option: CheckerFactoryOption, nameWidth: number): string {
  const text = (value: unknown): value is string => typeof value === 'string' && value !== ''
  // One sentence for each field. A short one is kept on one line ("Default: 5s."), and so is an example, so that it
  // can be copied; a long one wraps between words.
  const words: string[] = []
  const sentence = (phrase: string): void => {
    const whole = phrase.charAt(0).toUpperCase() + phrase.slice(1).replace(/\s+/g, ' ') + (phrase.endsWith('.') ? '' : '.')
    words.push(...(whole.length <= SHORT_SENTENCE ? [whole] : whole.split(' ')))
  }
  if (text(option.help)) sentence(option.help)
  if (option.required === true) sentence('required')
  else if (text(option.required)) sentence(`required ${option.required}`)
  if (text(option.values)) sentence(`values: ${option.values}`)
  if (text(option.default)) sentence(`default: ${option.default}`)
  if (option.secret === true) sentence(`also ${option.name}-file=PATH or ${option.name}-env=VAR`)
  if (text(option.example)) words.push(`E.g. ${option.name}=${option.example}`)
  const lines: string[] = []
  let line = optionName(option).padEnd(nameWidth)
  let empty = true
  for (const word of words) {
    if (!empty && line.length + 1 + word.length > HELP_WIDTH) {
      lines.push(line)
      line = ' '.repeat(nameWidth)
      empty = true
    }
    line += (empty ? '' : ' ') + word
    empty = false
  }
  lines.push(line)
  return lines.map((l) => l.trimEnd() + '\n').join('')
}

/**
 * `--help-auth` as the command prints it: the built-in types and the types declared by installed packages (see
 * `findCheckerPackages`), none of whose code runs.
 *
 * @example
 * process.stdout.write(await authHelpText({ pluginDirs: ['/opt/cred-plugins/node_modules'] }))
 */
export async function authHelpText (options: PluginSearchOptions = {}): Promise<string> {
  return formatAuthHelp(await loadCheckerFactories([], options), await findCheckerPackages(options))
}

/**
 * `--help-auth-type <type>` as the command prints it, loading the one package that declares `authType` if it is not
 * built in.
 *
 * @example
 * process.stdout.write(await authTypeHelpText('ldap'))
 * @throws {InvalidOption} an unknown type, or a package that cannot be loaded.
 */
export async function authTypeHelpText (authType: string, options: PluginSearchOptions = {}): Promise<string> {
  return formatAuthTypeHelp(await loadCheckerFactories(/^[a-z][a-z0-9-]*$/.test(authType) ? [authType] : [], options), authType)
}
