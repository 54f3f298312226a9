/**
 * fastify-cred: Twisted's cred for Fastify. The core (`Portal`, realms, checkers, credentials) works without
 * Fastify; the default export is the Fastify plugin.
 */
export * from './cred/index.js'
export * from './checkers/index.js'
export * from './http/index.js'
export * from './fastify/index.js'
export type { DigestPluginOptions } from './fastify/plugin.js'
export * from './client/index.js'
export { cred as default } from './fastify/index.js'
