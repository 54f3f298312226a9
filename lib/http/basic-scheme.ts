import { MalformedCredentials, UsernamePassword } from '../cred/index.js'
import { assertHeaderSafe } from './auth-params.js'
import { basicChallenge, parseBasic } from './basic.js'
import type { HttpAuthScheme } from './scheme.js'

/**
 * HTTP Basic (RFC 7617) as a scheme: `UsernamePassword` credentials, UTF-8, a challenge with `charset="UTF-8"`.
 *
 * @example
 * import { BasicScheme } from 'fastify-cred/http'
 * const basic = new BasicScheme('admin area')
 * basic.challenges({ method: 'GET', url: '/' }, false) // ['Basic realm="admin area", charset="UTF-8"']
 */
export class BasicScheme implements HttpAuthScheme {
  readonly name = 'basic'
  readonly #challenges: readonly string[]

  constructor (authenticationRealm: string) {
    assertHeaderSafe('authenticationRealm', authenticationRealm)
    this.#challenges = Object.freeze([basicChallenge(authenticationRealm)])
  }

  challenges (): readonly string[] {
    return this.#challenges
  }

  credentials (authorization: string): UsernamePassword {
    const parsed = parseBasic(authorization)
    if (parsed === undefined) throw new MalformedCredentials('Malformed Basic credentials')
    return new UsernamePassword(parsed.username, parsed.password)
  }
}
