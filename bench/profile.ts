/**
 * Summarizes a V8 `.cpuprofile` (from `node --cpu-prof`): the functions with the most self time.
 * Standalone: `node dist/bench/profile.js <file.cpuprofile> [top]`.
 */
import { readFileSync } from 'node:fs'
import { relative } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

interface CpuProfileNode {
  id: number
  callFrame: { functionName: string, url: string, lineNumber: number, columnNumber: number }
  hitCount?: number
  children?: number[]
}
interface CpuProfile {
  nodes: CpuProfileNode[]
  startTime: number
  endTime: number
  samples?: number[]
  timeDeltas?: number[]
}

export interface ProfileEntry {
  /** `name (file:line)` */
  readonly function: string
  readonly selfMs: number
  /** Share of the busy time (idle excluded). */
  readonly percent: number
}

export interface ProfileSummary {
  readonly file: string
  /** Time the server was doing something (not idle), in ms. */
  readonly busyMs: number
  readonly top: ProfileEntry[]
  /** Self time by where the code lives: fastify-cred (dist/lib), a package, Node's internals, native, GC. */
  readonly byOrigin: Array<{ origin: string, percent: number }>
}

const IDLE = '(idle)'

function median (values: readonly number[]): number {
  const positive = values.filter((v) => v > 0).sort((a, b) => a - b)
  return positive[positive.length >> 1] ?? 0
}

function originOf (frame: CpuProfileNode['callFrame'], root: string): string {
  const url = frame.url
  if (url === '') return frame.functionName.startsWith('(') ? frame.functionName : 'native (syscalls, C++)'
  if (url.startsWith('node:')) return 'node internals'
  if (!url.startsWith('file://')) return 'other'
  const path = relative(root, fileURLToPath(url))
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path)
  if (pkg !== null) return pkg[1] ?? 'packages'
  if (path.startsWith('dist/lib/') || path.startsWith('lib/')) return 'fastify-cred (lib)'
  if (path.startsWith('dist/bench/') || path.startsWith('bench/')) return 'bench server'
  return path
}

function describe (frame: CpuProfileNode['callFrame'], root: string): string {
  const name = frame.functionName === '' ? '(anonymous)' : frame.functionName
  if (frame.url === '') return name
  let where = frame.url
  if (where.startsWith('file://')) {
    where = relative(root, fileURLToPath(where))
    // Keep the package name of dependencies, drop the long node_modules prefix.
    where = where.replace(/^(?:.*\/)?node_modules\//, '')
  }
  return `${name} (${where}:${frame.lineNumber + 1})`
}

/** The `top` functions by self time in `file`. */
export function summarizeProfile (file: string, top = 15, root = process.cwd()): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile
  const byId = new Map(profile.nodes.map((node) => [node.id, node]))
  const selfMicros = new Map<string, number>()
  const originMicros = new Map<string, number>()
  const samples = profile.samples ?? []
  // Every sample weighs one typical sampling interval. Taking the gap to the next sample instead (as this did
  // before) gave the whole time a server spent frozen by the harness (SIGSTOP between its runs) to the function
  // sampled last before the freeze: `onwrite` at 41 % and 17.7 s busy, where counting samples gives 10.5 s.
  const interval = median(profile.timeDeltas ?? [])
  for (let i = 0; i < samples.length; i++) {
    const node = byId.get(samples[i] ?? -1)
    if (node === undefined) continue
    const micros = interval
    const key = describe(node.callFrame, root)
    selfMicros.set(key, (selfMicros.get(key) ?? 0) + micros)
    if (key !== IDLE) {
      const origin = originOf(node.callFrame, root)
      originMicros.set(origin, (originMicros.get(origin) ?? 0) + micros)
    }
  }
  let busy = 0
  for (const [key, micros] of selfMicros) if (key !== IDLE) busy += micros
  const entries = [...selfMicros].filter(([key]) => key !== IDLE).sort((a, b) => b[1] - a[1]).slice(0, top)
  return {
    file: relative(root, file),
    busyMs: Math.round(busy / 1000),
    top: entries.map(([fn, micros]) => ({ function: fn, selfMs: Math.round(micros / 100) / 10, percent: busy === 0 ? 0 : Math.round(micros / busy * 1000) / 10 })),
    byOrigin: [...originMicros].sort((a, b) => b[1] - a[1]).map(([origin, micros]) => ({ origin, percent: busy === 0 ? 0 : Math.round(micros / busy * 1000) / 10 }))
  }
}

export function formatProfileSummary (name: string, summary: ProfileSummary): string {
  const lines = [`Profile of ${name}: ${summary.file} (busy ${summary.busyMs} ms; self time, idle excluded)`]
  for (const entry of summary.top) lines.push(`  ${entry.percent.toFixed(1).padStart(5)}%  ${entry.selfMs.toFixed(1).padStart(9)} ms  ${entry.function}`)
  lines.push('  by origin: ' + summary.byOrigin.filter((o) => o.percent >= 0.5).map((o) => `${o.origin} ${o.percent.toFixed(1)}%`).join(', '))
  return lines.join('\n')
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const file = process.argv[2]
  if (file === undefined) {
    process.stderr.write('usage: node dist/bench/profile.js <file.cpuprofile> [top]\n')
    process.exit(2)
  }
  process.stdout.write(formatProfileSummary(file, summarizeProfile(file, Number(process.argv[3] ?? 15))) + '\n')
}
