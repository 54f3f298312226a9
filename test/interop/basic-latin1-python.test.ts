import { spawnSync, execFile } from 'node:child_process'
import type { AddressInfo } from 'node:net'
import { promisify } from 'node:util'
import t from 'tap'
import { MemoryChecker } from '../../lib/checkers/index.js'
import { buildApp } from '../helpers/app.js'
import { serversRequired } from '../helpers/binaries.js'

// Debian's python (the one on PATH may be pyenv's, without Debian's modules) with requests and aiohttp.
const PYTHON = '/usr/bin/python3'
const probe = spawnSync(PYTHON, ['-c', 'import requests, aiohttp'], { encoding: 'utf8' })
const skip = probe.status === 0
  ? false
  : `${PYTHON} cannot import requests and aiohttp: install the Debian packages python3-requests python3-aiohttp (apt-get install python3-requests python3-aiohttp)`
if (skip !== false && serversRequired) throw new Error(`${skip}; CRED_TEST_REQUIRE_SERVERS=1 forbids skipping`)

// Each client as its users call it: requests' HTTPBasicAuth with str and aiohttp's BasicAuth with its default encode
// the credentials as Latin-1; the UTF-8 forms are what a client sends when told to (bytes, encoding='utf-8').
const SCRIPT = String.raw`
import asyncio, json, sys
import aiohttp, requests
from requests.auth import HTTPBasicAuth
url, user, password = sys.argv[1], sys.argv[2], sys.argv[3]
out = {}
out['requests-str'] = requests.get(url, auth=HTTPBasicAuth(user, password)).status_code
out['requests-tuple'] = requests.get(url, auth=(user, password)).status_code
out['requests-utf8'] = requests.get(url, auth=HTTPBasicAuth(user.encode('utf-8'), password.encode('utf-8'))).status_code
out['requests-wrong'] = requests.get(url, auth=HTTPBasicAuth(user, password + 'x')).status_code
async def main():
    async with aiohttp.ClientSession() as session:
        for name, auth in [('aiohttp-default', aiohttp.BasicAuth(user, password)),
                           ('aiohttp-utf8', aiohttp.BasicAuth(user, password, encoding='utf-8')),
                           ('aiohttp-wrong', aiohttp.BasicAuth(user, 'wrong' + password))]:
            async with session.get(url, auth=auth) as res:
                out[name] = res.status
                if res.status == 200:
                    out[name + '-avatar'] = (await res.json())['avatarId']
asyncio.run(main())
print(json.dumps(out))
`

t.test('bøb / pässwörd logs in from Python requests and aiohttp, in Latin-1 and in UTF-8', { skip }, async (t) => {
  const { app } = await buildApp({ checkers: [new MemoryChecker({ bøb: 'pässwörd', alice: 'wonderland' })] })
  await app.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(() => app.close())
  const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}/whoami`
  const { stdout } = await promisify(execFile)(PYTHON, ['-c', SCRIPT, url, 'bøb', 'pässwörd'], { timeout: 60_000 })
  const result = JSON.parse(stdout) as Record<string, number | string>
  t.same(result, {
    'requests-str': 200,
    'requests-tuple': 200,
    'requests-utf8': 200,
    'requests-wrong': 401,
    'aiohttp-default': 200,
    'aiohttp-default-avatar': 'bøb',
    'aiohttp-utf8': 200,
    'aiohttp-utf8-avatar': 'bøb',
    'aiohttp-wrong': 401
  }, 'both encodings of one password log in the same user; a wrong password is still 401')
})
