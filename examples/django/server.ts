import Fastify from 'fastify'
import type { FastifyBaseLogger, FastifyInstance } from 'fastify'
import cred, { UnauthorizedLogin, WebSocketMind, defineInterface } from '../../lib/index.js'
import { InvalidOption } from '../../lib/cred/index.js'
import type { AvatarId, LoginResult, Realm } from '../../lib/index.js'
import { DjangoChecker } from '../../lib/checkers/index.js'
import type { DjangoUser } from '../../lib/checkers/index.js'
import { makeChecker } from '../../lib/strcred/index.js'

/** Django's own example database, committed with the script that made it. */
export const FIXTURE_DATABASE = 'test/fixtures/django/db.sqlite3'

/**
 * The avatar, as the seed's `pb.Avatar` subclass: built from the Django user's row, told when a client attaches
 * (`attached(mind)`, at login) and detaches (`detached(mind)`, at logout), and able to call the client back through
 * the mind (PB's `callRemote`, here a JSON message on the WebSocket).
 */
export class DjangoAvatar {
  readonly username: string
  readonly email: string
  readonly isStaff: boolean
  readonly isSuperuser: boolean
  readonly groups: readonly string[]
  readonly #log: FastifyBaseLogger
  #mind: WebSocketMind | undefined

  constructor (user: DjangoUser, log: FastifyBaseLogger) {
    this.#log = log
    this.username = user.username
    this.email = user.email
    this.isStaff = user.isStaff
    this.isSuperuser = user.isSuperuser
    this.groups = user.groups
  }

  /** The seed's `attached`: remembers the client's mind (a WebSocket's; `null` for a plain HTTP request). */
  attached (mind: unknown): void {
    if (mind instanceof WebSocketMind) this.#mind = mind
    this.#log.info({ user: this.username, protocol: this.#protocol(mind) }, 'attached')
  }

  detached (mind: unknown): void {
    this.#mind = undefined
    this.#log.info({ user: this.username, protocol: this.#protocol(mind) }, 'detached')
  }

  /** PB's `callRemote(method, ...args)` in WebSocket form: `{"method":…,"args":[…]}`. False without a connected client. */
  callRemote (method: string, ...args: unknown[]): boolean {
    const mind = this.#mind
    if (mind === undefined || mind.state === 'closing' || mind.state === 'closed') return false
    void mind.send(JSON.stringify({ method, args })) // a client that left meanwhile: ConnectionClosed, nothing to do
    return true
  }

  #protocol (mind: unknown): string { return mind instanceof WebSocketMind ? 'websocket' : 'http' }
}
export const IDjangoAvatar = defineInterface<DjangoAvatar>('IDjangoAvatar')

/**
 * The realm: loads the user's row (name, email, is_staff, groups) on each login, as the seed's realm asks Django's
 * `User` model, and keeps the avatars whose client is connected by WebSocket, so the server can push to them.
 */
export class DjangoRealm implements Realm {
  /** Avatars with a connected WebSocket client, for `broadcast`. */
  readonly connected = new Set<DjangoAvatar>()

  readonly #users: DjangoChecker
  readonly #log: FastifyBaseLogger

  constructor (users: DjangoChecker, log: FastifyBaseLogger) {
    this.#users = users
    this.#log = log
  }

  async requestAvatar (avatarId: AvatarId, mind: unknown): Promise<LoginResult<DjangoAvatar>> {
    const user = await this.#users.loadUser(String(avatarId))
    if (user === undefined) throw new UnauthorizedLogin('Invalid user name or password') // deleted since the check
    const avatar = new DjangoAvatar(user, this.#log)
    avatar.attached(mind)
    const live = mind instanceof WebSocketMind
    if (live) {
      this.connected.add(avatar)
      avatar.callRemote('welcome', `Hello ${user.firstName === '' ? user.username : user.firstName}`, { staff: user.isStaff, groups: user.groups })
    }
    return {
      interface: IDjangoAvatar,
      avatar,
      logout: () => {
        if (live) this.connected.delete(avatar)
        avatar.detached(mind)
      }
    }
  }

  /** Calls `method` on every connected client; answers how many. */
  broadcast (method: string, ...args: unknown[]): number {
    let reached = 0
    for (const avatar of this.connected) if (avatar.callRemote(method, ...args)) reached++
    return reached
  }
}

export interface DjangoExampleOptions {
  /** A `django:` spec (`django:/srv/site/db.sqlite3`, `django:postgres://…;password-env=PGPASSWORD`, …). */
  spec?: string
  logger?: boolean
}

/**
 * The second seed ("Using Django Authentication with Twisted Perspective Broker") end to end: HTTP Basic and
 * WebSocket logins checked against a Django project's user table, an avatar built from the user's row that logs
 * `attached`/`detached`, and a WebSocket on which the realm calls the client.
 *
 * @example
 * const { app } = await buildDjangoExample({ spec: 'django:test/fixtures/django/db.sqlite3' })
 * await app.listen({ port: 3001 })
 * @throws InvalidOption when the spec is not a `django:` spec (a `cache=` wrapper hides `loadUser`, so it is refused).
 */
export async function buildDjangoExample (options: DjangoExampleOptions = {}): Promise<{ app: FastifyInstance, realm: DjangoRealm }> {
  const spec = options.spec ?? `django:${FIXTURE_DATABASE}`
  const users = await makeChecker(spec)
  if (!(users instanceof DjangoChecker)) {
    await users.close?.()
    throw new InvalidOption('The Django example needs a django: spec without cache= (its realm reads the user\'s row)')
  }
  const app = Fastify({ logger: options.logger ?? false })
  app.addHook('onClose', async () => { await users.close() })
  const realm = new DjangoRealm(users, app.log)
  await app.register(cred, { realm, checkers: [users], interfaces: [IDjangoAvatar], authenticationRealm: 'django', websocket: true })

  const avatarOf = (request: { avatar: unknown }): DjangoAvatar => request.avatar as DjangoAvatar
  app.get('/whoami', async (request) => {
    const user = avatarOf(request)
    return { username: user.username, email: user.email, staff: user.isStaff, groups: user.groups }
  })
  app.get<{ Params: { group: string } }>('/groups/:group', async (request, reply) => {
    const user = avatarOf(request)
    if (!user.isSuperuser && !user.groups.includes(request.params.group)) return await reply.code(403).send({ error: 'Not in that group' })
    return { welcome: request.params.group }
  })
  // The WebSocket: the realm has already called `welcome` on it; the client may call `ping` and `whoami` back.
  app.get('/live', { websocket: true }, (socket, request) => {
    const user = avatarOf(request)
    socket.on('message', (data: Buffer) => {
      const text = data.toString('utf8')
      if (text === 'ping') user.callRemote('pong')
      else if (text === 'whoami') user.callRemote('whoami', user.username)
      else user.callRemote('error', 'Send "ping" or "whoami"')
    })
  })
  // Staff only, like Django's admin: a notice to every connected client.
  app.post<{ Body: { text?: unknown } }>('/broadcast', async (request, reply) => {
    if (!avatarOf(request).isStaff) return await reply.code(403).send({ error: 'Staff only' })
    const text = request.body?.text
    if (typeof text !== 'string' || text === '') return await reply.code(400).send({ error: 'Send {"text": "…"}' })
    return { delivered: realm.broadcast('notice', text, avatarOf(request).username) }
  })
  return { app, realm }
}

const isMain = process.argv[1] !== undefined && import.meta.url === new URL(`file://${process.argv[1]}`).href
if (isMain) {
  try {
    const spec = process.env.DJANGO_AUTH ?? `django:${process.env.DJANGO_DB ?? FIXTURE_DATABASE}`
    const { app } = await buildDjangoExample({ spec, logger: true })
    await app.listen({ port: Number(process.env.PORT ?? 3001), host: process.env.HOST ?? '127.0.0.1' })
  } catch (err) {
    console.error((err as Error).message)
    process.exitCode = 1
  }
}
