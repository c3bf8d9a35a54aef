/**
 * `client.files.upload` in a real browser (Debian's Chromium through playwright-core): the
 * browser bundle uploads a `File` through XMLHttpRequest with upload progress, sends it as an
 * image, and opens the signed link in an `<img>`.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { chromium, type Browser } from 'playwright-core';
import sharp from 'sharp';
import { buildSdk, type BuildResult } from '../build.ts';
import { Harness } from './support/harness.ts';

const CHROMIUM = process.env.CARELINE_CHROMIUM ?? '/usr/bin/chromium';

describe('client.files in Chromium', () => {
  const h = Harness.forSuite();
  let dir: string;
  let out: BuildResult;
  let browser: Browser;
  before(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`Chromium not found at ${CHROMIUM}: run scripts/install-chromium (as root).`);
    dir = mkdtempSync(join(tmpdir(), 'careline-sdk-build-'));
    out = await buildSdk(dir);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'] });
  }, { timeout: 30_000 });
  after(async () => {
    await browser?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('a File from the page: XHR upload with progress, sent as an image, shown through a signed link', { timeout: 40_000 }, async () => {
    const { patient, doctor, conv } = await h.pair();
    const pixels = Buffer.alloc(1200 * 900 * 3);
    for (let i = 0; i < pixels.length; i++) pixels[i] = (i * 7919) % 251;
    const bytes = await sharp(pixels, { raw: { width: 1200, height: 900, channels: 3 } }).jpeg({ quality: 90 }).toBuffer();
    const page = await browser.newPage();
    try {
      // Same origin as the API: a page of the server itself.
      await page.goto(`${h.server.url}/healthz`);
      await page.addScriptTag({ path: out.iife });
      const result = await page.evaluate(async ({ url, token, conv, b64 }) => {
        const C = (window as unknown as { Careline: any }).Careline;
        const client = new C.CarelineClient({ url, token });
        await client.connect();
        const bin = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
        const file = new File([bin], 'photo.jpg', { type: 'image/jpeg' });
        const progress: { loaded: number; total: number | null }[] = [];
        const sent = await client.files.send(conv, file, { onProgress: (p: { loaded: number; total: number | null }) => progress.push(p) });
        const link = await client.files.url(sent.file.storageId, { variant: 'thumbnail' });
        const img = document.createElement('img');
        const loaded = new Promise<{ w: number; h: number }>((resolve, reject) => {
          img.onload = () => resolve({ w: img.naturalWidth, h: img.naturalHeight });
          img.onerror = () => reject(new Error('img failed'));
        });
        img.src = link.url;
        document.body.append(img);
        const dims = await loaded;
        let code = '';
        try {
          await client.files.upload(new Blob(['plain text']), { conversationId: conv, name: 'a.txt' });
        } catch (e) {
          code = (e as { code: string }).code;
        }
        await client.close();
        return { file: sent.file, ack: sent.ack, progress, dims, code, usedXhr: typeof XMLHttpRequest === 'function' };
      }, { url: h.server.url, token: patient.token, conv, b64: bytes.toString('base64') });

      assert.equal(result.usedXhr, true);
      assert.equal(result.file.kind, 'image');
      assert.equal(result.file.fileName, 'photo.jpg');
      assert.equal(result.file.width, 1200);
      assert.ok(result.ack.seq >= 1);
      assert.ok(result.progress.length >= 1, 'progress events');
      assert.deepEqual(result.progress.at(-1), { loaded: bytes.length, total: bytes.length });
      assert.deepEqual(result.dims, { w: 320, h: 240 });
      assert.equal(result.code, 'file.type_not_allowed');

      // The doctor sees the message with the stored facts.
      const hist = await h.server.call('GET', `/api/v2/sessions/${conv}/messages`, { token: doctor.token });
      const m = hist.body.messages.find((x: { type: number }) => x.type === 2);
      assert.equal(m.content.storageId, result.file.storageId);
    } finally {
      await page.close();
    }
  });
});
