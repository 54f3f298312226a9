// `fastify-cred serve` on each store's real files and databases (Apache-made files, Django's SQLite, LDAP), over
// HTTPS, and the README's CRED_AUTH swap, driven by curl.
import t from 'tap'
import { execFile } from 'node:child_process'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { needProgram } from '../helpers/binaries.js'
import { curl, curlRequest } from '../helpers/curl.js'
import { cliScratchFolder, runCommand, startServe } from '../helpers/cli.js'
import { PEOPLE, slapdSkip, startSlapd } from '../helpers/slapd.js'

const run = promisify(execFile)
const htpasswd = needProgram('htpasswd', 'apache2-utils')
const htdigest = needProgram('htdigest', 'apache2-utils')

const dir = await cliScratchFolder(t)

t.test('serve --auth file:<made by htpasswd> with curl', { skip: htpasswd.skip || curl.skip }, async (t) => {
  const file = join(dir, 'apache-serve.htpasswd')
  await run(htpasswd.path as string, ['-cbB', '-C', '5', file, 'alice', 'wonderland'])
  await run(htpasswd.path as string, ['-bm', file, 'bob', 'builder'])
  const { url } = await startServe(t, ['--auth', `file:${file}`, '--port', '0'])
  t.same(JSON.parse((await curlRequest(['-u', 'alice:wonderland'], `${url}/whoami`)).body), { avatarId: 'alice' })
  t.same(JSON.parse((await curlRequest(['-u', 'bob:builder'], `${url}/whoami`)).body), { avatarId: 'bob' })
  t.equal((await curlRequest(['-u', 'alice:builder'], `${url}/whoami`)).status, 401)
})

t.test('serve --auth htdigest:<made by htdigest> with curl --digest (MD5)', { skip: htdigest.skip || curl.skip }, async (t) => {
  const file = join(dir, 'apache-serve.htdigest')
  await new Promise<void>((resolve, reject) => {
    const child = execFile(htdigest.path as string, ['-c', file, 'staff', 'alice'], (err) => { if (err !== null) reject(err); else resolve() })
    child.stdin?.end('wonderland\nwonderland\n')
  })
  const { url } = await startServe(t, ['--auth', `htdigest:${file}`, '--port', '0', '--scheme', 'digest', '--digest-algorithm', 'MD5', '--realm-name', 'staff'])
  const ok = await curlRequest(['--digest', '-u', 'alice:wonderland'], `${url}/whoami`)
  t.equal(ok.status, 200)
  t.same(JSON.parse(ok.body), { avatarId: 'alice' })
  t.equal((await curlRequest(['--digest', '-u', 'alice:wrong'], `${url}/whoami`)).status, 401)
})

const openssl = needProgram('openssl', 'openssl')

t.test('serve --tls-cert/--tls-key serves HTTPS', { skip: openssl.skip || curl.skip }, async (t) => {
  const cert = join(dir, 'cert.pem')
  const key = join(dir, 'key.pem')
  await run(openssl.path as string, ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert,
    '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'])
  const { url } = await startServe(t, ['--auth', 'memory:alice:wonderland', '--port', '0', '--tls-cert', cert, '--tls-key', key])
  t.match(url, /^https:\/\/127\.0\.0\.1:\d+$/)
  const ok = await curlRequest(['--cacert', cert, '-u', 'alice:wonderland'], `${url}/whoami`)
  t.same(JSON.parse(ok.body), { avatarId: 'alice' })
  const half = await runCommand(['serve', '--auth', 'memory:a:b', '--tls-cert', cert])
  t.equal(half.code, 2)
  t.match(half.stderr, /--tls-cert and --tls-key go together/)
  const garbage = join(dir, 'garbage.pem')
  await writeFile(garbage, 'not a key\n')
  const bad = await runCommand(['serve', '--auth', 'memory:a:b', '--port', '0', '--tls-cert', cert, '--tls-key', garbage])
  t.equal(bad.code, 1)
  t.match(bad.stderr, /^fastify-cred: serve: the TLS certificate or key cannot be used/)
})

t.test('serve --auth django:<Django\'s own SQLite database> with curl', { skip: curl.skip }, async (t) => {
  const { DJANGO_SQLITE, djangoUser } = await import('../helpers/django-fixtures.js')
  const { url } = await startServe(t, ['--auth', `django:${DJANGO_SQLITE}`, '--port', '0'])
  const ok = await curlRequest(['-u', `alice:${djangoUser('alice').password ?? ''}`], `${url}/whoami`)
  t.equal(ok.status, 200)
  t.same(JSON.parse(ok.body), { avatarId: 'alice' })
  t.equal((await curlRequest(['-u', 'alice:wrong'], `${url}/whoami`)).status, 401)
})

t.test('the README\'s swap: the same server (dist/examples/cred-auth-server.js) on memory, htpasswd, Django, LDAP, by CRED_AUTH only', { skip: htpasswd.skip || curl.skip }, async (t) => {
  const { DJANGO_SQLITE, djangoUser } = await import('../helpers/django-fixtures.js')
  const { spawn } = await import('node:child_process')
  const example = new URL('../../dist/examples/cred-auth-server.js', import.meta.url).pathname
  const file = join(dir, 'swap.htpasswd')
  await run(htpasswd.path as string, ['-cbB', '-C', '4', file, 'alice', 'from-the-file'])
  const deployments: Array<[string, string]> = [
    ['memory:alice:from-memory', 'from-memory'],
    [`file:${file};cache=30s`, 'from-the-file'],
    [`django:${DJANGO_SQLITE}`, djangoUser('alice').password ?? '']
  ]
  if (slapdSkip === false) {
    const slapd = await startSlapd(t, { users: [{ uid: 'alice', password: 'from-ldap' }] })
    deployments.push([`ldap:${slapd.url};user-dn=uid={username},${PEOPLE}`, 'from-ldap'])
  } else {
    t.comment(`LDAP deployment skipped: ${slapdSkip}`)
  }
  for (const [spec, password] of deployments) {
    const child = spawn(process.execPath, [example], { env: { ...process.env, CRED_AUTH: spec, PORT: '0' }, stdio: ['ignore', 'pipe', 'pipe'] })
    const exited = new Promise((resolve) => child.once('exit', resolve))
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let out = ''
        child.stdout.setEncoding('utf8').on('data', (s: string) => { out += s; const m = / at (http:\/\/\S+)\/whoami/.exec(out); if (m !== null) resolve(m[1] ?? '') })
        child.stderr.setEncoding('utf8').on('data', (s: string) => { out += s })
        void exited.then(() => { reject(new Error(`the example exited: ${out}`)) })
      })
      const ok = await curlRequest(['-u', `alice:${password}`], `${url}/whoami`)
      t.same(JSON.parse(ok.body), { avatarId: 'alice' }, `${spec.split(':')[0] ?? ''}: alice logs in`)
      t.equal((await curlRequest(['-u', 'alice:wrong'], `${url}/whoami`)).status, 401)
    } finally {
      child.kill('SIGTERM')
      await exited
    }
  }
})
