import Fastify from 'fastify'
import type { FastifyInstance } from 'fastify'
import cred, { ANONYMOUS, SimpleRealm, defineInterface } from '../lib/index.js'
import { checkersFromEnvironment, closeCheckers } from '../lib/strcred/index.js'

/** The avatar: just who logged in. */
export const IWho = defineInterface<{ name: string | null }>('IWho')

/**
 * A server whose user store is chosen by the deployment, not by the code: the checker specs in `CRED_AUTH`
 * (`memory:…`, `file:…`, `django:…`, `ldap:…`; one per line or a JSON array).
 *
 * @example
 * // CRED_AUTH='file:/etc/app/users.htpasswd;cache=30s' node dist/examples/cred-auth-server.js
 * const app = await buildCredAuthDemo({ CRED_AUTH: 'memory:alice:wonderland' })
 * await app.listen({ port: 3002 })
 */
export async function buildCredAuthDemo (env: NodeJS.ProcessEnv = process.env): Promise<FastifyInstance> {
  const checkers = await checkersFromEnvironment(env)
  if (checkers.length === 0) throw new Error('Set CRED_AUTH to a checker spec, e.g. CRED_AUTH=memory:alice:wonderland')
  const app = Fastify()
  app.addHook('onClose', async () => { await closeCheckers(checkers) })
  await app.register(cred, {
    realm: new SimpleRealm().serve(IWho, (avatarId) => ({ name: avatarId === ANONYMOUS ? null : avatarId })),
    checkers,
    interfaces: [IWho],
    authenticationRealm: 'cred-auth demo'
  })
  app.get('/whoami', async (request) => ({ avatarId: typeof request.avatarId === 'string' ? request.avatarId : null }))
  return app
}

// Run directly: listen on PORT (default 3002) and print the address.
const isMain = process.argv[1] !== undefined && import.meta.url === new URL(`file://${process.argv[1]}`).href
if (isMain) {
  try {
    const app = await buildCredAuthDemo()
    const address = await app.listen({ port: Number(process.env.PORT ?? 3002), host: '127.0.0.1' })
    console.log(`cred-auth demo at ${address}/whoami`)
  } catch (err) {
    console.error((err as Error).message)
    process.exitCode = 1
  }
}
