// Each built-in auth type's options, one list: what its factory reads from a spec, its `options` data (which decides
// what makeChecker lets through), its --help-auth-type text and the table in docs/reference/strcred.md name the same options (they once
// drifted apart: django's `table` was documented in prose and in data separately).
import t from 'tap'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { InvalidOption } from '../../lib/cred/index.js'
import {
  CheckerFactoryRegistry, SHARED_OPTIONS, builtinCheckerFactories, closeCheckers, escapeSpecValue, formatAuthHelp,
  formatAuthTypeHelp, makeChecker, parseArgString, parseSpec
} from '../../lib/strcred/index.js'
import type { CheckerFactory } from '../../lib/strcred/index.js'

const registry = new CheckerFactoryRegistry(builtinCheckerFactories)
const dir = await mkdtemp(join(tmpdir(), 'fastify-cred-strcred-options-'))
t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })

const builtin = (type: string): CheckerFactory => registry.get(type) ?? t.fail(`no built-in ${type}`) as never
const declared = (factory: CheckerFactory): string[] => (factory.options ?? []).map((o) => o.name)
const shared = SHARED_OPTIONS.map((o) => o.name)

// One valid spec per type. A factory asks for each option it knows when it reaches it, given or not, so that one spec
// that gets past the argument checks shows every option its parser reads (the files and the server need not exist:
// what happens after the options are read does not matter here).
const SPECS: Record<string, string> = {
  anonymous: 'anonymous',
  apikey: `apikey:${join(dir, 'api-keys')}`,
  cert: `cert:fingerprint;pins=${join(dir, 'pins')}`,
  jwt: 'jwt:https://login.example.com/.well-known/jwks.json',
  django: `django:${join(dir, 'db.sqlite3')}`,
  file: `file:${join(dir, 'users.htpasswd')}`,
  htdigest: `htdigest:${join(dir, 'users.htdigest')}`,
  ldap: 'ldap:ldap://127.0.0.1:9;base-dn=dc=example,dc=com',
  memory: 'memory:alice;password=wonderland',
  sql: `sql:${join(dir, 'db.sqlite3')};table=users`,
  sshkey: `sshkey:${join(dir, 'authorized_keys')}`,
  unix: 'unix'
}

/**
 * The options `factory`'s parser asks for while it makes a checker from `spec` (whatever the outcome), against its
 * `options` data: read but not listed (a user cannot give it), listed but never read (given, it does nothing).
 */
async function drift (factory: CheckerFactory, spec: string): Promise<{ undocumented: string[], unread: string[] }> {
  const read = new Set<string>()
  class RecordingMap extends Map<string, string> {
    override get (name: string): string | undefined { read.add(name); return super.get(name) }
    override has (name: string): boolean { read.add(name); return super.has(name) }
  }
  const recording: CheckerFactory = {
    ...factory,
    generateChecker: (argString, args) => factory.generateChecker(argString, { ...args, options: new RecordingMap(args.options) })
  }
  const made = await makeChecker(spec, { registry: new CheckerFactoryRegistry([recording]), env: {} }).catch(() => undefined)
  if (made !== undefined) await closeCheckers([made])
  const listed = declared(factory)
  return { undocumented: [...read].filter((name) => !listed.includes(name)).sort(), unread: listed.filter((name) => !read.has(name)) }
}

t.test('every built-in type has a spec here', async (t) => {
  t.same(Object.keys(SPECS).sort(), registry.authTypes())
})

t.test('each factory reads exactly the options its data lists', async (t) => {
  for (const factory of builtinCheckerFactories) {
    t.same(await drift(factory, SPECS[factory.authType] ?? ''), { undocumented: [], unread: [] }, factory.authType)
  }
})

t.test('data that drifted from the parser fails that check', async (t) => {
  const django = builtin('django')
  const withoutTable = { ...django, options: (django.options ?? []).filter((o) => o.name !== 'table') }
  t.same(await drift(withoutTable, SPECS.django ?? ''), { undocumented: ['table'], unread: [] }, 'an option the parser reads but the data leaves out')
  const withTypo = { ...django, options: [...(django.options ?? []), { name: 'tabel', help: 'the user table' }] }
  t.same(await drift(withTypo, SPECS.django ?? ''), { undocumented: [], unread: ['tabel'] }, 'an option the data lists but the parser never reads')
})

t.test('an option the data does not list is refused, naming the ones it does', async (t) => {
  for (const factory of builtinCheckerFactories) {
    const err = await makeChecker(`${SPECS[factory.authType] ?? ''};not-an-option=1`, { registry, env: {} }).then(() => undefined, (e: unknown) => e)
    t.type(err, InvalidOption, factory.authType)
    t.match((err as Error).message, `is not one of its options: ${[...declared(factory), ...shared].join(', ')} (`, factory.authType)
  }
})

// A value outside what an option's data says it takes is refused by the parser, naming the option: the data's
// `values` describe what the parser reads. Every `values` an option gives must be listed here.
const BAD_VALUES: ReadonlyArray<[values: string, bad: string | undefined]> = [
  ['yes or no', 'maybe'],
  ['a duration (500ms, 30s, 5m, 1h)', 'soon'],
  ['a whole number, 1 or more', '0'],
  ['base, one or sub', 'deep'],
  ['a column name, or none', undefined] // any name is a column name
]

t.test('each option\'s values are what its parser takes', async (t) => {
  for (const factory of builtinCheckerFactories) {
    for (const option of factory.options ?? []) {
      if (option.values === undefined) continue
      const known = BAD_VALUES.find(([values]) => values === option.values)
      t.ok(known, `${factory.authType} ${option.name}: a bad value is known for "${option.values}"`)
      const bad = known?.[1]
      if (bad === undefined) continue
      const spec = `${SPECS[factory.authType] ?? ''};${option.name}=${escapeSpecValue(bad)}`
      await t.rejects(makeChecker(spec, { registry, env: {} }), { name: 'InvalidOption', message: new RegExp(`\\b${option.name}\\b`) }, `${factory.authType}: ${option.name}=${bad}`)
    }
  }
})

t.test('--help-auth-type prints every option, from its data', async (t) => {
  for (const factory of builtinCheckerFactories) {
    const help = formatAuthTypeHelp(registry, factory.authType)
    const flat = help.replace(/\s+/g, ' ')
    t.same([...help.matchAll(/^ {4}([a-z][a-z0-9-]*)=… /gm)].map((m) => m[1]), [...declared(factory), ...shared], `${factory.authType}: one entry per option, in order`)
    t.notOk(help.split('\n').some((line) => line.length > 118), `${factory.authType}: lines fit in 118 columns`)
    for (const option of factory.options ?? []) {
      const says = (text: string): void => { t.ok(flat.includes(text), `${factory.authType} ${option.name}: ${text}`) }
      says(option.help.slice(1))
      if (typeof option.required === 'string') says(`Required ${option.required}.`)
      if (option.values !== undefined) says(`Values: ${option.values}.`)
      if (option.default !== undefined) says(`Default: ${option.default}.`)
      if (option.example !== undefined) says(`E.g. ${option.name}=${option.example}`)
      if (option.secret === true) says(`Also ${option.name}-file=PATH or ${option.name}-env=VAR.`)
    }
    t.notMatch(factory.authHelp, /^\s*Options:/m, `${factory.authType}: no option list written by hand`)
  }
})

t.test('the example specs in each type\'s help give only its options', async (t) => {
  for (const factory of builtinCheckerFactories) {
    const secrets = (factory.options ?? []).filter((o) => o.secret === true).map((o) => o.name)
    const allowed = [...declared(factory), ...shared, ...secrets.flatMap((name) => [`${name}-file`, `${name}-env`])]
    const examples = factory.authHelp.split('\n').map((line) => line.trim().split(/\s{2,}/)[0] ?? '')
      .filter((line) => line === factory.authType || line.startsWith(`${factory.authType}:`) || line.startsWith(`${factory.authType};`))
    for (const example of examples) {
      const given = parseArgString(parseSpec(example).argString).options.map(([name]) => name)
      t.same(given.filter((name) => !allowed.includes(name)), [], `${factory.authType}: ${example}`)
    }
  }
})

t.test('a third-party factory\'s options: printed from its data, or left to its prose', async (t) => {
  const base = { argStringFormat: '<user>', credentialInterfaces: [], generateChecker: () => ({ credentialInterfaces: [], requestAvatarId: () => 'x' }) }
  const own = new CheckerFactoryRegistry()
    .add({ ...base, authType: 'prose', authHelp: 'A token store.\nOptions:\n  token=…  the token' }, 'prose-package')
    .add({ ...base, authType: 'data', authHelp: 'A token store.', options: [{ name: 'token', help: 'the token', required: true, secret: true }] }, 'data-package')
    .add({ ...base, authType: 'odd', authHelp: 'Odd data.', options: [{ name: 'level', help: 7 as unknown as string, default: null as unknown as string }] }, 'odd-package')
  const prose = formatAuthTypeHelp(own, 'prose')
  t.match(prose, /\n {2}A token store\.\n {2}Options:\n {4}token=… {2}the token\n {2}Shared options:\n/, 'only prose: shown as written')
  t.match(formatAuthTypeHelp(own, 'data'), /\n {2}A token store\.\n {2}Options:\n {4}token=… +The token\. Required\. Also token-file=PATH or token-env=VAR\.\n/)
  t.match(formatAuthTypeHelp(own, 'odd'), /\n {4}level=…\n/, 'fields that are not text are left out')
})

t.test('the strcred reference\'s table and quoted help match the types\' data', async (t) => {
  const readme = await readFile(new URL('../../docs/reference/strcred.md', import.meta.url), 'utf8')
  const header = '| AuthType | ArgString format | Store | Options |\n| --- | --- | --- | --- |\n'
  const start = readme.indexOf(header)
  t.not(start, -1, 'docs/reference/strcred.md has the table')
  const rows = readme.slice(start + header.length).split('\n')
  const table = rows.slice(0, rows.findIndex((row) => !row.startsWith('|'))).map((row) => row.slice(1, -1).split(/(?<!\\)\|/).map((cell) => cell.trim()))
  t.same(table.map(([type]) => type?.replaceAll('`', '')), registry.authTypes(), 'one row per type')
  for (const [type = '', format = '', , options = ''] of table) {
    const factory = builtin(type.replaceAll('`', ''))
    t.equal(format.replace(/^`(.*)`$/, '$1').replaceAll('\\|', '|'), factory.argStringFormat, `${factory.authType}: format`)
    t.same([...options.matchAll(/`([^`]+)`/g)].map((m) => m[1]), declared(factory), `${factory.authType}: options`)
  }
  const quoted = [...readme.matchAll(/```text\n\$ fastify-cred (--help-auth(?:-type ([a-z-]+))?)\n([\s\S]*?)\n```/g)]
  t.ok(quoted.length > 0, 'docs/reference/strcred.md quotes the help')
  for (const [, command, type, text] of quoted) {
    t.equal(text, (type === undefined ? formatAuthHelp(registry) : formatAuthTypeHelp(registry, type)).trimEnd(), `docs/reference/strcred.md: ${command}`)
  }
})
