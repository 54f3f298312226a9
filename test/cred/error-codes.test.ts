import t from 'tap'
import * as errors from '../../lib/cred/errors.js'
import type { CredErrorCode } from '../../lib/cred/errors.js'

type ErrorClass = abstract new (...args: never[]) => errors.CredError

// The class of each code, keyed by the union: `npm run test:types` rejects a code of `CredErrorCode` missing here and
// a key that is not in it. The test below rejects a class whose instances carry another code, and a class left out.
const CLASS_OF = {
  ERR_CRED: errors.CredError,
  ERR_CRED_LOGIN_FAILED: errors.LoginFailed,
  ERR_CRED_UNAUTHORIZED: errors.UnauthorizedLogin,
  ERR_CRED_STALE_NONCE: errors.StaleNonce,
  ERR_CRED_UNHANDLED_CREDENTIALS: errors.UnhandledCredentials,
  ERR_CRED_TOO_MANY_ATTEMPTS: errors.TooManyAttempts,
  ERR_CRED_LOGIN_DENIED: errors.LoginDenied,
  ERR_CRED_NO_AVATAR_INTERFACE: errors.NoAvatarInterface,
  ERR_CRED_STORE_UNAVAILABLE: errors.StoreUnavailable,
  ERR_CRED_ENTITY_TOO_LARGE: errors.EntityTooLarge,
  ERR_CRED_LOGIN_TIMEOUT: errors.LoginTimeout,
  ERR_CRED_CONTRACT_VIOLATION: errors.ContractViolation,
  ERR_CRED_MALFORMED_CREDENTIALS: errors.MalformedCredentials,
  ERR_CRED_INVALID_OPTION: errors.InvalidOption,
  ERR_CRED_MISSING_PEER_DEPENDENCY: errors.MissingPeerDependency,
  ERR_CRED_SERVER_AUTHENTICATION_FAILED: errors.ServerAuthenticationFailed,
  ERR_CRED_INTERNAL: errors.InternalError,
  ERR_CRED_CONNECTION_CLOSED: errors.ConnectionClosed,
  ERR_CRED_VALID_PUBLIC_KEY: errors.ValidPublicKey
} satisfies Record<CredErrorCode, ErrorClass>

// And each class's declared `code` type admits its own code (a class without subclasses: exactly it, see types/).
type CodeOf<C> = C extends abstract new (...args: never[]) => { readonly code: infer K } ? K : never
type NotAdmitted = { [K in CredErrorCode]: K extends CodeOf<(typeof CLASS_OF)[K]> ? never : K }[CredErrorCode]
const everyClassAdmitsItsCode: [NotAdmitted] extends [never] ? true : NotAdmitted = true
void everyClassAdmitsItsCode

t.test('one class per code: every exported error class has its own code, and every code of the union has its class', async (t) => {
  const classes = Object.values(errors).filter((value): value is typeof errors.CredError =>
    typeof value === 'function' && (value === errors.CredError || value.prototype instanceof errors.CredError))
  t.ok(classes.length > 1, 'the module exports the error classes')
  const codes = classes.map((Class) => {
    // Every constructor takes a message first; TooManyAttempts also its `retryAfter`.
    const error = new (Class as unknown as new (message: string, retryAfter: number) => errors.CredError)('message', 1)
    t.equal((CLASS_OF as Record<string, ErrorClass>)[error.code], Class, `${Class.name}'s code ${error.code} is in the union, for it`)
    t.equal(error.name, Class.name, `${Class.name} names itself`)
    return error.code
  })
  t.equal(new Set(codes).size, codes.length, 'no two classes share a code')
  t.same([...codes].sort(), Object.keys(CLASS_OF).sort(), 'every code of the union belongs to an exported class')
})
