import Fastify from 'fastify'
import cred from '../lib/index.js'
import { MemoryChecker } from '../lib/checkers/index.js'
import { MemoryThrottle } from '../lib/throttle/index.js'
import { IMailbox, mailboxRealm, type Mailbox } from './mailbox-realm.js'

declare module '../lib/index.js' {
  interface CredTypes { avatar: Mailbox }
}

/** The demo's embedded user: `alice` / `wonderland` (override with DEMO_USER and DEMO_PASSWORD). */
export const demoUser = {
  username: process.env.DEMO_USER ?? 'alice',
  password: process.env.DEMO_PASSWORD ?? 'wonderland'
}

/**
 * Where the demo's password comes from, as the start-up line and the public page say it: never the password itself
 * (DEMO_PASSWORD may be a real one, and logs travel), but enough to find it without the README.
 */
export const demoPasswordSource = process.env.DEMO_PASSWORD === undefined
  ? 'the embedded default, demoUser in examples/server.ts (set DEMO_PASSWORD to choose another)'
  : 'DEMO_PASSWORD, from the environment'

/**
 * Builds the demo server: every route asks for HTTP Basic except `/`, and the avatar is a mailbox. Brute-force
 * throttling is on: after 5 wrong passwords for one user name (or 20 from one address, IPv6 by /64) the next attempt
 * waits 1 s, then 2 s, 4 s, … up to 15 min, answered 429 with `Retry-After`.
 *
 * @example
 * const app = await buildDemo() // `clock`: the throttle's, for tests
 * await app.listen({ port: 3000 })
 */
export async function buildDemo (options: { logger?: boolean, clock?: () => number } = {}): Promise<ReturnType<typeof Fastify>> {
  const app = Fastify({ logger: options.logger ?? false })
  await app.register(cred, {
    realm: mailboxRealm,
    checkers: [new MemoryChecker({ [demoUser.username]: demoUser.password })],
    interfaces: [IMailbox],
    authenticationRealm: 'fastify-cred demo',
    throttle: new MemoryThrottle({ now: options.clock })
  })

  // A public page never shows a password, not even the demo's (DEMO_PASSWORD may be a real one).
  app.get('/', { config: { cred: false } }, async () => ({
    hello: 'fastify-cred demo',
    try: `curl -u ${demoUser.username}:<password> http://127.0.0.1:3000/whoami`,
    password: demoPasswordSource
  }))
  app.get('/whoami', async (request) => ({ avatarId: request.avatarId }))
  app.get('/messages', async (request) => request.avatar?.list() ?? [])
  app.get<{ Params: { id: string } }>('/messages/:id', async (request, reply) => {
    const body = request.avatar?.read(Number(request.params.id))
    if (body === undefined) return reply.code(404).send({ error: 'No such message' })
    return { body }
  })
  return app
}

const isMain = process.argv[1] !== undefined && import.meta.url === new URL(`file://${process.argv[1]}`).href
if (isMain) {
  const app = await buildDemo({ logger: true })
  const port = Number(process.env.PORT ?? 3000)
  const url = await app.listen({ port, host: process.env.HOST ?? '127.0.0.1' })
  app.log.info(`Log in as ${demoUser.username} with the password from ${demoPasswordSource}: curl -u ${demoUser.username}:<password> ${url}/whoami`)
}
