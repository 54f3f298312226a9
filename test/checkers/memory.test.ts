import t from 'tap'
import { MemoryChecker } from '../../lib/checkers/index.js'
import { UsernameHashedPassword } from '../../lib/cred/index.js'
import { checkerContract } from './checker-contract.js'

// MemoryChecker keeps the store contract. Its work is counted through the credentials: every login, known user
// or not, has them check one stored password (the decoy's for an unknown user).
let checks = 0
class CountedPassword extends UsernameHashedPassword {
  override checkPassword (password: string): boolean {
    checks++
    return super.checkPassword(password)
  }
}

await checkerContract(t, 'MemoryChecker', {
  make: () => new MemoryChecker({ alice: 'wonderland-in-memory', bob: 'builder-in-memory' }),
  user: 'alice',
  password: 'wonderland-in-memory',
  credentials: (username, password) => new CountedPassword(username, password),
  badOptions: [
    ['a password that is no string', () => new MemoryChecker({ alice: 42 as unknown as string })],
    ['a user name that is no string', () => new MemoryChecker([[42 as unknown as string, 'pw']])]
  ],
  work: () => checks
})

t.test('passwords are compared in a fixed width: prefixes, extensions, NULs and a width that grows', async (t) => {
  const { UsernamePassword } = await import('../../lib/cred/index.js')
  const long = 'a-forty-character-password-for-width-40!'
  t.equal(long.length, 40)
  const checker = new MemoryChecker({ alice: 'wonderland', bob: long })
  const login = (user: string, password: string): string => checker.requestAvatarId(new UsernamePassword(user, password))
  t.equal(login('alice', 'wonderland'), 'alice')
  t.equal(login('bob', long), 'bob', 'a password longer than the minimum width')
  for (const [what, user, password] of [
    ['a prefix', 'alice', 'wonder'], ['one more character', 'alice', 'wonderlands'], ['a trailing NUL (the padding)', 'alice', 'wonderland\0'],
    ['the empty password', 'alice', ''], ['a prefix of the long one', 'bob', long.slice(0, 39)], ['past the width', 'bob', long + 'x'],
    ['another user\'s password', 'alice', long], ['a case change', 'alice', 'Wonderland'], ['an unknown user', 'carol', 'wonderland']
  ] as const) {
    t.throws(() => login(user, password), { name: 'UnauthorizedLogin' }, what)
  }
  const longer = 'b'.repeat(100)
  checker.addUser('carol', longer)
  t.equal(login('carol', longer), 'carol', 'a password past the width widens it')
  t.equal(login('alice', 'wonderland'), 'alice', 'and the users added before still log in')
  t.equal(login('bob', long), 'bob')
  t.throws(() => login('carol', longer.slice(0, 99)), { name: 'UnauthorizedLogin' })
  t.throws(() => login('alice', 'wonderland' + '\0'.repeat(90)), { name: 'UnauthorizedLogin' }, 'NULs up to the new width')
})
