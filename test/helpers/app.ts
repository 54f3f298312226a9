import { Writable } from 'node:stream'
import Fastify from 'fastify'
import type { FastifyInstance } from 'fastify'
import cred, { SimpleRealm, defineInterface } from '../../lib/index.js'
import { MemoryChecker } from '../../lib/checkers/index.js'
import { formatBasic } from '../../lib/http/index.js'
import type { CredPluginOptions } from '../../lib/index.js'
import { checkAtExit, recordLog, watch } from './hygiene.js'

export interface TestUser { readonly name: string }
export const IUser = defineInterface<TestUser>('IUser')

/** Everything the app logged, as parsed JSON lines, so tests can look for leaked secrets. */
export class LogCapture {
  readonly lines: Array<Record<string, unknown>> = []
  readonly stream = new Writable({
    write: (chunk: Buffer, _encoding, callback) => {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line.trim() === '') continue
        recordLog(line)
        this.lines.push(JSON.parse(line) as Record<string, unknown>)
      }
      callback()
    }
  })

  get text (): string { return this.lines.map((l) => JSON.stringify(l)).join('\n') }
}

export interface TestApp {
  readonly app: FastifyInstance
  readonly logs: LogCapture
  readonly logouts: string[]
}

/** A Fastify app with the plugin, an in-memory user alice/wonderland, and routes /whoami and /boom. */
export async function buildApp (options: Partial<CredPluginOptions> = {}): Promise<TestApp> {
  const logs = new LogCapture()
  const logouts: string[] = []
  const app = Fastify({ logger: { level: 'info', stream: logs.stream } })
  // Every app built here takes part in the suite's secrets hygiene (helpers/hygiene.ts).
  watch(app)
  checkAtExit()
  await app.register(cred, {
    realm: new SimpleRealm().serve(IUser, (id) => ({ name: String(id) }), (user) => { logouts.push(user.name) }),
    checkers: [new MemoryChecker({ alice: 'wonderland', 'Łukasz': 'żółć:🙂' })],
    interfaces: [IUser],
    authenticationRealm: 'test realm',
    ...options
  } as CredPluginOptions)
  app.get('/whoami', async (request) => ({ avatarId: request.avatarId, name: request.avatar === null ? null : (request.avatar as unknown as TestUser).name, interface: request.avatarInterface?.name }))
  app.get('/public', { config: { cred: false } }, async (request) => ({ public: true, avatar: request.avatar }))
  app.get('/boom', async () => { throw new Error('handler failed') })
  return { app, logs, logouts }
}

export const basic = formatBasic
