import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { promisify } from 'node:util'
import t from 'tap'

const run = promisify(execFile)
const root = new URL('../..', import.meta.url).pathname

// The published entry points are the compiled files; `npm test` builds them first.
t.test('the package loads by name through its exports map, with import and with require()', { skip: existsSync(`${root}dist/lib/index.js`) ? false : 'run `npm run build` first' }, async (t) => {
  const imported = await run(process.execPath, ['--input-type=module', '-e',
    "import cred, { Portal, cred as named } from 'fastify-cred'; console.log(typeof cred, typeof Portal, cred === named)"], { cwd: root })
  t.equal(imported.stdout.trim(), 'function function true')

  const required = await run(process.execPath, ['-e',
    "const m = require('fastify-cred'); console.log(typeof m.default, typeof m.cred, typeof m.Portal, typeof m.InMemoryChecker)"], { cwd: root })
  t.equal(required.stdout.trim(), 'function function function function', 'require() of the ESM package works on Node 20.19+')

  const internals = await run(process.execPath, ['-e', "try { require('fastify-cred/dist/lib/cred/portal.js'); console.log('open') } catch (e) { console.log(e.code) }"], { cwd: root })
  t.equal(internals.stdout.trim(), 'ERR_PACKAGE_PATH_NOT_EXPORTED', 'internals stay private')
})

// The public surface, name by name: a helper that becomes public by accident (an `export *`, a new export in a
// layer's index) fails here, and so does a public name that disappears. Change the lists on purpose only.
const PUBLIC: Record<string, readonly string[]> = {
  'fastify-cred': [
    'ANONYMOUS', 'AllowAnonymousAccess', 'Anonymous', 'BasicScheme', 'CachingChecker', 'CheckerFactoryRegistry',
    'ContractViolation', 'CredError', 'DIGEST_ALGORITHMS', 'DJANGO_HASHERS', 'DJANGO_PBKDF2_ITERATIONS',
    'DigestScheme', 'DigestedCredentials', 'DjangoChecker', 'EntityTooLarge', 'HTPASSWD_HASHERS', 'HashWorkerPool', 'HtdigestChecker',
    'HtpasswdChecker', 'HttpAuthGuard', 'IAnonymous', 'IUsernameDigestHash', 'IUsernameHashedPassword',
    'IUsernamePassword', 'InMemoryChecker', 'InvalidOption', 'LdapChecker', 'LoginDenied', 'LoginFailed',
    'LoginTimeout', 'MalformedCredentials', 'MemoryNonceStore', 'MemoryThrottle', 'MissingPeerDependency',
    'NOOP_LOGOUT', 'NoAvatarInterface', 'Portal', 'RedisNonceStore', 'RedisThrottle', 'ServerAuthenticationFailed',
    'ShaCryptHasher', 'SimpleRealm', 'SqlChecker', 'StaleNonce', 'StoreUnavailable', 'TooManyAttempts',
    'UnauthorizedLogin', 'UnhandledCredentials', 'UnixChecker', 'UsernameHashedPassword', 'UsernamePassword',
    'addressGroup', 'apr1Hasher', 'bcryptCost', 'bcryptHasher', 'buildSchemes', 'builtinCheckerFactories',
    'checkersFromEnvironment', 'closeCheckers', 'constantTimeEqual', 'constantTimeEqualStrings', 'cred', 'credFetch',
    'default', 'defineInterface', 'desCryptHasher', 'digestHa1', 'digestHash', 'digestResponse',
    'discoverCheckerFactories', 'djangoArgon2', 'djangoBcryptPlain', 'djangoBcryptSha256', 'djangoCrypt', 'djangoPbkdf2Sha1',
    'djangoPbkdf2Sha256', 'djangoSaltedMd5', 'djangoSaltedSha1', 'djangoScrypt', 'djangoUnsaltedMd5',
    'djangoUnsaltedSha1', 'escapeDnValue', 'escapeFilterValue', 'escapeSpecValue', 'findDjangoHasher',
    'formatAuthHelp', 'formatAuthTypeHelp', 'formatBasic', 'hashWorkers', 'identifyDjangoHasherName',
    'identifyHasher', 'isOrExtends', 'loadCheckerFactories', 'makeChecker', 'openSqlDatabase',
    'parseAuthEnvironment', 'parseBasic', 'parseBoolean', 'parseDuration', 'parsePositiveInteger', 'parseSpec',
    'plainHasher', 'portalValidate', 'quoteIdentifier', 'resolveCheckers', 'resultProvides', 'sha1Hasher',
    'sha256CryptHasher', 'sha512CryptHasher', 'sqlFlag', 'userhashResolver', 'verifyPassword'
  ],
  'fastify-cred/client': ['credFetch', 'digestAuthorization', 'pickDigestChallenge', 'readDigestChallenge', 'rspauthMatches']
}

t.test('each entry point exports exactly its listed names; internals stay internal', { skip: existsSync(`${root}dist/lib/index.js`) ? false : 'run `npm run build` first' }, async (t) => {
  for (const [entry, names] of Object.entries(PUBLIC)) {
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e',
      `import * as m from '${entry}'; console.log(JSON.stringify(Object.keys(m).sort()))`], { cwd: root })
    t.same(JSON.parse(stdout), [...names].sort(), entry)
  }
  for (const internal of ['isThenable', 'withinDeadline', 'secretDigest', 'hasScheme', 'headerText', 'formatNonceCount', 'NonceMinter', 'quote']) {
    t.notOk(PUBLIC['fastify-cred']?.includes(internal), `${internal} is not public`)
  }
})
