import { createPublicKey, verify } from 'node:crypto'
import type { KeyObject } from 'node:crypto'

/**
 * SSH public keys in the wire format (RFC 4253 §6.6, RFC 5656 §3.1, RFC 8709): parsed with `node:crypto` alone, so
 * verifying a login needs no SSH library. Ed25519, RSA (SHA-2 signatures) and ECDSA (P-256, P-384, P-521).
 */

/** A public key read from its blob. */
export interface SshKey {
  /** The key type the blob names: `ssh-ed25519`, `ssh-rsa`, `ecdsa-sha2-nistp256`, … */
  readonly type: string
  readonly key: KeyObject
}

/** The signature algorithms accepted, with the key type each needs and its hash (`null`: Ed25519 hashes itself). */
const SIGNATURE_ALGORITHMS: Readonly<Record<string, { readonly keyType: string, readonly hash: string | null }>> = {
  'ssh-ed25519': { keyType: 'ssh-ed25519', hash: null },
  'rsa-sha2-256': { keyType: 'ssh-rsa', hash: 'sha256' },
  'rsa-sha2-512': { keyType: 'ssh-rsa', hash: 'sha512' },
  'ecdsa-sha2-nistp256': { keyType: 'ecdsa-sha2-nistp256', hash: 'sha256' },
  'ecdsa-sha2-nistp384': { keyType: 'ecdsa-sha2-nistp384', hash: 'sha384' },
  'ecdsa-sha2-nistp521': { keyType: 'ecdsa-sha2-nistp521', hash: 'sha512' }
}

/** The key types read (`ssh-rsa` signatures with SHA-1 are not accepted, as OpenSSH ≥ 8.8 does not). */
export const SSH_KEY_TYPES: readonly string[] = Object.freeze(['ssh-ed25519', 'ssh-rsa', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521'])

const CURVES: Readonly<Record<string, string>> = { nistp256: 'P-256', nistp384: 'P-384', nistp521: 'P-521' }
const MIN_RSA_BITS = 1024
/** Far beyond any real key (RSA 16384 is ~2 kB): a longer blob is garbage, refused before any parsing. */
export const MAX_SSH_KEY_BLOB = 16 * 1024

/** Reads SSH wire-format fields; every read is bounds-checked, a short or overlong blob answers `undefined`. */
class WireReader {
  #at = 0
  constructor (readonly bytes: Uint8Array) {}
  string (): Uint8Array | undefined {
    if (this.#at + 4 > this.bytes.length) return undefined
    const view = new DataView(this.bytes.buffer, this.bytes.byteOffset + this.#at, 4)
    const length = view.getUint32(0)
    this.#at += 4
    if (length > this.bytes.length - this.#at) return undefined
    const value = this.bytes.subarray(this.#at, this.#at + length)
    this.#at += length
    return value
  }

  get done (): boolean { return this.#at === this.bytes.length }
}

const b64url = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64url')
const text = (bytes: Uint8Array | undefined): string | undefined => bytes === undefined ? undefined : Buffer.from(bytes).toString('latin1')
/** An mpint without its sign byte (and any leading zeros), as JWK wants it. */
const unsigned = (bytes: Uint8Array): Uint8Array => {
  let start = 0
  while (start < bytes.length - 1 && bytes[start] === 0) start++
  return bytes.subarray(start)
}

/**
 * The public key in an SSH key blob, or `undefined` for a blob that is not one (garbage, a truncated blob, trailing
 * bytes, an unknown type, an RSA key under 1024 bits, a point not on its curve). Never throws.
 *
 * @example
 * const key = parseSshKeyBlob(Buffer.from('AAAAC3NzaC1lZDI1NTE5AAAAI…', 'base64'))
 * key?.type // 'ssh-ed25519'
 */
export function parseSshKeyBlob (blob: Uint8Array): SshKey | undefined {
  if (!(blob instanceof Uint8Array) || blob.length > MAX_SSH_KEY_BLOB) return undefined
  const reader = new WireReader(blob)
  const type = text(reader.string())
  try {
    if (type === 'ssh-ed25519') {
      const x = reader.string()
      if (x?.length !== 32 || !reader.done) return undefined
      return { type, key: createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: b64url(x) }, format: 'jwk' }) }
    }
    if (type === 'ssh-rsa') {
      const e = reader.string()
      const n = reader.string()
      if (e === undefined || n === undefined || !reader.done) return undefined
      const modulus = unsigned(n)
      if (modulus.length * 8 < MIN_RSA_BITS || e.length > 8) return undefined
      return { type, key: createPublicKey({ key: { kty: 'RSA', n: b64url(modulus), e: b64url(unsigned(e)) }, format: 'jwk' }) }
    }
    const curve = type?.startsWith('ecdsa-sha2-') === true ? CURVES[type.slice('ecdsa-sha2-'.length)] : undefined
    if (type !== undefined && curve !== undefined) {
      const name = text(reader.string())
      const point = reader.string()
      if (`ecdsa-sha2-${name ?? ''}` !== type || point === undefined || !reader.done || point[0] !== 4 || point.length % 2 !== 1) return undefined
      const half = (point.length - 1) / 2
      return {
        type,
        key: createPublicKey({ key: { kty: 'EC', crv: curve, x: b64url(point.subarray(1, 1 + half)), y: b64url(point.subarray(1 + half)) }, format: 'jwk' })
      }
    }
  } catch {
    // createPublicKey refused it (an EC point not on the curve, an RSA exponent of 0): no key.
  }
  return undefined
}

/**
 * Whether `signature` is `key`'s signature of `data` under the SSH signature algorithm `algorithm`
 * (`ssh-ed25519`, `rsa-sha2-256`, `rsa-sha2-512`, `ecdsa-sha2-nistp*`). The signature is in the form Node's
 * `crypto.verify` takes: Ed25519 and RSA as SSH sends them, ECDSA DER-encoded (what `ssh2` gives as
 * `ctx.signature`). Never throws: anything malformed is `false`.
 */
export function verifySshSignature (key: SshKey, algorithm: string, data: Uint8Array, signature: Uint8Array): boolean {
  const accepted = Object.hasOwn(SIGNATURE_ALGORITHMS, algorithm) ? SIGNATURE_ALGORITHMS[algorithm] : undefined
  if (accepted === undefined || accepted.keyType !== key.type) return false
  try {
    return verify(accepted.hash, data, key.key, signature)
  } catch {
    return false
  }
}

/** The key type an SSH signature algorithm signs with (`rsa-sha2-256` → `ssh-rsa`), or `undefined` for one not accepted. */
export function keyTypeOfAlgorithm (algorithm: string): string | undefined {
  return Object.hasOwn(SIGNATURE_ALGORITHMS, algorithm) ? SIGNATURE_ALGORITHMS[algorithm]?.keyType : undefined
}
