import { readFile, stat } from 'node:fs/promises'
import { resolve } from 'node:path'
import { parseArgs } from 'node:util'
import type { FastifyInstance, FastifyReply } from 'fastify'
import { InvalidOption, SimpleRealm, defineInterface } from '../cred/index.js'
import { optionalPeer } from '../drivers/index.js'
import type { AvatarId, DigestAlgorithm } from '../cred/index.js'
import { cred } from '../fastify/index.js'
import { parseBasic, parseBearer, parseDigest } from '../http/index.js'
import { apiKeyPrefix } from '../checkers/api-key.js'
import type { SchemeName } from '../http/index.js'
import {
  authHelpText, authTypeHelpText, checkersFromEnvironment, closeCheckers, parseAuthEnvironment, parseSpec, pluginDirsFromEnvironment, resolveCheckers
} from '../strcred/index.js'
import { MemoryThrottle, RedisThrottle } from '../throttle/index.js'
import { CliError, EXIT, UsageError } from './errors.js'
import type { CliIo } from './io.js'
import { filesNamedBySpecs, staticGuard } from './static-files.js'

export const SERVE_HELP = `Usage: fastify-cred serve --auth <spec> [--auth <spec>…] [options]

Puts a login (HTTP Basic, Digest and/or Bearer) in front of a small app, a directory of files, or another HTTP service.

Options:
  --auth <spec>             where users live, e.g. file:/etc/app/users.htpasswd (repeatable; see --help-auth).
                            Without --auth, the specs in CRED_AUTH are used.
  --auth-plugins <dir>      also look for third-party auth types in this node_modules folder (repeatable; also
                            CRED_AUTH_PLUGINS). Without it, only where Node resolves fastify-cred's own dependencies;
                            a package is loaded only when a spec names its type
  --port <n>                port to listen on (default 8080; 0 picks a free one)
  --host <address>          address to listen on (default 127.0.0.1)
  --scheme <basic|digest|bearer>  schemes offered, in this order (repeatable; default basic); bearer takes
                            tokens from the Authorization header only (jwt: and apikey: auth types)
  --digest-algorithm <alg>  Digest algorithms offered, in this order (repeatable; default SHA-256 then MD5)
  --realm-name <name>       the protection space shown to users (default fastify-cred)
  --static <dir>            serve this directory (needs @fastify/static); never dotfiles, .ht* or password files,
                            the --auth and --tls-key files, nor symlinks leading out of it
  --static-dotfiles         with --static: serve names starting with "." too (.well-known…; never .ht*)
  --upstream <url>          proxy every request to this service (needs @fastify/http-proxy)
  --avatar-header <name>    with --upstream: the request header carrying the user name (default X-Forwarded-User);
                            the same header coming from clients is always removed
  --tls-cert <file>         serve HTTPS with this PEM certificate (chain) …
  --tls-key <file>          … and this PEM private key
  --throttle <how>          brute-force throttling: memory (default: per process), off, or a redis:// URL (shared by
                            every instance using that Redis; refuses logins with 503 while it is down)
  --throttle-fail-open      with a redis:// --throttle: let logins through while Redis is down instead
  --trust-proxy <list>      Fastify's trustProxy: the proxies (addresses or CIDRs, comma-separated) whose
                            X-Forwarded-For names the client; without it the client is the TCP peer
  --log                     log each request (JSON lines on stdout; a login's line names its user, never a password)
  --help-auth               list the auth types
  --help-auth-type <type>   help for one auth type
  -h, --help                this help

Without --static or --upstream it serves GET /whoami, answering {"avatarId": "<user>"}.
The user name reaches the upstream percent-encoded where it is not printable ASCII (and "%" as %25).`

/** The avatar of the command's realm: who logged in (null for anonymous). */
export interface ServeAvatar { readonly avatarId: string | null }
/** The avatar interface the command's realm serves. */
export const IServeAvatar = defineInterface<ServeAvatar>('IServeAvatar')

/**
 * The avatar id as a header value: printable ASCII stays as it is, `%` and every other byte of its UTF-8 form are
 * percent-encoded (so `decodeURIComponent` gives the id back, and no id can smuggle a line break into a header).
 *
 * @example
 * encodeAvatarHeader('alice@example.com')  // 'alice@example.com'
 * encodeAvatarHeader('josé')               // 'jos%C3%A9'
 */
export function encodeAvatarHeader (avatarId: string): string {
  let out = ''
  for (const byte of Buffer.from(avatarId, 'utf8')) {
    out += byte > 0x20 && byte < 0x7f && byte !== 0x25 ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`
  }
  return out
}

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/
const ALGORITHMS = new Set(['MD5', 'MD5-SESS', 'SHA-256', 'SHA-256-SESS', 'SHA-512-256', 'SHA-512-256-SESS'])

// The command's optional dependencies, imported only for --static and --upstream; missing, they are named.
const loadStatic = optionalPeer('@fastify/static', 'serve --static', async () => await import('@fastify/static'))
const loadProxy = optionalPeer('@fastify/http-proxy', 'serve --upstream', async () => await import('@fastify/http-proxy'))

const avatarIdOf = (id: AvatarId | null | undefined): string | null => typeof id === 'string' ? id : null

/** What a `--log` line says about a login: who, and whether they got in. */
export interface LoginLogFields {
  readonly login: 'accepted' | 'refused'
  /** The user name logged in, or the one a refused request gave. */
  readonly user?: string
  /** Digest `userhash=true`: the hash the client sent instead of a refused user's name. */
  readonly userhash?: string
  /** A refused API key's public prefix (never the key). */
  readonly keyPrefix?: string
}

/**
 * The login fields of a `--log` line: the avatar id of an accepted login; for a refused request that carried
 * credentials, the user name it gave (read from `Authorization`; never the password or a Digest response). Nothing
 * for a request that attempted no login.
 *
 * @example
 * loginLogFields('alice', undefined, 200)                                    // { login: 'accepted', user: 'alice' }
 * loginLogFields(null, 'Basic ' + btoa('alice:wrong'), 401)                 // { login: 'refused', user: 'alice' }
 * loginLogFields(null, undefined, 401)                                       // undefined: a challenge, no attempt
 */
export function loginLogFields (avatarId: AvatarId | null | undefined, authorization: string | undefined, statusCode: number): LoginLogFields | undefined {
  const id = avatarIdOf(avatarId)
  if (id !== null) return { login: 'accepted', user: id }
  if (authorization === undefined || statusCode < 400) return undefined
  const basic = parseBasic(authorization)
  if (basic !== undefined) return { login: 'refused', user: basic.username }
  const token = parseBearer(authorization)
  if (token !== undefined) {
    const keyPrefix = apiKeyPrefix(token)
    return keyPrefix === undefined ? { login: 'refused' } : { login: 'refused', keyPrefix }
  }
  try {
    const digest = parseDigest(authorization)
    return digest.userhash ? { login: 'refused', userhash: digest.username } : { login: 'refused', user: digest.username }
  } catch {
    return { login: 'refused' } // credentials nobody could read: no name to give
  }
}

/**
 * The answer when the upstream cannot be reached or fails: 502 (504 when it did not answer in time), without the
 * upstream's address or the system's error text, which would tell clients about the network behind the proxy. The
 * log (`--log`) keeps the details.
 */
interface UpstreamReply {
  readonly log: Pick<FastifyReply['log'], 'warn'>
  code: (statusCode: number) => { send: (body: unknown) => unknown }
}
function upstreamFailed (reply: UpstreamReply, { error }: { error: Error }): void {
  const timedOut = (error as { statusCode?: number }).statusCode === 504
  const statusCode = timedOut ? 504 : 502
  reply.log.warn({ err: error }, 'fastify-cred serve: the upstream failed')
  reply.code(statusCode).send({
    statusCode,
    error: timedOut ? 'Gateway Timeout' : 'Bad Gateway',
    message: timedOut ? 'The upstream service did not answer in time' : 'The upstream service cannot be reached'
  })
}

/** What `fastify-cred serve` was asked for, after parsing. */
export interface ServeSettings {
  /** The `--auth` specs; empty when they come from `CRED_AUTH`. */
  readonly specs: readonly string[]
  /** `--auth-plugins`, as given (resolved against the working directory when used). */
  readonly pluginDirs: readonly string[]
  readonly port: number
  readonly host: string
  readonly schemes: readonly SchemeName[]
  readonly algorithms: readonly DigestAlgorithm[] | undefined
  readonly realmName: string
  readonly staticDir: string | undefined
  /** `--static-dotfiles`: serve names starting with "." (never `.ht*` or password files). */
  readonly staticDotfiles: boolean
  readonly upstream: string | undefined
  readonly avatarHeader: string
  readonly log: boolean
  /** PEM files for HTTPS, both or neither. */
  readonly tls: { readonly cert: string, readonly key: string } | undefined
  /** `memory`, `off`, or a `redis://` URL. */
  readonly throttle: string
  readonly throttleFailOpen: boolean
  /** Fastify's `trustProxy`: the proxies' addresses or CIDRs. */
  readonly trustProxy: string[] | undefined
}

/**
 * Parses `serve`'s arguments; answers which help to print instead when asked for help.
 *
 * @example
 * parseServeArgs(['--auth', 'memory:alice:pw', '--port', '0'], process.env)  // { specs: ['memory:alice:pw'], port: 0, … }
 * @throws {UsageError} an unknown option, a missing --auth, a bad value (exit 2).
 */
export function parseServeArgs (argv: readonly string[], env: Readonly<Record<string, string | undefined>>): ServeSettings | { help: 'serve' | 'auth', pluginDirs: readonly string[] } | { helpAuthType: string, pluginDirs: readonly string[] } {
  let values
  try {
    ({ values } = parseArgs({
      args: [...argv],
      allowPositionals: false,
      options: {
        auth: { type: 'string', multiple: true },
        'auth-plugins': { type: 'string', multiple: true },
        port: { type: 'string' },
        host: { type: 'string' },
        scheme: { type: 'string', multiple: true },
        'digest-algorithm': { type: 'string', multiple: true },
        'realm-name': { type: 'string' },
        static: { type: 'string' },
        'static-dotfiles': { type: 'boolean' },
        upstream: { type: 'string' },
        'avatar-header': { type: 'string' },
        log: { type: 'boolean' },
        'tls-cert': { type: 'string' },
        'tls-key': { type: 'string' },
        throttle: { type: 'string' },
        'throttle-fail-open': { type: 'boolean' },
        'trust-proxy': { type: 'string' },
        'help-auth': { type: 'boolean' },
        'help-auth-type': { type: 'string' },
        help: { type: 'boolean', short: 'h' }
      }
    }))
  } catch (err) {
    throw new UsageError(`serve: ${(err as Error).message.split('\n')[0] ?? ''} (fastify-cred serve --help)`)
  }
  const pluginDirs = values['auth-plugins'] ?? []
  if (values.help === true) return { help: 'serve', pluginDirs }
  if (values['help-auth'] === true) return { help: 'auth', pluginDirs }
  if (values['help-auth-type'] !== undefined) return { helpAuthType: values['help-auth-type'], pluginDirs }

  const specs = values.auth ?? []
  if (specs.length === 0 && (env.CRED_AUTH ?? '').trim() === '') throw new UsageError('serve: give at least one --auth <spec> (or set CRED_AUTH); see fastify-cred --help-auth')

  const portText = values.port ?? '8080'
  const port = Number(portText)
  if (!/^\d+$/.test(portText) || port > 65535) throw new UsageError('serve: --port takes a number from 0 to 65535')

  const schemes = (values.scheme ?? ['basic']).map((s) => s.toLowerCase())
  for (const s of schemes) if (s !== 'basic' && s !== 'digest' && s !== 'bearer') throw new UsageError('serve: --scheme is basic, digest or bearer')
  if (new Set(schemes).size !== schemes.length) throw new UsageError('serve: a --scheme is given twice')

  const algorithmList = values['digest-algorithm']
  if (algorithmList !== undefined) {
    if (!schemes.includes('digest')) throw new UsageError('serve: --digest-algorithm needs --scheme digest')
    const seen = new Set<string>()
    for (const a of algorithmList) {
      if (!ALGORITHMS.has(a.toUpperCase())) throw new UsageError('serve: --digest-algorithm is one of MD5, MD5-sess, SHA-256, SHA-256-sess, SHA-512-256, SHA-512-256-sess')
      if (seen.has(a.toUpperCase())) throw new UsageError(`serve: --digest-algorithm ${a} is given twice`)
      seen.add(a.toUpperCase())
    }
  }

  const staticDir = values.static
  const upstream = values.upstream
  if (staticDir !== undefined && upstream !== undefined) throw new UsageError('serve: give --static or --upstream, not both')
  if (values['static-dotfiles'] === true && staticDir === undefined) throw new UsageError('serve: --static-dotfiles needs --static')
  if (upstream !== undefined) {
    let url: URL | undefined
    try { url = new URL(upstream) } catch {}
    if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:')) throw new UsageError('serve: --upstream takes an http:// or https:// URL')
  }
  const avatarHeader = values['avatar-header'] ?? 'X-Forwarded-User'
  if (!HEADER_NAME.test(avatarHeader)) throw new UsageError('serve: --avatar-header takes a header name such as X-Forwarded-User')
  if (['authorization', 'proxy-authorization', 'host', 'cookie', 'content-length', 'transfer-encoding'].includes(avatarHeader.toLowerCase())) {
    throw new UsageError(`serve: --avatar-header cannot be ${avatarHeader}`)
  }
  if (values['avatar-header'] !== undefined && upstream === undefined) throw new UsageError('serve: --avatar-header needs --upstream')

  const cert = values['tls-cert']
  const key = values['tls-key']
  if ((cert === undefined) !== (key === undefined)) throw new UsageError('serve: --tls-cert and --tls-key go together')

  const throttle = values.throttle ?? 'memory'
  if (throttle !== 'memory' && throttle !== 'off' && !/^rediss?:\/\//.test(throttle)) throw new UsageError('serve: --throttle is memory, off or a redis:// URL')
  if (values['throttle-fail-open'] === true && !throttle.startsWith('redis')) throw new UsageError('serve: --throttle-fail-open needs a redis:// --throttle')
  const trustText = values['trust-proxy']
  const trustProxy = trustText?.split(',').map((a) => a.trim()).filter((a) => a !== '')
  if (trustProxy !== undefined && trustProxy.length === 0) throw new UsageError('serve: --trust-proxy takes addresses or CIDRs, e.g. 10.0.0.1,192.168.0.0/16')

  return {
    tls: cert === undefined || key === undefined ? undefined : { cert, key },
    throttle,
    throttleFailOpen: values['throttle-fail-open'] === true,
    trustProxy,
    specs,
    pluginDirs,
    port,
    host: values.host ?? '127.0.0.1',
    schemes: schemes as SchemeName[],
    algorithms: algorithmList as DigestAlgorithm[] | undefined,
    realmName: values['realm-name'] ?? 'fastify-cred',
    staticDir,
    staticDotfiles: values['static-dotfiles'] === true,
    upstream,
    avatarHeader,
    log: values.log === true
  }
}

/**
 * Builds the app `fastify-cred serve` runs (not listening yet): the cred plugin with the checkers of the specs, and
 * `/whoami`, a static directory or a reverse proxy behind it.
 *
 * @example
 * const app = await buildServeApp(parseServeArgs(['--auth', 'memory:alice:pw'], process.env) as ServeSettings,
 *   { env: process.env, cwd: process.cwd() })
 * await app.listen({ port: 8080 })
 * @throws {InvalidOption} a bad spec or plugin option; {MissingPeerDependency} @fastify/static or @fastify/http-proxy.
 */
export async function buildServeApp (settings: ServeSettings, io: Pick<CliIo, 'env' | 'cwd'>): Promise<FastifyInstance> {
  const { default: Fastify } = await import('fastify')
  const pluginDirs = servePluginDirs(settings.pluginDirs, io)
  const checkers = settings.specs.length === 0
    ? await checkersFromEnvironment(io.env, { pluginDirs })
    : await resolveCheckers(settings.specs, { env: io.env, pluginDirs }).catch((err: unknown) => {
      // Name the --auth by its position only: any part of a spec, its "type" included, may be a password.
      if (err instanceof InvalidOption) throw new InvalidOption(err.message.replace(/^checkers\[(\d+)\]: /, (_m, i: string) => settings.specs.length === 1 ? '--auth: ' : `--auth #${Number(i) + 1}: `), { cause: err })
      throw err
    })

  let staticPlugin: Awaited<ReturnType<typeof loadStatic>> | undefined
  let proxyPlugin: Awaited<ReturnType<typeof loadProxy>> | undefined
  let root: string | undefined
  if (settings.staticDir !== undefined) {
    root = resolve(io.cwd, settings.staticDir)
    const info = await stat(root).catch(() => undefined)
    if (info?.isDirectory() !== true) throw new CliError(`serve: --static ${settings.staticDir} is not a directory`)
    staticPlugin = await loadStatic()
  }
  if (settings.upstream !== undefined) proxyPlugin = await loadProxy()

  let https: { cert: Buffer, key: Buffer } | undefined
  if (settings.tls !== undefined) {
    const read = async (file: string, flag: string): Promise<Buffer> => await readFile(resolve(io.cwd, file)).catch((err: NodeJS.ErrnoException) => {
      throw new CliError(`serve: cannot read ${flag} ${file} (${err.code ?? 'error'})`)
    })
    https = { cert: await read(settings.tls.cert, '--tls-cert'), key: await read(settings.tls.key, '--tls-key') }
  }
  let app: FastifyInstance
  try {
    const trustProxy = settings.trustProxy === undefined ? {} : { trustProxy: settings.trustProxy }
    app = (https === undefined ? Fastify({ logger: settings.log, ...trustProxy }) : Fastify({ logger: settings.log, https, ...trustProxy })) as unknown as FastifyInstance
  } catch (err) {
    throw new CliError(`serve: the TLS certificate or key cannot be used (${(err as Error).message.split('\n')[0] ?? ''})`)
  }
  app.addHook('onClose', async () => { await closeCheckers(checkers) })
  const realm = new SimpleRealm().serve(IServeAvatar, (avatarId) => ({ avatarId: avatarIdOf(avatarId) }))
  const throttle = settings.throttle === 'off'
    ? undefined
    : settings.throttle === 'memory'
      ? new MemoryThrottle()
      : new RedisThrottle(settings.throttle, { failOpen: settings.throttleFailOpen, onError: (err) => { app.log.warn({ err }, 'fastify-cred serve: the Redis throttle is unavailable') } })
  if (throttle instanceof RedisThrottle) app.addHook('onClose', async () => { await throttle.close() })
  if (settings.log) {
    // Before the plugin and the routes, so that it also sees the plugin's own refusals. The fields go on the
    // request's logger, so the "request completed" line names the user.
    app.addHook('onSend', async (request, reply, payload) => {
      const fields = loginLogFields(request.avatarId, request.headers.authorization, reply.statusCode)
      if (fields === undefined) return payload
      const log = request.log as typeof request.log & { setBindings?: (bindings: object) => void }
      if (typeof log.setBindings === 'function') log.setBindings(fields) // pino, the logger --log turns on
      else log.info(fields, `login ${fields.login}`)
      return payload
    })
  }
  try {
    // Every store prepares itself here: a missing driver (`npm install …`) or a SQLite file that does not exist ends
    // the command (exit 1) instead of a server answering every login with an error. A store that is down does not.
    await app.register(cred, {
      realm,
      checkers,
      ...(throttle === undefined ? {} : { throttle }),
      interfaces: [IServeAvatar],
      authenticationRealm: settings.realmName,
      schemes: settings.schemes,
      ...(settings.algorithms === undefined ? {} : { digest: { algorithms: settings.algorithms } })
    })
  } catch (err) {
    // The app never started, so its onClose hooks will not run: release what was opened, or the process stays up.
    await Promise.all([closeCheckers(checkers), throttle?.close()])
    throw err
  }

  if (staticPlugin !== undefined) {
    const staticRoot = root ?? '.'
    // @fastify/static alone serves dotfiles and follows symlinks anywhere: guard it (issue #20), in a scope of its own
    // so that the hook runs only for its route, after the login.
    const specs = settings.specs.length > 0 ? settings.specs : parseAuthEnvironment(io.env.CRED_AUTH ?? '')
    const tlsFiles = settings.tls === undefined ? [] : [resolve(io.cwd, settings.tls.key), resolve(io.cwd, settings.tls.cert)]
    const guard = await staticGuard({
      root: staticRoot,
      allowDotfiles: settings.staticDotfiles,
      protectedFiles: [...await filesNamedBySpecs(specs, io.cwd), ...tlsFiles]
    })
    const plugin = staticPlugin.default
    await app.register(async (scope) => {
      scope.addHook('preHandler', guard.preHandler)
      await scope.register(plugin, {
        root: staticRoot,
        prefix: '/',
        dotfiles: settings.staticDotfiles ? 'allow' : 'ignore',
        allowedPath: guard.allowedPath
      })
    })
  } else if (proxyPlugin !== undefined) {
    const header = settings.avatarHeader.toLowerCase()
    await app.register(proxyPlugin.default, {
      upstream: settings.upstream ?? '',
      prefix: '/',
      replyOptions: {
        onError: upstreamFailed,
        rewriteRequestHeaders: (request, headers) => {
          // The upstream trusts this header: never pass on a client's own (nor a spelling with "_", which CGI, WSGI
          // and Rack servers read as the same HTTP_X_… variable), nor the client's password.
          const out: typeof headers = {}
          for (const [name, value] of Object.entries(headers)) {
            const lower = name.toLowerCase().replaceAll('_', '-')
            if (lower !== header && lower !== 'authorization' && lower !== 'proxy-authorization') out[name] = value
          }
          const id = avatarIdOf(request.avatarId)
          if (id !== null) out[header] = encodeAvatarHeader(id)
          return out
        }
      }
    })
  } else {
    app.get('/whoami', async (request) => ({ avatarId: avatarIdOf(request.avatarId) }))
  }
  return app
}

/** `--auth-plugins` folders (against the working directory), then those of `CRED_AUTH_PLUGINS`. */
function servePluginDirs (given: readonly string[], io: Pick<CliIo, 'env' | 'cwd'>): string[] {
  return [...given.map((dir) => resolve(io.cwd, dir)), ...pluginDirsFromEnvironment(io.env, io.cwd)]
}

/** `fastify-cred serve …`: runs until SIGINT or SIGTERM. */
export async function serveCommand (argv: readonly string[], io: CliIo): Promise<number> {
  const settings = parseServeArgs(argv, io.env)
  if ('help' in settings) {
    io.stdout.write(settings.help === 'serve' ? SERVE_HELP + '\n' : await authHelpText({ pluginDirs: servePluginDirs(settings.pluginDirs, io) }))
    return EXIT.OK
  }
  if ('helpAuthType' in settings) {
    io.stdout.write(await authTypeHelpText(settings.helpAuthType, { pluginDirs: servePluginDirs(settings.pluginDirs, io) }))
    return EXIT.OK
  }
  const app = await buildServeApp(settings, io)
  let address: string
  try {
    address = await app.listen({ port: settings.port, host: settings.host })
  } catch (err) {
    await app.close()
    throw new CliError(`serve: cannot listen on ${settings.host}:${settings.port} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`)
  }
  const what = settings.staticDir !== undefined ? `the files of ${settings.staticDir}` : settings.upstream !== undefined ? `a proxy to ${new URL(settings.upstream).origin}` : '/whoami'
  const types = settings.specs.length === 0 ? 'CRED_AUTH' : settings.specs.map((s) => parseSpec(s).authType).join(', ')
  io.stderr.write(`fastify-cred: serving ${what} at ${address}/ (auth: ${types}; schemes: ${settings.schemes.join(', ')})\n`)
  return await new Promise<number>((resolveExit) => {
    const stop = (): void => {
      process.off('SIGINT', stop)
      process.off('SIGTERM', stop)
      app.close().then(() => { resolveExit(EXIT.OK) }, () => { resolveExit(EXIT.FAILURE) })
    }
    process.on('SIGINT', stop)
    process.on('SIGTERM', stop)
  })
}
