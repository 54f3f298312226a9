import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto'
import { promisify } from 'node:util'
import { IUsernamePassword, UnauthorizedLogin } from '../../lib/index.js'
import type { CredentialsChecker } from '../../lib/index.js'

const scryptAsync = promisify(scrypt) as (password: string, salt: Buffer, keylen: number, options: { N: number }) => Promise<Buffer>
const N = 1024 // low cost: the tests count hashes, they do not measure them

/**
 * A checker storing scrypt hashes that counts every hash it computes (unknown users are hashed against a decoy),
 * so a test can prove a throttled attempt computed none.
 */
export class CountingChecker implements CredentialsChecker<IUsernamePassword> {
  readonly credentialInterfaces = [IUsernamePassword]
  hashes = 0
  readonly #users = new Map<string, { salt: Buffer, hash: Buffer }>()
  readonly #decoy = { salt: randomBytes(16), hash: randomBytes(32) }

  static async create (users: Record<string, string>): Promise<CountingChecker> {
    const checker = new CountingChecker()
    for (const [name, password] of Object.entries(users)) {
      const salt = randomBytes(16)
      checker.#users.set(name, { salt, hash: await scryptAsync(password, salt, 32, { N }) })
    }
    return checker
  }

  async requestAvatarId (credentials: IUsernamePassword): Promise<string> {
    const user = this.#users.get(credentials.username)
    const against = user ?? this.#decoy
    this.hashes++
    const derived = await scryptAsync(credentials.password, against.salt, 32, { N })
    if (!timingSafeEqual(derived, against.hash) || user === undefined) throw new UnauthorizedLogin('Invalid user name or password')
    return credentials.username
  }
}
