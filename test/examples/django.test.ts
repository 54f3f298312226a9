import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import t from 'tap'
import type { Test } from 'tap'
import WebSocket from 'ws'
import { buildDjangoExample } from '../../examples/django/server.js'
import { curl, curlRequest } from '../helpers/curl.js'
import { DJANGO_SQLITE } from '../helpers/django-fixtures.js'

const root = new URL('../..', import.meta.url).pathname
const built = existsSync(`${root}dist/examples/django/server.js`) ? false : 'run `npm run build` first'

/** Starts the built example as its README does; answers its URL and everything it logged, parsed. */
async function startBuilt (t: Test, env: NodeJS.ProcessEnv): Promise<{ url: string, log: () => Array<Record<string, unknown>> }> {
  const server = spawn(process.execPath, ['dist/examples/django/server.js'], { cwd: root, env: { ...process.env, PORT: '0', ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  t.teardown(() => { server.kill() })
  let output = ''
  const log = (): Array<Record<string, unknown>> => output.split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as Record<string, unknown>)
  const url = await new Promise<string>((resolve, reject) => {
    const look = (chunk: Buffer): void => {
      output += chunk.toString('utf8')
      const match = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(output)
      if (match?.[1] !== undefined) resolve(match[1])
    }
    server.stdout.on('data', look)
    server.stderr.on('data', look)
    server.on('exit', (code) => { reject(new Error(`the example exited with ${String(code)}: ${output}`)) })
  })
  return { url, log }
}

interface Client {
  readonly messages: Array<{ method: string, args: unknown[] }>
  /** The next message with this method (one already received counts). */
  next (method: string): Promise<{ method: string, args: unknown[] }>
  readonly socket: WebSocket
}

/** Opens the example's WebSocket with Basic credentials, as `websocat`/`wscat -H` would. */
async function connect (t: Test, url: string, user: string, password: string): Promise<Client> {
  const socket = new WebSocket(`${url.replace(/^http/, 'ws')}/live`, { headers: { authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` } })
  t.teardown(() => { socket.terminate() })
  const messages: Array<{ method: string, args: unknown[] }> = []
  const waiting: Array<{ method: string, resolve: (message: { method: string, args: unknown[] }) => void }> = []
  socket.on('message', (data: Buffer) => {
    const message = JSON.parse(data.toString('utf8')) as { method: string, args: unknown[] }
    messages.push(message)
    const at = waiting.findIndex((w) => w.method === message.method)
    if (at !== -1) waiting.splice(at, 1)[0]?.resolve(message)
  })
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => { resolve() })
    socket.once('unexpected-response', (_request, response) => { reject(new Error(`handshake refused: ${String(response.statusCode)}`)) })
    socket.once('error', reject)
  })
  let seen = 0
  return {
    messages,
    socket,
    next: async (method) => {
      const found = messages.slice(seen).find((m) => m.method === method)
      if (found !== undefined) { seen = messages.indexOf(found) + 1; return found }
      return await new Promise((resolve) => waiting.push({ method, resolve: (m) => { seen = messages.indexOf(m) + 1; resolve(m) } }))
    }
  }
}

const until = async (condition: () => boolean, what: string): Promise<void> => {
  for (let i = 0; i < 300 && !condition(); i++) await new Promise((resolve) => setTimeout(resolve, 10))
  if (!condition()) throw new Error(`timed out waiting until ${what}`)
}

t.test('node dist/examples/django/server.js: curl over HTTP, ws clients on /live, attached/detached logged', { skip: curl.skip || built }, async (t) => {
  const { url, log } = await startBuilt(t, { DJANGO_AUTH: `django:${DJANGO_SQLITE}` })
  const me = await curlRequest(['-u', 'alice:wonderland'], `${url}/whoami`)
  t.equal(me.status, 200)
  t.same(JSON.parse(me.body), { username: 'alice', email: 'alice@example.com', staff: false, groups: ['readers'] }, 'the avatar comes from the row')
  t.equal((await curlRequest(['-u', 'alice:wonderland'], `${url}/groups/editors`)).status, 403)
  t.equal((await curlRequest(['-u', 'alice:nope'], `${url}/whoami`)).status, 401)

  // The seed's "remote method call": the realm calls the client through the mind from requestAvatar on.
  const alice = await connect(t, url, 'alice', 'wonderland')
  t.same(await alice.next('welcome'), { method: 'welcome', args: ['Hello Alice', { staff: false, groups: ['readers'] }] })
  const bob = await connect(t, url, 'bob', 'builder')
  t.match(await bob.next('welcome'), { args: ['Hello bob', { staff: true }] })
  alice.socket.send('ping')
  t.same(await alice.next('pong'), { method: 'pong', args: [] })

  // A staff member broadcasts; both connected clients are called.
  const notice = await curlRequest(['-u', 'bob:builder', '-H', 'content-type: application/json', '--data', '{"text":"tea at six"}'], `${url}/broadcast`)
  t.same(JSON.parse(notice.body), { delivered: 2 })
  t.same(await alice.next('notice'), { method: 'notice', args: ['tea at six', 'bob'] })
  t.same(await bob.next('notice'), { method: 'notice', args: ['tea at six', 'bob'] })
  t.equal((await curlRequest(['-u', 'alice:wonderland', '-H', 'content-type: application/json', '--data', '{"text":"x"}'], `${url}/broadcast`)).status, 403, 'staff only')

  // Alice leaves: only bob is called afterwards.
  alice.socket.close()
  await until(() => log().some((line) => line.msg === 'detached' && line.user === 'alice' && line.protocol === 'websocket'), 'alice is detached')
  const second = await curlRequest(['-u', 'bob:builder', '-H', 'content-type: application/json', '--data', '{"text":"still here?"}'], `${url}/broadcast`)
  t.same(JSON.parse(second.body), { delivered: 1 })
  t.same(await bob.next('notice'), { method: 'notice', args: ['still here?', 'bob'] })
  t.notOk(alice.messages.some((m) => m.args[0] === 'still here?'))

  // A refused handshake: 401 with Basic's challenge, no upgrade.
  const refused = new WebSocket(`${url.replace(/^http/, 'ws')}/live`, { headers: { authorization: `Basic ${Buffer.from('bob:nope').toString('base64')}` } })
  refused.on('error', () => {}) // ws reports the aborted handshake once more; the status is what counts
  const status = await new Promise<{ code: number | undefined, challenge: unknown }>((resolve) => {
    refused.once('unexpected-response', (_request, response) => { resolve({ code: response.statusCode, challenge: response.headers['www-authenticate'] }); refused.terminate() })
    refused.once('open', () => { resolve({ code: 101, challenge: undefined }); refused.terminate() })
  })
  t.same(status, { code: 401, challenge: 'Basic realm="django", charset="UTF-8"' })

  bob.socket.terminate() // abruptly
  await until(() => log().filter((line) => line.msg === 'detached').length === log().filter((line) => line.msg === 'attached').length, 'every login detached')
  const ws = log().filter((line) => line.protocol === 'websocket')
  t.same(ws.filter((line) => line.msg === 'attached').map((line) => line.user), ['alice', 'bob'])
  t.same(ws.filter((line) => line.msg === 'detached').map((line) => line.user).sort(), ['alice', 'bob'])
  t.ok(log().some((line) => line.msg === 'attached' && line.protocol === 'http' && line.user === 'alice'), 'HTTP requests attach too')
  t.notMatch(JSON.stringify(log()), /wonderland|builder"|Basic [A-Za-z0-9+/=]{8,}/, 'no password or Authorization value in the log')
})

t.test('DJANGO_DB still works (the README\'s command); a spec that is not django: is refused clearly', { skip: curl.skip || built }, async (t) => {
  const { url } = await startBuilt(t, { DJANGO_DB: DJANGO_SQLITE })
  t.equal((await curlRequest(['-u', 'root:toor'], `${url}/groups/editors`)).status, 200, 'a superuser is in every group')
  await t.rejects(buildDjangoExample({ spec: 'memory:alice:wonderland' }), { code: 'ERR_CRED_INVALID_OPTION', message: /needs a django: spec without cache=/ })
  await t.rejects(buildDjangoExample({ spec: `django:${DJANGO_SQLITE};cache=30s` }), { code: 'ERR_CRED_INVALID_OPTION' })
})
