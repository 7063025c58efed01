// Headless Chromium for the browser tests: Debian's /usr/bin/chromium driven by playwright-core
// (never a downloaded browser), a fresh profile, and no background traffic on a closed network.
import fs from 'node:fs';
import path from 'node:path';

export const CHROMIUM = process.env.JV3_CHROMIUM || '/usr/bin/chromium';

const ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

/**
 * Launches Chromium with a new profile folder under `dir`. Resolves to a playwright BrowserContext
 * (newPage(), close()). Throws with what to do when Chromium or playwright-core is missing.
 * @param {string} dir
 */
export async function launchChromium(dir) {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found: apt-get install -y chromium (scripts/test.sh does this)`);
  let chromium;
  try {
    ({ chromium } = await import('playwright-core'));
  } catch (err) {
    throw new Error(`playwright-core is not installed: run npm ci (${err.message})`);
  }
  const profile = fs.mkdtempSync(path.join(dir, 'chromium-profile-'));
  return chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: ARGS });
}
