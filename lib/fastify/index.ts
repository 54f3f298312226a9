export { cred } from './plugin.js'
export type { CredPluginOptions, CredTypes, CredAvatar, SchemeName } from './plugin.js'
export { portalValidate } from './basic-auth-validate.js'
export type { PortalValidateOptions } from './basic-auth-validate.js'
