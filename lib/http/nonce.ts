import { createHmac, randomBytes, randomFillSync, timingSafeEqual } from 'node:crypto'
import { InvalidOption } from '../cred/index.js'

/**
 * Stateless, unforgeable Digest nonces.
 *
 * A nonce is base64url(issuedAt ‖ seed ‖ mac): issuedAt in milliseconds (6 bytes, big-endian), a random seed
 * (12 bytes) and the first 16 bytes of HMAC-SHA256(K, issuedAt ‖ seed), where K = HMAC-SHA256(secret, label ‖
 * realm) is derived once. 34 bytes, 46 characters. The realm (the protection space the nonce was minted for) is
 * bound through the key, not carried in the nonce: instances that share a secret but serve different realms
 * cannot take each other's nonces, at no cost in length, and each MAC hashes 18 bytes (one block).
 * Nothing is stored when a nonce is minted, so a flood of 401s costs no memory; the nonce store only records
 * nonces a client has actually used.
 *
 * The `opaque` of a challenge is the seed's base64url: it names a chain of nonces (a nonce and the `nextnonce`s
 * minted from it share the seed, so a client that keeps its `opaque`, as RFC 7616 says it must, stays valid).
 * Since the MAC covers the seed, a mismatched (nonce, opaque) pair is refused on every use, by a string
 * comparison, without a second MAC. No client address is bound in: that breaks clients behind proxies.
 */

/** Default lifetime of a nonce: 5 minutes. */
export const DEFAULT_NONCE_LIFETIME = 5 * 60 * 1000

const NONCE_LENGTH = 46
const BYTES = 34
const SIGNED = 18
const NONCE_FORM = /^[A-Za-z0-9_-]{46}$/
const LABEL = 'fastify-cred digest nonce v2\0'
const B64URL = new Uint8Array(128)
for (const [i, c] of [...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'].entries()) B64URL[c.charCodeAt(0)] = i

export interface NonceOptions {
  /**
   * The HMAC key. Give the same one to every instance behind a load balancer (at least 16 bytes; a string is
   * taken as UTF-8). Default: 32 random bytes per process, so nonces die with the process.
   */
  secret?: string | Uint8Array
  /** Milliseconds a nonce stays fresh. Default `DEFAULT_NONCE_LIFETIME` (5 minutes). */
  lifetime?: number
  /**
   * The protection space the nonces are for (Digest's `realm`), bound into their MAC: a nonce minted for one realm
   * is not authentic for another, even with the same secret. Default `''`.
   */
  realm?: string
}

/** A nonce and the opaque value it must be returned with. */
export interface MintedNonce {
  readonly nonce: string
  readonly opaque: string
}

/**
 * Mints and verifies nonces with one secret.
 *
 * @example
 * import { NonceMinter } from './nonce.js'  // internal: DigestScheme mints its nonces
 * const nonces = new NonceMinter({ secret: 'a secret of at least 16 bytes', realm: 'api' })
 * const { nonce, opaque } = nonces.mint()
 * nonces.authentic(nonce) // true
 * nonces.opaqueOf(nonce) === opaque // true
 * nonces.issuedAt(nonce) // milliseconds since the epoch
 */
export class NonceMinter {
  readonly lifetime: number
  /** The MAC key of this realm: HMAC(secret, label ‖ length ‖ realm), length-prefixed so no two realms collide. */
  readonly #key: Buffer
  /** Random bytes drawn in bulk: one `randomFillSync` per 340 nonces instead of one per nonce. */
  readonly #pool = Buffer.alloc(12 * 340)
  #poolAt = this.#pool.length

  constructor (options: NonceOptions = {}) {
    const lifetime = options.lifetime ?? DEFAULT_NONCE_LIFETIME
    if (!Number.isSafeInteger(lifetime) || lifetime < 1000) {
      throw new InvalidOption(`nonceLifetime must be a whole number of milliseconds, at least 1000, got ${String(lifetime)}`)
    }
    this.lifetime = lifetime
    const realm = options.realm ?? ''
    if (typeof realm !== 'string') throw new InvalidOption('The nonce realm must be a string')
    const realmBytes = Buffer.from(realm, 'utf8')
    const length = Buffer.alloc(4)
    length.writeUInt32BE(realmBytes.length)
    let secret: Buffer
    if (options.secret === undefined) {
      secret = randomBytes(32)
    } else {
      if (!(options.secret instanceof Uint8Array) && typeof options.secret !== 'string') throw new InvalidOption('The Digest nonce secret must be a string or a Buffer')
      const key = typeof options.secret === 'string' ? Buffer.from(options.secret, 'utf8') : Buffer.from(options.secret)
      if (key.length < 16) throw new InvalidOption('The Digest nonce secret must be at least 16 bytes long')
      secret = key
    }
    this.#key = createHmac('sha256', secret).update(LABEL, 'latin1').update(length).update(realmBytes).digest()
  }

  /**
   * A fresh nonce and its opaque. With `opaque` (from an earlier `mint`), the nonce continues that chain: what
   * `nextnonce` is made with.
   */
  mint (now: number = Date.now(), opaque?: string): MintedNonce {
    const bytes = Buffer.allocUnsafe(BYTES)
    bytes.writeUIntBE(Math.max(0, Math.min(now, 2 ** 48 - 1)), 0, 6)
    if (opaque !== undefined && /^[A-Za-z0-9_-]{16}$/.test(opaque)) {
      Buffer.from(opaque, 'base64url').copy(bytes, 6)
    } else {
      if (this.#poolAt + 12 > this.#pool.length) {
        randomFillSync(this.#pool)
        this.#poolAt = 0
      }
      this.#pool.copy(bytes, 6, this.#poolAt, this.#poolAt + 12)
      this.#poolAt += 12
    }
    this.#mac(bytes.subarray(0, SIGNED)).copy(bytes, SIGNED, 0, 16)
    const nonce = bytes.toString('base64url')
    return { nonce, opaque: nonce.slice(8, 24) }
  }

  /** When the nonce says it was issued (ms since the epoch), or `undefined` when it is not of our form. No MAC check. */
  issuedAt (nonce: string): number | undefined {
    if (nonce.length !== NONCE_LENGTH || !NONCE_FORM.test(nonce)) return undefined
    // The first 8 characters are exactly the 6 bytes of the issue time: decode them without a Buffer (hot path).
    let value = 0
    for (let i = 0; i < 8; i++) value = value * 64 + (B64URL[nonce.charCodeAt(i)] as number)
    return value
  }

  /** The opaque value that belongs with `nonce` (a slice of it: see the module comment). */
  opaqueOf (nonce: string): string {
    return nonce.slice(8, 24)
  }

  /** True when we minted `nonce` with this secret: its MAC verifies and its encoding is the one we produce. */
  authentic (nonce: string): boolean {
    if (nonce.length !== NONCE_LENGTH || !NONCE_FORM.test(nonce)) return false
    const bytes = Buffer.from(nonce, 'base64url')
    // base64 has several spellings of the same bytes (the last character's spare bits); only ours is accepted,
    // or one nonce could be replayed under another name with a fresh nonce count.
    if (bytes.length !== BYTES || bytes.toString('base64url') !== nonce) return false
    return timingSafeEqual(this.#mac(bytes.subarray(0, SIGNED)).subarray(0, 16), bytes.subarray(SIGNED))
  }

  #mac (signed: Uint8Array): Buffer {
    return createHmac('sha256', this.#key).update(signed).digest()
  }
}
