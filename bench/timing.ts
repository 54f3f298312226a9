/**
 * `node dist/bench/timing.js [rounds]`: does `MemoryChecker` keep its promise that neither a stored password nor its
 * length, nor whether the user exists, shows in the time a refused login takes? Times `requestAvatarId` for refused
 * logins that differ in exactly that (batches of each case interleaved, in random order, many rounds) and prints the
 * median time of each case and its ratio to a wrong password of the right length. A timing claim, so it lives here
 * and never in a unit test. Run it on an idle machine.
 */
import { MemoryChecker } from '../lib/checkers/index.js'
import { UnauthorizedLogin, UsernamePassword } from '../lib/cred/index.js'
import { median } from './stats.js'

const STORED = 'correct-horse-battery' // 21 characters
const LONG_STORED = 'a-much-longer-stored-password-of-sixty-characters-0123456789'
const checker = new MemoryChecker({ alice: STORED, bob: 'x', carol: LONG_STORED })

/** Refused logins; the first is the reference. */
const CASES: ReadonlyArray<readonly [label: string, user: string, password: string]> = [
  ['wrong password, the stored length (alice, 21)', 'alice', 'correct-horse-batterX'],
  ['wrong password, one character (alice)', 'alice', 'c'],
  ['wrong password, 200 characters (alice)', 'alice', 'c'.repeat(200)],
  ['a prefix of the stored password (alice)', 'alice', 'correct-horse-batter'],
  ['wrong password for a 1-character one (bob)', 'bob', 'correct-horse-batterX'],
  ['wrong password for a 60-character one (carol)', 'carol', 'correct-horse-batterX'],
  ['unknown user', 'mallory', 'correct-horse-batterX']
]

const BATCH = 20_000
const rounds = Number(process.argv[2] ?? 40)

function timeBatch (credentials: UsernamePassword): number {
  const started = process.hrtime.bigint()
  for (let i = 0; i < BATCH; i++) {
    try {
      checker.requestAvatarId(credentials)
      throw new Error('a refused case logged in')
    } catch (err) {
      if (!(err instanceof UnauthorizedLogin)) throw err
    }
  }
  return Number(process.hrtime.bigint() - started) / BATCH
}

// Without stack traces: building one is most of a refusal's cost and would drown the comparison in its noise.
Error.stackTraceLimit = 0
const credentials = CASES.map(([, user, password]) => new UsernamePassword(user, password))
const samples: number[][] = CASES.map(() => [])
for (let round = -3; round < rounds; round++) {
  const order = CASES.map((_, i) => i).sort(() => Math.random() - 0.5)
  for (const i of order) {
    const ns = timeBatch(credentials[i] as UsernamePassword)
    if (round >= 0) samples[i]?.push(ns)
  }
}
const reference = median(samples[0] as number[])
process.stdout.write(`MemoryChecker, refused logins: median ns per requestAvatarId over ${rounds} rounds of ${BATCH} (stack traces off)\n`)
CASES.forEach(([label], i) => {
  const m = median(samples[i] as number[])
  process.stdout.write(`${label.padEnd(50)} ${m.toFixed(1).padStart(8)} ns  × ${(m / reference).toFixed(3)}\n`)
})
