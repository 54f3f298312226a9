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
