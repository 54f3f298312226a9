import { randomBytes } from 'node:crypto'
import { chmod, chown, open, readFile, realpath, rename, stat, unlink } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { CliError } from './errors.js'

/** Mode of a password file this command creates: owner only (chmod/chown it for a server running as another user). */
export const NEW_FILE_MODE = 0o600

/** A password file's lines, with a key per user line (`user` for htpasswd, `user:realm` for htdigest). */
export interface PasswordFileLines {
  readonly lines: string[]
  /** False when the file did not exist. */
  readonly existed: boolean
}

/** Reads the file's lines (an absent file is empty when `create`; otherwise an error naming the flag). */
export async function readPasswordFile (path: string, create: boolean): Promise<PasswordFileLines> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOENT') {
      if (create) return { lines: [], existed: false }
      throw new CliError(`${path} does not exist (use --create to create it)`)
    }
    throw new CliError(`cannot read ${path} (${code ?? 'error'})`)
  }
  const lines = text.split('\n')
  if (lines[lines.length - 1] === '') lines.pop()
  return { lines, existed: true }
}

/** The index of the lines whose key (the text before the `fields`-th `:`) is `key`. */
export function findLines (lines: readonly string[], key: string, fields: 1 | 2): number[] {
  const found: number[] = []
  lines.forEach((line, i) => {
    let at = -1
    for (let n = 0; n < fields; n++) {
      at = line.indexOf(':', at + 1)
      if (at === -1) return
    }
    if (line.slice(0, at) === key) found.push(i)
  })
  return found
}

/**
 * Sets `key`'s line (the first one found keeps its place, later duplicates go) or appends it; `line === undefined`
 * deletes. Answers whether the key was there.
 */
export function replaceLine (lines: string[], key: string, fields: 1 | 2, line: string | undefined): boolean {
  const found = findLines(lines, key, fields)
  for (const i of found.slice(1).reverse()) lines.splice(i, 1)
  const first = found[0]
  if (first === undefined) {
    if (line !== undefined) lines.push(line)
    return false
  }
  if (line === undefined) lines.splice(first, 1)
  else lines[first] = line
  return true
}

/**
 * Runs `fn` holding `<file>.lock` (created exclusively), so that two `passwd` runs on one file cannot lose each
 * other's change.
 */
export async function withFileLock<T> (path: string, fn: () => Promise<T>): Promise<T> {
  const lock = `${path}.lock`
  for (let attempt = 0; ; attempt++) {
    try {
      const handle = await open(lock, 'wx', 0o600)
      await handle.close()
      break
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      if (code !== 'EEXIST') throw new CliError(`cannot create the lock file ${lock} (${code ?? 'error'})`)
      if (attempt >= 50) throw new CliError(`${path} is locked by another fastify-cred passwd (remove ${lock} if none is running)`)
      await sleep(100)
    }
  }
  try {
    return await fn()
  } finally {
    await unlink(lock).catch(() => {})
  }
}

/**
 * Replaces the file's content atomically: a temp file in the same directory, written and flushed, given the old
 * file's mode (and owner, when root), then renamed over it. A server re-reading the file sees the old or the new
 * content, never half of one. A symbolic link is followed: its target is replaced.
 */
export async function writeAtomically (path: string, content: string): Promise<void> {
  let target = path
  try { target = await realpath(path) } catch {}
  let mode = NEW_FILE_MODE
  let owner: { uid: number, gid: number } | undefined
  try {
    const info = await stat(target)
    mode = info.mode & 0o7777
    owner = { uid: info.uid, gid: info.gid }
  } catch {}
  const dir = dirname(target)
  const temp = join(dir, `.${basename(target)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`)
  let handle
  try {
    handle = await open(temp, 'wx', mode)
  } catch (err) {
    throw new CliError(`cannot write in ${dir} (${(err as NodeJS.ErrnoException).code ?? 'error'})`)
  }
  try {
    await handle.writeFile(content, 'utf8')
    await handle.sync()
    await handle.close()
    handle = undefined
    await chmod(temp, mode) // open() applied the umask
    if (owner !== undefined && process.getuid?.() === 0) await chown(temp, owner.uid, owner.gid).catch(() => {})
    await rename(temp, target)
  } catch (err) {
    await handle?.close().catch(() => {})
    await unlink(temp).catch(() => {})
    throw err instanceof CliError ? err : new CliError(`cannot write ${path} (${(err as NodeJS.ErrnoException).code ?? 'error'})`)
  }
  // Make the rename itself durable; some file systems refuse to open a directory for this, which is fine.
  try {
    const dirHandle = await open(dir, 'r')
    await dirHandle.sync().finally(async () => { await dirHandle.close() })
  } catch {}
}

