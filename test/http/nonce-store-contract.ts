import { randomBytes } from 'node:crypto'
import type { Test } from 'tap'
import { StoreUnavailable } from '../../lib/cred/index.js'
import type { NonceClaim, NonceStore } from '../../lib/http/nonce-store.js'
import { RedisNonceStore } from '../../lib/http/redis-nonce-store.js'

/**
 * The agreed nonce-count semantics every NonceStore must follow (notes/CONTEXT.md): per nonce the highest nc seen
 * and a 64-wide window below it. nc > highest → accepted; highest-64 < nc <= highest and unseen → accepted;
 * otherwise replayed. A nonce the store does not know is recorded on its first claim. A store with `close()`: closing
 * is idempotent and final (every later claim fails with `StoreUnavailable`).
 *
 * `makeStore` is called once per subtest; stores with `close()` are closed at the end of the subtest.
 *
 * @example
 * import t from 'tap'
 * import { nonceStoreContract } from './nonce-store-contract.js'
 * await nonceStoreContract(t, () => new MemoryNonceStore())
 */
export async function nonceStoreContract (t: Test, makeStore: () => NonceStore | Promise<NonceStore>): Promise<void> {
  const fresh = (): string => randomBytes(18).toString('base64url')

  /** A store, a fresh nonce and `claim(nc)` with this nonce's times, issued now and valid for a minute. */
  const setup = async (t: Test): Promise<{ store: NonceStore, nonce: string, claim: (nc: number, nonce?: string) => Promise<NonceClaim> }> => {
    const store = await makeStore()
    t.teardown(async () => { await store.close?.() })
    const nonce = fresh()
    const issuedAt = Date.now()
    const claim = async (nc: number, other = nonce): Promise<NonceClaim> => await store.claim(other, nc, issuedAt, issuedAt + 60_000)
    return { store, nonce, claim }
  }

  await t.test('the first claim of a nonce is accepted, the same nc again is a replay', async (t) => {
    const { claim } = await setup(t)
    t.equal(await claim(1), 'accepted')
    t.equal(await claim(1), 'replayed')
    t.equal(await claim(1), 'replayed', 'and stays one')
  })

  await t.test('a first claim need not start at 1', async (t) => {
    const { claim } = await setup(t)
    t.equal(await claim(7), 'accepted')
    t.equal(await claim(3), 'accepted', 'below, within the window, unseen')
    t.equal(await claim(7), 'replayed')
  })

  await t.test('increasing counts are accepted, each once', async (t) => {
    const { claim } = await setup(t)
    for (let nc = 1; nc <= 100; nc++) t.equal(await claim(nc), 'accepted', `nc ${nc}`)
    t.equal(await claim(100), 'replayed')
    t.equal(await claim(50), 'replayed', 'seen, in the window')
    t.equal(await claim(36), 'replayed', 'behind the window')
  })

  await t.test('lower counts within the window are accepted once when unseen (requests overtaking each other)', async (t) => {
    const { claim } = await setup(t)
    t.equal(await claim(100), 'accepted')
    t.equal(await claim(99), 'accepted')
    t.equal(await claim(37), 'accepted', 'highest - 63 is the bottom of the window')
    t.equal(await claim(36), 'replayed', 'highest - 64 is outside the window')
    t.equal(await claim(1), 'replayed', 'far behind')
    t.equal(await claim(99), 'replayed')
    t.equal(await claim(37), 'replayed')
    t.equal(await claim(64), 'accepted')
    t.equal(await claim(64), 'replayed')
  })

  await t.test('moving the window keeps what was seen inside it and drops what falls out', async (t) => {
    const { claim } = await setup(t)
    for (const nc of [3, 10, 50]) t.equal(await claim(nc), 'accepted', `nc ${nc}`)
    t.equal(await claim(66), 'accepted', 'window now 3..66')
    t.equal(await claim(3), 'replayed', 'seen, still in the window')
    t.equal(await claim(10), 'replayed')
    t.equal(await claim(50), 'replayed')
    for (const nc of [4, 9, 11, 49, 51, 64, 65]) t.equal(await claim(nc), 'accepted', `unseen nc ${nc} in the window`)
    t.equal(await claim(67), 'accepted', 'window now 4..67')
    t.equal(await claim(3), 'replayed', 'fell out of the window')
    t.equal(await claim(5), 'accepted')
    t.equal(await claim(4), 'replayed')
  })

  await t.test('a jump of 64 or more empties the window', async (t) => {
    const { claim } = await setup(t)
    t.equal(await claim(5), 'accepted')
    t.equal(await claim(69), 'accepted', 'jump of exactly 64: window 6..69')
    t.equal(await claim(5), 'replayed')
    t.equal(await claim(6), 'accepted')
    t.equal(await claim(1000), 'accepted')
    t.equal(await claim(937), 'accepted', 'bottom of the new window')
    t.equal(await claim(936), 'replayed', 'just below it')
    t.equal(await claim(69), 'replayed')
  })

  await t.test('the whole 8-hex-digit range of nc', async (t) => {
    const { claim } = await setup(t)
    t.equal(await claim(0xfffffffe), 'accepted')
    t.equal(await claim(0xffffffff), 'accepted')
    t.equal(await claim(0xffffffff), 'replayed')
    t.equal(await claim(0xffffffff - 63), 'accepted')
    t.equal(await claim(0xffffffff - 64), 'replayed')
    t.equal(await claim(1), 'replayed')
  })

  await t.test('nonces are independent of each other', async (t) => {
    const { claim, nonce } = await setup(t)
    const other = fresh()
    t.equal(await claim(1), 'accepted')
    t.equal(await claim(1, other), 'accepted', 'same nc, other nonce')
    t.equal(await claim(500, other), 'accepted')
    t.equal(await claim(2, nonce), 'accepted', 'moving one window does not move the other')
    t.equal(await claim(1, other), 'replayed')
    t.equal(await claim(1, nonce), 'replayed')
  })

  await t.test('concurrent claims of the same (nonce, nc): exactly one is accepted', async (t) => {
    const { claim } = await setup(t)
    const outcomes = await Promise.all(Array.from({ length: 50 }, async () => await claim(1)))
    t.equal(outcomes.filter((o) => o === 'accepted').length, 1)
    t.equal(outcomes.filter((o) => o === 'replayed').length, 49)
    const mixed = await Promise.all([2, 3, 2, 3, 2, 3].map(async (nc) => await claim(nc)))
    t.equal(mixed.filter((o) => o === 'accepted').length, 2, 'one for nc 2, one for nc 3')
  })

  await t.test('close() is idempotent and final: every later claim fails with StoreUnavailable', async (t) => {
    const { store, claim, nonce } = await setup(t)
    if (store.close === undefined) { t.pass('this store has nothing to close'); return }
    t.equal(await claim(1), 'accepted')
    await store.close()
    await store.close()
    for (const nc of [1, 2]) {
      const outcome = await claim(nc).then((claimed) => claimed, (err: unknown) => err)
      t.type(outcome, StoreUnavailable, `nc ${nc} after close(): StoreUnavailable, neither accepted nor replayed`)
    }
    if (store.has !== undefined) t.notOk(store.has(nonce), 'and it vouches for no nonce it held')
  })

  await t.test('agrees with a reference model over a long random sequence', async (t) => {
    const { claim } = await setup(t)
    let seed = 0x2545f491
    const random = (): number => { seed ^= seed << 13; seed ^= seed >>> 17; seed ^= seed << 5; return (seed >>> 0) / 0x100000000 }
    const seen = new Set<number>()
    let highest = 0
    const mismatches: string[] = []
    for (let i = 0; i < 600; i++) {
      const r = random()
      const nc = Math.max(1, r < 0.05 ? highest + 1 + Math.floor(random() * 200) : highest + 4 - Math.floor(random() * 75))
      const expected: NonceClaim = nc > highest || (nc > highest - 64 && !seen.has(nc)) ? 'accepted' : 'replayed'
      if (expected === 'accepted') { seen.add(nc); highest = Math.max(highest, nc) }
      const got = await claim(nc)
      if (got !== expected) mismatches.push(`#${i} nc ${nc} (highest ${highest}): expected ${expected}, got ${got}`)
    }
    t.same(mismatches, [], 'every answer as the model says')
    t.ok(highest > 64, 'the sequence moved the window')
  })
}

/**
 * A connected `RedisNonceStore` for the contract, on `connection` (a URL, options or an app's client) under its own
 * `keyPrefix`, so that the contract runs on one Redis, a Cluster or a Sentinel set-up alike.
 */
export async function connectedRedisNonceStore (connection: ConstructorParameters<typeof RedisNonceStore>[0], keyPrefix: string): Promise<RedisNonceStore> {
  const store = new RedisNonceStore(connection, { keyPrefix })
  await store.connect()
  return store
}
