import { readFile } from 'node:fs/promises'
import { IBearerToken, InvalidOption } from '../../cred/index.js'
import type { JsonWebKey } from 'node:crypto'
import type { JwtAlgorithm, JwtCheckerOptions } from '../../checkers/jwt.js'
import type { CheckerFactory } from '../factory.js'
import { defineOptions, duration, secret, text } from './options.js'
import { given } from './shared.js'

const list = (value: string | undefined): string[] | undefined => value?.split(',').map((v) => v.trim()).filter((v) => v !== '')

const { options, values } = defineOptions({
  secret: secret({ help: 'instead of the argument: the shared secret of HS256/384/512 tokens (32 bytes or more)' }),
  issuer: text({ help: 'the iss tokens must carry', example: 'https://login.example.com/' }),
  audience: text({ help: 'the aud tokens must carry (one of a comma-separated list)', example: 'api' }),
  algorithms: text({ help: 'the algorithms accepted, comma-separated (never none; HMAC and public-key ones never mixed)', default: 'those the key verifies', example: 'RS256,ES256' }),
  'clock-tolerance': duration({ help: 'clock difference allowed for exp and nbf', default: '0s' }),
  'avatar-id-claim': text({ help: 'the claim naming the user', default: 'sub', example: 'email' }),
  timeout: duration({ help: 'with a JWKS URL: how long a fetch of the key set may take', default: '5s' })
})

/** `jwt:<JWKS URL | key file>`: JWT bearer tokens signed by the issuer's keys (or a shared secret). */
export const jwtFactory: CheckerFactory = {
  authType: 'jwt',
  argStringFormat: '<JWKS https:// URL | PEM, JWK or JWK set file> (or ;secret=…)',
  authHelp: `
JWT bearer tokens (serve --scheme bearer): signed by the keys of the issuer's JWK set (fetched from its URL, cached,
fetched again for an unknown kid; a fetch that fails answers 503), by a public key from a PEM, JWK or JWK set file,
or with a shared secret (secret-env=VAR). Tokens must not be expired; the avatar is their sub claim. Needs the jose
package.
  jwt:https://login.example.com/.well-known/jwks.json;issuer=https://login.example.com/;audience=api
  jwt:/etc/app/jwt-public.pem;audience=api
  jwt:;secret-env=JWT_SECRET`,
  credentialInterfaces: [IBearerToken],
  options,
  async generateChecker (_argString, args) {
    const option = values(args)
    const argument = args.argument
    const shared = option.secret
    if ((argument === '') === (shared === undefined)) args.fail('give a JWKS URL or a key file, or a secret option, not both')
    const keys: Pick<JwtCheckerOptions, 'secret' | 'key' | 'jwks' | 'jwksUrl'> = shared !== undefined
      ? { secret: shared }
      : /^https?:\/\//i.test(argument) ? { jwksUrl: argument } : await readKeyFile(argument)
    const clockTolerance = option['clock-tolerance']
    const { JwtChecker } = await import('../../checkers/jwt.js')
    return new JwtChecker({
      ...keys,
      ...given({
        issuer: option.issuer,
        audience: list(option.audience),
        algorithms: list(option.algorithms) as JwtAlgorithm[] | undefined,
        clockTolerance: clockTolerance === undefined ? undefined : clockTolerance / 1000,
        avatarIdClaim: option['avatar-id-claim'],
        timeout: option.timeout
      })
    })
  }
}

/** A PEM key, a JWK or a JWK set, from a file. */
async function readKeyFile (path: string): Promise<Pick<JwtCheckerOptions, 'key' | 'jwks'>> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    throw new InvalidOption(`Auth type "jwt": cannot read the key file ${JSON.stringify(path)} (${(err as NodeJS.ErrnoException).code ?? 'error'})`, { cause: err })
  }
  if (!text.trimStart().startsWith('{')) return { key: text }
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (err) {
    throw new InvalidOption(`Auth type "jwt": the key file ${JSON.stringify(path)} is neither PEM nor JSON`, { cause: err })
  }
  const keys = (parsed as { keys?: unknown }).keys
  return Array.isArray(keys) ? { jwks: { keys: keys as JsonWebKey[] } } : { key: parsed as JsonWebKey }
}
