import { realpath, stat } from 'node:fs/promises'
import { isAbsolute, join, normalize, relative, resolve, sep } from 'node:path'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { parseArgString, parseSpec } from '../strcred/index.js'

/**
 * Names `serve --static` never serves, whatever the flags: Apache's `.ht*` (which Apache itself denies) and names of
 * password files (`users.htpasswd`, `staff.htdigest`, `passwd`, `shadow`…), so a store kept beside the site by
 * mistake is not handed to every user who can log in.
 */
const PASSWORD_FILE = /^\.ht|(?:^|[._-])(?:htpasswd|htdigest|htgroup|passwd|shadow|gshadow)$/i

/**
 * Whether one path segment (a file or directory name) may be served.
 *
 * @example
 * servableName('report.txt', false)   // true
 * servableName('.env', false)         // false: a dotfile
 * servableName('.well-known', true)   // true with --static-dotfiles
 * servableName('.htpasswd', true)     // false: never
 * servableName('users.htpasswd', true) // false: never
 * @param name one segment, already decoded.
 * @param allowDotfiles `--static-dotfiles`: serve names starting with "." too.
 */
export function servableName (name: string, allowDotfiles: boolean): boolean {
  if (PASSWORD_FILE.test(name)) return false
  return allowDotfiles || !name.startsWith('.')
}

/** Whether every named segment of a URL path (decoded, `/`-separated) may be served. */
export function servablePath (pathname: string, allowDotfiles: boolean): boolean {
  for (const segment of pathname.split(/[/\\]/)) {
    if (segment === '' || segment === '.' || segment === '..') continue
    if (!servableName(segment, allowDotfiles)) return false
  }
  return true
}

/**
 * The files a spec names: its argument and every option value that resolve (against `cwd`) to an existing file.
 * Generic on purpose: `file:`/`htdigest:` paths, a Django SQLite database, `password-file=`, `ca=`, and whatever a
 * third-party type takes, without knowing the type.
 *
 * @example
 * await filesNamedBySpecs(['file:users.htpasswd;cache=30s'], '/srv/site')  // ['/srv/site/users.htpasswd']
 */
export async function filesNamedBySpecs (specs: readonly string[], cwd: string): Promise<string[]> {
  const candidates: string[] = []
  for (const spec of specs) {
    let values: string[]
    try {
      const { argument, options } = parseArgString(parseSpec(spec).argString)
      values = [argument, ...options.map(([, value]) => value)]
    } catch {
      continue // a spec that cannot be parsed made no checker either: serve has already refused to start
    }
    for (const value of values) if (value !== '') candidates.push(resolve(cwd, value))
  }
  const files: string[] = []
  for (const candidate of candidates) {
    const info = await stat(candidate).catch(() => undefined)
    if (info?.isFile() === true) files.push(candidate)
  }
  return files
}

/** What `staticGuard` needs. */
export interface StaticGuardOptions {
  /** The `--static` directory (absolute). */
  readonly root: string
  /** `--static-dotfiles`. */
  readonly allowDotfiles: boolean
  /** Files never served, wherever they are (the `--auth` files, the TLS key): compared by device and inode. */
  readonly protectedFiles: readonly string[]
}

/** The two checks `serve --static` adds to `@fastify/static`. */
export interface StaticGuard {
  /** For `@fastify/static`'s `allowedPath`: the name rules on the exact path it is about to serve. */
  allowedPath: (pathname: string) => boolean
  /**
   * A `preHandler` hook (after the login): answers 404 when the file (or the directory's `index.html`) is a symlink
   * leading outside the root, resolves to a denied name, or is one of the protected files (also through a hard link).
   */
  preHandler: (request: FastifyRequest, reply: FastifyReply) => Promise<FastifyReply | undefined>
}

/**
 * The guard `serve --static` puts around `@fastify/static` (which by itself serves dotfiles and follows symlinks
 * anywhere). Denied files answer 404, as a missing one does, so that their existence is not revealed.
 *
 * @example
 * const guard = await staticGuard({ root: '/srv/site', allowDotfiles: false, protectedFiles: ['/srv/site/users.htpasswd'] })
 * await app.register(async (scope) => {
 *   scope.addHook('preHandler', guard.preHandler)
 *   await scope.register(fastifyStatic, { root: '/srv/site', allowedPath: guard.allowedPath, dotfiles: 'ignore' })
 * })
 * @throws {Error} the root cannot be resolved (ENOENT…).
 */
export async function staticGuard (options: StaticGuardOptions): Promise<StaticGuard> {
  const realRoot = await realpath(options.root)
  const { allowDotfiles, protectedFiles } = options

  const inside = (real: string): string | undefined => {
    const rel = relative(realRoot, real)
    return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel)) ? rel : undefined
  }

  /** Whether the file at `path` (if it exists) may be served. */
  const servableFile = async (path: string): Promise<boolean> => {
    const real = await realpath(path).catch(() => undefined)
    if (real === undefined) return true // absent: @fastify/static answers 404 itself
    const rel = inside(real)
    if (rel === undefined || !servablePath(rel, allowDotfiles)) return false
    const info = await stat(real).catch(() => undefined)
    if (info === undefined) return true
    // Stat the protected files now, not at start-up: `fastify-cred passwd` replaces a file (a new inode) on each edit.
    const guarded = await Promise.all(protectedFiles.map(async (file) => await stat(file).catch(() => undefined)))
    return !guarded.some((g) => g !== undefined && g.dev === info.dev && g.ino === info.ino)
  }

  return {
    allowedPath: (pathname) => servablePath(pathname, allowDotfiles),
    async preHandler (request, reply) {
      const url = request.raw.url ?? '/'
      // Only origin-form targets are served; anything else is refused rather than resolved differently from the plugin.
      if (!url.startsWith('/')) { reply.callNotFound(); return reply }
      const query = url.indexOf('?')
      let pathname: string
      try {
        pathname = decodeURI(query === -1 ? url : url.slice(0, query))
      } catch {
        return undefined // @fastify/static answers 404 for a path it cannot decode
      }
      // The same path @fastify/send opens: normalised under the root (it refuses what climbs out with 403 itself).
      const file = normalize(join(options.root, normalize('.' + sep + pathname)))
      const candidates = pathname.endsWith('/') ? [file, join(file, 'index.html')] : [file]
      for (const candidate of candidates) {
        if (!await servableFile(candidate)) { reply.callNotFound(); return reply }
      }
      return undefined
    }
  }
}
