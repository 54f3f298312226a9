import t from 'tap'
import {
  MAX_BASIC_LENGTH, basicChallenge, formatBasic, formatChallenge, parseBasic, quote
} from '../../lib/http/index.js'

const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64')

t.test('decodes user and password, splitting at the first colon', async (t) => {
  t.same(parseBasic(`Basic ${b64('alice:wonderland')}`), { username: 'alice', password: 'wonderland' })
  t.same(parseBasic(`Basic ${b64('alice:pass:word:')}`), { username: 'alice', password: 'pass:word:' })
  t.same(parseBasic(`basic ${b64('alice:')}`), { username: 'alice', password: '' }, 'scheme is case-insensitive, empty password kept')
  t.same(parseBasic(`BASIC ${b64(':pw')}`), { username: '', password: 'pw' })
})

t.test('UTF-8 user names and passwords (RFC 7617 §2.1)', async (t) => {
  t.same(parseBasic(`Basic ${b64('test:123£')}`), { username: 'test', password: '123£' })
  t.same(parseBasic(`Basic ${b64('Łukasz:żółć🙂')}`), { username: 'Łukasz', password: 'żółć🙂' })
  t.equal(formatBasic('test', '123£'), 'Basic dGVzdDoxMjPCow==', 'the RFC 7617 example')
})

t.test('bytes that are not UTF-8 are read as ISO-8859-1 (Python requests and aiohttp send Latin-1)', async (t) => {
  const latin1 = `Basic ${Buffer.from('bøb:pässwörd', 'latin1').toString('base64')}`
  t.same(parseBasic(latin1), { username: 'bøb', password: 'pässwörd' }, 'the Latin-1 form')
  t.same(parseBasic(`Basic ${b64('bøb:pässwörd')}`), { username: 'bøb', password: 'pässwörd' }, 'the UTF-8 form: the same strings')
  t.same(parseBasic(`Basic ${Buffer.from([0x61, 0x3a, 0xff, 0xfe]).toString('base64')}`), { username: 'a', password: 'ÿþ' })
  t.same(parseBasic(`Basic ${Buffer.from('ascii:only', 'latin1').toString('base64')}`), { username: 'ascii', password: 'only' }, 'ASCII is both')
})

t.test('malformed values are refused, never thrown', async (t) => {
  const bad = [
    'Basic', 'Basic ', 'Basic !!!!', 'Basic YWxpY2U', `Basic ${b64('no-colon')}`, `Bearer ${b64('a:b')}`,
    `Basic ${b64('a\u0000b:c')}`, `Basic ${b64('a:b\nc')}`, `Basic ${b64('a:b\u007f')}`,
    `Basic ${b64('a\u0085b:c')}`, `Basic ${b64('a\u001bb:c')}`, `Basic ${b64('a\rFAKE:c')}`, `Basic ${b64('a:b\u009f')}`,
    `Basic ${Buffer.from([0x61, 0x85, 0x3a, 0x62]).toString('base64')}`, // C1 NEL as a Latin-1 byte
    `Basic ${b64('a:'.padEnd(MAX_BASIC_LENGTH, 'x'))}`,
    'Basic YW=xpY2U6cHc=', 'Basic ====', `Basic${b64('a:b')}`
  ]
  for (const value of bad) t.equal(parseBasic(value), undefined, JSON.stringify(value.slice(0, 40)))
})

t.test('challenges quote and escape the realm', async (t) => {
  t.equal(basicChallenge('admin'), 'Basic realm="admin", charset="UTF-8"')
  t.equal(basicChallenge('say "hi" \\o/'), 'Basic realm="say \\"hi\\" \\\\o/", charset="UTF-8"')
  t.equal(quote('a"b\\c'), '"a\\"b\\\\c"')
  t.equal(formatChallenge('Digest', [['realm', 'r'], ['algorithm', 'SHA-256', 'token']]), 'Digest realm="r", algorithm=SHA-256')
})
