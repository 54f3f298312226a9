import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { needProgram } from './binaries.js'

const run = promisify(execFile)

export const curl = needProgram('curl', 'curl')

export interface CurlResult {
  /** The last response's status. */
  readonly status: number
  /** The last response's body. */
  readonly body: string
  /** Every response's header block, in order (Digest takes two round trips). */
  readonly headers: string
}

/** Runs the real curl with `args` against `urls`; fails the promise only when curl itself cannot run. */
export async function curlRequest (args: readonly string[], ...urls: string[]): Promise<CurlResult> {
  if (curl.path === undefined) throw new Error(curl.skip)
  const dir = await mkdtemp(join(tmpdir(), 'cred-curl-'))
  try {
    const headerFile = join(dir, 'headers')
    const marker = '\n--status:'
    const { stdout } = await run(curl.path, ['-sS', '-D', headerFile, ...args, '-w', `${marker}%{http_code}`, ...urls], { encoding: 'utf8' })
    const at = stdout.lastIndexOf(marker)
    return { status: Number(stdout.slice(at + marker.length)), body: stdout.slice(0, at), headers: await readFile(headerFile, 'utf8') }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}
