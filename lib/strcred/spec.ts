import { InvalidOption } from '../cred/index.js'

/**
 * The one syntax of a checker spec, shared by every auth type (built in or third-party):
 *
 * ```
 * type[:argument][;name=value]…
 * ```
 *
 * - The auth type is everything before the first `:` (Twisted's `makeChecker` rule); a spec without `:` is a type
 *   with an empty argument (`anonymous`, `unix`), which may still take options (`unix;cache=30s`).
 * - After it, `;` separates the argument from the options, and the options from each other. Each option is
 *   `name=value` (split at the first `=`). To put a `;` itself in the argument or in a value, double it: `;;`.
 *   Nothing else is special: `:`, `,`, `=`, `%`, `\` and spaces are kept as they are.
 * - An option the type declares as a secret (`password`, `bind-password`) is given inline as `name=value`, or read
 *   from a file with `name-file=PATH` (one trailing newline dropped) or from the environment with `name-env=VAR`.
 */
export interface ParsedSpec {
  /** The auth type, before the first `:`. */
  readonly authType: string
  /** Everything after the first `:` (empty when there is none): what Twisted hands `generateChecker`. */
  readonly argString: string
}

/** The argument string split into its argument and its options. */
export interface ParsedArgString {
  /** The argument, `;;` turned into `;`. */
  readonly argument: string
  /** The options in the order written, `;;` turned into `;` in their values. */
  readonly options: ReadonlyArray<readonly [name: string, value: string]>
}

/**
 * Splits a spec at its first `:` into auth type and argument string.
 *
 * @example
 * parseSpec('memory:alice:wonderland')  // { authType: 'memory', argString: 'alice:wonderland' }
 * parseSpec('anonymous')                // { authType: 'anonymous', argString: '' }
 * parseSpec('unix;cache=30s')           // { authType: 'unix', argString: ';cache=30s' }
 */
export function parseSpec (spec: string): ParsedSpec {
  if (typeof spec !== 'string') throw new InvalidOption('A checker spec must be a string such as "file:/etc/app/users.htpasswd"')
  const colon = spec.indexOf(':')
  const semicolon = spec.indexOf(';')
  // A type without an argument may still take options: `unix;cache=30s`.
  if (semicolon !== -1 && (colon === -1 || semicolon < colon)) return { authType: spec.slice(0, semicolon), argString: spec.slice(semicolon) }
  return colon === -1 ? { authType: spec, argString: '' } : { authType: spec.slice(0, colon), argString: spec.slice(colon + 1) }
}

/**
 * Splits an argument string into its argument and `name=value` options (see `ParsedSpec` for the syntax).
 *
 * @example
 * parseArgString('/etc/app/users.htpasswd;cache=30s')
 * // { argument: '/etc/app/users.htpasswd', options: [['cache', '30s']] }
 * @throws {InvalidOption} an option without `=` or with an empty name; the message never repeats a value.
 */
export function parseArgString (argString: string): ParsedArgString {
  const fields: string[] = []
  let current = ''
  for (let i = 0; i < argString.length; i++) {
    const c = argString[i]
    if (c !== ';') { current += c; continue }
    if (argString[i + 1] === ';') { current += ';'; i++; continue }
    fields.push(current)
    current = ''
  }
  fields.push(current)
  const [argument = '', ...rest] = fields
  const options: Array<readonly [string, string]> = []
  for (const field of rest) {
    const eq = field.indexOf('=')
    const name = eq === -1 ? field : field.slice(0, eq)
    if (eq === -1 || !/^[a-z][a-z0-9-]*$/.test(name)) {
      // The field may be a piece of a password that held a single ';': say where, never what.
      throw new InvalidOption(`Options in a checker spec are written ";name=value" (name in lower case, e.g. ";cache=30s"); option ${options.length + 1} is not (write ";;" for a ";" inside a value)`)
    }
    options.push([name, field.slice(eq + 1)])
  }
  return { argument, options }
}

/**
 * Doubles every `;`, so that `value` can be written into a spec as an argument or an option value.
 *
 * @example
 * `memory:alice:${escapeSpecValue('pa;ss')}`  // 'memory:alice:pa;;ss'
 */
export function escapeSpecValue (value: string): string {
  return value.replaceAll(';', ';;')
}

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }

/**
 * Reads a duration option: a number with an optional unit `ms`, `s` (the default), `m` or `h`.
 *
 * @example
 * parseDuration('30s', 'cache')  // 30000
 * parseDuration('5m', 'cache')   // 300000
 * @throws {InvalidOption} naming the option and the expected form.
 */
export function parseDuration (value: string, option: string): number {
  const match = DURATION.exec(value.trim())
  if (match === null) throw new InvalidOption(`Option "${option}" takes a duration such as 30s, 500ms, 5m or 1h (a bare number is seconds)`)
  return Math.round(Number(match[1]) * (UNIT_MS[match[2] ?? 's'] ?? 1000))
}

/**
 * Reads a positive integer option.
 *
 * @example
 * parsePositiveInteger('10000', 'cache-size')  // 10000
 *
 * @throws {InvalidOption} naming the option.
 */
export function parsePositiveInteger (value: string, option: string): number {
  if (!/^\d+$/.test(value.trim()) || Number(value) < 1 || !Number.isSafeInteger(Number(value))) {
    throw new InvalidOption(`Option "${option}" takes a positive whole number`)
  }
  return Number(value)
}

/**
 * Reads a yes/no option: `yes`, `true`, `1`, `on` or `no`, `false`, `0`, `off`.
 *
 * @example
 * parseBoolean('no', 'case-sensitive')  // false
 *
 * @throws {InvalidOption} naming the option.
 */
export function parseBoolean (value: string, option: string): boolean {
  const v = value.trim().toLowerCase()
  if (['yes', 'true', '1', 'on'].includes(v)) return true
  if (['no', 'false', '0', 'off'].includes(v)) return false
  throw new InvalidOption(`Option "${option}" takes yes or no`)
}
