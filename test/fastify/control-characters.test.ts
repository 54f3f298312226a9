import t from 'tap'
import { MemoryChecker } from '../../lib/checkers/index.js'
import { formatBasic } from '../../lib/http/index.js'
import type { CredentialsChecker, PasswordCheckable } from '../../lib/index.js'
import { pickDigestChallenge, digestAuthorization } from '../../lib/client/index.js'
import { buildApp } from '../helpers/app.js'

// Unicode's Cc: C0 (NUL, CR, LF, ESC, ...), DEL and C1 (U+0080..U+009F: NEL U+0085, CSI U+009B, ...).
const CC = /[\u0000-\u001f\u007f-\u009f]/
const NAMES = ['alice\u0000', 'alice\r\nFAKE LOG LINE', 'alice\nx', 'alice\u001b[31m', 'alice\u007f', 'alice\u0085', 'alice\u009b31m', '\u0080alice']

/** Wraps the in-memory checker and records every user name that reached it. */
class RecordingChecker implements CredentialsChecker<PasswordCheckable> {
  readonly credentialInterfaces = MemoryChecker.credentialInterfaces
  readonly seen: string[] = []
  readonly #inner = new MemoryChecker({ alice: 'wonderland' })
  requestAvatarId (credentials: PasswordCheckable): string {
    this.seen.push(credentials.username)
    return this.#inner.requestAvatarId(credentials)
  }
}

t.test('Basic: a user name (or password) with a control character is 400 and never reaches a checker', async (t) => {
  const checker = new RecordingChecker()
  const { app, logs } = await buildApp({ checkers: [checker] })
  for (const name of NAMES) {
    const res = await app.inject({ url: '/whoami', headers: { authorization: formatBasic(name, 'wonderland') } })
    t.equal(res.statusCode, 400, JSON.stringify(name))
  }
  // C1 as a raw Latin-1 byte (a client sending ISO-8859-1), not only as UTF-8.
  const latin1 = await app.inject({ url: '/whoami', headers: { authorization: `Basic ${Buffer.from('alice\x85:wonderland', 'latin1').toString('base64')}` } })
  t.equal(latin1.statusCode, 400, 'NEL as a Latin-1 byte')
  t.equal((await app.inject({ url: '/whoami', headers: { authorization: formatBasic('alice', 'wonder\u0085land') } })).statusCode, 400, 'and in a password')
  t.same(checker.seen, [], 'no checker saw any of them')
  t.notMatch(logs.text, /FAKE LOG LINE/, 'nor did the log')
  t.equal((await app.inject({ url: '/whoami', headers: { authorization: formatBasic('alice', 'wonderland') } })).statusCode, 200)
  t.equal((await app.inject({ url: '/whoami', headers: { authorization: formatBasic('al\u00a0ice', 'x') } })).statusCode, 401, 'U+00A0 (not a control) is a user name like any other')
})

t.test('Digest: username* (and a Latin-1 quoted username) with a control character is 400 and never reaches a checker', async (t) => {
  const checker = new RecordingChecker()
  const { app } = await buildApp({ checkers: [checker], schemes: ['digest'], digest: { secret: 'test secret, at least sixteen bytes' } })
  const challengeFor = async () => {
    const res = await app.inject({ url: '/whoami' })
    const header = res.headers['www-authenticate']
    const challenge = pickDigestChallenge(Array.isArray(header) ? header.join(', ') : String(header))
    if (challenge === undefined) throw new Error('no Digest challenge')
    return challenge
  }
  for (const name of NAMES) {
    const { authorization } = digestAuthorization(await challengeFor(), name, 'wonderland', { method: 'GET', uri: '/whoami', nc: 1 })
    t.match(authorization, /username\*=UTF-8''/, 'our client sends it as username*')
    const res = await app.inject({ url: '/whoami', headers: { authorization } })
    t.equal(res.statusCode, 400, JSON.stringify(name))
  }
  // A quoted username carrying NEL as one Latin-1 byte, and as UTF-8 (C2 85), as Node hands raw header bytes over.
  for (const raw of ['alice\x85', 'alice\xc2\x85']) {
    const { authorization } = digestAuthorization(await challengeFor(), 'alice', 'wonderland', { method: 'GET', uri: '/whoami', nc: 1 })
    const res = await app.inject({ url: '/whoami', headers: { authorization: authorization.replace('username="alice"', `username="${raw}"`) } })
    t.equal(res.statusCode, 400, JSON.stringify(raw))
  }
  t.same(checker.seen.filter((name) => CC.test(name)), [], 'no checker saw a control character')
  const { authorization } = digestAuthorization(await challengeFor(), 'alice', 'wonderland', { method: 'GET', uri: '/whoami', nc: 1 })
  t.equal((await app.inject({ url: '/whoami', headers: { authorization } })).statusCode, 200, 'a clean name still logs in')
})
