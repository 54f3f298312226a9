// The `fastify-cred` command end to end: help, errors, and `serve` on the memory store (throttle, Digest, anonymous,
// CRED_AUTH, --static, --upstream) with the compiled bin and real curl.
import t from 'tap'
import { execFile } from 'node:child_process'
import { link, mkdir, symlink, writeFile } from 'node:fs/promises'
import { createServer } from 'node:http'
import type { IncomingHttpHeaders } from 'node:http'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { needProgram } from '../helpers/binaries.js'
import { curl, curlRequest } from '../helpers/curl.js'
import { cliScratchFolder, runCommand, startServe } from '../helpers/cli.js'

const run = promisify(execFile)
const htpasswd = needProgram('htpasswd', 'apache2-utils')
const htdigest = needProgram('htdigest', 'apache2-utils')

const dir = await cliScratchFolder(t)

t.test('--help for every command, the auth tables, and exit codes', async (t) => {
  const main = await runCommand(['--help'])
  t.equal(main.code, 0)
  t.match(main.stdout, /Usage: fastify-cred <command>/)
  t.match(main.stdout, /Exit codes: 0 done, 1 failure, 2 usage error/)
  const bare = await runCommand([])
  t.equal(bare.code, 2, 'no command: usage on stderr, exit 2')
  t.match(bare.stderr, /Usage: fastify-cred/)
  for (const command of ['serve', 'passwd']) {
    const help = await runCommand([command, '--help'])
    t.equal(help.code, 0, `${command} --help exits 0`)
    t.match(help.stdout, new RegExp(`^Usage: fastify-cred ${command}`))
  }
  const table = await runCommand(['--help-auth'])
  t.equal(table.code, 0)
  t.match(table.stdout, /AuthType +ArgString format\n +={8} +={16}\n +anonymous +\(no argument\)\n/)
  const one = await runCommand(['--help-auth-type', 'ldap'])
  t.equal(one.code, 0)
  t.match(one.stdout, /^Usage: --auth ldap:ArgString\nArgString format: <ldap\[s\]:\/\/host\[:port\]>;base-dn=…/)
  t.match(one.stdout, /\n {2}Options:\n {4}base-dn=… +Search users under this DN, then bind as the entry found\. Required unless user-dn is given\.\n/, 'each option, from the factory\'s data')
  const viaServe = await runCommand(['serve', '--help-auth-type', 'memory'])
  t.match(viaServe.stdout, /ArgString format: user:pass\[:user:pass…\]/, 'serve accepts --help-auth-type too')
})

t.test('errors are one line on stderr, with an exit code, never a stack or a secret', async (t) => {
  const cases: Array<[string[], number, RegExp]> = [
    [['--help-auth-type', 'nosuch'], 2, /^fastify-cred: Unknown auth type "nosuch"; valid types: anonymous, apikey, cert, django, file/],
    [['serve', '--auth', 'memory:alice:s3cretpw:bob', '--port', '0'], 2, /^fastify-cred: --auth: Invalid argument for auth type "memory" \(user names and passwords must come in pairs\); expected format: memory:user:pass\[:user:pass…\]/],
    // Issue #20 item 9: a spec of only a password, or with a password's tail after a single ";", is never echoed.
    [['serve', '--auth', 's3cretpw', '--port', '0'], 2, /^fastify-cred: --auth: Unknown auth type \(the spec has no ":", so all of it is taken as the type, and it is none of these\); valid types: anonymous,/],
    [['serve', '--auth', 'correct horse battery s3cretpw', '--port', '0'], 2, /^fastify-cred: --auth: Unknown auth type \(the spec has no ":"/],
    [['serve', '--auth', 'anonymous', '--auth', 'memory:alice:open;s3cretpw=1', '--port', '0'], 2, /^fastify-cred: --auth #2: Auth type "memory": the option after the 1st single ";" is not one of its options: password, case-sensitive, cache, cache-size/],
    [['serve', '--auth', 'memory:alice:pw;colour=blue'], 2, /the option after the 1st single ";" is not one of its options/],
    [['serve', '--port', '0'], 2, /give at least one --auth/],
    [['serve', '--auth', 'memory:alice:pw', '--auth', 'memory:bob:pw', '--port', '0'], 2, /^fastify-cred: two --auth specs check the same kind of credentials \(IUsernamePassword: MemoryChecker and MemoryChecker\), and only one would be asked: give one --auth per kind$/m],
    [['serve', '--auth', 'memory:a:b', '--bogus'], 2, /^fastify-cred: serve: Unknown option '--bogus'/],
    [['serve', '--auth', 'memory:a:b', '--scheme', 'ntlm'], 2, /--scheme is basic, digest or bearer/],
    [['serve', '--auth', 'memory:a:b', '--digest-algorithm', 'MD5'], 2, /--digest-algorithm needs --scheme digest/],
    [['serve', '--auth', 'memory:a:b', '--static', dir, '--upstream', 'http://127.0.0.1:1'], 2, /--static or --upstream, not both/],
    [['serve', '--auth', 'memory:a:b', '--static', join(dir, 'nope'), '--port', '0'], 1, /is not a directory/],
    [['serve', '--auth', 'memory:a:b', '--upstream', 'ftp://x'], 2, /http:\/\/ or https:\/\/ URL/],
    [['serve', '--auth', 'memory:a:b', '--upstream', 'http://127.0.0.1:1', '--avatar-header', 'Bad Header'], 2, /header name/],
    [['serve', '--auth', 'memory:a:b', '--throttle', 'sometimes'], 2, /--throttle is memory, off or a redis:\/\/ URL/],
    [['serve', '--auth', 'memory:a:b', '--throttle-fail-open'], 2, /--throttle-fail-open needs a redis/],
    [['frobnicate'], 2, /unknown command "frobnicate"/],
    [['passwd', 'only-a-file'], 2, /give a file and a user name/],
    [['passwd', join(dir, 'absent'), 'alice'], 1, /does not exist \(use --create to create it\)/],
    [['passwd', '--md5', '--sha1', join(dir, 'f'), 'alice'], 2, /choose one format/],
    [['passwd', '--htdigest', join(dir, 'f'), 'alice'], 2, /--htdigest needs --realm/],
    [['passwd', '-c', join(dir, 'f'), 'ali:ce'], 2, /cannot contain ":"/]
  ]
  for (const [args, code, message] of cases) {
    const result = await runCommand(args, { cwd: dir })
    const shown = args.join(' ').replaceAll('s3cretpw', '…').replaceAll(dir, 'DIR')
    t.equal(result.code, code, `${shown}: exit ${code}`)
    t.match(result.stderr, message, shown)
    t.equal(result.stderr.trim().split('\n').length, 1, `${shown}: one line`)
    t.notMatch(result.stderr, /\n\s+at /, 'no stack trace')
    if (args.some((a) => a.includes('s3cretpw'))) t.notMatch(result.stderr, /s3cretpw/, 'the secret is not repeated')
  }
})

t.test('serve --auth memory:… with curl, Basic and Digest', { skip: curl.skip }, async (t) => {
  const { url } = await startServe(t, ['--auth', 'memory:alice:wonderland:bob:builder', '--port', '0', '--scheme', 'digest', '--scheme', 'basic', '--realm-name', 'cli test'])
  const basic = await curlRequest(['-u', 'alice:wonderland'], `${url}/whoami`)
  t.equal(basic.status, 200)
  t.same(JSON.parse(basic.body), { avatarId: 'alice' })
  const digest = await curlRequest(['--digest', '-u', 'bob:builder'], `${url}/whoami`)
  t.equal(digest.status, 200)
  t.same(JSON.parse(digest.body), { avatarId: 'bob' })
  t.match(digest.headers, /www-authenticate: Digest realm="cli test", qop="auth", algorithm=SHA-256/i)
  t.match(digest.headers, /authentication-info: rspauth=/i)
  const none = await curlRequest([], `${url}/whoami`)
  t.equal(none.status, 401)
  t.match(none.headers, /www-authenticate: Basic realm="cli test"/i)
  t.equal((await curlRequest(['--digest', '-u', 'bob:wrong'], `${url}/whoami`)).status, 401)
  t.equal((await curlRequest(['-u', 'alice:wrong'], `${url}/whoami`)).status, 401)
})

t.test('serve throttles guessing by default (429 + Retry-After before any password is checked); --throttle off does not', { skip: curl.skip }, async (t) => {
  const { url } = await startServe(t, ['--auth', 'memory:alice:wonderland', '--port', '0'])
  const statuses: number[] = []
  for (let i = 0; i < 7; i++) statuses.push((await curlRequest(['-u', 'alice:guess' + String(i)], `${url}/whoami`)).status)
  t.same(statuses.slice(0, 5), [401, 401, 401, 401, 401], 'the first five guesses are answered')
  t.ok(statuses.slice(5).every((status) => status === 429), `then 429 (${statuses.join(' ')})`)
  const right = await curlRequest(['-u', 'alice:wonderland'], `${url}/whoami`)
  t.equal(right.status, 429, 'even the right password waits: the throttle decides before the checker')
  t.match(right.headers, /retry-after: \d+/i)

  const open = await startServe(t, ['--auth', 'memory:alice:wonderland', '--port', '0', '--throttle', 'off'])
  for (let i = 0; i < 7; i++) await curlRequest(['-u', 'alice:guess'], `${open.url}/whoami`)
  t.equal((await curlRequest(['-u', 'alice:wonderland'], `${open.url}/whoami`)).status, 200, 'off: no throttle')
})

t.test('serve --digest-algorithm MD5 offers only MD5', { skip: curl.skip }, async (t) => {
  const { url } = await startServe(t, ['--auth', 'memory:alice:wonderland', '--port', '0', '--scheme', 'digest', '--digest-algorithm', 'MD5'])
  const challenge = await curlRequest([], `${url}/whoami`)
  t.equal(challenge.status, 401)
  t.match(challenge.headers, /www-authenticate: Digest [^\n]*algorithm=MD5/i)
  t.notMatch(challenge.headers, /SHA-256|Basic/i)
  const digest = await curlRequest(['--digest', '-u', 'alice:wonderland'], `${url}/whoami`)
  t.same(JSON.parse(digest.body), { avatarId: 'alice' })
})

t.test('serve --auth anonymous --auth memory:…: requests without credentials get in as anonymous', { skip: curl.skip }, async (t) => {
  const { url } = await startServe(t, ['--auth', 'anonymous', '--auth', 'memory:alice:wonderland', '--port', '0'])
  const anonymous = await curlRequest([], `${url}/whoami`)
  t.equal(anonymous.status, 200)
  t.same(JSON.parse(anonymous.body), { avatarId: null })
  t.same(JSON.parse((await curlRequest(['-u', 'alice:wonderland'], `${url}/whoami`)).body), { avatarId: 'alice' })
  t.equal((await curlRequest(['-u', 'alice:wrong'], `${url}/whoami`)).status, 401, 'wrong credentials are still refused')
})

t.test('serve takes its specs from CRED_AUTH when no --auth is given', { skip: curl.skip }, async (t) => {
  const env = { ...process.env, CRED_AUTH: JSON.stringify(['memory:carol;password-env=CAROL_PW']), CAROL_PW: 'p:a,s;s' }
  const { url, output } = await startServe(t, ['--port', '0'], { env })
  t.match(output(), /auth: CRED_AUTH/)
  const ok = await curlRequest(['-u', 'carol:p:a,s;s'], `${url}/whoami`)
  t.same(JSON.parse(ok.body), { avatarId: 'carol' })
})

t.test('serve --static: files only after login', { skip: curl.skip }, async (t) => {
  const site = join(dir, 'site')
  await mkdir(site)
  await writeFile(join(site, 'index.html'), '<h1>private</h1>\n')
  await writeFile(join(site, 'report.txt'), 'quarterly numbers\n')
  const { url } = await startServe(t, ['--auth', 'memory:alice:wonderland', '--static', site, '--port', '0'])
  const refused = await curlRequest([], `${url}/report.txt`)
  t.equal(refused.status, 401)
  t.notMatch(refused.body, /quarterly/)
  t.equal((await curlRequest(['-u', 'alice:wrong'], `${url}/report.txt`)).status, 401)
  const file = await curlRequest(['-u', 'alice:wonderland'], `${url}/report.txt`)
  t.equal(file.status, 200)
  t.equal(file.body, 'quarterly numbers\n')
  const index = await curlRequest(['-u', 'alice:wonderland'], `${url}/`)
  t.equal(index.status, 200)
  t.match(index.body, /<h1>private<\/h1>/)
  t.equal((await curlRequest([], `${url}/nothing-here`)).status, 401, 'even a missing file asks for a login first')
  t.equal((await curlRequest(['-u', 'alice:wonderland'], `${url}/nothing-here`)).status, 404)
})

t.test('serve --static never serves dotfiles, .ht* or password files, the --auth files, nor symlinks out of the root (issue #20 item 4)', { skip: htpasswd.skip || curl.skip }, async (t) => {
  const base = join(dir, 'hidden')
  const site = join(base, 'site')
  for (const sub of ['.git', '.well-known', 'docs']) await mkdir(join(site, sub), { recursive: true })
  await writeFile(join(site, 'index.html'), '<h1>public page</h1>\n')
  await writeFile(join(site, 'docs', 'guide.txt'), 'the guide\n')
  await symlink(join('docs', 'guide.txt'), join(site, 'guide-link.txt')) // a symlink that stays inside: served
  await run('htpasswd', ['-cbB', join(site, '.htpasswd'), 'alice', 'wonderland']) // the --auth file itself
  await run('htpasswd', ['-cbB', join(site, 'users.htpasswd'), 'bob', 'builder']) // named like a password file
  await writeFile(join(site, 'notes.txt'), 'carols-s3cret\n') // named by --auth (password-file=), a harmless name
  await link(join(site, 'notes.txt'), join(site, 'notes-copy.txt')) // the same file by another name
  await writeFile(join(site, '.env'), 'DATABASE_PASSWORD=hunter2\n')
  await writeFile(join(site, '.git', 'config'), '[remote "origin"] url = git@example.com:private.git\n')
  await writeFile(join(site, '.well-known', 'security.txt'), 'Contact: mailto:security@example.com\n')
  await writeFile(join(base, 'outside.txt'), 'outside the root\n')
  await symlink(join(base, 'outside.txt'), join(site, 'outside-link.txt'))
  await symlink(base, join(site, 'up'))
  await symlink('.env', join(site, 'env.txt')) // inside the root, but to a dotfile
  const auth = ['--auth', 'file:site/.htpasswd']
  const leaks = /\$2[aby]\$|hunter2|carols-s3cret|private\.git|outside the root|security@/

  const { url } = await startServe(t, [...auth, '--static', 'site', '--port', '0'], { cwd: base })
  const get = async (path: string, user = 'alice:wonderland'): Promise<{ status: number, body: string }> => await curlRequest(['--path-as-is', ...(user === '' ? [] : ['-u', user])], `${url}${path}`)
  t.equal((await get('/')).status, 200, 'the site is served')
  t.equal((await get('/docs/guide.txt')).body, 'the guide\n')
  t.equal((await get('/guide-link.txt')).body, 'the guide\n', 'a symlink inside the root is served')
  const denied = ['/.htpasswd', '/.HTPASSWD', '/users.htpasswd', '/.env', '/.git/config', '/.well-known/security.txt',
    '/outside-link.txt', '/up/outside.txt', '/env.txt', '/%2eenv', '/docs/../.env', '/.git/', '/up/site/.htpasswd']
  for (const path of denied) {
    const answer = await get(path)
    t.equal(answer.status, 404, `${path}: 404, as a missing file`)
    t.notMatch(answer.body, leaks, `${path}: nothing of it in the body`)
  }
  t.equal((await get('/.env', '')).status, 401, 'without a login: 401 first, as for every path')

  // A file that --auth names under a harmless name (password-file=), and a hard link to it. (One --auth per kind of
  // credentials: a second password store would be refused, so this one gets a server of its own.)
  const carol = await startServe(t, ['--auth', 'memory:carol;password-file=site/notes.txt', '--static', 'site', '--port', '0'], { cwd: base })
  t.equal((await curlRequest(['-u', 'carol:carols-s3cret'], `${carol.url}/docs/guide.txt`)).status, 200, 'carol logs in with the password file')
  for (const path of ['/notes.txt', '/notes-copy.txt']) {
    const answer = await curlRequest(['--path-as-is', '-u', 'carol:carols-s3cret'], `${carol.url}${path}`)
    t.equal(answer.status, 404, `${path}: 404, as a missing file`)
    t.notMatch(answer.body, leaks, `${path}: nothing of it in the body`)
  }

  // --static-dotfiles allows dotfiles deliberately, nothing else.
  const dotted = await startServe(t, [...auth, '--static', 'site', '--static-dotfiles', '--port', '0'], { cwd: base })
  const getDotted = async (path: string): Promise<{ status: number, body: string }> => await curlRequest(['--path-as-is', '-u', 'alice:wonderland'], `${dotted.url}${path}`)
  t.match((await getDotted('/.well-known/security.txt')).body, /Contact:/, '--static-dotfiles: .well-known is served')
  t.equal((await getDotted('/.env')).status, 200, '--static-dotfiles: .env too (deliberately)')
  for (const path of ['/.htpasswd', '/users.htpasswd', '/outside-link.txt', '/up/outside.txt']) {
    const answer = await getDotted(path)
    t.equal(answer.status, 404, `--static-dotfiles ${path}: still 404`)
    t.notMatch(answer.body, /\$2[aby]\$|carols-s3cret|outside the root/, `--static-dotfiles ${path}: nothing of it in the body`)
  }
  const usage = await runCommand(['serve', ...auth, '--static-dotfiles', '--port', '0'], { cwd: base })
  t.equal(usage.code, 2, '--static-dotfiles without --static is a usage error')
})

t.test('serve --upstream: an authenticating reverse proxy passing the avatar id in a header', { skip: curl.skip }, async (t) => {
  const seen: IncomingHttpHeaders[] = []
  const upstream = createServer((request, response) => {
    seen.push(request.headers)
    response.setHeader('content-type', 'application/json')
    response.end(JSON.stringify({ path: request.url, user: request.headers['x-forwarded-user'] ?? null, remote: request.headers['x-remote-user'] ?? null }))
  })
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => upstream.close(() => { resolve() })))
  const address = upstream.address()
  const upstreamUrl = `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`

  const { url } = await startServe(t, ['--auth', 'memory:alice:wonderland:josé:café', '--upstream', upstreamUrl, '--port', '0', '--scheme', 'basic', '--scheme', 'digest'])
  const forged = await curlRequest(['-u', 'alice:wonderland', '-H', 'X-Forwarded-User: admin', '-H', 'x-forwarded-user: root', '-H', 'X_Forwarded_User: root', '-H', 'X_Other: kept'], `${url}/api/items?x=1`)
  t.equal(forged.status, 200)
  t.same(JSON.parse(forged.body), { path: '/api/items?x=1', user: 'alice', remote: null }, 'the upstream sees the avatar id, not the forged one')
  const last = seen.at(-1)
  t.equal(last?.authorization, undefined, 'the client\'s password is not passed on')
  t.equal(last?.x_forwarded_user, undefined, 'nor a spelling with "_" that CGI/WSGI would read as the same header')
  t.equal(last?.x_other, 'kept', 'other headers with "_" pass')

  const before = seen.length
  const anonymous = await curlRequest(['-H', 'X-Forwarded-User: admin'], `${url}/api/items`)
  t.equal(anonymous.status, 401)
  t.equal((await curlRequest(['-u', 'alice:wrong', '-H', 'X-Forwarded-User: admin'], `${url}/api/items`)).status, 401)
  t.equal(seen.length, before, 'a request without a login never reaches the upstream')

  const digest = await curlRequest(['--digest', '-u', 'josé:café'], `${url}/`)
  t.same(JSON.parse(digest.body), { path: '/', user: 'jos%C3%A9', remote: null }, 'a non-ASCII name arrives percent-encoded (Digest through the proxy)')
  for (const headers of seen) t.notOk(Object.keys(headers).some((h) => h === 'authorization'), 'no Authorization upstream')

  const custom = await startServe(t, ['--auth', 'memory:alice:wonderland', '--upstream', upstreamUrl, '--avatar-header', 'X-Remote-User', '--port', '0'])
  const viaCustom = await curlRequest(['-u', 'alice:wonderland', '-H', 'X-Remote-User: admin', '-H', 'X-Forwarded-User: passes'], `${custom.url}/x`)
  t.same(JSON.parse(viaCustom.body), { path: '/x', user: 'passes', remote: 'alice' }, 'the header name is an option; only that header is the trusted one')
})
