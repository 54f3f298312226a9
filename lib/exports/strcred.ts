/**
 * `fastify-cred/strcred`: checkers from one-line specs (Twisted's strcred): `file:/etc/app/users.htpasswd`,
 * `CRED_AUTH`, third-party auth types and their help texts.
 *
 * @example
 * import { makeChecker } from 'fastify-cred/strcred'
 * const checker = await makeChecker('file:/etc/app/users.htpasswd')
 */
export {
  makeChecker, resolveCheckers, checkersFromEnvironment, parseAuthEnvironment, closeCheckers, loadCheckerFactories,
  discoverCheckerFactories, CheckerFactoryRegistry, builtinCheckerFactories, formatAuthHelp, formatAuthTypeHelp,
  parseSpec, escapeSpecValue, parseDuration, parseBoolean, parsePositiveInteger
} from '../strcred/index.js'
export type {
  CheckerFactory, CheckerFactoryOption, CheckerArguments, FactorySource, MakeCheckerOptions, DiscoveredFactory,
  ParsedSpec
} from '../strcred/index.js'
