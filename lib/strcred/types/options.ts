import type { CheckerArguments, CheckerFactoryOption } from '../factory.js'
import { parseBoolean, parseDuration, parsePositiveInteger } from '../spec.js'

// The built-in types declare each option once, here: its description (the `options[]` data `--help-auth-type`
// prints) and how its value is read come from the same definition, so the help cannot name an option the factory
// ignores, nor describe a format the factory does not read.

/** How one option is described (its name is its key in `defineOptions`) and read. */
export interface OptionDefinition<T> extends Omit<CheckerFactoryOption, 'name'> {
  /** Turns the written value into what the factory uses. @throws {InvalidOption} a value it cannot take. */
  readonly read: (value: string, name: string) => T
}

type Description = Omit<CheckerFactoryOption, 'name' | 'values' | 'secret'>

/** Free text: a table, a DN, a path. */
export const text = (description: Description & { values?: string }): OptionDefinition<string> =>
  ({ ...description, read: (value) => value })

/** A password: inline, or `name-file=PATH`, or `name-env=VAR`; never shown. */
export const secret = (description: Omit<Description, 'example' | 'default'>): OptionDefinition<string> =>
  ({ ...description, secret: true, read: (value) => value })

/** `30s`, `500ms`, `5m`, `1h`, a bare number being seconds; read in milliseconds. */
export const duration = (description: Description): OptionDefinition<number> =>
  ({ ...description, values: 'a duration (500ms, 30s, 5m, 1h)', read: parseDuration })

/** A whole number, 1 or more. */
export const count = (description: Description): OptionDefinition<number> =>
  ({ ...description, values: 'a whole number, 1 or more', read: parsePositiveInteger })

/** `yes`/`no` (also `true`/`false`, `on`/`off`, `1`/`0`). */
export const yesNo = (description: Description): OptionDefinition<boolean> =>
  ({ ...description, values: 'yes or no', read: parseBoolean })

/** A column name, or `none` (or nothing) for a column the table does not have: `null`. */
export const column = (description: Description): OptionDefinition<string | null> =>
  ({ ...description, values: 'a column name, or none', read: (value) => value === '' || value === 'none' ? null : value })

/** The options a factory read, by name: `undefined` for those the spec did not give. */
export type OptionValues<D extends Record<string, OptionDefinition<unknown>>> = {
  readonly [K in keyof D]: ReturnType<D[K]['read']> | undefined
}

/** A built-in type's options: the `options[]` data of its factory, and the reader of a spec's values. */
export interface DefinedOptions<D extends Record<string, OptionDefinition<unknown>>> {
  /** The factory's `options`, in the order defined. */
  readonly options: readonly CheckerFactoryOption[]
  /**
   * The values of `args`, each read (and checked) when the factory first uses it, so a factory checks its argument
   * and its options in the order it always did.
   */
  values (args: CheckerArguments): OptionValues<D>
}

/**
 * Declares a built-in type's options.
 *
 * @example
 * const { options, values } = defineOptions({ timeout: duration({ help: 'how long a query may take', default: '5s' }) })
 * // in generateChecker: values(args).timeout  → 5000 for ";timeout=5s", undefined when not given
 */
export function defineOptions<D extends Record<string, OptionDefinition<unknown>>> (definitions: D): DefinedOptions<D> {
  const entries = Object.entries(definitions)
  const options = Object.freeze(entries.map(([name, { read: _read, ...description }]) => Object.freeze({ name, ...description })))
  return {
    options,
    values (args) {
      const out = {}
      for (const [name, { read }] of entries) {
        Object.defineProperty(out, name, {
          enumerable: true,
          get: () => {
            const value = args.options.get(name)
            return value === undefined ? undefined : read(value, name)
          }
        })
      }
      return out as OptionValues<D>
    }
  }
}
