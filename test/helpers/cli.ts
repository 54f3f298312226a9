import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Test } from 'tap'
import type { Teardownable } from './private-server.js'

/** The compiled command, as npm installs it (`npm test` builds it first). */
export const CLI = fileURLToPath(new URL('../../dist/lib/cli/main.js', import.meta.url))
export const cliBuilt = existsSync(CLI) ? false : `${CLI} is missing: run npm run build first`

/**
 * A command test file's scratch folder, removed when the file ends; when the command is not built, the file is
 * planned empty with the reason instead.
 */
export async function cliScratchFolder (t: Test): Promise<string> {
  if (cliBuilt !== false) t.plan(0, cliBuilt)
  const dir = await mkdtemp(join(tmpdir(), 'fastify-cred-cli-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  return dir
}

export interface CliRun {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

/** Runs `program args…` to completion, with `input` on its standard input (a pipe, not a terminal). */
export async function runProgram (program: string, args: readonly string[], options: { cwd?: string, env?: NodeJS.ProcessEnv, input?: string } = {}): Promise<CliRun> {
  return await new Promise((resolve, reject) => {
    const child = spawn(program, args, { cwd: options.cwd, env: options.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (s: string) => { stdout += s })
    child.stderr.setEncoding('utf8').on('data', (s: string) => { stderr += s })
    child.once('error', reject)
    child.once('close', (code) => { resolve({ code, stdout, stderr }) })
    child.stdin.end(options.input ?? '')
  })
}

/** Runs `fastify-cred args…` to completion, with `input` on its standard input (a pipe, not a terminal). */
export async function runCommand (args: readonly string[], options: { cwd?: string, env?: NodeJS.ProcessEnv, input?: string } = {}): Promise<CliRun> {
  return await runProgram(process.execPath, [CLI, ...args], options)
}

/**
 * Starts `fastify-cred serve args…` (add `--port 0`), waits for its "serving … at URL/" line, and stops it with
 * SIGTERM in `t.teardown`. Answers the base URL (no trailing slash) and the process's output so far.
 */
export async function startServe (t: Teardownable, args: readonly string[], options: { cwd?: string, env?: NodeJS.ProcessEnv } = {}): Promise<{ url: string, output: () => string, stop: () => Promise<number | null> }> {
  const child = spawn(process.execPath, [CLI, 'serve', ...args], { cwd: options.cwd, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  let exited: Promise<number | null> | undefined
  const exit = new Promise<number | null>((resolve) => { child.once('exit', (code) => { resolve(code) }) })
  const stop = async (): Promise<number | null> => {
    exited ??= (async () => { if (child.exitCode === null) child.kill('SIGTERM'); return await exit })()
    return await exited
  }
  t.teardown(async () => { await stop() })
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error(`serve did not start within 15 s: ${output}`)) }, 15_000)
    const look = (chunk: string): void => {
      output += chunk
      const match = / at (https?:\/\/[^ ]+)\/ \(/.exec(output)
      if (match !== null) { clearTimeout(timer); resolve(match[1] ?? '') }
    }
    child.stdout.setEncoding('utf8').on('data', look)
    child.stderr.setEncoding('utf8').on('data', look)
    void exit.then((code) => { clearTimeout(timer); reject(new Error(`serve exited with ${String(code)}: ${output}`)) })
  })
  return { url, output: () => output, stop }
}
