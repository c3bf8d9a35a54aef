/**
 * Photos, documents and voice notes in the web client, in Debian's Chromium against a real
 * server (files on disk, ClamAV's clamd scanning every upload): the patient attaches a photo
 * with the button and pastes another, the doctor sees the thumbnails and opens the viewer;
 * a PDF downloads with the bytes sent; an upload shows its progress and can be cancelled;
 * refused uploads say why (type, size, virus); a voice note recorded from Chromium's fake
 * microphone (click to start and stop, and hold to record) plays on the other side; files
 * dropped on the chat are sent; the Chinese UI. Screenshots: screenshots/files-*.png.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { chromium, type Browser, type BrowserContext, type Locator, type Page } from 'playwright-core';
import { startTestServer, type TestServer } from '@careline/server/testing';
import { EICAR, startClamd, type Clamd } from '../../../packages/server/test/files/clamd.ts';
import { CHROMIUM, screenshot, waitUntil } from './support/browser.ts';
import { assertAccessible } from './support/axe.ts';

const DESKTOP = { width: 1280, height: 800 };
const TIMEOUT = 30_000;
const MAX_FILE = 4 * 1024 * 1024;

const until = (check: () => Promise<void> | void, timeout = TIMEOUT) => waitUntil(check, timeout, 50);

/** Chromium with a fake microphone (a beep) that needs no permission prompt. */
async function launchWithFakeMedia(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`Chromium not found at ${CHROMIUM}. Run scripts/install-chromium (as root).`);
  if (!existsSync(fileURLToPath(new URL('../dist/index.html', import.meta.url)))) throw new Error('apps/web/dist is missing: run `npm run build` first (`npm test` does).');
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream', '--autoplay-policy=no-user-gesture-required',
    ],
  });
}

/** A small PDF (file-type knows it by its header) with some text to make its bytes its own. */
function pdf(text: string, padTo = 0): Buffer {
  const body = `%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n% ${text}\n`;
  const pad = padTo > body.length ? '%' + 'x'.repeat(padTo - body.length - 8) + '\n' : '';
  return Buffer.from(`${body}${pad}%%EOF\n`);
}

describe('files in the web client', () => {
  let t: TestServer;
  let clamd: Clamd;
  let browser: Browser;
  let demo: { conversation_id: string; users: { id: string; token: string }[] };
  let doctorCtx: BrowserContext;
  let patientCtx: BrowserContext;
  let doctor: Page;
  let patient: Page;
  let photo: Buffer;
  const pageErrors: string[] = [];

  const log = (page: Page) => page.getByTestId('message-log');
  const track = (page: Page, who: string) => {
    page.on('pageerror', (e) => pageErrors.push(`${who}: ${e.message}`));
    page.on('console', (m) => {
      if (/Content Security Policy/i.test(m.text())) pageErrors.push(`${who}: ${m.text()}`);
    });
  };
  const token = (id: string) => demo.users.find((u) => u.id === id)!.token;
  const conversation = () => demo.conversation_id;

  async function open(opts: Parameters<Browser['newContext']>[0], user: string): Promise<{ ctx: BrowserContext; page: Page }> {
    const ctx = await browser.newContext({ viewport: DESKTOP, locale: 'en-US', reducedMotion: 'reduce', ...opts });
    ctx.setDefaultTimeout(TIMEOUT);
    const page = await ctx.newPage();
    track(page, user);
    await page.goto(`${t.url}/c/${encodeURIComponent(conversation())}#token=${token(user)}`);
    await log(page).getByText('Hello Dr. Li').waitFor();
    return { ctx, page };
  }

  /** Chooses files through the attach button's file picker (written to disk first: the browser reads them from there). */
  async function attach(page: Page, files: { name: string; mimeType: string; buffer: Buffer }[]): Promise<void> {
    const dir = mkdtempSync(join(tmpdir(), 'careline-attach-'));
    const paths = files.map((f) => {
      const path = join(dir, f.name);
      writeFileSync(path, f.buffer);
      return path;
    });
    const [chooser] = await Promise.all([page.waitForEvent('filechooser'), page.getByTestId('attach-button').click()]);
    await chooser.setFiles(paths);
  }

  const loaded = (img: Locator) => img.evaluate((el: HTMLImageElement) => el.complete && el.naturalWidth > 0 ? el.naturalWidth : 0);

  before(async () => {
    clamd = await startClamd();
    t = await startTestServer({ config: { demo: true, files: { maxFileBytes: MAX_FILE, scan: { enabled: true, socket: clamd.socket } } } });
    browser = await launchWithFakeMedia();
    demo = (await (await fetch(`${t.url}/api/v2/demo/users`)).json()) as typeof demo;
    // A 1200×900 photo with a gradient (a real JPEG, made by sharp).
    const raw = Buffer.alloc(1200 * 900 * 3);
    for (let y = 0; y < 900; y++) for (let x = 0; x < 1200; x++) raw.set([(x * 255) / 1200, (y * 255) / 900, 160], (y * 1200 + x) * 3);
    photo = await sharp(raw, { raw: { width: 1200, height: 900, channels: 3 } }).jpeg({ quality: 80 }).toBuffer();
    ({ ctx: doctorCtx, page: doctor } = await open({}, 'dr.li'));
    ({ ctx: patientCtx, page: patient } = await open({ permissions: ['microphone'] }, 'pt.zhang'));
  });

  after(async () => {
    await browser?.close();
    await t?.stop();
    await clamd?.stop();
  });

  /** What the page shows of sending, for a failure's message: its toasts, its uploads, its own last message. */
  async function sendingState(page: Page): Promise<string> {
    const texts = async (sel: string) => (await page.locator(sel).allTextContents().catch(() => [])).map((x) => x.trim()).filter(Boolean);
    const lastMine = await log(page).locator('article.msg.mine').last().evaluate((el) => el.outerHTML.slice(0, 400)).catch(() => '(none)');
    return `toasts ${JSON.stringify(await texts('.toasts .toast'))}; uploads ${JSON.stringify(await texts('[data-testid="uploads"] li'))}; last own message ${lastMine}`;
  }

  it('a photo attached with the button: the doctor sees its thumbnail and opens it full size', async () => {
    await attach(patient, [{ name: 'rash.jpg', mimeType: 'image/jpeg', buffer: photo }]);
    const mine = log(patient).locator('article.msg.mine').filter({ has: patient.getByTestId('image-thumb') }).last();
    try {
      await until(async () => assert.equal(await mine.getAttribute('data-status', { timeout: 1000 }), 'read'));
    } catch (err) {
      throw new Error(`the patient's photo message is not there as read: ${await sendingState(patient)}`, { cause: err });
    }
    const thumb = log(doctor).getByTestId('image-thumb').last();
    await thumb.waitFor();
    // The thumbnail (at most 320 px), loaded through a signed link, not the token.
    await until(async () => assert.ok((await loaded(thumb.locator('img'))) > 0));
    const src = (await thumb.locator('img').getAttribute('src'))!;
    assert.match(src, /\/api\/v2\/signed-files\//);
    assert.ok((await loaded(thumb.locator('img'))) <= 320);
    assert.equal(await thumb.getAttribute('aria-label'), 'Open the photo full size');
    await assertAccessible(doctor, 'doctor: chat with a photo');

    await thumb.click();
    const viewer = doctor.getByTestId('image-viewer');
    await viewer.waitFor();
    const full = viewer.getByTestId('viewer-image');
    await until(async () => assert.equal(await loaded(full), 1200));
    assert.equal(await doctor.getByRole('dialog', { name: /Photo/ }).count(), 1);
    assert.equal(await doctor.evaluate(() => document.activeElement?.getAttribute('data-testid')), 'viewer-close');
    await assertAccessible(doctor, 'doctor: photo viewer');
    await screenshot(doctor, 'files-viewer');
    // Escape closes it, and the focus goes back to the thumbnail.
    await doctor.keyboard.press('Escape');
    await until(async () => assert.equal(await viewer.count(), 0));
    assert.equal(await doctor.evaluate(() => document.activeElement?.getAttribute('data-testid')), 'image-thumb');
  });

  it('an image pasted into the message box is sent', async () => {
    const png = await sharp({ create: { width: 300, height: 200, channels: 3, background: { r: 200, g: 40, b: 40 } } }).png().toBuffer();
    await patient.getByTestId('composer').focus();
    await patient.evaluate(async (b64) => {
      const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      const data = new DataTransfer();
      data.items.add(new File([bytes], 'image.png', { type: 'image/png' }));
      document.querySelector('[data-testid="composer"]')!.dispatchEvent(new ClipboardEvent('paste', { clipboardData: data, bubbles: true, cancelable: true }));
    }, png.toString('base64'));
    await until(async () => assert.equal(await log(doctor).getByTestId('image-thumb').count(), 2));
    const second = log(doctor).getByTestId('image-thumb').last().locator('img');
    await until(async () => assert.equal(await loaded(second), 300));
    // Nothing pasted as text.
    assert.equal(await patient.getByTestId('composer').inputValue(), '');
  });

  it('a document is a card with its name, size and type, and downloads with the bytes sent', async () => {
    const bytes = pdf('Blood test, 2026-12-01: haemoglobin 131 g/L', 20_000);
    await attach(patient, [{ name: 'blood-test.pdf', mimeType: 'application/pdf', buffer: bytes }]);
    const card = log(doctor).getByTestId('file-card').filter({ hasText: 'blood-test.pdf' });
    await card.waitFor();
    assert.match(await card.innerText(), /blood-test\.pdf[\s\S]*19\.5 KB · application\/pdf/);
    const link = card.getByTestId('file-download');
    await until(async () => assert.match((await link.getAttribute('href')) ?? '', /signed-files/));
    const [download] = await Promise.all([doctor.waitForEvent('download'), link.click()]);
    assert.equal(download.suggestedFilename(), 'blood-test.pdf');
    assert.deepEqual(readFileSync((await download.path())!), bytes);
    await screenshot(doctor, 'files-chat');
  });

  it('an upload shows its progress and can be cancelled: nothing is sent', async () => {
    const cdp = await patientCtx.newCDPSession(patient);
    await cdp.send('Network.enable');
    // About 128 KiB/s up: a 2 MiB file takes a while.
    await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 20, downloadThroughput: -1, uploadThroughput: 128 * 1024 });
    const before = await log(doctor).getByTestId('file-card').count();
    await attach(patient, [{ name: 'scan-large.pdf', mimeType: 'application/pdf', buffer: pdf('large scan', 2 * 1024 * 1024) }]);
    const row = patient.getByTestId('upload').filter({ hasText: 'scan-large.pdf' });
    await row.waitFor();
    await until(async () => {
      const v = Number(await row.locator('progress').getAttribute('value'));
      assert.ok(v > 0 && v < 100, `progress ${v}`);
    });
    assert.match((await row.locator('progress').getAttribute('aria-label'))!, /^Uploading scan-large\.pdf: \d+%$/);
    await assertAccessible(patient, 'patient: upload in progress');
    await screenshot(patient, 'files-upload-progress');
    await row.getByTestId('upload-cancel').click();
    await until(async () => assert.equal(await row.count(), 0));
    await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
    await cdp.detach();
    // Nothing was sent: a text sent after it arrives, and no card came before it.
    await patient.getByTestId('composer').fill('Cancelled that one');
    await patient.getByTestId('composer').press('Enter');
    await log(doctor).getByText('Cancelled that one').waitFor();
    assert.equal(await log(doctor).getByTestId('file-card').count(), before);
  });

  it('refused uploads say why: a type not accepted, too large, a virus', async () => {
    await attach(patient, [
      { name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('just some text\n') },
      { name: 'huge.pdf', mimeType: 'application/pdf', buffer: pdf('huge', MAX_FILE + 1024) },
      { name: 'infected.pdf', mimeType: 'application/pdf', buffer: pdf(EICAR) },
    ]);
    const error = (name: string) => patient.getByTestId('upload').filter({ hasText: name }).getByTestId('upload-error');
    await until(async () => assert.equal(await error('notes.txt').getAttribute('data-code'), 'file.type_not_allowed'));
    await until(async () => assert.equal(await error('huge.pdf').getAttribute('data-code'), 'file.too_large'));
    await until(async () => assert.equal(await error('infected.pdf').getAttribute('data-code'), 'file.infected'));
    assert.match(await error('notes.txt').innerText(), /notes\.txt was not sent: this type of file is not accepted/);
    assert.match(await error('huge.pdf').innerText(), /huge\.pdf was not sent: it is larger than allowed for its type \(4 MB\)/);
    assert.match(await error('infected.pdf').innerText(), /infected\.pdf was not sent: the virus scanner found malware in it \(Careline\.Test\.EICAR/);
    await assertAccessible(patient, 'patient: refused uploads');
    await screenshot(patient, 'files-errors');
    for (const name of ['notes.txt', 'huge.pdf', 'infected.pdf']) await patient.getByTestId('upload').filter({ hasText: name }).getByRole('button', { name: 'Dismiss' }).click();
    await until(async () => assert.equal(await patient.getByTestId('upload').count(), 0));
    assert.equal(await log(doctor).getByTestId('file-card').filter({ hasText: /notes|huge|infected/ }).count(), 0);
  });

  it('a voice note recorded from the microphone (click, then hold) plays on the other side with its duration', async () => {
    const record = patient.getByTestId('voice-record');
    // Click to start, click again to send.
    await record.click();
    await until(async () => assert.match(await patient.getByTestId('voice-time').innerText(), /Recording 0:0[2-9]/));
    await assertAccessible(patient, 'patient: recording');
    await record.click();
    await until(async () => assert.equal(await log(doctor).getByTestId('voice-note').count(), 1));
    const note = log(doctor).getByTestId('voice-note').first();
    // As long as it was recorded (at least the 2 s waited for; more on a busy machine).
    await until(async () => assert.match(await note.getByTestId('voice-duration').innerText(), /^0:(0[2-9]|[1-5]\d)$/));
    assert.match((await note.getByTestId('voice-play').getAttribute('aria-label'))!, /^Voice note, 0:(0[2-9]|[1-5]\d)$/);
    await note.getByTestId('voice-play').click();
    await until(async () => assert.ok(await note.locator('audio').evaluate((a: HTMLAudioElement) => a.currentTime > 0.2), 'playing'));
    assert.equal(await note.getAttribute('data-state'), 'playing');
    await screenshot(doctor, 'files-voice');
    await until(async () => assert.equal(await note.getAttribute('data-state'), 'paused'), 10_000);

    // Hold to record, let go to send.
    const box = (await record.boundingBox())!;
    await patient.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    await patient.mouse.down();
    await until(async () => assert.match(await patient.getByTestId('voice-time').innerText(), /Recording 0:01/));
    await new Promise((r) => setTimeout(r, 400));
    await patient.mouse.up();
    await until(async () => assert.equal(await log(doctor).getByTestId('voice-note').count(), 2));
    await until(async () => assert.equal(await patient.getByTestId('voice-time').count(), 0));
    // The server names voice notes "voice" in the conversation list.
    await until(async () => assert.match(await doctor.locator(`[data-conversation="${conversation()}"]`).innerText(), /Voice message/));
  });

  it('a video attached plays in place', async () => {
    // A short clip recorded from the fake camera (WebM, VP8 and Opus).
    const b64 = await patient.evaluate(async () => {
      const stream = await navigator.mediaDevices.getUserMedia({ video: { width: 320, height: 240 }, audio: true });
      const rec = new MediaRecorder(stream, { mimeType: 'video/webm;codecs=vp8,opus' });
      const chunks: Blob[] = [];
      rec.ondataavailable = (e) => chunks.push(e.data);
      const stopped = new Promise((r) => (rec.onstop = r));
      rec.start(250);
      await new Promise((r) => setTimeout(r, 1500));
      rec.stop();
      await stopped;
      for (const track of stream.getTracks()) track.stop();
      const bytes = new Uint8Array(await new Blob(chunks).arrayBuffer());
      let s = '';
      for (const b of bytes) s += String.fromCharCode(b);
      return btoa(s);
    });
    await attach(patient, [{ name: 'exercise.webm', mimeType: 'video/webm', buffer: Buffer.from(b64, 'base64') }]);
    const figure = log(doctor).locator('figure.video').filter({ hasText: 'exercise.webm' });
    await figure.waitFor();
    const video = figure.locator('video');
    await until(async () => assert.match((await video.getAttribute('src')) ?? '', /\/api\/v2\/signed-files\//));
    await video.evaluate((v: HTMLVideoElement) => {
      v.muted = true;
      return v.play();
    });
    await until(async () => assert.ok(await video.evaluate((v: HTMLVideoElement) => v.currentTime > 0.2 && v.videoWidth === 320), 'playing'));
  });

  it('files dropped on the chat are sent', async () => {
    const png = await sharp({ create: { width: 120, height: 120, channels: 3, background: { r: 30, g: 120, b: 60 } } }).png().toBuffer();
    const before = await log(doctor).getByTestId('image-thumb').count();
    await patient.evaluate(async (b64) => {
      const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      const data = new DataTransfer();
      data.items.add(new File([bytes], 'wound-day3.png', { type: 'image/png' }));
      const target = document.querySelector('[data-testid="message-log"]')!;
      target.dispatchEvent(new DragEvent('dragenter', { dataTransfer: data, bubbles: true, cancelable: true }));
      target.dispatchEvent(new DragEvent('dragover', { dataTransfer: data, bubbles: true, cancelable: true }));
      (window as unknown as { __drop: () => void }).__drop = () => target.dispatchEvent(new DragEvent('drop', { dataTransfer: data, bubbles: true, cancelable: true }));
    }, png.toString('base64'));
    await patient.getByTestId('drop-overlay').waitFor();
    await screenshot(patient, 'files-drop');
    await patient.evaluate(() => (window as unknown as { __drop: () => void }).__drop());
    await until(async () => assert.equal(await patient.getByTestId('drop-overlay').count(), 0));
    await until(async () => assert.equal(await log(doctor).getByTestId('image-thumb').count(), before + 1));
  });

  it('speaks Chinese', async () => {
    const { ctx, page } = await open({ locale: 'zh-CN' }, 'dr.li');
    assert.equal(await page.getByRole('button', { name: '添加附件' }).count(), 1);
    assert.equal(await page.getByRole('button', { name: '录制语音' }).count(), 1);
    await until(async () => assert.ok((await log(page).getByRole('button', { name: /^语音，0:0\d$/ }).count()) >= 1));
    await until(async () => assert.ok((await log(page).getByRole('link', { name: /^下载 blood-test\.pdf$/ }).count()) === 1));
    await page.getByRole('button', { name: '查看照片原图' }).first().click();
    await page.getByRole('dialog').getByRole('button', { name: '关闭' }).click();
    await assertAccessible(page, 'doctor (zh): chat with files');
    await screenshot(page, 'files-chat-zh');
    await ctx.close();
  });

  it('fits a phone-sized screen: the attach and record buttons beside the message box', async () => {
    const { ctx, page } = await open({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 }, 'pt.zhang');
    for (const id of ['attach-button', 'voice-record', 'composer', 'send']) {
      const box = (await page.getByTestId(id).boundingBox())!;
      assert.ok(box.x >= 0 && box.x + box.width <= 390 && box.width >= 36, `${id}: ${JSON.stringify(box)}`);
    }
    await until(async () => assert.ok((await log(page).getByTestId('image-thumb').count()) >= 1));
    await assertAccessible(page, 'patient (phone): chat with files');
    await screenshot(page, 'files-phone');
    await ctx.close();
  });

  it('raised no errors in any page (nor Content-Security-Policy violations)', async () => {
    await doctorCtx.close();
    await patientCtx.close();
    assert.deepEqual(pageErrors, []);
  });
});
