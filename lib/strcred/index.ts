export { CheckerFactoryRegistry } from './factory.js'
export type { CheckerArguments, CheckerFactory, CheckerFactoryOption, FactorySource } from './factory.js'
export {
  makeChecker, resolveCheckers, checkersFromEnvironment, parseAuthEnvironment, loadCheckerFactories, SHARED_OPTIONS, closeCheckers
} from './make-checker.js'
export type { MakeCheckerOptions } from './make-checker.js'
export {
  builtinCheckerFactories, anonymousFactory, memoryFactory, fileFactory, htdigestFactory, djangoFactory, sqlFactory,
  ldapFactory, unixFactory, jwtFactory, apikeyFactory, certFactory, sshkeyFactory
} from './types/index.js'
export {
  discoverCheckerFactories, findCheckerPackages, defaultPluginDirs, pluginDirsFromEnvironment, PACKAGE_FIELD, PLUGINS_ENV
} from './discover.js'
export type { DiscoveredFactory, CheckerPackage, CheckerPackageSearch, PluginSearchOptions } from './discover.js'
export { formatAuthHelp, formatAuthTypeHelp, authHelpText, authTypeHelpText } from './help.js'
export { parseSpec, parseArgString, escapeSpecValue, parseDuration, parseBoolean, parsePositiveInteger } from './spec.js'
export type { ParsedSpec, ParsedArgString } from './spec.js'
