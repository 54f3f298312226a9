import Fastify from 'fastify'
import type { FastifyInstance } from 'fastify'
import cred from '../../lib/index.js'
import type { CredentialsChecker } from '../../lib/index.js'
import { MemoryChecker } from '../../lib/checkers/index.js'
import { checkersFromEnvironment, closeCheckers } from '../../lib/strcred/index.js'
import { MemoryThrottle } from '../../lib/throttle/index.js'
import { IMessageList, MailStore, mailRealm } from './mailboxes.js'
import type { MessageList } from './mailboxes.js'
import { Pop3Server } from './pop3-server.js'

/** The example's users when `CRED_AUTH` names no store: `alice` / `wonderland` and `bob` / `builder`. */
export const exampleUsers = Object.freeze({ alice: 'wonderland', bob: 'builder' })

/** What alice and bob find in their mailboxes at start. */
export const exampleMail = {
  alice: [
    { from: 'white.rabbit@example.org', subject: 'Late', body: 'Oh dear! Oh dear! I shall be too late!' },
    { from: 'hatter@example.org', subject: 'Tea party', body: 'Six o\'clock, as always.\n.\nA line with only a dot, above: POP3 stuffs it.' }
  ],
  bob: [{ from: 'wendy@example.org', subject: 'Can we fix it?', body: 'Yes we can.' }]
}

export interface Pop3ExampleOptions {
  /** The user stores; default: the specs in `CRED_AUTH` (`file:…`, `django:…`, `ldap:…`), else `exampleUsers`. */
  checkers?: CredentialsChecker[]
  /** POP3 idle timeout in milliseconds (default 10 minutes). */
  idleTimeout?: number
  /** The throttle's clock, for tests. */
  clock?: () => number
  logger?: boolean
}

export interface Pop3Example {
  readonly app: FastifyInstance
  readonly pop3: Pop3Server
  readonly store: MailStore
  /** Stops POP3 (every session logged out), then HTTP and the user stores. */
  close (): Promise<void>
}

/**
 * The seed's story, runnable: one Portal, one realm, one throttle; an HTTP API (`GET /messages`, Basic or Digest)
 * and a POP3 server on the same users' mailboxes. The realm serves POP3 an `IMaildrop` (locked per session) and
 * HTTP an `IMessageList` (a read-only view): each protocol asks for the interface it needs.
 *
 * @example
 * const { app, pop3 } = await buildPop3Example()
 * await app.listen({ port: 3110 })
 * await pop3.listen(1110)
 */
export async function buildPop3Example (options: Pop3ExampleOptions = {}): Promise<Pop3Example> {
  const fromEnvironment = options.checkers === undefined ? await checkersFromEnvironment() : []
  const checkers = options.checkers ?? (fromEnvironment.length > 0 ? fromEnvironment : [new MemoryChecker(exampleUsers)])
  const store = new MailStore(exampleMail)
  const app = Fastify({ logger: options.logger ?? false })
  app.addHook('onClose', async () => { await closeCheckers(checkers) })
  await app.register(cred, {
    realm: mailRealm(store),
    checkers,
    interfaces: [IMessageList],
    authenticationRealm: 'fastify-cred mail',
    schemes: ['basic', 'digest'],
    throttle: new MemoryThrottle({ now: options.clock })
  })
  // `request.avatar` is typed by the app's CredTypes (examples/server.ts declares another avatar): name it here.
  const mailboxOf = (request: { avatar: unknown }): MessageList => request.avatar as MessageList
  app.get('/messages', async (request) => mailboxOf(request).list())
  app.get<{ Params: { uid: string } }>('/messages/:uid', async (request, reply) => {
    const raw = mailboxOf(request).read(request.params.uid)
    if (raw === undefined) return await reply.code(404).send({ error: 'No such message' })
    return await reply.type('message/rfc822').send(raw)
  })
  await app.ready()
  const pop3 = new Pop3Server({ portal: app.portal, idleTimeout: options.idleTimeout, log: app.log })
  return {
    app,
    pop3,
    store,
    async close () {
      await pop3.close()
      await app.close()
    }
  }
}

const isMain = process.argv[1] !== undefined && import.meta.url === new URL(`file://${process.argv[1]}`).href
if (isMain) {
  const host = process.env.HOST ?? '127.0.0.1'
  const example = await buildPop3Example({ logger: true })
  const http = await example.app.listen({ port: Number(process.env.HTTP_PORT ?? 3110), host })
  const { port } = await example.pop3.listen(Number(process.env.POP3_PORT ?? 1110), host)
  example.app.log.info(`POP3 listening at pop3://${host}:${port}/ — try: curl pop3://alice:wonderland@${host}:${port}/ and curl -u alice:wonderland ${http}/messages`)
  const stop = (): void => { void example.close().then(() => process.exit(0)) }
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
}
