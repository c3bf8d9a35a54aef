/**
 * The front desk in real browsers (Debian's Chromium, playwright-core) against a real Careline
 * server: a clinic's website (another origin) embeds the widget with one script tag; a visitor
 * asks a question; a staff member, in a second browser, sees the visitor online on that page,
 * acknowledges and claims the chat and answers; the visitor sees the answer, then the close.
 * Keyboard only for the visitor, axe on the widget and the console. Also: the widget over
 * long-polling where WebSockets are refused, and how the server serves the widget's files.
 * Screenshots: desk-widget*.png, desk-console*.png.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser, BrowserContext, Frame, Locator, Page } from 'playwright-core';
import { startTestServer, type TestServer } from '@careline/server/testing';
import { launchChromium, screenshot, waitUntil } from './support/browser.ts';
import { assertAccessible } from './support/axe.ts';

const DESKTOP = { width: 1280, height: 800 };
const TIMEOUT = 15_000;

const until = (check: () => Promise<void> | void, timeout = TIMEOUT) => waitUntil(check, timeout, 100);

const text = async (l: Locator) => (await l.count()) === 0 ? '' : (await l.first().innerText()).trim();

/** A clinic's website on its own origin: one page that includes the widget's script. */
async function startWebsite(careline: string, key: string, lang = 'en'): Promise<{ url: string; server: Server }> {
  const html = (title: string) => `<!doctype html><html lang="${lang}"><head><meta charset="utf-8"><title>${title}</title>
<style>body{font:16px sans-serif;margin:40px;color:#222} main{max-width:640px}</style></head>
<body><main><h1>${title}</h1><p>Monday to Friday 8:00–18:00. Vaccinations, check-ups, family doctors.</p>
<p><a href="/prices">Prices</a></p></main>
<script async src="${careline}/widget.js" data-key="${key}"></script></body></html>`;
  const server = createServer((req, res) => {
    const title = req.url?.startsWith('/prices') ? 'Prices — Sunny Clinic' : 'Opening hours — Sunny Clinic';
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(html(title));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  // `localhost` here, 127.0.0.1 for Careline: another site, as a clinic's website is.
  return { url: `http://localhost:${(server.address() as AddressInfo).port}`, server };
}

describe('the front desk widget and staff console', () => {
  let t: TestServer;
  let visitorBrowser: Browser;
  let staffBrowser: Browser;
  let site: { url: string; server: Server };
  let key: string;
  let staff: { id: string; token: string };
  const pageErrors: string[] = [];
  const contexts: BrowserContext[] = [];

  const watch = (page: Page, who: string) => {
    page.on('pageerror', (e) => pageErrors.push(`${who}: ${e.message}`));
    page.on('console', (m) => {
      if (/Content Security Policy|Refused to/i.test(m.text())) pageErrors.push(`${who}: ${m.text()}`);
    });
  };

  async function newPage(browser: Browser, who: string, opts: Parameters<Browser['newContext']>[0] = {}): Promise<Page> {
    const ctx = await browser.newContext({ viewport: DESKTOP, locale: 'en-US', reducedMotion: 'reduce', ...opts });
    ctx.setDefaultTimeout(TIMEOUT);
    contexts.push(ctx);
    const page = await ctx.newPage();
    watch(page, who);
    return page;
  }

  /** The widget's chat frame in a page of the website. */
  async function chatFrame(page: Page): Promise<Frame> {
    let frame: Frame | undefined;
    await until(() => {
      frame = page.frames().find((f) => f.url().includes('/widget/frame.html'));
      assert.ok(frame, 'the widget frame is loaded');
    });
    await frame!.locator('body[data-ready="1"]').waitFor({ state: 'attached' });
    return frame!;
  }

  before(async () => {
    t = await startTestServer();
    [visitorBrowser, staffBrowser] = await Promise.all([launchChromium(), launchChromium()]);
    const k = await t.call('POST', '/api/desk/widget-keys', { body: { name: 'website' } });
    assert.equal(k.status, 200, JSON.stringify(k.body));
    key = k.body.key;
    staff = await t.user('nurse-li', 'staff', 'Nurse Li');
    await t.user('dr-chen', 'doctor', 'Dr. Chen');
    site = await startWebsite(t.url.replace('localhost', '127.0.0.1'), key);
  });

  after(async () => {
    for (const c of contexts) await c.close().catch(() => undefined);
    await visitorBrowser?.close();
    await staffBrowser?.close();
    await new Promise((r) => site?.server.close(r));
    await t?.stop();
  });

  it('serves the widget: /widget.js for any site, /widget/frame.html frameable by any site', async () => {
    const js = await fetch(`${t.url}/widget.js`);
    assert.equal(js.status, 200);
    assert.match(js.headers.get('content-type') ?? '', /javascript/);
    assert.equal(js.headers.get('cache-control'), 'no-cache');
    assert.equal(js.headers.get('cross-origin-resource-policy'), 'cross-origin');
    const body = await js.text();
    assert.ok(body.length < 8000, `the loader stays small (${body.length} bytes)`);
    const frame = await fetch(`${t.url}/widget/frame.html`);
    assert.equal(frame.status, 200);
    const csp = frame.headers.get('content-security-policy') ?? '';
    assert.match(csp, /frame-ancestors \*/);
    assert.match(csp, /script-src 'self'/);
    await frame.text();
    // The web client's own page still refuses to be framed by other sites.
    const index = await fetch(`${t.url}/desk`);
    assert.match(index.headers.get('content-security-policy') ?? '', /frame-ancestors 'self'$/);
    await index.text();
  });

  it('a visitor asks on the website; staff in another browser sees, claims and answers; the visitor sees the answer', async () => {
    const visitor = await newPage(visitorBrowser, 'visitor');
    const nurse = await newPage(staffBrowser, 'staff');

    await visitor.goto(site.url);
    const launcher = visitor.getByRole('button', { name: 'Chat with us' });
    await launcher.waitFor();
    const frame = await chatFrame(visitor);
    await assertAccessible(visitor, 'website with the widget (closed)');

    // The staff console: the visitor is online, on the opening-hours page.
    await nurse.goto(`${t.url}/desk#token=${encodeURIComponent(staff.token)}`);
    await nurse.getByTestId('desk').locator('#desk-title').waitFor();
    const row = nurse.getByTestId('desk-visitor');
    await until(async () => assert.match(await text(row.getByTestId('desk-visitor-page')), /Opening hours — Sunny Clinic/));
    assert.match(await text(row), new RegExp(site.url.replace(/[.:/]/g, '\\$&')));

    // The visitor moves to the prices page: the console follows.
    await visitor.getByRole('link', { name: 'Prices' }).click();
    await visitor.waitForURL('**/prices');
    const frame2 = await chatFrame(visitor);
    await until(async () => assert.match(await text(row.getByTestId('desk-visitor-page')), /Prices — Sunny Clinic/));
    assert.equal(await row.count(), 1, 'the same visitor, not a new one');

    // Keyboard only: Tab to the launcher, Enter opens the chat with the focus in the message box.
    await visitor.keyboard.press('Tab');
    await visitor.keyboard.press('Tab');
    await until(async () => assert.equal(await visitor.evaluate(() => document.activeElement?.id), 'careline-widget'));
    await visitor.keyboard.press('Enter');
    await until(async () => assert.equal(await frame2.evaluate(() => document.activeElement?.id), 'text'));
    assert.equal(await visitor.getByRole('button', { name: 'Chat with us' }).getAttribute('aria-expanded'), 'true');
    await visitor.keyboard.type('Hello, are you open on Saturday?');
    await visitor.keyboard.press('Enter');
    await frame2.locator('#log li.me', { hasText: 'are you open on Saturday' }).waitFor();
    // Waiting: the visitor's place in the queue.
    await until(async () => assert.match(await text(frame2.locator('#status')), /next in the queue|number 1 in the queue/));
    await assertAccessible(frame2 as unknown as Page, 'widget chat (waiting)');
    await screenshot(visitor, 'desk-widget-waiting');

    // The console: the chat waits in the queue, with its waiting time.
    const item = nurse.getByTestId('desk-queue-item');
    await until(async () => assert.equal(await item.count(), 1));
    await until(async () => assert.match(await text(item.getByTestId('desk-waiting')), /waiting \d+s/));
    await until(async () => assert.match(await text(row), /In chat \(waiting\)/));
    // Acknowledge ("seen, will handle"): the queue shows who.
    await item.getByRole('button', { name: /Mark the chat of visitor .* as seen/ }).click();
    await until(async () => assert.match(await text(item.getByTestId('desk-acked')), /Seen by Nurse Li/));
    await assertAccessible(nurse, 'staff console (queue)');
    await screenshot(nurse, 'desk-console-queue');

    // Claim, read the question, answer.
    await item.getByTestId('desk-claim').click();
    const chat = nurse.getByTestId('desk-chat');
    await until(async () => assert.equal(await chat.getAttribute('data-state'), 'active'));
    await chat.getByText('Hello, are you open on Saturday?').waitFor();
    await until(async () => assert.equal(await item.count(), 0));
    await nurse.getByTestId('desk-reply').fill('Yes, on Saturdays from 9:00 to 13:00.');
    await nurse.getByTestId('desk-reply').press('Enter');
    await chat.locator('.desk-msg.mine', { hasText: 'Saturdays from 9:00' }).waitFor();

    // The visitor sees who took the chat and the answer.
    await frame2.locator('#log li.them', { hasText: 'Yes, on Saturdays from 9:00 to 13:00.' }).waitFor();
    await until(async () => assert.match(await text(frame2.locator('#status')), /Nurse Li is answering you|^$/));
    assert.equal(await frame2.locator('body').getAttribute('data-transport'), 'websocket');
    await visitor.keyboard.type('Thank you!');
    await visitor.keyboard.press('Enter');
    await chat.getByText('Thank you!').waitFor();
    await assertAccessible(frame2 as unknown as Page, 'widget chat (answered)');
    await screenshot(visitor, 'desk-widget-chat');
    await assertAccessible(nurse, 'staff console (chat)');
    await screenshot(nurse, 'desk-console-chat');

    // Close with an outcome: the visitor is told.
    await nurse.getByTestId('desk-close').click();
    await nurse.getByTestId('desk-outcome').selectOption('resolved');
    await nurse.getByTestId('desk-close-submit').click();
    await until(async () => assert.equal(await chat.getAttribute('data-state'), 'closed'));
    await until(async () => assert.match(await text(frame2.locator('#status')), /The chat has ended/));

    // Escape closes the chat and gives the focus back to the launcher.
    await frame2.locator('#text').focus();
    await visitor.keyboard.press('Escape');
    await until(async () => assert.equal(await visitor.getByRole('button', { name: 'Chat with us' }).getAttribute('aria-expanded'), 'false'));
    await until(async () => assert.equal(await visitor.evaluate(() => document.activeElement?.id), 'careline-widget'));
    assert.deepEqual(pageErrors, []);
  });

  it('goes on over long-polling where WebSockets are refused, and in Chinese', async () => {
    const zhSite = await startWebsite(t.url, key, 'zh-CN');
    try {
      const visitor = await newPage(visitorBrowser, 'visitor-lp', { locale: 'zh-CN' });
      await visitor.context().addInitScript(() => {
        const Refused = function () {
          throw new DOMException('WebSocket is disabled here', 'SecurityError');
        };
        Object.defineProperty(window, 'WebSocket', { value: Refused, configurable: false, writable: false });
      });
      const nurse = await newPage(staffBrowser, 'staff-2');
      await visitor.goto(zhSite.url);
      await visitor.getByRole('button', { name: '在线咨询' }).click();
      const frame = await chatFrame(visitor);
      await until(async () => assert.equal(await frame.locator('body').getAttribute('data-transport'), 'longpoll'));
      await frame.locator('#text').fill('周六营业吗?');
      await frame.getByRole('button', { name: '发送' }).click();
      await until(async () => assert.match(await text(frame.locator('#status')), /排第 \d+ 位|下一位就是您/));

      const drChen = await t.user('dr-chen', 'doctor', 'Dr. Chen');
      await nurse.goto(`${t.url}/desk#token=${encodeURIComponent(drChen.token)}`);
      const item = nurse.getByTestId('desk-queue-item');
      await until(async () => assert.ok((await item.count()) >= 1));
      await item.last().getByTestId('desk-claim').click();
      const chat = nurse.getByTestId('desk-chat');
      await chat.getByText('周六营业吗?').waitFor();
      await nurse.getByTestId('desk-reply').fill('周六 9:00–13:00 营业。');
      await nurse.getByTestId('desk-send').click();
      await frame.locator('#log li.them', { hasText: '周六 9:00–13:00 营业。' }).waitFor();
      await assertAccessible(frame as unknown as Page, 'widget chat (Chinese, long-polling)');
      await screenshot(visitor, 'desk-widget-chinese');
      assert.deepEqual(pageErrors, []);
    } finally {
      await new Promise((r) => zhSite.server.close(r));
    }
  });
});
