import t from 'tap'
import Fastify from 'fastify'
import basicAuth from '@fastify/basic-auth'
import {
  IUsernamePassword, LoginDenied, Portal, SimpleRealm, StoreUnavailable, portalValidate
} from '../../lib/index.js'
import { MemoryChecker } from '../../lib/checkers/index.js'
import type { CredentialsChecker } from '../../lib/index.js'
import { IUser, basic } from '../helpers/app.js'
import type { TestUser } from '../helpers/app.js'

async function appWith (checker: CredentialsChecker, logouts: string[], realm = new SimpleRealm().serve(IUser, (id) => ({ name: String(id) }), (user) => { logouts.push(user.name) })) {
  const portal = new Portal(realm, [checker])
  const app = Fastify()
  app.decorateRequest('avatar', null)
  app.decorateRequest('avatarId', null)
  app.decorateRequest('avatarInterface', null)
  await app.register(basicAuth, { validate: portalValidate(portal, [IUser]), authenticate: { realm: 'incumbent' } })
  app.addHook('onRequest', app.basicAuth)
  app.get('/whoami', async (request) => ({ avatarId: request.avatarId, name: (request.avatar as TestUser | null)?.name }))
  return app
}

t.test('@fastify/basic-auth with a cred portal behind its validate', async (t) => {
  const logouts: string[] = []
  const app = await appWith(new MemoryChecker({ alice: 'wonderland' }), logouts)
  const ok = await app.inject({ url: '/whoami', headers: { authorization: basic('alice', 'wonderland') } })
  t.equal(ok.statusCode, 200)
  t.same(ok.json(), { avatarId: 'alice', name: 'alice' })
  await new Promise((resolve) => setTimeout(resolve, 10))
  t.same(logouts, ['alice'], 'logout ran once the response closed')

  const wrong = await app.inject({ url: '/whoami', headers: { authorization: basic('alice', 'nope') } })
  t.equal(wrong.statusCode, 401)
  t.equal(wrong.headers['www-authenticate'], 'Basic realm="incumbent", charset="UTF-8"', 'the incumbent keeps sending its challenge')
  t.same(logouts, ['alice'])
})

t.test('async checkers, outages and refusals map to the right statuses', async (t) => {
  const asyncChecker: CredentialsChecker = { credentialInterfaces: [IUsernamePassword], requestAvatarId: async () => 'bob' }
  t.equal((await (await appWith(asyncChecker, [])).inject({ url: '/whoami', headers: { authorization: basic('bob', 'x') } })).json().avatarId, 'bob')

  const down: CredentialsChecker = { credentialInterfaces: [IUsernamePassword], requestAvatarId: async () => { throw new StoreUnavailable('db down') } }
  t.equal((await (await appWith(down, [])).inject({ url: '/whoami', headers: { authorization: basic('bob', 'x') } })).statusCode, 503)

  const denying = new SimpleRealm().serve(IUser, () => { throw new LoginDenied('quota') })
  t.equal((await (await appWith(new MemoryChecker({ alice: 'pw' }), [], denying)).inject({ url: '/whoami', headers: { authorization: basic('alice', 'pw') } })).statusCode, 403)
})

t.test('a realm bug is a logged 500 with nothing internal in the body, not a 401', async (t) => {
  const { NoAvatarInterface } = await import('../../lib/cred/index.js')
  const broken = new SimpleRealm().serve(IUser, () => { throw new NoAvatarInterface('Realm serves IAdminSecretConsole') })
  const app = await appWith(new MemoryChecker({ alice: 'pw' }), [], broken)
  const res = await app.inject({ url: '/whoami', headers: { authorization: basic('alice', 'pw') } })
  t.equal(res.statusCode, 500)
  t.notMatch(res.body, /IAdminSecretConsole/)
})
