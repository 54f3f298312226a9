import { parseArgs } from 'node:util'
import { apiKeyPrefix, formatApiKeyLine, isApiKeyPrefix, newApiKey, parseApiKeyFile } from '../checkers/api-key.js'
import type { ApiKeyEntry } from '../checkers/api-key.js'
import { CliError, EXIT, UsageError } from './errors.js'
import type { CliIo } from './io.js'
import { joinLines, readPasswordFile, replaceLine, resolveTarget, withFileLock, writeAtomically } from './password-file.js'

export const APIKEY_HELP = `Usage: fastify-cred apikey create <file> <avatar-id>
       fastify-cred apikey revoke <file> <prefix or key>
       fastify-cred apikey list <file>

Manages a file of API keys for the apikey: auth type (serve --scheme bearer --auth apikey:<file>).
  create  makes a new key for <avatar-id> and prints it on standard output, once: the file keeps only the key's
          public prefix (fck_ and 12 characters, which names the key in logs), its SHA-256 and the avatar id.
          The file is created (mode 0600) when it does not exist.
  revoke  removes the key's line: a server reading the file refuses the key from its next look at the file
          (within its check-interval, 1s by default), without a restart.
  list    prints each key's prefix and avatar id (never a key: the file holds none).
The file is replaced atomically (temp file + rename, mode, owner and group kept), as passwd does.

Exit codes: 0 done, 1 failure (file unreadable or unwritable), 2 usage error, 3 revoke: no such key.`

/**
 * `fastify-cred apikey …`: answers the exit code (see `APIKEY_HELP`).
 *
 * @example
 * await apikeyCommand(['create', 'api-keys', 'alice'], io)  // prints fck_…, adds its hash to api-keys
 * @throws {UsageError} a wrong command line; {CliError} a file that cannot be read or written.
 */
export async function apikeyCommand (argv: readonly string[], io: CliIo): Promise<number> {
  let parsed
  try {
    parsed = parseArgs({ args: [...argv], allowPositionals: true, options: { help: { type: 'boolean', short: 'h' } } })
  } catch (err) {
    throw new UsageError(`apikey: ${(err as Error).message.split('\n')[0] ?? ''} (fastify-cred apikey --help)`)
  }
  if (parsed.values.help === true) {
    io.stdout.write(APIKEY_HELP + '\n')
    return EXIT.OK
  }
  const [action, file, subject, ...extra] = parsed.positionals
  if (file === undefined || file === '') throw new UsageError('apikey: give create, revoke or list, and a file (fastify-cred apikey --help)')
  const target = await resolveTarget(file)
  switch (action) {
    case 'create': {
      if (subject === undefined || extra.length > 0) throw new UsageError('apikey create: give a file and one avatar id')
      if (subject === '' || /[\r\n]/.test(subject)) throw new UsageError('apikey create: the avatar id is empty or holds a line break')
      const { key, prefix, sha256 } = newApiKey()
      await withFileLock(target, async () => {
        const { lines, eol } = await readPasswordFile(target, true, file)
        check(lines, eol, file)
        lines.push(formatApiKeyLine(prefix, sha256, subject))
        await writeAtomically(target, joinLines(lines, eol), file)
      })
      io.stdout.write(key + '\n')
      io.stderr.write(`fastify-cred: created key ${prefix} for ${JSON.stringify(subject)}; it is shown this once\n`)
      return EXIT.OK
    }
    case 'revoke': {
      if (subject === undefined || extra.length > 0) throw new UsageError('apikey revoke: give a file and a key prefix (or the key)')
      // The key itself is accepted too (revoking a leaked key one holds), but never printed.
      const prefix = isApiKeyPrefix(subject) ? subject : apiKeyPrefix(subject)
      if (prefix === undefined) throw new UsageError('apikey revoke: that is neither a key prefix (fck_ and 12 characters) nor a key')
      return await withFileLock(target, async () => {
        const { lines, eol } = await readPasswordFile(target, false, file)
        if (!replaceLine(lines, prefix, 1, undefined)) {
          io.stderr.write(`fastify-cred: no key ${prefix} in ${file}\n`)
          return EXIT.NOT_VERIFIED
        }
        await writeAtomically(target, joinLines(lines, eol), file)
        io.stderr.write(`fastify-cred: revoked key ${prefix}\n`)
        return EXIT.OK
      })
    }
    case 'list': {
      if (subject !== undefined) throw new UsageError('apikey list: give only the file')
      const { lines, eol } = await readPasswordFile(target, false, file)
      const entries = check(lines, eol, file)
      for (const entry of entries.values()) io.stdout.write(`${entry.prefix}  ${entry.avatarId}\n`)
      return EXIT.OK
    }
    default:
      throw new UsageError('apikey: the actions are create, revoke and list (fastify-cred apikey --help)')
  }
}

/** The file's keys; a file the checker could not read is not written to. */
function check (lines: readonly string[], eol: '\n' | '\r\n', shown: string): ReadonlyMap<string, ApiKeyEntry> {
  const outcome = parseApiKeyFile(joinLines(lines, eol))
  if (!outcome.ok) throw new CliError(`${shown} line ${outcome.line}: ${outcome.problem}`)
  return outcome.value
}
