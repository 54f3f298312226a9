import t from 'tap'
import Fastify from 'fastify'
import cred, { ANONYMOUS, Portal, SimpleRealm } from '../../lib/index.js'
import { AnonymousChecker, MemoryChecker } from '../../lib/checkers/index.js'
import type { CredPluginOptions } from '../../lib/index.js'
import { IUser, basic } from '../helpers/app.js'

const realm = new SimpleRealm().serve(IUser, (id) => ({ name: String(id) }))
const checkers = [new MemoryChecker({ alice: 'wonderland' })]

async function register (options: unknown): Promise<void> {
  const app = Fastify()
  await app.register(cred, options as CredPluginOptions)
  await app.close()
}

t.test('options are checked at register time with messages that say what to change', async (t) => {
  const cases: Array<[string, unknown, RegExp]> = [
    ['no options', undefined, /`realm` is required/],
    ['no realm', { checkers, interfaces: [IUser] }, /`realm` is required/],
    ['no checkers', { realm, interfaces: [IUser] }, /no credentials checker is registered/],
    ['no interfaces', { realm, checkers }, /`interfaces` must be a non-empty array/],
    ['empty interfaces', { realm, checkers, interfaces: [] }, /`interfaces` must be a non-empty array/],
    ['interfaces not tokens', { realm, checkers, interfaces: ['IUser'] }, /tokens from defineInterface/],
    ['bad mode', { realm, checkers, interfaces: [IUser], mode: 'sometimes' }, /`mode` must be 'always' or 'on-demand'/],
    ['bad mind', { realm, checkers, interfaces: [IUser], mind: 42 }, /`mind` must be a function/],
    ['unknown scheme', { realm, checkers, interfaces: [IUser], schemes: ['ntlm'] }, /unknown scheme "ntlm"/],
    ['no schemes', { realm, checkers, interfaces: [IUser], schemes: [] }, /`schemes` must be a non-empty array/],
    ['scheme twice', { realm, checkers, interfaces: [IUser], schemes: ['basic', 'basic'] }, /listed twice/],
    ['scheme name in capitals', { realm, checkers, interfaces: [IUser], schemes: [{ name: 'Bearer', challenges: () => [], credentials: () => { throw new Error('x') } }] }, /must be lower-case/],
    ['portal and realm', { portal: new Portal(realm, checkers), realm, interfaces: [IUser] }, /either `portal` or `realm`/],
    ['portal not a Portal', { portal: {}, interfaces: [IUser] }, /`portal` must be a Portal/],
    ['realm not a realm', { realm: {}, checkers, interfaces: [IUser] }, /Portal needs a realm/],
    ['realm with a newline', { realm, checkers, interfaces: [IUser], authenticationRealm: 'a\nb' }, /authenticationRealm must be/],
    ['negative loginTimeout', { realm, checkers, interfaces: [IUser], loginTimeout: -1 }, /`loginTimeout` must be a whole number/],
    ['fractional loginTimeout', { realm, checkers, interfaces: [IUser], loginTimeout: 1.5 }, /`loginTimeout` must be a whole number/]
  ]
  for (const [what, options, message] of cases) {
    await t.rejects(register(options), { code: 'ERR_CRED_INVALID_OPTION', message }, what)
  }
})

t.test('a ready portal can be shared with the plugin', async (t) => {
  const portal = new Portal(realm, checkers)
  const app = Fastify()
  await app.register(cred, { portal, interfaces: [IUser] })
  app.get('/', async (request) => request.avatarId)
  t.equal(app.portal, portal)
  t.equal((await app.inject({ url: '/', headers: { authorization: basic('alice', 'wonderland') } })).body, 'alice')
})

t.test('the plugin is named for Fastify 5 and registers once per instance', async (t) => {
  const meta = (cred as unknown as Record<symbol, { name: string, fastify: string }>)[Symbol.for('plugin-meta')]
  t.equal(meta?.name, 'fastify-cred')
  t.equal(meta?.fastify, '5.x')
  const app = Fastify()
  await app.register(cred, { realm, checkers, interfaces: [IUser] })
  await t.rejects(async () => { await app.register(cred, { realm, checkers, interfaces: [IUser] }).ready() }, /decorat|already/i)
})

t.test('checker specs are accepted wherever checkers are, built at register time and closed with the server', async (t) => {
  const app = Fastify()
  await app.register(cred, { realm, checkers: ['memory:alice:wonderland:bob:builder', new AnonymousChecker()], interfaces: [IUser] })
  app.get('/', async (request) => ({ id: request.avatarId === ANONYMOUS ? 'anonymous' : request.avatarId }))
  t.same((await app.inject({ url: '/', headers: { authorization: basic('bob', 'builder') } })).json(), { id: 'bob' }, 'from the spec')
  t.same((await app.inject({ url: '/' })).json(), { id: 'anonymous' }, 'the checker object beside it')
  t.equal((await app.inject({ url: '/', headers: { authorization: basic('bob', 'nope') } })).statusCode, 401)
  await app.close()
  // The spec's "type" may be a password typed in the wrong place: named by position, never echoed.
  const unknown = await register({ realm, checkers: ['nosuchtype:x'], interfaces: [IUser] }).then(() => undefined, (err: unknown) => err)
  t.match(unknown, { code: 'ERR_CRED_INVALID_OPTION', message: /^fastify-cred: checkers\[0\]: Unknown auth type/ })
  t.notMatch((unknown as Error).message, /nosuchtype/, 'the unknown type is not echoed')
  await t.rejects(register({ realm, checkers: ['memory:alice'], interfaces: [IUser] }), { code: 'ERR_CRED_INVALID_OPTION' })
})
