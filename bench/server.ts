/**
 * One benchmark server: `node dist/bench/server.js <contender>`. Listens on a free port of 127.0.0.1 and prints
 * `{"listening":<port>}` on stdout. Started by run.ts with an IPC channel, it answers `{ type: 'stats' }` with its
 * memory and CPU time and exits cleanly on `{ type: 'stop' }` (so that `--cpu-prof` writes its profile).
 */
import { createRequire } from 'node:module'
import { timingSafeEqual } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Fastify from 'fastify'
import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify'
import type { CredPluginOptions, CredentialsChecker, IUsernamePassword } from '../lib/index.js'
import { AUTH_REALM, BODY, HTPASSWD_BCRYPT_COST, PASSWORD, PUBLIC_ROUTE, ROUTE, USER, contenderByName } from './contenders.js'
import type { ServerKind } from './contenders.js'

/*
 * Each server imports only what it uses (dynamic imports below): the packages a process loads change when V8's first
 * full garbage collection comes, and one that comes during the first seconds of load leaves Node's process.nextTick
 * slower for the life of the process (docs/reference/performance.md). bare Fastify must not carry fastify-cred's code.
 */

/** Messages from run.ts over IPC. */
export type ServerCommand = { type: 'stats', gc?: boolean } | { type: 'stop' }
/** Answers to `stats`. */
export interface ServerStats {
  type: 'stats'
  rss: number
  heapUsed: number
  heapTotal: number
  external: number
  /** CPU time used so far, microseconds (user + system). */
  cpuMicros: number
}

const userBuffer = Buffer.from(USER)
const passwordBuffer = Buffer.from(PASSWORD)
/** Constant-time check, as the peers' documentation recommends (lengths may leak, as in their examples). */
const sameSecret = (given: string, expected: Buffer): boolean => {
  const buffer = Buffer.from(given)
  return buffer.length === expected.length && timingSafeEqual(buffer, expected)
}

interface User { name: string }

const handler = async (): Promise<typeof BODY> => BODY

/** The slice of @fastify/passport used here, typed locally so its request augmentations stay out of our types. */
interface FastifyPassport {
  use (name: string, strategy: unknown): void
  initialize (): FastifyPluginAsync
  authenticate (name: string, options: { session: boolean }): (request: FastifyRequest, reply: FastifyReply) => Promise<void>
}


/**
 * What a careful application writes by hand on Fastify: a synchronous onRequest hook that decodes Basic, compares
 * in constant time, puts the user on the request and answers 401 itself. No hashing, no portal: the practical limit.
 */
function handWrittenHook (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void {
  const header = request.headers.authorization
  if (header !== undefined && header.length > 6 && header.slice(0, 6).toLowerCase() === 'basic ') {
    const decoded = Buffer.from(header.slice(6), 'base64').toString('utf8')
    const colon = decoded.indexOf(':')
    if (colon > 0 && sameSecret(decoded.slice(0, colon), userBuffer) && sameSecret(decoded.slice(colon + 1), passwordBuffer)) {
      (request as FastifyRequest & { user?: User }).user = { name: decoded.slice(0, colon) }
      done()
      return
    }
  }
  reply.code(401).header('WWW-Authenticate', `Basic realm="${AUTH_REALM}"`).send({ statusCode: 401, error: 'Unauthorized' })
}

async function build (kind: ServerKind): Promise<FastifyInstance> {
  const app = Fastify({ logger: false })
  let route: { config?: { cred: boolean } } = {}
  switch (kind) {
    case 'bare':
      break
    case 'hook':
      app.decorateRequest('user', null)
      app.addHook('onRequest', handWrittenHook)
      break
    case 'basic-auth': {
      const { default: fastifyBasicAuth } = await import('@fastify/basic-auth')
      await app.register(fastifyBasicAuth, {
        // Synchronous validate, the fastest form the plugin offers.
        validate (username, password, _request, _reply, done) {
          if (sameSecret(username, userBuffer) && sameSecret(password, passwordBuffer)) done()
          else done(new Error('Unauthorized'))
        },
        authenticate: { realm: AUTH_REALM }
      })
      app.addHook('onRequest', app.basicAuth)
      break
    }
    case 'passport':
    case 'passport-digest': {
      const require = createRequire(import.meta.url)
      const passport = require('@fastify/passport') as FastifyPassport
      const { BasicStrategy, DigestStrategy } = await import('passport-http')
      if (kind === 'passport') {
        passport.use('auth', new BasicStrategy({ realm: AUTH_REALM }, (username, password, done) => {
          if (sameSecret(username, userBuffer) && sameSecret(password, passwordBuffer)) done(null, { name: username })
          else done(null, false)
        }))
      } else {
        // passport-http leaves replay protection to the application (its `validate` callback): track each nonce's
        // highest count, as fastify-cred does, so both servers do the same work. It cannot tell its own nonces from
        // invented ones (they are random, unsigned), and it offers MD5 only.
        const counts = new Map<string, number>()
        passport.use('auth', new DigestStrategy({ realm: AUTH_REALM, qop: 'auth', algorithm: 'MD5' },
          (username, done) => { if (username === USER) done(null, { name: username }, PASSWORD); else done(null, false) },
          (params, done) => {
            // Typed as a number, but passport-http passes the header's hex string through.
            const nc = Number.parseInt(String(params.nc), 16)
            const last = counts.get(params.nonce) ?? 0
            if (!(nc > last)) { done(null, false); return }
            if (counts.size >= 100_000 && !counts.has(params.nonce)) counts.delete(counts.keys().next().value as string)
            counts.set(params.nonce, nc)
            done(null, true)
          }))
      }
      // Stateless (session: false) needs no session store, but @fastify/flash (registered by initialize())
      // insists on a `session` request decorator: a null stub, never read.
      app.decorateRequest('session', null)
      await app.register(passport.initialize())
      app.addHook('onRequest', passport.authenticate('auth', { session: false }))
      break
    }
    case 'cred-basic':
    case 'cred-basic-logout':
    case 'cred-nohash':
    case 'cred-public':
    case 'cred-digest':
    case 'cred-htpasswd':
    case 'cred-htpasswd-cached':
    case 'cred-digest-redis-cluster':
    case 'cred-basic-redis-throttle':
    case 'cred-basic-events': {
      const { default: cred, SimpleRealm, defineInterface, IUsernamePassword: IUP, UnauthorizedLogin } = await import('../lib/index.js')
      const { MemoryChecker } = await import('../lib/checkers/index.js')
      const IUser = defineInterface<User>('IUser')
      let checker: CredentialsChecker = new MemoryChecker({ [USER]: PASSWORD })
      if (kind === 'cred-nohash') {
        // The plugin's own cost: a checker that compares nothing but the name (never for real use).
        checker = {
          credentialInterfaces: [IUP],
          requestAvatarId (credentials: IUsernamePassword) {
            if (credentials.username === USER) return USER
            throw new UnauthorizedLogin('Invalid user name or password')
          }
        } as CredentialsChecker
      }
      if (kind === 'cred-htpasswd' || kind === 'cred-htpasswd-cached') {
        const { CachingChecker, HtpasswdChecker } = await import('../lib/checkers/index.js')
        const { bcryptHasher } = await import('../lib/hashers/index.js')
        // A real htpasswd file of one bcrypt line, as `htpasswd -B -C 10` writes it ($2y$).
        const dir = mkdtempSync(join(tmpdir(), 'cred-bench-'))
        process.once('exit', () => { rmSync(dir, { recursive: true, force: true }) })
        const file = join(dir, 'htpasswd')
        writeFileSync(file, `${USER}:${await bcryptHasher.hash?.(PASSWORD, { cost: HTPASSWD_BCRYPT_COST }) ?? ''}\n`)
        checker = new HtpasswdChecker(file)
        if (kind === 'cred-htpasswd-cached') checker = new CachingChecker(checker, { ttl: 10 * 60_000, maxEntries: 1000 })
      }
      // An application's realm usually hands out something to release (a connection, a session): a real logout.
      let open = 0
      const realm = kind === 'cred-basic-logout'
        ? new SimpleRealm().serve(IUser, (avatarId) => { open++; return { name: String(avatarId) } }, () => { open-- })
        : new SimpleRealm().serve(IUser, (avatarId) => ({ name: String(avatarId) }))
      if (kind === 'cred-basic-logout') app.addHook('onClose', async () => { if (open !== 0) process.stderr.write(`bench server: ${open} avatars never logged out\n`) })
      const options: CredPluginOptions = {
        realm,
        checkers: [checker],
        interfaces: [IUser],
        authenticationRealm: AUTH_REALM
      }
      // Digest with the plugin's defaults: SHA-256 and MD5 challenges, qop=auth, bounded in-memory nonce store.
      if (kind === 'cred-digest') options.schemes = ['digest']
      if (kind === 'cred-digest-redis-cluster' || kind === 'cred-basic-redis-throttle') {
        const variable = kind === 'cred-digest-redis-cluster' ? 'BENCH_REDIS_CLUSTER' : 'BENCH_REDIS_URL'
        const url = process.env[variable]
        if (url === undefined || url === '') throw new Error(`set ${variable} to the Redis to use (docs/reference/performance.md: scale-out)`)
        if (kind === 'cred-digest-redis-cluster') {
          const { RedisNonceStore } = await import('../lib/http/index.js')
          const nonceStore = new RedisNonceStore(url)
          await nonceStore.connect()
          app.addHook('onClose', async () => { await nonceStore.close() })
          options.schemes = ['digest']
          options.digest = { nonceStore }
        } else {
          const { RedisThrottle } = await import('../lib/throttle/index.js')
          const throttle = new RedisThrottle(url, { keyPrefix: `bench:${process.pid}:throttle:` })
          await throttle.connect()
          app.addHook('onClose', async () => { await throttle.close() })
          options.throttle = throttle
        }
      }
      if (kind === 'cred-basic-events') {
        const { CRED_CHANNELS } = await import('../lib/index.js')
        const { subscribe } = await import('node:diagnostics_channel')
        let events = 0
        for (const name of Object.values(CRED_CHANNELS)) subscribe(name, () => { events++ })
        app.addHook('onClose', async () => { if (events === 0) process.stderr.write('bench server: no login event was published\n') })
      }
      await app.register(cred, options)
      // Unauthenticated: the event-loop experiment (event-loop.ts) times it while logins hash.
      app.get(PUBLIC_ROUTE, { config: { cred: false } }, handler)
      if (kind === 'cred-public') route = { config: { cred: false } }
      break
    }
  }
  app.get(ROUTE, route, handler)
  return app
}

async function main (): Promise<void> {
  const name = process.argv[2]
  if (name === undefined) throw new Error('usage: node dist/bench/server.js <contender>')
  const contender = contenderByName(name)
  const app = await build(contender.server)
  await app.listen({ host: '127.0.0.1', port: 0 })
  const address = app.server.address()
  if (address === null || typeof address === 'string') throw new Error('no TCP address')

  process.on('message', (message: ServerCommand) => {
    if (message.type === 'stats') {
      if (message.gc === true && typeof globalThis.gc === 'function') globalThis.gc()
      const memory = process.memoryUsage()
      const cpu = process.cpuUsage()
      const stats: ServerStats = { type: 'stats', rss: memory.rss, heapUsed: memory.heapUsed, heapTotal: memory.heapTotal, external: memory.external, cpuMicros: cpu.user + cpu.system }
      process.send?.(stats)
    } else if (message.type === 'stop') {
      // A clean exit, so that --cpu-prof writes its profile.
      app.close().then(() => process.exit(0), () => process.exit(1))
    }
  })
  // Without run.ts (started by hand), Ctrl-C or SIGTERM also exits cleanly.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => { app.close().then(() => process.exit(0), () => process.exit(1)) })
  process.on('disconnect', () => { app.close().then(() => process.exit(0), () => process.exit(1)) })

  process.stdout.write(JSON.stringify({ listening: address.port, contender: contender.name, pid: process.pid }) + '\n')
}

main().catch((err: unknown) => {
  process.stderr.write(`bench server ${process.argv[2] ?? ''}: ${err instanceof Error ? err.message : String(err)}\n`)
  process.exit(1)
})
