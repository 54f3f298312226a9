import { readFileSync, statSync } from 'node:fs'
import type { BigIntStats } from 'node:fs'
import { readFile, stat } from 'node:fs/promises'
import { createHash, hash } from 'node:crypto'
import { StringDecoder } from 'node:string_decoder'
import { InvalidOption } from '../cred/index.js'

/** What a file's parser answers: the parsed contents and warnings, or the first line it could not read. */
export type ParseOutcome<T> =
  | { readonly ok: true, readonly value: T, readonly warnings: readonly string[] }
  | { readonly ok: false, readonly line: number, readonly problem: string }

/**
 * A file's parser: a plain function, or a generator that yields between slices of lines. A reload runs a generator
 * one slice per event-loop turn, so that a file of hundreds of thousands of users never stalls the server while it
 * is parsed; the first load, at set-up, runs it straight through.
 */
export type FileParser<T> = (text: string) => ParseOutcome<T> | Generator<void, ParseOutcome<T>, void>

/** How many lines a generator parser reads between two yields (about a millisecond of work). */
export const LINES_PER_SLICE = 2000

/**
 * The lines of a text file as Apache's configuration reader (`ap_cfg_getline`, used by `mod_authn_file` and
 * `mod_auth_digest`) gives them: numbered from 1, each without its line end and with leading and trailing white
 * space removed, so that ` # a comment` is a comment and ` alice:…` is user `alice`.
 */
export function * apacheLines (text: string): Generator<{ readonly number: number, readonly line: string }, void, void> {
  let number = 0
  for (let start = 0; start <= text.length;) {
    let end = text.indexOf('\n', start)
    if (end < 0) end = text.length
    number++
    yield { number, line: text.slice(start, end).replace(APACHE_SPACE, '') }
    start = end + 1
  }
}

/** C's `isspace` in the C locale, as Apache trims: not the Unicode spaces `String.prototype.trim` also removes. */
const APACHE_SPACE = /^[\t\n\v\f\r ]+|[\t\n\v\f\r ]+$/g

/** Runs a parser's outcome to its end now. @internal */
export function parseNow<T> (outcome: ReturnType<FileParser<T>>): ParseOutcome<T> {
  if (!isGenerator(outcome)) return outcome
  for (;;) {
    const step = outcome.next()
    if (step.done === true) return step.value
  }
}

/** Runs a parser's outcome one slice per event-loop turn (`setImmediate` between slices: I/O and timers run). */
async function parseSliced<T> (outcome: ReturnType<FileParser<T>>): Promise<ParseOutcome<T>> {
  if (!isGenerator(outcome)) return outcome
  for (;;) {
    const step = outcome.next()
    if (step.done === true) return step.value
    await nextTurn()
  }
}

const isGenerator = <T>(outcome: ReturnType<FileParser<T>>): outcome is Generator<void, ParseOutcome<T>, void> =>
  typeof (outcome as Partial<Generator>).next === 'function'

/** Options every file-backed checker takes. */
export interface WatchedFileOptions {
  /**
   * How often, at most, the file is looked at for changes, in milliseconds: a login older than this since the last
   * look waits for one `stat` (and a read when the file changed). `0` looks at every login. Default 1000.
   */
  checkInterval?: number
  /**
   * Where warnings go: a line that cannot be read (the last good copy stays in service), a file that vanished, a
   * user listed twice. Messages name the file and the line number, never a password or a hash. Default:
   * `process.emitWarning`. With Fastify, pass `(message) => app.log.warn(message)`.
   */
  onWarning?: (message: string) => void
}

/**
 * A checker whose users can change while it runs (a file it reloads). `CachingChecker` listens, and forgets every
 * verified password when the users change.
 */
export interface ReloadingChecker {
  /** Calls `listener` after each reload that changed the users. Answers a function that stops the calls. */
  onReload (listener: () => void): () => void
  /**
   * Looks for changes now when the last look is older than the checker's `checkInterval`: a promise that settles
   * (never rejects) once the look is done, or `undefined` when no look is due.
   */
  refreshIfDue (): Promise<void> | undefined
}

/** Files changed within this window of their last read may have changed again unseen: their content is compared. */
const RACY_WINDOW_NS = 2_000_000_000n

const signatureOf = (s: BigIntStats): string => `${s.dev}:${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`
const contentHash = (bytes: Buffer): string => hash('sha256', bytes, 'base64')
const nextTurn = async (): Promise<void> => { await new Promise<void>((resolve) => { setImmediate(resolve) }) }

/** Bytes hashed and decoded per event-loop turn on a reload (a few milliseconds of work). */
const BYTES_PER_SLICE = 1 << 20

/** The SHA-256 of a file's bytes and their UTF-8 text, computed one slice per event-loop turn. */
async function digestAndDecode (bytes: Buffer): Promise<{ digest: string, text: string }> {
  const digest = createHash('sha256')
  const decoder = new StringDecoder('utf8')
  let text = ''
  for (let offset = 0; offset < bytes.length; offset += BYTES_PER_SLICE) {
    if (offset > 0) await nextTurn()
    const slice = bytes.subarray(offset, offset + BYTES_PER_SLICE)
    digest.update(slice)
    text += decoder.write(slice)
  }
  return { digest: digest.digest('base64'), text: text + decoder.end() }
}

/**
 * A text file parsed into `T`, reloaded when it changes. Two rules:
 * - A change is noticed from device, inode, size, mtime and ctime (nanoseconds), and, while the file was modified
 *   less than 2 s before it was last read, from a hash of its content: an edit in the same clock tick as the
 *   previous one (same size, same timestamps on a coarse file system) is still seen. Twisted compares mtime alone.
 * - A file that becomes unreadable or malformed keeps the last good copy in service, with a warning naming the
 *   line; a file missing or malformed at start-up is an `InvalidOption`.
 *
 * The first load is synchronous, in the constructor, at set-up time, so that a checker can be built with `new`,
 * handed to the plugin and asked `setupProblems` at once; every later look uses `fs.promises`, and a generator
 * parser is run one slice of lines per event-loop turn.
 */
export class WatchedFile<T> {
  readonly path: string
  readonly #what: string
  readonly #parse: FileParser<T>
  readonly #checkInterval: number
  readonly #warn: (message: string) => void
  readonly #listeners = new Set<() => void>()
  #value: T
  #signature: string
  #contentHash: string
  #racy: boolean
  #lastCheck: number
  #checking: Promise<void> | undefined
  #lastWarning: string | undefined
  #closed = false

  /**
   * @param what the checker's name for messages (`'HtpasswdChecker'`)
   * @throws InvalidOption when the file cannot be read or parsed
   */
  constructor (what: string, path: string, parse: FileParser<T>, options: WatchedFileOptions = {}) {
    if (typeof path !== 'string' || path === '') throw new InvalidOption(`${what}: the path of the file is required`)
    const checkInterval = options.checkInterval ?? 1000
    if (typeof checkInterval !== 'number' || !(checkInterval >= 0)) throw new InvalidOption(`${what}: checkInterval must be a number of milliseconds ≥ 0`)
    if (options.onWarning !== undefined && typeof options.onWarning !== 'function') throw new InvalidOption(`${what}: onWarning must be a function`)
    this.path = path
    this.#what = what
    this.#parse = parse
    this.#checkInterval = checkInterval
    this.#warn = options.onWarning ?? ((message) => { process.emitWarning(message, { code: 'FASTIFY_CRED_FILE' }) })
    let bytes: Buffer
    let stats: BigIntStats
    const wallAt = BigInt(Date.now()) * 1_000_000n
    try {
      stats = statSync(path, { bigint: true })
      bytes = readFileSync(path)
    } catch (err) {
      throw new InvalidOption(`${what}: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? String(err)})`, { cause: err })
    }
    const outcome = parseNow(parse(bytes.toString('utf8')))
    if (!outcome.ok) throw new InvalidOption(`${what}: ${path} line ${outcome.line}: ${outcome.problem}`)
    for (const warning of outcome.warnings) this.#warn(`${what}: ${path} ${warning}`)
    this.#value = outcome.value
    this.#signature = signatureOf(stats)
    this.#contentHash = contentHash(bytes)
    this.#racy = wallAt - stats.mtimeNs < RACY_WINDOW_NS
    this.#lastCheck = Date.now()
  }

  /** What the file holds now (the last good copy). */
  get value (): T { return this.#value }

  onReload (listener: () => void): () => void {
    this.#listeners.add(listener)
    return () => { this.#listeners.delete(listener) }
  }

  refreshIfDue (): Promise<void> | undefined {
    if (this.#closed) return undefined
    if (this.#checking !== undefined) return this.#checking
    if (Date.now() - this.#lastCheck < this.#checkInterval) return undefined
    return this.refresh()
  }

  /** Forgets the reload listeners; the file is never looked at again (`refreshIfDue` answers `undefined`). */
  close (): void {
    this.#closed = true
    this.#listeners.clear()
  }

  /** Looks at the file now (one look at a time); settles once done, never rejects. */
  refresh (): Promise<void> {
    this.#checking ??= this.#look().finally(() => {
      this.#lastCheck = Date.now()
      this.#checking = undefined
    })
    return this.#checking
  }

  async #look (): Promise<void> {
    try {
      const wallAt = BigInt(Date.now()) * 1_000_000n
      const before = await stat(this.path, { bigint: true })
      const signature = signatureOf(before)
      if (signature === this.#signature && !this.#racy) return
      // Read as bytes, then hashed and decoded in slices: a file of hundreds of thousands of users is megabytes.
      const { digest, text } = await digestAndDecode(await readFile(this.path))
      this.#signature = signature
      this.#racy = wallAt - before.mtimeNs < RACY_WINDOW_NS
      if (digest === this.#contentHash) {
        this.#lastWarning = undefined
        return
      }
      const outcome = await parseSliced(this.#parse(text))
      if (!outcome.ok) {
        // Forget the signature so that the next look reads again (the editor may still be writing).
        this.#signature = ''
        this.#warnOnce(`${this.#what}: ${this.path} line ${outcome.line}: ${outcome.problem}; still serving the last good copy`)
        return
      }
      this.#lastWarning = undefined
      for (const warning of outcome.warnings) this.#warn(`${this.#what}: ${this.path} ${warning}`)
      this.#value = outcome.value
      this.#contentHash = digest
      for (const listener of this.#listeners) {
        try {
          listener()
        } catch (err) {
          this.#warn(`${this.#what}: a reload listener failed: ${err instanceof Error ? err.message : String(err)}`)
        }
      }
    } catch (err) {
      this.#signature = ''
      this.#warnOnce(`${this.#what}: cannot read ${this.path} (${(err as NodeJS.ErrnoException).code ?? String(err)}); still serving the last good copy`)
    }
  }

  /** A broken file is looked at every `checkInterval`: say so once, not every second. */
  #warnOnce (message: string): void {
    if (message === this.#lastWarning) return
    this.#lastWarning = message
    this.#warn(message)
  }
}
