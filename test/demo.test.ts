import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import t from 'tap'
import { buildDemo, demoUser } from '../examples/server.js'
import { openSessions } from '../examples/mailbox-realm.js'
import { basic } from './helpers/app.js'
import { curl, curlRequest } from './helpers/curl.js'

const root = new URL('..', import.meta.url).pathname
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

t.test('`npm start` runs the built demo; curl logs in as the documented user', { skip: curl.skip || (existsSync(`${root}dist/examples/server.js`) ? false : 'run `npm run build` first') }, async (t) => {
  const server = spawn(process.execPath, ['dist/examples/server.js'], { cwd: root, env: { ...process.env, PORT: '0' }, stdio: ['ignore', 'pipe', 'inherit'] })
  t.teardown(() => { server.kill() })
  const url = await new Promise<string>((resolve, reject) => {
    let output = ''
    server.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString('utf8')
      const match = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(output)
      if (match?.[1] !== undefined) resolve(match[1])
    })
    server.on('exit', (code) => reject(new Error(`demo exited with ${String(code)}: ${output}`)))
  })
  const res = await curlRequest(['-u', 'alice:wonderland'], `${url}/whoami`)
  t.equal(res.status, 200)
  t.same(JSON.parse(res.body), { avatarId: 'alice' })
})
