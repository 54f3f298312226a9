import t from 'tap'
import {
  ANONYMOUS, Anonymous, CredError, IAnonymous, IUsernameHashedPassword, IUsernamePassword, LoginDenied, LoginFailed,
  NOOP_LOGOUT, Portal, SimpleRealm, UnauthorizedLogin, UnhandledCredentials, UsernameHashedPassword, UsernamePassword,
  defineInterface, resultProvides
} from '../../lib/index.js'
import { AnonymousChecker, MemoryChecker } from '../../lib/checkers/index.js'
import { ContractViolation, InvalidOption, NoAvatarInterface, isOrExtends } from '../../lib/cred/index.js'
import type { AvatarId, Credentials, CredentialsChecker, Interface, LoginResult, Realm } from '../../lib/index.js'

interface User { readonly name: string, readonly mind: unknown }
interface Admin { readonly root: true }
const IUser = defineInterface<User>('IUser')
const IAdmin = defineInterface<Admin>('IAdmin')

const userRealm = (): SimpleRealm => new SimpleRealm().serve(IUser, (id, mind) => ({ name: String(id === ANONYMOUS ? 'anon' : id), mind }))

t.test('login resolves to the chosen interface, the avatar, the avatar id and a logout', async (t) => {
  const portal = new Portal(userRealm(), [new MemoryChecker({ alice: 'wonderland' })])
  const mind = { client: 'test' }
  const result = await portal.login(new UsernamePassword('alice', 'wonderland'), mind, IUser)
  t.equal(result.interface, IUser)
  t.equal(result.avatarId, 'alice')
  t.same(result.avatar, { name: 'alice', mind })
  t.equal(result.avatar.mind, mind, 'mind reaches the realm untouched')
  t.equal(result.logout, NOOP_LOGOUT, 'a realm without logout shares the no-op')
})

t.test('test_failedLoginPassword and test_failedLoginName: UnauthorizedLogin, same message', async (t) => {
  const portal = new Portal(userRealm(), [new MemoryChecker({ alice: 'wonderland' })])
  const wrongPassword = await portal.login(new UsernamePassword('alice', 'nope'), null, IUser).catch((e: unknown) => e)
  const unknownUser = await portal.login(new UsernamePassword('bob', 'wonderland'), null, IUser).catch((e: unknown) => e)
  for (const err of [wrongPassword, unknownUser]) {
    t.ok(err instanceof UnauthorizedLogin)
    t.ok(err instanceof LoginFailed)
    t.ok(err instanceof CredError)
    t.equal((err as UnauthorizedLogin).code, 'ERR_CRED_UNAUTHORIZED')
  }
  t.equal((wrongPassword as Error).message, (unknownUser as Error).message, 'no user enumeration through the message')
  t.notMatch((wrongPassword as Error).message, /nope|wonderland/, 'no password in the message')
})

t.test('unknown users cost the same work as wrong passwords (the decoy is checked)', async (t) => {
  const checker = new MemoryChecker({ alice: 'wonderland' })
  let checked = 0
  const countingHashed = (username: string): UsernameHashedPassword => {
    const creds = new UsernameHashedPassword(username, 'x')
    const original = creds.checkPassword.bind(creds)
    creds.checkPassword = (pw: string) => { checked++; return original(pw) }
    return creds
  }
  t.throws(() => checker.requestAvatarId(countingHashed('nobody')), UnauthorizedLogin)
  t.throws(() => checker.requestAvatarId(countingHashed('alice')), UnauthorizedLogin)
  t.equal(checked, 2, 'checkPassword ran for the unknown user as for the known one')

  let plaintextReads = 0
  const countingPlain = (username: string): UsernamePassword => {
    const creds = new UsernamePassword(username, 'x')
    Object.defineProperty(creds, 'password', { get: () => { plaintextReads++; return 'x' } })
    return creds
  }
  t.throws(() => checker.requestAvatarId(countingPlain('nobody')), UnauthorizedLogin)
  t.throws(() => checker.requestAvatarId(countingPlain('alice')), UnauthorizedLogin)
  t.equal(plaintextReads, 2, 'the plaintext was hashed for the unknown user as for the known one')
})

t.test('no checker → UnhandledCredentials naming the credentials interface', async (t) => {
  const portal = new Portal(userRealm(), [new MemoryChecker({ alice: 'pw' })])
  await t.rejects(portal.login(new Anonymous(), null, IUser), { code: 'ERR_CRED_UNHANDLED_CREDENTIALS', message: /IAnonymous/ })
  const err = await portal.login(new Anonymous(), null, IUser).catch((e: unknown) => e)
  t.ok(err instanceof UnhandledCredentials)
})

t.test('test_anonymousAccess: AnonymousChecker gives the ANONYMOUS avatar id', async (t) => {
  const portal = new Portal(userRealm(), [new AnonymousChecker()])
  const result = await portal.login(new Anonymous(), null, IUser)
  t.equal(result.avatarId, ANONYMOUS)
  t.equal(result.avatar.name, 'anon')
  t.equal(typeof ANONYMOUS, 'symbol', 'a sentinel that is no string and no null')
})

t.test('the checker is chosen by the first registered interface the credentials provide', async (t) => {
  const calls: string[] = []
  const named = (name: string, ifaces: readonly Interface<Credentials>[]): CredentialsChecker => ({
    credentialInterfaces: ifaces,
    requestAvatarId: () => { calls.push(name); return name }
  })
  const IBoth = defineInterface<Credentials>('IBoth')
  const both: Credentials = { provides: [IBoth, IUsernamePassword] }
  const portal = new Portal(userRealm())
  portal.registerChecker(named('first', [IUsernamePassword]))
  portal.registerChecker(named('second', [IBoth]))
  t.equal((await portal.login(both, null, IUser)).avatarId, 'first', 'registration order wins, not the credentials order')
  t.same(portal.listCredentialsInterfaces(), [IUsernamePassword, IBoth])
  portal.registerChecker(named('replacement', [IUsernamePassword]))
  t.equal((await portal.login(both, null, IUser)).avatarId, 'replacement', 'a re-registration replaces in place, and the cached choice is dropped')
  t.same(calls, ['first', 'replacement'])
})

t.test('test_derivedInterface: credentials of a derived interface reach the checker of its parent', async (t) => {
  const IDerived = defineInterface<Credentials>('IDerived', { extends: [IUsernamePassword] })
  t.ok(isOrExtends(IDerived, IUsernamePassword))
  t.notOk(isOrExtends(IUsernamePassword, IDerived))
  class DerivedCredentials extends UsernamePassword {
    static readonly derivedProvides = Object.freeze([IDerived])
    override get provides (): readonly Interface<unknown>[] { return DerivedCredentials.derivedProvides }
  }
  const derived = new DerivedCredentials('alice', 'pw')
  const portal = new Portal(userRealm(), [new MemoryChecker({ alice: 'pw' })])
  t.equal((await portal.login(derived, null, IUser)).avatarId, 'alice')
})

t.test('registerChecker with explicit interfaces, and bad checkers or realms are refused at once', async (t) => {
  const portal = new Portal(userRealm())
  portal.registerChecker(new MemoryChecker({ alice: 'pw' }), IUsernameHashedPassword)
  t.same(portal.listCredentialsInterfaces(), [IUsernameHashedPassword])
  await t.rejects(portal.login(new UsernamePassword('alice', 'pw'), null, IUser), UnhandledCredentials)
  t.equal((await portal.login(new UsernameHashedPassword('alice', 'pw'), null, IUser)).avatarId, 'alice')
  t.throws(() => portal.registerChecker({ credentialInterfaces: [], requestAvatarId: () => 'x' }), InvalidOption)
  t.throws(() => portal.registerChecker(null as unknown as CredentialsChecker), InvalidOption)
  t.throws(() => new Portal({} as Realm), InvalidOption)
})

t.test('two checkers given together for one kind of credentials are refused (one would be silently unused); registerChecker still replaces on purpose', async (t) => {
  const first = new MemoryChecker({ alice: 'pw' })
  const second = new MemoryChecker({ bob: 'pw' })
  t.throws(() => new Portal(userRealm(), [first, second]), { name: 'InvalidOption', message: /Two checkers handle IUsernamePassword: MemoryChecker and MemoryChecker/ })
  t.throws(() => new Portal(userRealm(), [first, new AnonymousChecker(), second]), InvalidOption, 'also when another kind comes between')
  t.doesNotThrow(() => new Portal(userRealm(), [first, first]), 'one checker given twice is still one checker')
  const portal = new Portal(userRealm(), [first])
  portal.registerChecker(second)
  t.equal((await portal.login(new UsernamePassword('bob', 'pw'), null, IUser)).avatarId, 'bob', 'the later registration replaces')
  await t.rejects(portal.login(new UsernamePassword('alice', 'pw'), null, IUser), UnauthorizedLogin)
})

t.test('a synchronous throw in a checker becomes a rejection of login()', async (t) => {
  const boom = new Error('database exploded')
  const portal = new Portal(userRealm(), [{ credentialInterfaces: [IUsernamePassword], requestAvatarId: () => { throw boom } }])
  const promise = portal.login(new UsernamePassword('a', 'b'), null, IUser)
  t.ok(promise instanceof Promise)
  await t.rejects(promise, boom)
})

t.test('loginMaybeSync stays synchronous when checker and realm are, and goes async when one is', async (t) => {
  const sync = new Portal(userRealm(), [new MemoryChecker({ alice: 'pw' })])
  const result = sync.loginMaybeSync(new UsernamePassword('alice', 'pw'), null, IUser)
  t.notOk(result instanceof Promise)
  t.equal((result as LoginResult<User>).avatar.name, 'alice')
  t.throws(() => sync.loginMaybeSync(new UsernamePassword('alice', 'no'), null, IUser), UnauthorizedLogin)

  const asyncChecker = new Portal(userRealm(), [{ credentialInterfaces: [IUsernamePassword], requestAvatarId: async () => 'late' }])
  const pending = asyncChecker.loginMaybeSync(new UsernamePassword('x', 'y'), null, IUser)
  t.ok(pending instanceof Promise)
  t.equal((await pending).avatarId, 'late')

  const asyncRealm = new Portal(new SimpleRealm().serve(IUser, async (id) => ({ name: String(id), mind: null })), [new MemoryChecker({ alice: 'pw' })])
  const later = asyncRealm.loginMaybeSync(new UsernamePassword('alice', 'pw'), null, IUser)
  t.ok(later instanceof Promise)
  t.equal((await later).avatar.name, 'alice')
})

t.test('interfaces in order of preference; the realm picks the first it serves', async (t) => {
  const realm = new SimpleRealm()
    .serve(IUser, (id) => ({ name: String(id), mind: null }))
    .serve(IAdmin, () => ({ root: true as const }))
  const portal = new Portal(realm, [new MemoryChecker({ root: 'pw' })])
  const adminFirst = await portal.login(new UsernamePassword('root', 'pw'), null, IAdmin, IUser)
  t.equal(adminFirst.interface, IAdmin)
  t.ok(resultProvides(adminFirst, IAdmin) && adminFirst.avatar.root)
  const userFirst = await portal.login(new UsernamePassword('root', 'pw'), null, IUser, IAdmin)
  t.equal(userFirst.interface, IUser)
  t.notOk(resultProvides(userFirst, IAdmin))
})

t.test('a realm that serves none of the interfaces, or answers another one, is a clear error', async (t) => {
  const portal = new Portal(userRealm(), [new MemoryChecker({ alice: 'pw' })])
  await t.rejects(portal.login(new UsernamePassword('alice', 'pw'), null, IAdmin), { code: 'ERR_CRED_NO_AVATAR_INTERFACE', message: /IAdmin.*serves IUser/ })
  const liar: Realm = { requestAvatar: () => ({ interface: IAdmin, avatar: { root: true }, logout: NOOP_LOGOUT }) }
  const lying = new Portal(liar, [new MemoryChecker({ alice: 'pw' })])
  const err = await lying.login(new UsernamePassword('alice', 'pw'), null, IUser).catch((e: unknown) => e)
  t.ok(err instanceof NoAvatarInterface)
  t.match((err as Error).message, /IAdmin, which was not requested \(asked for IUser\)/)
  const noLogout: Realm = { requestAvatar: () => ({ interface: IUser, avatar: { name: 'x', mind: null } }) as unknown as LoginResult<unknown> }
  await t.rejects(new Portal(noLogout, [new MemoryChecker({ alice: 'pw' })]).login(new UsernamePassword('alice', 'pw'), null, IUser), NoAvatarInterface)
  await t.rejects(portal.login(new UsernamePassword('alice', 'pw'), null, ...([] as unknown as [Interface<User>])), InvalidOption)
})

t.test('a checker answering something other than a string or ANONYMOUS is a bug, reported as such', async (t) => {
  const portal = new Portal(userRealm(), [{ credentialInterfaces: [IUsernamePassword], requestAvatarId: () => undefined as unknown as AvatarId }])
  await t.rejects(portal.login(new UsernamePassword('a', 'b'), null, IUser), ContractViolation)
})

t.test('LoginDenied from the realm is a LoginFailed', async (t) => {
  const realm = new SimpleRealm().serve(IUser, () => { throw new LoginDenied('Mailbox locked for maintenance') })
  const portal = new Portal(realm, [new MemoryChecker({ alice: 'pw' })])
  const err = await portal.login(new UsernamePassword('alice', 'pw'), null, IUser).catch((e: unknown) => e)
  t.ok(err instanceof LoginDenied)
  t.ok(err instanceof LoginFailed)
  t.equal((err as LoginDenied).code, 'ERR_CRED_LOGIN_DENIED')
  t.equal((err as LoginDenied).name, 'LoginDenied')
})

t.test('test_logout: the realm logout receives the avatar and the avatar id', async (t) => {
  const loggedOut: Array<[string, AvatarId]> = []
  const realm = new SimpleRealm().serve(IUser, (id) => ({ name: String(id), mind: null }), (user, id) => { loggedOut.push([user.name, id]) })
  const portal = new Portal(realm, [new MemoryChecker({ alice: 'pw' })])
  const { logout } = await portal.login(new UsernamePassword('alice', 'pw'), null, IUser)
  t.same(loggedOut, [])
  await logout()
  t.same(loggedOut, [['alice', 'alice']])
})

t.test('testCaseInSensitivity: user names may be matched ignoring case', async (t) => {
  const insensitive = new MemoryChecker({ Alice: 'pw' }, { caseSensitive: false })
  t.equal(insensitive.requestAvatarId(new UsernamePassword('aLiCe', 'pw')), 'Alice', 'the stored spelling is the avatar id')
  const sensitive = new MemoryChecker({ Alice: 'pw' })
  t.throws(() => sensitive.requestAvatarId(new UsernamePassword('alice', 'pw')), UnauthorizedLogin)
  t.throws(() => sensitive.addUser('x', 5 as unknown as string), InvalidOption)
  const fromEntries = new MemoryChecker([['bob', 'builder']])
  t.equal(fromEntries.requestAvatarId(new UsernamePassword('bob', 'builder')), 'bob')
})

t.test('credentials: constant-time checks, hashed passwords, and no password in logs', async (t) => {
  const creds = new UsernamePassword('alice', 's3cret')
  t.ok(creds.checkPassword('s3cret'))
  t.notOk(creds.checkPassword('s3cre'))
  t.notOk(creds.checkPassword('s3cret '))
  t.notMatch(JSON.stringify(creds), /s3cret/)
  const { inspect } = await import('node:util')
  t.notMatch(inspect(creds), /s3cret/)
  t.same(creds.provides, [IUsernamePassword])
  t.same(new Anonymous().provides, [IAnonymous])
  // RFC 1939 APOP example
  const { createHash } = await import('node:crypto')
  const challenge = '<1896.697170952@dbc.mtview.ca.us>'
  const apop = new UsernameHashedPassword('mrose', 'c4c9334bac560ecc979e58001b3e22fb', (pw) => createHash('md5').update(challenge + pw).digest('hex'))
  t.ok(apop.checkPassword('tanstaaf'))
  t.notOk(apop.checkPassword('tanstaaF'))
})

t.test('defineInterface needs a name and freezes the token', async (t) => {
  t.throws(() => defineInterface(''), TypeError)
  const token = defineInterface<number>('INumber')
  t.ok(Object.isFrozen(token))
  t.equal(token.name, 'INumber')
})

t.test('garbage into the core: each a typed CredError saying what was wrong, never a raw TypeError', async (t) => {
  const portal = new Portal(userRealm(), [new MemoryChecker({ alice: 'pw' })])
  const notCredentials: Array<[string, unknown, RegExp]> = [
    ['a plain object', { username: 'alice', password: 'pw' }, /credentials object.*without `provides`/],
    ['null', null, /credentials object.*got null/],
    ['a string', 'alice:pw', /credentials object.*got a string/],
    ['provides that is not an array', { provides: 'IUsernamePassword' }, /`provides` is not an array/],
    ['a token without extends', { provides: [{ name: 'IUsernamePassword' }] }, /not an interface from defineInterface/]
  ]
  for (const [what, credentials, message] of notCredentials) {
    await t.rejects(portal.login(credentials as Credentials, null, IUser), { name: 'UnhandledCredentials', code: 'ERR_CRED_UNHANDLED_CREDENTIALS', message }, what)
  }
  const answering = (answer: unknown): Portal<unknown> =>
    new Portal(userRealm(), [{ credentialInterfaces: [IUsernamePassword], requestAvatarId: () => answer as AvatarId }])
  for (const [what, answer, message] of [
    ['null', null, /answered null/], ['a number', 42, /answered number/], ['an empty string', '', /answered an empty string/],
    ['a promise of undefined', Promise.resolve(undefined), /answered undefined/]
  ] as const) {
    await t.rejects(answering(answer).login(new UsernamePassword('alice', 'pw'), null, IUser), { name: 'ContractViolation', code: 'ERR_CRED_CONTRACT_VIOLATION', message }, `a checker answering ${what}`)
  }
  const throwingString = new Portal(userRealm(), [{ credentialInterfaces: [IUsernamePassword], requestAvatarId: () => { throw 'nope' } }])
  await t.rejects(throwingString.login(new UsernamePassword('alice', 'pw'), null, IUser), { name: 'ContractViolation', message: /threw string instead of an Error/ })
  const rejectingString = new Portal(userRealm(), [{ credentialInterfaces: [IUsernamePassword], requestAvatarId: async () => { throw 'nope' } }])
  await t.rejects(rejectingString.login(new UsernamePassword('alice', 'pw'), null, IUser), { name: 'ContractViolation' })
  const realmThrowingString: Realm = { requestAvatar: () => { throw 'realm nope' } }
  await t.rejects(new Portal(realmThrowingString, [new MemoryChecker({ alice: 'pw' })]).login(new UsernamePassword('alice', 'pw'), null, IUser), { name: 'ContractViolation' })
  t.equal(portal.checkerFor(null as unknown as Credentials), undefined, 'checkerFor answers undefined for garbage')
})

t.test('requestAvatarId and requestAvatar are the two halves of login', async (t) => {
  const portal = new Portal(userRealm(), [new MemoryChecker({ alice: 'pw' })])
  t.equal(portal.requestAvatarId(new UsernamePassword('alice', 'pw')), 'alice')
  t.throws(() => portal.requestAvatarId(new UsernamePassword('alice', 'no')), UnauthorizedLogin)
  const result = portal.requestAvatar('alice', null, IUser)
  t.equal((result as LoginResult<User>).avatar.name, 'alice')
  t.same(portal.listCheckers().length, 1)
})

t.test('credentials that claim IUsernamePassword but cannot check a password are a ContractViolation, not a TypeError (issue #20 item 17)', async (t) => {
  const portal = new Portal(userRealm(), [new MemoryChecker({ alice: 'wonderland' })])
  const impostors: Array<[string, unknown]> = [
    ['no password, no checkPassword', { provides: [IUsernamePassword], username: 'alice' }],
    ['checkPassword is not a function', { provides: [IUsernamePassword], username: 'alice', checkPassword: 'yes' }],
    ['no user name', { provides: [IUsernamePassword], password: 'wonderland' }]
  ]
  for (const [what, credentials] of impostors) {
    await t.rejects(portal.login(credentials as Credentials, null, IUser), ContractViolation, what)
  }
  t.equal((await portal.login(new UsernamePassword('alice', 'wonderland'), null, IUser)).avatarId, 'alice', 'real credentials still log in')
})
