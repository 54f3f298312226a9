import { execFile, spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { readdirSync, readFileSync, readlinkSync } from 'node:fs'
import { chmod, mkdtemp, rm } from 'node:fs/promises'
import { connect, createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'

// startPrivateServer: the one way a test file starts a real server (PostgreSQL, MariaDB, slapd, Redis). It guarantees,
// for every server alike:
// - 127.0.0.1 on free ports, new ones when another process takes a port before the server binds it;
// - a temp folder for the server's data, removed in the teardown (also when a test failed);
// - the server in the foreground as our child, as its own system user when we are root (PostgreSQL and MariaDB refuse
//   root), killed with us however we end: a teardown, an 'exit' handler, and the kernel (parent-death signal) when
//   the test process is killed outright;
// - ready when the call resolves (the server's own probe), and one handle to stop/start/pause/resume it.
// To add a server: a module beside postgres.ts with its `needProgram`s and a `start…` that passes its init (data
// made once), its argv (foreground, 127.0.0.1, the ports given) and its readiness probe, and returns the handle
// spread with what its clients need (a URL). Nothing else belongs in a server helper.
// Known gap: a test process killed outright (SIGKILL) while PostgreSQL is paused leaves its backends frozen.

export const run = promisify(execFile)

export const isRoot = process.getuid?.() === 0

/** setpriv's options that make a program run as `user` when we are root (setpriv keeps the pid, signals reach it). */
const becomeUser = (user: string): string[] => isRoot ? [`--reuid=${user}`, `--regid=${user}`, '--init-groups'] : []

/** Runs `argv` to completion as `user` when we are root: the programs of a server's `init`. */
export async function runAs (user: string, argv: readonly string[]): Promise<void> {
  const [program, ...args] = isRoot ? ['setpriv', ...becomeUser(user), ...argv] : argv
  await run(program as string, args)
}

/** What `startPrivateServer`, `startServe` and the like register their clean-up with: tap's `t`. */
export interface Teardownable {
  teardown (fn: () => void | Promise<void>): void
}

/** The outages a test puts a server through, the same for every server. */
export interface ServerControls {
  /** Stops the server (a clean shutdown; SIGKILL when it is paused) and waits until it exited. The data folder stays. */
  stop (): Promise<void>
  /** Starts it again on the same ports and data folder, and waits until it is ready. */
  start (): Promise<void>
  /**
   * Freezes every process of the server (SIGSTOP) and waits until the kernel shows them stopped: connections stay
   * open, requests get no answer.
   */
  pause (): Promise<void>
  /** Resumes a paused server (SIGCONT). */
  resume (): void
}

/** A server a test file owns. */
export interface PrivateServer extends ServerControls {
  readonly host: '127.0.0.1'
  /** The first of `ports`. */
  readonly port: number
  /** The ports it listens on, the same after a restart. */
  readonly ports: readonly number[]
  /** Its temp folder (data, configuration), removed in the teardown. */
  readonly dir: string
  /** What the server printed (stdout and stderr) since it was last started. */
  output (): string
}

/** What a test needs of a private database server it owns. */
export interface PrivateDatabaseServer extends PrivateServer {
  /** A connection string to `database` as the server's superuser. */
  url (database: string): string
}

/** What is specific to one server; `startPrivateServer` does the rest. */
export interface PrivateServerSpec {
  /** Names the server in errors and its temp folder. */
  readonly name: string
  /** The system user the server runs as when we are root; its temp folder is given to that user. */
  readonly user: string
  /** How many ports it listens on (slapd: ldap:// and ldaps://); 1 when not given. */
  readonly portCount?: number
  /**
   * Makes the server's data in `dir` once, before the first start. `dir` belongs to `user`: run the programs that
   * write what the server must change or keep private (its database, its key) with `runAs`.
   */
  readonly init?: (dir: string) => Promise<void>
  /** The server's command line: in the foreground, on 127.0.0.1 and `ports`, its data in `dir`. */
  readonly argv: (ports: readonly number[], dir: string) => readonly string[]
  /** True once the server serves on `ports` (asked every 20 ms, for up to 20 s per start). */
  readonly ready: (ports: readonly number[]) => Promise<boolean>
  /** The signal for a clean shutdown (PostgreSQL: SIGINT, its fast shutdown); SIGTERM when not given. */
  readonly stopSignal?: NodeJS.Signals
}

const READY_WITHIN_MS = 20_000
const PROBE_EVERY_MS = 20
/** New ports per first start: a port found free can be taken before the server binds it. */
const START_ATTEMPTS = 5
/** Tries per restart on the same ports (clients reconnect to them), 100 ms apart, while another process holds one. */
const RESTART_ATTEMPTS = 50

/**
 * Starts a server for one test file (see the guarantees at the top of this module); stopped and its folder removed
 * in `t.teardown`.
 *
 * @example
 * const server = await startPrivateServer(t, {
 *   name: 'redis-server',
 *   user: 'redis',
 *   argv: ([port], dir) => [program, '--port', String(port), '--bind', '127.0.0.1', '--dir', dir],
 *   ready: async ([port]) => (await firstReply(port as number, 'PING\r\n'))?.toString('latin1').startsWith('+PONG') === true
 * })
 * return { ...server, url: `redis://127.0.0.1:${server.port}` }
 * @throws Error when the server does not start (its output in the message).
 */
export async function startPrivateServer (t: Teardownable, spec: PrivateServerSpec): Promise<PrivateServer> {
  const dir = await mkdtemp(join(tmpdir(), `fastify-cred-${spec.name}-`))
  let ports: readonly number[] = []
  let server: ServerProcess | undefined
  let paused = false

  const stop = async (): Promise<void> => {
    const current = server
    if (current === undefined || !current.running()) return
    // A paused server cannot shut down cleanly: kill all of it (SIGKILL reaches stopped processes).
    if (paused) current.signalTree('SIGKILL')
    else current.child.kill(spec.stopSignal ?? 'SIGTERM')
    paused = false
    await current.exited
  }
  t.teardown(async () => {
    await stop()
    await rm(dir, { recursive: true, force: true })
  })

  if (isRoot) {
    await chmod(dir, 0o755)
    await run('chown', [`${spec.user}:`, dir])
  }
  await spec.init?.(dir)

  /** Spawns the server and waits until it is ready (true) or has exited (false: the port was taken, say). */
  const launch = async (): Promise<boolean> => {
    const current = spawnServer(spec.user, spec.argv(ports, dir))
    server = current
    const deadline = Date.now() + READY_WITHIN_MS
    while (Date.now() < deadline) {
      if (!current.running()) return false
      if (await spec.ready(ports)) {
        // A process that took a port before ours bound it may have answered: then ours is about to fail.
        if (current.listensOn(ports)) return true
        current.signalTree('SIGKILL')
        await current.exited
        return false
      }
      await sleep(PROBE_EVERY_MS)
    }
    current.signalTree('SIGKILL')
    await current.exited
    throw new Error(`${spec.name} was not ready on port ${ports.join('/')} within ${READY_WITHIN_MS / 1000} s: ${current.output().slice(-4000)}`)
  }

  const launchRetrying = async (attempts: number, beforeEach: (attempt: number) => Promise<void>): Promise<void> => {
    for (let attempt = 1; attempt <= attempts; attempt++) {
      await beforeEach(attempt)
      if (await launch()) return
    }
    throw new Error(`${spec.name} would not start on port ${ports.join('/')} (${attempts} attempts): ${server?.output().slice(-4000) ?? ''}`)
  }

  await launchRetrying(START_ATTEMPTS, async () => { ports = await freePorts(spec.portCount ?? 1) })

  return {
    host: '127.0.0.1',
    port: ports[0] as number,
    ports,
    dir,
    output: () => server?.output() ?? '',
    stop,
    start: async () => {
      await stop()
      await launchRetrying(RESTART_ATTEMPTS, async (attempt) => { if (attempt > 1) await sleep(100) })
    },
    pause: async () => {
      if (server === undefined || !server.running() || paused) return
      paused = true
      await server.freeze()
    },
    resume: () => {
      if (server === undefined || !server.running() || !paused) return
      server.signalTree('SIGCONT')
      paused = false
    }
  }
}

/** The first chunk a server sends on a new connection (after `request`, if given), or undefined (refused, 1 s silence). */
export const firstReply = async (port: number, request?: string): Promise<Buffer | undefined> => await new Promise((resolve) => {
  const socket = connect({ host: '127.0.0.1', port })
  const done = (reply: Buffer | undefined): void => { socket.destroy(); resolve(reply) }
  socket.setTimeout(1000, () => { done(undefined) })
  socket.once('error', () => { done(undefined) })
  if (request !== undefined) socket.once('connect', () => socket.write(request))
  socket.once('data', done)
})

/** True once something accepts TCP connections on `port`. */
export const accepts = async (port: number): Promise<boolean> => await new Promise((resolve) => {
  const socket = connect({ host: '127.0.0.1', port })
  const done = (ok: boolean): void => { socket.destroy(); resolve(ok) }
  socket.setTimeout(1000, () => { done(false) })
  socket.once('error', () => { done(false) })
  socket.once('connect', () => { done(true) })
})

const sleep = async (ms: number): Promise<void> => await new Promise((resolve) => setTimeout(resolve, ms))

/** `count` distinct ports nobody listens on right now (another process could take one first: callers retry). */
async function freePorts (count: number): Promise<number[]> {
  const servers = Array.from({ length: count }, () => createServer())
  const ports = await Promise.all(servers.map(async (server) => await new Promise<number>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      resolve(typeof address === 'object' && address !== null ? address.port : 0)
    })
  })))
  await Promise.all(servers.map(async (server) => await new Promise((resolve) => server.close(resolve))))
  return ports
}

interface ServerProcess {
  readonly child: ChildProcess
  /** Settles once the process exited (or could not be spawned). */
  readonly exited: Promise<void>
  running (): boolean
  output (): string
  /**
   * Signals the server and every process it forked. PostgreSQL's backends each call setsid(), so neither the process
   * group nor the session reaches them: they are found by parent pid in /proc.
   */
  signalTree (signal: NodeJS.Signals): void
  /** SIGSTOP to the whole tree, until the kernel shows each process stopped (delivery is asynchronous). */
  freeze (): Promise<void>
  /** Whether a process of the tree holds the listening socket of each port (and not some other process). */
  listensOn (ports: readonly number[]): boolean
}

const live = new Set<ServerProcess>()
// When a test file ends before its teardown ran. A SIGKILLed test process runs no handler: then the parent-death
// signal (setpriv --pdeathsig) ends the server, whose children leave when they see it gone.
process.once('exit', () => { for (const server of live) server.signalTree('SIGKILL') })

/** Spawns `argv` as `user`, in the foreground, in its own process group, killed when we die; tracked until it exits. */
function spawnServer (user: string, argv: readonly string[]): ServerProcess {
  let output = ''
  let ended = false
  const child = spawn('setpriv', [...becomeUser(user), '--pdeathsig', 'SIGKILL', ...argv], { stdio: ['ignore', 'pipe', 'pipe'], detached: true })
  const collect = (chunk: Buffer): void => { output += chunk.toString('utf8') }
  child.stdout?.on('data', collect)
  child.stderr?.on('data', collect)
  const exited = new Promise<void>((resolve) => {
    const end = (): void => { ended = true; resolve() }
    child.once('exit', end)
    child.once('error', (err) => { output += String(err); end() })
  })
  const running = (): boolean => !ended && child.exitCode === null && child.signalCode === null
  const signalTree = (signal: NodeJS.Signals): void => {
    if (child.pid === undefined || !running()) return
    for (const pid of processTree(child.pid)) {
      try { process.kill(pid, signal) } catch {}
    }
  }
  const server: ServerProcess = {
    child,
    exited,
    running,
    output: () => output,
    signalTree,
    freeze: async () => {
      const deadline = Date.now() + 2000
      while (running() && Date.now() < deadline) {
        // Stop again whatever is not stopped yet: also a child forked while we were stopping its parent.
        signalTree('SIGSTOP')
        if (child.pid === undefined || processTree(child.pid).every(stopped)) return
        await sleep(5)
      }
    },
    listensOn: (ports) => {
      if (child.pid === undefined) return false
      const held = new Set(processTree(child.pid).flatMap(socketsOf))
      return ports.every((port) => {
        const listeners = listeningSockets(port)
        // None listed: /proc/net does not tell (another network namespace, a hardened /proc); trust the probe.
        return listeners.length === 0 || listeners.some((socket) => held.has(socket))
      })
    }
  }
  live.add(server)
  void exited.then(() => live.delete(server))
  return server
}

/** Whether /proc/<pid>/stat shows the process stopped (T, t) or past running at all (zombie, dead, gone). */
function stopped (pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // pid (comm) state …: comm may hold spaces and parentheses, so read after the last ')'.
    return 'TtZXx'.includes(stat.charAt(stat.lastIndexOf(')') + 2))
  } catch { return true }
}

/** The inodes of the IPv4 TCP sockets listening on `port` (servers listen on 127.0.0.1), from /proc/net (Linux). */
function listeningSockets (port: number): string[] {
  const inodes: string[] = []
  let table = ''
  try { table = readFileSync('/proc/net/tcp', 'utf8') } catch {}
  // sl local_address(hexaddr:HEXPORT) rem_address st(0A = LISTEN) tx:rx tr:when retrnsmt uid timeout inode …
  for (const line of table.split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/)
    if (fields[3] === '0A' && Number.parseInt(fields[1]?.split(':')[1] ?? '', 16) === port) inodes.push(fields[9] as string)
  }
  return inodes
}

/** The inodes of the sockets `pid` holds open. */
function socketsOf (pid: number): string[] {
  try {
    return readdirSync(`/proc/${pid}/fd`).flatMap((fd) => {
      try { return [/^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`))?.[1] ?? ''] } catch { return [] }
    }).filter((inode) => inode !== '')
  } catch { return [] }
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
