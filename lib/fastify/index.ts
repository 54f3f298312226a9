export { cred } from './plugin.js'
export type { CredPluginOptions, CredTypes, CredAvatar, SchemeName } from './plugin.js'
