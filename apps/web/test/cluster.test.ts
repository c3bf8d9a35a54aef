/**
 * The web client, in a real browser (Debian's Chromium), through a real cluster: three
 * `careline start` nodes on one PostgreSQL and one Redis behind HAProxy, with the dev profile
 * as `npm run cluster` runs them (each node serves the web client and the demo sign-in). A
 * doctor and a patient open the balancer's address in their own browser contexts; their
 * WebSockets end up on two different nodes, so every message between them crosses nodes
 * through Redis. Then the patient's node is killed with SIGKILL: the page reconnects through
 * the balancer to a live node and chats on.
 *
 * Which node holds a page's WebSocket is read from two independent places: the push-node
 * registry (seed 002's `uid-pusher-addr-{uid}` in Redis, written by the node that holds the
 * user's connection) and each node's own connection count (`/monitor/api/ping`, asked of the
 * node directly, not through the balancer). The balancer (`balance leastconn`) usually puts
 * the second page on another node; if it did not, the patient's page reloads (a new
 * WebSocket through the balancer), a bounded number of times.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import type { Browser, BrowserContext, Locator, Page } from 'playwright-core';
import { startCluster, type ClusterNode, type TestCluster } from '../../../packages/server/test/support/cluster.ts';
import { launchChromium } from './support/browser.ts';

const TIMEOUT = 20_000;
const T = { timeout: 120_000 };
const DEMO_TENANT = 'demo';
const DOCTOR = 'dr.li';
const PATIENT = 'pt.zhang';

/** Polls `check` until it passes (or throws its last error after `timeout` ms). */
async function until<V>(check: () => Promise<V> | V, timeout = TIMEOUT): Promise<V> {
  const end = Date.now() + timeout;
  for (;;) {
    try {
      return await check();
    } catch (err) {
      if (Date.now() > end) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

const text = async (l: Locator) => (await l.count()) === 0 ? '' : (await l.first().innerText()).trim();

describe('the web client through a three-node cluster (PostgreSQL, Redis, HAProxy)', () => {
  let c: TestCluster;
  let redis: Redis;
  let browser: Browser;
  let conversation: string;
  const contexts: BrowserContext[] = [];
  let doctor: Page;
  let patient: Page;
  const pageErrors: string[] = [];
  /** The WebSockets each page opened, as the browser saw them. */
  const sockets = new Map<Page, { url: string; closed: boolean }[]>();

  before(async () => {
    c = await startCluster({ nodes: 3, profile: 'dev' });
    await c.waitBalanced();
    redis = new Redis(c.redis!.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    await redis.connect();
    browser = await launchChromium();
    const res = await fetch(`${c.url}/api/v2/demo/users`, { signal: AbortSignal.timeout(10_000) });
    assert.equal(res.status, 200);
    conversation = ((await res.json()) as { conversation_id: string }).conversation_id;
  }, { timeout: 150_000 });

  after(async () => {
    await browser?.close();
    redis?.disconnect();
    await c?.stop();
  }, { timeout: 60_000 });

  const log = (page: Page) => page.getByTestId('message-log');
  /** How many messages in the page's log hold exactly this text. */
  const shown = async (page: Page, body: string) =>
    (await log(page).locator('article.msg').allInnerTexts()).filter((s) => s.includes(body)).length;
  /** Waits until the page shows the message, then that it shows it once. */
  async function seesOnce(page: Page, body: string): Promise<void> {
    await log(page).getByText(body).first().waitFor({ timeout: TIMEOUT });
    assert.equal(await shown(page, body), 1, `"${body}" shown once`);
  }

  /** The node the registry names as holding the user's connection (null: none). */
  async function registryNode(userId: string): Promise<ClusterNode | null> {
    const address = await redis.get(`uid-pusher-addr-${DEMO_TENANT}:${userId}`);
    return c.nodes.find((n) => n.url === address) ?? null;
  }

  /** Each running node's own count of open connections, asked of the node directly. */
  async function connectionCounts(): Promise<Map<string, number>> {
    const counts = new Map<string, number>();
    for (const n of c.nodes.filter((x) => x.running())) {
      const res = await fetch(`${n.url}/monitor/api/ping`, { signal: AbortSignal.timeout(5000) });
      const body = (await res.json()) as { stats: { name: string; value: number }[] };
      counts.set(n.name, body.stats.find((s) => s.name === 'connections')!.value);
    }
    return counts;
  }

  /**
   * The nodes holding the doctor's and the patient's WebSockets, once the registry and the
   * nodes' own counts agree: one connection each, and none anywhere else.
   */
  async function placement(): Promise<{ doctorNode: ClusterNode; patientNode: ClusterNode }> {
    return until(async () => {
      const doctorNode = await registryNode(DOCTOR);
      const patientNode = await registryNode(PATIENT);
      assert.ok(doctorNode && doctorNode.running(), 'the registry names a live node for the doctor');
      assert.ok(patientNode && patientNode.running(), 'the registry names a live node for the patient');
      const counts = await connectionCounts();
      const want = new Map<string, number>([...counts.keys()].map((k) => [k, 0]));
      want.set(doctorNode.name, want.get(doctorNode.name)! + 1);
      want.set(patientNode.name, want.get(patientNode.name)! + 1);
      assert.deepEqual(Object.fromEntries(counts), Object.fromEntries(want), 'the nodes\' own connection counts match the registry');
      return { doctorNode, patientNode };
    });
  }

  async function open(who: string, button: string): Promise<Page> {
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: 'en-US', reducedMotion: 'reduce' });
    ctx.setDefaultTimeout(TIMEOUT);
    contexts.push(ctx);
    const page = await ctx.newPage();
    page.on('pageerror', (e) => pageErrors.push(`${who}: ${e.message}`));
    const list: { url: string; closed: boolean }[] = [];
    sockets.set(page, list);
    page.on('websocket', (ws) => {
      const s = { url: ws.url(), closed: false };
      list.push(s);
      ws.on('close', () => (s.closed = true));
    });
    // The balancer's address: the page, its API calls and its WebSocket all go through HAProxy.
    await page.goto(c.url);
    await page.getByRole('button', { name: button }).click();
    const item = page.locator(`[data-conversation="${conversation}"]`);
    await item.click();
    await page.waitForURL(`**/c/${encodeURIComponent(conversation)}`);
    await log(page).getByText('Hello Dr. Li').waitFor();
    return page;
  }

  async function send(page: Page, body: string): Promise<void> {
    await page.getByTestId('composer').fill(body);
    await page.getByTestId('composer').press('Enter');
  }

  it('a doctor and a patient on two different nodes chat both ways; each message is seen once', T, async (ctx) => {
    doctor = await open('doctor', 'Sign in as Dr. Li Wei');
    patient = await open('patient', 'Sign in as Zhang Min');
    let where = await placement();
    let reloads = 0;
    // leastconn usually spreads them; if not, the patient's page connects again (bounded).
    for (; where.doctorNode === where.patientNode && reloads < 6; reloads++) {
      await patient.reload();
      await log(patient).getByText('Hello Dr. Li').waitFor();
      where = await placement();
    }
    assert.notEqual(where.doctorNode.name, where.patientNode.name, 'the two pages\' WebSockets are on different nodes');
    ctx.diagnostic(`doctor on ${where.doctorNode.name}, patient on ${where.patientNode.name} (${reloads} reloads)`);

    await send(patient, 'Across nodes: patient to doctor');
    await seesOnce(doctor, 'Across nodes: patient to doctor');
    await send(doctor, 'Across nodes: doctor to patient');
    await seesOnce(patient, 'Across nodes: doctor to patient');
    // Read receipts cross too: each sees its own message read by the other.
    const status = (page: Page, body: string) => log(page).locator('article.msg.mine', { hasText: body }).last().getAttribute('data-status');
    await until(async () => assert.equal(await status(patient, 'Across nodes: patient to doctor'), 'read'));
    await until(async () => assert.equal(await status(doctor, 'Across nodes: doctor to patient'), 'read'));
    // Still on the same nodes, and still each message once.
    const now = await placement();
    assert.deepEqual([now.doctorNode.name, now.patientNode.name], [where.doctorNode.name, where.patientNode.name]);
    assert.equal(await shown(doctor, 'Across nodes: patient to doctor'), 1);
    assert.equal(await shown(patient, 'Across nodes: doctor to patient'), 1);
    assert.deepEqual(pageErrors, []);
  });

  it('the patient\'s node killed with SIGKILL: the page reconnects through the balancer to a live node and chats on', T, async (ctx) => {
    const before = await placement();
    const victim = before.patientNode;
    const ws = sockets.get(patient)!;
    const live = ws.filter((s) => !s.closed);
    assert.equal(live.length, 1, 'the patient\'s page has one WebSocket open');
    assert.ok(live[0]!.url.startsWith(c.url.replace(/^http/, 'ws')), `it goes through the balancer: ${live[0]!.url}`);
    const opened = ws.length;
    await victim.kill9();
    assert.equal(victim.running(), false);
    // The browser sees its WebSocket end, and the page opens a new one, through the balancer.
    await until(() => assert.ok(live[0]!.closed, 'the WebSocket to the killed node closed'));
    // Sent while the patient may still be away: she gets it by catch-up or live, once.
    await send(doctor, 'Sent while your node was down');
    await until(() => assert.ok(ws.length > opened && !ws.at(-1)!.closed, 'a new WebSocket is open'), 30_000);
    assert.ok(ws.at(-1)!.url.startsWith(c.url.replace(/^http/, 'ws')), `the new one goes through the balancer too: ${ws.at(-1)!.url}`);
    // The registry and the nodes' counts put it on a live node (the registry's key moves there).
    const after = await placement();
    ctx.diagnostic(`${victim.name} killed; the patient reconnected to ${after.patientNode.name}`);
    await until(async () => assert.equal(await patient.getByTestId('connection-banner').count(), 0), 30_000);
    await seesOnce(patient, 'Sent while your node was down');

    assert.notEqual(after.patientNode.name, victim.name, 'the patient is on a live node now');
    assert.equal(after.doctorNode.name, before.doctorNode.name, 'the doctor stayed where she was');
    assert.ok(after.patientNode.running());

    await send(patient, 'Back after the node died');
    await seesOnce(doctor, 'Back after the node died');
    await send(doctor, 'Glad you are back');
    await seesOnce(patient, 'Glad you are back');
    // Nothing doubled by the reconnection and its catch-up.
    for (const body of ['Across nodes: patient to doctor', 'Across nodes: doctor to patient', 'Sent while your node was down', 'Back after the node died', 'Glad you are back']) {
      assert.equal(await shown(doctor, body), 1, `doctor sees "${body}" once`);
      assert.equal(await shown(patient, body), 1, `patient sees "${body}" once`);
    }
    assert.deepEqual(pageErrors, []);
  });
});
