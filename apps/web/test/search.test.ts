/**
 * Message search in the web client, in Debian's Chromium against a real server: the doctor
 * finds the patient's message by a Chinese word (and an English one, and a document by its
 * Chinese file name), sees the matches marked, and jumps to the message deep in the
 * conversation's history; the search can keep to the open conversation; the Chinese UI.
 * Screenshots: screenshots/search-*.png.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { startTestServer, type TestServer } from '@careline/server/testing';
import { launchChromium, screenshot, waitUntil } from './support/browser.ts';
import { assertAccessible } from './support/axe.ts';

const DESKTOP = { width: 1280, height: 800 };
const TIMEOUT = 30_000;

const until = (check: () => Promise<void> | void, timeout = TIMEOUT) => waitUntil(check, timeout, 50);

describe('message search in the web client', () => {
  let t: TestServer;
  let browser: Browser;
  let demo: { conversation_id: string; users: { id: string; token: string }[] };
  let ctx: BrowserContext;
  let doctor: Page;
  let rash: { id: string; seq: number };
  let other: string;
  const pageErrors: string[] = [];

  const token = (id: string) => demo.users.find((u) => u.id === id)!.token;
  const conversation = () => demo.conversation_id;
  const log = (page: Page) => page.getByTestId('message-log');
  const send = async (user: string, type: number, content: Record<string, unknown>) => {
    const r = await t.call('POST', `/api/v2/sessions/${encodeURIComponent(conversation())}/messages`, { token: token(user), body: { type, content } });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body.message as { id: string; seq: number };
  };
  const track = (page: Page, who: string) => {
    page.on('pageerror', (e) => pageErrors.push(`${who}: ${e.message}`));
    page.on('console', (m) => {
      if (/Content Security Policy/i.test(m.text())) pageErrors.push(`${who}: ${m.text()}`);
    });
  };

  before(async () => {
    t = await startTestServer({ config: { demo: true } });
    browser = await launchChromium();
    demo = (await (await fetch(`${t.url}/api/v2/demo/users`)).json()) as typeof demo;
    // The patient's message, then enough others that it is well before the newest page.
    rash = await send('pt.zhang', 1, { text: '医生您好，我手臂上出现皮疹，还有点发热' });
    for (let i = 1; i <= 70; i++) await send(i % 2 ? 'pt.zhang' : 'dr.li', 1, { text: `Follow-up note ${i}` });
    await send('pt.zhang', 1, { text: 'My blood pressure was 150/95 this morning' });
    // A document with a Chinese name, uploaded and sent by the patient.
    const up = await fetch(`${t.url}/api/v2/sessions/${encodeURIComponent(conversation())}/files?name=${encodeURIComponent('血常规化验单.pdf')}`, {
      method: 'POST', headers: { authorization: `Bearer ${token('pt.zhang')}`, 'content-type': 'application/pdf' }, body: '%PDF-1.4\n% lab report\n%%EOF\n',
    });
    assert.equal(up.status, 200);
    const { file } = (await up.json()) as { file: Record<string, unknown> };
    await send('pt.zhang', 1000, { storageId: file.storageId, fileName: file.fileName, fileSize: file.fileSize, mimeType: file.mimeType });
    const list = await t.call('GET', '/api/v2/sessions?limit=100', { token: token('dr.li') });
    other = (list.body.sessions as { id: string }[]).map((s) => s.id).find((id) => id !== conversation())!;
    assert.ok(other, 'the demo doctor has another conversation');

    ctx = await browser.newContext({ viewport: DESKTOP, locale: 'en-US', reducedMotion: 'reduce' });
    ctx.setDefaultTimeout(TIMEOUT);
    doctor = await ctx.newPage();
    track(doctor, 'doctor');
    await doctor.goto(`${t.url}/#token=${token('dr.li')}`);
    await doctor.locator(`[data-conversation="${conversation()}"]`).waitFor();
  });

  after(async () => {
    await browser?.close();
    await t?.stop();
  });

  it('finds a message by a Chinese word, marks it, and jumps to it in its history', async () => {
    const input = doctor.getByRole('searchbox', { name: 'Search messages' });
    await input.fill('皮');
    await doctor.getByText('Type at least 2 characters.').waitFor();
    await input.fill('皮疹');
    const hits = doctor.getByTestId('search-hit');
    await until(async () => assert.equal(await hits.count(), 1));
    assert.equal(await hits.first().locator('mark').innerText(), '皮疹');
    assert.match(await hits.first().innerText(), /Zhang Min[\s\S]*医生您好，我手臂上出现皮疹，还有点发热/);
    assert.equal(await doctor.getByRole('status').filter({ hasText: '1 found' }).count(), 1);
    // The results take the list's place.
    assert.equal(await doctor.getByTestId('conversation-list').isVisible(), false);
    await assertAccessible(doctor, 'doctor: search results');
    await screenshot(doctor, 'search-results');

    await hits.first().click();
    await doctor.waitForURL(`**/c/${encodeURIComponent(conversation())}`);
    const target = log(doctor).locator(`[data-seq="${rash.seq}"]`);
    await until(async () => assert.equal(await target.getAttribute('data-jumped'), 'true'));
    assert.equal(await target.isVisible(), true);
    assert.ok(await target.evaluate((el) => {
      const r = el.getBoundingClientRect();
      const l = el.closest('[data-testid="message-log"]')!.getBoundingClientRect();
      return r.top >= l.top && r.bottom <= l.bottom;
    }), 'the message is in view');
    assert.equal(await doctor.evaluate(() => document.activeElement?.getAttribute('data-seq')), String(rash.seq));
    // Older pages were loaded to reach it, so the newest messages are still there below.
    assert.equal(await log(doctor).getByText('Follow-up note 70', { exact: true }).count(), 1);
    // The search is done: the list is back.
    assert.equal(await input.inputValue(), '');
    await doctor.getByTestId('conversation-list').waitFor();
    await assertAccessible(doctor, 'doctor: jumped to a message');
    await screenshot(doctor, 'search-jump');
  });

  it('finds English words and a document by its Chinese file name', async () => {
    const input = doctor.getByRole('searchbox', { name: 'Search messages' });
    await input.fill('blood PRESSURE');
    const hits = doctor.getByTestId('search-hit');
    await until(async () => assert.deepEqual(await hits.first().locator('mark').allInnerTexts(), ['blood', 'pressure']));
    await input.fill('化验单');
    await until(async () => assert.equal(await hits.first().locator('mark').innerText(), '化验单'));
    await hits.first().click();
    await log(doctor).getByTestId('file-card').filter({ hasText: '血常规化验单.pdf' }).waitFor();
  });

  it('keeps to the open conversation when asked', async () => {
    await doctor.locator(`[data-conversation="${other}"]`).click();
    await doctor.waitForURL(`**/c/${encodeURIComponent(other)}`);
    const input = doctor.getByRole('searchbox', { name: 'Search messages' });
    await doctor.getByRole('checkbox', { name: 'This chat' }).check();
    await input.fill('皮疹');
    await until(async () => assert.equal(await doctor.getByTestId('search-results').getByRole('status').innerText(), 'No messages found for “皮疹”.'));
    await doctor.getByRole('checkbox', { name: 'This chat' }).uncheck();
    await until(async () => assert.equal(await doctor.getByTestId('search-hit').count(), 1));
    // Escape clears it.
    await input.press('Escape');
    await until(async () => assert.equal(await doctor.getByTestId('search-results').count(), 0));
  });

  it('speaks Chinese', async () => {
    const zh = await browser.newContext({ viewport: DESKTOP, locale: 'zh-CN', reducedMotion: 'reduce' });
    zh.setDefaultTimeout(TIMEOUT);
    const page = await zh.newPage();
    track(page, 'doctor (zh)');
    await page.goto(`${t.url}/#token=${token('dr.li')}`);
    const input = page.getByRole('searchbox', { name: '搜索消息' });
    await input.fill('发热');
    await until(async () => assert.equal(await page.getByTestId('search-hit').first().locator('mark').innerText(), '发热'));
    await page.getByRole('status').filter({ hasText: '找到 1 条' }).waitFor();
    await assertAccessible(page, 'doctor (zh): search');
    await screenshot(page, 'search-zh');
    await zh.close();
  });

  it('raised no errors in any page (nor Content-Security-Policy violations)', async () => {
    await ctx.close();
    assert.deepEqual(pageErrors, []);
  });
});
