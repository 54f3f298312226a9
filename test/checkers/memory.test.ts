import t from 'tap'
import { InMemoryChecker } from '../../lib/checkers/index.js'
import { UsernameHashedPassword } from '../../lib/cred/index.js'
import { checkerContract } from './checker-contract.js'

// InMemoryChecker keeps the store contract. Its work is counted through the credentials: every login, known user
// or not, has them check one stored password (the decoy's for an unknown user).
let checks = 0
class CountedPassword extends UsernameHashedPassword {
  override checkPassword (password: string): boolean {
    checks++
    return super.checkPassword(password)
  }
}

await checkerContract(t, 'InMemoryChecker', {
  make: () => new InMemoryChecker({ alice: 'wonderland-in-memory', bob: 'builder-in-memory' }),
  user: 'alice',
  password: 'wonderland-in-memory',
  credentials: (username, password) => new CountedPassword(username, password),
  badOptions: [
    ['a password that is no string', () => new InMemoryChecker({ alice: 42 as unknown as string })],
    ['a user name that is no string', () => new InMemoryChecker([[42 as unknown as string, 'pw']])]
  ],
  work: () => checks
})
