import Fastify from 'fastify'
import type { FastifyInstance } from 'fastify'
import cred, { SimpleRealm, UnauthorizedLogin, defineInterface } from '../lib/index.js'
import { DjangoChecker } from '../lib/checkers/index.js'
import type { DjangoUser } from '../lib/checkers/index.js'

/** The avatar: the Django user's row and groups, as Django's `request.user` would give them. */
export const IDjangoUser = defineInterface<DjangoUser>('IDjangoUser')

/**
 * A server whose users are those of a Django project: HTTP Basic checked against Django's user table, the avatar
 * built from the user's row. `database` is a Django `db.sqlite3`, `postgres://…` or `mysql://…`.
 *
 * @example
 * const app = await buildDjangoDemo('test/fixtures/django/db.sqlite3')
 * await app.listen({ port: 3001 })
 */
export async function buildDjangoDemo (database: string, options: { logger?: boolean } = {}): Promise<FastifyInstance> {
  const users = new DjangoChecker({ database })
  const app = Fastify({ logger: options.logger ?? false })
  app.addHook('onClose', async () => { await users.close() })
  await app.register(cred, {
    realm: new SimpleRealm().serve(IDjangoUser, async (avatarId) => {
      const user = await users.loadUser(String(avatarId))
      if (user === undefined) throw new UnauthorizedLogin('Invalid user name or password')
      return user
    }),
    checkers: [users],
    interfaces: [IDjangoUser],
    authenticationRealm: 'django users'
  })
  app.get('/whoami', async (request) => {
    const user = request.avatar as unknown as DjangoUser
    return { username: user.username, email: user.email, staff: user.isStaff, groups: user.groups }
  })
  app.get<{ Params: { group: string } }>('/groups/:group', async (request, reply) => {
    const user = request.avatar as unknown as DjangoUser
    if (!user.isSuperuser && !user.groups.includes(request.params.group)) return await reply.code(403).send({ error: 'Not in that group' })
    return { welcome: request.params.group }
  })
  return app
}

const isMain = process.argv[1] !== undefined && import.meta.url === new URL(`file://${process.argv[1]}`).href
if (isMain) {
  const app = await buildDjangoDemo(process.env.DJANGO_DB ?? 'test/fixtures/django/db.sqlite3', { logger: true })
  await app.listen({ port: Number(process.env.PORT ?? 3001), host: process.env.HOST ?? '127.0.0.1' })
}
