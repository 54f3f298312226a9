import { randomBytes } from 'node:crypto'
import { Cluster } from 'ioredis'
import t from 'tap'
import { StoreUnavailable } from '../../lib/cred/index.js'
import { RedisNonceStore } from '../../lib/http/index.js'
import type { NonceClaim } from '../../lib/http/index.js'
import { redisNonceKeys } from '../../lib/http/redis-nonce-store.js'
import { command, migrateSlot, redisServerProgram, slotOf, startRedisCluster } from '../helpers/redis-cluster.js'
import { connectedRedisNonceStore, nonceStoreContract } from './nonce-store-contract.js'

// RedisNonceStore on a real 3-node Redis Cluster: the same contract as on one Redis, each claim one script on one
// slot, and a slot moved between nodes mid-run (ASK, then MOVED) costing no wrong answer.

const fresh = (): string => randomBytes(18).toString('base64url')

// Started before any test is queued: tap ends the root test once its queue drains.
const cluster = redisServerProgram.skip === false ? await startRedisCluster(t) : undefined

if (cluster === undefined) {
  t.test('against a real Redis Cluster', { skip: redisServerProgram.skip }, async () => {})
} else {
  t.test('contract, with a client the store owns (a redis+cluster:// URL)', async (t) => {
    await nonceStoreContract(t, async () => await connectedRedisNonceStore(cluster.url, 'contract-own:'))
  })

  t.test('contract, with an ioredis Cluster the app already has', async (t) => {
    const client = new Cluster(cluster.nodes)
    t.teardown(() => { client.disconnect() })
    await nonceStoreContract(t, async () => await connectedRedisNonceStore(client, 'contract-given:'))
  })

  t.test('contract, with clusterNodes options', async (t) => {
    await nonceStoreContract(t, async () => await connectedRedisNonceStore({ clusterNodes: cluster.nodes }, 'contract-options:'))
  })

  t.test('layout: a claim\'s two keys share a slot, and the groups spread over every primary', async (t) => {
    await cluster.flush()
    const store = new RedisNonceStore(cluster.url)
    t.teardown(async () => { await store.close() })
    await store.connect()
    const nonces = Array.from({ length: 60 }, fresh)
    for (const nonce of nonces) t.equal(await store.claim(nonce, 1, Date.now(), Date.now() + 60_000), 'accepted')
    const keys = await cluster.keys()
    for (const nonce of nonces) {
      const { state, marker } = redisNonceKeys('fastify-cred:nonce:', nonce)
      t.ok(keys.includes(state) && keys.includes(marker), 'both keys written')
      t.equal(slotOf(state), slotOf(marker), 'in one slot')
    }
    const owners = new Set(await Promise.all(keys.map(async (key) => await cluster.ownerOf(slotOf(key)))))
    t.equal(owners.size, 3, 'the keys live on all three primaries')
  })

  t.test('a slot moved mid-run (MIGRATING/IMPORTING: ASK; then SETSLOT NODE: MOVED): no wrong answer, 503 at most', async (t) => {
    const prefix = 'reshard:'
    const store = new RedisNonceStore(cluster.url, { keyPrefix: prefix, timeout: 2000 })
    t.teardown(async () => { await store.close() })
    await store.connect()
    // Nonces of groups whose slots live on the first node, so that moving those slots moves them.
    const from = cluster.ports[0] as number
    const to = cluster.ports[1] as number
    const nonces: string[] = []
    const slots = new Set<number>()
    const owners = new Map<number, number>()
    while (nonces.length < 40) {
      const nonce = fresh()
      const slot = slotOf(redisNonceKeys(prefix, nonce).marker)
      if (!owners.has(slot)) owners.set(slot, await cluster.ownerOf(slot))
      if (owners.get(slot) !== from) continue
      if (slots.size >= 4 && !slots.has(slot)) continue
      slots.add(slot)
      nonces.push(nonce)
    }
    const issuedAt = Date.now()
    const wrong: string[] = []
    let unavailable = 0
    let answered = 0
    let running = true
    /** Claims nc = 1, 2, … for one nonce, each twice: the first must be accepted, the second replayed. */
    const worker = async (nonce: string): Promise<void> => {
      for (let nc = 1; running || nc < 4; nc++) {
        let recorded = false
        for (const expected of ['accepted', 'replayed'] as const) {
          const got = await store.claim(nonce, nc, issuedAt, issuedAt + 600_000).then((c): NonceClaim | 'unavailable' => c, (err: unknown) => {
            if (err instanceof StoreUnavailable) return 'unavailable'
            throw err
          })
          answered++
          if (got === 'unavailable') { unavailable++; continue }
          // After a 503 the first claim may or may not have been recorded: then only 'forgotten' would be wrong.
          const ok = got === expected || (expected === 'replayed' && !recorded && got === 'accepted')
          if (!ok) wrong.push(`${nonce} nc ${nc}: expected ${expected}, got ${got}`)
          if (got === 'accepted') recorded = true
        }
      }
    }
    const askings = async (): Promise<number> => Number(/cmdstat_asking:calls=(\d+)/.exec(String(await command(to, 'INFO', 'commandstats')))?.[1] ?? 0)
    const askedBefore = await askings()
    const workers = nonces.map(worker)
    for (const slot of slots) {
      const migration = await migrateSlot(cluster.ports, slot, from, to)
      await new Promise((resolve) => setTimeout(resolve, 50)) // claims run while the slot is MIGRATING (ASK)
      const moved = await migration.moveKeys()
      t.ok(moved > 0, `slot ${slot}: ${moved} keys moved`)
      await new Promise((resolve) => setTimeout(resolve, 50))
      await migration.finish()
      t.equal(await cluster.ownerOf(slot), to, `slot ${slot} now on the second node`)
    }
    await new Promise((resolve) => setTimeout(resolve, 100)) // and after it moved (MOVED for clients not told yet)
    running = false
    await Promise.all(workers)
    t.ok(await askings() > askedBefore, 'claims were redirected with ASK while the slots migrated')
    t.same(wrong, [], 'every answer right (or a 503)')
    t.ok(unavailable <= nonces.length * 2, `503 only for requests in flight: ${unavailable} of ${answered}`)
    for (const nonce of nonces) {
      t.equal(await store.claim(nonce, 1, issuedAt, issuedAt + 600_000), 'replayed', 'the moved state still refuses a replay')
    }
  })
}
