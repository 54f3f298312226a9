import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { needProgram } from './binaries.js'
import { freePort } from './private-server.js'

/** redis-server, or why the Redis tests are skipped (Debian package redis-server). Throws in CI when missing. */
export const redisServerProgram = needProgram('redis-server', 'redis-server')

/** What a test needs of the Redis server it owns. */
export interface PrivateRedis {
  readonly host: '127.0.0.1'
  readonly port: number
  readonly url: string
  /** Stops the server (SIGTERM, or SIGKILL when it is paused) and waits until it has exited. Data is lost. */
  stop (): Promise<void>
  /** Starts it again on the same port, empty, and waits until it answers PING. */
  start (): Promise<void>
  /** Freezes the process (SIGSTOP): connections stay open, commands get no answer. */
  pause (): void
  /** Resumes a paused server (SIGCONT). */
  resume (): void
}

interface Teardownable {
  teardown (fn: () => void | Promise<void>): void
}


/** True once the server answers PING with +PONG. */
const pings = async (port: number): Promise<boolean> => await new Promise((resolve) => {
  const socket = connect({ host: '127.0.0.1', port })
  let reply = ''
  const done = (ok: boolean): void => { socket.destroy(); resolve(ok) }
  socket.setTimeout(500, () => done(false))
  socket.once('error', () => done(false))
  socket.once('connect', () => socket.write('PING\r\n'))
  socket.on('data', (chunk: Buffer) => {
    reply += chunk.toString('latin1')
    if (reply.includes('\r\n')) done(reply.startsWith('+PONG'))
  })
})

const live = new Set<ChildProcess>()
// Last resort when a test file crashes before its teardown ran: never leave a redis-server behind.
process.once('exit', () => { for (const child of live) child.kill('SIGKILL') })

/**
 * Starts a private redis-server for one test file: 127.0.0.1, a free port, a temp dir, no persistence, in the
 * foreground as our child. It is killed and its dir removed in `t.teardown`, also when a test fails.
 *
 * @example
 * import t from 'tap'
 * import { redisServerProgram, startRedis } from './helpers/redis-server.js'
 * if (redisServerProgram.skip !== false) t.plan(0, redisServerProgram.skip)
 * else {
 *   const redis = await startRedis(t)
 *   // new Redis(redis.port, redis.host) ...; await redis.stop(); await redis.start()
 * }
 */
export async function startRedis (t: Teardownable): Promise<PrivateRedis> {
  if (redisServerProgram.path === undefined) throw new Error(redisServerProgram.skip)
  const program = redisServerProgram.path
  const dir = await mkdtemp(join(tmpdir(), 'fastify-cred-redis-'))
  let child: ChildProcess | undefined
  let paused = false
  let port = 0
  let stderr = ''

  const launch = async (): Promise<boolean> => {
    stderr = ''
    const proc = spawn(program, [
      '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no',
      '--dir', dir, '--maxmemory-policy', 'noeviction', '--loglevel', 'warning'
    ], { stdio: ['ignore', 'ignore', 'pipe'] })
    proc.stderr?.on('data', (chunk: Buffer) => { stderr += chunk.toString('utf8') })
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()))
    live.add(proc)
    void exited.then(() => live.delete(proc))
    child = proc
    const deadline = Date.now() + 10_000
    while (Date.now() < deadline) {
      if (proc.exitCode !== null || proc.signalCode !== null) return false
      if (await pings(port)) return true
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    proc.kill('SIGKILL')
    await exited
    throw new Error(`redis-server did not answer PING on port ${port} within 10 s: ${stderr}`)
  }

  const stop = async (): Promise<void> => {
    const proc = child
    child = undefined
    if (proc === undefined || proc.exitCode !== null || proc.signalCode !== null) return
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()))
    proc.kill(paused ? 'SIGKILL' : 'SIGTERM')
    paused = false
    await exited
  }

  t.teardown(async () => {
    await stop()
    await rm(dir, { recursive: true, force: true })
  })

  // A port found free can be taken before redis binds it: try a few.
  for (let attempt = 0; ; attempt++) {
    port = await freePort()
    if (await launch()) break
    if (attempt === 4) throw new Error(`redis-server would not start: ${stderr}`)
  }

  return {
    host: '127.0.0.1',
    get port () { return port },
    get url () { return `redis://127.0.0.1:${port}` },
    stop,
    start: async () => {
      await stop()
      // Same port on purpose (clients reconnect to it); the old socket is closed once the process has exited.
      for (let attempt = 0; attempt < 50; attempt++) {
        if (await launch()) return
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
      throw new Error(`redis-server would not restart on port ${port}: ${stderr}`)
    },
    pause: () => { if (child !== undefined && !paused) { child.kill('SIGSTOP'); paused = true } },
    resume: () => { if (child !== undefined && paused) { child.kill('SIGCONT'); paused = false } }
  }
}
