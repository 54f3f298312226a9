/**
 * Starting benchmark processes: servers (one per contender, pinned to one core) and load generator runs (pinned to
 * another), with `taskset` where it works.
 */
import { spawn, spawnSync } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { availableParallelism } from 'node:os'
import { fileURLToPath } from 'node:url'
import type { LoadJob, LoadResult } from './load.js'
import type { ServerCommand, ServerStats } from './server.js'

/** The repository root (this file runs from dist/bench/). */
export const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const SERVER_SCRIPT = fileURLToPath(new URL('./server.js', import.meta.url))
const LOAD_SCRIPT = fileURLToPath(new URL('./load.js', import.meta.url))

export interface Pinning {
  readonly enabled: boolean
  readonly serverCpu: number
  readonly loadCpu: number
  /** Why pinning is off, when it is. */
  readonly reason?: string
}

/** Server on CPU 0, load generator on CPU 1, when `taskset` exists and there are two cores. */
export function detectPinning (wanted: boolean): Pinning {
  if (!wanted) return { enabled: false, serverCpu: 0, loadCpu: 1, reason: 'disabled by --no-pin' }
  if (availableParallelism() < 2) return { enabled: false, serverCpu: 0, loadCpu: 1, reason: 'fewer than 2 cores' }
  const probe = spawnSync('taskset', ['-c', '1', process.execPath, '-e', ''], { stdio: 'ignore' })
  if (probe.error !== undefined || probe.status !== 0) return { enabled: false, serverCpu: 0, loadCpu: 1, reason: 'taskset not available (Debian package util-linux)' }
  return { enabled: true, serverCpu: 0, loadCpu: 1 }
}

function command (pinning: Pinning, cpu: number, args: string[]): [string, string[]] {
  return pinning.enabled ? ['taskset', ['-c', String(cpu), process.execPath, ...args]] : [process.execPath, args]
}

export interface ServerHandle {
  readonly contender: string
  readonly port: number
  readonly url: string
  readonly pid: number
  readonly profiled: boolean
  stats (gc?: boolean): Promise<ServerStats>
  stop (): Promise<void>
}

export interface StartOptions {
  readonly pinning: Pinning
  /** Start with `--cpu-prof` into this directory. */
  readonly profileDir?: string
  /** Start with `--expose-gc` so that `stats(true)` collects garbage first (memory experiment). */
  readonly exposeGc?: boolean
}

/** Starts `server.js <contender>` and resolves once it printed its port. Rejects with its stderr if it exits. */
export function startServer (contender: string, options: StartOptions): Promise<ServerHandle> {
  const nodeArgs: string[] = []
  if (options.exposeGc === true) nodeArgs.push('--expose-gc')
  if (options.profileDir !== undefined) {
    nodeArgs.push('--cpu-prof', '--cpu-prof-interval=250', `--cpu-prof-dir=${options.profileDir}`, `--cpu-prof-name=${contender}-${Date.now()}.cpuprofile`)
  }
  const [file, args] = command(options.pinning, options.pinning.serverCpu, [...nodeArgs, SERVER_SCRIPT, contender])
  const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe', 'ipc'], cwd: ROOT })
  let stderr = ''
  child.stderr?.on('data', (chunk: Buffer) => { stderr = (stderr + chunk.toString()).slice(-4000) })

  return new Promise((resolve, reject) => {
    let stdout = ''
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`server ${contender} did not start within 30 s: ${stderr.trim()}`)) }, 30_000)
    const onExit = (code: number | null): void => {
      clearTimeout(timer)
      reject(new Error(`server ${contender} exited (${code ?? 'signal'}) before listening: ${stderr.trim() || '(no output)'}`))
    }
    child.once('exit', onExit)
    child.stdout?.on('data', (chunk: Buffer) => {
      stdout += chunk.toString()
      const newline = stdout.indexOf('\n')
      if (newline < 0) return
      clearTimeout(timer)
      child.off('exit', onExit)
      child.stdout?.removeAllListeners('data')
      child.stdout?.resume()
      const { listening } = JSON.parse(stdout.slice(0, newline)) as { listening: number }
      resolve(serverHandle(contender, child, listening, options.profileDir !== undefined, () => stderr))
    })
  })
}

function serverHandle (contender: string, child: ChildProcess, port: number, profiled: boolean, stderr: () => string): ServerHandle {
  let exited = false
  let how = ''
  child.once('exit', (code, signal) => { exited = true; how = signal ?? `exit code ${String(code)}` })
  const send = (command: ServerCommand): void => { child.send(command) }
  return {
    contender,
    port,
    url: `http://127.0.0.1:${port}/`,
    pid: child.pid ?? -1,
    profiled,
    stats (gc = false) {
      return new Promise((resolve, reject) => {
        if (exited) { reject(new Error(`server ${contender} is gone (${how}): ${stderr().trim()}`)); return }
        const onMessage = (message: ServerStats): void => {
          if (message.type !== 'stats') return
          child.off('message', onMessage)
          resolve(message)
        }
        child.on('message', onMessage)
        send({ type: 'stats', gc })
      })
    },
    stop () {
      return new Promise((resolve) => {
        if (exited) { resolve(); return }
        // A profiled server needs time to write its profile; kill only if it hangs.
        const timer = setTimeout(() => child.kill('SIGKILL'), 15_000)
        child.once('exit', () => { clearTimeout(timer); resolve() })
        try { send({ type: 'stop' }) } catch { child.kill('SIGTERM') }
      })
    }
  }
}

/** Runs one load generator process and returns what it printed. */
export function runLoad (job: LoadJob, pinning: Pinning): Promise<LoadResult> {
  const [file, args] = command(pinning, pinning.loadCpu, [LOAD_SCRIPT, JSON.stringify(job)])
  const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'], cwd: ROOT })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString() })
  child.stderr.on('data', (chunk: Buffer) => { stderr = (stderr + chunk.toString()).slice(-4000) })
  return new Promise((resolve, reject) => {
    child.once('error', reject)
    child.once('exit', (code) => {
      const line = stdout.trim().split('\n').pop()
      if (code !== 0 || line === undefined || line === '') {
        reject(new Error(`load generator failed (${code ?? 'signal'}): ${stderr.trim() || '(no output)'}`))
        return
      }
      resolve(JSON.parse(line) as LoadResult)
    })
  })
}
