import type { AddressInfo } from 'node:net'
import Fastify from 'fastify'
import type { FastifyInstance } from 'fastify'
import { cred } from '../../lib/fastify/index.js'
import { SimpleRealm, UnauthorizedLogin, defineInterface } from '../../lib/index.js'
import { formatBasic } from '../../lib/http/index.js'
import type { DjangoChecker, DjangoUser } from '../../lib/checkers/index.js'

export const IDjangoUser = defineInterface<DjangoUser>('IDjangoUser')

export interface DjangoApp {
  readonly app: FastifyInstance
  readonly url: string
  /** The warnings and errors the app logged, as parsed JSON lines. */
  readonly logs: Array<Record<string, unknown>>
}

/**
 * A listening Fastify app with the plugin: Basic logins checked by `checker`, avatars made from the user's row by
 * `checker.loadUser` (as the Django seed's realm builds its avatar from Django's `User`). `GET /whoami` answers the
 * avatar.
 */
export async function buildDjangoApp (checker: DjangoChecker, loginTimeout?: number): Promise<DjangoApp> {
  const logs: Array<Record<string, unknown>> = []
  const app = Fastify({
    logger: { level: 'warn', stream: { write: (line: string) => { logs.push(JSON.parse(line) as Record<string, unknown>) } } }
  })
  const realm = new SimpleRealm().serve(IDjangoUser, async (avatarId) => {
    const user = await checker.loadUser(String(avatarId))
    // The row went away between the check and the load: refuse rather than serve a half user.
    if (user === undefined) throw new UnauthorizedLogin('Invalid user name or password')
    return user
  })
  await app.register(cred, { realm, checkers: [checker], interfaces: [IDjangoUser], authenticationRealm: 'django', ...(loginTimeout === undefined ? {} : { loginTimeout }) })
  app.get('/whoami', async (request) => {
    const user = request.avatar as unknown as DjangoUser
    return { avatarId: request.avatarId, id: user.id, username: user.username, email: user.email, isStaff: user.isStaff, isSuperuser: user.isSuperuser, groups: user.groups }
  })
  await app.listen({ port: 0, host: '127.0.0.1' })
  return { app, url: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`, logs }
}

/** `GET /whoami` with Basic credentials through Node's fetch: status, Retry-After and the JSON body. */
export async function whoami (url: string, username: string, password: string): Promise<{ status: number, retryAfter: string | null, body: Record<string, unknown> }> {
  const response = await fetch(`${url}/whoami`, { headers: { authorization: formatBasic(username, password) } })
  return { status: response.status, retryAfter: response.headers.get('retry-after'), body: await response.json() as Record<string, unknown> }
}
