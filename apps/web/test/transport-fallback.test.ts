/**
 * The web client where WebSockets do not get through, in a real browser (Debian's Chromium
 * driven by playwright-core) against a real Careline server: the doctor's page has no usable
 * WebSocket at all (its constructor throws, as where a policy or an old browser disables it),
 * the patient reaches the server through a proxy that passes HTTP and refuses the WebSocket
 * upgrade of `/ws` (403), as hospital proxies do. Both go on over long-polling by themselves and chat live,
 * each message once and in order, and a reload catches up with what came meanwhile.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser, BrowserContext, Locator, Page } from 'playwright-core';
import { startTestServer, type TestServer } from '@careline/server/testing';
import { launchChromium, waitUntil, type DemoUser } from './support/browser.ts';

const TIMEOUT = 15_000;

const until = (check: () => Promise<void> | void, timeout = TIMEOUT) => waitUntil(check, timeout, 50);

const text = async (l: Locator) => (await l.count()) === 0 ? '' : (await l.first().innerText()).trim();

/** Every page of the context gets a WebSocket whose constructor throws. */
const NO_WEBSOCKET = `(() => {
  const Refused = function () { throw new DOMException('WebSocket is disabled here', 'SecurityError'); };
  Object.defineProperty(window, 'WebSocket', { value: Refused, configurable: false, writable: false });
})();`;

describe('the web client with WebSocket blocked', () => {
  let t: TestServer;
  let browser: Browser;
  let demo: { conversation_id: string; users: DemoUser[] };
  let doctorCtx: BrowserContext;
  let patientCtx: BrowserContext;
  let doctor: Page;
  let patient: Page;
  const pageErrors: string[] = [];
  /** Per page: WebSocket handshakes the browser completed, and long-poll requests made. */
  const seen = { doctor: { sockets: 0, polls: 0 }, patient: { sockets: 0, polls: 0 } };

  const log = (page: Page) => page.getByTestId('message-log');
  const bodies = async (page: Page) => (await log(page).locator('article.msg').allInnerTexts()).map((s) => s.trim());

  /** `want` appear in this order, each exactly once, in the page's message log. */
  async function inOrderOnce(page: Page, want: string[]): Promise<void> {
    await until(async () => {
      const all = await bodies(page);
      const at = want.map((w) => all.findIndex((s) => s.includes(w)));
      assert.ok(at.every((i) => i >= 0), `missing: ${want.filter((_, k) => at[k]! < 0).join(', ')}`);
      for (let k = 1; k < at.length; k++) assert.ok(at[k]! > at[k - 1]!, `out of order: ${want[k - 1]} / ${want[k]}`);
      for (const w of want) assert.equal(all.filter((s) => s.includes(w)).length, 1, `"${w}" shown more than once`);
    });
  }

  function track(page: Page, who: 'doctor' | 'patient'): void {
    page.on('pageerror', (e) => pageErrors.push(`${who}: ${e.message}`));
    page.on('websocket', (ws) => {
      // A WebSocket that got a frame from the server was not blocked.
      ws.on('framereceived', () => seen[who].sockets++);
    });
    page.on('request', (r) => {
      if (new URL(r.url()).pathname.startsWith('/api/v2/poll')) seen[who].polls++;
    });
  }

  async function newPage(): Promise<{ ctx: BrowserContext; page: Page }> {
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: 'en-US', reducedMotion: 'reduce' });
    ctx.setDefaultTimeout(TIMEOUT);
    return { ctx, page: await ctx.newPage() };
  }

  /**
   * A reverse proxy in front of the server on loopback: every HTTP request is passed on, every
   * WebSocket upgrade refused with 403 (counted).
   */
  let proxy: Server;
  let proxyUrl = '';
  let refusedUpgrades = 0;
  async function startRefusingProxy(): Promise<void> {
    const target = new URL(t.url);
    proxy = createServer((req, res) => {
      const up = request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      });
      up.on('error', () => res.destroy());
      res.on('close', () => up.destroy());
      req.pipe(up);
    });
    proxy.on('upgrade', (_req, socket) => {
      refusedUpgrades++;
      socket.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
  }

  before(async () => {
    t = await startTestServer({ config: { demo: true } });
    browser = await launchChromium();
    demo = (await (await fetch(`${t.url}/api/v2/demo/users`)).json()) as typeof demo;
    await startRefusingProxy();
  });

  after(async () => {
    await browser?.close();
    proxy?.closeAllConnections();
    await new Promise((resolve) => proxy ? proxy.close(resolve) : resolve(undefined));
    await t?.stop();
  });

  it('a doctor without WebSocket and a patient whose WebSocket URL is refused chat live over long-polling', async () => {
    [{ ctx: doctorCtx, page: doctor }, { ctx: patientCtx, page: patient }] = await Promise.all([newPage(), newPage()]);
    await doctorCtx.addInitScript(NO_WEBSOCKET);
    track(doctor, 'doctor');
    track(patient, 'patient');

    await Promise.all([doctor.goto(t.url), patient.goto(proxyUrl)]);
    await Promise.all([
      doctor.getByRole('button', { name: 'Sign in as Dr. Li Wei' }).click(),
      patient.getByRole('button', { name: 'Sign in as Zhang Min' }).click(),
    ]);
    const conv = demo.conversation_id;
    for (const page of [doctor, patient]) {
      await page.locator(`[data-conversation="${conv}"]`).click();
      await log(page).getByText('Hello Dr. Li').waitFor();
      // Connected (no banner), over long-polling.
      await until(async () => assert.equal(await page.getByTestId('connection-banner').count(), 0));
      await until(async () => assert.equal(await page.getByTestId('shell').getAttribute('data-transport'), 'longpoll'));
    }

    // Typing reaches the other side (a live frame with no cursor: the poll session carries it).
    await patient.getByTestId('composer').pressSequentially('Good morning');
    await until(async () => assert.match(await text(doctor.getByTestId('chat-subtitle')), /Zhang Min is typing/));
    await patient.getByTestId('composer').press('Enter');
    await log(doctor).getByText('Good morning').waitFor();

    // Several messages each way, quickly: each once, in order, on both sides.
    const fromDoctor = ['Doctor one', 'Doctor two', 'Doctor three', 'Doctor four'];
    for (const m of fromDoctor) {
      await doctor.getByTestId('composer').fill(m);
      await doctor.getByTestId('composer').press('Enter');
    }
    const fromPatient = ['Patient one', 'Patient two', 'Patient three'];
    for (const m of fromPatient) {
      await patient.getByTestId('composer').fill(m);
      await patient.getByTestId('composer').press('Enter');
    }
    for (const page of [doctor, patient]) {
      await inOrderOnce(page, ['Good morning', ...fromDoctor]);
      await inOrderOnce(page, ['Good morning', ...fromPatient]);
    }
    // Acked (stored) and read by the other side, who has the conversation open.
    await until(async () => assert.equal(await log(doctor).locator('article.msg.mine', { hasText: 'Doctor four' }).getAttribute('data-status'), 'read'));
    await until(async () => assert.equal(await log(patient).locator('article.msg.mine', { hasText: 'Patient three' }).getAttribute('data-status'), 'read'));

    assert.equal(seen.doctor.sockets + seen.patient.sockets, 0, 'no WebSocket got through');
    assert.ok(refusedUpgrades > 0, 'the patient tried the WebSocket, and the proxy refused it');
    assert.ok(seen.doctor.polls > 0 && seen.patient.polls > 0, `both polled: ${JSON.stringify(seen)}`);
    assert.deepEqual(pageErrors, []);
  });

  it('a reload catches up with what was sent meanwhile, once and in order, still without WebSocket', async () => {
    const conv = demo.conversation_id;
    // The patient reloads while the doctor writes (through REST, as another device would).
    const doctorToken = demo.users.find((u) => u.id === 'dr.li')!.token;
    const refusedBefore = refusedUpgrades;
    const reloading = patient.reload();
    const during = ['While reloading one', 'While reloading two', 'While reloading three'];
    for (const m of during) {
      const r = await t.call('POST', `/api/v2/sessions/${encodeURIComponent(conv)}/messages`, { token: doctorToken, body: { type: 1, content: { text: m } } });
      assert.equal(r.status, 200, JSON.stringify(r.body));
    }
    await reloading;
    await until(async () => assert.equal(await patient.getByTestId('shell').getAttribute('data-transport'), 'longpoll'));
    await inOrderOnce(patient, ['Doctor four', ...during]);
    // The tab remembered that it had to fall back: no new WebSocket attempt.
    assert.equal(refusedUpgrades, refusedBefore, 'the reloaded page started on long-polling');
    // And live again after the reload, both ways.
    await doctor.getByTestId('composer').fill('After the reload');
    await doctor.getByTestId('composer').press('Enter');
    await patient.getByTestId('composer').fill('Still here');
    await patient.getByTestId('composer').press('Enter');
    await inOrderOnce(patient, [...during, 'After the reload']);
    await inOrderOnce(doctor, [...during, 'After the reload']);
    await inOrderOnce(doctor, ['Patient three', 'Still here']);
    assert.equal(seen.doctor.sockets + seen.patient.sockets, 0, 'no WebSocket got through');
    assert.deepEqual(pageErrors, []);
  });
});
