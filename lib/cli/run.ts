import { CredError, InvalidOption } from '../cred/index.js'
import { authHelpText, authTypeHelpText, pluginDirsFromEnvironment } from '../strcred/index.js'
import { CliError, EXIT, UsageError } from './errors.js'
import { inFlagTerms, isSystemError } from './flag-terms.js'
import type { CliIo } from './io.js'
import { APIKEY_HELP, apikeyCommand } from './apikey.js'
import { PASSWD_HELP, passwdCommand } from './passwd.js'
import { SERVE_HELP, serveCommand } from './serve.js'

export const MAIN_HELP = `Usage: fastify-cred <command> [options]

Commands:
  serve --auth <spec>…    put a login (Basic/Digest/Bearer) in front of /whoami, a directory (--static) or a service (--upstream)
  passwd <file> <user>    add, change, delete (--delete) or check (--verify) a user in an htpasswd or htdigest file
  apikey create|revoke|list <file> …   make (printed once), revoke or list API keys for the apikey: auth type

Options:
  --help-auth               list the auth types (where users live) and their spec formats
  --help-auth-type <type>   help for one auth type
  -h, --help                this help; fastify-cred <command> --help for a command's

Exit codes: 0 done, 1 failure, 2 usage error (bad option or --auth spec), 3 passwd: not verified or no such user
(apikey revoke: no such key),
130 interrupted.`

/**
 * Runs the `fastify-cred` command with `argv` (without node and the script) and answers its exit code. Errors are
 * reported on `io.stderr` as one line, never a stack trace.
 *
 * @example
 * process.exitCode = await runCli(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr,
 *   stdin: process.stdin, env: process.env, cwd: process.cwd() })
 */
export async function runCli (argv: readonly string[], io: CliIo): Promise<number> {
  try {
    return await dispatch(argv, io)
  } catch (err) {
    io.stderr.write(`fastify-cred: ${describe(err)}\n`)
    return exitCodeOf(err)
  }
}

async function dispatch (argv: readonly string[], io: CliIo): Promise<number> {
  const [command, ...rest] = argv
  switch (command) {
    case 'serve': return await serveCommand(rest, io)
    case 'passwd': return await passwdCommand(rest, io)
    case 'apikey': return await apikeyCommand(rest, io)
    case undefined:
      io.stderr.write(MAIN_HELP + '\n')
      return EXIT.USAGE
    case '-h': case '--help': case 'help':
      io.stdout.write(MAIN_HELP + '\n' + (rest[0] === 'serve' ? '\n' + SERVE_HELP + '\n' : rest[0] === 'passwd' ? '\n' + PASSWD_HELP + '\n' : rest[0] === 'apikey' ? '\n' + APIKEY_HELP + '\n' : ''))
      return EXIT.OK
    case '--help-auth':
      if (rest.length > 0) throw new UsageError('--help-auth takes no argument')
      io.stdout.write(await authHelpText({ pluginDirs: pluginDirsFromEnvironment(io.env, io.cwd) }))
      return EXIT.OK
    case '--help-auth-type': {
      const type = rest[0]
      if (type === undefined || rest.length > 1) throw new UsageError('--help-auth-type takes one auth type (see --help-auth)')
      io.stdout.write(await authTypeHelpText(type, { pluginDirs: pluginDirsFromEnvironment(io.env, io.cwd) }))
      return EXIT.OK
    }
    default: {
      if (command.startsWith('--help-auth-type=')) return await dispatch(['--help-auth-type', command.slice('--help-auth-type='.length)], io)
      const shown = /^[A-Za-z-]{1,40}$/.test(command) ? ` "${command}"` : ''
      throw new UsageError(`unknown command${shown}; the commands are serve, passwd and apikey (fastify-cred --help)`)
    }
  }
}

function describe (err: unknown): string {
  if (err instanceof CliError || err instanceof CredError) return inFlagTerms(err.message)
  // Anything else is a bug or an environment problem: one line, no stack (FASTIFY_CRED_DEBUG=1 shows it).
  if (process.env.FASTIFY_CRED_DEBUG === '1' && err instanceof Error) return String(err.stack)
  const message = err instanceof Error ? err.message.split('\n')[0] : String(err)
  return `unexpected error: ${message ?? ''}`
}

function exitCodeOf (err: unknown): number {
  if (err instanceof CliError) return err.exitCode
  // A spec or an option the plugin refused is a usage mistake; a missing package, an unreachable store, or a file the
  // system would not give (an --auth file that is absent or unreadable) is not.
  return err instanceof InvalidOption && !isSystemError(err) ? EXIT.USAGE : EXIT.FAILURE
}
