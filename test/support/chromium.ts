// Debian's chromium for the browser suites, driven through playwright-core. Without it (a fresh clone on
// a machine that lacks it) a suite reports itself skipped, which CI (.ci/run installs chromium) counts as
// a failure.
import { existsSync } from 'node:fs';
import { chromium, type BrowserContext } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

export const haveChromium = existsSync(CHROMIUM);
if (!haveChromium) console.warn(`browser suites skipped: ${CHROMIUM} not found (apt-get install chromium)`);

/** A headless browser with its own profile directory (`profile`, made and removed by the caller). */
export function launchChromium(profile: string, options: { javaScriptEnabled?: boolean } = {}): Promise<BrowserContext> {
  return chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, ...options });
}
