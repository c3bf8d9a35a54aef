/**
 * The API viewer at /docs works under its Content-Security-Policy: it renders the API and the
 * browser reports no blocked script or style.
 */
import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser } from 'playwright-core';
import { startTestServer, type TestServer } from '@careline/server/testing';
import { launchChromium } from './support/browser.ts';

let t: TestServer;
let browser: Browser;
before(async () => {
  t = await startTestServer();
  browser = await launchChromium();
});
after(async () => {
  await browser?.close();
  await t?.stop();
});

it('/docs renders the API with its CSP in force and nothing blocked', async () => {
  const page = await browser.newPage();
  const problems: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') problems.push(m.text());
  });
  page.on('pageerror', (e) => problems.push(String(e)));
  const res = await page.goto(`${t.url}/docs/`);
  assert.match((await res?.allHeaders())?.['content-security-policy'] ?? '', /script-src 'self'/);
  await page.waitForSelector('.opblock-tag', { timeout: 15_000 });
  // A large API is rendered as a virtual list (only what is on screen is in the page):
  // scroll through it and collect the tags that come into view.
  const seen = new Set<string>();
  for (let i = 0; i < 200 && seen.size <= 3; i++) {
    for (const t of await page.locator('.opblock-tag').allTextContents()) seen.add(t.trim());
    await page.mouse.wheel(0, 800);
    await page.waitForTimeout(50);
  }
  assert.ok(seen.size > 3, `the API's tags are listed (seen: ${[...seen].join(', ')})`);
  assert.deepEqual(problems, []);
  await page.close();
});
