/**
 * The webhook and third-party app stores (`WebhookStore`, `OAuthAppStore`) contract: every
 * backend runs these same tests. A backend's test file calls `webhooksContract(name, open)`
 * with a function that opens a fresh, empty, migrated storage.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Storage } from '../../src/domain/ports.ts';
import type { WebhookAttempt, WebhookSubscription } from '../../src/domain/types.ts';

export type OpenWebhookStorage = () => Promise<{ storage: Storage; cleanup: () => Promise<void> }>;

const T = 'tenant-a';
const T2 = 'tenant-b';
const NOW = 1_800_000_000_000;

let n = 0;
function sub(over: Partial<WebhookSubscription> = {}): WebhookSubscription {
  const id = `wh-${String(++n).padStart(4, '0')}`;
  return {
    id, tenant_id: T, url: 'https://hooks.example.org/careline', events: ['message.created'], description: null, secret: 'whsec_0123456789abcdef',
    status: 'active', disabled_reason: null, disabled_at: null, failures: 0, created_at: NOW, updated_at: NOW, ...over,
  };
}
let a = 0;
function attempt(s: WebhookSubscription, ok: boolean, over: Partial<WebhookAttempt> = {}): WebhookAttempt {
  return {
    id: `at-${String(++a).padStart(6, '0')}`, tenant_id: s.tenant_id, subscription_id: s.id, delivery_id: 'job-1', event_id: 'evt-1', event_type: 'message.created',
    attempt: 1, ok, status_code: ok ? 200 : 500, latency_ms: 12, error: ok ? null : 'HTTP 500', at: NOW, ...over,
  };
}

export function webhooksContract(name: string, open: OpenWebhookStorage): void {
  describe(`webhooks contract: ${name}`, () => {
    let s: Storage;
    let cleanup: () => Promise<void>;

    before(async () => {
      ({ storage: s, cleanup } = await open());
    });
    after(async () => {
      await s.close();
      await cleanup();
    });

    it('creates, reads, lists by id and keeps tenants apart', async () => {
      const x = sub({ events: ['message.created', 'topic.started'], description: 'EHR' });
      const y = sub({ tenant_id: T2 });
      await s.webhooks.create(x);
      await s.webhooks.create(y);
      assert.deepEqual(await s.webhooks.get(T, x.id), x);
      assert.equal(await s.webhooks.get(T2, x.id), null);
      assert.equal(await s.webhooks.get(T, y.id), null);
      assert.deepEqual((await s.webhooks.list(T2)).map((w) => w.id), [y.id]);
      assert.ok((await s.webhooks.list(T)).some((w) => w.id === x.id));
    });

    it('updates: a manual disable says so, enabling again resets the failure streak', async () => {
      const x = sub();
      await s.webhooks.create(x);
      const d = await s.webhooks.update(T, x.id, { status: 'disabled', url: 'https://other.example.org/h' }, NOW + 1);
      assert.equal(d?.status, 'disabled');
      assert.equal(d?.disabled_reason, 'manual');
      assert.equal(d?.url, 'https://other.example.org/h');
      await s.webhooks.recordAttempt(attempt(x, false), 100);
      assert.equal((await s.webhooks.get(T, x.id))?.failures, 1);
      const e = await s.webhooks.update(T, x.id, { status: 'active', events: ['*'] }, NOW + 2);
      assert.deepEqual({ status: e?.status, reason: e?.disabled_reason, failures: e?.failures, events: e?.events }, { status: 'active', reason: null, failures: 0, events: ['*'] });
      assert.deepEqual(await s.webhooks.get(T, x.id), e);
      assert.equal(await s.webhooks.update(T2, x.id, { status: 'disabled' }, NOW), null);
    });

    it('records attempts: failures add up, a success resets them, the one reaching the limit disables (once)', async () => {
      const x = sub();
      await s.webhooks.create(x);
      assert.deepEqual(await s.webhooks.recordAttempt(attempt(x, false), 3), { disabled: false });
      assert.deepEqual(await s.webhooks.recordAttempt(attempt(x, false), 3), { disabled: false });
      await s.webhooks.recordAttempt(attempt(x, true), 3);
      assert.equal((await s.webhooks.get(T, x.id))?.failures, 0);
      const results = await Promise.all([1, 2, 3, 4, 5].map(() => s.webhooks.recordAttempt(attempt(x, false, { at: NOW + 5 }), 3)));
      assert.equal(results.filter((r) => r.disabled).length, 1);
      const after = await s.webhooks.get(T, x.id);
      assert.deepEqual({ status: after?.status, reason: after?.disabled_reason, at: after?.disabled_at }, { status: 'disabled', reason: 'failing', at: NOW + 5 });
    });

    it('lists attempts newest first, by page and by delivery', async () => {
      const x = sub();
      await s.webhooks.create(x);
      const made = [attempt(x, false, { delivery_id: 'd1' }), attempt(x, true, { delivery_id: 'd1', attempt: 2 }), attempt(x, true, { delivery_id: 'd2' })];
      for (const m of made) await s.webhooks.recordAttempt(m, 100);
      const all = await s.webhooks.attempts(T, x.id, { limit: 10 });
      assert.deepEqual(all.map((r) => r.id), made.map((m) => m.id).reverse());
      assert.deepEqual(all[2], made[0]);
      const page = await s.webhooks.attempts(T, x.id, { limit: 1, before: all[0]!.id });
      assert.deepEqual(page.map((r) => r.id), [made[1]!.id]);
      assert.deepEqual((await s.webhooks.attempts(T, x.id, { limit: 10, delivery_id: 'd1' })).map((r) => r.id), [made[1]!.id, made[0]!.id]);
      assert.deepEqual(await s.webhooks.attempts(T2, x.id, { limit: 10 }), []);
    });

    it('deletes a subscription with its log; another tenant cannot', async () => {
      const x = sub();
      await s.webhooks.create(x);
      await s.webhooks.recordAttempt(attempt(x, true), 3);
      assert.equal(await s.webhooks.delete(T2, x.id), false);
      assert.equal(await s.webhooks.delete(T, x.id), true);
      assert.equal(await s.webhooks.get(T, x.id), null);
      assert.deepEqual(await s.webhooks.attempts(T, x.id, { limit: 10 }), []);
      assert.equal(await s.webhooks.delete(T, x.id), false);
    });

    it('third-party apps: create, find by id, list per tenant, revoke once and only in the tenant', async () => {
      const app = { id: `app_${++n}`, tenant_id: T, name: 'EHR', secret_hash: 'f'.repeat(64), created_at: NOW, revoked_at: null };
      await s.oauthApps.create(app);
      await s.oauthApps.create({ ...app, id: `app_${++n}`, tenant_id: T2 });
      assert.deepEqual(await s.oauthApps.find(app.id), app);
      assert.equal(await s.oauthApps.find('app_none'), null);
      assert.deepEqual((await s.oauthApps.list(T)).map((x) => x.id), [app.id]);
      assert.equal(await s.oauthApps.revoke(T2, app.id, NOW + 1), false);
      assert.equal(await s.oauthApps.revoke(T, app.id, NOW + 1), true);
      assert.equal(await s.oauthApps.revoke(T, app.id, NOW + 2), false);
      assert.equal((await s.oauthApps.find(app.id))?.revoked_at, NOW + 1);
    });
  });
}
