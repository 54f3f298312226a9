import { accessSync, constants } from 'node:fs'
import { delimiter, join } from 'node:path'

/** Where a program lives on PATH (or in `extraDirs`), or undefined. */
export function which (program: string, extraDirs: readonly string[] = []): string | undefined {
  const dirs = [...extraDirs, ...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/sbin']
  for (const dir of dirs) {
    if (dir === '') continue
    const candidate = join(dir, program)
    try {
      accessSync(candidate, constants.X_OK)
      return candidate
    } catch {}
  }
  return undefined
}

/** CI sets CRED_TEST_REQUIRE_SERVERS=1: a missing program is then a failure, never a skip. */
export const serversRequired = process.env.CRED_TEST_REQUIRE_SERVERS === '1'

/**
 * The program, or a reason to skip naming the Debian package to install. Throws when servers are required.
 *
 * @example
 * const curl = needProgram('curl', 'curl')
 * t.test('logs in with curl', { skip: curl.skip }, async (t) => { ... curl.path ... })
 */
export function needProgram (program: string, debianPackage: string, extraDirs: readonly string[] = []): { path: string, skip: false } | { path: undefined, skip: string } {
  const path = which(program, extraDirs)
  if (path !== undefined) return { path, skip: false }
  const message = `${program} not found: install the Debian package ${debianPackage} (apt-get install ${debianPackage})`
  if (serversRequired) throw new Error(`${message}; CRED_TEST_REQUIRE_SERVERS=1 forbids skipping`)
  return { path: undefined, skip: message }
}
