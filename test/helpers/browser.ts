import type { Browser } from 'playwright-core'
import { needProgram } from './binaries.js'

/** Debian's Chromium: never a downloaded browser build (none can be fetched here). */
export const chromium = needProgram('chromium', 'chromium')

/** Starts headless Chromium (Playwright gives it a throw-away profile). */
export async function launchChromium (): Promise<Browser> {
  if (chromium.path === undefined) throw new Error(chromium.skip)
  const { chromium: launcher } = await import('playwright-core')
  return await launcher.launch({
    executablePath: chromium.path,
    headless: true,
    // As root in a sandbox without network: no sandbox, and no calls home that would be refused.
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync']
  })
}
