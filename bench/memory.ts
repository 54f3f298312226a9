/**
 * Memory of a fastify-cred Digest server under a flood of nonces: RSS and heap (after a full GC) after `count`
 * distinct challenges (each 401 mints a fresh nonce, which should cost nothing: nonces are stateless), then after
 * each of `useStages` stages of `count` nonces used once (what actually creates nonce-store entries). Once the store
 * is at its capacity (100,000 by default) the heap must level off. Run by run.ts; standalone:
 * `node dist/bench/memory.js [--count 100000] [--stages 3] [--bound-mb 128] [--no-pin]`.
 */
import { pathToFileURL } from 'node:url'
import { detectPinning, runLoad, startServer } from './processes.js'
import type { Pinning } from './processes.js'
import type { ServerStats } from './server.js'
import { MemoryNonceStore } from '../lib/http/index.js'

/** The server measured: Digest with the plugin's defaults (bounded in-memory nonce store). */
export const MEMORY_CONTENDER = 'cred-digest-sha256'

/** The default store's capacity, read from the library itself. */
function defaultStoreCapacity (): number {
  const store = new MemoryNonceStore({ sweepInterval: 0 })
  const capacity = store.maxEntries
  void store.close()
  return capacity
}

export interface MemoryStage {
  readonly stage: string
  /** After a full GC. */
  readonly rssMB: number
  readonly heapUsedMB: number
  readonly heapTotalMB: number
  readonly requests: number
  readonly distinctNonces: number
  /** Responses other than expected (a 401 for a challenge, a 200 for the use of a nonce). Must be 0. */
  readonly unexpected: number
}

export interface MemoryReport {
  readonly contender: string
  readonly count: number
  readonly connections: number
  readonly stages: MemoryStage[]
  /** The default MemoryNonceStore's capacity (nonces): what bounds the memory. */
  readonly storeCapacity: number
  /** Heap growth of the first use-once stage per nonce stored (up to the capacity), in bytes. */
  readonly heapBytesPerNonce: number
  /**
   * Heap growth after the store was full (last stage against the first use-once stage), in MB; `null` when the
   * stages never filled the store (count below its capacity, as in --quick), so no plateau can be seen.
   */
  readonly heapGrowthAfterFullMB: number | null
  /** True when the heap levelled off once the store was full (grew < 10% of the filling + 2 MB); null as above. */
  readonly plateau: boolean | null
  /** Allowed RSS growth over the baseline, peak over all stages. */
  readonly boundMB: number
  readonly growthMB: number
  readonly withinBound: boolean
}

export interface MemoryOptions {
  readonly count: number
  readonly connections: number
  readonly boundMB: number
  /** How many times `count` nonces are used once (default 3: fill the store, then twice past its bound). */
  readonly useStages: number
  readonly pinning: Pinning
  readonly log?: (line: string) => void
}

const mb = (bytes: number): number => Math.round(bytes / 1024 / 1024 * 10) / 10

export async function measureMemory (options: MemoryOptions): Promise<MemoryReport> {
  const log = options.log ?? (() => {})
  const server = await startServer(MEMORY_CONTENDER, { pinning: options.pinning, exposeGc: true })
  try {
    const stages: MemoryStage[] = []
    const record = (stage: string, stats: ServerStats, requests: number, distinctNonces: number, unexpected: number): void => {
      const entry = { stage, rssMB: mb(stats.rss), heapUsedMB: mb(stats.heapUsed), heapTotalMB: mb(stats.heapTotal), requests, distinctNonces, unexpected }
      stages.push(entry)
      log(`  memory: ${stage.padEnd(34)} RSS ${entry.rssMB.toFixed(1).padStart(7)} MB  heap ${entry.heapUsedMB.toFixed(1).padStart(6)}/${entry.heapTotalMB.toFixed(1).padStart(6)} MB  (${requests} requests, ${distinctNonces} distinct nonces, ${unexpected} unexpected)`)
    }
    const job = { url: server.url, client: 'digest' as const, algorithm: 'SHA-256' as const, connections: options.connections }
    // Warm up (JIT, pools) so that the baseline is not the cold start.
    const warm = await runLoad({ ...job, mode: 'use-once', count: Math.min(2000, options.count) }, options.pinning)
    record('baseline (after 1k warm-up nonces)', await server.stats(true), warm.requests, warm.distinctNonces ?? 0, warm.unexpected)

    const challenges = await runLoad({ ...job, mode: 'challenges', count: options.count }, options.pinning)
    record(`${options.count} challenges (fresh 401 nonces)`, await server.stats(true), challenges.requests, challenges.distinctNonces ?? 0, challenges.unexpected)

    // The first stage fills the store (its default bound is 100,000 nonces); the next ones must not grow it further.
    for (let i = 1; i <= options.useStages; i++) {
      const used = await runLoad({ ...job, mode: 'use-once', count: options.count * 2 }, options.pinning)
      record(`${options.count * i} nonces used once`, await server.stats(true), used.requests, used.distinctNonces ?? 0, used.unexpected)
    }

    const baseline = stages[0]?.rssMB ?? 0
    const peak = Math.max(...stages.map((s) => s.rssMB))
    const growthMB = Math.round((peak - baseline) * 10) / 10
    const capacity = defaultStoreCapacity()
    const beforeUse = stages[1]?.heapUsedMB ?? 0
    const firstUse = stages[2]?.heapUsedMB ?? beforeUse
    const last = stages[stages.length - 1]?.heapUsedMB ?? firstUse
    const filled = options.count >= capacity && options.useStages >= 2
    const heapGrowthAfterFullMB = filled ? Math.round((last - firstUse) * 10) / 10 : null
    const plateau = heapGrowthAfterFullMB === null ? null : heapGrowthAfterFullMB <= 0.1 * (firstUse - beforeUse) + 2
    return {
      contender: MEMORY_CONTENDER,
      count: options.count,
      connections: options.connections,
      stages,
      storeCapacity: capacity,
      heapBytesPerNonce: Math.round((firstUse - beforeUse) * 1024 * 1024 / Math.min(options.count, capacity)),
      heapGrowthAfterFullMB,
      plateau,
      boundMB: options.boundMB,
      growthMB,
      withinBound: growthMB <= options.boundMB && plateau !== false
    }
  } finally {
    await server.stop()
  }
}

export function formatMemoryReport (report: MemoryReport): string {
  const verdict = report.withinBound ? 'within bound' : 'OVER BOUND'
  const plateau = report.plateau === null
    ? `the store (capacity ${report.storeCapacity}) never filled with ${report.count} nonces per stage, so no plateau to check`
    : `heap ${report.plateau ? 'levelled off' : 'KEPT GROWING'} once the store was full (+${report.heapGrowthAfterFullMB ?? 0} MB over the later stages)`
  return `Memory (${report.contender}): RSS peak ${report.growthMB} MB over the baseline (bound ${report.boundMB} MB); ` +
    `~${report.heapBytesPerNonce} B of heap per stored nonce; ${plateau}: ${verdict}`
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const argv = process.argv.slice(2)
  const value = (flag: string, fallback: number): number => {
    const at = argv.indexOf(flag)
    return at >= 0 ? Number(argv[at + 1]) : fallback
  }
  measureMemory({
    count: value('--count', 100_000),
    connections: value('--connections', 50),
    boundMB: value('--bound-mb', 128),
    useStages: value('--stages', 3),
    pinning: detectPinning(!argv.includes('--no-pin')),
    log: (line) => process.stdout.write(line + '\n')
  }).then((report) => {
    process.stdout.write(formatMemoryReport(report) + '\n')
    process.exitCode = report.withinBound && report.stages.every((s) => s.unexpected === 0) ? 0 : 1
  }, (err: unknown) => {
    process.stderr.write(`memory: ${err instanceof Error ? err.message : String(err)}\n`)
    process.exit(1)
  })
}
