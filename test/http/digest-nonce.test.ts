import t from 'tap'
import { InvalidOption } from '../../lib/cred/index.js'
import { NonceMinter } from '../../lib/http/index.js'

t.test('nonces carry their issue time, verify, and bind their opaque', async (t) => {
  const minter = new NonceMinter({ secret: 'sixteen bytes at least!' })
  const at = Date.UTC(2026, 0, 2, 3, 4, 5, 678)
  const { nonce, opaque } = minter.mint(at)
  t.match(nonce, /^[A-Za-z0-9_-]{46}$/, 'base64url, 46 characters')
  t.equal(minter.issuedAt(nonce), at)
  t.equal(minter.authentic(nonce), true)
  t.equal(minter.opaqueOf(nonce), opaque)
  t.not(minter.mint(at).nonce, nonce, 'random per mint, even in the same millisecond')
  const next = minter.mint(at + 1000, opaque)
  t.equal(next.opaque, opaque, 'a nextnonce keeps the chain\'s opaque')
  t.equal(minter.authentic(next.nonce), true)
  t.equal(minter.issuedAt(next.nonce), at + 1000)
  t.equal(new NonceMinter({ secret: Buffer.from('sixteen bytes at least!') }).authentic(nonce), true, 'same secret as bytes')
  t.equal(new NonceMinter({ secret: 'another secret of 16+ bytes' }).authentic(nonce), false)
  t.equal(minter.issuedAt('short'), undefined)
  t.equal(minter.authentic(`${nonce.slice(0, 45)}!`), false)
})

t.test('options are checked', async (t) => {
  t.throws(() => new NonceMinter({ secret: 'short' }), InvalidOption)
  t.throws(() => new NonceMinter({ secret: 42 as unknown as string }), InvalidOption)
  t.throws(() => new NonceMinter({ lifetime: 999 }), InvalidOption)
  t.throws(() => new NonceMinter({ lifetime: Number.NaN }), InvalidOption)
  t.equal(new NonceMinter().lifetime, 300_000, 'five minutes by default')
})

t.test('the realm is bound into the MAC: same secret, another realm, not authentic; same length', async (t) => {
  const secret = 'sixteen bytes at least!'
  const api = new NonceMinter({ secret, realm: 'api' })
  const admin = new NonceMinter({ secret, realm: 'admin' })
  const { nonce } = api.mint()
  t.equal(nonce.length, 46, 'the nonce keeps its length')
  t.equal(api.authentic(nonce), true)
  t.equal(admin.authentic(nonce), false, 'another realm')
  t.equal(new NonceMinter({ secret }).authentic(nonce), false, 'no realm')
  t.equal(new NonceMinter({ secret, realm: 'ap' }).authentic(nonce), false, 'a prefix of the realm')
  t.throws(() => new NonceMinter({ secret, realm: 42 as unknown as string }), InvalidOption)
})
