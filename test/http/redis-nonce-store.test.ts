import { randomBytes } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import t from 'tap'
import { Redis } from 'ioredis'
import Fastify from 'fastify'
import { SimpleRealm, StoreUnavailable, cred, defineInterface } from '../../lib/index.js'
import { InvalidOption, MissingPeerDependency } from '../../lib/cred/index.js'
import { MemoryChecker } from '../../lib/checkers/index.js'
import { RedisNonceStore } from '../../lib/http/index.js'
import type { NonceClaim } from '../../lib/http/index.js'
import type { Test } from 'tap'
import { overrideDriver } from '../../lib/drivers/index.js'
import { connectedRedisNonceStore, nonceStoreContract } from './nonce-store-contract.js'
import { redisServerProgram, startRedis } from '../helpers/redis-server.js'

const fresh = (): string => randomBytes(18).toString('base64url')
const IUser = defineInterface<{ name: string }>('IUser')
const realm = new SimpleRealm().serve(IUser, (id) => ({ name: String(id) }))
const sleep = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }

/** The claim's outcome, or 'hung' when it did not settle within `guard` ms (a generous bound, not a benchmark). */
const settle = async (claim: Promise<NonceClaim>, guard = 5000): Promise<NonceClaim | Error | 'hung'> => {
  let timer: NodeJS.Timeout | undefined
  const hung = new Promise<'hung'>((resolve) => { timer = setTimeout(() => resolve('hung'), guard) })
  try {
    return await Promise.race([claim.then((v) => v, (err: unknown) => err instanceof Error ? err : new Error(String(err))), hung])
  } finally {
    clearTimeout(timer)
  }
}

// Started before any test is queued: tap ends the root test once its queue drains.
const redis = redisServerProgram.skip === false ? await startRedis(t) : undefined

t.test('the module never imports ioredis statically (htpasswd users need not install it)', async (t) => {
  const source = await readFile(new URL('../../lib/http/redis-nonce-store.ts', import.meta.url), 'utf8')
  const staticImports = source.split('\n').filter((line) => /^\s*(import|export)\b(?!\s+type\b).*['"]ioredis['"]/.test(line) || /require\(\s*['"]ioredis/.test(line))
  t.same(staticImports, [], 'no value import of ioredis at top level')
  const connection = await readFile(new URL('../../lib/drivers/redis-scripts.ts', import.meta.url), 'utf8')
  t.same(connection.split('\n').filter((line) => /^\s*(import|export)\b(?!\s+type\b).*['"]ioredis['"]/.test(line)), [], 'nor does the shared Redis connection')
  t.match(connection, /loadDriver\('ioredis'/, 'which loads it through the drivers layer, with a dynamic import')
})

t.test('missing ioredis: MissingPeerDependency naming the package, only on first use', async (t) => {
  let loads = 0
  const missing = async (): Promise<unknown> => {
    loads++
    throw Object.assign(new Error("Cannot find package 'ioredis' imported from lib/http/redis-nonce-store.ts"), { code: 'ERR_MODULE_NOT_FOUND' })
  }
  const restore = overrideDriver('ioredis', missing)
  t.teardown(restore)
  const store = new RedisNonceStore('redis://127.0.0.1:1')
  t.equal(loads, 0, 'constructing the store does not load the driver')
  const err = await store.claim(fresh(), 1, Date.now(), Date.now() + 60_000).then(() => undefined, (e: unknown) => e)
  t.ok(err instanceof MissingPeerDependency, 'a MissingPeerDependency')
  t.match((err as Error).message, /install ioredis/)
  t.equal((err as MissingPeerDependency).code, 'ERR_CRED_MISSING_PEER_DEPENDENCY')
  await t.rejects(store.connect(), MissingPeerDependency, 'connect() says the same')
  t.equal(loads, 2, 'tried again on the next use (the app may install it and retry)')
  await t.rejects(store.prepare(), { name: 'MissingPeerDependency', message: 'RedisNonceStore needs the ioredis package: install it (npm install ioredis)' }, 'prepare() too, without connecting')
  const app = Fastify()
  t.teardown(() => app.close())
  await t.rejects(async () => { await app.register(cred, { realm, checkers: [new MemoryChecker({ alice: 'pw' })], interfaces: [IUser], schemes: ['digest'], digest: { nonceStore: store } }) },
    MissingPeerDependency, 'so register() refuses to start the server')
  const client = new RedisNonceStore({ evalsha: async () => 1, eval: async () => 1 })
  await client.prepare()
  t.pass("a store on the app's own client needs no ioredis of ours")
  restore()
  t.teardown(overrideDriver('ioredis', async () => ({ default: 42 })))
  const broken = new RedisNonceStore({ port: 1 })
  await t.rejects(broken.connect(), MissingPeerDependency, 'a module without a Redis class')
  await store.close()
})

t.test('bad options are refused when the store is built', async (t) => {
  t.throws(() => new RedisNonceStore('http://127.0.0.1:6379'), InvalidOption)
  t.throws(() => new RedisNonceStore('redis://x', { keyPrefix: '' }), InvalidOption)
  t.throws(() => new RedisNonceStore('redis://x', { timeout: 0 }), InvalidOption)
  t.throws(() => new RedisNonceStore('redis://x', { timeout: Number.NaN }), InvalidOption)
  t.throws(() => new RedisNonceStore(42 as unknown as string), InvalidOption)
  const store = new RedisNonceStore('redis://127.0.0.1:1')
  await t.rejects(store.claim('n', -1, 0, 1), RangeError, 'nc outside 0..0xffffffff is a caller bug')
  await t.rejects(store.claim('n', 2 ** 32, 0, 1), RangeError)
  await t.rejects(store.claim('n', 1.5, 0, 1), RangeError)
  await store.close()
})

if (redis === undefined) {
  t.test('against a real redis-server', { skip: redisServerProgram.skip }, async () => {})
} else {
  const admin = new Redis(redis.port, redis.host, { maxRetriesPerRequest: 1 })
  admin.on('error', () => {})
  t.teardown(() => { admin.disconnect() })

  /** A store owning its client, closed at the end of `t`. */
  const ownStore = async (t: Test, options: ConstructorParameters<typeof RedisNonceStore>[1] = {}): Promise<RedisNonceStore> => {
    const store = new RedisNonceStore(redis.url, { timeout: 300, ...options })
    t.teardown(async () => { await store.close() })
    await store.connect()
    return store
  }

  t.test('contract, with a client the store owns (from a URL)', async (t) => {
    await nonceStoreContract(t, async () => await connectedRedisNonceStore(redis.url, 'contract-own:'))
  })

  t.test('contract, with an ioredis client the app already has', async (t) => {
    const client = new Redis(redis.port, redis.host)
    t.teardown(() => { client.disconnect() })
    await nonceStoreContract(t, async () => await connectedRedisNonceStore(client, 'contract-given:'))
  })

  t.test('two stores (two app instances) share the nonce counts', async (t) => {
    const a = await ownStore(t)
    const b = new RedisNonceStore({ host: redis.host, port: redis.port })
    t.teardown(async () => { await b.close() })
    const nonce = fresh()
    const issuedAt = Date.now()
    const expiresAt = issuedAt + 60_000
    t.equal(await a.claim(nonce, 1, issuedAt, expiresAt), 'accepted')
    t.equal(await b.claim(nonce, 1, issuedAt, expiresAt), 'replayed', 'a replay at the other instance')
    t.equal(await b.claim(nonce, 2, issuedAt, expiresAt), 'accepted')
    t.equal(await a.claim(nonce, 2, issuedAt, expiresAt), 'replayed')
    const race = fresh()
    const outcomes = await Promise.all(Array.from({ length: 40 }, async (_, i) => await (i % 2 === 0 ? a : b).claim(race, 7, issuedAt, expiresAt)))
    t.equal(outcomes.filter((o) => o === 'accepted').length, 1, 'a race over two connections: exactly one accepted')
  })

  t.test('keys: prefix{group}:nonce and the group\'s marker prefix{group}, a TTL ending at expiresAt, gone after it', async (t) => {
    const store = await ownStore(t)
    t.equal(store.keyPrefix, 'fastify-cred:nonce:', 'the default prefix')
    const markers = (await admin.keys('fastify-cred:nonce:{*}')).sort()
    t.equal(markers.length, 256, 'connect() wrote the marker of each of the 256 groups')
    t.same(markers.slice(0, 2), ['fastify-cred:nonce:{00}', 'fastify-cred:nonce:{01}'])
    const nonce = fresh()
    const issuedAt = Date.now()
    const expiresAt = issuedAt + 120_000
    t.equal(await store.claim(nonce, 1, issuedAt, expiresAt), 'accepted')
    const [key, ...others] = await admin.keys(`*${nonce}`)
    t.same(others, [], 'one key for the nonce')
    t.match(key, /^fastify-cred:nonce:\{[0-9a-f]{2}\}:/, 'in its group')
    const marker = (key as string).slice(0, 'fastify-cred:nonce:{xx}'.length)
    t.equal(await admin.call('PEXPIRETIME', key as string), expiresAt, 'expires exactly at expiresAt')
    t.equal(await admin.pttl(marker), -1, 'the marker key never expires')
    t.equal(await store.claim(nonce, 5, issuedAt, expiresAt), 'accepted')
    t.equal(await admin.call('PEXPIRETIME', key as string), expiresAt, 'still at expiresAt after an update')

    const custom = await ownStore(t, { keyPrefix: 'app1:n:' })
    const short = fresh()
    t.equal(await custom.claim(short, 1, Date.now(), Date.now() + 150), 'accepted')
    const [shortKey] = await admin.keys(`*${short}`)
    t.match(shortKey, /^app1:n:\{[0-9a-f]{2}\}:/, 'stored under the custom prefix')
    let gone = false
    for (let i = 0; i < 100 && !gone; i++) { await sleep(50); gone = await admin.exists(shortKey as string) === 0 }
    t.ok(gone, 'Redis dropped the nonce by itself after expiresAt')
  })

  t.test('prefixes keep stores apart', async (t) => {
    const one = await ownStore(t, { keyPrefix: 'tenant-a:' })
    const two = await ownStore(t, { keyPrefix: 'tenant-b:' })
    const nonce = fresh()
    t.equal(await one.claim(nonce, 1, Date.now(), Date.now() + 60_000), 'accepted')
    t.equal(await two.claim(nonce, 1, Date.now(), Date.now() + 60_000), 'accepted')
  })

  t.test('Redis lost its script cache: falls back to EVAL, same answers', async (t) => {
    const store = await ownStore(t)
    const nonce = fresh()
    const issuedAt = Date.now()
    t.equal(await store.claim(nonce, 1, issuedAt, issuedAt + 60_000), 'accepted')
    await admin.script('FLUSH')
    t.equal(await store.claim(nonce, 1, issuedAt, issuedAt + 60_000), 'replayed')
    t.equal(await store.claim(nonce, 2, issuedAt, issuedAt + 60_000), 'accepted')
  })

  t.test('Redis emptied (flushed, or restarted without persistence): older nonces are forgotten, never replayable', async (t) => {
    const store = await ownStore(t)
    const nonce = fresh()
    const issuedAt = Date.now()
    t.equal(await store.claim(nonce, 1, issuedAt, issuedAt + 60_000), 'accepted')
    await sleep(5)
    await admin.flushall()
    t.equal(await store.claim(nonce, 1, issuedAt, issuedAt + 60_000), 'forgotten', 'the replay is not accepted')
    t.equal(await store.claim(fresh(), 1, issuedAt, issuedAt + 60_000), 'forgotten', 'nor any nonce issued before the wipe')
    let markers = 0
    for (let i = 0; i < 100 && markers < 256; i++) { await sleep(20); markers = (await admin.keys('fastify-cred:nonce:{*}')).length }
    t.equal(markers, 256, 'the first claim that found its group unmarked had every group marked again (no stale per group)')
    await sleep(5)
    const later = Date.now()
    t.equal(await store.claim(fresh(), 1, later, later + 60_000), 'accepted', 'a nonce issued after it is fine')
  })

  t.test('clock skew: a nonce whose expiry Redis\'s clock has passed is "forgotten", never accepted (and replayable) afresh', async (t) => {
    const store = await ownStore(t, { keyPrefix: 'skew:' })
    // This Redis vouches for every nonce ever issued (each group's marker at 0): only its clock can refuse.
    for (const marker of await admin.keys('skew:{*}')) await admin.set(marker, '0')
    const [seconds, micros] = await admin.time()
    const redisNow = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000)
    // The app's clock is 10 minutes behind Redis's (or stepped back after the key expired): by the app's clock
    // the nonce is fresh, by Redis's it expired 5 minutes ago. Before, PEXPIREAT in the past dropped the key at
    // once, and every copy of the header was 'accepted'.
    const nonce = fresh()
    const issuedAt = redisNow - 600_000
    const expiresAt = redisNow - 300_000
    t.equal(await store.claim(nonce, 1, issuedAt, expiresAt), 'forgotten')
    t.equal(await store.claim(nonce, 1, issuedAt, expiresAt), 'forgotten', 'the replay too')
    t.same(await admin.keys(`*${nonce}`), [], 'nothing written')

    // The replay of a header whose key Redis expired, after the app's clock stepped back.
    const used = fresh()
    t.equal(await store.claim(used, 1, redisNow, redisNow + 150), 'accepted')
    t.equal(await store.claim(used, 1, redisNow, redisNow + 150), 'replayed')
    let gone = false
    for (let i = 0; i < 100 && !gone; i++) { await sleep(50); gone = (await admin.keys(`*${used}`)).length === 0 }
    t.ok(gone, 'Redis dropped the key at expiresAt')
    t.equal(await store.claim(used, 1, redisNow, redisNow + 150), 'forgotten', 'the replay is refused (stale), not accepted')

    const live = fresh()
    t.equal(await store.claim(live, 1, redisNow, redisNow + 60_000), 'accepted', 'a nonce Redis deems live is accepted')
  })

  t.test('a fresh Redis: connect() marks the start, so nonces issued later are accepted at once', async (t) => {
    await admin.flushall()
    const store = await ownStore(t)
    t.equal((await admin.keys('fastify-cred:nonce:{*}')).length, 256, 'every group\'s marker written by connect()')
    const issuedAt = Date.now()
    t.equal(await store.claim(fresh(), 1, issuedAt, issuedAt + 60_000), 'accepted')
  })

  t.test('the app\'s own client is left open by close(); the store\'s own is quit', async (t) => {
    const client = new Redis(redis.port, redis.host)
    t.teardown(() => { client.disconnect() })
    const shared = new RedisNonceStore(client)
    t.equal(await shared.claim(fresh(), 1, Date.now(), Date.now() + 60_000), 'accepted')
    await shared.close()
    t.equal(await client.ping(), 'PONG', 'still usable by the app')
    await t.rejects(shared.claim(fresh(), 1, Date.now(), Date.now() + 60_000), StoreUnavailable, 'a closed store refuses')

    const before = Number(/connected_clients:(\d+)/.exec(await admin.info('clients'))?.[1])
    const own = new RedisNonceStore(redis.url)
    await own.connect()
    const during = Number(/connected_clients:(\d+)/.exec(await admin.info('clients'))?.[1])
    await own.close()
    let after = during
    for (let i = 0; i < 50 && after !== before; i++) { await sleep(20); after = Number(/connected_clients:(\d+)/.exec(await admin.info('clients'))?.[1]) }
    t.equal(during, before + 1, 'the store opened one connection')
    t.equal(after, before, 'and closed it')
    await t.rejects(own.claim(fresh(), 1, Date.now(), Date.now() + 60_000), StoreUnavailable)
  })

  t.test('Redis unreachable from the start: register() succeeds (an outage is no set-up error), claims are StoreUnavailable, not a hang', async (t) => {
    const store = new RedisNonceStore({ host: '127.0.0.1', port: 1 }, { timeout: 300 })
    t.teardown(async () => { await store.close() })
    const app = Fastify()
    t.teardown(() => app.close())
    await app.register(cred, { realm, checkers: [new MemoryChecker({ alice: 'pw' })], interfaces: [IUser], schemes: ['digest'], digest: { nonceStore: store } })
    const outcome = await settle(store.claim(fresh(), 1, Date.now(), Date.now() + 60_000))
    t.ok(outcome instanceof StoreUnavailable, `rejected with StoreUnavailable (got ${String(outcome)})`)
    await t.rejects(store.connect(), StoreUnavailable)
  })

  t.test('outage: Redis stopped → StoreUnavailable quickly at every claim; restarted → claims work again', async (t) => {
    const store = await ownStore(t)
    const client = new Redis(redis.port, redis.host)
    client.on('error', () => {})
    t.teardown(() => { client.disconnect() })
    const given = new RedisNonceStore(client, { timeout: 300 })
    const nonce = fresh()
    const issuedAt = Date.now()
    t.equal(await store.claim(nonce, 1, issuedAt, issuedAt + 60_000), 'accepted')
    t.equal(await given.claim(nonce, 2, issuedAt, issuedAt + 60_000), 'accepted')

    await redis.stop()
    for (const [name, s] of [['own client', store], ['app client', given]] as const) {
      for (let i = 0; i < 3; i++) {
        const outcome = await settle(s.claim(nonce, 10 + i, issuedAt, issuedAt + 60_000))
        t.ok(outcome instanceof StoreUnavailable, `${name}, claim ${i + 1}: StoreUnavailable (got ${String(outcome)})`)
      }
    }

    await redis.start()
    let recovered: NonceClaim | Error | 'hung' = 'hung'
    for (let i = 0; i < 100; i++) {
      recovered = await settle(store.claim(fresh(), 1, Date.now(), Date.now() + 60_000))
      if (recovered === 'accepted') break
      await sleep(100)
    }
    t.equal(recovered, 'accepted', 'the store reconnected by itself')
    let givenRecovered: NonceClaim | Error | 'hung' = 'hung'
    for (let i = 0; i < 100 && givenRecovered !== 'accepted'; i++) {
      givenRecovered = await settle(given.claim(fresh(), 1, Date.now(), Date.now() + 60_000))
      if (givenRecovered !== 'accepted') await sleep(100)
    }
    t.equal(givenRecovered, 'accepted', 'so did the app\'s client')
    t.equal(await store.claim(nonce, 1, issuedAt, issuedAt + 60_000), 'forgotten', 'the restart lost the nonce: forgotten, not accepted')
  })

  t.test('a hung Redis (SIGSTOP): claims time out with StoreUnavailable, then work after SIGCONT', async (t) => {
    const store = await ownStore(t, { timeout: 200 })
    const client = new Redis(redis.port, redis.host) // default options: offline queue, 20 retries
    client.on('error', () => {})
    t.teardown(() => { client.disconnect() })
    const given = new RedisNonceStore(client, { timeout: 200 })
    await given.connect()
    await redis.pause()
    t.teardown(() => { redis.resume() })
    const own = await settle(store.claim(fresh(), 1, Date.now(), Date.now() + 60_000))
    t.ok(own instanceof StoreUnavailable, `own client: StoreUnavailable (got ${String(own)})`)
    const app = await settle(given.claim(fresh(), 1, Date.now(), Date.now() + 60_000))
    t.ok(app instanceof StoreUnavailable, `app client: StoreUnavailable (got ${String(app)})`)
    redis.resume()
    const nonce = fresh()
    const issuedAt = Date.now()
    t.equal(await settle(store.claim(nonce, 1, issuedAt, issuedAt + 60_000)), 'accepted')
    t.equal(await settle(given.claim(nonce, 1, issuedAt, issuedAt + 60_000)), 'replayed')
  })
}
