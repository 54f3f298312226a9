import fc from 'fast-check'
import { SignJWT } from 'jose'
import t from 'tap'
import { ApiKeyChecker, JwtChecker, formatApiKeyLine, newApiKey } from '../../lib/checkers/index.js'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { buildApp } from '../helpers/app.js'

// Seeded and reproducible: a failure prints its seed and path; rerun with them in `fc.assert(…, { seed, path })`.
const SEED = 20261207

const secret = 'the fuzz test\'s shared secret, long enough for HS256'
const key = newApiKey()
const file = join(mkdtempSync(join(tmpdir(), 'fastify-cred-fuzz-bearer-')), 'keys')
writeFileSync(file, `${formatApiKeyLine(key.prefix, key.sha256, 'alice')}\n`)
const jwt = await new SignJWT({ sub: 'alice' }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('10m').sign(new TextEncoder().encode(secret))

/** What an HTTP client can put in a header: no CR, LF or NUL, and one byte per character (Node sends Latin-1). */
const sendable = (value: string): string => Buffer.from(value, 'utf8').toString('latin1').replace(/[\r\n\u0000]/g, ' ')

t.test('never 500 through the plugin, whatever the Bearer value: JWTs and API keys, edited, cut, garbage', async (t) => {
  // Two token checkers cannot share IBearerToken in one portal; each gets its own app and the same inputs.
  for (const [name, checker, good] of [['JwtChecker', new JwtChecker({ secret }), jwt], ['ApiKeyChecker', new ApiKeyChecker(file), key.key]] as const) {
    const { app, logs } = await buildApp({ checkers: [checker], schemes: ['bearer', 'basic'] })
    t.teardown(async () => { await app.close(); await checker.close() })
    const edit = fc.record({ at: fc.nat(), kind: fc.constantFrom('delete', 'insert', 'replace', 'cut'), piece: fc.oneof(
      fc.constantFrom('.', '=', ' ', '+', '/', '~', '"', ',', 'eyJhbGciOiJub25lIn0', '\u0085', 'é'),
      fc.string({ unit: 'binary', maxLength: 3 })
    ) })
    const edited = fc.array(edit, { maxLength: 3 }).map((edits) => {
      let value = good
      for (const { at, kind, piece } of edits) {
        const i = at % (value.length + 1)
        value = kind === 'cut' ? value.slice(0, i) : value.slice(0, i) + (kind === 'delete' ? '' : piece) + value.slice(kind === 'insert' ? i : i + 1)
      }
      return `Bearer ${value}`
    })
    const garbage = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 80 }).map((s) => `Bearer ${s}`),
      fc.string({ maxLength: 40 }).map((s) => `bEaReR   ${s}   `),
      fc.array(fc.base64String({ maxLength: 40 }), { minLength: 1, maxLength: 4 }).map((parts) => `Bearer ${parts.join('.')}`)
    )
    const statuses = new Map<number, number>()
    await fc.assert(fc.asyncProperty(fc.oneof(edited, garbage), async (value) => {
      const res = await app.inject({ url: '/whoami', headers: { authorization: sendable(value) } })
      statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1)
      return res.statusCode === 200 || res.statusCode === 400 || res.statusCode === 401
    }), { seed: SEED, numRuns: 1500 })
    const seen = JSON.stringify(Object.fromEntries(statuses))
    t.ok((statuses.get(200) ?? 0) > 0 && (statuses.get(400) ?? 0) > 0 && (statuses.get(401) ?? 0) > 0, `${name}: 200, 400 and 401 all reached, nothing else (${seen})`)
    // A 1 MB token, and one just past the limit: read as malformed (400), never decoded or hashed at length.
    for (const length of [1 << 20, 8193]) {
      const res = await app.inject({ url: '/whoami', headers: { authorization: `Bearer ${'A'.repeat(length)}` } })
      t.equal(res.statusCode, 400, `${name}: a ${length}-character token: 400`)
      t.match(String(res.headers['www-authenticate']), /error="invalid_request"/)
    }
    const truncated = await app.inject({ url: '/whoami', headers: { authorization: `Bearer ${good.slice(0, good.length - 7)}` } })
    t.equal(truncated.statusCode, 401, `${name}: truncated: 401`)
    t.equal(logs.lines.filter((l) => (l.level as number) >= 50).length, 0, `${name}: nothing logged as an error`)
    t.notOk(logs.text.includes(good), `${name}: the token is never logged`)
  }
})
