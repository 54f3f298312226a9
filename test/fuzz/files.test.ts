// Property-based tests (fast-check, seeded) of the parsers that read what a deployer writes: checker specs
// (strcred) and Apache's password files. Each formats random valid input, parses it back, and checks that garbage
// never throws past the parser.
import { createHash } from 'node:crypto'
import fc from 'fast-check'
import t from 'tap'
import { InvalidOption } from '../../lib/cred/index.js'
import { HTPASSWD_HASHERS } from '../../lib/hashers/index.js'
import { parseHtpasswd } from '../../lib/checkers/htpasswd.js'
import { parseHtdigest } from '../../lib/checkers/htdigest.js'
import { escapeSpecValue, parseArgString, parseSpec } from '../../lib/strcred/index.js'

const SEED = 20261125
const RUNS = 2000
const run = <Ts extends [unknown, ...unknown[]]>(property: fc.IPropertyWithHooks<Ts>): void => {
  fc.assert(property, { seed: SEED, numRuns: RUNS })
}

/** Any string, lone surrogates and controls included. */
const anything = fc.oneof(fc.string({ unit: 'binary', maxLength: 120 }), fc.string({ maxLength: 120 }))
const optionName = fc.stringMatching(/^[a-z][a-z0-9-]{0,11}$/)
/** A field of a password file: no line break (a file is split at them), at least one character. */
const field = (forbidden: string): fc.Arbitrary<string> =>
  fc.string({ unit: 'binary', minLength: 1, maxLength: 24 }).filter((s) => ![...forbidden, '\n', '\r'].some((c) => s.includes(c)))

t.test('strcred: an argument and options, each escaped with escapeSpecValue, parse back exactly', async (t) => {
  run(fc.property(anything, fc.array(fc.tuple(optionName, anything), { maxLength: 5 }), (argument, options) => {
    const argString = escapeSpecValue(argument) + options.map(([name, value]) => `;${name}=${escapeSpecValue(value)}`).join('')
    const parsed = parseArgString(argString)
    return parsed.argument === argument && JSON.stringify(parsed.options) === JSON.stringify(options)
  }))
  t.pass(`${RUNS} round trips`)
})

t.test('strcred: the auth type is what comes before the first ":" (or ";"), the rest is the argument string', async (t) => {
  const authType = fc.stringMatching(/^[a-z][a-z0-9-]{0,11}$/)
  run(fc.property(authType, anything, (type, rest) => {
    const { authType: parsedType, argString } = parseSpec(`${type}:${rest}`)
    return parsedType === type && argString === rest
  }))
  t.pass('split at the first ":"')
})

t.test('strcred: garbage argument strings throw only InvalidOption, whose message never repeats a value', async (t) => {
  const secret = fc.string({ unit: 'binary', minLength: 6, maxLength: 20 }).map((s) => `S3cr3t${s}`)
  run(fc.property(anything, secret, anything, (before, value, after) => {
    // A single ";" inside a password, forgotten to be doubled, turns the rest into a malformed option.
    const argString = `${before};${value}${after}`
    try {
      parseArgString(argString)
      return true
    } catch (err) {
      return err instanceof InvalidOption && !err.message.includes(value)
    }
  }))
  run(fc.property(anything, (argString) => {
    try {
      parseArgString(argString)
      parseSpec(argString)
      return true
    } catch (err) {
      return err instanceof InvalidOption
    }
  }))
  t.pass('only InvalidOption, no value echoed')
})

t.test('htpasswd: users and {SHA} hashes written as lines parse back to the same users and hashes', async (t) => {
  const sha = (password: string): string => `{SHA}${createHash('sha1').update(password, 'utf8').digest('base64')}`
  // Apache's reader drops a line's leading white space: a name cannot start with it (nor with '#').
  const user = field(':').filter((name) => !/^[\t\n\v\f\r #]/.test(name) && name.trim() !== '')
  run(fc.property(fc.uniqueArray(fc.tuple(user, fc.string({ maxLength: 20 })), { selector: ([name]) => name, maxLength: 8 }), fc.boolean(), (entries, crlf) => {
    const text = entries.map(([name, password]) => `${name}:${sha(password)}`).join(crlf ? '\r\n' : '\n') + '\n'
    const parsed = parseHtpasswd(text, HTPASSWD_HASHERS)
    if (!parsed.ok) return false
    return parsed.value.users.size === entries.length &&
      entries.every(([name, password]) => parsed.value.users.get(name)?.encoded === sha(password))
  }))
  t.pass('round trips')
})

t.test('htdigest: user:realm:HA1 lines parse back, realms with ":" included', async (t) => {
  // Apache's reader drops a line's leading white space: a name cannot start with it (nor with '#').
  const user = field(':').filter((name) => !/^[\t\n\v\f\r #]/.test(name) && name.trim() !== '')
  const realm = field('')
  const ha1 = fc.stringMatching(/^[0-9a-fA-F]{32}$/)
  run(fc.property(fc.uniqueArray(fc.tuple(user, realm, ha1), { selector: ([name, inRealm]) => `${name}\0${inRealm}`, maxLength: 8 }), (entries) => {
    const parsed = parseHtdigest(entries.map(([name, inRealm, hash]) => `${name}:${inRealm}:${hash}`).join('\n'))
    if (!parsed.ok) return false
    return entries.every(([name, inRealm, hash]) => parsed.value.get(inRealm)?.get(name) === hash.toLowerCase())
  }))
  t.pass('round trips')
})

t.test('password files: any text parses to users or to one line named as the problem, never a throw', async (t) => {
  const lines = fc.array(fc.oneof(anything, fc.constantFrom('#comment', '', 'alice:{SHA}x', 'bob:$2y$10$abc', 'a:b:c', ':', '::::')), { maxLength: 12 })
  run(fc.property(lines, (list) => {
    const text = list.join('\n')
    const count = text.split('\n').length
    for (const parsed of [parseHtpasswd(text, HTPASSWD_HASHERS), parseHtdigest(text)]) {
      if (!parsed.ok && (parsed.line < 1 || parsed.line > count || parsed.problem === '')) return false
    }
    return true
  }))
  t.pass('never throws')
})
