/**
 * `fastify-cred/checkers`: the user stores (memory, htpasswd, htdigest, Django, SQL, LDAP, the UNIX password
 * database), bearer tokens (JWT, API keys), client certificates, SSH keys, anonymous access and the cache in front
 * of a slow store. Their drivers load on first use.
 *
 * @example
 * import { HtpasswdChecker } from 'fastify-cred/checkers'
 */
export {
  MemoryChecker, AnonymousChecker, LdapChecker, escapeDnValue, escapeFilterValue, UnixChecker, SqlChecker, sqlFlag,
  openSqlDatabase, quoteIdentifier, DjangoChecker, HtpasswdChecker, HtdigestChecker, CachingChecker, JwtChecker,
  ApiKeyChecker, newApiKey, apiKeyPrefix, ClientCertChecker, SshKeyChecker
} from '../checkers/index.js'
export type {
  MemoryCheckerOptions, LdapCheckerOptions, LdapEntry, LdapSearchOptions, UnixAccount, UnixCheckerOptions,
  SqlCheckerOptions, SqlDatabase, SqlDialect, SqlRow, SqlConnectionOptions, DjangoCheckerOptions, DjangoUser,
  HtpasswdCheckerOptions, HtdigestCheckerOptions, CachingCheckerOptions, ReloadingChecker, WatchedFileOptions,
  JwtCheckerOptions, JwtAlgorithm, ApiKeyCheckerOptions, NewApiKey, ClientCertCheckerOptions, CertificateIdentity,
  SshKeyCheckerOptions
} from '../checkers/index.js'
