import t from 'tap'
import { InvalidOption, MemoryNonceStore } from '../lib/index.js'
import { NonceMinter } from '../lib/http/index.js'

const LIFETIME = 300_000

t.test('the 64-wide window: ahead accepted, inside once, behind replayed', async (t) => {
  const store = new MemoryNonceStore({ sweepInterval: 0 })
  const now = Date.now()
  const claim = (nc: number): string => store.claim('n', nc, now, now + LIFETIME)
  t.equal(claim(1), 'accepted')
  t.equal(claim(1), 'replayed')
  t.equal(claim(64), 'accepted')
  t.equal(claim(2), 'accepted', 'highest - 62: inside the window, unseen')
  t.equal(claim(2), 'replayed')
  t.equal(claim(1), 'replayed', 'seen (and at highest - 63)')
  t.equal(claim(65), 'accepted')
  t.equal(claim(1), 'replayed', 'now behind the window')
  t.equal(claim(33), 'accepted', 'across the 32-bit halves of the bitmap')
  t.equal(claim(33), 'replayed')
  t.equal(claim(97), 'accepted', 'a shift of exactly 32')
  t.equal(claim(33), 'replayed', 'moved from the low half to the high half and still remembered')
  t.equal(claim(34), 'accepted')
  t.equal(claim(65), 'replayed')
  t.equal(store.has('n'), true)
  t.equal(store.has('other'), false)
  await store.close()
})

t.test('eviction when full: oldest first, and the floor turns their replays into "forgotten"', async (t) => {
  const store = new MemoryNonceStore({ maxEntries: 3, sweepInterval: 0 })
  const base = Date.now()
  const claim = (nonce: string, issuedAt: number, nc = 1): string => store.claim(nonce, nc, issuedAt, issuedAt + LIFETIME)
  t.equal(claim('a', base), 'accepted')
  t.equal(claim('b', base + 1), 'accepted')
  t.equal(claim('c', base + 2), 'accepted')
  t.equal(store.floor, -Infinity)
  t.equal(claim('d', base + 3), 'accepted', 'evicts a')
  t.equal(store.size, 3)
  t.equal(store.has('a'), false)
  t.equal(store.floor, base, 'the floor is the evicted issue time')
  t.equal(claim('a', base), 'forgotten', 'the evicted nonce cannot start over at nc 1')
  t.equal(claim('a', base, 2), 'forgotten', 'nor at any count')
  t.equal(claim('older', base - 1000), 'forgotten', 'nor any unknown nonce issued before it')
  t.equal(claim('b', base + 1, 1), 'replayed', 'entries still held keep their windows')
  t.equal(claim('e', base + 10), 'accepted', 'a newer unknown nonce is fine (evicts b)')
  t.equal(store.floor, base + 1)
  await store.close()
})

t.test('expired entries go lazily on claims and on sweeps; they do not raise the floor', async (t) => {
  const store = new MemoryNonceStore({ maxEntries: 10, sweepInterval: 0 })
  const past = Date.now() - 2 * LIFETIME
  const now = Date.now()
  store.claim('old0', 1, past, past + LIFETIME)
  store.claim('old1', 1, past, past + LIFETIME)
  t.equal(store.size, 1, 'inserting drops expired entries at the head')
  store.claim('fresh', 1, now, now + LIFETIME)
  for (let i = 2; i < 6; i++) store.claim(`old${i}`, 1, past, past + LIFETIME)
  t.equal(store.size, 5, 'expired entries behind a live one wait for the sweep')
  store.sweep()
  t.equal(store.size, 1, 'a sweep drops them')
  t.equal(store.has('fresh'), true)
  t.equal(store.floor, -Infinity, 'expired nonces are refused as stale by the scheme before any claim')
  await store.close()
})

t.test('memory stays bounded after 100,000 distinct claims', async (t) => {
  const store = new MemoryNonceStore({ maxEntries: 10_000, sweepInterval: 0 })
  const minter = new NonceMinter()
  const now = Date.now()
  let accepted = 0
  for (let i = 0; i < 100_000; i++) {
    const { nonce } = minter.mint(now + i)
    if (store.claim(nonce, 1, now + i, now + i + LIFETIME) === 'accepted') accepted++
  }
  t.equal(accepted, 100_000, 'every fresh nonce is accepted')
  t.equal(store.size, 10_000, 'never more than maxEntries')
  t.equal(store.floor, now + 89_999, 'the floor is the newest evicted nonce')
  const defaults = new MemoryNonceStore()
  t.equal(defaults.maxEntries, 100_000, 'bounded by default')
  await defaults.close()
  await store.close()
})

t.test('the sweep timer is unref\'d and close() stops it', async (t) => {
  const store = new MemoryNonceStore({ sweepInterval: 10 })
  const past = Date.now() - 2 * LIFETIME
  store.claim('x', 1, past, past + LIFETIME)
  await new Promise((resolve) => setTimeout(resolve, 40))
  t.equal(store.size, 0, 'swept by the timer')
  await store.close()
  await store.close()
  t.pass('close twice is fine')
})

t.test('options are checked', async (t) => {
  t.throws(() => new MemoryNonceStore({ maxEntries: 0 }), InvalidOption)
  t.throws(() => new MemoryNonceStore({ maxEntries: 1.5 }), InvalidOption)
  t.throws(() => new MemoryNonceStore({ sweepInterval: -1 }), InvalidOption)
})
