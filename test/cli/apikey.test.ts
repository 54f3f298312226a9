// `fastify-cred apikey` and `serve --scheme bearer` end to end: the compiled bin, and the real curl sending the token
// with its own --oauth2-bearer.
import { readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { SignJWT } from 'jose'
import { cliScratchFolder, runCommand, startServe } from '../helpers/cli.js'
import { curl, curlRequest } from '../helpers/curl.js'

const dir = await cliScratchFolder(t)

t.test('create prints a key once and stores only its prefix and hash; list shows prefixes; revoke removes the line', async (t) => {
  const file = join(dir, 'keys')
  const alice = await runCommand(['apikey', 'create', file, 'alice'])
  t.equal(alice.code, 0, alice.stderr)
  const key = alice.stdout.trim()
  t.match(key, /^fck_[a-z0-9]{12}_[A-Za-z0-9_-]{43}$/, 'the key, alone on stdout')
  const prefix = key.slice(0, 16)
  t.match(alice.stderr, new RegExp(`created key ${prefix} for "alice"`))
  t.equal((await stat(file)).mode & 0o777, 0o600, 'a new file is mode 0600')
  const bob = await runCommand(['apikey', 'create', file, 'bob'])
  const stored = await readFile(file, 'utf8')
  t.notOk(stored.includes(key.slice(17)), 'the file holds nothing of the secret part')
  t.equal(stored.split('\n').filter((l) => l !== '').length, 2)
  const list = await runCommand(['apikey', 'list', file])
  t.equal(list.code, 0)
  t.equal(list.stdout, `${prefix}  alice\n${bob.stdout.slice(0, 16)}  bob\n`)
  t.notOk(list.stdout.includes(key), 'no key listed')
  const revoked = await runCommand(['apikey', 'revoke', file, prefix])
  t.equal(revoked.code, 0, revoked.stderr)
  t.notOk((await readFile(file, 'utf8')).includes(prefix), 'the line is gone')
  t.equal((await runCommand(['apikey', 'revoke', file, prefix])).code, 3, 'a second revoke: no such key, exit 3')
  const byKey = await runCommand(['apikey', 'revoke', file, bob.stdout.trim()])
  t.equal(byKey.code, 0, 'revoking by the key itself')
  t.notOk(byKey.stderr.includes(bob.stdout.trim()), 'the key is not echoed')
})

t.test('usage errors exit 2; a broken file is refused unchanged', async (t) => {
  for (const args of [['apikey'], ['apikey', 'mint', join(dir, 'k'), 'a'], ['apikey', 'create', join(dir, 'k')], ['apikey', 'revoke', join(dir, 'k'), 'not-a-prefix']]) {
    t.equal((await runCommand(args)).code, 2, args.join(' '))
  }
  const broken = join(dir, 'broken')
  await writeFile(broken, 'alice:nonsense\n')
  const out = await runCommand(['apikey', 'create', broken, 'alice'])
  t.equal(out.code, 1)
  t.equal(out.stdout, '', 'no key printed when it could not be stored')
  t.equal(await readFile(broken, 'utf8'), 'alice:nonsense\n')
})

t.test('serve --scheme bearer --auth apikey: with curl --oauth2-bearer: 200, then revoked live: 401 invalid_token', { skip: curl.skip }, async (t) => {
  const file = join(dir, 'served-keys')
  const key = (await runCommand(['apikey', 'create', file, 'carol'])).stdout.trim()
  const server = await startServe(t, ['--auth', `apikey:${file};check-interval=0`, '--scheme', 'bearer', '--scheme', 'basic', '--port', '0', '--log'])
  const ok = await curlRequest(['--oauth2-bearer', key], `${server.url}/whoami`)
  t.equal(ok.status, 200)
  t.same(JSON.parse(ok.body), { avatarId: 'carol' })
  const none = await curlRequest([], `${server.url}/whoami`)
  t.equal(none.status, 401)
  t.match(none.headers, /WWW-Authenticate: Bearer realm="fastify-cred"\r\nWWW-Authenticate: Basic realm="fastify-cred", charset="UTF-8"/i, 'no credentials: every scheme\'s challenge, no error')
  t.equal((await runCommand(['apikey', 'revoke', file, key.slice(0, 16)])).code, 0)
  const revoked = await curlRequest(['--oauth2-bearer', key], `${server.url}/whoami`)
  t.equal(revoked.status, 401, 'revoked, without a restart')
  t.match(revoked.headers, /WWW-Authenticate: Bearer realm="fastify-cred", error="invalid_token"/i)
  const output = server.output()
  t.match(output, new RegExp(`"keyPrefix":"${key.slice(0, 16)}"`), 'the log names the refused key by its prefix')
  t.notOk(output.includes(key.slice(17)), 'and never holds the key')
  // Last: the request line (and so the log) now holds the key, which is why a query string is no place for it.
  const query = await curlRequest([], `${server.url}/whoami?access_token=${key}`)
  t.equal(query.status, 401, 'a token in the query string is not read')
})

t.test('serve --scheme bearer --auth jwt: with a secret from the environment', { skip: curl.skip }, async (t) => {
  const secret = 'another shared secret, well over thirty-two bytes long'
  const server = await startServe(t, ['--auth', 'jwt:;secret-env=JWT_SECRET;audience=api', '--scheme', 'bearer', '--port', '0'], { env: { ...process.env, JWT_SECRET: secret } })
  const token = await new SignJWT({ sub: 'dave', aud: 'api' }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('5m').sign(new TextEncoder().encode(secret))
  const ok = await curlRequest(['--oauth2-bearer', token], `${server.url}/whoami`)
  t.equal(ok.status, 200)
  t.same(JSON.parse(ok.body), { avatarId: 'dave' })
  const truncated = await curlRequest(['--oauth2-bearer', token.slice(0, -5)], `${server.url}/whoami`)
  t.equal(truncated.status, 401)
  t.match(truncated.headers, /error="invalid_token"/)
  const spaced = await curlRequest(['-H', `Authorization: Bearer ${token} extra`], `${server.url}/whoami`)
  t.equal(spaced.status, 400, 'two tokens: 400')
  t.match(spaced.headers, /error="invalid_request"/)
})
