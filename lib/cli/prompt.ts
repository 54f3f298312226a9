import { CliError, EXIT } from './errors.js'
import type { CliIo } from './io.js'

/**
 * Reads a password: from a terminal with a prompt that does not echo, otherwise the first line of standard input
 * (so `echo pw | fastify-cred passwd …` and here-documents work).
 *
 * @throws {CliError} Ctrl-C at the prompt (exit 130), end of input before a password.
 */
export async function readPassword (io: CliIo, prompt: string, forceStdin: boolean): Promise<string> {
  if (!forceStdin && io.stdin.isTTY === true && typeof io.stdin.setRawMode === 'function') return await promptHidden(io, prompt)
  return await firstLine(io.stdin)
}

let buffered: Promise<string[]> | undefined

/** Standard input's lines, read once (a second password read takes the second line). */
async function firstLine (stdin: NodeJS.ReadableStream): Promise<string> {
  buffered ??= (async () => {
    let text = ''
    stdin.setEncoding('utf8')
    for await (const chunk of stdin) text += chunk as string
    return text.split(/\r?\n/)
  })()
  const lines = await buffered
  const line = lines.shift()
  if (line === undefined || (line === '' && lines.length === 0)) throw new CliError('no password on standard input')
  return line
}

async function promptHidden (io: CliIo, prompt: string): Promise<string> {
  const stdin = io.stdin
  // Raw mode before the prompt: whatever is typed after the prompt appears is never echoed.
  stdin.setRawMode?.(true)
  io.stderr.write(prompt)
  stdin.setEncoding('utf8')
  stdin.resume()
  try {
    return await new Promise<string>((resolve, reject) => {
      let password = ''
      const onData = (chunk: string): void => {
        for (const c of chunk) {
          if (c === '\r' || c === '\n') { finish(); resolve(password); return }
          if (c === '\u0003') { finish(); reject(new CliError('interrupted', EXIT.INTERRUPTED)); return }
          if (c === '\u0004' && password === '') { finish(); reject(new CliError('no password given')); return }
          if (c === '\u007f' || c === '\b') password = [...password].slice(0, -1).join('')
          else if (c === '\u0015') password = ''
          else password += c
        }
      }
      const finish = (): void => {
        stdin.off('data', onData)
        io.stderr.write('\n')
      }
      stdin.on('data', onData)
    })
  } finally {
    stdin.setRawMode?.(false)
    stdin.pause()
  }
}
