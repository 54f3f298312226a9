/**
 * `npm run bench`: throughput and p99 latency of fastify-cred against bare Fastify and its peers, interleaved in
 * rounds (A B C … A B C …) so that drift of the machine hits every contender alike, then the memory of a Digest
 * server under a flood of nonces. Prints a table and writes bench/results/latest.json.
 *
 *   npm run bench                         full run (5 rounds of 10 s, 50 connections)
 *   npm run bench -- --quick              2 rounds of 2 s, small memory run (for development; noisy)
 *   npm run bench -- --only bare,cred-basic --rounds 7 --duration 15 --connections 100
 *   npm run bench -- --profile cred-digest-sha256   that server runs under --cpu-prof (bench/profiles/)
 */
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { request as httpRequest } from 'node:http'
import { availableParallelism, cpus, loadavg, platform, release, totalmem } from 'node:os'
import { join, relative } from 'node:path'
import { BODY, BUDGETS, CONTENDERS, PASSWORD, REFERENCES, ROUTE, USER, basicAuthorization } from './contenders.js'
import type { Contender } from './contenders.js'
import { DigestSession, pickChallenge, rawHeaderValues, selfTest } from './digest-client.js'
import type { LoadResult } from './load.js'
import { formatEventLoopReport, measureEventLoop } from './event-loop.js'
import type { EventLoopReport } from './event-loop.js'
import { formatMemoryReport, measureMemory } from './memory.js'
import type { MemoryReport } from './memory.js'
import { ROOT, detectPinning, runLoad, startServer } from './processes.js'
import type { Pinning, ServerHandle } from './processes.js'
import { formatProfileSummary, summarizeProfile } from './profile.js'
import type { ProfileSummary } from './profile.js'
import { median } from './stats.js'

interface Options {
  rounds: number
  duration: number
  warmup: number
  connections: number
  /** One table per value, the first the headline. */
  pipelining: number[]
  digestVia: 'buffer' | 'setup-request'
  only: string[] | undefined
  profile: string[]
  quick: boolean
  memory: boolean
  memoryCount: number
  memoryBoundMB: number
  eventLoop: boolean
  eventLoopConnections: number
  pin: boolean
  freshServers: boolean
  out: string | undefined
}

const USAGE = `usage: npm run bench -- [options]
  --rounds N          rounds of interleaved runs (default 5)
  --duration S        seconds per run (default 10)
  --warmup S          seconds of warm-up per contender before the rounds (default 3)
  --connections N     concurrent connections (default 50)
  --pipelining N,…    requests in flight per connection, one table per value (default 1,10: the headline without
                      pipelining, as browsers, curl, undici's pool and python clients send; then pipelining 10, where
                      the load generator is cheaper per request)
  --digest-via M      how the load generator writes Digest requests: buffer (default, cheap) or
                      setup-request (autocannon's public per-request builder; slower, for cross-checks)
  --only a,b,…        only these contenders (${CONTENDERS.map((c) => c.name).join(', ')})
  --profile a,b,…     start these servers with --cpu-prof into bench/profiles/ and summarize self time
  --quick             2 rounds of 2 s, 1 s warm-up, memory with 10k nonces (development only: noisy)
  --memory-count N    nonces per memory stage (default 100000), --no-memory to skip
  --memory-bound-mb M allowed RSS growth of the Digest server (default 128)
  --no-event-loop     skip the event-loop experiment (public route's p99 while bcrypt logins hash)
  --event-loop-connections N  bcrypt logins in flight during it (default 8)
  --no-pin            do not pin server and load generator to separate cores with taskset
  --same-servers      keep one server process per contender for all rounds (default: a fresh process per
                      contender per round, warmed up again, since one process can stay 10-20 % off for its
                      whole life; profiles always keep one process)
  --out FILE          where to write the JSON (default bench/results/latest.json for a full run,
                      bench/results/partial.json with --quick, --only or --profile)`

function parseOptions (argv: string[]): Options {
  const options: Options = {
    rounds: 5, duration: 10, warmup: 3, connections: 50, pipelining: [1, 10], digestVia: 'buffer', only: undefined, profile: [], quick: false,
    memory: true, memoryCount: 100_000, memoryBoundMB: 128, eventLoop: true, eventLoopConnections: 8, pin: true, freshServers: true, out: undefined
  }
  const explicit = new Set<string>()
  const number = (flag: string, value: string | undefined, min: number): number => {
    const n = Number(value)
    if (value === undefined || !Number.isFinite(n) || n < min) throw new Error(`${flag} needs a number ≥ ${min}`)
    return n
  }
  const names = (flag: string, value: string | undefined): string[] => {
    if (value === undefined || value === '') throw new Error(`${flag} needs contender names`)
    const list = value.split(',').map((s) => s.trim()).filter((s) => s !== '')
    for (const name of list) {
      if (!CONTENDERS.some((c) => c.name === name)) throw new Error(`${flag}: unknown contender ${JSON.stringify(name)}; known: ${CONTENDERS.map((c) => c.name).join(', ')}`)
    }
    return list
  }
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i] ?? ''
    const [name, inline] = flag.includes('=') ? [flag.slice(0, flag.indexOf('=')), flag.slice(flag.indexOf('=') + 1)] : [flag, undefined]
    const value = (): string | undefined => inline ?? argv[++i]
    explicit.add(name)
    switch (name) {
      case '--rounds': options.rounds = Math.floor(number(name, value(), 1)); break
      case '--duration': options.duration = number(name, value(), 1); break
      case '--warmup': options.warmup = number(name, value(), 0); break
      case '--connections': options.connections = Math.floor(number(name, value(), 1)); break
      case '--pipelining': options.pipelining = (value() ?? '').split(',').map((v) => Math.floor(number(name, v, 1))); break
      case '--digest-via': {
        const via = value()
        if (via !== 'buffer' && via !== 'setup-request') throw new Error('--digest-via takes buffer or setup-request')
        options.digestVia = via
        break
      }
      case '--only': options.only = names(name, value()); break
      case '--profile': options.profile = names(name, value()); break
      case '--quick': options.quick = true; break
      case '--memory-count': options.memoryCount = Math.floor(number(name, value(), 1000)); break
      case '--memory-bound-mb': options.memoryBoundMB = number(name, value(), 1); break
      case '--no-memory': options.memory = false; break
      case '--no-event-loop': options.eventLoop = false; break
      case '--event-loop-connections': options.eventLoopConnections = Math.floor(number(name, value(), 1)); break
      case '--no-pin': options.pin = false; break
      case '--same-servers': options.freshServers = false; break
      case '--out': options.out = value(); break
      case '--help': case '-h': process.stdout.write(USAGE + '\n'); process.exit(0); break
      default: throw new Error(`unknown option ${flag}\n${USAGE}`)
    }
  }
  if (options.quick) {
    if (!explicit.has('--rounds')) options.rounds = 2
    if (!explicit.has('--duration')) options.duration = 2
    if (!explicit.has('--warmup')) options.warmup = 1
    if (!explicit.has('--memory-count')) options.memoryCount = 10_000
  }
  return options
}

const log = (line: string): void => { process.stdout.write(line + '\n') }
const round = (n: number, digits: number): number => Number.isFinite(n) ? Math.round(n * 10 ** digits) / 10 ** digits : n

interface RunRecord {
  round: number
  reqPerSec: number
  p99: number
  p50: number
  unexpected: number
  statusCodes: Record<string, number>
  /** Server CPU time over the run, as a fraction of one core. */
  serverCpu: number
  loadCpu: number
  renewedNonces?: number
}

/** One real request per contender before measuring: the right status (and body), or we stop with the reason. */
async function preflight (contender: Contender, url: string): Promise<void> {
  const get = (headers: Record<string, string>): Promise<{ status: number, body: string, raw: string[] }> => new Promise((resolve, reject) => {
    const req = httpRequest(url, { headers }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => { body += chunk })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, raw: res.rawHeaders }))
    })
    req.on('error', reject)
    req.end()
  })
  let answer
  if (contender.client === 'digest') {
    const algorithm = contender.algorithm ?? 'SHA-256'
    const challengeResponse = await get({})
    const challenge = pickChallenge(rawHeaderValues(challengeResponse.raw, 'www-authenticate'), algorithm)
    if (challenge === undefined) throw new Error(`no Digest ${algorithm} challenge in ${JSON.stringify(rawHeaderValues(challengeResponse.raw, 'www-authenticate'))} (status ${challengeResponse.status})`)
    const session = new DigestSession(challenge, { username: USER, password: PASSWORD, method: 'GET', uri: ROUTE, algorithm })
    answer = await get({ authorization: session.next() })
    if (answer.status === 200) {
      const again = await get({ authorization: session.next() })
      if (again.status !== 200) throw new Error(`nc=00000002 on the same nonce answered ${again.status}, expected 200`)
    }
  } else {
    answer = await get(contender.client === 'basic' ? { authorization: basicAuthorization() } : {})
  }
  if (answer.status !== contender.expectStatus) throw new Error(`answered ${answer.status}, expected ${contender.expectStatus}: ${answer.body.slice(0, 200)}`)
  if (answer.status === 200 && answer.body !== JSON.stringify(BODY)) throw new Error(`unexpected body ${answer.body.slice(0, 200)}`)
}

async function main (): Promise<number> {
  const options = parseOptions(process.argv.slice(2))
  selfTest()
  const pinning: Pinning = detectPinning(options.pin)
  const selected = CONTENDERS.filter((c) => options.only === undefined || options.only.includes(c.name) || options.profile.includes(c.name))
  const profileDir = join(ROOT, 'bench', 'profiles')
  if (options.profile.length > 0) mkdirSync(profileDir, { recursive: true })
  const partial = options.quick || options.only !== undefined || options.profile.length > 0
  const outFile = options.out ?? join(ROOT, 'bench', 'results', partial ? 'partial.json' : 'latest.json')

  const cpuList = cpus()
  const machine = {
    cpuModel: cpuList[0]?.model ?? 'unknown',
    cores: availableParallelism(),
    memoryGB: round(totalmem() / 1024 ** 3, 1),
    platform: `${platform()} ${release()}`,
    node: process.version,
    fastify: packageVersion('fastify'),
    autocannon: packageVersion('autocannon'),
    loadAverageAtStart: loadavg().map((n) => round(n, 2)),
    pinning: pinning.enabled ? `taskset: server on CPU ${pinning.serverCpu}, load generator on CPU ${pinning.loadCpu}` : `none (${pinning.reason ?? ''})`
  }
  const date = new Date().toISOString()
  log(`fastify-cred benchmark  ${date}`)
  log(`${machine.cpuModel}, ${machine.cores} cores, Node ${machine.node}, Fastify ${machine.fastify}; pinning: ${machine.pinning}`)
  log(`${options.rounds} rounds × ${options.duration} s, ${options.connections} connections × pipelining ${options.pipelining.join(' then ')}, ${options.warmup} s warm-up per contender${options.quick ? '  (--quick: for development only, noisy)' : ''}`)
  if (!options.quick && options.rounds < 5) log('note: fewer than 5 rounds; the issue asks for at least 5 for published numbers')

  const servers = new Map<string, ServerHandle>()
  const skipped: Array<{ contender: string, reason: string }> = []
  const active: Contender[] = []
  let exitCode = 0
  try {
    for (const contender of selected) {
      const profiled = options.profile.includes(contender.name)
      try {
        const server = await startServer(contender.name, { pinning, ...(profiled ? { profileDir } : {}) })
        servers.set(contender.name, server)
        await preflight(contender, server.url)
        active.push(contender)
      } catch (err) {
        const reason = err instanceof Error ? err.message : String(err)
        await servers.get(contender.name)?.stop()
        servers.delete(contender.name)
        // Digest may not be in the plugin yet, a Redis contender may have no Redis named; everything else must work.
        if (contender.needsDigest !== true && contender.needsRedis === undefined) throw new Error(`${contender.name}: ${reason}`)
        skipped.push({ contender: contender.name, reason })
        log(`skipping ${contender.name}: ${reason}`)
      }
    }

    const runOne = async (contender: Contender, duration: number, pipelining: number): Promise<{ result: LoadResult, serverCpu: number }> => {
      const server = servers.get(contender.name)
      if (server === undefined) throw new Error(`no server for ${contender.name}`)
      await isolate(server)
      const before = await server.stats()
      const started = process.hrtime.bigint()
      const result = await runLoad({
        mode: 'bench', url: server.url, client: contender.client, expectStatus: contender.expectStatus,
        duration, connections: contender.connections ?? options.connections, pipelining: contender.pipelining ?? pipelining, digestVia: options.digestVia, ...(contender.algorithm === undefined ? {} : { algorithm: contender.algorithm })
      }, pinning)
      const wallMicros = Number(process.hrtime.bigint() - started) / 1000
      const after = await server.stats()
      return { result, serverCpu: (after.cpuMicros - before.cpuMicros) / wallMicros }
    }

    if (options.warmup > 0) {
      log(`warm-up: ${active.map((c) => c.name).join(', ')}`)
      for (const contender of active) {
        const { result } = await runOne(contender, options.warmup, options.pipelining[0] ?? 1)
        if (result.unexpected > 0) log(`  warm-up of ${contender.name}: ${result.unexpected} unexpected responses ${JSON.stringify(result.statusCodes)}`)
      }
    }

    /** A new server process for `contender`, warmed up: a process's own bias then varies from round to round. */
    const restart = async (contender: Contender, pipelining: number): Promise<void> => {
      const old = servers.get(contender.name)
      if (old !== undefined) { signal(old, 'SIGCONT'); await old.stop() }
      const server = await startServer(contender.name, { pinning })
      servers.set(contender.name, server)
      await preflight(contender, server.url)
      if (options.warmup > 0) await runOne(contender, options.warmup, pipelining)
    }

    /** The rounds at one pipelining depth: every contender in every round, then the medians, ratios and budgets. */
    const measureView = async (pipelining: number, view: number) => {
      const runs = new Map<string, RunRecord[]>(active.map((c) => [c.name, []]))
      for (let r = 1; r <= options.rounds; r++) {
        for (const contender of active) {
          if ((r > 1 || view > 0) && options.freshServers && !options.profile.includes(contender.name)) await restart(contender, pipelining)
          const { result, serverCpu } = await runOne(contender, options.duration, pipelining)
          const record: RunRecord = {
            round: r,
            reqPerSec: round(result.reqPerSec, 0),
            p99: result.latency.p99,
            p50: result.latency.p50,
            unexpected: result.unexpected,
            statusCodes: result.statusCodes,
            serverCpu: round(serverCpu, 2),
            loadCpu: round(result.loadCpu, 2),
            ...(result.renewedNonces === undefined ? {} : { renewedNonces: result.renewedNonces })
          }
          runs.get(contender.name)?.push(record)
          log(`p${pipelining} round ${r}/${options.rounds}  ${contender.name.padEnd(20)} ${String(record.reqPerSec).padStart(8)} req/s  p99 ${String(record.p99).padStart(4)} ms  ` +
            `cpu server ${record.serverCpu.toFixed(2)} load ${record.loadCpu.toFixed(2)}` + (record.unexpected > 0 ? `  UNEXPECTED ${record.unexpected} ${JSON.stringify(record.statusCodes)}` : ''))
        }
      }

      // Per-round ratios: a contender against a reference measured minutes apart would carry the machine's drift.
      const ratioFor = (name: string, reference: string): number => {
        const mine = runs.get(name)
        const theirs = runs.get(reference)
        if (mine === undefined || theirs === undefined) return Number.NaN
        const ratios = mine.flatMap((run) => {
          const other = theirs.find((t) => t.round === run.round)
          return other === undefined || other.reqPerSec === 0 ? [] : [run.reqPerSec / other.reqPerSec]
        })
        return median(ratios)
      }
      const roundRatios = (name: string, reference: string): number[] => {
        const theirs = runs.get(reference) ?? []
        return (runs.get(name) ?? []).flatMap((run) => {
          const other = theirs.find((t) => t.round === run.round)
          return other === undefined || other.reqPerSec === 0 ? [] : [run.reqPerSec / other.reqPerSec]
        })
      }
      const results = active.map((contender) => {
        const list = runs.get(contender.name) ?? []
        const ratios = Object.fromEntries(REFERENCES.filter((ref) => runs.has(ref)).map((ref) => [ref, round(ratioFor(contender.name, ref), 3)]))
        const slowest = list.reduce<RunRecord | undefined>((min, run) => min === undefined || run.reqPerSec < min.reqPerSec ? run : min, undefined)
        return {
          name: contender.name,
          label: contender.label,
          expectStatus: contender.expectStatus,
          profiled: options.profile.includes(contender.name),
          medianReqPerSec: round(median(list.map((r) => r.reqPerSec)), 0),
          medianP99Ms: median(list.map((r) => r.p99)),
          ratios,
          // Each round is a fresh process: the slowest one, and its ratio to the same round's reference.
          slowestReqPerSec: slowest?.reqPerSec ?? Number.NaN,
          worstRatios: Object.fromEntries(REFERENCES.filter((ref) => runs.has(ref)).map((ref) => [ref, round(Math.min(...roundRatios(contender.name, ref)), 3)])),
          unexpected: list.reduce((sum, r) => sum + r.unexpected, 0),
          medianServerCpu: round(median(list.map((r) => r.serverCpu)), 2),
          medianLoadCpu: round(median(list.map((r) => r.loadCpu)), 2),
          rounds: list
        }
      })
      const budgets = BUDGETS.map((budget) => {
        const measured = round(ratioFor(budget.contender, budget.reference), 3)
        const worst = round(Math.min(...roundRatios(budget.contender, budget.reference)), 3)
        const met = !Number.isFinite(measured) ? null : budget.everyRound === true ? worst >= budget.min : measured >= budget.min
        return { ...budget, measured: Number.isFinite(measured) ? measured : null, worstRound: Number.isFinite(worst) ? worst : null, met }
      })
      return { pipelining, results, budgets }
    }
    const views = []
    for (const [view, pipelining] of options.pipelining.entries()) views.push(await measureView(pipelining, view))
    const headline = views[0]
    if (headline === undefined) throw new Error('--pipelining needs at least one value')
    const { results, budgets } = headline

    let memory: MemoryReport | { skipped: string } | undefined
    if (options.memory) {
      if (skipped.some((s) => s.contender === 'cred-digest-sha256')) {
        memory = { skipped: 'Digest is not available in the plugin' }
      } else {
        log(`memory: ${options.memoryCount} challenges, then 3 stages of ${options.memoryCount} nonces used once (fresh Digest server)`)
        try {
          memory = await measureMemory({ count: options.memoryCount, connections: options.connections, boundMB: options.memoryBoundMB, useStages: 3, pinning, log })
        } catch (err) {
          memory = { skipped: err instanceof Error ? err.message : String(err) }
          log(`memory experiment failed: ${memory.skipped}`)
        }
      }
    }

    // With --only, only when the bcrypt contender is among those asked for.
    let eventLoop: EventLoopReport | { skipped: string } | undefined
    if (options.eventLoop && (options.only === undefined || options.only.includes('cred-htpasswd-bcrypt'))) {
      log(`event loop: probing ${options.duration} s idle, then ${options.duration} s under ${options.eventLoopConnections} connections of bcrypt logins`)
      for (const server of servers.values()) signal(server, 'SIGSTOP')
      try {
        eventLoop = await measureEventLoop({ duration: options.duration, connections: options.eventLoopConnections, pinning, log })
      } catch (err) {
        eventLoop = { skipped: err instanceof Error ? err.message : String(err) }
        log(`event-loop experiment failed: ${eventLoop.skipped}`)
      }
    }

    // Stop the servers before reading profiles: --cpu-prof writes at exit. A frozen server cannot exit: thaw first.
    for (const server of servers.values()) signal(server, 'SIGCONT')
    for (const server of servers.values()) await server.stop()
    servers.clear()
    const profiles: Record<string, ProfileSummary> = {}
    for (const name of options.profile) {
      const file = newestProfile(profileDir, name)
      if (file === undefined) { log(`no profile written for ${name}`); continue }
      profiles[name] = summarizeProfile(file, 15, ROOT)
    }

    // The table.
    for (const view of views) {
      log('')
      log(table(view.results.map((r) => ({ ...r, unexpectedCount: r.unexpected })), options, view.pipelining))
      log('')
      log(`Budgets at pipelining ${view.pipelining} (median of per-round req/s ratios; each round a fresh process):`)
      for (const b of view.budgets) {
        const verdict = b.met === null ? 'not measured' : b.met ? 'met' : 'MISSED'
        log(`  ${b.contender} / ${b.reference} ≥ ${b.min}${b.everyRound === true ? ' in every round' : ''}: ${b.measured ?? '—'} (worst round ${b.worstRound ?? '—'})  ${verdict}`)
      }
    }
    for (const s of skipped) log(`skipped ${s.contender}: ${s.reason}`)
    const missed = views.flatMap((view) => view.budgets.filter((b) => b.met === false).map((b) => b.contender))
    if (missed.length > 0 && options.profile.length === 0) log(`  profile a miss with: npm run bench -- --only bare,${[...new Set(missed)].join(',')} --profile ${[...new Set(missed)].join(',')}`)
    const ceiling = results.find((r) => r.name === 'bare')
    if (ceiling !== undefined && ceiling.medianLoadCpu >= 0.9 && ceiling.medianLoadCpu >= ceiling.medianServerCpu) {
      log(`  note: the load generator used ${ceiling.medianLoadCpu} of its core against bare Fastify (server ${ceiling.medianServerCpu}): ` +
        'the ceiling may be limited by the load generator, which flatters every ratio to bare; try --pipelining 10')
    }
    if (memory !== undefined) log('skipped' in memory ? `Memory: skipped (${memory.skipped})` : formatMemoryReport(memory))
    if (eventLoop !== undefined) log('skipped' in eventLoop ? `Event loop: skipped (${eventLoop.skipped})` : formatEventLoopReport(eventLoop))
    for (const [name, summary] of Object.entries(profiles)) log('\n' + formatProfileSummary(name, summary))

    const invalid = views.flatMap((view) => view.results).filter((r) => r.unexpected > 0)
    if (invalid.length > 0) {
      log(`\nINVALID: unexpected responses for ${invalid.map((r) => `${r.name} (${r.unexpected})`).join(', ')}; every measured request must get its expected status`)
      exitCode = 1
    }
    if (memory !== undefined && !('skipped' in memory) && memory.stages.some((s) => s.unexpected > 0)) {
      log('INVALID: unexpected responses in the memory experiment')
      exitCode = 1
    }

    const report = {
      date,
      machine,
      parameters: {
        rounds: options.rounds, durationSeconds: options.duration, warmupSeconds: options.warmup, connections: options.connections,
        pipelining: options.pipelining, headlinePipelining: headline.pipelining, digestVia: options.digestVia, quick: options.quick, only: options.only ?? null, profile: options.profile
      },
      valid: exitCode === 0,
      contenders: results,
      skipped,
      budgets,
      views,
      memory: memory ?? null,
      eventLoop: eventLoop ?? null,
      profiles
    }
    mkdirSync(join(outFile, '..'), { recursive: true })
    writeFileSync(outFile, JSON.stringify(report, null, 2) + '\n')
    log(`\nwrote ${relative(process.cwd(), outFile)}`)
  } finally {
    for (const server of servers.values()) signal(server, 'SIGCONT')
    for (const server of servers.values()) await server.stop()
  }
  return exitCode

  /**
   * Freezes every server but the one about to be measured: they all share the measured core, and a server that
   * just finished its run does idle-time garbage collection there for seconds afterwards, which was measured to
   * cost the next contender up to 15 % of its throughput.
   */
  async function isolate (measured: ServerHandle): Promise<void> {
    for (const server of servers.values()) signal(server, server === measured ? 'SIGCONT' : 'SIGSTOP')
    // Let the thawed server finish what was pending (closing the last run's connections) before measuring.
    await new Promise((resolve) => setTimeout(resolve, 300))
  }
}

function signal (server: ServerHandle, name: 'SIGSTOP' | 'SIGCONT'): void {
  try {
    process.kill(server.pid, name)
  } catch {}
}

function table (rows: Array<{ name: string, label: string, expectStatus: number, medianReqPerSec: number, slowestReqPerSec: number, medianP99Ms: number, ratios: Record<string, number>, worstRatios: Record<string, number>, unexpectedCount: number, medianServerCpu: number, medianLoadCpu: number, profiled: boolean }>, options: Options, pipelining: number): string {
  const refs = REFERENCES.filter((ref) => rows.some((r) => r.name === ref))
  const header = ['contender', 'status', 'req/s', 'slowest', 'p99 ms', ...refs.map((ref) => `× ${ref}`), 'worst × bare', 'unexpected', 'cpu srv/load']
  const body = rows.map((r) => [
    r.label + (r.profiled ? ' [profiled]' : ''),
    String(r.expectStatus),
    Math.round(r.medianReqPerSec).toLocaleString('en-US'),
    Math.round(r.slowestReqPerSec).toLocaleString('en-US'),
    String(r.medianP99Ms),
    ...refs.map((ref) => {
      const v = r.ratios[ref]
      return v === undefined || !Number.isFinite(v) ? '—' : v.toFixed(2)
    }),
    r.worstRatios.bare === undefined || !Number.isFinite(r.worstRatios.bare) ? '—' : r.worstRatios.bare.toFixed(2),
    String(r.unexpectedCount),
    `${r.medianServerCpu.toFixed(2)}/${r.medianLoadCpu.toFixed(2)}`
  ])
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => (row[i] ?? '').length)))
  const line = (cells: string[]): string => cells.map((c, i) => i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0)).join('  ')
  return [
    `Medians over ${options.rounds} rounds of ${options.duration} s (a fresh server process per round), ${options.connections} connections × pipelining ${pipelining}; slowest: the slowest process; worst × bare: its round's ratio to bare:`,
    line(header),
    widths.map((w) => '-'.repeat(w)).join('  '),
    ...body.map(line)
  ].join('\n')
}

function packageVersion (name: string): string {
  try {
    return (JSON.parse(readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version
  } catch {
    return 'unknown'
  }
}

function newestProfile (dir: string, contender: string): string | undefined {
  const pattern = new RegExp(`^${contender}-(\\d+)\\.cpuprofile$`)
  const files = readdirSync(dir).filter((f) => pattern.test(f)).sort()
  const last = files[files.length - 1]
  return last === undefined ? undefined : join(dir, last)
}

main().then((code) => { process.exitCode = code }, (err: unknown) => {
  process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n`)
  process.exitCode = 1
})
