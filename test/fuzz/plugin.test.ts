import fc from 'fast-check'
import t from 'tap'
import { formatBasic } from '../../lib/http/index.js'
import { pickDigestChallenge, digestAuthorization } from '../../lib/client/index.js'
import { buildApp } from '../helpers/app.js'

// Seeded and reproducible: a failure prints its seed and path; rerun with them in `fc.assert(…, { seed, path })`.
const SEED = 20261125

/** What an HTTP client can put in a header: no CR, LF or NUL, and one byte per character (Node sends Latin-1). */
const sendable = (value: string): string => Buffer.from(value, 'utf8').toString('latin1').replace(/[\r\n\u0000]/g, ' ')

t.test('never 500 through the plugin, whatever the Authorization header (Basic and Digest)', async (t) => {
  const { app, logs } = await buildApp({ schemes: ['digest', 'basic'], digest: { secret: 'test secret, at least sixteen bytes' } })
  const challengeRes = await app.inject({ url: '/whoami' })
  const header = challengeRes.headers['www-authenticate']
  const challenge = pickDigestChallenge(Array.isArray(header) ? header.join(', ') : String(header))
  if (challenge === undefined) throw new Error('no Digest challenge')
  // A real answer to a real challenge, then edited: the edits reach the nonce, the checker and the realm, not only
  // the parser.
  const valid = (username: string, password: string, nc: number): string =>
    digestAuthorization(challenge, username, password, { method: 'GET', uri: '/whoami', nc }).authorization
  const edit = fc.record({ at: fc.nat(), kind: fc.constantFrom('delete', 'insert', 'replace'), piece: fc.oneof(
    fc.constantFrom('"', '\\', ',', '=', ' ', 'qop=auth-int, ', 'nc=ffffffff, ', 'userhash=true, ', 'algorithm=MD5-sess, ',
      'uri="http://evil.example/whoami", ', 'realm="other", ', 'stale=true', '%0D%0A', '\u0085', 'é'),
    fc.string({ unit: 'binary', maxLength: 3 })
  ) })
  const digestValues = fc.tuple(
    fc.oneof(fc.constantFrom('alice', 'Łukasz', 'nobody'), fc.string({ unit: 'binary', maxLength: 12 })),
    fc.oneof(fc.constant('wonderland'), fc.string({ maxLength: 12 })),
    fc.integer({ min: 1, max: 5 }),
    fc.array(edit, { maxLength: 3 })
  ).map(([username, password, nc, edits]) => {
    let value = valid(username, password, nc)
    for (const { at, kind, piece } of edits) {
      const i = at % (value.length + 1)
      value = value.slice(0, i) + (kind === 'delete' ? '' : piece) + value.slice(kind === 'insert' ? i : i + 1)
    }
    return value
  })
  const basicValues = fc.oneof(
    fc.tuple(fc.string({ unit: 'binary', maxLength: 20 }), fc.string({ unit: 'binary', maxLength: 20 })).map(([u, p]) => formatBasic(u, p)),
    fc.tuple(fc.uint8Array({ maxLength: 24 }), fc.uint8Array({ maxLength: 24 })).map(([u, p]) => `Basic ${Buffer.concat([u, Buffer.from(':'), p]).toString('base64')}`),
    fc.string({ unit: 'binary', maxLength: 60 }).map((s) => `Basic ${s}`)
  )
  const other = fc.oneof(fc.string({ unit: 'binary', maxLength: 80 }), fc.string({ unit: 'binary', maxLength: 80 }).map((s) => `Digest ${s}`))

  const statuses = new Map<number, number>()
  const sent: string[] = []
  await fc.assert(fc.asyncProperty(fc.oneof(digestValues, basicValues, other), async (value) => {
    const authorization = sendable(value)
    sent.push(authorization)
    const res = await app.inject({ url: '/whoami', headers: { authorization } })
    statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1)
    return res.statusCode === 200 || res.statusCode === 400 || res.statusCode === 401
  }), { seed: SEED, numRuns: 3000 })
  const seen = JSON.stringify(Object.fromEntries(statuses))
  t.ok((statuses.get(200) ?? 0) > 0 && (statuses.get(400) ?? 0) > 0 && (statuses.get(401) ?? 0) > 0, `200, 400 and 401 all reached, nothing else (${seen})`)
  t.equal(logs.lines.filter((l) => (l.level as number) >= 50).length, 0, 'nothing logged as an error')
  t.notMatch(logs.text, /wonderland/, 'no password in the logs')
  const logged = logs.text
  t.same(sent.filter((value) => value.length >= 16 && logged.includes(JSON.stringify(value).slice(1, -1))), [], 'no Authorization header in the logs')
})
