/**
 * The plugin and the checkers explain set-up mistakes in their options' words (`digest: { algorithms: ['MD5'] }`,
 * `authenticationRealm`, `HtdigestChecker(path)`): right for a program that wrote those options, foreign to someone
 * who typed `fastify-cred serve …`. The command says the same in its flags' words. Each rewrite is tested against the
 * message the library really raises (test/cli/messages.test.ts), so a reworded library message shows up there.
 */

/** A value as it would be typed after a flag: as it is when the shell leaves it alone, otherwise single-quoted. */
function asTyped (value: string): string {
  return /^[\w./@%+=,-]+$/.test(value) ? value : `'${value.replaceAll("'", "'\\''")}'`
}

const REWRITES: ReadonlyArray<readonly [RegExp, (...groups: string[]) => string]> = [
  // `fastify-cred:` is the command's own prefix, written once by runCli.
  [/^(?:fastify-cred: ?)+/, () => ''],
  [/digest: \{ algorithms: \[([^\]]*)\] \}/g, (_m, list = '') =>
    list.split(',').map((a) => `--digest-algorithm ${a.trim().replace(/^'|'$/g, '')}`).join(' ')],
  [/its realm is ("(?:[^"\\]|\\.)*"): set authenticationRealm to it/g, (_m, quoted = '""') =>
    `its realm is ${quoted}: give --realm-name ${asTyped(JSON.parse(quoted) as string)}`],
  [/its realms are (.*?): set authenticationRealm to it/g, (_m, list = '') => `its realms are ${list}: give one of them with --realm-name`],
  [/\bauthenticationRealm\b/g, () => '--realm-name'],
  [/\bHtdigestChecker\(([^)]*)\)/g, (_m, path = '') => `--auth htdigest:${path}`],
  [/\bHtpasswdChecker\(([^)]*)\)/g, (_m, path = '') => `--auth file:${path}`],
  [/^Two checkers handle (\w+): (\w+) and (\w+); .*$/, (_m, kind = '', first = '', second = '') =>
    `two --auth specs check the same kind of credentials (${kind}: ${first} and ${second}), and only one would be asked: give one --auth per kind`],
  // After "--auth …: " the checker's class name says nothing more.
  [/(--auth[^:]*: )[A-Z]\w*Checker: /g, (_m, flag = '') => flag]
]

/**
 * `message` in the command's terms: flags for the library's option names, and without a `fastify-cred:` prefix of
 * its own.
 *
 * @example
 * inFlagTerms("fastify-cred: HtdigestChecker(u.htdigest): its HA1s are MD5 and cannot verify Digest SHA-256; offer only MD5 (digest: { algorithms: ['MD5'] })")
 * // "--auth htdigest:u.htdigest: its HA1s are MD5 and cannot verify Digest SHA-256; offer only MD5 (--digest-algorithm MD5)"
 */
export function inFlagTerms (message: string): string {
  let out = message
  for (const [pattern, replace] of REWRITES) out = out.replace(pattern, (...m: unknown[]) => replace(...m.filter((g): g is string => typeof g === 'string')))
  return out
}

/**
 * Whether the error (or one of its causes) is the operating system refusing a file or a connection: a failure while
 * running (exit 1), not a mistake on the command line, even when a layer below reported it as a bad option.
 */
export function isSystemError (err: unknown): boolean {
  for (let current = err, depth = 0; current instanceof Error && depth < 8; current = current.cause, depth++) {
    const { code, syscall } = current as NodeJS.ErrnoException
    if (typeof code === 'string' && typeof syscall === 'string') return true
  }
  return false
}
