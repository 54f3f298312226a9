import { generateKeyPairSync, randomBytes, sign } from 'node:crypto'
import type { KeyObject } from 'node:crypto'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { InvalidOption, MalformedCredentials, Portal, SimpleRealm, SshPublicKey, UnauthorizedLogin, ValidPublicKey } from '../../lib/cred/index.js'
import type { ISshPublicKey, LoginAttempt } from '../../lib/cred/index.js'
import { SshKeyChecker } from '../../lib/checkers/index.js'
import type { HttpAuthScheme } from '../../lib/http/index.js'
import { makeChecker } from '../../lib/strcred/index.js'
import { IUser } from '../helpers/app.js'
import { checkerContract } from './checker-contract.js'

const wire = (...fields: Uint8Array[]): Buffer => Buffer.concat(fields.flatMap((f) => { const n = Buffer.alloc(4); n.writeUInt32BE(f.length); return [n, f] }))

/** An Ed25519 key pair, its SSH blob and its authorized_keys line. */
function ed25519 (): { privateKey: KeyObject, blob: Buffer, line: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519')
  const x = Buffer.from(publicKey.export({ format: 'jwk' }).x as string, 'base64url')
  const blob = wire(Buffer.from('ssh-ed25519'), x)
  return { privateKey, blob, line: `ssh-ed25519 ${blob.toString('base64')} test-key` }
}

const signed = (username: string, key: { privateKey: KeyObject, blob: Buffer }, data = randomBytes(48)): SshPublicKey =>
  new SshPublicKey(username, 'ssh-ed25519', key.blob, data, sign(null, data, key.privateKey))

t.test('SshKeyChecker', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'cred-ssh-keys-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const alice = ed25519()
  const aliceSecond = ed25519()
  const mallory = ed25519()
  const keys = join(dir, 'keys')
  await mkdir(keys)
  await writeFile(join(keys, 'alice'), `# alice\n${alice.line}\nfrom="10.0.0.1" ${aliceSecond.line}\n`)
  const file = join(dir, 'authorized_keys')
  await writeFile(file, `alice ${alice.line}\n`)
  const warnings: string[] = []

  // Work: signatures looked at. A wrong key and an unknown user each cost one verification, as the right key does.
  let verifications = 0
  const counted = (credentials: ISshPublicKey): ISshPublicKey => Object.create(credentials, {
    signature: { get: () => { verifications++; return credentials.signature } }
  }) as ISshPublicKey
  const keyOf = (username: string, password: string): typeof alice => username === 'alice' && password === 'right key' ? alice : mallory
  // Through the plugin: a test scheme carrying a signed key login in a header, as an SSH server would hand it over.
  const viaHeader: HttpAuthScheme = {
    name: 'sshkey-test',
    challenges: () => ['SshKeyTest'],
    credentials: (authorization) => {
      const [username = '', password = ''] = Buffer.from(authorization.slice('sshkey-test '.length), 'base64').toString('utf8').split('\n')
      return signed(username, keyOf(username, password))
    }
  }
  for (const [name, make] of [['a folder of per-user files', () => new SshKeyChecker({ directory: keys, onWarning: (m) => warnings.push(m) })], ['one file with a user column', () => new SshKeyChecker({ file })]] as const) {
    await t.test(name, async (t) => {
      await checkerContract(t, 'SshKeyChecker', {
        make,
        user: 'alice',
        password: 'right key',
        credentials: (username, password) => counted(signed(username, keyOf(username, password))),
        http: { schemes: [viaHeader], headers: (username, password) => ({ authorization: `sshkey-test ${Buffer.from(`${username}\n${password}`).toString('base64')}` }) },
        badOptions: [
          ['no options', () => new SshKeyChecker(undefined as never)],
          ['neither directory nor file', () => new SshKeyChecker({})],
          ['both', () => new SshKeyChecker({ directory: keys, file })],
          ['a missing file', () => new SshKeyChecker({ file: join(dir, 'missing') })]
        ],
        work: () => verifications
      })
    })
  }
  t.match(warnings.join('\n'), /alice line 3: not "<key type> <base64 key>" \(key options such as from= or command= are not supported\); skipped/, 'a key with options is skipped, with a warning')

  await t.test('an unsigned query: ValidPublicKey for the user\'s key (never an avatar id), a refusal otherwise', async (t) => {
    const checker = new SshKeyChecker({ directory: keys })
    await t.rejects(checker.requestAvatarId(new SshPublicKey('alice', 'ssh-ed25519', alice.blob)), ValidPublicKey)
    await t.rejects(checker.requestAvatarId(new SshPublicKey('alice', 'ssh-ed25519', mallory.blob)), { code: 'ERR_CRED_UNAUTHORIZED' })
    await t.rejects(checker.requestAvatarId(new SshPublicKey('alice', 'ssh-ed25519', aliceSecond.blob)), { code: 'ERR_CRED_UNAUTHORIZED' }, 'a key whose line has options is not the user\'s')
    await t.rejects(checker.requestAvatarId(new SshPublicKey('../keys/alice', 'ssh-ed25519', alice.blob)), { code: 'ERR_CRED_UNAUTHORIZED' }, 'a user name is never a path')
    // Through a portal with a throttle: a query is no failed attempt.
    const recorded: boolean[] = []
    const throttle = { acquire: () => {}, record: (_attempt: LoginAttempt, succeeded: boolean) => { recorded.push(succeeded) } }
    const portal = new Portal(new SimpleRealm().serve(IUser, (id) => ({ name: String(id) })), [checker], { throttle })
    await t.rejects(portal.login(new SshPublicKey('alice', 'ssh-ed25519', alice.blob), null, IUser), ValidPublicKey)
    t.same(recorded, [], 'the throttle counted no failure for a query')
    t.equal((await portal.login(signed('alice', alice), null, IUser)).avatarId, 'alice')
  })

  await t.test('signatures: another key\'s, over other data, or under another algorithm are refused', async (t) => {
    const checker = new SshKeyChecker({ directory: keys })
    const data = randomBytes(32)
    await t.rejects(checker.requestAvatarId(new SshPublicKey('alice', 'ssh-ed25519', alice.blob, data, sign(null, data, mallory.privateKey))), UnauthorizedLogin)
    await t.rejects(checker.requestAvatarId(new SshPublicKey('alice', 'ssh-ed25519', alice.blob, randomBytes(32), sign(null, data, alice.privateKey))), UnauthorizedLogin)
    await t.rejects(checker.requestAvatarId(new SshPublicKey('alice', 'rsa-sha2-256', alice.blob, data, sign(null, data, alice.privateKey))), UnauthorizedLogin)
    await t.rejects(checker.requestAvatarId(new SshPublicKey('alice', 'ssh-ed25519', alice.blob, data, randomBytes(64))), UnauthorizedLogin)
  })

  await t.test('garbage key blobs and signatures: refused cleanly, never another error', async (t) => {
    const checker = new SshKeyChecker({ directory: keys })
    const blobs: Uint8Array[] = [
      new Uint8Array(0), randomBytes(3), alice.blob.subarray(0, 20), Buffer.concat([alice.blob, Buffer.from([0])]),
      wire(Buffer.from('ssh-ed25519'), randomBytes(31)), wire(Buffer.from('ssh-rsa'), Buffer.from([1, 0, 1]), randomBytes(16)),
      wire(Buffer.from('ecdsa-sha2-nistp256'), Buffer.from('nistp256'), Buffer.concat([Buffer.from([4]), randomBytes(64)])),
      wire(Buffer.from('ecdsa-sha2-nistp256'), Buffer.from('nistp384'), randomBytes(97)), Buffer.from([0xff, 0xff, 0xff, 0xff, 1, 2]),
      randomBytes(20_000)
    ]
    for (let i = 0; i < 300; i++) blobs.push(randomBytes(i % 120))
    let refused = 0
    for (const blob of blobs) {
      const outcome = await checker.requestAvatarId(new SshPublicKey('alice', 'ssh-ed25519', blob, randomBytes(16), randomBytes(64))).catch((err: unknown) => err)
      if (outcome instanceof UnauthorizedLogin && !(outcome instanceof ValidPublicKey)) refused++
    }
    t.equal(refused, blobs.length, 'every garbage blob: UnauthorizedLogin')
    const garbled = await checker.requestAvatarId(new SshPublicKey('alice', 'ssh-ed25519', alice.blob, randomBytes(16), new Uint8Array(0))).catch((err: unknown) => err)
    t.type(garbled, UnauthorizedLogin, 'an empty signature: refused')
    t.notOk(garbled instanceof MalformedCredentials)
  })

  await t.test('strcred sshkey: a folder or a file', async (t) => {
    const fromFolder = await makeChecker(`sshkey:${keys}`)
    t.equal(await fromFolder.requestAvatarId(signed('alice', alice)), 'alice')
    const fromFile = await makeChecker(`sshkey:${file}`)
    t.equal(await fromFile.requestAvatarId(signed('alice', alice)), 'alice')
    await t.rejects(makeChecker('sshkey:'), /the folder or file is missing/)
    await t.rejects(makeChecker(`sshkey:${join(dir, 'nothing-here')}`), InvalidOption)
  })
})
