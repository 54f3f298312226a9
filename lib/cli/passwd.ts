import { createHash } from 'node:crypto'
import { stat } from 'node:fs/promises'
import { parseArgs } from 'node:util'
import { constantTimeEqualStrings } from '../cred/index.js'
import {
  apr1Hasher, bcryptHasher, desCryptHasher, plainHasher, sha1Hasher, sha256CryptHasher, sha512CryptHasher, verifyPassword
} from '../hashers/index.js'
import type { PasswordHasher } from '../hashers/index.js'
import { CliError, EXIT, UsageError } from './errors.js'
import type { CliIo } from './io.js'
import { assertOwnershipKept, findLines, joinLines, readPasswordFile, replaceLine, resolveTarget, withFileLock, writeAtomically } from './password-file.js'
import { readPassword } from './prompt.js'

export const PASSWD_HELP = `Usage: fastify-cred passwd [options] <file> <user>
       fastify-cred passwd --htdigest --realm <realm> [options] <file> <user>

Adds a user to an Apache htpasswd file, or changes the user's password; with --htdigest, the same in an htdigest
file. The password is asked for at a prompt that does not echo, or read from the first line of standard input when
it is not a terminal. The file is replaced atomically (temp file + rename, mode, owner and group kept, CRLF line
endings too; through a symbolic link, its target), so a server reading it never sees half a file. A file whose owner
or group you could not give back (not yours, or a group you are not in) is refused, unchanged: run as root then.
Apache's htpasswd -v (htdigest: the same MD5) accepts what it writes.

Options:
  -c, --create          create the file if it does not exist (new files are mode 0600)
  -D, --delete          remove the user
  -v, --verify          check the user's password (exit 0 when right, 3 when wrong or no such user)
  -i, --stdin           read the password from standard input even from a terminal
htpasswd formats (default bcrypt):
  -B, --bcrypt          bcrypt, written $2y$ as Apache does (--cost 4-31, default 10)
  -C, --cost <n>        bcrypt cost
  -m, --md5             Apache MD5 ($apr1$)
  -2, --sha256          SHA-256-crypt ($5$; --rounds)
  -5, --sha512          SHA-512-crypt ($6$; --rounds)
  -r, --rounds <n>      SHA-crypt rounds (1000 to 999999999, default 5000)
  -s, --sha1            {SHA} (unsalted SHA-1: weak, for old setups only)
  -d, --crypt           DES crypt (weak: only the first 8 characters count)
  -p, --plain           plaintext (Apache's htpasswd -v refuses it on Linux)
htdigest:
  --htdigest            write an htdigest file (user:realm:MD5(user:realm:password))
  --realm <realm>       the realm (required with --htdigest; it must be the server's --realm-name)
  -h, --help            this help

Exit codes: 0 done, 1 failure (file unreadable or unwritable, owner or group not kept), 2 usage error, 3 not verified or no such user,
130 interrupted.`

const FORMAT_FLAGS = ['bcrypt', 'md5', 'sha256', 'sha512', 'sha1', 'crypt', 'plain'] as const
type FormatFlag = typeof FORMAT_FLAGS[number]
const HASHER_OF: Record<FormatFlag, PasswordHasher> = {
  bcrypt: bcryptHasher,
  md5: apr1Hasher,
  sha256: sha256CryptHasher,
  sha512: sha512CryptHasher,
  sha1: sha1Hasher,
  crypt: desCryptHasher,
  plain: plainHasher
}

/**
 * `H(user:realm:password)` as htdigest stores it (hex MD5).
 *
 * @example
 * `alice:staff:${htdigestHa1('alice', 'staff', 'wonderland')}`  // an htdigest line
 */
export function htdigestHa1 (user: string, realm: string, password: string): string {
  return createHash('md5').update(`${user}:${realm}:${password}`, 'utf8').digest('hex')
}

const checkName = (what: string, value: string): void => {
  if (value === '') throw new UsageError(`passwd: the ${what} is empty`)
  if (value.includes(':')) throw new UsageError(`passwd: the ${what} cannot contain ":"`)
  if (/[\r\n]/.test(value)) throw new UsageError(`passwd: the ${what} cannot contain a line break`)
}

const wholeNumber = (value: string | undefined, flag: string, min: number, max: number): number | undefined => {
  if (value === undefined) return undefined
  const n = Number(value)
  if (!/^\d+$/.test(value) || n < min || n > max) throw new UsageError(`passwd: ${flag} takes a whole number from ${min} to ${max}`)
  return n
}

/**
 * `fastify-cred passwd …`: answers the exit code (see `PASSWD_HELP`).
 *
 * @example
 * await passwdCommand(['--create', 'users.htpasswd', 'alice'], io)  // prompts, then writes a bcrypt line
 * @throws {UsageError} a wrong command line; {CliError} a file that cannot be read or written.
 */
export async function passwdCommand (argv: readonly string[], io: CliIo): Promise<number> {
  let parsed
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: {
        create: { type: 'boolean', short: 'c' },
        delete: { type: 'boolean', short: 'D' },
        verify: { type: 'boolean', short: 'v' },
        stdin: { type: 'boolean', short: 'i' },
        bcrypt: { type: 'boolean', short: 'B' },
        cost: { type: 'string', short: 'C' },
        md5: { type: 'boolean', short: 'm' },
        sha256: { type: 'boolean', short: '2' },
        sha512: { type: 'boolean', short: '5' },
        rounds: { type: 'string', short: 'r' },
        sha1: { type: 'boolean', short: 's' },
        crypt: { type: 'boolean', short: 'd' },
        plain: { type: 'boolean', short: 'p' },
        htdigest: { type: 'boolean' },
        realm: { type: 'string' },
        help: { type: 'boolean', short: 'h' }
      }
    })
  } catch (err) {
    throw new UsageError(`passwd: ${(err as Error).message.split('\n')[0] ?? ''} (fastify-cred passwd --help)`)
  }
  const { values, positionals } = parsed
  if (values.help === true) {
    io.stdout.write(PASSWD_HELP + '\n')
    return EXIT.OK
  }
  if (positionals.length !== 2) throw new UsageError('passwd: give a file and a user name (fastify-cred passwd --help)')
  const [file = '', user = ''] = positionals
  checkName('user name', user)
  const formats = FORMAT_FLAGS.filter((f) => values[f] === true)
  if (formats.length > 1) throw new UsageError(`passwd: choose one format (--${formats.join(', --')})`)
  if (values.delete === true && values.verify === true) throw new UsageError('passwd: --delete and --verify do not go together')
  const format: FormatFlag = formats[0] ?? 'bcrypt'
  const cost = wholeNumber(values.cost, '--cost', 4, 31)
  const rounds = wholeNumber(values.rounds, '--rounds', 1000, 999_999_999)
  if (cost !== undefined && format !== 'bcrypt') throw new UsageError('passwd: --cost goes with --bcrypt')
  if (rounds !== undefined && format !== 'sha256' && format !== 'sha512') throw new UsageError('passwd: --rounds goes with --sha256 or --sha512')

  const htdigest = values.htdigest === true
  const realm = values.realm
  if (htdigest) {
    if (realm === undefined) throw new UsageError('passwd: --htdigest needs --realm <realm>')
    checkName('realm', realm)
    if (formats.length > 0 || cost !== undefined || rounds !== undefined) throw new UsageError('passwd: htdigest files hold MD5 only; drop the format flags')
  } else if (realm !== undefined) {
    throw new UsageError('passwd: --realm goes with --htdigest')
  }
  const key = htdigest ? `${user}:${realm ?? ''}` : user
  const fields = htdigest ? 2 : 1
  const forceStdin = values.stdin === true
  const who = htdigest ? `user ${user} in realm ${realm ?? ''}` : `user ${user}`
  // Every run works on the file behind any symbolic link: one given the link and one given the target must take the
  // same lock, or each rewrites the file from a copy without the other's user.
  const target = await resolveTarget(file)

  if (values.verify === true) {
    const { lines } = await readPasswordFile(target, false, file)
    const at = findLines(lines, key, fields)[0]
    const password = await readPassword(io, 'Password: ', forceStdin)
    const line = at === undefined ? undefined : lines[at]
    let ok = false
    if (line !== undefined) {
      const stored = line.slice(key.length + 1)
      ok = htdigest
        ? constantTimeEqualStrings(htdigestHa1(user, realm ?? '', password), stored.toLowerCase())
        : await verifyPassword(password, stored)
    }
    if (!ok) {
      io.stderr.write(`fastify-cred: password verification failed for ${who}\n`)
      return EXIT.NOT_VERIFIED
    }
    io.stderr.write(`fastify-cred: password for ${who} correct\n`)
    return EXIT.OK
  }

  if (values.delete === true) {
    return await withFileLock(target, async () => {
      const { lines, eol } = await readPasswordFile(target, false, file)
      if (!replaceLine(lines, key, fields, undefined)) {
        io.stderr.write(`fastify-cred: ${who} not found in ${file}\n`)
        return EXIT.NOT_VERIFIED
      }
      await writeAtomically(target, joinLines(lines, eol), file)
      io.stderr.write(`fastify-cred: deleted ${who}\n`)
      return EXIT.OK
    })
  }

  // Read the file first: a missing file without --create, or one whose owner or group this run could not keep, fails
  // before anyone types a password.
  const before = await readPasswordFile(target, values.create === true, file)
  if (before.existed) assertOwnershipKept(await stat(target), file)
  const password = await readPassword(io, 'New password: ', forceStdin)
  if (!forceStdin && io.stdin.isTTY === true) {
    const again = await readPassword(io, 'Re-type new password: ', forceStdin)
    if (!constantTimeEqualStrings(password, again)) throw new CliError('the passwords do not match')
  }
  if (/[\r\n]/.test(password)) throw new CliError('a password cannot contain a line break')
  let encoded: string
  if (htdigest) {
    encoded = htdigestHa1(user, realm ?? '', password)
  } else {
    if (format === 'bcrypt' && Buffer.byteLength(password, 'utf8') > 72) {
      throw new CliError('bcrypt uses only the first 72 bytes of a password; choose a shorter one or another format (--sha512)')
    }
    const hasher = HASHER_OF[format]
    if (hasher.hash === undefined) throw new CliError(`the ${hasher.name} format cannot be written`)
    encoded = await hasher.hash(password, { ...(cost === undefined ? {} : { cost }), ...(rounds === undefined ? {} : { rounds }) })
    if (format === 'crypt' && password.length > 8) io.stderr.write('fastify-cred: warning: DES crypt uses only the first 8 characters of the password\n')
  }
  return await withFileLock(target, async () => {
    const { lines, eol } = await readPasswordFile(target, values.create === true, file)
    const existed = replaceLine(lines, key, fields, `${key}:${encoded}`)
    await writeAtomically(target, joinLines(lines, eol), file)
    io.stderr.write(`fastify-cred: ${existed ? 'updated' : 'added'} ${who}\n`)
    return EXIT.OK
  })
}
