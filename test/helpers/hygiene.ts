// Secrets hygiene for every test app: everything an app logs and every response body it sends is kept (per test
// process), with every Authorization header it received, and checked for test passwords and full Authorization
// headers. `buildApp` (test/helpers/app.ts) wires each app it builds in, so every plugin test file that uses it
// also checks this when its process exits (a leak fails that file); test/fastify/secrets-hygiene.test.ts asserts on it.
import type { FastifyInstance } from 'fastify'

/** The passwords of the test users (helpers/app.ts) and the ones tests register. */
const secrets = new Set<string>(['wonderland', 'żółć:🙂'])
/** Authorization values seen by the apps; only those long enough to carry a credential are looked for. */
const authorizations = new Set<string>()
const texts: Array<{ where: string, text: string }> = []
/** Bodies are kept up to this many characters (tests upload megabytes; a leak would sit near the start anyway). */
const KEEP = 64 * 1024
const MIN_AUTHORIZATION = 20

/** Registers a password the suite must never find in a log or a body. */
export function secret (password: string): void {
  if (password !== '') secrets.add(password)
}

export function recordLog (line: string): void {
  texts.push({ where: 'log', text: line })
}

export function recordBody (where: string, body: string): void {
  texts.push({ where, text: body.length > KEEP ? body.slice(0, KEEP) : body })
}

const watched = new WeakSet<FastifyInstance>()
/** Basic passwords seen are looked for too, from this length (shorter ones would match ordinary text). */
const MIN_PASSWORD = 6

/** Hooks an app so that the Authorization headers it receives and the bodies it sends are recorded. */
export function watch (app: FastifyInstance): void {
  if (watched.has(app)) return
  watched.add(app)
  app.addHook('onRequest', (request, _reply, done) => {
    for (const name of ['authorization', 'proxy-authorization'] as const) {
      const value = request.headers[name]
      if (typeof value !== 'string' || value.length < MIN_AUTHORIZATION) continue
      authorizations.add(value)
      const basic = /^basic\s+([A-Za-z0-9+/=]+)$/i.exec(value)
      const decoded = basic === null ? '' : Buffer.from(basic[1] as string, 'base64').toString('utf8')
      const password = decoded.slice(decoded.indexOf(':') + 1)
      if (decoded.includes(':') && password.length >= MIN_PASSWORD) secrets.add(password)
    }
    done()
  })
  app.addHook('onSend', (request, reply, payload, done) => {
    if (typeof payload === 'string') recordBody(`${request.method} ${request.url} → ${reply.statusCode}`, payload)
    else if (Buffer.isBuffer(payload)) recordBody(`${request.method} ${request.url} → ${reply.statusCode}`, payload.toString('utf8'))
    done(null, payload)
  })
}

export interface Leak { readonly where: string, readonly what: string }

/** What leaked so far: for each log line or body holding a password or a full Authorization value, where. */
export function leaks (): Leak[] {
  return findLeaks(texts, secrets, authorizations)
}

/** The search itself, over any texts: for a test of the detector. */
export function findLeaks (texts: ReadonlyArray<{ where: string, text: string }>, secrets: Iterable<string>, authorizations: Iterable<string>): Leak[] {
  const found: Leak[] = []
  const needles: Array<[string, string]> = []
  for (const s of secrets) {
    needles.push([s, 'a test password'])
    const escaped = JSON.stringify(s).slice(1, -1)
    if (escaped !== s) needles.push([escaped, 'a test password (JSON-escaped)'])
  }
  for (const a of authorizations) {
    if (a.length < MIN_AUTHORIZATION) continue
    needles.push([a, 'a full Authorization header'])
    // The credential part alone (base64 of user:password, or the Digest parameters) is as bad.
    const space = a.indexOf(' ')
    if (space > 0 && a.length - space - 1 >= MIN_AUTHORIZATION) needles.push([a.slice(space + 1), 'the credentials of an Authorization header'])
  }
  for (const { where, text } of texts) {
    for (const [needle, what] of needles) {
      if (text.includes(needle)) found.push({ where, what })
    }
  }
  return found
}

/** How much was looked at: for a test to show it checked something. */
export function recorded (): { texts: number, authorizations: number, secrets: number } {
  return { texts: texts.length, authorizations: authorizations.size, secrets: secrets.size }
}

let installed = false
/** At exit, a leak fails the test process (tap reports the file as failed), naming where, never what. */
export function checkAtExit (): void {
  if (installed) return
  installed = true
  process.on('exit', () => {
    const found = leaks()
    if (found.length === 0) return
    process.stderr.write(`secrets hygiene: ${found.length} leak(s): ${JSON.stringify(found.slice(0, 10))}\n`)
    process.exitCode = 1
  })
}
