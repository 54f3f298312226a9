import t from 'tap'
import { InvalidOption, digestHash } from '../../lib/cred/index.js'
import { userhashResolver } from '../../lib/http/index.js'
import { buildApp } from '../helpers/app.js'
import { MemoryChecker } from '../../lib/checkers/index.js'
import { digestAuthorization, pickDigestChallenge } from '../../lib/client/index.js'

const REALM = 'test realm'
const hashOf = (name: string): string => digestHash('SHA-256', `${name}:${REALM}`)

/** A list of user names that counts how many names were read, and how many within each turn of the event loop. */
function countedNames (names: string[]): { source: () => Iterable<string>, stats: { builds: number, read: number, maxPerTurn: number }, stop: () => void } {
  const stats = { builds: 0, read: 0, maxPerTurn: 0 }
  let thisTurn = 0
  let running = true
  const tick = (): void => { thisTurn = 0; if (running) setImmediate(tick) }
  setImmediate(tick)
  return {
    stats,
    stop: () => { running = false },
    source: function * () {
      stats.builds++
      for (const name of names) {
        stats.read++
        thisTurn++
        if (thisTurn > stats.maxPerTurn) stats.maxPerTurn = thisTurn
        yield name
      }
    }
  }
}

const users = Array.from({ length: 20_000 }, (_, i) => `user${i}`)

t.test('no request builds a table synchronously: lookups read no names within the call, the build is chunked', async (t) => {
  const { source, stats, stop } = countedNames(users)
  t.teardown(stop)
  const resolve = userhashResolver(source, { refreshInterval: 60_000, chunkSize: 500 })
  const first = resolve(hashOf('user123'), REALM, 'SHA-256')
  t.equal(stats.read, 0, 'the first lookup read no name before returning')
  t.ok(first instanceof Promise, 'it waits for the first build instead')
  t.equal(await first, 'user123')
  t.equal(stats.builds, 1)
  t.equal(stats.read, users.length)
  t.ok(stats.maxPerTurn <= 500, `at most chunkSize names per turn of the event loop (saw ${stats.maxPerTurn})`)
  t.equal(resolve(hashOf('user19999'), REALM, 'SHA-256'), 'user19999', 'then answered at once from the table')
  t.equal(resolve(hashOf('user5'), REALM, 'SHA-256-sess'), 'user5', 'the -sess variant shares the table')

  const before = stats.read
  for (let i = 0; i < 1000; i++) t.equal(resolve(hashOf(`mallory${i}`), REALM, 'SHA-256'), undefined)
  await new Promise((resolve) => setImmediate(resolve))
  t.equal(stats.read - before, 0, '1000 unknown hashes within the refresh interval: no name read, no rebuild')
  t.equal(stats.builds, 1)
})

t.test('a miss starts at most one background rebuild at a time, and the answer does not wait for it', async (t) => {
  const names = ['alice']
  const { source, stats, stop } = countedNames(names)
  t.teardown(stop)
  const resolve = userhashResolver(source, { refreshInterval: 0, chunkSize: 1000 })
  t.equal(await resolve(hashOf('alice'), REALM, 'SHA-256'), 'alice')
  t.equal(stats.builds, 1)
  names.push('bob')
  const readBefore = stats.read
  const answers = Array.from({ length: 200 }, () => resolve(hashOf('bob'), REALM, 'SHA-256'))
  t.same(new Set(answers), new Set([undefined]), 'answered from the current table, at once')
  t.equal(stats.read, readBefore, 'nothing read within the requests')
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve))
  t.equal(stats.builds, 2, '200 misses while no rebuild ran: exactly one rebuild')
  t.equal(resolve(hashOf('bob'), REALM, 'SHA-256'), 'bob', 'the new user is found after it')
})

t.test('a failing list of names: the first lookup fails, the next one tries again; a failed rebuild keeps the table', async (t) => {
  let fail = true
  const errors: unknown[] = []
  const resolve = userhashResolver(function * () {
    if (fail) throw new Error('user list unavailable')
    yield 'alice'
  }, { refreshInterval: 0, onError: (err) => { errors.push(err) } })
  await t.rejects(Promise.resolve(resolve(hashOf('alice'), REALM, 'SHA-256')), /user list unavailable/)
  fail = false
  t.equal(await resolve(hashOf('alice'), REALM, 'SHA-256'), 'alice')
  fail = true
  t.equal(resolve(hashOf('nobody'), REALM, 'SHA-256'), undefined)
  for (let i = 0; i < 3; i++) await new Promise((resolve) => setImmediate(resolve))
  t.equal(errors.length, 1, 'the background failure is reported')
  t.equal(resolve(hashOf('alice'), REALM, 'SHA-256'), 'alice', 'the old table stays')
  t.throws(() => userhashResolver(() => [], { chunkSize: 0 }), InvalidOption)
  t.throws(() => userhashResolver(() => [], { refreshInterval: -1 }), InvalidOption)
})

t.test('an async list of names (a database query) works too', async (t) => {
  const resolve = userhashResolver(async function * () { yield 'alice'; yield 'bob' })
  t.equal(await resolve(hashOf('bob'), REALM, 'SHA-256'), 'bob')
})

t.test('through the plugin: unknown userhashes never rebuild within a request', async (t) => {
  const { source, stats, stop } = countedNames(users)
  t.teardown(stop)
  const checker = new MemoryChecker({ alice: 'wonderland' })
  const built = await buildApp({ schemes: ['digest'], checkers: [checker], digest: { userhash: true, resolveUserhash: userhashResolver(function * () { yield * checker.usernames(); yield * source() }, { refreshInterval: 0 }) } })
  const res = await built.app.inject({ url: '/whoami' })
  const challenge = pickDigestChallenge(String(res.headers['www-authenticate']))
  if (challenge === undefined) throw new Error('no challenge')
  const login = async (username: string, password: string, nc: number): Promise<number> =>
    (await built.app.inject({ url: '/whoami', headers: { authorization: digestAuthorization(challenge, username, password, { method: 'GET', uri: '/whoami', nc }).authorization } })).statusCode
  t.equal(await login('alice', 'wonderland', 1), 200, 'the first build, waited for')
  t.equal(stats.builds, 1)
  let builds = stats.builds
  for (let i = 0; i < 20; i++) {
    t.equal(await login(`mallory${i}`, 'guess', 2 + i), 401)
    t.ok(stats.builds - builds <= 1, 'at most one rebuild per refused request')
    builds = stats.builds
  }
  t.ok(stats.maxPerTurn <= 1000, `the rebuilds were chunked (at most ${stats.maxPerTurn} names per turn)`)
})
