import { hash } from 'node:crypto'
import { InvalidOption, StoreUnavailable } from '../cred/index.js'
import { RedisScripts } from '../drivers/index.js'
import type { RedisClientLike, RedisConnectionOptions } from '../drivers/index.js'
import type { NonceClaim, NonceStore } from './nonce-store.js'

export type { RedisClientLike, RedisConnectionOptions } from '../drivers/index.js'

/** Options of `RedisNonceStore`. */
export interface RedisNonceStoreOptions {
  /** Prefix of every key the store writes. Default `'fastify-cred:nonce:'`. */
  keyPrefix?: string
  /**
   * Milliseconds after which a claim (or the first connection) gives up with `StoreUnavailable`. Default 1000.
   * With a client of the app's own this bounds the wait even when its offline queue would hold the command.
   */
  timeout?: number
}

const DEFAULT_PREFIX = 'fastify-cred:nonce:'
const DEFAULT_TIMEOUT = 1000
const MAX_NC = 0xffffffff

/**
 * KEYS[1] the nonce, KEYS[2] the marker (time from which this Redis holds every used nonce).
 * ARGV: nc, issuedAt, expiresAt, now (ms). Returns 1 accepted, 0 replayed, 2 forgotten; 4 accepted and 3 forgotten
 * when the marker was missing (written now: the store then marks every group). TIME is read before any
 * write (Redis 7 replicates a script's effects; before that, a non-deterministic command may not follow a write).
 *
 * The state is "highest:lo:hi": the highest nc seen and a 64-bit bitmap as two 32-bit words. The bitmap is circular
 * (bit `nc % 64`): the window is highest-63 .. highest, 64 values with distinct bits, so moving the window only
 * clears the bits of the values it newly covers and never shifts. Numbers stay below 2^32, exact in Lua's doubles.
 */
const SCRIPT = `local nc = tonumber(ARGV[1])
local state = redis.call('GET', KEYS[1])
local highest, lo, hi
local marked = false
if state then
  local h, l, u = string.match(state, '^(%d+):(%-?%d+):(%-?%d+)$')
  highest = tonumber(h)
  lo = tonumber(l)
  hi = tonumber(u)
  if not highest then return redis.error_reply('fastify-cred: unexpected nonce state') end
end
if not highest then
  -- Redis's own clock, the one PEXPIREAT expires keys by: a nonce whose expiry it has passed may have been used and
  -- dropped already, so it cannot be claimed afresh, whatever the app's clock says (stepped back, or behind Redis).
  local t = redis.call('TIME')
  if tonumber(ARGV[3]) <= tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) then return 2 end
  local since = tonumber(redis.call('GET', KEYS[2]))
  if not since then
    since = tonumber(ARGV[4])
    redis.call('SET', KEYS[2], ARGV[4])
    marked = true
  end
  if tonumber(ARGV[2]) < since then
    if marked then return 3 end
    return 2
  end
  highest = nc
  lo = 0
  hi = 0
elseif nc > highest then
  if nc - highest >= 64 then
    lo = 0
    hi = 0
  else
    for v = highest + 1, nc do
      local p = v % 64
      if p < 32 then lo = bit.band(lo, bit.bnot(bit.lshift(1, p))) else hi = bit.band(hi, bit.bnot(bit.lshift(1, p - 32))) end
    end
  end
  highest = nc
elseif nc <= highest - 64 then
  return 0
else
  local p = nc % 64
  local word = lo
  if p >= 32 then word = hi; p = p - 32 end
  if bit.band(word, bit.lshift(1, p)) ~= 0 then return 0 end
end
local p = nc % 64
if p < 32 then lo = bit.bor(lo, bit.lshift(1, p)) else hi = bit.bor(hi, bit.lshift(1, p - 32)) end
redis.call('SET', KEYS[1], string.format('%d:%d:%d', highest, lo, hi))
redis.call('PEXPIREAT', KEYS[1], ARGV[3])
if marked then return 4 end
return 1
`
const SCRIPT_SHA = hash('sha1', SCRIPT, 'hex')
const MARK_SCRIPT = "for i = 1, #KEYS do redis.call('SET', KEYS[i], ARGV[1], 'NX') end return 1"
const MARK_SHA = hash('sha1', MARK_SCRIPT, 'hex')

/**
 * The nonces are spread over this many slot groups, each `{xx}` (two hex digits) in the keys: a claim's two keys (the
 * nonce and its group's marker) share one Redis Cluster slot, while the groups spread over the cluster's primaries. A
 * node that loses its data loses its groups' markers with it, so each node vouches only for what it holds.
 */
const GROUPS = 256
const GROUP_TAGS = Array.from({ length: GROUPS }, (_, i) => `{${i.toString(16).padStart(2, '0')}}`)

/** The group of a nonce: FNV-1a over its characters (nonces start with their issue time, so not the first ones). */
const groupOf = (nonce: string): string => {
  let h = 0x811c9dc5
  for (let i = 0; i < nonce.length; i++) h = Math.imul(h ^ nonce.charCodeAt(i), 0x01000193)
  return GROUP_TAGS[(h >>> 0) % GROUPS] as string
}

/**
 * The keys a claim of `nonce` touches: its state and its group's marker. For tests and operators reading Redis;
 * not exported from the package.
 * @internal
 */
export function redisNonceKeys (keyPrefix: string, nonce: string): { readonly state: string, readonly marker: string } {
  const marker = keyPrefix + groupOf(nonce)
  return { state: `${marker}:${nonce}`, marker }
}

const OUTCOMES: ReadonlyMap<unknown, NonceClaim> = new Map<unknown, NonceClaim>([[1, 'accepted'], [4, 'accepted'], [0, 'replayed'], [2, 'forgotten'], [3, 'forgotten']])

/**
 * A Redis-backed `NonceStore`: app instances sharing one Digest `secret` and one Redis also share which nonce counts
 * were used, so a request replayed at another instance is refused.
 *
 * Each `claim()` is one round trip running a Lua script (`EVALSHA`, then `EVAL` when Redis lost its script cache),
 * atomic in Redis, implementing the 64-wide anti-replay window; the nonce's key expires at `expiresAt`
 * (`PEXPIREAT`), so Redis forgets used nonces by itself. A claim rejects with `StoreUnavailable` after at most
 * `timeout` ms when Redis is down, slow or full (HTTP 503); it never answers `'accepted'` unless Redis recorded it.
 *
 * Redis settings matter for security:
 * - Use `maxmemory-policy noeviction`. Every nonce key has a TTL, so the `volatile-*` policies (`volatile-ttl` too:
 *   it picks the keys closest to expiry) and the `allkeys-*` policies may evict a used nonce before it expires, and
 *   an evicted nonce CAN BE REPLAYED until it expires. With `noeviction` a full Redis refuses writes instead: claims
 *   fail with `StoreUnavailable`, closed rather than open.
 * - A Redis restarted without persistence, or flushed, has lost the used nonces. The store notices: the marker keys
 *   `keyPrefix{00}` … `keyPrefix{ff}` hold the time from which this Redis vouches for the nonces of their group
 *   (written when missing, no TTL), and the first claim of a nonce issued before that time answers `'forgotten'` (Digest says `stale=true`, the
 *   client retries with a fresh nonce) instead of re-opening replays. This compares the nonce's issue time (the
 *   issuing instance's clock) with the claiming instance's clock: keep the instances' clocks in sync (NTP).
 * - Clocks: a used nonce's key expires at `expiresAt` by Redis's clock (`PEXPIREAT`), and the first claim of a
 *   nonce whose `expiresAt` Redis's clock has passed answers `'forgotten'`: the same clock decides both, so a
 *   replay can never find its key gone yet be taken as new, whether the app's clock stepped back or runs behind
 *   Redis's. An app clock behind Redis's by Δ makes nonces `stale` Δ early (clients retry with a fresh nonce;
 *   keep Δ well below the nonce lifetime); one ahead of Redis's only keeps keys longer. A Redis whose own clock
 *   steps back keeps keys longer too; one that steps forward drops them early, and they are then `'forgotten'`.
 * - Keys: a nonce's state is `keyPrefix{xx}:nonce`, its group's marker `keyPrefix{xx}`, where `xx` is one of 256
 *   groups picked by a hash of the nonce. On a Redis Cluster the `{xx}` hash tag puts both keys of a claim in one
 *   slot (one atomic script), and the 256 groups spread the nonces over the primaries; a reshard moves whole groups.
 * - Replication (Sentinel, a cluster's replicas) is asynchronous: a failover to a replica that had not caught up is
 *   NOT noticed (the markers were replicated long before), so the nonce counts claimed in the last moment before
 *   the primary died (the replication lag, normally well under a millisecond on a LAN; `INFO replication` shows
 *   it) can be replayed once until their nonces expire.
 *
 * ioredis (5 or 6) is an optional peer dependency, imported on first use only: apps that never build a
 * `RedisNonceStore` do not need it. Without it, `connect()` and `claim()` reject with `MissingPeerDependency`.
 *
 * @example
 * import Redis from 'ioredis'
 * import { RedisNonceStore } from 'fastify-cred/http'
 * // With a client the app already has (the store never closes it):
 * const shared = new RedisNonceStore(new Redis(6379, '127.0.0.1'))
 * // Or let the store make and own its client, from a URL or ioredis options:
 * const nonceStore = new RedisNonceStore('redis://127.0.0.1:6379/0', { keyPrefix: 'myapp:nonce:', timeout: 500 })
 * // A Redis Cluster from its seeds, or the primary a Sentinel set watches:
 * const clustered = new RedisNonceStore('redis+cluster://10.0.0.1:7000,10.0.0.2:7000,10.0.0.3:7000')
 * const watched = new RedisNonceStore('redis+sentinel://10.0.0.1:26379,10.0.0.2:26379/mymaster')
 * await nonceStore.connect() // optional: fail at start-up rather than on the first login
 * await app.register(cred, { ...options, schemes: ['digest'], digest: { secret: process.env.DIGEST_SECRET, nonceStore } })
 * app.addHook('onClose', () => nonceStore.close())
 */
export class RedisNonceStore implements NonceStore {
  /** The prefix of every key this store writes. */
  readonly keyPrefix: string
  /** How long a claim may take before it fails with `StoreUnavailable`, in ms. */
  readonly timeout: number
  readonly #redis: RedisScripts
  #markingAll: Promise<void> | undefined

  constructor (connection: RedisClientLike | string | RedisConnectionOptions, options: RedisNonceStoreOptions = {}) {
    if (options === null || typeof options !== 'object') throw new InvalidOption('RedisNonceStore: options must be an object, e.g. { keyPrefix }')
    const keyPrefix = options.keyPrefix ?? DEFAULT_PREFIX
    if (typeof keyPrefix !== 'string' || keyPrefix === '') throw new InvalidOption('RedisNonceStore: `keyPrefix` must be a non-empty string')
    this.#redis = new RedisScripts('RedisNonceStore', connection, options.timeout ?? DEFAULT_TIMEOUT)
    this.keyPrefix = keyPrefix
    this.timeout = this.#redis.timeout
  }

  /**
   * Connects now (loading ioredis for a store that owns its client) and records, if this Redis has no record yet,
   * that it vouches for nonces from now on. Optional: `claim()` connects on first use; call this at start-up to
   * fail early, and so that nonces issued before the first login are not answered `'forgotten'` on a fresh Redis.
   *
   * @example
   * const store = new RedisNonceStore('redis://127.0.0.1:6379')
   * await store.connect() // throws StoreUnavailable, or MissingPeerDependency when ioredis is not installed
   */
  async connect (): Promise<void> {
    const now = Date.now()
    const markers = GROUP_TAGS.map((tag) => this.keyPrefix + tag)
    // One script may only touch one slot of a cluster: there, one run per group.
    if (!this.#redis.cluster) await this.#redis.run(MARK_SHA, MARK_SCRIPT, markers.length, [...markers, now])
    else await Promise.all(markers.map(async (marker) => await this.#redis.run(MARK_SHA, MARK_SCRIPT, 1, [marker, now])))
  }

  /**
   * Loads ioredis when the store makes its own client, without connecting (see `NonceStore.prepare`): the plugin
   * calls it in `register()`, so a server without ioredis does not start, while one whose Redis is down does (and
   * answers 503 until Redis is back).
   *
   * @throws MissingPeerDependency when ioredis is not installed; StoreUnavailable once closed.
   */
  async prepare (): Promise<void> {
    await this.#redis.prepare()
  }

  /**
   * Records one use of `nc` with `nonce` (see `NonceStore.claim`), atomically in one round trip.
   *
   * @example
   * const outcome = await store.claim(nonce, 1, issuedAt, issuedAt + 300_000)
   * if (outcome !== 'accepted') throw new UnauthorizedLogin('replayed')
   */
  claim (nonce: string, nc: number, issuedAt: number, expiresAt: number): Promise<NonceClaim> {
    if (!Number.isInteger(nc) || nc < 0 || nc > MAX_NC) return Promise.reject(new RangeError(`RedisNonceStore: nc must be an integer from 0 to ${MAX_NC}`))
    const { state, marker } = redisNonceKeys(this.keyPrefix, nonce)
    return this.#redis.run(SCRIPT_SHA, SCRIPT, 2, [state, marker, nc, issuedAt, expiresAt, Date.now()]).then((reply) => {
      // ioredis answers Lua integers as numbers; anything else means a foreign script or a broken proxy: fail closed.
      const outcome = OUTCOMES.get(reply)
      if (outcome === undefined) throw new StoreUnavailable('Redis nonce store: unexpected reply from the claim script')
      // A group without its marker: this Redis is new or lost its data. Mark every group now, so that the nonces
      // issued from now on are not 'forgotten' one group at a time (each a stale round trip for the client).
      if (reply === 3 || reply === 4) this.#markingAll ??= this.connect().catch(() => undefined).finally(() => { this.#markingAll = undefined })
      return outcome
    })
  }

  /**
   * Quits the client the store created; a client given by the app is left open (the app closes it). Idempotent and
   * final: afterwards `claim` and `connect` reject with `StoreUnavailable`.
   *
   * @example
   * app.addHook('onClose', () => store.close())
   */
  async close (): Promise<void> {
    await this.#redis.close()
  }
}
