import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import t from 'tap'
import type { Test } from 'tap'
import { buildDemo, demoUser } from '../../examples/server.js'
import { openSessions } from '../../examples/mailbox-realm.js'
import { basic } from '../helpers/app.js'
import { curl, curlRequest } from '../helpers/curl.js'

const root = new URL('../..', import.meta.url).pathname
const ALICE = { authorization: basic(demoUser.username, demoUser.password) }

t.test('the demo: /whoami answers the avatar id, the mailbox routes read request.avatar', async (t) => {
  const app = await buildDemo()
  t.teardown(() => app.close())
  t.same((await app.inject({ url: '/whoami', headers: ALICE })).json(), { avatarId: 'alice' })
  t.same((await app.inject({ url: '/messages', headers: ALICE })).json(), [{ id: 1, subject: 'Welcome' }, { id: 2, subject: 'Tea party' }])
  t.match((await app.inject({ url: '/messages/2', headers: ALICE })).json(), { body: /Six o'clock/ })
  t.equal((await app.inject({ url: '/messages/9', headers: ALICE })).statusCode, 404)
  t.equal((await app.inject({ url: '/whoami' })).statusCode, 401)
  t.equal((await app.inject({ url: '/' })).statusCode, 200, 'the index is public')
  await new Promise((resolve) => setTimeout(resolve, 10))
  t.equal(openSessions.count, 0, 'every mailbox opened was closed by logout')
})

t.test('the demo throttles guessing: 429 with Retry-After after 5 wrong passwords, even for the right one', async (t) => {
  const now = Date.now() // a clock that stands still: the 1 s wait cannot run out on a slow machine
  const app = await buildDemo({ clock: () => now })
  t.teardown(() => app.close())
  for (let i = 0; i < 5; i++) {
    t.equal((await app.inject({ url: '/whoami', headers: { authorization: basic(demoUser.username, `guess${i}`) } })).statusCode, 401)
  }
  const throttled = await app.inject({ url: '/whoami', headers: ALICE })
  t.equal(throttled.statusCode, 429)
  t.equal(throttled.headers['retry-after'], '1')
  t.equal(throttled.json().code, 'ERR_CRED_TOO_MANY_ATTEMPTS')
})

/** Starts the built demo as `npm start` does, answering its URL and its start-up line ("Log in as …"). */
async function startDemo (t: Test, env: NodeJS.ProcessEnv): Promise<{ url: string, loginLine: string, output: () => string }> {
  const server = spawn(process.execPath, ['dist/examples/server.js'], { cwd: root, env: { ...process.env, PORT: '0', ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  t.teardown(() => { server.kill() })
  let output = ''
  const started = await new Promise<{ url: string, loginLine: string }>((resolve, reject) => {
    const look = (chunk: Buffer): void => {
      output += chunk.toString('utf8')
      const url = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(output)?.[1]
      const loginLine = /"msg":"(Log in as [^"]*)"/.exec(output)?.[1]
      if (url !== undefined && loginLine !== undefined) resolve({ url, loginLine })
    }
    server.stdout.on('data', look)
    server.stderr.on('data', look)
    server.on('exit', (code) => reject(new Error(`demo exited with ${String(code)}: ${output}`)))
  })
  return { ...started, output: () => output }
}

t.test('`npm start` runs the built demo; curl logs in as the documented user', { skip: curl.skip || (existsSync(`${root}dist/examples/server.js`) ? false : 'run `npm run build` first') }, async (t) => {
  const env = { ...process.env }
  delete env.DEMO_PASSWORD
  delete env.DEMO_USER
  const { url, loginLine, output } = await startDemo(t, env)
  const res = await curlRequest(['-u', 'alice:wonderland'], `${url}/whoami`)
  t.equal(res.status, 200)
  t.same(JSON.parse(res.body), { avatarId: 'alice' })
  // The start-up line says where the password is, without the password and without sending anyone to the README.
  t.match(loginLine, /^Log in as alice with the password from the embedded default, demoUser in examples\/server\.ts \(set DEMO_PASSWORD to choose another\): curl -u alice:<password> http:\/\/127\.0\.0\.1:\d+\/whoami$/)
  t.equal(loginLine.includes(url), true, 'it names the real port')
  t.notMatch(loginLine, /README/)
  t.notMatch(output(), /wonderland/, 'the password is in no line the demo prints')
})

t.test('`npm start` with DEMO_PASSWORD: the start-up line says the password comes from there, and never shows it', { skip: curl.skip || (existsSync(`${root}dist/examples/server.js`) ? false : 'run `npm run build` first') }, async (t) => {
  const secret = 'Tr0ub4dor-' + String(process.pid)
  const { url, loginLine, output } = await startDemo(t, { DEMO_PASSWORD: secret })
  t.match(loginLine, /^Log in as alice with the password from DEMO_PASSWORD, from the environment: curl -u alice:<password> /)
  t.equal((await curlRequest(['-u', `alice:${secret}`], `${url}/whoami`)).status, 200, 'that password logs in')
  const index = await curlRequest([], `${url}/`)
  t.match(JSON.parse(index.body), { password: 'DEMO_PASSWORD, from the environment' }, 'the public page says the same')
  t.notMatch(index.body + output(), new RegExp(secret), 'the password is shown nowhere')
})
