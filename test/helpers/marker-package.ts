import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'

/**
 * A package in `nodeModules` declaring `field` whose module, if it is ever imported, writes `marker` (and exports a
 * factory for each of `types` that lets everyone in).
 */
export async function markerPackage (nodeModules: string, name: string, field: Record<string, unknown>, marker: string, types: string[] = []): Promise<void> {
  const dir = join(nodeModules, name)
  await mkdir(dir, { recursive: true })
  await writeFile(join(dir, 'package.json'), JSON.stringify({ name, type: 'module', 'fastify-cred': field }))
  await writeFile(join(dir, 'factory.js'), [
    "import { writeFileSync } from 'node:fs'",
    `writeFileSync(${JSON.stringify(marker)}, 'this package ran\\n')`,
    `export default ${JSON.stringify(types)}.map((authType) => ({`,
    "  authType, argStringFormat: '<anything>', authHelp: 'Lets everyone in.', credentialInterfaces: [],",
    "  generateChecker: () => ({ credentialInterfaces: [], requestAvatarId: () => 'everyone' })",
    '}))',
    ''
  ].join('\n'))
}
