/**
 * A real call in Chromium (Debian's, driven by playwright-core, with its fake camera and
 * microphone: `--use-fake-device-for-media-stream --use-fake-ui-for-media-stream`), against a
 * real Careline server and a real coturn (scripts/lib/coturn.ts, started here on loopback with
 * a shared secret; the server hands out TURN REST API credentials with each call):
 *
 *  - the doctor calls the patient from the chat (video); the call rings on both of the
 *    patient's signed-in devices; the patient accepts on one, the other stops ringing; both
 *    sides' `RTCPeerConnection.getStats()` show audio and video packets flowing both ways;
 *    mute and camera toggle; the doctor hangs up and the call record is in both histories;
 *  - the same call forced through TURN (`iceTransportPolicy: 'relay'`): the selected candidate
 *    pair is relay ↔ relay, and media still flows both ways.
 *
 * The peer connections are watched with an init script that keeps each one the page creates
 * (nothing in the client is there for the test). Screenshots: call-incoming, call-in-call.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { startTestServer, type TestServer } from '@careline/server/testing';
import { startCoturn, type CoturnService } from '../../../packages/server/test/support/coturn.ts';
import { CHROMIUM, launchChromium, screenshot, waitUntil, type DemoUser } from './support/browser.ts';

const DESKTOP = { width: 1280, height: 800 };
const TIMEOUT = 30_000;

const until = (check: () => Promise<void> | void, timeout = TIMEOUT) => waitUntil(check, timeout, 100);

/** What the page's newest peer connection reports: packets each way by kind, and the selected pair's candidate types. */
interface Flow {
  policy: string;
  state: string;
  inAudio: number;
  inVideo: number;
  outAudio: number;
  outVideo: number;
  local: string | null;
  remote: string | null;
}

const WATCH_PEERS = `(() => {
  const Native = window.RTCPeerConnection;
  window.__peers = [];
  window.RTCPeerConnection = class extends Native {
    constructor(config) {
      super(config);
      window.__peers.push(this);
    }
  };
})();`;

async function flow(page: Page): Promise<Flow> {
  return page.evaluate(async () => {
    const peers = (window as unknown as { __peers: RTCPeerConnection[] }).__peers;
    const pc = peers[peers.length - 1];
    if (!pc) throw new Error('no peer connection in the page');
    const stats = await pc.getStats();
    const out = { policy: pc.getConfiguration().iceTransportPolicy ?? 'all', state: pc.connectionState, inAudio: 0, inVideo: 0, outAudio: 0, outVideo: 0, local: null as string | null, remote: null as string | null };
    let pairId: string | undefined;
    stats.forEach((r: Record<string, unknown>) => {
      if (r.type === 'inbound-rtp') out[r.kind === 'audio' ? 'inAudio' : 'inVideo'] += Number(r.packetsReceived ?? 0);
      if (r.type === 'outbound-rtp') out[r.kind === 'audio' ? 'outAudio' : 'outVideo'] += Number(r.packetsSent ?? 0);
      if (r.type === 'transport' && typeof r.selectedCandidatePairId === 'string') pairId = r.selectedCandidatePairId;
    });
    const pair = pairId ? (stats.get(pairId) as Record<string, unknown> | undefined) : undefined;
    if (pair) {
      out.local = String((stats.get(String(pair.localCandidateId)) as Record<string, unknown> | undefined)?.candidateType ?? '');
      out.remote = String((stats.get(String(pair.remoteCandidateId)) as Record<string, unknown> | undefined)?.candidateType ?? '');
    }
    return out;
  });
}

/** Packets flow both ways, audio and video: each count grows past `min` (and past what it was before). */
async function mediaFlows(page: Page, min = 20): Promise<Flow> {
  // The caller's peer connection comes a moment after the call is answered (its offer follows the accept).
  let first: Flow | undefined;
  await until(async () => {
    first = await flow(page);
  });
  if (!first) throw new Error('no peer connection');
  let last = first;
  await until(async () => {
    last = await flow(page);
    for (const k of ['inAudio', 'inVideo', 'outAudio', 'outVideo'] as const) {
      assert.ok(last[k] > min && last[k] > first![k], `${k}: ${JSON.stringify(last)}`);
    }
  });
  return last;
}

describe('calls in the web client (Chromium, fake media, coturn)', () => {
  let t: TestServer;
  let turn: CoturnService;
  let browser: Browser;
  let demo: { conversation_id: string; users: DemoUser[] };
  const contexts: BrowserContext[] = [];
  const pageErrors: string[] = [];

  before(async () => {
    turn = await startCoturn();
    t = await startTestServer({ config: { demo: true, calls: { turn: { urls: turn.urls.join(','), secret: turn.secret, ttl: 600 } } } });
    // The project's Chromium, as every browser test starts it, with the fake camera and microphone.
    await (await launchChromium()).close();
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync',
        '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream', '--autoplay-policy=no-user-gesture-required'],
    });
    demo = (await (await fetch(`${t.url}/api/v2/demo/users`)).json()) as typeof demo;
  });

  after(async () => {
    await browser?.close();
    await t?.stop();
    await turn?.stop();
  });

  /** A signed-in page of a demo user (a fresh token each: another device of the same user). */
  async function signedIn(userId: string, who: string): Promise<Page> {
    const fresh = (await (await fetch(`${t.url}/api/v2/demo/users`)).json()) as typeof demo;
    const token = fresh.users.find((u) => u.id === userId)!.token;
    const ctx = await browser.newContext({ viewport: DESKTOP, locale: 'en-US', reducedMotion: 'reduce', permissions: ['camera', 'microphone'] });
    contexts.push(ctx);
    ctx.setDefaultTimeout(TIMEOUT);
    await ctx.addInitScript(WATCH_PEERS);
    const page = await ctx.newPage();
    page.on('pageerror', (e) => pageErrors.push(`${who}: ${e.message}`));
    page.on('console', (m) => {
      if (/Content Security Policy/i.test(m.text())) pageErrors.push(`${who}: ${m.text()}`);
    });
    await page.goto(`${t.url}/#token=${token}`);
    await page.getByTestId('shell').waitFor();
    return page;
  }

  async function openChat(page: Page): Promise<void> {
    await page.locator(`[data-conversation="${demo.conversation_id}"]`).first().click();
    await page.getByTestId('chat').waitFor();
  }

  const doctorId = () => demo.users.find((u) => u.role === 'doctor')!.id;
  const patientId = () => demo.users.find((u) => u.role === 'patient')!.id;

  let doctor: Page;
  let patient: Page;
  let patientPhone: Page;

  it('the doctor calls the patient from the chat; it rings on both patient devices; accepted on one, media flows both ways', { timeout: 300_000 }, async () => {
    doctor = await signedIn(doctorId(), 'doctor');
    patient = await signedIn(patientId(), 'patient');
    patientPhone = await signedIn(patientId(), 'patient (second device)');
    await openChat(doctor);
    await openChat(patient);

    await doctor.getByTestId('call-video').click();
    await doctor.getByTestId('call-view').waitFor();
    assert.equal(await doctor.getByTestId('call-view').getAttribute('data-phase'), 'outgoing');
    // Rings on every signed-in device of the patient.
    await patient.getByTestId('call-incoming').waitFor();
    await patientPhone.getByTestId('call-incoming').waitFor();
    assert.match(await patient.getByTestId('call-incoming').innerText(), /is calling you \(video\)/);
    await screenshot(patient, 'call-incoming');

    await patient.getByTestId('call-accept').click();
    // The other device stops ringing.
    await until(async () => assert.equal(await patientPhone.getByTestId('call-incoming').count(), 0));
    assert.match(await patientPhone.getByTestId('call-notice').innerText(), /Answered on another device/);

    await until(async () => assert.equal(await doctor.getByTestId('call-view').getAttribute('data-phase'), 'active'));
    const [d, p] = await Promise.all([mediaFlows(doctor), mediaFlows(patient)]);
    assert.equal(d.state, 'connected');
    assert.equal(p.state, 'connected');
    assert.equal(d.policy, 'all');
    // The other device took no part in the media.
    assert.equal(await patientPhone.evaluate(() => (window as unknown as { __peers: unknown[] }).__peers.length), 0);
    // Both sides show the other's video and the call time.
    await doctor.getByTestId('call-remote-video').waitFor();
    await patient.getByTestId('call-remote-video').waitFor();
    await until(async () => assert.match(await doctor.getByTestId('call-timer').innerText(), /Call time \d+:\d\d/));
    await until(async () => assert.ok(await doctor.getByTestId('call-remote-video').evaluate((v: HTMLVideoElement) => v.videoWidth > 0 && v.currentTime > 0)));

    // Mute and camera: the local tracks turn off and on.
    await doctor.getByTestId('call-mute').click();
    assert.equal(await doctor.getByTestId('call-mute').getAttribute('aria-pressed'), 'true');
    await doctor.getByTestId('call-camera').click();
    assert.equal(await doctor.getByTestId('call-camera').getAttribute('aria-pressed'), 'true');
    await doctor.getByTestId('call-camera').click();
    await doctor.getByTestId('call-mute').click();
    assert.equal(await doctor.getByTestId('call-mute').getAttribute('aria-pressed'), 'false');
    await screenshot(doctor, 'call-in-call');

    await doctor.getByTestId('call-hangup').click();
    await until(async () => assert.equal(await patient.getByTestId('call-view').count(), 0));
    // The call record, answered, in both histories.
    for (const page of [doctor, patient]) {
      const record = page.getByTestId('message-log').getByTestId('call-record').last();
      await record.waitFor();
      assert.equal(await record.getAttribute('data-answered'), 'true');
      assert.match(await record.innerText(), /Video call · Duration \d+:\d\d/);
    }
  });

  it('the same call forced through coturn (iceTransportPolicy relay): relay candidates, media both ways', { timeout: 300_000 }, async () => {
    for (const page of [doctor, patient]) await page.evaluate(() => localStorage.setItem('careline:calls:ice', 'relay'));
    const before = await doctor.evaluate(() => (window as unknown as { __peers: unknown[] }).__peers.length);
    await doctor.getByTestId('call-video').click();
    await patient.getByTestId('call-incoming').waitFor();
    await patient.getByTestId('call-accept').click();
    await until(async () => assert.equal(await doctor.evaluate(() => (window as unknown as { __peers: unknown[] }).__peers.length), before + 1));
    const [d, p] = await Promise.all([mediaFlows(doctor), mediaFlows(patient)]);
    for (const f of [d, p]) {
      assert.equal(f.policy, 'relay');
      assert.equal(f.state, 'connected');
      assert.equal(f.local, 'relay', JSON.stringify(f));
      assert.equal(f.remote, 'relay', JSON.stringify(f));
    }
    await patient.getByTestId('call-hangup').click();
    for (const page of [doctor, patient]) {
      await until(async () => assert.equal(await page.getByTestId('message-log').getByTestId('call-record').count(), 2));
    }
    // The records are in the stored history too, in order, one per call.
    const r = await t.call('GET', `/api/v2/sessions/${encodeURIComponent(demo.conversation_id)}/messages?limit=50`, { token: demo.users.find((u) => u.id === doctorId())!.token });
    const records = (r.body.messages as { type: number; seq: number; content: { answered: boolean; avType: string } }[]).filter((m) => m.type === 1002);
    assert.equal(records.length, 2);
    assert.ok(records.every((m) => m.content.answered && m.content.avType === 'video'));
    assert.ok(records[0]!.seq < records[1]!.seq);
    assert.deepEqual(pageErrors, []);
  });
});
