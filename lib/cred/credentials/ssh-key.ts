import { defineInterface } from '../interfaces.js'
import type { Interface } from '../interfaces.js'
import type { Credentials } from './credentials.js'

/**
 * A user's public key, and, when the client signed, its signature (SSH `publickey`, RFC 4252 §7). Without a
 * signature it is only a question: would this key be accepted? A checker then answers `ValidPublicKey` (never an
 * avatar id) for a key it would accept.
 */
export interface ISshPublicKey extends Credentials {
  readonly username: string
  /**
   * The signature algorithm (`ssh-ed25519`, `rsa-sha2-256`, `rsa-sha2-512`, `ecdsa-sha2-nistp256`, …); for an
   * unsigned query, the key's algorithm as the client named it.
   */
  readonly algorithm: string
  /** The public key blob, SSH wire format (the base64 of an `authorized_keys` line, decoded). */
  readonly blob: Uint8Array
  /** What the client signed (RFC 4252 §7: session id and the request); `undefined` for a query. */
  readonly signedData: Uint8Array | undefined
  /** The signature (Ed25519 and RSA as sent, ECDSA DER-encoded, as `ssh2` gives it); `undefined` for a query. */
  readonly signature: Uint8Array | undefined
}
/** The run-time token of `ISshPublicKey`: checkers list it in `credentialInterfaces` to say they check these credentials. */
export const ISshPublicKey = defineInterface<ISshPublicKey>('ISshPublicKey')

/**
 * SSH public-key credentials (Twisted's `SSHPrivateKey`, named for what the server sees).
 *
 * @example
 * import { SshPublicKey } from 'fastify-cred/cred'
 * // in ssh2's 'authentication' handler, ctx.method === 'publickey':
 * const algorithm = ctx.key.algo === 'ssh-rsa' && ctx.hashAlgo !== undefined ? `rsa-sha2-${ctx.hashAlgo.slice(3)}` : ctx.key.algo
 * const credentials = new SshPublicKey(ctx.username, algorithm, ctx.key.data, ctx.blob, ctx.signature)
 */
export class SshPublicKey implements ISshPublicKey {
  static readonly provides = Object.freeze([ISshPublicKey])
  readonly username: string
  readonly algorithm: string
  readonly blob: Uint8Array
  readonly signedData: Uint8Array | undefined
  readonly signature: Uint8Array | undefined

  constructor (username: string, algorithm: string, blob: Uint8Array, signedData?: Uint8Array, signature?: Uint8Array) {
    this.username = username
    this.algorithm = algorithm
    this.blob = blob
    this.signedData = signedData
    this.signature = signature
  }

  /** The credential interfaces these credentials provide (the class's static `provides`): the portal picks the checker by them. */
  get provides (): readonly Interface<unknown>[] { return SshPublicKey.provides }

  /** Whether the client signed (a login) or only asked (a query). */
  get signed (): boolean { return this.signature !== undefined && this.signedData !== undefined }

  /** What a log may show of these credentials: the user, the key algorithm and whether they were signed, never the key or the signature. */
  toJSON (): { username: string, algorithm: string, signed: boolean } {
    return { username: this.username, algorithm: this.algorithm, signed: this.signed }
  }
}
