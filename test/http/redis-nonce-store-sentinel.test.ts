import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import t from 'tap'
import { StoreUnavailable } from '../../lib/cred/index.js'
import { RedisNonceStore } from '../../lib/http/index.js'
import type { NonceClaim } from '../../lib/http/index.js'
import { redisServerProgram, startRedisSentinel } from '../helpers/redis-cluster.js'
import { connectedRedisNonceStore, nonceStoreContract } from './nonce-store-contract.js'

// RedisNonceStore on a real Sentinel set-up (primary, replica, sentinel): the contract, then the primary killed
// mid-run: the requests in flight get StoreUnavailable (503), a replay is never accepted, claims resume on the
// promoted replica.

const fresh = (): string => randomBytes(18).toString('base64url')

// Started before any test is queued: tap ends the root test once its queue drains.
const sentinel = redisServerProgram.skip === false ? await startRedisSentinel(t) : undefined

if (sentinel === undefined) {
  t.test('against a real Sentinel set-up', { skip: redisServerProgram.skip }, async () => {})
} else {
  t.test('contract, with a client the store owns (a redis+sentinel:// URL)', async (t) => {
    await nonceStoreContract(t, async () => await connectedRedisNonceStore(sentinel.url, 'contract-own:'))
  })

  t.test('contract, with ioredis Sentinel options and with an app\'s Sentinel client', async (t) => {
    await nonceStoreContract(t, async () => await connectedRedisNonceStore(sentinel.options, 'contract-options:'))
    const client = new Redis(sentinel.options)
    t.teardown(() => { client.disconnect() })
    await nonceStoreContract(t, async () => await connectedRedisNonceStore(client, 'contract-given:'))
  })

  t.test('failover mid-run: 503 for the requests in flight, never a replay accepted, then claims on the new primary', async (t) => {
    const store = new RedisNonceStore(sentinel.url, { timeout: 500 })
    t.teardown(async () => { await store.close() })
    await store.connect()
    const issuedAt = Date.now()
    const claim = async (nonce: string, nc: number): Promise<NonceClaim | 'unavailable'> =>
      await store.claim(nonce, nc, issuedAt, issuedAt + 600_000).then((c) => c, (err: unknown) => {
        if (err instanceof StoreUnavailable) return 'unavailable'
        throw err
      })
    const accepted: Array<[string, number]> = []
    const wrong: string[] = []
    let unavailable = 0
    let running = true
    const worker = async (): Promise<void> => {
      const nonce = fresh()
      for (let nc = 1; running; nc++) {
        const first = await claim(nonce, nc)
        if (first === 'unavailable') { unavailable++; await new Promise((resolve) => setTimeout(resolve, 20)); continue }
        if (first !== 'accepted') wrong.push(`${nonce} nc ${nc}: first claim ${first}`)
        else accepted.push([nonce, nc])
        const replay = await claim(nonce, nc)
        if (replay === 'accepted') wrong.push(`${nonce} nc ${nc}: replay accepted`)
        if (replay === 'unavailable') unavailable++
      }
    }
    const workers = Array.from({ length: 8 }, worker)
    await new Promise((resolve) => setTimeout(resolve, 200))
    const before = accepted.length
    const { oldPrimary, newPrimary } = await sentinel.failover()
    t.not(newPrimary, oldPrimary, `the sentinel promoted the replica (${oldPrimary} → ${newPrimary})`)
    // ioredis asks the sentinel again on its own schedule: poll (bounded) until claims are answered again.
    const resumed = accepted.length
    for (let i = 0; i < 100 && accepted.length < resumed + 20; i++) await new Promise((resolve) => setTimeout(resolve, 100))
    running = false
    await Promise.all(workers)
    t.ok(before > 0, `claims before the failover: ${before}`)
    t.ok(accepted.length >= resumed + 20, `claims accepted again after it (${accepted.length - resumed})`)
    t.ok(unavailable > 0, `the requests during the failover got 503: ${unavailable}`)
    t.same(wrong, [], 'no replay accepted, no first claim refused')
    const replays = await Promise.all(accepted.map(async ([nonce, nc]) => await claim(nonce, nc)))
    t.same(replays.filter((r) => r !== 'replayed'), [], `every claim accepted before or after the failover is a replay on the new primary (${accepted.length})`)
  })
}
