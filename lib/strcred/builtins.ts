// The built-in auth types live in ./types/, one module each. Each store's checker module (and through it, its
// driver) is imported on first use, so that a spec for one store loads nothing of the others: `memory:` costs no
// database driver, `file:` no LDAP client.
export {
  builtinCheckerFactories, anonymousFactory, djangoFactory, fileFactory, htdigestFactory, ldapFactory, memoryFactory,
  sqlFactory, unixFactory
} from './types/index.js'
