/**
 * Browser tests drive Debian's Chromium (/usr/bin/chromium, installed by
 * `scripts/install-chromium`) with playwright-core. Playwright never downloads a browser.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';

export const CHROMIUM = process.env.CARELINE_CHROMIUM ?? '/usr/bin/chromium';
/**
 * `npm run screenshots` (CARELINE_SCREENSHOTS=1) saves the screenshots of the main screens
 * in apps/web/screenshots/, where they are kept; a plain test run takes them too but leaves
 * them in a temporary directory, so that `npm test` does not rewrite tracked files.
 */
export const SCREENSHOTS = process.env.CARELINE_SCREENSHOTS === '1'
  ? fileURLToPath(new URL('../../screenshots/', import.meta.url))
  : join(tmpdir(), 'careline-screenshots') + '/';
const DIST_INDEX = fileURLToPath(new URL('../../dist/index.html', import.meta.url));

/** Fails loudly (never skips) when Chromium or the built client is missing. */
export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`Chromium not found at ${CHROMIUM}. The web client's browser tests need Debian's chromium: run scripts/install-chromium (as root).`);
  }
  if (!existsSync(DIST_INDEX)) {
    throw new Error('apps/web/dist is missing: run `npm run build` first (`npm test` does).');
  }
  // Playwright starts every browser with a fresh, temporary profile; each context is isolated.
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/** Saves a screenshot as <SCREENSHOTS>/<name>.png. */
export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: `${SCREENSHOTS}${name}.png` });
}

/** A demo user as the dev profile's demo list gives it. */
export interface DemoUser {
  id: string;
  role: string;
  name: string;
  token: string;
}

/** Polls `check` every `intervalMs` until it passes; after `timeout` ms throws its last error. */
export async function waitUntil(check: () => Promise<void> | void, timeout: number, intervalMs = 50): Promise<void> {
  const end = Date.now() + timeout;
  for (;;) {
    try {
      await check();
      return;
    } catch (err) {
      if (Date.now() > end) throw err;
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  }
}
