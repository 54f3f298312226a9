// Three `fastify-cred serve` instances sharing one Digest secret and one real Redis Cluster (nonce counts and the
// throttle), behind a real HAProxy (round-robin), driven by the real curl.
import { execFile } from 'node:child_process'
import { writeFile } from 'node:fs/promises'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { promisify } from 'node:util'
import t from 'tap'
import { needProgram } from '../helpers/binaries.js'
import { cliBuilt, startServe } from '../helpers/cli.js'
import { curl } from '../helpers/curl.js'
import { accepts, startPrivateServer } from '../helpers/private-server.js'
import { redisServerProgram, startRedisCluster } from '../helpers/redis-cluster.js'

const run = promisify(execFile)
const haproxy = needProgram('haproxy', 'haproxy')
const skip = cliBuilt !== false ? cliBuilt : haproxy.skip !== false ? haproxy.skip : curl.skip !== false ? curl.skip : redisServerProgram.skip

if (skip !== false) {
  t.test('three instances behind HAProxy', { skip }, async () => {})
} else {
  // The app behind the instances (serve --upstream): /hop/N redirects to /hop/N-1, /hop/0 answers who logged in. curl
  // follows redirects (-L) within one transfer with the same nonce and nc counted up: the Digest reuse under test.
  const upstream = createServer((request, response) => {
    const hops = Number(/^\/hop\/(\d+)$/.exec(request.url ?? '')?.[1] ?? 0)
    if (hops > 0) response.writeHead(302, { location: `/hop/${hops - 1}` }).end()
    else response.writeHead(200, { 'content-type': 'text/plain' }).end(String(request.headers['x-forwarded-user']))
  })
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve))
  t.teardown(async () => { await new Promise((resolve) => upstream.close(resolve)) })
  const upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`
  const cluster = await startRedisCluster(t)
  const env = { ...process.env, CRED_DIGEST_SECRET: 'one secret for all three instances' }
  const instances = await Promise.all([1, 2, 3].map(async () => await startServe(t, [
    '--auth', 'memory:alice:wonderland:bob:builder', '--scheme', 'digest', '--digest-algorithm', 'SHA-256', '--port', '0',
    '--throttle', cluster.url, '--nonce-store', cluster.url, '--trust-proxy', '127.0.0.1', '--upstream', upstreamUrl
  ], { env })))
  const backends = instances.map((instance, i) => `  server s${i + 1} ${new URL(instance.url).host} check inter 200 fall 1 rise 2`)
  const haproxyPath = haproxy.path as string
  const proxy = await startPrivateServer(t, {
    name: 'haproxy',
    user: 'haproxy',
    init: async (dir) => {
      await writeFile(`${dir}/haproxy.template`, [
        'defaults', '  mode http', '  timeout connect 1s', '  timeout client 10s', '  timeout server 10s',
        '  retries 2', '  option redispatch', '  option forwardfor',
        'frontend fe', '  bind 127.0.0.1:@PORT@', '  default_backend be',
        // Which instance answered, for the test to see the round-robin.
        '  http-response set-header X-Served-By %s',
        'backend be', '  balance roundrobin', ...backends, ''
      ].join('\n'))
    },
    // The port is only known now: the config is made from the template, then haproxy replaces the shell (same pid).
    argv: ([port], dir) => ['/bin/sh', '-c', `sed "s/@PORT@/${port}/" "$1/haproxy.template" > "$1/haproxy.cfg" && exec "$2" -f "$1/haproxy.cfg" -db`, 'sh', dir, haproxyPath],
    ready: async ([port]) => await accepts(port as number)
  })
  const base = `http://127.0.0.1:${proxy.port}`

  /** curl with `args` against `count` copies of the URL (default /hop/0): each final status with the instance that answered, and curl's -v output. */
  const curlRun = async (args: readonly string[], count: number, url = `${base}/hop/0`): Promise<{ answers: Array<{ status: number, by: string }>, trace: string }> => {
    const { stdout, stderr } = await run(curl.path as string, ['-sS', '-v', ...args, '-w', '%{http_code} %header{x-served-by}\n', ...Array.from({ length: count }, () => ['-o', '/dev/null', url]).flat()], { encoding: 'utf8', maxBuffer: 1 << 24 })
    const answers = stdout.trim().split('\n').map((line) => { const [status, by = ''] = line.split(' '); return { status: Number(status), by } })
    return { answers, trace: stderr }
  }
  const authorizations = (trace: string): string[] => [...trace.matchAll(/^> Authorization: (Digest .*?)\r?$/gm)].map((m) => m[1] as string)

  let firstHeader = ''
  t.test('curl Digest reuses one nonce across the three instances (nc 1 … 6 over five redirects): every request answered', async (t) => {
    const { answers, trace } = await curlRun(['--digest', '-u', 'alice:wonderland', '-L'], 1, `${base}/hop/5`)
    t.same(answers.map((a) => a.status), [200], 'the end of the redirects reached')
    const served = [...trace.matchAll(/^< X-Served-By: (s\d)\r?$/gim)].map((m) => m[1])
    t.equal(served.length, 7, 'one challenge, then six requests')
    t.same(new Set(served.slice(1)), new Set(['s1', 's2', 's3']), 'the authenticated requests answered by all three instances')
    t.same([...trace.matchAll(/^< HTTP\/1\.1 (\d+)/gm)].map((m) => Number(m[1])), [401, 302, 302, 302, 302, 302, 200], 'no request refused')
    const sent = authorizations(trace)
    t.equal(sent.length, 6, 'one Authorization per request after the challenge')
    t.equal(new Set(sent.map((h) => /nonce="([^"]+)"/.exec(h)?.[1])).size, 1, 'one nonce for all of them')
    t.same(sent.map((h) => /nc=([0-9a-f]{8})/.exec(h)?.[1]), ['00000001', '00000002', '00000003', '00000004', '00000005', '00000006'])
    firstHeader = sent[0] as string
  })

  t.test('an Authorization header replayed to the other instances is refused by each', async (t) => {
    t.not(firstHeader, '', 'a header from the run before')
    const { answers } = await curlRun(['-H', `Authorization: ${firstHeader}`], 3, `${base}/hop/5`)
    t.same(answers.map((a) => a.status), [401, 401, 401], 'replayed: refused')
    t.same(new Set(answers.map((a) => a.by)), new Set(['s1', 's2', 's3']), 'by all three instances')
  })

  t.test('a brute-force run spread over the instances is throttled at the threshold (5), not three times it', async (t) => {
    const statuses: number[] = []
    for (let i = 0; i < 12; i++) {
      const { answers } = await curlRun(['--digest', '-u', `alice:guess${i}`], 1)
      statuses.push(answers[0]?.status ?? 0)
    }
    const refused = statuses.indexOf(429)
    t.equal(refused, 5, `five wrong passwords, then 429: ${statuses.join(' ')}`)
    t.same(statuses.slice(refused).filter((s) => s !== 429), [], 'and 429 from then on, whichever instance answers')
  })

  t.test('one instance stopped mid-run: the others carry on', async (t) => {
    const running = curlRun(['--digest', '-u', 'bob:builder', '--rate', '40/s'], 60)
    await new Promise((resolve) => setTimeout(resolve, 500))
    await instances[1]?.stop()
    const { answers } = await running
    const failed = answers.filter((a) => a.status !== 200)
    t.ok(failed.length <= 2, `at most the requests in flight failed: ${failed.map((a) => `${a.status} ${a.by}`).join(', ') || 'none'}`)
    t.ok(answers.slice(0, 10).some((a) => a.by === 's2'), 's2 answered before it stopped')
    const tail = answers.slice(-20)
    t.same(tail.filter((a) => a.status !== 200 || a.by === 's2'), [], 'the last 20 requests: 200, from s1 and s3 only')
  })
}
