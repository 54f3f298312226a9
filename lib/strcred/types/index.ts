// The built-in auth types, one module each (as Twisted's plugins/cred_<type>.py). Each type imports its store's
// checker module (and through it, its driver) on first use, so a spec for one store loads nothing of the others:
// `memory:` costs no database driver, `file:` no LDAP client.
import type { CheckerFactory } from '../factory.js'
import { anonymousFactory } from './anonymous.js'
import { apikeyFactory } from './apikey.js'
import { certFactory } from './cert.js'
import { djangoFactory } from './django.js'
import { fileFactory } from './file.js'
import { htdigestFactory } from './htdigest.js'
import { jwtFactory } from './jwt.js'
import { ldapFactory } from './ldap.js'
import { memoryFactory } from './memory.js'
import { sqlFactory } from './sql.js'
import { sshkeyFactory } from './sshkey.js'
import { unixFactory } from './unix.js'

export { anonymousFactory, apikeyFactory, certFactory, djangoFactory, fileFactory, htdigestFactory, jwtFactory, ldapFactory, memoryFactory, sqlFactory, sshkeyFactory, unixFactory }

/** Every built-in auth type, in the order `--help-auth` lists them. */
export const builtinCheckerFactories: readonly CheckerFactory[] = Object.freeze([
  anonymousFactory, apikeyFactory, certFactory, djangoFactory, fileFactory, htdigestFactory, jwtFactory, ldapFactory, memoryFactory, sqlFactory,
  sshkeyFactory, unixFactory
])
