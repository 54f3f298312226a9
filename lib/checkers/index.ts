export { InMemoryChecker } from './memory.js'
export type { InMemoryCheckerOptions } from './memory.js'
export { AllowAnonymousAccess } from './anonymous.js'
