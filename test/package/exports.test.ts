import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { dirname, join, relative } from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'

const run = promisify(execFile)
const root = new URL('../..', import.meta.url).pathname
// The published entry points are the compiled files; `npm test` builds them first.
const built = existsSync(`${root}dist/lib/index.js`) ? false : 'run `npm run build` first'

// The public surface, entry point by entry point and name by name: a helper that becomes public by accident (an
// `export *`, a name added to an entry point's list) fails here, and so does a public name that disappears or
// moves. Change the lists on purpose only (and say so in CHANGELOG.md).
const PUBLIC: Record<string, readonly string[]> = {
  'fastify-cred': [
    'ANONYMOUS', 'Anonymous', 'CredError', 'DigestedCredentials', 'IAnonymous', 'IUsernameDigestHash',
    'IUsernameHashedPassword', 'IUsernamePassword', 'LoginDenied', 'LoginFailed', 'NOOP_LOGOUT', 'Portal',
    'SimpleRealm', 'StoreUnavailable', 'TooManyAttempts', 'UnauthorizedLogin', 'UnhandledCredentials',
    'UsernameHashedPassword', 'UsernamePassword', 'cred', 'default', 'defineInterface', 'portalValidate',
    'resultProvides', 'WebSocketMind', 'BearerToken', 'IBearerToken', 'ClientCertificate', 'IClientCertificate',
    'SshPublicKey', 'ISshPublicKey', 'CRED_CHANNELS', 'credMetrics', 'InMemoryChecker'
  ],
  'fastify-cred/cred': [
    'ANONYMOUS', 'Anonymous', 'BearerToken', 'DIGEST_ALGORITHMS', 'DigestedCredentials', 'IAnonymous', 'IBearerToken', 'IUsernameDigestHash',
    'IUsernameHashedPassword', 'IUsernamePassword', 'NOOP_LOGOUT', 'Portal', 'SimpleRealm', 'UsernameHashedPassword',
    'UsernamePassword', 'constantTimeEqual', 'constantTimeEqualStrings', 'defineInterface', 'digestHa1', 'digestHash',
    'digestResponse', 'isOrExtends', 'resultProvides',
    'ClientCertificate', 'IClientCertificate', 'ISshPublicKey', 'SshPublicKey', 'CRED_CHANNELS'
  ],
  'fastify-cred/errors': [
    'ContractViolation', 'CredError', 'EntityTooLarge', 'InternalError', 'InvalidOption', 'LoginDenied', 'LoginFailed',
    'LoginTimeout', 'MalformedCredentials', 'MissingPeerDependency', 'NoAvatarInterface', 'ServerAuthenticationFailed',
    'StaleNonce', 'StoreUnavailable', 'TooManyAttempts', 'UnauthorizedLogin', 'UnhandledCredentials',
    'ConnectionClosed', 'ValidPublicKey'
  ],
  'fastify-cred/checkers': [
    'AnonymousChecker', 'ApiKeyChecker', 'CachingChecker', 'DjangoChecker', 'HtdigestChecker', 'HtpasswdChecker', 'JwtChecker',
    'MemoryChecker', 'LdapChecker', 'SqlChecker', 'UnixChecker', 'apiKeyPrefix', 'escapeDnValue', 'newApiKey', 'escapeFilterValue', 'openSqlDatabase',
    'quoteIdentifier', 'sqlFlag',
    'ClientCertChecker', 'SshKeyChecker'
  ],
  'fastify-cred/hashers': [
    'DJANGO_HASHERS', 'DJANGO_PBKDF2_ITERATIONS', 'HTPASSWD_HASHERS', 'HashWorkerPool', 'ShaCryptHasher', 'apr1Hasher',
    'bcryptCost', 'bcryptHasher', 'desCryptHasher', 'djangoArgon2Hasher', 'djangoBcryptPlainHasher', 'djangoBcryptSha256Hasher',
    'djangoCryptHasher', 'djangoPbkdf2Sha1Hasher', 'djangoPbkdf2Sha256Hasher', 'djangoSaltedMd5Hasher', 'djangoSaltedSha1Hasher', 'djangoScryptHasher',
    'djangoUnsaltedMd5Hasher', 'djangoUnsaltedSha1Hasher', 'findDjangoHasher', 'hashWorkers', 'identifyDjangoHasherName',
    'identifyHasher', 'plainHasher', 'sha1Hasher', 'sha256CryptHasher', 'sha512CryptHasher', 'verifyPassword'
  ],
  'fastify-cred/http': [
    'BasicScheme', 'BearerScheme', 'DigestScheme', 'HttpAuthGuard', 'MemoryNonceStore', 'RedisNonceStore', 'buildSchemes',
    'formatBasic', 'parseBasic', 'parseBearer', 'userhashResolver', 'verifiedCredentials',
    'ClientCertScheme'
  ],
  'fastify-cred/throttle': ['MemoryThrottle', 'RedisThrottle', 'addressGroup'],
  'fastify-cred/strcred': [
    'CheckerFactoryRegistry', 'builtinCheckerFactories', 'checkersFromEnvironment', 'closeCheckers',
    'discoverCheckerFactories', 'escapeSpecValue', 'formatAuthHelp', 'formatAuthTypeHelp', 'loadCheckerFactories',
    'makeChecker', 'parseAuthEnvironment', 'parseBoolean', 'parseDuration', 'parsePositiveInteger', 'parseSpec',
    'resolveCheckers'
  ],
  'fastify-cred/client': [
    'credFetch', 'digestAuthorization', 'pickDigestChallenge', 'readDigestChallenge', 'rspauthMatches'
  ]
}

const entries = Object.keys(PUBLIC)
const withoutInterop = (names: string[]): string[] => names.filter((name) => name !== '__esModule').sort()

t.test('each entry point exports exactly its listed names, through import and through require()', { skip: built }, async (t) => {
  const list = JSON.stringify(entries)
  const imported = await run(process.execPath, ['--input-type=module', '-e',
    `const out = {}; for (const entry of ${list}) out[entry] = Object.keys(await import(entry)); console.log(JSON.stringify(out))`], { cwd: root })
  // require(esm), Node 20.19+: the same namespace (with `__esModule` when the module has a default export).
  const required = await run(process.execPath, ['-e',
    `const out = {}; for (const entry of ${list}) out[entry] = Object.keys(require(entry)); console.log(JSON.stringify(out))`], { cwd: root })
  const byImport = JSON.parse(imported.stdout) as Record<string, string[]>
  const byRequire = JSON.parse(required.stdout) as Record<string, string[]>
  for (const [entry, names] of Object.entries(PUBLIC)) {
    t.same(withoutInterop(byImport[entry] ?? []), [...names].sort(), `import '${entry}'`)
    t.same(withoutInterop(byRequire[entry] ?? []), [...names].sort(), `require('${entry}')`)
  }
  const plugin = await run(process.execPath, ['--input-type=module', '-e',
    "import cred, { cred as named } from 'fastify-cred'; import { Portal } from 'fastify-cred/cred'; import * as root from 'fastify-cred'; console.log(typeof cred, cred === named, Portal === root.Portal)"], { cwd: root })
  t.equal(plugin.stdout.trim(), 'function true true', 'the default export is the plugin; a name in two entry points is one binding')
})

t.test('internals stay internal: no deep imports, no helper in any entry point', { skip: built }, async (t) => {
  const deep = await run(process.execPath, ['-e',
    "for (const path of ['dist/lib/cred/portal.js', 'dist/lib/http/index.js', 'dist/lib/exports/http.js']) { try { require('fastify-cred/' + path); console.log('open') } catch (e) { console.log(e.code) } }"], { cwd: root })
  t.same(deep.stdout.trim().split('\n'), Array(3).fill('ERR_PACKAGE_PATH_NOT_EXPORTED'), 'only the exports map opens the package')
  const internals = ['isThenable', 'withinDeadline', 'secretDigest', 'optionalPeer', 'isModuleNotFound', 'RedisScripts', 'kLoadDriver',
    'hasScheme', 'headerText', 'formatNonceCount', 'NonceMinter', 'quote', 'parseDigest', 'runLogout', 'parseArgString', 'bcryptHash']
  for (const [entry, names] of Object.entries(PUBLIC)) {
    t.same(names.filter((name) => internals.includes(name)), [], `${entry} lists no internal helper`)
  }
})

/** The compiled modules an entry point loads with it: its static imports and re-exports, followed (drivers load later, on use). */
async function loadedWith (entry: string): Promise<{ files: string[], packages: string[] }> {
  const files = new Set<string>()
  const packages = new Set<string>()
  const visit = async (file: string): Promise<void> => {
    if (files.has(file)) return
    files.add(file)
    const source = await readFile(file, 'utf8')
    for (const match of source.matchAll(/(?:^|[;\n])\s*(?:import|export)\b[^;'"]*?from\s*['"]([^'"]+)['"]|(?:^|[;\n])\s*import\s*['"]([^'"]+)['"]/g)) {
      const specifier = match[1] ?? match[2] ?? ''
      if (specifier.startsWith('.')) await visit(join(dirname(file), specifier))
      else packages.add(specifier)
    }
  }
  await visit(join(root, entry))
  return { files: [...files].map((file) => relative(join(root, 'dist/lib'), file)).sort(), packages: [...packages].sort() }
}

t.test('fastify-cred/cred and fastify-cred/client load neither Fastify nor the server side', { skip: built }, async (t) => {
  const core = await loadedWith('dist/lib/exports/cred.js')
  t.same(core.files.filter((file) => !/^(?:exports|cred)\//.test(file)), [], 'the core loads only the core')
  t.same(core.packages.filter((name) => !name.startsWith('node:')), [], 'and no package')
  const client = await loadedWith('dist/lib/exports/client.js')
  t.same(client.files.filter((file) => !/^(?:exports|cred|client)\/|^http\/(?:basic|digest|auth-params)\.js$/.test(file)), [],
    'the client loads the core, itself and the HTTP codecs')
  t.same(client.packages.filter((name) => !name.startsWith('node:')), [], 'and no package')
  const plugin = await loadedWith('dist/lib/index.js')
  t.ok(plugin.packages.includes('fastify-plugin'), 'the walk finds what the root loads (it would find a leak)')
})
