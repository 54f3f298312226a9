import t from 'tap'
import { MemoryNonceStore } from '../../lib/http/index.js'
import { nonceStoreContract } from './nonce-store-contract.js'

t.test('contract: MemoryNonceStore', async (t) => {
  await nonceStoreContract(t, () => new MemoryNonceStore())
})
