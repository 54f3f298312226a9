import { hash } from 'node:crypto'
import { appendFile, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { UsernamePassword } from '../../lib/cred/index.js'
import { HtdigestChecker, HtpasswdChecker } from '../../lib/checkers/index.js'
import { parseHtdigestSliced } from '../../lib/checkers/htdigest.js'
import { LINES_PER_SLICE } from '../../lib/checkers/watched-file.js'
import { HTPASSWD_HASHERS, sha1Hasher } from '../../lib/hashers/index.js'
import type { PasswordHasher } from '../../lib/hashers/index.js'
import { apacheSkip, htdigest, htpasswd, tempDir } from '../helpers/apache.js'

// A reload of a big password file must not stall the event loop in one piece (300,000 users, 13 MB, stalled it
// 339 ms). Proven by order, not by time: callbacks scheduled while the file's first line is being read run before
// its last line is read.

const USERS = 20_000

/** The {SHA} hasher (what `htpasswd -s` writes), reporting each line it is asked about while `watch` is on. */
function watchingSha1 (): { hasher: PasswordHasher, watch: (on: boolean) => void, seen: () => number, ranAfter: { immediate?: number, timer?: number } } {
  let on = false
  let lines = 0
  const ranAfter: { immediate?: number, timer?: number } = {}
  const hasher: PasswordHasher = {
    name: sha1Hasher.name,
    identifies: (encoded) => {
      if (on && ++lines === 1) {
        // Scheduled while the reload reads its first line.
        setImmediate(() => { ranAfter.immediate = lines })
        setTimeout(() => { ranAfter.timer = lines }, 0)
      }
      return sha1Hasher.identifies(encoded)
    },
    verify: async (plain, encoded) => await sha1Hasher.verify(plain, encoded),
    decoy: async (like) => await sha1Hasher.decoy(like)
  }
  return { hasher, watch: (value) => { on = value }, seen: () => lines, ranAfter }
}

t.test('a reload of a big htpasswd file is parsed in slices: an immediate and a timer scheduled at its first line run before its last', { skip: apacheSkip }, async (t) => {
  const dir = await tempDir(t)
  const file = join(dir, 'htpasswd')
  await htpasswd(file, 'first', 'pw-first', '-s', { create: true })
  let lines = ''
  for (let i = 0; i < USERS; i++) lines += `user${i}:{SHA}${hash('sha1', `pw${i}`, 'base64')}\n`
  await appendFile(file, lines)
  const { hasher, watch, seen, ranAfter } = watchingSha1()
  const checker = new HtpasswdChecker(file, { checkInterval: 0, hashers: [hasher, ...HTPASSWD_HASHERS] })
  await htpasswd(file, 'added', 'pw-added', '-s')
  watch(true)
  const reloaded = new Promise<void>((resolve) => { checker.onReload(resolve) })
  t.equal(await checker.requestAvatarId(new UsernamePassword('added', 'pw-added')), 'added', 'the reload took the new user')
  await reloaded
  watch(false)
  t.equal(seen(), USERS + 2, 'every line was read once')
  t.ok(ranAfter.immediate !== undefined && ranAfter.immediate < seen(), `an immediate ran after line ${String(ranAfter.immediate)} of ${seen()}`)
  t.ok(ranAfter.timer !== undefined && ranAfter.timer < seen(), `a timer ran after line ${String(ranAfter.timer)} of ${seen()}`)
  t.equal(await checker.requestAvatarId(new UsernamePassword('user19999', 'pw19999')), 'user19999', 'the last line is in')
})

t.test('htdigest files are parsed in slices too (the same reload runs them), and still reload', { skip: apacheSkip }, async (t) => {
  const dir = await tempDir(t)
  const file = join(dir, 'htdigest')
  await htdigest(file, 'staff', 'first', 'pw-first', true)
  let lines = ''
  for (let i = 0; i < USERS; i++) lines += `user${i}:staff:${hash('md5', `user${i}:staff:pw${i}`, 'hex')}\n`
  await appendFile(file, lines)
  const parse = parseHtdigestSliced(await readFile(file, 'utf8'))
  let slices = 1
  let step = parse.next()
  for (; step.done !== true; step = parse.next()) slices++
  t.equal(slices, Math.ceil((USERS + 1) / LINES_PER_SLICE), `${USERS + 1} lines in slices of ${LINES_PER_SLICE}`)
  t.ok(step.value.ok && step.value.value.get('staff')?.size === USERS + 1)
  const checker = new HtdigestChecker(file, { checkInterval: 0 })
  await htdigest(file, 'staff', 'added', 'pw-added')
  t.equal(await checker.requestAvatarId(new UsernamePassword('added', 'pw-added')), 'added')
})
