// The built-in auth types, one module each (as Twisted's plugins/cred_<type>.py).
import type { CheckerFactory } from '../factory.js'
import { anonymousFactory } from './anonymous.js'
import { djangoFactory } from './django.js'
import { fileFactory } from './file.js'
import { htdigestFactory } from './htdigest.js'
import { ldapFactory } from './ldap.js'
import { memoryFactory } from './memory.js'
import { sqlFactory } from './sql.js'
import { unixFactory } from './unix.js'

export { anonymousFactory, djangoFactory, fileFactory, htdigestFactory, ldapFactory, memoryFactory, sqlFactory, unixFactory }

/** Every built-in auth type, in the order `--help-auth` lists them. */
export const builtinCheckerFactories: readonly CheckerFactory[] = Object.freeze([
  anonymousFactory, djangoFactory, fileFactory, htdigestFactory, ldapFactory, memoryFactory, sqlFactory, unixFactory
])
