import t from 'tap'
import { InvalidOption } from '../../lib/cred/index.js'
import { MemoryNonceStore, NonceMinter } from '../../lib/http/index.js'

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

/** A wall clock that can step and a monotonic clock that only moves forward, both under the test's control. */
function testClock (wall = 1_700_000_000_000): { now: () => number, monotonic: () => number, advance: (ms: number) => void, stepWall: (ms: number) => void } {
  let mono = 1000
  return {
    now: () => wall,
    monotonic: () => mono,
    advance: (ms) => { wall += ms; mono += ms },
    stepWall: (ms) => { wall += ms }
  }
}

t.test('expired entries go lazily on claims and on sweeps, and raise the floor', async (t) => {
  const clock = testClock()
  const store = new MemoryNonceStore({ maxEntries: 10, sweepInterval: 0, clock })
  const first = clock.now()
  const claim = (nonce: string, issuedAt: number): string => store.claim(nonce, 1, issuedAt, issuedAt + LIFETIME)
  t.equal(claim('old0', first), 'accepted')
  t.equal(claim('old1', first + 1), 'accepted')
  clock.advance(LIFETIME + 10)
  const now = clock.now()
  t.equal(claim('fresh', now), 'accepted')
  t.equal(store.size, 1, 'inserting drops expired entries at the head')
  t.equal(store.floor, first + 1, 'and raises the floor to their issue time')
  for (let i = 2; i < 6; i++) t.equal(claim(`later${i}`, now + i), 'accepted')
  clock.advance(LIFETIME - 1)
  t.equal(claim('newest', clock.now()), 'accepted')
  clock.advance(10)
  t.equal(store.size, 6, 'expired entries behind a live one wait for the sweep')
  store.sweep()
  t.equal(store.size, 1, 'a sweep drops them')
  t.equal(store.has('newest'), true)
  t.equal(store.floor, now + 5, 'the sweep raised the floor too')
  await store.close()
})

t.test('the wall clock steps back: a replay of an expired header is "forgotten" (stale), never accepted afresh', async (t) => {
  const clock = testClock()
  const store = new MemoryNonceStore({ maxEntries: 10, sweepInterval: 0, clock })
  const issuedAt = clock.now()
  t.equal(store.claim('n', 1, issuedAt, issuedAt + LIFETIME), 'accepted', 'the victim\'s request')
  clock.advance(LIFETIME + 1)
  store.sweep()
  t.equal(store.size, 0, 'expired and swept')
  clock.stepWall(-LIFETIME)
  t.ok(clock.now() < issuedAt + LIFETIME, 'by the wall clock, the nonce looks fresh again (the scheme would not say stale)')
  t.equal(store.claim('n', 1, issuedAt, issuedAt + LIFETIME), 'forgotten', 'the replayed header')
  t.equal(store.claim('n', 2, issuedAt, issuedAt + LIFETIME), 'forgotten', 'at any count')

  // Dropped lazily, on the insertion of another nonce, rather than by a sweep.
  const lazy = new MemoryNonceStore({ maxEntries: 10, sweepInterval: 0, clock })
  const at = clock.now()
  t.equal(lazy.claim('m', 1, at, at + LIFETIME), 'accepted')
  clock.advance(LIFETIME + 1)
  t.equal(lazy.claim('other', 1, clock.now(), clock.now() + LIFETIME), 'accepted', 'drops m on the way')
  t.equal(lazy.has('m'), false)
  clock.stepWall(-2 * LIFETIME)
  t.equal(lazy.claim('m', 1, at, at + LIFETIME), 'forgotten')
  await lazy.close()
  await store.close()
})

t.test('the wall clock steps forward: entries expire on the monotonic clock, not early', async (t) => {
  const clock = testClock()
  const store = new MemoryNonceStore({ maxEntries: 10, sweepInterval: 0, clock })
  const issuedAt = clock.now()
  t.equal(store.claim('n', 1, issuedAt, issuedAt + LIFETIME), 'accepted')
  clock.stepWall(10 * LIFETIME)
  store.sweep()
  t.equal(store.has('n'), true, 'still remembered: the monotonic clock has not reached its expiry')
  t.equal(store.claim('n', 1, issuedAt, issuedAt + LIFETIME), 'replayed', 'so a replay is still a replay')
  t.equal(store.floor, -Infinity)
  clock.advance(LIFETIME)
  store.sweep()
  t.equal(store.has('n'), false, 'gone once its lifetime has passed on the monotonic clock')
  t.throws(() => new MemoryNonceStore({ clock: { now: Date.now } as unknown as { now: () => number, monotonic: () => number } }), InvalidOption)
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
