import { hash, randomBytes } from 'node:crypto'
import { request } from 'node:http'
import t from 'tap'
import type { Test } from 'tap'
import Fastify from 'fastify'
import type { FastifyInstance } from 'fastify'
import cred, { SimpleRealm, defineInterface } from '../../lib/index.js'
import { MemoryChecker } from '../../lib/checkers/index.js'
import { RedisNonceStore } from '../../lib/http/index.js'
import type { CredPluginOptions } from '../../lib/index.js'
import { redisServerProgram, startRedis } from '../helpers/redis-server.js'

/*
 * Two app instances (think: two processes behind a load balancer) with one Digest secret and one Redis: a nonce
 * from one is good at the other, a nonce count used at one is refused at the other, and without Redis both fail
 * closed with 503. Real HTTP on two ports; the client side is computed here from the RFC 7616 formulas, independent
 * of the library's own codec.
 */

const REALM = 'cluster test'
const IUser = defineInterface<{ readonly name: string }>('IUser')

interface Answer {
  readonly status: number
  /** Every WWW-Authenticate value, one per header line. */
  readonly challenges: string[]
  readonly headers: Readonly<Record<string, string | string[] | undefined>>
  readonly body: string
}

const get = async (port: number, path: string, authorization?: string): Promise<Answer> => await new Promise((resolve, reject) => {
  const req = request({ host: '127.0.0.1', port, path, method: 'GET', headers: authorization === undefined ? {} : { authorization } }, (res) => {
    let body = ''
    res.setEncoding('utf8')
    res.on('data', (chunk: string) => { body += chunk })
    res.on('end', () => {
      const challenges: string[] = []
      for (let i = 0; i < res.rawHeaders.length; i += 2) {
        if (res.rawHeaders[i]?.toLowerCase() === 'www-authenticate') challenges.push(res.rawHeaders[i + 1] ?? '')
      }
      resolve({ status: res.statusCode ?? 0, challenges, headers: res.headers, body })
    })
  })
  req.on('error', reject)
  req.end()
})

/** The parameters of one `Digest ...` challenge (values unquoted). */
const parseChallenge = (challenge: string): Map<string, string> => {
  const params = new Map<string, string>()
  for (const m of challenge.replace(/^Digest\s+/i, '').matchAll(/([A-Za-z0-9_-]+)=(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))/g)) {
    params.set((m[1] as string).toLowerCase(), m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : (m[3] as string))
  }
  return params
}

/** The SHA-256 Digest challenge of a 401, as the client would pick it. */
const sha256Challenge = (t: Test, answer: Answer): Map<string, string> => {
  const challenge = answer.challenges.map(parseChallenge).find((p) => p.get('algorithm')?.toUpperCase() === 'SHA-256')
  if (challenge === undefined) {
    t.fail(`no SHA-256 Digest challenge in ${JSON.stringify(answer.challenges)}`)
    throw new Error('no challenge')
  }
  return challenge
}

/** RFC 7616 §3.4.1 with qop=auth: response = H(H(user:realm:pw) : nonce : nc : cnonce : qop : H(method:uri)). */
const authorize = (challenge: Map<string, string>, nc: number, uri = '/whoami', username = 'alice', password = 'wonderland'): string => {
  const H = (s: string): string => hash('sha256', s, 'hex')
  const realm = challenge.get('realm') ?? ''
  const nonce = challenge.get('nonce') ?? ''
  const ncHex = nc.toString(16).padStart(8, '0')
  const cnonce = randomBytes(8).toString('hex')
  const response = H(`${H(`${username}:${realm}:${password}`)}:${nonce}:${ncHex}:${cnonce}:auth:${H(`GET:${uri}`)}`)
  const opaque = challenge.get('opaque')
  return `Digest username="${username}", realm="${realm}", uri="${uri}", algorithm=SHA-256, nonce="${nonce}", ` +
    `nc=${ncHex}, cnonce="${cnonce}", qop=auth, response="${response}"${opaque === undefined ? '' : `, opaque="${opaque}"`}`
}

if (redisServerProgram.skip !== false) {
  t.test('two instances sharing Redis', { skip: redisServerProgram.skip }, async () => {})
} else {
  const redis = await startRedis(t)
  const secret = randomBytes(32).toString('hex')

  const instance = async (name: string): Promise<{ app: FastifyInstance, port: number, store: RedisNonceStore }> => {
    const store = new RedisNonceStore(redis.url, { timeout: 300 })
    await store.connect()
    const app = Fastify()
    const options: CredPluginOptions = {
      realm: new SimpleRealm().serve(IUser, (id) => ({ name: String(id) })),
      checkers: [new MemoryChecker({ alice: 'wonderland' })],
      interfaces: [IUser],
      authenticationRealm: REALM,
      schemes: ['digest'],
      digest: { secret, nonceStore: store }
    }
    await app.register(cred, options)
    app.get('/whoami', async (request) => ({ instance: name, avatarId: request.avatarId }))
    app.addHook('onClose', async () => { await store.close() })
    await app.listen({ host: '127.0.0.1', port: 0 })
    const address = app.server.address()
    return { app, store, port: typeof address === 'object' && address !== null ? address.port : 0 }
  }

  const a = await instance('A')
  const b = await instance('B')
  t.teardown(async () => { await a.app.close(); await b.app.close() })

  t.test('the instances listen on different ports with one secret', async (t) => {
    t.not(a.port, b.port)
    const first = await get(a.port, '/whoami')
    t.equal(first.status, 401, 'no credentials → 401')
    t.ok(first.challenges.length > 0 && first.challenges.every((c) => /^Digest /i.test(c)), 'Digest challenges only')
  })

  t.test('a challenge from A answered at B succeeds, and the next count at A too', async (t) => {
    const challenge = sha256Challenge(t, await get(a.port, '/whoami'))
    const atB = await get(b.port, '/whoami', authorize(challenge, 1))
    t.equal(atB.status, 200, atB.body)
    t.same(JSON.parse(atB.body), { instance: 'B', avatarId: 'alice' })
    const atA = await get(a.port, '/whoami', authorize(challenge, 2))
    t.equal(atA.status, 200, 'nc 2 of the same nonce, back at A')
    t.equal(JSON.parse(atA.body).avatarId, 'alice')
  })

  t.test('a header used at A is refused when replayed at B (and at A)', async (t) => {
    const challenge = sha256Challenge(t, await get(a.port, '/whoami'))
    const header = authorize(challenge, 1)
    const used = await get(a.port, '/whoami', header)
    t.equal(used.status, 200, 'first use at A')
    const replayB = await get(b.port, '/whoami', header)
    t.equal(replayB.status, 401, 'replay at B refused')
    t.ok(replayB.challenges.length > 0, 'with fresh challenges')
    t.equal((await get(a.port, '/whoami', header)).status, 401, 'replay at A refused')
    const concurrent = await Promise.all([a, b, a, b].map(async (i) => await get(i.port, '/whoami', authorize(challenge, 5))))
    t.same(concurrent.map((r) => r.status).sort(), [200, 401, 401, 401], 'the same nc sent to both at once: one success')
  })

  t.test('Redis down → 503 at both instances (fail closed); back → logins work, old headers stay refused', async (t) => {
    const challenge = sha256Challenge(t, await get(b.port, '/whoami'))
    const before = authorize(challenge, 1)
    t.equal((await get(a.port, '/whoami', before)).status, 200, 'works while Redis is up')

    await redis.stop()
    let down = true
    t.teardown(async () => { if (down) await redis.start() })
    for (const [name, { port }] of [['A', a], ['B', b]] as const) {
      const answer = await get(port, '/whoami', authorize(challenge, name === 'A' ? 2 : 3))
      t.equal(answer.status, 503, `${name}: 503, not 200 and not 401`)
      t.equal(answer.headers['retry-after'], '5', `${name}: Retry-After`)
      t.equal(answer.challenges.length, 0, `${name}: no challenge (it is not the password's fault)`)
      t.notMatch(answer.body, /wonderland|ECONNREFUSED|127\.0\.0\.1/, `${name}: no details in the body`)
    }
    const replay = await get(b.port, '/whoami', before)
    t.equal(replay.status, 503, 'a replay is not let through while Redis is down either')

    await redis.start()
    down = false
    let status = 0
    for (let i = 0; i < 100 && status !== 200; i++) {
      // A restarted Redis without persistence lost its nonces: the old nonce is answered stale, a new one works.
      const fresh = sha256Challenge(t, await get(a.port, '/whoami'))
      status = (await get(b.port, '/whoami', authorize(fresh, 1))).status
      if (status !== 200) await new Promise((resolve) => setTimeout(resolve, 100))
    }
    t.equal(status, 200, 'logins work again after Redis is back')
    const replayAfter = await get(a.port, '/whoami', before)
    t.equal(replayAfter.status, 401, 'the header used before the restart is still refused')
    t.match(replayAfter.challenges.join('\n'), /stale=(true|"true")/i, 'as stale: the client retries with a fresh nonce')
  })
}
