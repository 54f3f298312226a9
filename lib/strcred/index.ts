export { CheckerFactoryRegistry } from './factory.js'
export type { CheckerArguments, CheckerFactory, CheckerFactoryOption, FactorySource } from './factory.js'
export {
  makeChecker, resolveCheckers, checkersFromEnvironment, parseAuthEnvironment, loadCheckerFactories, SHARED_OPTIONS
} from './make-checker.js'
export type { MakeCheckerOptions } from './make-checker.js'
export {
  builtinCheckerFactories, closeCheckers, anonymousFactory, memoryFactory, fileFactory, htdigestFactory, djangoFactory, sqlFactory,
  ldapFactory, unixFactory
} from './builtins.js'
export { discoverCheckerFactories, PACKAGE_FIELD } from './discover.js'
export type { DiscoveredFactory } from './discover.js'
export { formatAuthHelp, formatAuthTypeHelp } from './help.js'
export { parseSpec, parseArgString, escapeSpecValue, parseDuration, parseBoolean, parsePositiveInteger } from './spec.js'
export type { ParsedSpec, ParsedArgString } from './spec.js'
