/**
 * Web Push in a real browser (Debian's Chromium driven by playwright-core) against a real
 * Careline server with a VAPID key pair made here. The patient signs in: the web client
 * registers its service worker (`/sw.js`), subscribes with the server's VAPID key and
 * registers the subscription as a Web install (OS type 3). Then the patient's tab is closed
 * (no live connection), the doctor writes, and the server sends the push to a local push
 * service (`packages/server/test/push/support/fake-webpush.ts`) that verifies the VAPID
 * signature and decrypts the aes128gcm payload with the subscription's private key. The
 * payload it decrypted is handed to the browser's service worker through the DevTools
 * protocol (`ServiceWorker.deliverPushMessage`), and the test asserts the notification the
 * service worker shows (`registration.getNotifications()`).
 *
 * The one thing not real: Chromium's own push service is Google's, which this machine cannot
 * reach, so `PushManager.subscribe` in the page is replaced (before the client's scripts run)
 * by one that answers a subscription of the local push service — made for the key the page
 * passed, which the test checks is the server's VAPID key.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import webpush from 'web-push';
import type { Browser, BrowserContext, CDPSession } from 'playwright-core';
import { startTestServer, type TestServer } from '@careline/server/testing';
import { startFakeWebPush, type FakeWebPush, type WebPushSubscriptionJson } from '../../../packages/server/test/push/support/fake-webpush.ts';
import { launchChromium } from './support/browser.ts';

const TIMEOUT = 15_000;
const SECRET = 'HbA1c 11.2%: insulin dose doubled';

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

/** Replaces the page's PushManager with one answering `sub` (the local push service's), recording the key it was asked for. */
function stubPushManager(sub: WebPushSubscriptionJson): void {
  const w = window as unknown as { __subscribedWith?: string };
  let current: PushSubscription | null = null;
  const toB64url = (buf: ArrayBuffer) => btoa(String.fromCharCode(...new Uint8Array(buf))).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  const fromB64url = (s: string) => Uint8Array.from(atob(s.replace(/-/g, '+').replace(/_/g, '/')), (c) => c.charCodeAt(0)).buffer;
  PushManager.prototype.subscribe = async function (opts?: PushSubscriptionOptionsInit) {
    const key = opts?.applicationServerKey;
    const bytes = key instanceof ArrayBuffer ? key : ArrayBuffer.isView(key) ? key.buffer.slice(key.byteOffset, key.byteOffset + key.byteLength) as ArrayBuffer : null;
    w.__subscribedWith = bytes ? toB64url(bytes) : String(key);
    current = {
      endpoint: sub.endpoint, expirationTime: null,
      options: { userVisibleOnly: opts?.userVisibleOnly ?? false, applicationServerKey: bytes },
      getKey: (name: PushEncryptionKeyName) => fromB64url(sub.keys[name]),
      toJSON: () => sub,
      unsubscribe: async () => {
        current = null;
        return true;
      },
    } as unknown as PushSubscription;
    return current;
  };
  PushManager.prototype.getSubscription = async function () {
    return current;
  };
}

describe('Web Push in the web client: service worker, subscription, notification', () => {
  let dir: string;
  let wp: FakeWebPush;
  let t: TestServer;
  let browser: Browser;
  let ctx: BrowserContext;
  const vapid = webpush.generateVAPIDKeys();
  let demo: { tenant_id: string; conversation_id: string; users: { id: string; name: string; token: string }[] };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'careline-webpush-web-'));
    wp = await startFakeWebPush();
    const caFile = join(dir, 'ca.pem');
    writeFileSync(caFile, wp.ca);
    t = await startTestServer({
      config: {
        demo: true,
        push: { pollMs: 20, retryBaseMs: 20, retryMaxMs: 200, webpush: { publicKey: vapid.publicKey, privateKey: vapid.privateKey, subject: 'mailto:ops@careline.test', caFile } },
      },
    });
    browser = await launchChromium();
    demo = (await (await fetch(`${t.url}/api/v2/demo/users`)).json()) as typeof demo;
  });

  after(async () => {
    await browser?.close();
    await t?.stop();
    await wp?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('the tab closed, a doctor writes: the service worker shows a notification with the generic title and no message text', { timeout: 90_000 }, async () => {
    ctx = await browser.newContext({ locale: 'en-US' });
    ctx.setDefaultTimeout(TIMEOUT);
    await ctx.grantPermissions(['notifications'], { origin: t.url });
    const sub = wp.subscribe(vapid.publicKey);
    await ctx.addInitScript(stubPushManager, sub);
    // A second tab of the context stays open for the DevTools session (the patient's tab closes).
    const keeper = await ctx.newPage();
    const cdp: CDPSession = await ctx.newCDPSession(keeper);
    const registrations: { registrationId: string; scopeURL: string; isDeleted: boolean }[] = [];
    cdp.on('ServiceWorker.workerRegistrationUpdated', (e) => registrations.push(...e.registrations));
    const versions: { status: string; running: string }[] = [];
    cdp.on('ServiceWorker.workerVersionUpdated', (e) => versions.push(...e.versions.map((v) => ({ status: v.status, running: v.runningStatus }))));
    await cdp.send('ServiceWorker.enable');

    const page = await ctx.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(t.url);
    await page.getByRole('button', { name: 'Sign in as Zhang Min' }).click();

    // The client registered its service worker and the subscription, for the server's key.
    const patient = 'pt.zhang';
    const device = await until(async () => {
      const ds = await t.server.core.storage.devices.listForUser(demo.tenant_id, patient);
      const d = ds.find((x) => x.vendor === 'webpush');
      assert.ok(d, 'a webpush device registered');
      return d;
    });
    assert.equal(device.os_type, 3);
    assert.deepEqual(JSON.parse(device.push_token!), sub);
    assert.equal(await page.evaluate(() => (window as unknown as { __subscribedWith?: string }).__subscribedWith), vapid.publicKey);
    const reg = await until(() => {
      const r = registrations.find((x) => x.scopeURL === `${t.url}/` && !x.isDeleted);
      assert.ok(r, 'the service worker is registered for the whole origin');
      return r;
    });
    const worker = await until(() => {
      const w = ctx.serviceWorkers().find((x) => x.url() === `${t.url}/sw.js`);
      assert.ok(w, 'the service worker runs');
      return w;
    });

    // The tab closes: the patient has no live connection anywhere.
    await page.close();
    await until(async () => assert.equal((await t.server.core.presence.status(demo.tenant_id, patient)).online, false));

    const doctor = demo.users.find((u) => u.id === 'dr.li')!;
    const r = await t.call('POST', `/api/v2/sessions/${encodeURIComponent(demo.conversation_id)}/messages`, {
      token: doctor.token, body: { type: 1, content: { text: SECRET } },
    });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const messageId = r.body.message.id as string;

    // The local push service verified the VAPID signature and decrypted the push.
    const pushed = await until(() => {
      const d = wp.delivered.find((x) => JSON.parse(x.text).data?.message_id === messageId);
      assert.ok(d, 'the push reached the push service');
      return d;
    });
    assert.equal(`${wp.url}/push/${pushed.id}`, sub.endpoint);
    assert.deepEqual(wp.rejected, []);
    for (const secret of ['HbA1c', 'insulin', 'Li Wei', 'Zhang']) assert.ok(!pushed.text.includes(secret), `no "${secret}" in the push`);

    // The browser's push service would hand the decrypted payload to the service worker: the
    // DevTools protocol does. Like a push service, it hands it again if none was shown after
    // a while: under a loaded run, a delivery that meets the worker while the browser is
    // stopping or starting it can be dropped (the notification of the same tag replaces the
    // last, so one is shown whatever the number of deliveries).
    let delivered = 0;
    let lastDelivery = 0;
    const deliver = async () => {
      delivered++;
      lastDelivery = Date.now();
      await cdp.send('ServiceWorker.deliverPushMessage', { origin: t.url, registrationId: reg.registrationId, data: pushed.text });
    };
    await deliver();
    const shown = await until(async () => {
      // The worker running now (the browser may have stopped the one found earlier, and started another for the push).
      const current = ctx.serviceWorkers().filter((x) => x.url() === `${t.url}/sw.js`).at(-1) ?? worker;
      const list = await current.evaluate(async () => {
        const ns: Notification[] = await (self as unknown as { registration: ServiceWorkerRegistration }).registration.getNotifications();
        return ns.map((n) => ({ title: n.title, body: n.body, tag: n.tag, data: n.data as Record<string, unknown> }));
      });
      if (list.length === 0 && Date.now() - lastDelivery > 3000) await deliver();
      assert.equal(list.length, 1, `notifications shown after ${delivered} deliveries; worker states: ${JSON.stringify(versions.slice(-6))}`);
      return list[0]!;
    }, 30_000);
    assert.equal(shown.title, 'New message from your care team');
    assert.equal(shown.body, '');
    assert.equal(shown.tag, demo.conversation_id);
    assert.equal(shown.data.message_id, messageId);
    assert.equal(shown.data.conversation_id, demo.conversation_id);
    assert.deepEqual(errors, []);
    await ctx.close();
  });
});
