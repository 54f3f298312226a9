import { execFile, spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { needProgram } from './binaries.js'

const run = promisify(execFile)

/** Apache's own password tools (Debian package apache2-utils). Throws in CI when missing. */
export const htpasswdProgram = needProgram('htpasswd', 'apache2-utils')
export const htdigestProgram = needProgram('htdigest', 'apache2-utils')
/** Skip reason for tests needing both tools, or false. */
export const apacheSkip: string | false = htpasswdProgram.skip !== false ? htpasswdProgram.skip : htdigestProgram.skip

/** The format flags of `htpasswd`: `-B` bcrypt, `-m` apr1, `-s` {SHA}, `-d` DES crypt, `-2`/`-5` SHA-crypt, `-p` plain. */
export type HtpasswdFormat = '-B' | '-m' | '-s' | '-d' | '-2' | '-5' | '-p'

/** Low costs so that tests stay fast: bcrypt cost 4, SHA-crypt 1000 rounds (the minimum). */
export const LOW_COST: Readonly<Record<HtpasswdFormat, readonly string[]>> = {
  '-B': ['-C', '4'], '-m': [], '-s': [], '-d': [], '-2': ['-r', '1000'], '-5': ['-r', '1000'], '-p': []
}

/** `htpasswd -b [-c] FORMAT file user password`: adds or changes a user, as an administrator would. */
export async function htpasswd (file: string, user: string, password: string, format: HtpasswdFormat, options: { create?: boolean, extra?: readonly string[] } = {}): Promise<void> {
  if (htpasswdProgram.path === undefined) throw new Error(htpasswdProgram.skip)
  const flags = `-b${options.create === true ? 'c' : ''}`
  await run(htpasswdProgram.path, [flags, format, ...(options.extra ?? LOW_COST[format]), file, user, password])
}

/** `htpasswd -D file user`: removes a user. */
export async function htpasswdDelete (file: string, user: string): Promise<void> {
  if (htpasswdProgram.path === undefined) throw new Error(htpasswdProgram.skip)
  await run(htpasswdProgram.path, ['-D', file, user])
}

/** `htpasswd -vb file user password`: Apache's own verdict (plaintext lines are never accepted on Linux). */
export async function htpasswdVerifies (file: string, user: string, password: string): Promise<boolean> {
  if (htpasswdProgram.path === undefined) throw new Error(htpasswdProgram.skip)
  try {
    await run(htpasswdProgram.path, ['-vb', file, user, password])
    return true
  } catch {
    return false
  }
}

/** `htdigest [-c] file realm user`, the password typed twice on stdin (htdigest has no -b). */
export async function htdigest (file: string, realm: string, user: string, password: string, create = false): Promise<void> {
  const program = htdigestProgram.path
  if (program === undefined) throw new Error(htdigestProgram.skip)
  await new Promise<void>((resolve, reject) => {
    const child = spawn(program, [...(create ? ['-c'] : []), file, realm, user], { stdio: ['pipe', 'ignore', 'pipe'] })
    let stderr = ''
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
    child.on('error', reject)
    child.on('exit', (code) => { code === 0 ? resolve() : reject(new Error(`htdigest exited with ${code}: ${stderr}`)) })
    child.stdin.end(`${password}\n${password}\n`)
  })
}

/** A temporary directory removed in teardown. */
export async function tempDir (t: { teardown (fn: () => Promise<void>): void }, prefix = 'cred-files-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  return dir
}
