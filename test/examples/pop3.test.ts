import { execFile, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { connect } from 'node:net'
import type { Socket } from 'node:net'
import t from 'tap'
import type { Test } from 'tap'
import { buildPop3Example, exampleUsers } from '../../examples/pop3/server.js'
import type { Pop3Example, Pop3ExampleOptions } from '../../examples/pop3/server.js'
import { apopDigest } from '../../examples/pop3/pop3-server.js'
import { basic } from '../helpers/app.js'
import { curl } from '../helpers/curl.js'
import { DJANGO_SQLITE } from '../helpers/django-fixtures.js'

const root = new URL('../..', import.meta.url).pathname
const ALICE = `alice:${exampleUsers.alice}`

/** A POP3 client that reads what the server says line by line: for what curl cannot send (bad input, timing). */
class Pop3Conversation {
  readonly greeting: string
  readonly closed: Promise<void>
  readonly #socket: Socket
  readonly #lines: string[]
  readonly #waiters: Array<(line: string | null) => void>

  private constructor (socket: Socket, greeting: string, lines: string[], waiters: Array<(line: string | null) => void>, closed: Promise<void>) {
    this.#socket = socket
    this.greeting = greeting
    this.#lines = lines
    this.#waiters = waiters
    this.closed = closed
  }

  static async open (port: number): Promise<Pop3Conversation> {
    const socket = connect(port, '127.0.0.1')
    const lines: string[] = []
    const waiters: Array<(line: string | null) => void> = []
    let buffer = ''
    socket.setEncoding('utf8')
    socket.on('data', (chunk: string) => {
      buffer += chunk
      let at
      while ((at = buffer.indexOf('\r\n')) !== -1) {
        const line = buffer.slice(0, at)
        buffer = buffer.slice(at + 2)
        const waiter = waiters.shift()
        if (waiter !== undefined) waiter(line)
        else lines.push(line)
      }
    })
    socket.on('error', () => {})
    const closed = new Promise<void>((resolve) => socket.once('close', () => {
      for (const waiter of waiters.splice(0)) waiter(null)
      resolve()
    }))
    const first = await new Promise<string | null>((resolve) => { const line = lines.shift(); if (line !== undefined) resolve(line); else waiters.push(resolve) })
    if (first === null) throw new Error('the server closed before its greeting')
    return new Pop3Conversation(socket, first, lines, waiters, closed)
  }

  /** The next line the server sends, or null once it has closed. */
  async line (): Promise<string | null> {
    const line = this.#lines.shift()
    if (line !== undefined) return line
    if (this.#socket.destroyed) return null
    return await new Promise((resolve) => this.#waiters.push(resolve))
  }

  write (raw: string | Buffer): void { this.#socket.write(raw) }

  /** Sends one command and answers the server's one-line reply. */
  async say (command: string): Promise<string | null> {
    this.write(`${command}\r\n`)
    return await this.line()
  }

  /** Sends a command whose `+OK` reply is multi-line: answers the status line and the lines up to the lone `.`. */
  async sayMulti (command: string): Promise<{ status: string | null, lines: string[] }> {
    const status = await this.say(command)
    const lines: string[] = []
    if (status?.startsWith('+OK') !== true) return { status, lines }
    for (let line = await this.line(); line !== null && line !== '.'; line = await this.line()) lines.push(line)
    return { status, lines }
  }

  destroy (): void { this.#socket.destroy() }
}

async function start (t: Test, options: Pop3ExampleOptions = {}): Promise<Pop3Example & { http: string, port: number }> {
  const example = await buildPop3Example(options)
  t.teardown(() => example.close())
  const http = await example.app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = await example.pop3.listen(0)
  return Object.assign(example, { http, port })
}

async function loggedIn (t: Test, port: number, user = 'alice', password = exampleUsers.alice): Promise<Pop3Conversation> {
  const pop3 = await Pop3Conversation.open(port)
  t.teardown(() => { pop3.destroy() })
  t.match(await pop3.say(`USER ${user}`), /^\+OK/)
  t.match(await pop3.say(`PASS ${password}`), /^\+OK \d+ messages$/)
  return pop3
}

/** Runs the real curl; answers its exit code, its output and its protocol trace (-v). */
async function runCurl (args: readonly string[]): Promise<{ code: number, stdout: string, trace: string }> {
  if (curl.path === undefined) throw new Error(curl.skip)
  return await new Promise((resolve) => {
    execFile(curl.path as string, ['-sS', '-v', ...args], { encoding: 'utf8', timeout: 20_000 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : Number((err as { code?: unknown }).code ?? -1), stdout, trace: stderr })
    })
  })
}

const until = async (condition: () => boolean, what: string): Promise<void> => {
  for (let i = 0; i < 200 && !condition(); i++) await new Promise((resolve) => setTimeout(resolve, 10))
  if (!condition()) throw new Error(`timed out waiting until ${what}`)
}

t.test('curl: lists with AUTH PLAIN, retrieves, forces APOP, a wrong password exits 67', { skip: curl.skip }, async (t) => {
  const { port } = await start(t)
  const url = `pop3://${ALICE}@127.0.0.1:${port}`

  const list = await runCurl([`${url}/`])
  t.equal(list.code, 0)
  t.match(list.stdout, /^1 \d+\r\n2 \d+\r\n$/, 'LIST: alice has two messages')
  t.match(list.trace, /> AUTH PLAIN/, 'curl chose SASL PLAIN, listed by CAPA')
  t.match(list.trace, /< \+OK fastify-cred POP3 example ready <\d+\.\d+\.[0-9a-f]+@[^>]+>/, 'the greeting carries an APOP timestamp')

  const second = await runCurl([`${url}/2`])
  t.equal(second.code, 0)
  t.match(second.stdout, /^From: hatter@example\.org\r\n/)
  t.match(second.stdout, /Six o'clock, as always\.\r\n\.\r\nA line with only a dot/, 'the byte-stuffed dot line arrives as one dot')

  const apop = await runCurl(['--login-options', 'AUTH=+APOP', `${url}/1`])
  t.equal(apop.code, 0)
  t.match(apop.trace, /> APOP alice [0-9a-f]{32}/, 'curl logged in with APOP')
  t.match(apop.stdout, /Subject: Late/)

  const wrong = await runCurl([`pop3://alice:guess@127.0.0.1:${port}/`])
  t.equal(wrong.code, 67, 'curl: (67) Login denied')
  t.match(wrong.trace, /< -ERR \[AUTH\] Invalid user name or password/)
  const wrongApop = await runCurl(['--login-options', 'AUTH=+APOP', `pop3://alice:guess@127.0.0.1:${port}/`])
  t.equal(wrongApop.code, 67)

  const uidl = await runCurl(['-X', 'UIDL', `${url}/`])
  t.match(uidl.stdout, /^1 \S+\r\n2 \S+\r\n$/)
})

t.test('curl: DELE 1 then QUIT removes the message, for the next POP3 session and over HTTP (Basic and Digest)', { skip: curl.skip }, async (t) => {
  const { port, http, app } = await start(t)
  const url = `pop3://${ALICE}@127.0.0.1:${port}`
  const before = (await app.inject({ url: '/messages', headers: { authorization: basic('alice', exampleUsers.alice) } })).json() as Array<{ uid: string, subject: string }>
  t.same(before.map((m) => m.subject), ['Late', 'Tea party'])

  const dele = await runCurl(['-X', 'DELE 1', '-I', `${url}/`])
  t.equal(dele.code, 0)
  t.match(dele.trace, /< \+OK Message 1 marked deleted/)

  const after = await runCurl([`${url}/`])
  t.match(after.stdout, /^1 \d+\r\n$/, 'one message left')
  const retr = await runCurl([`${url}/1`])
  t.match(retr.stdout, /Subject: Tea party/, 'the old second message is now number 1')

  for (const scheme of [['-u', ALICE], ['--digest', '-u', ALICE]]) {
    const res = await runCurl([...scheme, `${http}/messages`])
    t.equal(res.code, 0)
    const messages = JSON.parse(res.stdout) as Array<{ uid: string, subject: string }>
    t.same(messages.map((m) => m.subject), ['Tea party'], `${scheme[0] as string}: HTTP sees the deletion`)
    t.notOk(messages.some((m) => m.uid === before[0]?.uid))
  }
  const gone = await runCurl(['-u', ALICE, '-o', '/dev/null', '-w', '%{http_code}', `${http}/messages/${before[0]?.uid ?? ''}`])
  t.equal(gone.stdout, '404')
})

t.test('USER/PASS, STAT, LIST, UIDL, RETR (byte-stuffed), DELE, RSET, NOOP, QUIT', async (t) => {
  const { port, store } = await start(t)
  const pop3 = await loggedIn(t, port)
  t.match(await pop3.say('STAT'), /^\+OK 2 \d+$/)
  const list = await pop3.sayMulti('LIST')
  t.equal(list.lines.length, 2)
  const sizes = list.lines.map((line) => Number(line.split(' ')[1]))
  t.equal(await pop3.say('LIST 2'), `+OK 2 ${sizes[1] ?? ''}`)
  t.match(await pop3.say('LIST 3'), /^-ERR No such message/)
  t.match(await pop3.say('LIST x'), /^-ERR No such message/)
  const uidl = await pop3.sayMulti('uidl') // keywords are case-insensitive
  t.match(uidl.lines, [/^1 m\d+$/, /^2 m\d+$/])

  const retr = await pop3.sayMulti('RETR 2')
  t.equal(retr.status, `+OK ${sizes[1] ?? ''} octets`)
  t.ok(retr.lines.includes('..'), 'a line of only "." is sent as ".."')
  t.equal(Buffer.byteLength(retr.lines.map((line) => line === '..' ? '.' : line).join('\r\n') + '\r\n'), sizes[1], 'the size counts the message before stuffing')

  t.match(await pop3.say('DELE 1'), /^\+OK Message 1 marked deleted/)
  t.match(await pop3.say('DELE 1'), /^-ERR No such message/, 'twice')
  t.match(await pop3.say('RETR 1'), /^-ERR No such message/, 'a deleted message cannot be read')
  t.equal(await pop3.say('STAT'), `+OK 1 ${sizes[1] ?? ''}`)
  t.same((await pop3.sayMulti('LIST')).lines, [`2 ${sizes[1] ?? ''}`], 'numbers do not change within a session')
  t.match(await pop3.say('RSET'), /^\+OK 2 messages/)
  t.match(await pop3.say('STAT'), /^\+OK 2 /)
  t.equal(await pop3.say('NOOP'), '+OK')
  t.match(await pop3.say('DELE 2'), /^\+OK/)
  t.equal(await pop3.say('QUIT'), '+OK Bye')
  await pop3.closed
  t.same(store.view('alice').list().map((m) => m.subject), ['Late'], 'QUIT removed what was still marked')
  t.equal(store.isLocked('alice'), false, 'QUIT logged out')
})

t.test('a session that ends without QUIT logs out and removes nothing (RFC 1939 §6)', async (t) => {
  const { port, store } = await start(t)
  const pop3 = await loggedIn(t, port)
  t.match(await pop3.say('DELE 1'), /^\+OK/)
  t.equal(store.isLocked('alice'), true)
  pop3.destroy()
  await until(() => !store.isLocked('alice'), 'the disconnect logged out')
  t.equal(store.view('alice').list().length, 2)
})

t.test('a second session on an open maildrop gets -ERR [IN-USE]; after the first one leaves, it logs in', async (t) => {
  const { port, app } = await start(t)
  const first = await loggedIn(t, port)
  const second = await Pop3Conversation.open(port)
  t.teardown(() => { second.destroy() })
  t.match(await second.say('USER alice'), /^\+OK/)
  t.match(await second.say(`PASS ${exampleUsers.alice}`), /^-ERR \[IN-USE\] The maildrop of alice is in use/)
  const plain = Buffer.from(`\0alice\0${exampleUsers.alice}`).toString('base64')
  t.match(await second.say(`AUTH PLAIN ${plain}`), /^-ERR \[IN-USE\]/, 'AUTH PLAIN too')
  t.equal((await app.inject({ url: '/messages', headers: { authorization: basic('alice', exampleUsers.alice) } })).statusCode, 200, 'HTTP reads while POP3 holds the lock')
  t.match(await second.say('STAT'), /^-ERR/, 'still not logged in')
  t.equal(await first.say('QUIT'), '+OK Bye')
  t.match(await second.say('USER alice'), /^\+OK/)
  t.match(await second.say(`PASS ${exampleUsers.alice}`), /^\+OK 2 messages/)
})

t.test('commands out of state, unknown commands, missing arguments: a clear -ERR, the session goes on', async (t) => {
  const { port } = await start(t)
  const pop3 = await Pop3Conversation.open(port)
  t.teardown(() => { pop3.destroy() })
  for (const command of ['STAT', 'LIST', 'UIDL', 'RETR 1', 'DELE 1', 'RSET', 'NOOP']) {
    t.match(await pop3.say(command), /^-ERR \w+ is only valid after login/, `${command} before login`)
  }
  t.match(await pop3.say('PASS wonderland'), /^-ERR Send USER first/)
  t.match(await pop3.say('USER'), /^-ERR USER needs a name/)
  t.match(await pop3.say('XYZZY'), /^-ERR Unknown command/)
  t.match(await pop3.say(''), /^-ERR Unknown command/)
  t.match(await pop3.say('APOP alice nothex'), /^-ERR APOP needs a name and a 32-digit hex digest/)
  t.match(await pop3.say('AUTH CRAM-MD5'), /^-ERR Unrecognized authentication type/)
  t.match(await pop3.say('AUTH PLAIN !!!'), /^-ERR AUTH PLAIN: the response is not base64/)
  t.match(await pop3.say(`AUTH PLAIN ${Buffer.from('alice\0wonderland').toString('base64')}`), /^-ERR AUTH PLAIN: expected authzid NUL authcid NUL password/)
  t.match(await pop3.say(`AUTH PLAIN ${Buffer.from(`bob\0alice\0${exampleUsers.alice}`).toString('base64')}`), /^-ERR \[AUTH\] Logging in as another user/)
  const capa = await pop3.sayMulti('CAPA')
  t.same(capa.lines, ['USER', 'UIDL', 'RESP-CODES', 'AUTH-RESP-CODE', 'SASL PLAIN', 'IMPLEMENTATION fastify-cred-example'])
  t.match(await pop3.say('USER alice'), /^\+OK/)
  t.match(await pop3.say(`PASS ${exampleUsers.alice}`), /^\+OK/)
  for (const command of ['USER alice', 'PASS x', 'APOP alice 0123456789abcdef0123456789abcdef', 'AUTH PLAIN']) {
    t.match(await pop3.say(command), /^-ERR \w+ is not valid after login/, `${command.split(' ')[0] ?? ''} after login`)
  }
  t.match(await pop3.say('RETR'), /^-ERR No such message/)
  t.match(await pop3.say('DELE 0'), /^-ERR No such message/)
  t.match(await pop3.say('RETR 99999999999'), /^-ERR No such message/)
  t.equal(await pop3.say('NOOP'), '+OK', 'still in the session')
})

t.test('AUTH PLAIN with a continuation line, "*" cancels, "=" is an empty response; USER names with any bytes are fine', async (t) => {
  const { port } = await start(t)
  const pop3 = await Pop3Conversation.open(port)
  t.teardown(() => { pop3.destroy() })
  t.equal(await pop3.say('AUTH PLAIN'), '+ ')
  t.match(await pop3.say('*'), /^-ERR AUTH cancelled/)
  t.match(await pop3.say('AUTH PLAIN ='), /^-ERR AUTH PLAIN: expected/)
  t.match(await pop3.say('USER \u00e9\u0000x'), /^\+OK/)
  t.match(await pop3.say('PASS y'), /^-ERR \[AUTH\] Invalid user name or password/)
  // A continuation may be longer than a command line (RFC 5034): a 700-octet response is read, then refused.
  t.equal(await pop3.say('AUTH PLAIN'), '+ ')
  t.match(await pop3.say(Buffer.from(`\0${'a'.repeat(250)}\0${'b'.repeat(250)}`).toString('base64')), /^-ERR \[AUTH\] Invalid/)
  t.equal(await pop3.say('AUTH PLAIN'), '+ ')
  t.match(await pop3.say(Buffer.from(`alice\0alice\0${exampleUsers.alice}`).toString('base64')), /^\+OK 2 messages/, 'authzid equal to authcid is fine')
})

t.test('over-long lines: -ERR, and the connection stays usable', async (t) => {
  const { port } = await start(t)
  const pop3 = await Pop3Conversation.open(port)
  t.teardown(() => { pop3.destroy() })
  t.match(await pop3.say(`USER ${'a'.repeat(260)}`), /^-ERR Line too long: at most 255 octets/)
  t.match(await pop3.say(`USER ${'a'.repeat(248)}`), /^\+OK/, '255 octets with CRLF is fine')
  // A megabyte without a line end: one answer, the bytes are dropped as they come, then the next line is read.
  pop3.write(Buffer.alloc(1 << 20, 0x41))
  t.match(await pop3.line(), /^-ERR Line too long/)
  pop3.write('\r\n') // its end: no second answer
  t.match(await pop3.say('USER alice'), /^\+OK/)
  t.match(await pop3.say(`PASS ${exampleUsers.alice}`), /^\+OK/)
})

t.test('twenty bad commands in a row end the connection', async (t) => {
  const { port } = await start(t)
  const pop3 = await Pop3Conversation.open(port)
  t.teardown(() => { pop3.destroy() })
  pop3.write('BAD\r\n'.repeat(25))
  const answers: string[] = []
  for (let line = await pop3.line(); line !== null; line = await pop3.line()) answers.push(line)
  t.equal(answers.length, 21)
  t.equal(answers.at(-1), '-ERR Too many errors: closing the connection')
})

t.test('idle timeout: a silent client gets -ERR and is disconnected; a logged-in one is logged out, nothing removed', async (t) => {
  const { port, store } = await start(t, { idleTimeout: 300 })
  const silent = await Pop3Conversation.open(port)
  t.teardown(() => { silent.destroy() })
  t.match(await silent.line(), /^-ERR Idle for too long/)
  await silent.closed
  const pop3 = await loggedIn(t, port)
  t.match(await pop3.say('DELE 1'), /^\+OK/)
  t.match(await pop3.line(), /^-ERR Idle for too long/)
  await pop3.closed
  await until(() => !store.isLocked('alice'), 'the timeout logged out')
  t.equal(store.view('alice').list().length, 2, 'the mark was not applied')
})

t.test('APOP: the digest of the greeting\'s timestamp logs in; one made for another timestamp does not', async (t) => {
  const { port } = await start(t)
  const pop3 = await Pop3Conversation.open(port)
  t.teardown(() => { pop3.destroy() })
  const timestamp = /<[^>]+>/.exec(pop3.greeting)?.[0] ?? ''
  t.match(timestamp, /^<\d+\.\d+\.[0-9a-f]{12}@.+>$/)
  const other = await Pop3Conversation.open(port)
  t.teardown(() => { other.destroy() })
  t.not(/<[^>]+>/.exec(other.greeting)?.[0], timestamp, 'each connection has its own timestamp')
  t.match(await pop3.say(`APOP alice ${apopDigest('<1.2@elsewhere>', exampleUsers.alice)}`), /^-ERR \[AUTH\] Invalid/, 'a replayed digest')
  t.match(await pop3.say(`APOP alice ${apopDigest(timestamp, exampleUsers.alice).toUpperCase()}`), /^\+OK 2 messages/)
})

t.test('the same throttle as HTTP: five wrong POP3 passwords make HTTP answer 429, and POP3 refuse the right one', async (t) => {
  const now = Date.now() // a clock that stands still: the wait cannot run out on a slow machine
  const { port, app } = await start(t, { clock: () => now })
  const pop3 = await Pop3Conversation.open(port)
  t.teardown(() => { pop3.destroy() })
  for (let i = 0; i < 5; i++) {
    t.match(await pop3.say('USER alice'), /^\+OK/)
    t.match(await pop3.say(`PASS guess${i}`), /^-ERR \[AUTH\] Invalid user name or password/)
  }
  const http = await app.inject({ url: '/messages', headers: { authorization: basic('alice', exampleUsers.alice) } })
  t.equal(http.statusCode, 429)
  t.equal(http.headers['retry-after'], '1')
  t.match(await pop3.say('USER alice'), /^\+OK/)
  t.match(await pop3.say(`PASS ${exampleUsers.alice}`), /^-ERR \[SYS\/TEMP\] Too many failed logins: try again in 1 s/)
  t.match(await pop3.say(`APOP alice ${apopDigest(/<[^>]+>/.exec(pop3.greeting)?.[0] ?? '', exampleUsers.alice)}`), /^-ERR \[SYS\/TEMP\]/, 'APOP too')
  t.equal((await app.inject({ url: '/messages', headers: { authorization: basic('bob', exampleUsers.bob) } })).statusCode, 200, 'another user is not held back')
})

t.test('stopping the example logs out every POP3 session and tells the client', async (t) => {
  const example = await buildPop3Example()
  const { port } = await example.pop3.listen(0)
  const pop3 = await loggedIn(t, port)
  t.equal(example.pop3.sessions, 1)
  await example.close()
  t.equal(example.store.isLocked('alice'), false, 'logged out before close() resolved')
  t.match(await pop3.line(), /^-ERR \[SYS\/TEMP\] The server is shutting down/)
  await pop3.closed
  t.equal(example.pop3.sessions, 0)
})

/** Starts the built example as its README does; answers its ports and what it printed. */
async function startBuilt (t: Test, env: NodeJS.ProcessEnv): Promise<{ http: string, port: number, output: () => string }> {
  const server = spawn(process.execPath, ['dist/examples/pop3/server.js'], { cwd: root, env: { ...process.env, HTTP_PORT: '0', POP3_PORT: '0', ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  t.teardown(() => { server.kill() })
  let output = ''
  return await new Promise((resolve, reject) => {
    const look = (chunk: Buffer): void => {
      output += chunk.toString('utf8')
      const http = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(output)?.[1]
      const port = /POP3 listening at pop3:\/\/127\.0\.0\.1:(\d+)\//.exec(output)?.[1]
      if (http !== undefined && port !== undefined) resolve({ http, port: Number(port), output: () => output })
    }
    server.stdout.on('data', look)
    server.stderr.on('data', look)
    server.on('exit', (code) => { reject(new Error(`the example exited with ${String(code)}: ${output}`)) })
  })
}

const built = existsSync(`${root}dist/examples/pop3/server.js`) ? false : 'run `npm run build` first'

t.test('node dist/examples/pop3/server.js on a Django user table (CRED_AUTH): curl logs in; APOP is not offered', { skip: curl.skip || built }, async (t) => {
  const { http, port, output } = await startBuilt(t, { CRED_AUTH: `django:${DJANGO_SQLITE}` })
  const list = await runCurl([`pop3://bob:builder@127.0.0.1:${port}/`])
  t.equal(list.code, 0)
  t.match(list.stdout, /^1 \d+\r\n$/, 'Django\'s bob reads the example\'s mailbox of bob')
  t.match(list.trace, /< \+OK fastify-cred POP3 example ready\r?\n/, 'no timestamp: the store cannot check digests')
  const apop = await runCurl(['--login-options', 'AUTH=+APOP', `pop3://bob:builder@127.0.0.1:${port}/`])
  t.equal(apop.code, 67, 'curl cannot use APOP')
  const pop3 = await Pop3Conversation.open(port)
  t.teardown(() => { pop3.destroy() })
  t.match(await pop3.say('APOP bob 0123456789abcdef0123456789abcdef'), /^-ERR \[AUTH\] APOP is not offered/)
  t.match(await pop3.say('USER bob'), /^\+OK/)
  t.match(await pop3.say('PASS builder'), /^\+OK 1 messages/, 'USER/PASS against Django\'s hashes')
  t.equal(await pop3.say('QUIT'), '+OK Bye')
  const res = await runCurl(['-u', 'bob:builder', `${http}/messages`])
  t.match(JSON.parse(res.stdout), [{ subject: 'Can we fix it?', from: 'wendy@example.org' }])
  const carol = await runCurl(['-u', 'carol:c4rol', `${http}/messages`])
  t.match(JSON.parse(carol.stdout), [{ subject: 'Welcome', from: 'postmaster@example.org' }], 'a user the mail store never saw gets a welcome message')
  t.notMatch(output(), /builder/, 'no password in the log')
  t.match(output(), /"user":"bob".*POP3 login: maildrop attached/)
  t.match(output(), /"user":"bob".*POP3 logout: maildrop detached/)
})
