import { randomBytes } from 'node:crypto'
import { chmod, chown, open, readFile, readlink, realpath, rename, stat, unlink } from 'node:fs/promises'
import type { Stats } from 'node:fs'
import { basename, dirname, join, resolve } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { CliError } from './errors.js'

/** Mode of a password file this command creates: owner only (chmod/chown it for a server running as another user). */
export const NEW_FILE_MODE = 0o600

/** A password file's lines, with a key per user line (`user` for htpasswd, `user:realm` for htdigest). */
export interface PasswordFileLines {
  readonly lines: string[]
  /** False when the file did not exist. */
  readonly existed: boolean
  /** The file's line ending (`\r\n` when its first line ends so), kept when the file is written back. */
  readonly eol: '\n' | '\r\n'
}

/** Reads the file's lines (an absent file is empty when `create`; otherwise an error naming the flag). */
export async function readPasswordFile (path: string, create: boolean, shown: string = path): Promise<PasswordFileLines> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOENT') {
      if (create) return { lines: [], existed: false, eol: '\n' }
      throw new CliError(`${shown} does not exist (use --create to create it)`)
    }
    throw new CliError(`cannot read ${shown} (${code ?? 'error'})`)
  }
  // A file edited on Windows ends its lines with CRLF: the server and Apache's htpasswd -v read it, so do we (the
  // "\r" is not part of the hash), and a rewrite keeps the file's line ending.
  const lines = text.split('\n').map((line) => line.endsWith('\r') ? line.slice(0, -1) : line)
  if (lines[lines.length - 1] === '') lines.pop()
  const eol = /^[^\n]*\r\n/.test(text) ? '\r\n' : '\n'
  return { lines, existed: true, eol }
}

/** The file's text from its lines, each ended with `eol`. */
export function joinLines (lines: readonly string[], eol: '\n' | '\r\n'): string {
  return lines.map((line) => line + eol).join('')
}

/**
 * The file a path names once every symbolic link is followed (also a link whose target does not exist yet, for
 * --create), so that runs given the link and runs given the target lock and write the same file.
 */
export async function resolveTarget (path: string): Promise<string> {
  try {
    return await realpath(path)
  } catch {}
  let current = resolve(path)
  for (let hops = 0; hops < 40; hops++) {
    let link: string
    try {
      link = await readlink(current)
    } catch {
      break // not a link (or absent): this is the file
    }
    current = resolve(dirname(current), link)
  }
  try {
    return join(await realpath(dirname(current)), basename(current))
  } catch {
    return current
  }
}

/**
 * Refuses, before anything is written, a replacement that would change the file's owner or group: the new file
 * (renamed over the old one) belongs to whoever writes it, so a server reading the file through its group would
 * lose it. Root can give both back; anyone else can give back a group they are a member of, never another owner.
 *
 * @throws {CliError} the file belongs to another user, or to a group the caller is not in (exit 1).
 */
export function assertOwnershipKept (info: Stats, shown: string): void {
  const uid = process.getuid?.()
  if (uid === undefined || uid === 0) return
  if (info.uid !== uid) {
    throw new CliError(`${shown} belongs to another user (uid ${info.uid}); rewriting it would make it yours: run this as its owner or as root`)
  }
  const groups = new Set([process.getegid?.(), ...(process.getgroups?.() ?? [])])
  if (!groups.has(info.gid)) {
    throw new CliError(`${shown} belongs to group ${info.gid}, which you are not in; rewriting it would change its group: run this as a member of that group or as root`)
  }
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
 * other's change. Give it the resolved file (`resolveTarget`): a lock named after a symbolic link would not stop a
 * run given the link's target.
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
 * file's mode, owner and group, then renamed over it. A server re-reading the file sees the old or the new content,
 * never half of one. `target` is the resolved file (see `resolveTarget`); `shown` names it in messages. An ACL on
 * the old file is not copied.
 *
 * @throws {CliError} the directory is not writable, or the owner or group cannot be kept (see `assertOwnershipKept`).
 */
export async function writeAtomically (target: string, content: string, shown: string = target): Promise<void> {
  let mode = NEW_FILE_MODE
  let info: Stats | undefined
  try {
    info = await stat(target)
    mode = info.mode & 0o7777
  } catch {}
  if (info !== undefined) assertOwnershipKept(info, shown)
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
    if (info !== undefined) {
      const written = await stat(temp)
      // Root gives back owner and group; anyone else their group (a chown to one's own group needs no privilege).
      if (process.getuid?.() === 0) {
        if (written.uid !== info.uid || written.gid !== info.gid) await chown(temp, info.uid, info.gid)
      } else if (written.gid !== info.gid) {
        await chown(temp, -1, info.gid).catch((err: NodeJS.ErrnoException) => {
          throw new CliError(`cannot keep the group of ${shown} (${err.code ?? 'error'}); the file is unchanged`)
        })
      }
    }
    await chmod(temp, mode) // open() applied the umask, and chown clears set-id bits
    await rename(temp, target)
  } catch (err) {
    await handle?.close().catch(() => {})
    await unlink(temp).catch(() => {})
    throw err instanceof CliError ? err : new CliError(`cannot write ${shown} (${(err as NodeJS.ErrnoException).code ?? 'error'})`)
  }
  // Make the rename itself durable; some file systems refuse to open a directory for this, which is fine.
  try {
    const dirHandle = await open(dir, 'r')
    await dirHandle.sync().finally(async () => { await dirHandle.close() })
  } catch {}
}
