import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import type { AddressInfo } from 'node:net'
import { promisify } from 'node:util'
import Fastify from 'fastify'
import t from 'tap'
import { InvalidOption, MissingPeerDependency, SimpleRealm, StoreUnavailable, UnauthorizedLogin, UsernamePassword, defineInterface } from '../../lib/cred/index.js'
import { UnixChecker } from '../../lib/checkers/index.js'
import type { UnixCheckerOptions } from '../../lib/checkers/index.js'
import { overrideUnixSystem } from '../../lib/checkers/unix.js'
import { overrideDriver } from '../../lib/drivers/index.js'
import { cred } from '../../lib/fastify/index.js'
import { needProgram, serversRequired } from '../helpers/binaries.js'
import { curl, curlRequest } from '../helpers/curl.js'
import { checkerContract } from './checker-contract.js'

const run = promisify(execFile)

/** A checker that asks `system` instead of `getent passwd` / the monotonic clock (fault injection). */
const withSystem = (system: Parameters<typeof overrideUnixSystem>[0], options: UnixCheckerOptions = {}): UnixChecker => {
  const restore = overrideUnixSystem(system)
  try { return new UnixChecker(options) } finally { restore() }
}

const login = async (checker: UnixChecker, username: string, password: string): Promise<string | Error> =>
  await checker.requestAvatarId(new UsernamePassword(username, password)).then((id) => id, (err: unknown) => err as Error)

type Callback = (err: Error | null, code: number) => void
interface PamCall { username: string, password: string, serviceName?: string }

/** A stand-in binding, for fault injection only: answers each call with `answer(call)` when `release()` is called. */
const fakeBinding = (answer: (call: PamCall) => number): { module: unknown, calls: PamCall[], inFlight: () => number, maxInFlight: () => number, releaseAll: () => void } => {
  const calls: PamCall[] = []
  const pending: Array<() => void> = []
  let inFlight = 0
  let maxInFlight = 0
  const pamAuthenticate = (call: PamCall, callback: Callback): void => {
    calls.push(call)
    inFlight++
    maxInFlight = Math.max(maxInFlight, inFlight)
    pending.push(() => {
      inFlight--
      const code = answer(call)
      callback(code === 0 ? null : new Error('PAM says no'), code)
    })
  }
  return {
    module: { pamAuthenticate },
    calls,
    inFlight: () => inFlight,
    maxInFlight: () => maxInFlight,
    releaseAll: () => { for (const release of pending.splice(0)) release() }
  }
}
const settle = async (): Promise<void> => { for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve)) }

t.test('options are checked when the checker is built', async (t) => {
  t.throws(() => new UnixChecker({ service: '../etc/passwd' }), InvalidOption)
  t.throws(() => new UnixChecker({ service: '' }), InvalidOption)
  t.throws(() => new UnixChecker({ maxConcurrent: 0 }), InvalidOption)
  t.throws(() => new UnixChecker({ maxQueued: -1 }), InvalidOption)
  t.ok(new UnixChecker())
})

t.test('the module never imports the PAM binding statically; a missing one is MissingPeerDependency', async (t) => {
  const source = await readFile(new URL('../../lib/checkers/unix.ts', import.meta.url), 'utf8')
  t.same(source.split('\n').filter((line) => /^\s*(import|export)\b(?!\s+type\b).*['"]node-linux-pam['"]/.test(line)), [])
  let loads = 0
  const restore = overrideDriver('node-linux-pam', async () => {
    loads++
    throw Object.assign(new Error("Cannot find package 'node-linux-pam'"), { code: 'ERR_MODULE_NOT_FOUND' })
  })
  t.teardown(restore)
  const checker = new UnixChecker()
  const err = await login(checker, 'alice', 'pw')
  t.ok(err instanceof MissingPeerDependency)
  t.match((err as Error).message, /npm install node-linux-pam/)
  await login(checker, 'alice', 'pw')
  t.equal(loads, 2, 'tried again on the next login')
  restore()
  t.teardown(overrideDriver('node-linux-pam', async () => ({ nothing: true })))
  t.ok(await login(new UnixChecker(), 'alice', 'pw') instanceof MissingPeerDependency)
})

t.test('refused before PAM: empty password, NUL, over-long (fault-injection binding counts the calls)', async (t) => {
  const fake = fakeBinding(() => 0)
  t.teardown(overrideDriver('node-linux-pam', async () => fake.module))
  const checker = new UnixChecker()
  for (const [username, password] of [['alice', ''], ['', 'pw'], ['alice', 'pw\0junk'], ['ali\0ce', 'pw'], ['alice', 'é'.repeat(257)], ['a'.repeat(257), 'pw']]) {
    t.ok(await login(checker, username as string, password as string) instanceof UnauthorizedLogin, `${JSON.stringify(username)} / ${JSON.stringify(password).slice(0, 20)}`)
  }
  t.equal(fake.calls.length, 0, 'PAM was never asked')
})

t.test('PAM codes: database trouble is StoreUnavailable, every other failure a refusal', async (t) => {
  const codes: Record<string, number> = { authinfo: 9, system: 4, auth: 7, unknown: 10, expired: 13, newtok: 12, maxtries: 11 }
  const fake = fakeBinding((call) => codes[call.username] ?? 0)
  t.teardown(overrideDriver('node-linux-pam', async () => fake.module))
  const checker = new UnixChecker({ service: 'my-app' })
  const results = Object.keys(codes).map(async (name) => await login(checker, name, 'pw'))
  let done = false
  const all = Promise.all(results).finally(() => { done = true })
  // The account-management refusals (13, 12) make one more PAM call (the failure delay): release until all settle.
  while (!done) { await settle(); fake.releaseAll() }
  const [authinfo, system, ...refused] = await all
  t.ok(authinfo instanceof StoreUnavailable)
  t.match((authinfo as Error).message, /PAM_AUTHINFO_UNAVAIL/)
  t.ok(system instanceof StoreUnavailable)
  for (const err of refused) t.ok(err instanceof UnauthorizedLogin)
  t.equal(fake.calls[0]?.serviceName, 'my-app', 'the service is passed to pam_start')
})

t.test('at most maxConcurrent PAM calls at once; a full queue is StoreUnavailable', async (t) => {
  const fake = fakeBinding(() => 0)
  t.teardown(overrideDriver('node-linux-pam', async () => fake.module))
  const checker = withSystem({ lookupAccount: async (name) => ({ name, uid: 1000, shell: '/bin/sh' }) }, { maxConcurrent: 2, maxQueued: 3 })
  const logins = Array.from({ length: 6 }, async (_, i) => await login(checker, `user${i}`, 'pw'))
  await settle()
  t.equal(fake.inFlight(), 2, 'two PAM calls running')
  const overflow = await Promise.race([logins[5], new Promise((resolve) => setTimeout(() => resolve('waiting'), 50))])
  t.ok(overflow instanceof StoreUnavailable, 'the sixth: two running, three queued, no room')
  while (fake.calls.length < 5 || fake.inFlight() > 0) { fake.releaseAll(); await settle() }
  t.same((await Promise.all(logins.slice(0, 5))), ['user0', 'user1', 'user2', 'user3', 'user4'])
  t.equal(fake.maxInFlight(), 2, 'never more than two at once')
})

/** A binding answering at once, recording each call: which PAM work each refusal costs is counted, not timed. */
const countingBinding = (answer: (call: PamCall) => number): { module: unknown, calls: PamCall[] } => {
  const calls: PamCall[] = []
  const pamAuthenticate = (call: PamCall, callback: Callback): void => {
    calls.push(call)
    const code = answer(call)
    setImmediate(() => callback(code === 0 ? null : new Error('PAM says no'), code))
  }
  return { module: { pamAuthenticate }, calls }
}

t.test("every refusal waits PAM's failure delay: a right password refused afterwards runs one more failing pam_authenticate", async (t) => {
  const accounts: Record<string, { uid: number, shell: string }> = {
    alice: { uid: 1000, shell: '/bin/bash' },
    expired: { uid: 1001, shell: '/bin/bash' },
    mustchange: { uid: 1002, shell: '/bin/bash' },
    denied: { uid: 1003, shell: '/bin/bash' },
    daemon: { uid: 1, shell: '/usr/sbin/nologin' },
    sync: { uid: 4, shell: '/bin/false' },
    root: { uid: 0, shell: '/bin/bash' },
    toor: { uid: 0, shell: '/bin/sh' }
  }
  // PAM's verdict with the right password ("pw"): account management refuses some. Debian's common-account answers
  // an expired account with pam_deny's PAM_AUTH_ERR, the code of a wrong password, but without the failure delay.
  accounts.debianExpired = { uid: 1004, shell: '/bin/bash' }
  const accountCodes: Record<string, number> = { expired: 13, mustchange: 12, denied: 6, debianExpired: 7 }
  // The injected clock: a failed pam_authenticate takes PAM's 2.5 s delay, anything else 30 ms.
  let clock = 0
  const fake = countingBinding((call) => {
    const code = call.username in accounts ? (call.password !== 'pw' ? 7 : accountCodes[call.username] ?? 0) : 10
    clock += code === 0 || call.username in accountCodes ? 30 : 2500
    return code
  })
  const lookupAccount = async (name: string): Promise<{ name: string, uid: number, shell: string } | undefined> => {
    const account = accounts[name]
    return account === undefined ? undefined : { name, ...account }
  }
  t.teardown(overrideDriver('node-linux-pam', async () => fake.module))
  const checker = withSystem({ lookupAccount, now: () => clock })
  const work = async (name: string, password: string): Promise<{ result: string | Error, calls: PamCall[] }> => {
    fake.calls.length = 0
    const result = await login(checker, name, password)
    return { result, calls: [...fake.calls] }
  }
  t.same(await work('alice', 'pw'), { result: 'alice', calls: [{ username: 'alice', password: 'pw', serviceName: 'login' }] }, 'a good login: one PAM call')
  const first = await work('alice', 'wrong')
  t.equal(first.calls.length, 2, 'the first refusal, before the delay is known: one more failing call measures it')
  const wrong = await work('alice', 'wrong')
  t.ok(wrong.result instanceof UnauthorizedLogin)
  t.equal(wrong.calls.length, 1, 'a wrong password: one failed pam_authenticate, which PAM delays')
  const unknown = await work('nobody', 'pw')
  t.ok(unknown.result instanceof UnauthorizedLogin)
  t.equal(unknown.calls.length, 1, 'an unknown user: the same')
  for (const name of ['expired', 'mustchange', 'denied', 'debianExpired', 'daemon', 'sync', 'root', 'toor']) {
    const refused = await work(name, 'pw')
    t.ok(refused.result instanceof UnauthorizedLogin, `${name}, right password: refused`)
    t.equal((refused.result as Error).message, (wrong.result as Error).message, `${name}: the same message as a wrong password`)
    t.equal(refused.calls.length, 2, `${name}: a second PAM call, to wait the failure delay`)
    const delay = refused.calls[1] as PamCall
    t.not(delay.username, name, `${name}: the delaying call names no real account (no lock-out counter is touched)`)
    t.not(delay.password, 'pw', `${name}: and never sends the password again`)
    t.equal(delay.serviceName, 'login', `${name}: on the same PAM service, so with its delay`)
  }
  const wrongRoot = await work('root', 'wrong')
  t.equal(wrongRoot.calls.length, 1, 'root with a wrong password: one delayed call, as anyone')
  const permissive = withSystem({ lookupAccount }, { allowNoLoginShell: true, allowRoot: true })
  t.equal(await login(permissive, 'daemon', 'pw'), 'daemon', 'allowNoLoginShell lets a nologin account in')
  t.equal(await login(permissive, 'root', 'pw'), 'root', 'allowRoot lets root in')
  t.equal(await login(withSystem({ lookupAccount }, { allowRoot: true }), 'sync', 'pw') instanceof UnauthorizedLogin, true, 'allowRoot alone does not allow /bin/false')
  const broken = withSystem({ lookupAccount: async () => { throw new Error('getent failed') } })
  t.ok(await login(broken, 'alice', 'pw') instanceof StoreUnavailable, 'an account database that does not answer is StoreUnavailable')
})

t.test('the store contract, on a counting binding (fault injection: PAM_AUTHINFO_UNAVAIL stands for the outage)', async (t) => {
  const password = 'wonderland-pam'
  let down = false
  // A failed pam_authenticate takes PAM's delay (2.5 s on the injected clock), as pam_faildelay makes it.
  let clock = 0
  const fake = countingBinding((call) => {
    if (down) return 9
    const code = call.username !== 'alice' ? 10 : call.password === password ? 0 : 7
    clock += code === 0 ? 30 : 2500
    return code
  })
  t.teardown(overrideDriver('node-linux-pam', async () => fake.module))
  const lookupAccount = async (name: string): Promise<{ name: string, uid: number, shell: string } | undefined> =>
    name === 'alice' ? { name, uid: 1000, shell: '/bin/bash' } : undefined
  await checkerContract(t, 'UnixChecker', {
    make: () => withSystem({ lookupAccount, now: () => clock }),
    user: 'alice',
    password,
    badOptions: [
      ['a service that is no file name', () => new UnixChecker({ service: '../etc/passwd' })],
      ['maxConcurrent 0', () => new UnixChecker({ maxConcurrent: 0 })],
      ['a negative maxQueued', () => new UnixChecker({ maxQueued: -1 })]
    ],
    driver: 'node-linux-pam',
    work: () => fake.calls.length,
    outage: { stop: async () => { down = true }, start: async () => { down = false } }
  })
})

// The real thing: a throw-away account in the machine's own password database, checked through PAM.
const useradd = needProgram('useradd', 'passwd')
const chpasswd = needProgram('chpasswd', 'passwd')
const userdel = needProgram('userdel', 'passwd')
const chage = needProgram('chage', 'passwd')
const isRoot = process.getuid?.() === 0
let binding: string | false = false
try {
  await import('node-linux-pam')
} catch (err) {
  binding = `the PAM binding node-linux-pam is not installed or did not build (apt-get install libpam0g-dev g++ make, then npm ci): ${(err as Error).message}`
  if (serversRequired) throw new Error(`${binding}; CRED_TEST_REQUIRE_SERVERS=1 forbids skipping`)
}
const realSkip = !isRoot
  ? 'not root: creating a throw-away account (useradd, chpasswd) and reading /etc/shadow through PAM need root'
  : useradd.skip || chpasswd.skip || userdel.skip || chage.skip || binding

t.test('against the real PAM and a throw-away account', { skip: realSkip }, async (t) => {
  const name = `fcred${randomBytes(4).toString('hex')}`
  const password = `pw-${randomBytes(6).toString('base64url')}`
  await run(useradd.path as string, ['-M', '-s', '/usr/sbin/nologin', '-c', 'fastify-cred test, removed by the test', name])
  t.teardown(async () => { await run(userdel.path as string, [name]).catch(() => {}) })
  await new Promise<void>((resolve, reject) => {
    const child = execFile(chpasswd.path as string, (err) => { if (err === null) resolve(); else reject(err) })
    child.stdin?.end(`${name}:${password}\n`)
  })
  const shadow = (await readFile('/etc/shadow', 'utf8')).split('\n').find((line) => line.startsWith(`${name}:`)) ?? ''
  t.comment(`the account's hash scheme: ${shadow.split(':')[1]?.split('$')[1] ?? '?'} (y = yescrypt, Debian 12's default)`)

  // The account's shell is nologin (it is a throw-away account): refused by default, let in with allowNoLoginShell.
  const counted: string[] = []
  const countingReal = async (): Promise<unknown> => {
    const { pamAuthenticate } = await import('node-linux-pam')
    return { pamAuthenticate: (call: PamCall, callback: Callback) => { counted.push(call.username); pamAuthenticate(call, callback) } }
  }
  const restoreReal = overrideDriver('node-linux-pam', countingReal)
  t.teardown(restoreReal)
  const strict = new UnixChecker()
  t.ok(await login(strict, name, password) instanceof UnauthorizedLogin, 'a nologin account is refused by default, with the right password')
  restoreReal()
  t.equal(counted.length, 2, 'after PAM accepted it, one more (failing) PAM call waited the failure delay')
  t.not(counted[1], name, 'for a name that does not exist')
  const checker = new UnixChecker({ allowNoLoginShell: true })
  t.equal(await login(checker, name, password), name, 'the right password, with allowNoLoginShell')

  t.test('a NUL would truncate the password inside the binding: the checker refuses it', async (t) => {
    const { pamAuthenticate } = await import('node-linux-pam')
    const raw = await new Promise<number>((resolve) => { pamAuthenticate({ username: name, password: `${password}\0junk` }, (_err: unknown, code: number) => resolve(code)) })
    t.equal(raw, 0, 'the bare binding accepts "password\\0junk": C strings end at the NUL')
    t.ok(await login(checker, name, `${password}\0junk`) instanceof UnauthorizedLogin, 'the checker does not')
  })

  t.test('a wrong password and an unknown user: refused alike, without blocking the event loop', async (t) => {
    // pam_faildelay makes each failure take 2-3 s: run both at once, and count timer ticks meanwhile.
    let ticks = 0
    const ticker = setInterval(() => { ticks++ }, 20)
    const [wrong, unknown] = await Promise.all([login(checker, name, 'not-the-password'), login(checker, `${name}x`, password)])
    clearInterval(ticker)
    t.ok(wrong instanceof UnauthorizedLogin)
    t.ok(unknown instanceof UnauthorizedLogin)
    t.equal((wrong as Error).message, (unknown as Error).message)
    t.ok(ticks > 10, `the event loop ran meanwhile (${ticks} ticks): PAM runs on the threadpool`)
  })

  t.test('an expired account is refused (pam_acct_mgmt) though its password is right, after the failure delay', async (t) => {
    await run(chage.path as string, ['-E', '0', name])
    t.teardown(async () => { await run(chage.path as string, ['-E', '-1', name]) })
    counted.length = 0
    t.teardown(overrideDriver('node-linux-pam', countingReal))
    const expired = new UnixChecker({ allowNoLoginShell: true })
    t.ok(await login(expired, name, password) instanceof UnauthorizedLogin)
    t.equal(counted.length, 2, 'PAM_ACCT_EXPIRED is followed by one failing pam_authenticate, which PAM delays')
  })

  t.test('a password that must be changed (chage -d 0) is refused alike', async (t) => {
    const { stdout } = await run(chage.path as string, ['-l', name])
    t.teardown(async () => { await run(chage.path as string, ['-d', new Date().toISOString().slice(0, 10), name]) })
    t.comment(stdout.split('\n')[0] ?? '')
    await run(chage.path as string, ['-d', '0', name])
    counted.length = 0
    t.teardown(overrideDriver('node-linux-pam', countingReal))
    const mustChange = new UnixChecker({ allowNoLoginShell: true })
    t.ok(await login(mustChange, name, password) instanceof UnauthorizedLogin)
    t.equal(counted.length, 2, 'PAM_NEW_AUTHTOK_REQD is followed by one failing pam_authenticate')
  })

  t.test('end to end: the plugin and real curl', { skip: curl.skip }, async (t) => {
    interface User { name: string }
    const IUser = defineInterface<User>('IUser')
    const app = Fastify()
    await app.register(cred, { realm: new SimpleRealm().serve(IUser, (id) => ({ name: String(id) })), checkers: [checker], interfaces: [IUser] })
    app.get('/whoami', async (request) => request.avatar)
    await app.listen({ port: 0, host: '127.0.0.1' })
    t.teardown(() => app.close())
    const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}/whoami`
    const ok = await curlRequest(['-u', `${name}:${password}`], url)
    t.equal(ok.status, 200)
    t.same(JSON.parse(ok.body), { name })
    t.equal((await curlRequest(['-u', `${name}:wrong`], url)).status, 401)
  })
})
