/**
 * The contenders of `npm run bench`: which server each one starts and how the load generator talks to it.
 * Shared by the orchestrator (run.ts), the servers (server.ts) and the load generator (load.ts).
 */
import { formatBasic } from '../lib/http/index.js'

/** How the load generator authenticates: a fixed Basic header, Digest answering challenges, or nothing (401 path). */
export type ClientKind = 'basic' | 'digest' | 'none'

/** The server programs server.ts knows. Several contenders may use the same program with different clients. */
export type ServerKind = 'bare' | 'hook' | 'basic-auth' | 'passport' | 'passport-digest' | 'cred-basic' | 'cred-basic-logout' | 'cred-nohash' | 'cred-public' | 'cred-digest' | 'cred-htpasswd' | 'cred-htpasswd-cached' | 'cred-digest-redis-cluster' | 'cred-basic-redis-throttle' | 'cred-basic-events'

export type DigestAlgorithm = 'SHA-256' | 'MD5'

export interface Contender {
  readonly name: string
  /** What the table shows. */
  readonly label: string
  readonly server: ServerKind
  readonly client: ClientKind
  /** The status every measured response must have. */
  readonly expectStatus: 200 | 401
  /** The Digest challenge the client answers (the server offers SHA-256 and MD5, as configured by default). */
  readonly algorithm?: DigestAlgorithm
  /** Needs the plugin's Digest scheme; skipped (with a message) when the plugin does not offer it yet. */
  readonly needsDigest?: boolean
  /**
   * Load for this contender instead of the run's `--connections` / `--pipelining`: a contender at ~40 req/s (a
   * bcrypt hash per request) given 500 requests in flight would only measure autocannon's timeouts.
   */
  readonly connections?: number
  readonly pipelining?: number
  /**
   * The environment variable naming the Redis this contender's server uses (`BENCH_REDIS_CLUSTER`, a
   * `redis+cluster://` URL; `BENCH_REDIS_URL`, one Redis); without it the contender is skipped with a message.
   */
  readonly needsRedis?: 'BENCH_REDIS_CLUSTER' | 'BENCH_REDIS_URL'
}

/** The one user every authenticated server knows. */
export const USER = 'alice'
export const PASSWORD = 'wonderland'
/** The protection space every server announces. */
export const AUTH_REALM = 'bench'
/** The route every server answers, and its body. */
export const ROUTE = '/'
export const BODY = { hello: 'world' }
/** A route every fastify-cred server answers without authentication (`config: { cred: false }`). */
export const PUBLIC_ROUTE = '/public'
/** The bcrypt cost of the htpasswd contenders' file (written by the server at start-up). */
export const HTPASSWD_BCRYPT_COST = 10

/** In table order; the rounds run them in this order, again and again. */
export const CONTENDERS: readonly Contender[] = [
  { name: 'bare', label: 'bare Fastify (ceiling)', server: 'bare', client: 'none', expectStatus: 200 },
  // The same server again, in its own process: how far two identical processes differ in one round (the resolution of
  // every "in every round" budget).
  { name: 'bare-again', label: 'bare Fastify again (a twin process: the spread)', server: 'bare', client: 'none', expectStatus: 200 },
  { name: 'cred-public', label: 'fastify-cred registered, the measured route public', server: 'cred-public', client: 'none', expectStatus: 200 },
  { name: 'hook', label: 'hand-written sync Basic hook (the practical limit)', server: 'hook', client: 'basic', expectStatus: 200 },
  { name: 'basic-auth', label: '@fastify/basic-auth', server: 'basic-auth', client: 'basic', expectStatus: 200 },
  { name: 'passport', label: '@fastify/passport + passport-http Basic', server: 'passport', client: 'basic', expectStatus: 200 },
  { name: 'cred-basic', label: 'fastify-cred Basic + in-memory', server: 'cred-basic', client: 'basic', expectStatus: 200 },
  // Login events with a subscriber on every channel (issue #26): the price of building and publishing them.
  { name: 'cred-basic-events-subscribed', label: 'fastify-cred Basic + in-memory, every login channel subscribed', server: 'cred-basic-events', client: 'basic', expectStatus: 200, pipelining: 1 },
  { name: 'cred-basic-logout', label: 'fastify-cred Basic + in-memory, realm with a logout', server: 'cred-basic-logout', client: 'basic', expectStatus: 200 },
  { name: 'cred-nohash', label: 'fastify-cred Basic, a checker that hashes nothing', server: 'cred-nohash', client: 'basic', expectStatus: 200 },
  { name: 'cred-digest-sha256', label: 'fastify-cred Digest SHA-256 + in-memory', server: 'cred-digest', client: 'digest', algorithm: 'SHA-256', expectStatus: 200, needsDigest: true },
  { name: 'cred-digest-md5', label: 'fastify-cred Digest MD5 + in-memory', server: 'cred-digest', client: 'digest', algorithm: 'MD5', expectStatus: 200, needsDigest: true },
  { name: 'passport-digest-md5', label: '@fastify/passport + passport-http Digest MD5 (nc tracked)', server: 'passport-digest', client: 'digest', algorithm: 'MD5', expectStatus: 200 },
  { name: 'cred-htpasswd-bcrypt', label: 'fastify-cred Basic + htpasswd bcrypt-10, uncached (4 conn.)', server: 'cred-htpasswd', client: 'basic', expectStatus: 200, connections: 4, pipelining: 1 },
  { name: 'cred-htpasswd-cached', label: 'fastify-cred Basic + htpasswd bcrypt-10 + CachingChecker', server: 'cred-htpasswd-cached', client: 'basic', expectStatus: 200 },
  // Scale-out (issue #27): each Digest request claims its nonce count in a Redis Cluster (one round trip); each Basic
  // login checks the shared throttle (one round trip: two scripts at once on a cluster, one on a single Redis).
  { name: 'cred-digest-sha256-redis-cluster', label: 'fastify-cred Digest SHA-256 + RedisNonceStore on a Redis Cluster', server: 'cred-digest-redis-cluster', client: 'digest', algorithm: 'SHA-256', expectStatus: 200, needsDigest: true, needsRedis: 'BENCH_REDIS_CLUSTER', pipelining: 1 },
  { name: 'cred-basic-redis-throttle', label: 'fastify-cred Basic + in-memory + RedisThrottle', server: 'cred-basic-redis-throttle', client: 'basic', expectStatus: 200, needsRedis: 'BENCH_REDIS_URL', pipelining: 1 },
  { name: 'cred-401', label: 'fastify-cred 401 (no credentials)', server: 'cred-basic', client: 'none', expectStatus: 401 },
  { name: 'basic-auth-401', label: '@fastify/basic-auth 401 (no credentials)', server: 'basic-auth', client: 'none', expectStatus: 401 }
]

/**
 * A budget: `contender` must reach `min` times the req/s of `reference` (median of per-round ratios), or in every
 * round with `everyRound`.
 */
export interface Budget {
  readonly contender: string
  readonly reference: string
  readonly min: number
  readonly everyRound?: boolean
}

/** From the issues; never asserted in unit tests (timing flakes), only reported here. */
export const BUDGETS: readonly Budget[] = [
  { contender: 'cred-basic', reference: 'basic-auth', min: 1.0 },
  { contender: 'cred-basic', reference: 'passport', min: 1.0, everyRound: true },
  { contender: 'cred-basic-logout', reference: 'basic-auth', min: 1.0 },
  { contender: 'cred-basic-logout', reference: 'cred-basic', min: 0.97 },
  { contender: 'cred-nohash', reference: 'hook', min: 0.97 },
  { contender: 'cred-public', reference: 'bare', min: 0.98, everyRound: true },
  { contender: 'cred-401', reference: 'bare', min: 0.95 },
  { contender: 'cred-digest-sha256', reference: 'cred-basic', min: 0.80 },
  { contender: 'cred-digest-md5', reference: 'passport-digest-md5', min: 1.0, everyRound: true },
  { contender: 'cred-htpasswd-cached', reference: 'cred-basic', min: 0.9 }
]

/** The references every contender's per-round ratio is computed against. */
export const REFERENCES: readonly string[] = ['bare', 'hook', 'basic-auth', 'cred-basic']

export function contenderByName (name: string): Contender {
  const contender = CONTENDERS.find((c) => c.name === name)
  if (contender === undefined) throw new Error(`unknown contender ${JSON.stringify(name)}; known: ${CONTENDERS.map((c) => c.name).join(', ')}`)
  return contender
}

export const basicAuthorization = (user: string = USER, password: string = PASSWORD): string => formatBasic(user, password)
