import { execFile, spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { promisify } from 'node:util'

// What the PostgreSQL and MariaDB helpers share: a free port, a foreground child that is always reaped, and
// running as the server's own system user when we are root (both servers refuse to run as root).

export const run = promisify(execFile)

/** A port nobody listens on right now (another process could take it first: callers retry). */
export const freePort = async (): Promise<number> => await new Promise((resolve, reject) => {
  const server = createServer()
  server.unref()
  server.once('error', reject)
  server.listen(0, '127.0.0.1', () => {
    const address = server.address()
    const port = typeof address === 'object' && address !== null ? address.port : 0
    server.close(() => { resolve(port) })
  })
})

export const sleep = async (ms: number): Promise<void> => await new Promise((resolve) => setTimeout(resolve, ms))

export const isRoot = process.getuid?.() === 0

/** `argv` run as `user` when we are root (setpriv keeps the pid, so signals reach the server itself). */
export const asUser = (user: string, argv: readonly string[]): string[] =>
  isRoot ? ['setpriv', `--reuid=${user}`, `--regid=${user}`, '--init-groups', ...argv] : [...argv]

/** Gives `dir` to `user` when we are root, so the server can write its data there. */
export async function giveTo (user: string, dir: string): Promise<void> {
  if (!isRoot) return
  await run('chmod', ['755', dir])
  await run('chown', ['-R', `${user}:${user}`, dir])
}

const live = new Set<ChildProcess>()
// Last resort when a test file crashes before its teardown ran: never leave a server behind (nor a frozen one).
process.once('exit', () => {
  for (const child of live) {
    try { if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL') } catch {}
  }
})

export interface ServerProcess {
  readonly child: ChildProcess
  readonly exited: Promise<void>
  /** What the server printed on stderr, for error messages. */
  readonly stderr: () => string
  /**
   * Signals the server and every process it forked. PostgreSQL's backends each call setsid(), so neither the process
   * group nor the session reaches them: they are found by parent pid in /proc.
   */
  signalGroup (signal: NodeJS.Signals): void
}

/** Spawns `argv` in the foreground, in its own process group, and tracks it until it exits. */
export function spawnServer (argv: readonly string[]): ServerProcess {
  const [program, ...args] = argv as [string, ...string[]]
  let stderr = ''
  const child = spawn(program, args, { stdio: ['ignore', 'ignore', 'pipe'], detached: true })
  child.stderr?.on('data', (chunk: Buffer) => { stderr = (stderr + chunk.toString('utf8')).slice(-4000) })
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  live.add(child)
  void exited.then(() => live.delete(child))
  return {
    child,
    exited,
    stderr: () => stderr,
    signalGroup: (signal) => {
      if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return
      for (const pid of processTree(child.pid)) {
        try { process.kill(pid, signal) } catch {}
      }
    }
  }
}

/** `root` and its descendants, parents first, from /proc (Linux). */
function processTree (root: number): number[] {
  const children = new Map<number, number[]>()
  for (const entry of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(entry)) continue
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
      // pid (comm) state ppid …: comm may hold spaces and parentheses, so read after the last ')'.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
      const list = children.get(ppid) ?? []
      list.push(Number(entry))
      children.set(ppid, list)
    } catch {}
  }
  const tree = [root]
  for (let i = 0; i < tree.length; i++) tree.push(...(children.get(tree[i] as number) ?? []))
  return tree
}

export const running = (server: ServerProcess | undefined): server is ServerProcess =>
  server !== undefined && server.child.exitCode === null && server.child.signalCode === null

export interface Teardownable {
  teardown (fn: () => void | Promise<void>): void
}

/** What a test needs of a private database server it owns. */
export interface PrivateDatabaseServer {
  readonly host: '127.0.0.1'
  readonly port: number
  /** A connection string to `database` as the server's superuser. */
  url (database: string): string
  /** Stops the server (fast shutdown; SIGKILL when paused) and waits until every process exited. Data is kept. */
  stop (): Promise<void>
  /** Starts it again on the same port and data directory, and waits until it accepts connections. */
  start (): Promise<void>
  /** Freezes every process of the server (SIGSTOP): connections stay open, queries get no answer. */
  pause (): void
  /** Resumes a paused server (SIGCONT). */
  resume (): void
}
