import { createHash, randomBytes } from 'node:crypto'
import { createServer } from 'node:net'
import type { AddressInfo, Server, Socket } from 'node:net'
import { hostname as osHostname } from 'node:os'
import {
  LoginDenied, StoreUnavailable, TooManyAttempts, UnauthorizedLogin, UnhandledCredentials, UsernameHashedPassword, UsernamePassword
} from '../../lib/index.js'
import type { Credentials, Portal } from '../../lib/index.js'
import { IMaildrop, MaildropInUse, octets } from './mailboxes.js'
import type { Maildrop } from './mailboxes.js'

/** RFC 2449 §4: a command line is at most 255 octets, CRLF included. */
export const MAX_COMMAND_LINE = 255
/** An AUTH continuation line (a base64 SASL response) may be longer: PLAIN with long names and passwords. */
export const MAX_SASL_LINE = 2048
/** RFC 1939 §3: the autologout timer "MUST be of at least 10 minutes' duration". */
export const DEFAULT_IDLE_TIMEOUT = 10 * 60_000
/** Unknown or refused commands in a row before the server gives up on a client. */
const MAX_ERRORS_IN_A_ROW = 20

/** Where the server says what happened: a pino logger (`app.log`) fits. Never given a password. */
export interface Pop3Log {
  info (fields: object, message: string): void
  error (fields: object, message: string): void
}

export interface Pop3ServerOptions {
  /** The portal every login goes through: share the HTTP API's (`app.portal`) and its checkers and throttle. */
  portal: Portal<unknown>
  /** The host name in the APOP timestamp `<pid.clock@host>`. Default: the machine's. */
  hostname?: string
  /** Milliseconds a client may stay silent before it is disconnected. Default 10 minutes (RFC 1939's minimum). */
  idleTimeout?: number
  log?: Pop3Log
}

/** What the realm receives as the mind of a POP3 login: enough for the throttle (`address`) and for logs. */
export interface Pop3Mind {
  readonly protocol: 'pop3'
  readonly address: string | undefined
}

/**
 * The APOP digest RFC 1939 §7 defines, `md5(timestamp + password)` in lower-case hex. The credentials that carry it
 * are `UsernameHashedPassword`s: only a checker that knows the plaintext can recompute it (as in Twisted's POP3).
 *
 * @example
 * apopDigest('<1896.697170952@dbc.mtview.ca.us>', 'tanstaaf') // 'c4c9334bac560ecc979e58001b3e22fb'
 */
export function apopDigest (timestamp: string, password: string): string {
  return createHash('md5').update(timestamp + password, 'utf8').digest('hex')
}

const NO_DIGEST = new UsernameHashedPassword('', '')

/**
 * A POP3 server (RFC 1939 with RFC 2449's CAPA and response codes, RFC 5034's `AUTH PLAIN`) on plain TCP, whose
 * logins go through a cred Portal asking for `IMaildrop`. Plain TCP only: every mechanism here shows the password or
 * a replayable digest to the network, so put it behind TLS anywhere but on loopback.
 *
 * @example
 * const pop3 = new Pop3Server({ portal: app.portal, log: app.log })
 * const { port } = await pop3.listen(1110, '127.0.0.1')
 */
export class Pop3Server {
  readonly #options: Required<Omit<Pop3ServerOptions, 'log'>> & { log: Pop3Log | undefined }
  readonly #server: Server
  readonly #sessions = new Set<Pop3Session>()

  constructor (options: Pop3ServerOptions) {
    const idleTimeout = options.idleTimeout ?? DEFAULT_IDLE_TIMEOUT
    if (!Number.isSafeInteger(idleTimeout) || idleTimeout <= 0) throw new RangeError('Pop3Server: `idleTimeout` must be a positive number of milliseconds')
    this.#options = { portal: options.portal, hostname: options.hostname ?? osHostname(), idleTimeout, log: options.log }
    this.#server = createServer((socket) => {
      const session = new Pop3Session(socket, this.#options)
      this.#sessions.add(session)
      void session.ended.then(() => this.#sessions.delete(session))
    })
  }

  /** Open sessions (connected clients), logged in or not. */
  get sessions (): number {
    return this.#sessions.size
  }

  /** Listens on `port` (0: any free one) and answers the address. */
  async listen (port: number, host = '127.0.0.1'): Promise<AddressInfo> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject)
      this.#server.listen(port, host, () => { this.#server.off('error', reject); resolve() })
    })
    return this.#server.address() as AddressInfo
  }

  /** Stops accepting, tells every client the server is going away, and resolves once every login has logged out. */
  async close (): Promise<void> {
    const closed = new Promise<void>((resolve) => { this.#server.close(() => { resolve() }) })
    await Promise.all([...this.#sessions].map(async (session) => { await session.shutDown() }))
    await closed
  }
}

type Line = { readonly text: string, readonly octets: number } | { readonly tooLong: true }

/** One client's conversation, from the greeting to the last logout. */
class Pop3Session {
  readonly ended: Promise<void>
  readonly #socket: Socket
  readonly #portal: Portal<unknown>
  readonly #log: Pop3Log | undefined
  readonly #mind: Pop3Mind
  /** APOP's challenge; undefined when no checker of the portal can check a digest (then APOP is not offered). */
  readonly #timestamp: string | undefined
  #state: 'authorization' | 'transaction' | 'closed' = 'authorization'
  #user: string | undefined
  #saslPending = false
  #maildrop: Maildrop | undefined
  #logout: (() => Promise<void>) | undefined
  #loggedIn: string | undefined
  #errorsInARow = 0
  /** Bytes of the line being received, and whether the rest of an over-long line is being skipped. */
  #partial: Buffer[] = []
  #partialLength = 0
  #skipping = false
  readonly #queue: Line[] = []
  #busy = false
  #resolveEnded!: () => void

  constructor (socket: Socket, options: { portal: Portal<unknown>, hostname: string, idleTimeout: number, log: Pop3Log | undefined }) {
    this.#socket = socket
    this.#portal = options.portal
    this.#log = options.log
    this.ended = new Promise((resolve) => { this.#resolveEnded = resolve })
    const address = socket.remoteAddress
    this.#mind = Object.freeze({ protocol: 'pop3', address: address?.startsWith('::ffff:') === true ? address.slice(7) : address })
    const canCheckDigests = options.portal.checkerFor(NO_DIGEST) !== undefined
    this.#timestamp = canCheckDigests ? `<${process.pid}.${Date.now()}.${randomBytes(6).toString('hex')}@${options.hostname}>` : undefined
    socket.setTimeout(options.idleTimeout)
    socket.on('timeout', () => {
      this.#send('-ERR Idle for too long: closing the connection (nothing marked deleted was removed)')
      this.#hangUp()
    })
    socket.on('data', (chunk: Buffer) => { this.#receive(chunk) })
    socket.on('error', () => {}) // a reset by the client: 'close' follows and ends the session
    socket.on('close', () => { void this.#end() })
    this.#send(`+OK fastify-cred POP3 example ready${this.#timestamp === undefined ? '' : ` ${this.#timestamp}`}`)
  }

  /** Server shutdown: say so, hang up, and wait for the logout. */
  async shutDown (): Promise<void> {
    if (this.#state !== 'closed') this.#send('-ERR [SYS/TEMP] The server is shutting down')
    this.#hangUp()
    await this.#end()
  }

  #receive (chunk: Buffer): void {
    let start = 0
    while (start < chunk.length) {
      const lf = chunk.indexOf(0x0a, start)
      const end = lf === -1 ? chunk.length : lf
      if (!this.#skipping) {
        this.#partial.push(chunk.subarray(start, end))
        this.#partialLength += end - start
        if (this.#partialLength > MAX_SASL_LINE) {
          this.#partial = []
          this.#partialLength = 0
          this.#skipping = true
          this.#queue.push({ tooLong: true })
        }
      }
      if (lf === -1) break
      if (!this.#skipping) {
        const bytes = Buffer.concat(this.#partial)
        const line = bytes.at(-1) === 0x0d ? bytes.subarray(0, -1) : bytes
        this.#queue.push({ text: line.toString('utf8'), octets: line.length + 2 })
      }
      this.#partial = []
      this.#partialLength = 0
      this.#skipping = false
      start = lf + 1
    }
    void this.#drain()
  }

  /** Answers the queued lines one at a time, in order (a login may take a while); reading pauses meanwhile. */
  async #drain (): Promise<void> {
    if (this.#busy) return
    this.#busy = true
    this.#socket.pause()
    try {
      let line: Line | undefined
      while (this.#state !== 'closed' && (line = this.#queue.shift()) !== undefined) {
        const ok = await this.#answer(line)
        this.#errorsInARow = ok ? 0 : this.#errorsInARow + 1
        if (this.#errorsInARow >= MAX_ERRORS_IN_A_ROW) {
          this.#send('-ERR Too many errors: closing the connection')
          this.#hangUp()
        }
      }
    } catch (err) {
      this.#log?.error({ err }, 'POP3 session failed')
      this.#send('-ERR [SYS/PERM] Internal error')
      this.#hangUp()
    } finally {
      this.#busy = false
      if (this.#state !== 'closed') this.#socket.resume()
    }
  }

  /** Answers one line; resolves to false when the answer was `-ERR`. */
  async #answer (line: Line): Promise<boolean> {
    if ('tooLong' in line) {
      this.#saslPending = false
      return this.#error(`Line too long: at most ${MAX_COMMAND_LINE} octets per command, CRLF included`)
    }
    if (this.#saslPending) {
      this.#saslPending = false
      return await this.#authPlain(line.text)
    }
    if (line.octets > MAX_COMMAND_LINE) return this.#error(`Line too long: at most ${MAX_COMMAND_LINE} octets per command, CRLF included`)
    const space = line.text.indexOf(' ')
    const keyword = (space === -1 ? line.text : line.text.slice(0, space)).toUpperCase()
    const argument = space === -1 ? '' : line.text.slice(space + 1)
    if (keyword === 'QUIT') return await this.#quit()
    if (keyword === 'CAPA') return this.#capa()
    if (this.#state === 'authorization') {
      switch (keyword) {
        case 'USER': return this.#userCommand(argument)
        case 'PASS': return await this.#pass(argument)
        case 'APOP': return await this.#apop(argument)
        case 'AUTH': return await this.#auth(argument)
        case 'STAT': case 'LIST': case 'UIDL': case 'RETR': case 'DELE': case 'RSET': case 'NOOP':
          return this.#error(`${keyword} is only valid after login`)
      }
    } else {
      const maildrop = this.#maildrop as Maildrop
      switch (keyword) {
        case 'STAT': return this.#stat(maildrop)
        case 'LIST': return this.#scanListing(maildrop, argument, (number, message) => `${number} ${octets(message.raw)}`)
        case 'UIDL': return this.#scanListing(maildrop, argument, (number, message) => `${number} ${message.uid}`)
        case 'RETR': return this.#retrieve(maildrop, argument)
        case 'DELE': return this.#delete(maildrop, argument)
        case 'RSET':
          maildrop.reset()
          return this.#ok(`${maildrop.count} messages`)
        case 'NOOP': return this.#ok('')
        case 'USER': case 'PASS': case 'APOP': case 'AUTH':
          return this.#error(`${keyword} is not valid after login`)
      }
    }
    return this.#error('Unknown command')
  }

  #capa (): boolean {
    const capabilities = ['USER', 'UIDL', 'RESP-CODES', 'AUTH-RESP-CODE', 'SASL PLAIN', 'IMPLEMENTATION fastify-cred-example']
    this.#send(['+OK Capability list follows', ...capabilities, '.'].join('\r\n'))
    return true
  }

  #userCommand (name: string): boolean {
    if (name === '') return this.#error('USER needs a name')
    this.#user = name
    return this.#ok('Send PASS')
  }

  async #pass (password: string): Promise<boolean> {
    const user = this.#user
    this.#user = undefined
    if (user === undefined) return this.#error('Send USER first')
    return await this.#login(new UsernamePassword(user, password))
  }

  async #apop (argument: string): Promise<boolean> {
    const match = /^(\S+) ([0-9a-fA-F]{32})$/.exec(argument)
    if (match === null) return this.#error('APOP needs a name and a 32-digit hex digest')
    const timestamp = this.#timestamp
    if (timestamp === undefined) return this.#error('[AUTH] APOP is not offered: this server\'s user store cannot check digests; use USER/PASS or AUTH PLAIN')
    const [, name, digest] = match as unknown as [string, string, string]
    return await this.#login(new UsernameHashedPassword(name, digest.toLowerCase(), (password) => apopDigest(timestamp, password)))
  }

  async #auth (argument: string): Promise<boolean> {
    const [mechanism = '', initial, ...extra] = argument.split(' ')
    if (mechanism.toUpperCase() !== 'PLAIN') return this.#error('Unrecognized authentication type: this server offers SASL PLAIN')
    if (extra.length > 0) return this.#error('AUTH PLAIN takes at most one initial response')
    if (initial !== undefined) return await this.#authPlain(initial === '=' ? '' : initial)
    this.#saslPending = true
    this.#send('+ ')
    return true
  }

  /** RFC 4616: base64 of `authzid NUL authcid NUL passwd`; `*` cancels. */
  async #authPlain (response: string): Promise<boolean> {
    if (response === '*') return this.#error('AUTH cancelled')
    if (!/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(response)) return this.#error('AUTH PLAIN: the response is not base64')
    const parts = Buffer.from(response, 'base64').toString('utf8').split('\0')
    if (parts.length !== 3 || parts[1] === '') return this.#error('AUTH PLAIN: expected authzid NUL authcid NUL password')
    const [authzid, authcid, password] = parts as [string, string, string]
    if (authzid !== '' && authzid !== authcid) return this.#error('[AUTH] Logging in as another user (a SASL authorization id) is not supported')
    return await this.#login(new UsernamePassword(authcid, password))
  }

  async #login (credentials: Credentials & { username: string }): Promise<boolean> {
    let login
    try {
      login = await this.#portal.login(credentials, this.#mind, IMaildrop)
    } catch (err) {
      return this.#refuse(err, credentials.username)
    }
    const logout = once(login.logout)
    if (this.#state === 'closed') { // the client left while the checker thought
      await logout()
      return false
    }
    this.#maildrop = login.avatar
    this.#logout = logout
    this.#loggedIn = String(login.avatarId)
    this.#state = 'transaction'
    this.#log?.info({ user: login.avatarId, address: this.#mind.address }, 'POP3 login: maildrop attached')
    return this.#ok(`${login.avatar.count} messages`)
  }

  #refuse (err: unknown, username: string): boolean {
    if (err instanceof MaildropInUse) return this.#error(`[IN-USE] ${err.message}`)
    if (err instanceof UnauthorizedLogin) return this.#error('[AUTH] Invalid user name or password')
    if (err instanceof TooManyAttempts) return this.#error(`[SYS/TEMP] Too many failed logins: try again in ${err.retryAfter} s`)
    if (err instanceof UnhandledCredentials) return this.#error('[AUTH] This server\'s user store cannot check these credentials; use USER/PASS or AUTH PLAIN')
    if (err instanceof LoginDenied) return this.#error(`[AUTH] ${err.message}`)
    if (err instanceof StoreUnavailable) {
      this.#log?.error({ err, user: username }, 'POP3 login: user store unavailable')
      return this.#error('[SYS/TEMP] The user store is unavailable: try again later')
    }
    this.#log?.error({ err, user: username }, 'POP3 login failed unexpectedly')
    return this.#error('[SYS/PERM] Internal error')
  }

  #stat (maildrop: Maildrop): boolean {
    let count = 0
    let size = 0
    for (let number = 1; number <= maildrop.count; number++) {
      const message = maildrop.message(number)
      if (message === undefined) continue
      count++
      size += octets(message.raw)
    }
    return this.#ok(`${count} ${size}`)
  }

  #scanListing (maildrop: Maildrop, argument: string, describe: (number: number, message: { raw: string, uid: string }) => string): boolean {
    if (argument !== '') {
      const number = messageNumber(argument)
      const message = number === undefined ? undefined : maildrop.message(number)
      if (number === undefined || message === undefined) return this.#error('No such message')
      return this.#ok(describe(number, message))
    }
    const lines = ['+OK']
    for (let number = 1; number <= maildrop.count; number++) {
      const message = maildrop.message(number)
      if (message !== undefined) lines.push(describe(number, message))
    }
    lines.push('.')
    this.#send(lines.join('\r\n'))
    return true
  }

  #retrieve (maildrop: Maildrop, argument: string): boolean {
    const number = messageNumber(argument)
    const message = number === undefined ? undefined : maildrop.message(number)
    if (message === undefined) return this.#error('No such message')
    // RFC 1939 §3: a line of the message that starts with "." is sent with one more ("byte-stuffing").
    const stuffed = message.raw.replace(/^\./gm, '..')
    this.#socket.write(`+OK ${octets(message.raw)} octets\r\n${stuffed}.\r\n`)
    return true
  }

  #delete (maildrop: Maildrop, argument: string): boolean {
    const number = messageNumber(argument)
    if (number === undefined || !maildrop.delete(number)) return this.#error('No such message')
    return this.#ok(`Message ${number} marked deleted`)
  }

  /** QUIT: in TRANSACTION, the UPDATE state (RFC 1939 §6) removes what DELE marked, then the maildrop is released. */
  async #quit (): Promise<boolean> {
    if (this.#state === 'transaction') this.#maildrop?.commit()
    await this.#endLogin()
    this.#send('+OK Bye')
    this.#hangUp()
    return true
  }

  #ok (text: string): boolean {
    this.#send(text === '' ? '+OK' : `+OK ${text}`)
    return true
  }

  #error (text: string): boolean {
    this.#send(`-ERR ${text}`)
    return false
  }

  #send (line: string): void {
    if (!this.#socket.destroyed && this.#socket.writable) this.#socket.write(`${line}\r\n`)
  }

  #hangUp (): void {
    this.#state = 'closed'
    this.#queue.length = 0
    this.#socket.end()
    // A client that stops reading must not hold the session open: give the last answer a moment, then cut.
    setTimeout(() => { this.#socket.destroy() }, 1000).unref()
  }

  async #endLogin (): Promise<void> {
    const logout = this.#logout
    this.#logout = undefined
    this.#maildrop = undefined
    if (logout === undefined) return
    try {
      await logout()
      this.#log?.info({ user: this.#loggedIn, address: this.#mind.address }, 'POP3 logout: maildrop detached')
    } catch (err) {
      this.#log?.error({ err }, 'POP3 logout failed')
    }
  }

  async #end (): Promise<void> {
    this.#state = 'closed'
    await this.#endLogin()
    this.#resolveEnded()
  }
}

/** A message number as RFC 1939 writes it: a positive decimal integer, nothing else. */
function messageNumber (argument: string): number | undefined {
  return /^[1-9][0-9]{0,8}$/.test(argument) ? Number(argument) : undefined
}

function once (logout: () => void | PromiseLike<void>): () => Promise<void> {
  let done: Promise<void> | undefined
  return async () => { done ??= Promise.resolve().then(logout); await done }
}
