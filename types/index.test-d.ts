// Type tests: this file must compile (`npm run test:types`), and every line marked @ts-expect-error must not.
// It imports the package by its own name, so it checks the published declarations through the exports map.
import Fastify from 'fastify'
import cred, {
  ANONYMOUS, CredError, LoginFailed, Portal, SimpleRealm, UsernamePassword, defineInterface, resultProvides
} from 'fastify-cred'
import type { AvatarId, CredentialsChecker, IUsernamePassword, Interface, Logout } from 'fastify-cred'
import { MemoryChecker } from 'fastify-cred/checkers'
import { InternalError, StaleNonce, UnauthorizedLogin } from 'fastify-cred/errors'
import type { CredErrorCode } from 'fastify-cred/errors'

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2) ? true : false
function assertType<T extends true> (): T | undefined { return undefined }

interface Mailbox { readonly owner: string, list (): string[] }
interface Admin { readonly root: true }
const IMailbox = defineInterface<Mailbox>('IMailbox')
const IAdmin = defineInterface<Admin>('IAdmin')

declare module 'fastify-cred' {
  interface CredTypes { avatar: Mailbox }
}

const realm = new SimpleRealm<{ ip: string }>()
  .serve(IMailbox, (avatarId, mind) => ({ owner: `${String(avatarId)}@${mind.ip}`, list: () => [] }))
  .serve(IAdmin, () => ({ root: true as const }))
// @ts-expect-error the factory must make the interface's type
new SimpleRealm().serve(IMailbox, () => ({ owner: 1 }))

const portal = new Portal(realm, [new MemoryChecker({ alice: 'pw' })])

async function logins (): Promise<void> {
  const one = await portal.login(new UsernamePassword('alice', 'pw'), { ip: '::1' }, IMailbox)
  assertType<Equal<typeof one.avatar, Mailbox>>()
  assertType<Equal<typeof one.avatarId, AvatarId>>()
  assertType<Equal<typeof one.logout, Logout>>()
  assertType<Equal<typeof one.interface, Interface<Mailbox>>>()

  const either = await portal.login(new UsernamePassword('alice', 'pw'), { ip: '::1' }, IAdmin, IMailbox)
  assertType<Equal<typeof either.avatar, Admin | Mailbox>>()
  if (resultProvides(either, IAdmin)) assertType<Equal<typeof either.avatar, Admin>>()

  // @ts-expect-error at least one interface must be asked for
  await portal.login(new UsernamePassword('alice', 'pw'), { ip: '::1' })
  // @ts-expect-error the mind must have the realm's mind type
  await portal.login(new UsernamePassword('alice', 'pw'), 'not a mind', IMailbox)
  // @ts-expect-error an avatar id is a string or ANONYMOUS, not a number
  const wrongId: AvatarId = 7
  const anonymousId: AvatarId = ANONYMOUS
  void [wrongId, anonymousId]
}
void logins

const checker: CredentialsChecker<IUsernamePassword> = {
  credentialInterfaces: [],
  requestAvatarId: (creds) => creds.username
}
// @ts-expect-error a checker must answer an avatar id
const badChecker: CredentialsChecker<IUsernamePassword> = { credentialInterfaces: [], requestAvatarId: () => 42 }
void [checker, badChecker]

const app = Fastify()
void app.register(cred, { realm, checkers: [new MemoryChecker({ alice: 'pw' })], interfaces: [IMailbox], mind: (request) => ({ ip: request.ip }) })
// @ts-expect-error interfaces are required
void app.register(cred, { realm, checkers: [] })
// @ts-expect-error mode is 'always' or 'on-demand'
void app.register(cred, { realm, interfaces: [IMailbox], mode: 'sometimes' })

app.get('/messages', { config: { cred: true } }, async (request) => {
  assertType<Equal<typeof request.avatar, Mailbox | null>>()
  assertType<Equal<typeof request.avatarId, AvatarId | null>>()
  // @ts-expect-error the avatar may be null on public routes
  request.avatar.list()
  // @ts-expect-error Mailbox has no such member
  return request.avatar?.delete()
})
app.get('/composed', { onRequest: app.credAuthenticate }, async (request) => request.avatar?.owner)
assertType<Equal<typeof app.portal, Portal<unknown>>>()

// Error codes are literals: a class without subclasses has exactly its own, a class with subclasses its own or theirs.
assertType<Equal<InternalError['code'], 'ERR_CRED_INTERNAL'>>()
assertType<Equal<StaleNonce['code'], 'ERR_CRED_STALE_NONCE'>>()
assertType<Equal<UnauthorizedLogin['code'], 'ERR_CRED_UNAUTHORIZED' | 'ERR_CRED_STALE_NONCE' | 'ERR_CRED_VALID_PUBLIC_KEY'>>()
assertType<Equal<CredError['code'], CredErrorCode>>()
function answer (err: LoginFailed): number {
  if (err.code === 'ERR_CRED_TOO_MANY_ATTEMPTS') return 429
  // @ts-expect-error a login failure never carries the code of a bug
  if (err.code === 'ERR_CRED_INTERNAL') return 500
  return 401
}
void answer
