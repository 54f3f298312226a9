import { generateKeyPairSync } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import Fastify from 'fastify'
import type { FastifyInstance } from 'fastify'
import type * as Ssh2 from 'ssh2'
import cred, { LoginFailed, Portal, UsernamePassword } from '../../lib/index.js'
import { SshPublicKey, ValidPublicKey } from '../../lib/cred/index.js'
import type { LoginResultFor } from '../../lib/cred/index.js'
import { MemoryChecker, SshKeyChecker } from '../../lib/checkers/index.js'
import { loadDriver } from '../../lib/drivers/index.js'
import { IMailbox, mailboxRealm } from '../mailbox-realm.js'
import type { Mailbox } from '../mailbox-realm.js'

/**
 * SSH as another protocol on the same Portal: one realm (the mailbox realm of the demo), one portal with a password
 * checker and an SSH key checker, an HTTP API (Fastify) and an SSH server (`ssh2`) in one process. A user who logs
 * in over SSH, with a password or a key, gets the same avatar as over HTTP; the session's commands read it.
 *
 * Commands (exec, or typed in the shell): `whoami`, `messages`, `read <n>`, `exit`.
 */
export interface SshExampleOptions {
  /** A folder of `authorized_keys` files, one per user, named as the user. */
  readonly keys: string
  /** Users and passwords for password logins (SSH and HTTP Basic). */
  readonly passwords: Readonly<Record<string, string>>
  /** The SSH host key (PEM or OpenSSH format); default: a fresh ECDSA P-256 key. */
  readonly hostKey?: string | Buffer
  /** Ports; default 0 (any free one). */
  readonly sshPort?: number
  readonly httpPort?: number
}

export interface SshExample {
  readonly http: FastifyInstance
  readonly httpUrl: string
  readonly sshPort: number
  readonly portal: Portal<SshMind>
  close (): Promise<void>
}

/** What the realm and the throttle learn of an SSH client. */
export interface SshMind { readonly address: string | undefined, readonly protocol: 'ssh' | 'http' }

type Session = LoginResultFor<[typeof IMailbox]>
type AuthContext = Ssh2.AuthContext

/** ssh2's public-key context as `SshPublicKey` credentials: `rsa-sha2-256/512` is named back from its hash. */
function publicKeyCredentials (ctx: Ssh2.PublicKeyAuthContext): SshPublicKey {
  const hash = (ctx as { hashAlgo?: string }).hashAlgo
  const algorithm = ctx.key.algo === 'ssh-rsa' && hash !== undefined ? `rsa-sha2-${hash.slice(3)}` : ctx.key.algo
  return new SshPublicKey(ctx.username, algorithm, ctx.key.data, ctx.blob, ctx.signature)
}

/** What a command prints, run against the user's avatar. */
export function runCommand (mailbox: Mailbox, line: string): { output: string, code: number } {
  const [command = '', ...args] = line.trim().split(/\s+/)
  switch (command) {
    case 'whoami': return { output: `${mailbox.owner}\n`, code: 0 }
    case 'messages': return { output: mailbox.list().map((m) => `${m.id}\t${m.subject}\n`).join(''), code: 0 }
    case 'read': {
      const body = mailbox.read(Number(args[0]))
      return body === undefined ? { output: 'No such message\n', code: 1 } : { output: `${body}\n`, code: 0 }
    }
    default: return { output: `unknown command: ${command} (whoami, messages, read <n>, exit)\n`, code: 127 }
  }
}

/**
 * Starts the HTTP API and the SSH server on one portal.
 *
 * @example
 * const example = await startSshExample({ keys: './ssh-keys', passwords: { alice: 'wonderland' }, sshPort: 2222, httpPort: 3000 })
 * // ssh -p 2222 -i ~/.ssh/id_ed25519 alice@127.0.0.1 whoami   → alice
 * // curl -u alice:wonderland http://127.0.0.1:3000/whoami     → {"avatarId":"alice"}
 */
export async function startSshExample (options: SshExampleOptions): Promise<SshExample> {
  const ssh2 = await loadDriver('ssh2', 'The SSH example') as typeof Ssh2 & { default?: typeof Ssh2 }
  const { Server } = ssh2.default ?? ssh2
  const portal = new Portal<SshMind>(mailboxRealm, [new MemoryChecker({ ...options.passwords }), new SshKeyChecker({ directory: options.keys })])

  const http = Fastify()
  await http.register(cred, { portal: portal as Portal<unknown>, interfaces: [IMailbox], authenticationRealm: 'ssh example' })
  http.get('/whoami', async (request) => ({ avatarId: request.avatarId }))
  http.get('/messages', async (request) => (request.avatar as Mailbox | null)?.list() ?? [])
  await http.listen({ port: options.httpPort ?? 0, host: '127.0.0.1' })

  const hostKey = options.hostKey ?? generateKeyPairSync('ec', { namedCurve: 'P-256', privateKeyEncoding: { type: 'sec1', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } }).privateKey
  const clients = new Set<Ssh2.Connection>()
  const server = new Server({ hostKeys: [hostKey] }, (client, info) => {
    clients.add(client)
    let session: Session | undefined
    let ended = false
    const mind: SshMind = { address: info.ip, protocol: 'ssh' }
    // Logout when the connection ends, however it ends; a login that finishes after that is logged out at once.
    client.on('close', () => {
      ended = true
      clients.delete(client)
      session?.logout()
    })
    client.on('error', () => {})
    client.on('authentication', (ctx: AuthContext) => {
      let credentials
      if (ctx.method === 'password') credentials = new UsernamePassword(ctx.username, ctx.password)
      else if (ctx.method === 'publickey') credentials = publicKeyCredentials(ctx)
      else return ctx.reject(['publickey', 'password'])
      portal.login(credentials, mind, IMailbox).then((login) => {
        if (ended) return login.logout()
        session = login
        ctx.accept()
      }, (err: unknown) => {
        // An unsigned key query for a key the user has: "go on, sign" (SSH_MSG_USERAUTH_PK_OK).
        if (err instanceof ValidPublicKey) return ctx.accept()
        if (!(err instanceof LoginFailed)) console.error('ssh example: login failed unexpectedly', err)
        ctx.reject(['publickey', 'password'])
      })
    })
    client.on('ready', () => {
      client.on('session', (acceptSession) => {
        const sshSession = acceptSession()
        sshSession.on('pty', (accept) => { accept?.() })
        sshSession.on('exec', (accept, _reject, { command }) => {
          const stream = accept()
          const { output, code } = runCommand((session as Session).avatar, command)
          stream.write(output)
          stream.exit(code)
          stream.end()
        })
        sshSession.on('shell', (accept) => {
          const stream = accept()
          const mailbox = (session as Session).avatar
          stream.write(`Hello ${mailbox.owner}. Commands: whoami, messages, read <n>, exit\n> `)
          let buffered = ''
          stream.on('data', (chunk: Buffer) => {
            buffered += chunk.toString('utf8').replaceAll('\r', '\n')
            for (let newline = buffered.indexOf('\n'); newline >= 0; newline = buffered.indexOf('\n')) {
              const line = buffered.slice(0, newline)
              buffered = buffered.slice(newline + 1)
              if (line.trim() === '') continue
              if (line.trim() === 'exit') {
                stream.exit(0)
                stream.end()
                return
              }
              stream.write(runCommand(mailbox, line).output + '> ')
            }
          })
        })
      })
    })
  })
  await new Promise<void>((resolve) => { server.listen(options.sshPort ?? 0, '127.0.0.1', resolve) })

  return {
    http,
    httpUrl: `http://127.0.0.1:${(http.server.address() as AddressInfo).port}`,
    sshPort: (server.address() as AddressInfo).port,
    portal,
    async close () {
      for (const client of clients) client.end()
      await new Promise<void>((resolve) => { server.close(() => { resolve() }) })
      await http.close()
    }
  }
}

const isMain = process.argv[1] !== undefined && import.meta.url === new URL(`file://${process.argv[1]}`).href
if (isMain) {
  const example = await startSshExample({
    keys: process.env.SSH_KEYS ?? './ssh-keys',
    passwords: { alice: process.env.DEMO_PASSWORD ?? 'wonderland' },
    sshPort: Number(process.env.SSH_PORT ?? 2222),
    httpPort: Number(process.env.PORT ?? 3000)
  })
  console.log(`SSH on 127.0.0.1:${example.sshPort} (keys from ${process.env.SSH_KEYS ?? './ssh-keys'}/<user>), HTTP on ${example.httpUrl}`)
}
