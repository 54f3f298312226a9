import { createServer } from 'node:http'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { SignJWT, exportJWK, exportSPKI, generateKeyPair } from 'jose'
import * as jose from 'jose'
import t from 'tap'
import { JwtChecker } from '../../lib/checkers/index.js'
import type { JwtCheckerOptions } from '../../lib/checkers/index.js'
import { BearerToken, InvalidOption, SimpleRealm, StoreUnavailable, UnauthorizedLogin } from '../../lib/cred/index.js'
import { overrideDriver } from '../../lib/drivers/index.js'
import { verifiedCredentials } from '../../lib/http/index.js'
import { IUser, buildApp } from '../helpers/app.js'
import { checkerContract } from './checker-contract.js'

// Every key is made here; the remote key set is served by a local HTTP server that the tests stop and start.
const secret = 'a shared secret of more than thirty-two bytes, for HS256'
const rsa = await generateKeyPair('RS256', { extractable: true })
const ec = await generateKeyPair('ES256', { extractable: true })
const rotated = await generateKeyPair('ES256', { extractable: true })
const rsaPem = await exportSPKI(rsa.publicKey)
const rsaJwk = { ...await exportJWK(rsa.publicKey), kid: 'rsa-1', alg: 'RS256' }
const ecJwk = { ...await exportJWK(ec.publicKey), kid: 'ec-1', alg: 'ES256' }
const rotatedJwk = { ...await exportJWK(rotated.publicKey), kid: 'ec-2', alg: 'ES256' }
const now = (): number => Math.floor(Date.now() / 1000)

interface Sign { alg?: string, kid?: string, claims?: Record<string, unknown>, exp?: number | null, key?: Parameters<SignJWT['sign']>[0] }
async function sign ({ alg = 'RS256', kid, claims = { sub: 'alice' }, exp = now() + 300, key }: Sign = {}): Promise<string> {
  const jwt = new SignJWT(claims).setProtectedHeader({ alg, ...(kid === undefined ? {} : { kid }) }).setIssuedAt()
  if (exp !== null) jwt.setExpirationTime(exp)
  const signingKey = key ?? (alg.startsWith('HS') ? new TextEncoder().encode(secret) : alg === 'RS256' ? rsa.privateKey : kid === 'ec-2' ? rotated.privateKey : ec.privateKey)
  return await jwt.sign(signingKey)
}
const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url')

// jose's verifications, counted through the driver: the work of a login.
let verifications = 0
t.teardown(overrideDriver('jose', async () => ({
  ...jose,
  jwtVerify: async (...args: Parameters<typeof jose.jwtVerify>) => { verifications++; return await jose.jwtVerify(...args) }
})))

/** A JWKS endpoint on a fixed port that can be stopped and started again; counts its fetches. */
class JwksServer {
  keys: object[] = [rsaJwk, ecJwk]
  fetches = 0
  port = 0
  #server: Server | undefined
  get url (): string { return `http://127.0.0.1:${this.port}/.well-known/jwks.json` }
  async start (): Promise<void> {
    const server = createServer((request, response) => {
      this.fetches++
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: this.keys }))
    })
    await new Promise<void>((resolve) => server.listen(this.port, '127.0.0.1', resolve))
    this.port = (server.address() as AddressInfo).port
    this.#server = server
  }

  async stop (): Promise<void> {
    const server = this.#server
    this.#server = undefined
    server?.closeAllConnections()
    await new Promise<void>((resolve) => server === undefined ? resolve() : server.close(() => resolve()))
  }
}
const jwks = new JwksServer()
await jwks.start()
t.teardown(async () => { await jwks.stop() })

const goodToken = await sign({ alg: 'HS256' })
const remoteToken = await sign({ kid: 'rsa-1' })
const bearer = (_username: string, token: string): string => `Bearer ${token}`
/**
 * The contract's logins: the good token as it is; any other "password" becomes a well-formed token for the user
 * whose signature is that password, so that it is refused by the signature check (which needs the keys), not by
 * the parser.
 */
const forgedOr = (good: string, alg: string, kid?: string) => (username: string, password: string): BearerToken =>
  new BearerToken(password === good ? good : `${b64({ alg, ...(kid === undefined ? {} : { kid }) })}.${b64({ sub: username, exp: now() + 300 })}.${Buffer.from(password).toString('base64url')}`)
const contract = { user: 'alice', http: { schemes: ['bearer' as const], authorization: bearer }, driver: 'jose' as const, work: () => verifications }

await checkerContract(t, 'JwtChecker (shared secret)', {
  ...contract,
  make: () => new JwtChecker({ secret }),
  password: goodToken,
  credentials: forgedOr(goodToken, 'HS256'),
  badOptions: [
    ['no key', () => new JwtChecker({})],
    ['two keys', () => new JwtChecker({ secret, key: rsaPem })],
    ['a short secret', () => new JwtChecker({ secret: 'too short' })],
    ['the none algorithm', () => new JwtChecker({ secret, algorithms: ['none' as never] })],
    ['an RSA algorithm with a shared secret', () => new JwtChecker({ secret, algorithms: ['RS256'] })],
    ['an HMAC algorithm with an RSA key (algorithm confusion)', () => new JwtChecker({ key: rsaPem, algorithms: ['RS256', 'HS256'] })],
    ['a key that is no key', () => new JwtChecker({ key: '-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----' })],
    ['a JWK set with a private key', () => new JwtChecker({ jwks: { keys: [{ ...rsaJwk, d: 'x' }] } })],
    ['a jwksUrl that is no http URL', () => new JwtChecker({ jwksUrl: 'file:///etc/passwd' })],
    ['a negative clock tolerance', () => new JwtChecker({ secret, clockTolerance: -1 })]
  ]
})

await checkerContract(t, 'JwtChecker (remote JWK set)', {
  ...contract,
  // No cache: every login fetches, so an outage is seen at once (the cache is tested below).
  make: () => new JwtChecker({ jwksUrl: jwks.url, jwksCacheMaxAge: 0, timeout: 1000 }),
  password: remoteToken,
  credentials: forgedOr(remoteToken, 'RS256', 'rsa-1'),
  badOptions: [['a jwksUrl that is no URL', () => new JwtChecker({ jwksUrl: 'not a url' })]],
  outage: { stop: async () => { await jwks.stop() }, start: async () => { await jwks.start() } }
})

const check = async (options: JwtCheckerOptions, token: string): Promise<unknown> => {
  const checker = new JwtChecker(options)
  try {
    return await checker.requestAvatarId(new BearerToken(token))
  } catch (err) {
    return err
  } finally {
    await checker.close()
  }
}

t.test('a PEM public key: the subject logs in; every claim is recorded on the credentials', async (t) => {
  const checker = new JwtChecker({ key: rsaPem, issuer: 'https://issuer.test/', audience: 'api' })
  t.teardown(() => checker.close())
  const token = new BearerToken(await sign({ claims: { sub: 'alice', iss: 'https://issuer.test/', aud: 'api', scope: 'read write' } }))
  t.equal(await checker.requestAvatarId(token), 'alice')
  t.equal(token.claims?.scope, 'read write')
  t.equal(token.claims?.iss, 'https://issuer.test/')
})

t.test('refused (UnauthorizedLogin, never an error of another kind)', async (t) => {
  const pem = { key: rsaPem, issuer: 'https://issuer.test/', audience: 'api' }
  const claims = { sub: 'alice', iss: 'https://issuer.test/', aud: 'api' }
  const good = await sign({ claims })
  const [header, payload] = good.split('.') as [string, string, string]
  const cases: Array<[string, string]> = [
    ['expired', await sign({ claims, exp: now() - 60 })],
    ['not yet valid', await sign({ claims: { ...claims, nbf: now() + 600 } })],
    ['another issuer', await sign({ claims: { ...claims, iss: 'https://evil.test/' } })],
    ['another audience', await sign({ claims: { ...claims, aud: 'other' } })],
    ['no exp', await sign({ claims, exp: null })],
    ['no sub', await sign({ claims: { iss: claims.iss, aud: 'api' } })],
    ['a sub that is no string', await sign({ claims: { ...claims, sub: 42 } })],
    ['signed by another key', await sign({ claims, alg: 'ES256' })],
    ['alg none, unsigned', `${b64({ alg: 'none' })}.${payload}.`],
    ['alg none, with the good signature', `${b64({ alg: 'none' })}.${payload}.${good.split('.')[2] ?? ''}`],
    ['algorithm confusion: HS256 signed with the RSA public key', await sign({ claims, alg: 'HS256', key: new TextEncoder().encode(rsaPem) })],
    ['a payload changed after signing', `${header}.${b64({ ...claims, sub: 'admin', exp: now() + 300 })}.${good.split('.')[2] ?? ''}`],
    ['truncated', good.slice(0, -10)],
    ['two parts', `${header}.${payload}`],
    ['garbage', 'not-a-jwt'],
    ['a header that is no JSON', `${Buffer.from('{nope').toString('base64url')}.${payload}.sig`]
  ]
  for (const [what, token] of cases) {
    const outcome = await check(pem, token)
    t.type(outcome, UnauthorizedLogin, what)
    t.equal((outcome as Error).message, 'Invalid token', `${what}: one message`)
  }
  t.equal(await check(pem, good), 'alice', 'the good token itself logs in')
})

t.test('clockTolerance admits a token that expired within it', async (t) => {
  const token = await sign({ exp: now() - 20 })
  t.type(await check({ key: rsaPem }, token), UnauthorizedLogin, 'no tolerance')
  t.equal(await check({ key: rsaPem, clockTolerance: 60 }, token), 'alice', 'a minute of tolerance')
})

t.test('the avatar id from another claim; requiredClaims; a JWK and a local JWK set picked by kid', async (t) => {
  const claims = { sub: 'u-123', email: 'alice@example.com' }
  t.equal(await check({ key: rsaPem, avatarIdClaim: 'email' }, await sign({ claims })), 'alice@example.com')
  t.type(await check({ key: rsaPem, requiredClaims: ['exp', 'scope'] }, await sign({ claims })), UnauthorizedLogin, 'scope required')
  t.equal(await check({ key: rsaPem, requiredClaims: [] }, await sign({ claims, exp: null })), 'u-123', 'no exp needed when so configured')
  t.equal(await check({ key: ecJwk }, await sign({ alg: 'ES256' })), 'alice', 'a JWK')
  const set = { jwks: { keys: [rsaJwk, ecJwk] } }
  t.equal(await check(set, await sign({ kid: 'rsa-1' })), 'alice', 'JWKS: the RSA key')
  t.equal(await check(set, await sign({ alg: 'ES256', kid: 'ec-1' })), 'alice', 'JWKS: the EC key')
  t.type(await check(set, await sign({ alg: 'ES256', kid: 'ec-2' })), UnauthorizedLogin, 'JWKS: an unknown kid')
  t.type(await check({ jwks: { keys: [rsaJwk] } }, await sign({ alg: 'HS256', key: new TextEncoder().encode(rsaPem) })), UnauthorizedLogin, 'JWKS: HS256 confusion')
})

t.test('a remote JWK set: cached; a new kid fetches again; stopped mid-run: known keys from the cache, a fetch that fails is 503, never 200', async (t) => {
  jwks.keys = [rsaJwk, ecJwk]
  const checker = new JwtChecker({ jwksUrl: jwks.url, jwksCooldown: 0, timeout: 1000 })
  t.teardown(() => checker.close())
  const login = async (token: string): Promise<unknown> => await checker.requestAvatarId(new BearerToken(token)).catch((err: unknown) => err)
  const before = jwks.fetches
  t.equal(await login(await sign({ kid: 'rsa-1' })), 'alice')
  t.equal(await login(await sign({ alg: 'ES256', kid: 'ec-1' })), 'alice')
  t.equal(jwks.fetches - before, 1, 'one fetch for two logins: cached')
  jwks.keys = [rsaJwk, ecJwk, rotatedJwk]
  t.equal(await login(await sign({ alg: 'ES256', kid: 'ec-2' })), 'alice', 'a rotated-in key: the unknown kid fetches the set again')
  t.equal(jwks.fetches - before, 2)
  await jwks.stop()
  t.equal(await login(await sign({ kid: 'rsa-1' })), 'alice', 'down: a cached key still verifies')
  const down = await login(await sign({ alg: 'ES256', kid: 'ec-9' }))
  t.type(down, StoreUnavailable, 'down: an unknown kid cannot be looked up: StoreUnavailable')
  const built = await buildApp({ checkers: [checker], schemes: ['bearer'] })
  t.teardown(async () => { await built.app.close() })
  const answer = await built.app.inject({ url: '/whoami', headers: { authorization: `Bearer ${await sign({ alg: 'ES256', kid: 'ec-9' })}` } })
  t.equal(answer.statusCode, 503, 'through the plugin: 503')
  t.equal(answer.headers['retry-after'], '5')
  await jwks.start()
  t.type(await login(await sign({ alg: 'ES256', kid: 'ec-9' })), UnauthorizedLogin, 'back: the kid is looked up, and is unknown: 401')
})

t.test('through the plugin: 200 with the avatar; the realm reads the claims through verifiedCredentials; 401 with error="invalid_token"', async (t) => {
  const seen: unknown[] = []
  const built = await buildApp({
    checkers: [new JwtChecker({ key: rsaPem })],
    schemes: ['bearer', 'basic'],
    mind: (request) => request,
    realm: new SimpleRealm().serve(IUser, (id, request) => {
      seen.push((verifiedCredentials(request as object) as BearerToken | undefined)?.claims?.scope)
      return { name: String(id) }
    })
  })
  t.teardown(async () => { await built.app.close() })
  const ok = await built.app.inject({ url: '/whoami', headers: { authorization: `Bearer ${await sign({ claims: { sub: 'alice', scope: 'read' } })}` } })
  t.equal(ok.statusCode, 200)
  t.equal(ok.json().avatarId, 'alice')
  t.same(seen, ['read'], 'the realm saw the token\'s scope')
  const expired = await built.app.inject({ url: '/whoami', headers: { authorization: `Bearer ${await sign({ exp: now() - 60 })}` } })
  t.equal(expired.statusCode, 401)
  t.same(expired.headers['www-authenticate'], ['Bearer realm="test realm", error="invalid_token", error_description="The access token is invalid"', 'Basic realm="test realm", charset="UTF-8"'])
})
