import { randomBytes } from 'node:crypto'
import t from 'tap'
import { buildApp } from '../helpers/app.js'

// Seeded, so that a failure can be reproduced from its index.
function generator (seed: number): () => number {
  let state = seed >>> 0
  return () => { state = (Math.imul(state, 1664525) + 1013904223) >>> 0; return state / 2 ** 32 }
}

const PIECES = ['Basic ', 'Digest ', 'basic', 'DIGEST ', 'username=', '"', '\\', ',', '=', ' ', 'realm="test realm"',
  'nonce="', 'uri="/whoami"', 'response="', 'qop=auth', 'nc=00000001', 'cnonce="x"', 'algorithm=SHA-256', 'algorithm=MD5',
  'opaque="', 'username*=UTF-8\'\'%C5%81', 'userhash=true', '\t', 'YWxpY2U6bm9wZQ==', '====', ':', 'é', '\u0000']

t.test('garbage Authorization headers through Basic and Digest: always 400 or 401, never 500', async (t) => {
  const { app, logs } = await buildApp({ schemes: ['digest', 'basic'] })
  const random = generator(20261125)
  const statuses = new Map<number, number>()
  for (let i = 0; i < 1500; i++) {
    let value = random() < 0.5 ? 'Digest ' : 'Basic '
    const parts = 1 + Math.floor(random() * 12)
    for (let p = 0; p < parts; p++) {
      value += random() < 0.8 ? PIECES[Math.floor(random() * PIECES.length)] : randomBytes(1 + Math.floor(random() * 6)).toString('latin1')
    }
    // Node refuses to send some characters in a header; what cannot be sent cannot reach the server either.
    const sendable = value.replace(/[\r\n\u0000]/g, ' ')
    const res = await app.inject({ url: '/whoami', headers: { authorization: sendable } })
    statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1)
    if (res.statusCode !== 400 && res.statusCode !== 401) {
      t.fail(`#${i}: ${JSON.stringify(sendable)} answered ${res.statusCode}`)
      break
    }
  }
  t.same([...statuses.keys()].sort(), [400, 401], `only 400 and 401 (${JSON.stringify(Object.fromEntries(statuses))})`)
  t.equal(logs.lines.filter((l) => (l.level as number) >= 50).length, 0, 'nothing logged as an error')
})
