/**
 * The load generator: `node dist/bench/load.js '<json LoadJob>'`, run by run.ts in its own process (pinned to another
 * core than the server). Drives autocannon against one server and prints one JSON line (a LoadResult) on stdout.
 *
 * Digest is answered like a real client: each connection fetches its own nonce from a 401 challenge, then counts
 * `nc` up by one per request and computes the response hash here, so the server's replay protection stays on.
 */
import { request as httpRequest } from 'node:http'
import autocannon from 'autocannon'
import type { Request, Result } from 'autocannon'
import { PASSWORD, ROUTE, USER, basicAuthorization } from './contenders.js'
import type { ClientKind, DigestAlgorithm } from './contenders.js'
import { DigestSession, pickChallenge, rawHeaderValues, selfTest } from './digest-client.js'
import type { DigestChallenge } from './digest-client.js'

export type LoadMode =
  /** Measure for `duration` seconds. */
  | 'bench'
  /** `count` requests without credentials: each 401 carries a fresh nonce (memory experiment). */
  | 'challenges'
  /** `count` nonces, each fetched from a 401 and then used once (nc=1): what fills the nonce store. */
  | 'use-once'

export interface LoadJob {
  mode: LoadMode
  url: string
  client: ClientKind
  algorithm?: DigestAlgorithm
  expectStatus?: number
  duration?: number
  connections: number
  /** Requests in flight per connection (bench mode only; the memory modes alternate, so they use 1). */
  pipelining?: number
  /** How Digest requests are produced: `buffer` (default, cheap) or autocannon's public `setupRequest` (slower). */
  digestVia?: 'buffer' | 'setup-request'
  count?: number
}

export interface LoadResult {
  mode: LoadMode
  requests: number
  duration: number
  reqPerSec: number
  latency: { mean: number, p50: number, p90: number, p99: number, max: number }
  statusCodes: Record<string, number>
  errors: number
  timeouts: number
  /** Responses with another status than expected, plus errors and timeouts: must be 0 for a valid measurement. */
  unexpected: number
  /** CPU time of this process over the run, as a fraction of one core (near 1 means the load generator limits). */
  loadCpu: number
  /** Digest: nonces fetched again during the run (a 401 answered with a fresh challenge); must be 0. */
  renewedNonces?: number
  /** Digest: the 401s of each connection's first requests, sent without credentials to get a nonce (not measured). */
  handshakes?: number
  /** Memory modes: how many distinct nonces the server handed out (challenges) or accepted once (use-once). */
  distinctNonces?: number
}

const statusCounts = (result: Result): Record<string, number> =>
  Object.fromEntries(Object.entries(result.statusCodeStats).map(([code, { count }]) => [code, count]))

/** GET without credentials; the Digest challenge for `algorithm` from the 401. */
function fetchChallenge (url: string, algorithm: DigestAlgorithm): Promise<DigestChallenge> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: 'GET' }, (res) => {
      res.resume()
      res.on('end', () => {
        const challenge = pickChallenge(rawHeaderValues(res.rawHeaders, 'www-authenticate'), algorithm)
        if (res.statusCode !== 401 || challenge === undefined) {
          reject(new Error(`expected a 401 with a Digest ${algorithm} challenge from ${url}, got ${res.statusCode ?? '?'} with WWW-Authenticate ${JSON.stringify(rawHeaderValues(res.rawHeaders, 'www-authenticate'))}`))
        } else {
          resolve(challenge)
        }
      })
    })
    req.on('error', reject)
    req.end()
  })
}

const sessionFor = (challenge: DigestChallenge, algorithm: DigestAlgorithm): DigestSession =>
  new DigestSession(challenge, { username: USER, password: PASSWORD, method: 'GET', uri: ROUTE, algorithm })

/** The values of one response header from autocannon's header object (names as the server sent them). */
function headerValues (headers: Record<string, string | string[]>, name: string): string[] {
  const values: string[] = []
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() === name) values.push(...(Array.isArray(value) ? value : [value]))
  }
  return values
}

/** Per connection: autocannon deep-copies each connection's options, so every connection gets its own. */
interface ConnectionState {
  session: DigestSession | undefined
  /** Responses seen on this connection. */
  responses: number
  /** The connection's request without credentials, up to its headers' end. */
  prefix: string | undefined
  /** use-once: the session to answer with on the next request, and what the last request was. */
  pending: DigestSession | undefined
  awaiting: 'challenge' | 'use'
}
const newState = (): ConnectionState => ({ session: undefined, responses: 0, prefix: undefined, pending: undefined, awaiting: 'challenge' })
const stateOf = (holder: Readonly<Record<string, unknown>>): ConnectionState => holder['state'] as ConnectionState

/**
 * Digest through autocannon's public `setupRequest`: each request goes through its generic request builder, which
 * costs the load generator about as much as a whole request costs the server here. Kept to cross-check the fast path.
 * Each connection starts with a nonce fetched before the clock starts.
 */
async function digestViaSetupRequest (job: LoadJob, algorithm: DigestAlgorithm, states: Set<ConnectionState>, renewed: () => void): Promise<Request[]> {
  const challenges = await Promise.all(Array.from({ length: job.connections }, async () => await fetchChallenge(job.url, algorithm)))
  let next = 0
  return [{
    method: 'GET',
    path: ROUTE,
    state: newState(),
    setupRequest (request) {
      const state = stateOf(request)
      if (state.session === undefined) {
        const challenge = challenges[next++ % challenges.length]
        if (challenge === undefined) throw new Error('no challenge')
        state.session = sessionFor(challenge, algorithm)
        states.add(state)
      }
      // nc one higher than on this connection's previous request, hash computed here, per request.
      return { ...request, headers: { ...request.headers, authorization: state.session.next() } }
    },
    onResponse (status, _body, _context, responseHeaders) {
      if (status !== 401) return
      // A refused request (stale or evicted nonce): answer the new challenge, as a browser would. Counted.
      const challenge = pickChallenge(headerValues(responseHeaders, 'www-authenticate'), algorithm)
      if (challenge !== undefined) { stateOf(this).session = sessionFor(challenge, algorithm); renewed() }
    }
  }]
}

/**
 * Digest at the cost of a static request: like a browser, each connection first asks without credentials (its
 * first `pipelining` requests, answered 401 with a fresh nonce: the handshake, counted apart), then answers that
 * challenge with `nc` one higher per request. Each response writes the next request's bytes into the buffer
 * autocannon sends next (`onResponse` runs with `this` = this connection's request object, just before the next
 * write), skipping autocannon's generic per-request builder. Should autocannon stop sending that buffer, every
 * request would go out without credentials, get 401 and make the run invalid: it cannot go wrong silently.
 */
function digestViaBuffer (job: LoadJob, algorithm: DigestAlgorithm, pipelining: number, states: Set<ConnectionState>, count: { renewed: () => void, handshake: () => void }): Request[] {
  return [{
    method: 'GET',
    path: ROUTE,
    state: newState(),
    onResponse (status, _body, _context, responseHeaders) {
      const state = stateOf(this)
      const handshake = state.responses++ < pipelining
      if (handshake) states.add(state)
      const buffer = this['requestBuffer']
      if (!Buffer.isBuffer(buffer)) throw new Error('autocannon request objects no longer carry requestBuffer; use --digest-via setup-request')
      if (state.prefix === undefined) {
        // The request autocannon built, without its final empty line: the same bytes as the other contenders send.
        state.prefix = buffer.toString('latin1').slice(0, -2)
      }
      if (status === 401) {
        const challenge = pickChallenge(headerValues(responseHeaders, 'www-authenticate'), algorithm)
        if (challenge !== undefined) {
          if (handshake) count.handshake()
          else count.renewed()
          // Pipelined handshakes bring several nonces; keep answering the first one.
          if (state.session === undefined || !handshake) state.session = sessionFor(challenge, algorithm)
        }
      }
      if (state.session !== undefined) {
        this['requestBuffer'] = Buffer.from(`${state.prefix}authorization: ${state.session.next()}\r\n\r\n`, 'latin1')
      }
    }
  }]
}

async function run (job: LoadJob): Promise<LoadResult> {
  const algorithm = job.algorithm ?? 'SHA-256'
  const pipelining = job.mode === 'bench' ? job.pipelining ?? 1 : 1
  let headers: Record<string, string> | undefined
  let requests: Request[] | undefined
  let renewedNonces = 0
  let handshakes = 0
  let distinct: Set<string> | undefined
  let expectedMismatches = 0
  /** Each connection's state object, to check that autocannon really gave each its own. */
  const states = new Set<ConnectionState>()

  if (job.mode === 'bench') {
    if (job.client === 'basic') headers = { authorization: basicAuthorization() }
    if (job.client === 'digest') {
      selfTest()
      requests = job.digestVia === 'setup-request'
        ? await digestViaSetupRequest(job, algorithm, states, () => { renewedNonces++ })
        : digestViaBuffer(job, algorithm, pipelining, states, {
          renewed: () => { renewedNonces++ },
          handshake: () => { handshakes++ }
        })
    }
  } else if (job.mode === 'challenges') {
    const seen = distinct = new Set()
    requests = [{
      method: 'GET',
      path: ROUTE,
      onResponse (status, _body, _context, responseHeaders) {
        const challenge = pickChallenge(headerValues(responseHeaders, 'www-authenticate'), algorithm)
        if (status !== 401 || challenge === undefined) expectedMismatches++
        else seen.add(challenge.nonce)
      }
    }]
  } else {
    // Alternate per connection: a request without credentials (401, fresh nonce), then that nonce once (nc=1, 200).
    const used = distinct = new Set()
    requests = [{
      method: 'GET',
      path: ROUTE,
      state: newState(),
      setupRequest (request) {
        const state = stateOf(request)
        states.add(state)
        const pending = state.pending
        state.pending = undefined
        if (pending === undefined) {
          state.awaiting = 'challenge'
          return request
        }
        state.awaiting = 'use'
        used.add(pending.challenge.nonce)
        return { ...request, headers: { ...request.headers, authorization: pending.next() } }
      },
      onResponse (status, _body, _context, responseHeaders) {
        const state = stateOf(this)
        if (state.awaiting === 'challenge') {
          const challenge = pickChallenge(headerValues(responseHeaders, 'www-authenticate'), algorithm)
          if (status !== 401 || challenge === undefined) expectedMismatches++
          else state.pending = sessionFor(challenge, algorithm)
        } else if (status !== 200) {
          expectedMismatches++
        }
      }
    }]
  }

  const cpuBefore = process.cpuUsage()
  const started = process.hrtime.bigint()
  const result = await autocannon({
    url: job.url,
    connections: job.connections,
    pipelining,
    timeout: 10,
    ...(job.mode === 'bench' ? { duration: job.duration ?? 10 } : { amount: job.count ?? 1000 }),
    ...(headers === undefined ? {} : { headers }),
    ...(requests === undefined ? {} : { requests })
  })
  // Shared state would mean nonces shared between connections, which the server may rightly refuse.
  if (requests?.[0]?.state !== undefined && states.size !== job.connections) {
    throw new Error(`autocannon gave ${states.size} state objects to ${job.connections} connections; per-connection Digest state is broken (autocannon version?)`)
  }
  const wallMicros = Number(process.hrtime.bigint() - started) / 1000
  const cpu = process.cpuUsage(cpuBefore)

  const statusCodes = statusCounts(result)
  const total = Object.values(statusCodes).reduce((a, b) => a + b, 0)
  const expected = job.mode === 'bench' ? (statusCodes[String(job.expectStatus ?? 200)] ?? 0) + handshakes : total - expectedMismatches
  const measured = total - handshakes
  return {
    mode: job.mode,
    requests: measured,
    duration: result.duration,
    reqPerSec: result.duration > 0 ? measured / result.duration : 0,
    latency: { mean: result.latency.mean, p50: result.latency.p50, p90: result.latency.p90, p99: result.latency.p99, max: result.latency.max },
    statusCodes,
    errors: result.errors,
    timeouts: result.timeouts,
    unexpected: total - expected + result.errors + result.timeouts,
    loadCpu: (cpu.user + cpu.system) / wallMicros,
    ...(job.client === 'digest' && job.mode === 'bench' ? { renewedNonces, handshakes } : {}),
    ...(distinct === undefined ? {} : { distinctNonces: distinct.size })
  }
}

const arg = process.argv[2]
if (arg === undefined) {
  process.stderr.write('usage: node dist/bench/load.js \'{"mode":"bench","url":"http://127.0.0.1:3000/","client":"none","connections":50,"duration":10}\'\n')
  process.exit(2)
}
run(JSON.parse(arg) as LoadJob).then((result) => {
  process.stdout.write(JSON.stringify(result) + '\n')
}, (err: unknown) => {
  process.stderr.write(`load generator: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`)
  process.exit(1)
})
