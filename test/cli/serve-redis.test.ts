// serve's Redis options: --throttle and --nonce-store take one Redis, a Redis Cluster or a Sentinel set, checked at
// parse time and never echoed (a URL may hold a password).
import t from 'tap'
import { parseServeArgs } from '../../lib/cli/serve.js'
import { UsageError } from '../../lib/cli/errors.js'
import { redisConnectionFromUrl } from '../../lib/drivers/index.js'

const env = { CRED_DIGEST_SECRET: 'sixteen bytes at least' }
const parse = (args: string[], environment: Record<string, string> = env): unknown => parseServeArgs(['--auth', 'memory:a:b', ...args], environment)

t.test('Redis URLs as the ioredis options they stand for', async (t) => {
  t.same(redisConnectionFromUrl('redis://h:1/2', 'x'), { url: 'redis://h:1/2', options: {} }, 'one Redis: the URL as ioredis reads it')
  t.same(redisConnectionFromUrl('redis+cluster://a:7000,b:7001,[::1]:7002', 'x'), { options: { clusterNodes: [{ host: 'a', port: 7000 }, { host: 'b', port: 7001 }, { host: '::1', port: 7002 }] } })
  t.same(redisConnectionFromUrl('rediss+cluster://u:p%40ss@a', 'x'), { options: { username: 'u', password: 'p@ss', tls: {}, clusterNodes: [{ host: 'a', port: 6379 }] } }, 'TLS, credentials decoded, the default port')
  t.same(redisConnectionFromUrl('redis+sentinel://:pw@s1,s2:26380/mymaster/3', 'x'), { options: { password: 'pw', sentinels: [{ host: 's1', port: 26379 }, { host: 's2', port: 26380 }], name: 'mymaster', db: 3 } })
  for (const bad of ['redis+sentinel://s1:26379', 'redis+cluster://a:7000/1', 'redis+cluster://a:99999', 'redis+sentinel://s1/name/x', 'redis+cluster://u:%E0%A4%A@a:1', 'redis+cluster://', 'http://a']) {
    t.throws(() => redisConnectionFromUrl(bad, 'x'), { code: 'ERR_CRED_INVALID_OPTION' }, bad)
  }
})

t.test('--throttle and --nonce-store take any of them; mistakes are usage errors that never repeat the URL', async (t) => {
  for (const url of ['redis://127.0.0.1:6379', 'redis+cluster://10.0.0.1:7000,10.0.0.2:7000', 'rediss+sentinel://10.0.0.1:26379/main']) {
    t.match(parse(['--throttle', url, '--throttle-fail-open']), { throttle: url, throttleFailOpen: true }, `--throttle ${url}`)
    t.match(parse(['--scheme', 'digest', '--nonce-store', url]), { nonceStore: url, digestSecret: env.CRED_DIGEST_SECRET }, `--nonce-store ${url}`)
  }
  t.match(parse(['--scheme', 'digest']), { nonceStore: 'memory' }, 'memory by default')
  const refused = (args: string[], message: RegExp, environment?: Record<string, string>): void => {
    const err = (() => { try { parse(args, environment); return undefined } catch (e) { return e } })()
    t.type(err, UsageError, args.join(' '))
    t.match((err as Error).message, message)
    t.notMatch((err as Error).message, /s3cret/, 'the password is not repeated')
  }
  refused(['--throttle', 'redis+sentinel://:s3cret@10.0.0.1:26379'], /ends with \/<primary name>/)
  refused(['--throttle', 'memcached://:s3cret@x'], /--throttle is memory, off or a redis:\/\/ URL/)
  refused(['--nonce-store', 'redis://x'], /--nonce-store needs --scheme digest/)
  refused(['--scheme', 'digest', '--nonce-store', 'redis://:s3cret@x'], /give them one CRED_DIGEST_SECRET/, {})
  refused(['--scheme', 'digest'], /CRED_DIGEST_SECRET must be at least 16 bytes/, { CRED_DIGEST_SECRET: 'short' })
})
