/**
 * The conference page in real browsers (Debian's Chromium with fake camera and microphone)
 * against a real Careline server and a real Janus (started by scripts/lib/janus.ts):
 * - a specialist and two clients go through every screen; all three join the started
 *   conference through Janus, and each page's `RTCPeerConnection.getStats()` shows audio and
 *   video packets arriving from each of the two others; the countdown counts down; one leaves;
 *   the specialist finishes and every page shows Finish;
 * - a cancelled conference shows Cancelled on the open pages at once;
 * - Hebrew renders right to left; a bad link shows the 4xx screen.
 * Screenshots of each screen: apps/web/screenshots/conference-*.png (`npm run screenshots`).
 */
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { startTestServer, type TestServer } from '@careline/server/testing';
import { startJanus, type JanusService } from '../../../scripts/lib/janus.ts';
import { CHROMIUM, screenshot, waitUntil } from './support/browser.ts';
import { assertAccessible } from './support/axe.ts';

const TIMEOUT = 30_000;
const VIEWPORT = { width: 1100, height: 760 };

const T0 = Date.now();
const mark = (what: string) => process.env.CONF_TRACE && console.log(`${((Date.now() - T0) / 1000).toFixed(1)}s ${what}`);

const until = (check: () => Promise<void> | void, timeout = TIMEOUT) => waitUntil(check, timeout, 100);

/** Chromium with a fake camera and microphone that never asks for permission. */
async function launchWithFakeMedia(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`Chromium not found at ${CHROMIUM}: run scripts/install-chromium (as root).`);
  if (!existsSync(new URL('../dist/index.html', import.meta.url))) throw new Error('apps/web/dist is missing: run `npm run build` first (`npm test` does).');
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream', '--autoplay-policy=no-user-gesture-required',
    ],
  });
}

interface Inbound {
  display: string;
  audio: number;
  video: number;
}

/** Audio and video packets this page received, per remote participant (from getStats). */
async function inbound(page: Page): Promise<Inbound[]> {
  return page.evaluate(async () => {
    const conf = (window as unknown as { careline_conference?: { room: { feeds: Map<string, { display: string; pc: RTCPeerConnection }> } } }).careline_conference;
    if (!conf) return [];
    const out: Inbound[] = [];
    for (const f of conf.room.feeds.values()) {
      const stats = await f.pc.getStats();
      const row = { display: f.display, audio: 0, video: 0 };
      stats.forEach((r: { type: string; kind?: string; packetsReceived?: number }) => {
        if (r.type === 'inbound-rtp' && (r.kind === 'audio' || r.kind === 'video')) row[r.kind] += r.packetsReceived ?? 0;
      });
      out.push(row);
    }
    return out.sort((a, b) => a.display.localeCompare(b.display));
  });
}

/** Packets this page sent (its publisher connection). */
async function outbound(page: Page): Promise<{ audio: number; video: number }> {
  return page.evaluate(async () => {
    const conf = (window as unknown as { careline_conference?: { room: { publisherPc?: RTCPeerConnection } } }).careline_conference;
    const row = { audio: 0, video: 0 };
    const pc = conf?.room.publisherPc;
    if (!pc) return row;
    (await pc.getStats()).forEach((r: { type: string; kind?: string; packetsSent?: number }) => {
      if (r.type === 'outbound-rtp' && (r.kind === 'audio' || r.kind === 'video')) row[r.kind] += r.packetsSent ?? 0;
    });
    return row;
  });
}

describe('the conference page in a browser', () => {
  let janus: JanusService;
  let t: TestServer;
  let browser: Browser;
  const contexts: BrowserContext[] = [];
  const pageErrors: string[] = [];
  /** Each page's console warnings and errors: a failed wait says what the page said. */
  const pageLogs = new WeakMap<Page, string[]>();

  before(async () => {
    janus = await startJanus();
    t = await startTestServer({
      config: {
        conferences: {
          janusUrl: janus.httpUrl,
          janusApiSecret: janus.apiSecret,
          janusAdminUrl: janus.adminUrl,
          janusAdminSecret: janus.adminSecret,
          janusPublicWsUrl: janus.wsUrl,
        },
      },
    });
    browser = await launchWithFakeMedia();
  });

  // Each test's pages close when it ends: their cameras and peer connections stop using the CPU.
  afterEach(async () => {
    for (const c of contexts.splice(0)) await c.close().catch(() => {});
  });

  after(async () => {
    for (const c of contexts) await c.close().catch(() => {});
    await browser?.close();
    await t?.stop();
    await janus?.stop();
    assert.deepEqual(pageErrors, []);
  });

  async function open(link: string, who: string, opts: { locale?: string } = {}): Promise<Page> {
    const ctx = await browser.newContext({ viewport: VIEWPORT, locale: opts.locale ?? 'en-US', reducedMotion: 'reduce', permissions: ['camera', 'microphone'] });
    ctx.setDefaultTimeout(TIMEOUT);
    contexts.push(ctx);
    const page = await ctx.newPage();
    page.on('pageerror', (e) => pageErrors.push(`${who}: ${e.message}`));
    const log: string[] = [];
    pageLogs.set(page, log);
    page.on('console', (m) => {
      if (/Content Security Policy/i.test(m.text())) pageErrors.push(`${who}: ${m.text()}`);
      if (m.type() === 'warning' || m.type() === 'error') log.push(m.text());
    });
    await page.goto(link);
    return page;
  }

  const screenOf = (page: Page) => page.getByTestId('conference-page').getAttribute('data-screen');
  const waitScreen = (page: Page, name: string) => until(async () => assert.equal(await screenOf(page), name));

  async function book(participants: { user_id: string; name: string; role: 'client' | 'specialist' }[], opts: { language?: string; duration?: number; title?: string; conversationId?: string } = {}) {
    const r = await t.call('POST', '/api/v2/conferences', {
      body: {
        user_id: participants[0]!.user_id,
        user_role: participants[0]!.role,
        info: {
          title: opts.title ?? 'Follow-up consultation',
          starts_at: Date.now(),
          duration_seconds: opts.duration ?? 1800,
          vertical: 'medicine',
          language: opts.language ?? 'en',
          participants,
          ...(opts.conversationId ? { conversation_id: opts.conversationId } : {}),
        },
      },
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const links = new Map<string, string>();
    for (const p of r.body.participants as { user_id: string; link: string; access_token: string }[]) {
      links.set(p.user_id, `${t.url}/conf/${p.access_token}`);
    }
    return { id: r.body.conference.id as string, link: (id: string) => links.get(id)! };
  }

  it('three participants go through the screens and see and hear each other through Janus', { timeout: 240_000 }, async () => {
    const conf = await book([
      { user_id: 'doc-1', name: 'Dr. Anna Petrova', role: 'specialist' },
      { user_id: 'pat-1', name: 'Ivan Ivanov', role: 'client' },
      { user_id: 'pat-2', name: 'Maria Ivanova', role: 'client' },
    ]);
    mark('test starts');
    const [doc, pat1, pat2] = await Promise.all([
      open(conf.link('doc-1'), 'specialist'),
      open(conf.link('pat-1'), 'client 1'),
      open(conf.link('pat-2'), 'client 2'),
    ]);

    await waitScreen(doc, 'pending-specialist');
    await waitScreen(pat1, 'pending-client');
    await waitScreen(pat2, 'pending-client');
    await doc.getByRole('button', { name: 'Open the consultation' }).waitFor();
    await pat1.getByText('The consultation has not started yet.').waitFor();
    await assertAccessible(doc, 'pending-specialist');
    mark('pending');
    await screenshot(doc, 'conference-pending-specialist');
    await screenshot(pat1, 'conference-pending-client');

    // The specialist opens: every page moves on at once (the conference socket).
    await doc.getByTestId('conf-open').click();
    await waitScreen(doc, 'join-specialist');
    await waitScreen(pat1, 'join-client');
    await waitScreen(pat2, 'join-client');
    await screenshot(doc, 'conference-join-specialist');
    await screenshot(pat1, 'conference-join-client');

    mark('opened');
    // All three join.
    mark('join clicked');
    await pat1.getByTestId('conf-join').click();
    await waitScreen(pat1, 'started');
    await waitScreen(doc, 'started');
    await waitScreen(pat2, 'started');
    for (const p of [doc, pat1, pat2]) {
      await until(async () => {
        const state = await p.getByTestId('conf-room').getAttribute('data-room-state');
        assert.equal(state, 'joined', state === 'error' ? await p.locator('.conf-error').allInnerTexts().then((x) => x.join(' | ')) : undefined);
      }, 30_000);
    }
    mark('all joined');
    for (const [who, p] of [['specialist', doc], ['client 1', pat1], ['client 2', pat2]] as const) {
      await until(async () => assert.equal(await p.getByTestId('conf-remote-video').count(), 2, `${who}'s remote videos; its console: ${JSON.stringify(pageLogs.get(p))}`), 30_000);
      mark('two remote videos');
      await p.getByTestId('conf-local-video').waitFor();
    }

    mark('all in the room');
    // Media flows to each from the two others: audio and video packets keep arriving.
    const names: Record<string, string[]> = {
      specialist: ['Ivan Ivanov', 'Maria Ivanova'],
      'client 1': ['Dr. Anna Petrova', 'Maria Ivanova'],
      'client 2': ['Dr. Anna Petrova', 'Ivan Ivanov'],
    };
    const pages: [string, Page][] = [['specialist', doc], ['client 1', pat1], ['client 2', pat2]];
    const first = new Map<string, Inbound[]>();
    for (const [who, page] of pages) {
      await until(async () => {
        const rows = await inbound(page);
        assert.deepEqual(rows.map((r) => r.display), names[who], who);
        for (const r of rows) assert.ok(r.audio > 0 && r.video > 0, `${who} receives from ${r.display}: ${JSON.stringify(r)}`);
        first.set(who, rows);
      }, 30_000);
      const sent = await outbound(page);
      assert.ok(sent.audio > 0 && sent.video > 0, `${who} sends: ${JSON.stringify(sent)}`);
    }
    for (const [who, page] of pages) {
      await until(async () => {
        const rows = await inbound(page);
        for (const r of rows) {
          const before = first.get(who)!.find((x) => x.display === r.display)!;
          assert.ok(r.audio > before.audio && r.video > before.video, `${who} keeps receiving from ${r.display}: ${JSON.stringify(before)} → ${JSON.stringify(r)}`);
        }
      });
    }
    mark('stats ok');
    // The remote videos play (frames decoded).
    await until(async () => {
      const sizes = await doc.$$eval('[data-testid="conf-remote-video"] video', (vs) => vs.map((v) => (v as HTMLVideoElement).videoWidth));
      assert.ok(sizes.length === 2 && sizes.every((w) => w > 0), JSON.stringify(sizes));
    });

    mark('videos play');
    // The countdown counts down.
    const remaining = async (p: Page) => Number(await p.getByTestId('conf-timer').first().getAttribute('data-remaining'));
    const r0 = await remaining(pat1);
    assert.ok(r0 > 1700 && r0 <= 1800, String(r0));
    await until(async () => assert.ok((await remaining(pat1)) <= r0 - 2, `${r0} → ${await remaining(pat1)}`));
    assert.match(await pat1.getByTestId('conf-timer').first().innerText(), /^\d\d:\d\d left$/);
    await screenshot(doc, 'conference-room');

    mark('timer ok');
    // A client leaves: the others see one video fewer; their page offers to come back.
    await pat2.getByTestId('conf-leave').click();
    await pat2.getByTestId('conf-rejoin').waitFor();
    await screenshot(pat2, 'conference-left');
    for (const p of [doc, pat1]) await until(async () => assert.equal(await p.getByTestId('conf-remote-video').count(), 1));

    // The specialist finishes: every page shows Finish.
    await doc.getByTestId('conf-finish').click();
    for (const p of [doc, pat1, pat2]) await waitScreen(p, 'finish');
    await pat1.getByText('The consultation has ended.').waitFor();
    await screenshot(pat1, 'conference-finish');
  });

  it('a cancelled conference shows Cancelled on the open pages at once', { timeout: 120_000 }, async () => {
    const conf = await book([
      { user_id: 'doc-2', name: 'Dr. Chen Jie', role: 'specialist' },
      { user_id: 'pat-3', name: 'Zhang Min', role: 'client' },
    ]);
    const [doc, pat] = await Promise.all([open(conf.link('doc-2'), 'specialist 2'), open(conf.link('pat-3'), 'client 3')]);
    await waitScreen(doc, 'pending-specialist');
    await waitScreen(pat, 'pending-client');
    // The pages hold their sockets before the booking system cancels.
    await new Promise((r) => setTimeout(r, 500));
    const r = await t.call('POST', `/api/v2/conferences/${conf.id}/cancel`, { body: { reason: 'the patient called' } });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    await waitScreen(pat, 'cancelled');
    await waitScreen(doc, 'cancelled');
    await pat.getByText('The consultation was cancelled.').waitFor();
    await assertAccessible(pat, 'cancelled');
    await screenshot(pat, 'conference-cancelled');
  });

  it('Hebrew renders right to left; Russian and Chinese pages; a bad link shows the 4xx screen', { timeout: 120_000 }, async () => {
    const conf = await book([
      { user_id: 'doc-3', name: 'ד״ר רחל כהן', role: 'specialist' },
      { user_id: 'pat-4', name: 'משה לוי', role: 'client' },
    ], { language: 'he', title: 'ייעוץ מעקב' });
    const pat = await open(conf.link('pat-4'), 'hebrew client');
    await waitScreen(pat, 'pending-client');
    assert.equal(await pat.evaluate(() => document.documentElement.dir), 'rtl');
    assert.equal(await pat.evaluate(() => document.documentElement.lang), 'he');
    const root = pat.getByTestId('conference-page');
    assert.equal(await root.getAttribute('dir'), 'rtl');
    assert.equal(await root.evaluate((el) => getComputedStyle(el).direction), 'rtl');
    await pat.getByText('התור עדיין לא התחיל.', { exact: false }).waitFor();
    // The title sits on the right, the language picker on the left.
    const title = await pat.locator('.conf-header h1').boundingBox();
    const picker = await pat.locator('.conf-header select').boundingBox();
    assert.ok(title && picker && title.x > picker.x, `title ${JSON.stringify(title)} picker ${JSON.stringify(picker)}`);
    await screenshot(pat, 'conference-hebrew');

    // The language picker switches the page (Russian, then Chinese), left to right again.
    await pat.locator('.conf-header select').selectOption('ru');
    await pat.getByText('Приём ещё не начат.', { exact: false }).waitFor();
    assert.equal(await root.getAttribute('dir'), 'ltr');
    await screenshot(pat, 'conference-russian');
    await pat.locator('.conf-header select').selectOption('zh');
    await pat.getByText('问诊尚未开始', { exact: false }).waitFor();
    await screenshot(pat, 'conference-chinese');

    const bad = await open(`${t.url}/conf/AAAAAAAAAAAAAAAAAAAAAAAA`, 'bad link');
    await waitScreen(bad, '4xx');
    await bad.getByText('This link is not valid or has expired.').waitFor();
    await screenshot(bad, 'conference-4xx');
  });

  it('the waiting room: each client sees their place in the queue; the specialist admits the next', { timeout: 150_000 }, async () => {
    await t.user('doc-4', 'doctor', 'Dr. Olga Smirnova');
    await t.user('pat-5', 'patient', 'Petr Sidorov');
    await t.user('pat-6', 'patient', 'Elena Orlova');
    const room = await t.conversation({ participants: ['doc-4', 'pat-5', 'pat-6'], type: 12, id: `wr-${Date.now()}`, name: 'Waiting room' });
    const specialist = { user_id: 'doc-4', name: 'Dr. Olga Smirnova', role: 'specialist' as const };
    const a = await book([specialist, { user_id: 'pat-5', name: 'Petr Sidorov', role: 'client' }], { conversationId: room });
    const b = await book([specialist, { user_id: 'pat-6', name: 'Elena Orlova', role: 'client' }], { conversationId: room });

    // Each client's page takes its place in the queue when it opens.
    const pa = await open(a.link('pat-5'), 'waiting client 1');
    await until(async () => assert.equal(await pa.getByTestId('conf-queue').innerText(), 'You are number 1 in the queue'));
    const pb = await open(b.link('pat-6'), 'waiting client 2');
    await until(async () => assert.equal(await pb.getByTestId('conf-queue').innerText(), 'You are number 2 in the queue'));
    await assertAccessible(pb, 'waiting room');
    await screenshot(pb, 'conference-waiting-room');

    // The specialist admits the next: the first client may join; the second moves up.
    const doc = await open(a.link('doc-4'), 'waiting-room specialist');
    await waitScreen(doc, 'pending-specialist');
    await doc.getByRole('button', { name: 'Admit the next patient' }).click();
    await waitScreen(pa, 'join-client');
    await waitScreen(doc, 'join-specialist');
    assert.equal(await pa.getByTestId('conf-join').isEnabled(), true);
    await until(async () => assert.equal(await pb.getByTestId('conf-queue').innerText(), 'You are number 1 in the queue'));
    assert.equal(await screenOf(pb), 'pending-client');
  });
});
