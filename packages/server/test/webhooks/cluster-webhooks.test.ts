/**
 * Webhooks and app tokens across nodes: real `careline start` processes on PostgreSQL and
 * Redis (`startCluster`). An event committed on node A is delivered exactly once, whichever
 * node's runner takes the job, and its attempt is in the log read through node B; an app
 * token issued on node A works on node B until the app is revoked on A, then at once not.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startCluster, type ClusterTenant, type TestCluster } from '../support/cluster.ts';
import { eventually } from '../rest/helpers.ts';
import { startReceiver, type Receiver } from './receiver.ts';

describe('webhooks and app tokens across nodes (PostgreSQL, Redis)', { timeout: 180_000 }, () => {
  let c: TestCluster;
  let t: ClusterTenant;
  let r: Receiver;

  before(async () => {
    r = await startReceiver();
    c = await startCluster({ nodes: 2, env: { CARELINE_WEBHOOKS_POLL_MS: '20', CARELINE_WEBHOOKS_CACHE_MS: '0', CARELINE_WEBHOOKS_RETRY_BASE_MS: '50', CARELINE_WEBHOOKS_ALLOWED_TARGETS: '127.0.0.1' } });
    t = await c.tenant();
  });
  after(async () => {
    await c?.stop();
    await r?.close();
  });

  it('delivers an event committed on node A once, and node B shows its log', async () => {
    const [a, b] = [c.nodes[0]!.url, c.nodes[1]!.url];
    const made = await t.call('POST', '/api/v2/management/webhooks', { base: a, body: { url: r.url, events: ['message.created'] } });
    assert.equal(made.status, 200, JSON.stringify(made.body));
    r.secret = made.body.secret;
    await t.user('cl-pat', 'patient');
    await t.user('cl-doc', 'doctor');
    const conv = await t.conversation({ participants: ['cl-pat', 'cl-doc'] });
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) {
      const m = await t.call('POST', `/api/v2/sessions/${conv}/messages`, { base: a, body: { type: 1, content: { text: `n${i}` }, sender_id: 'cl-pat' } });
      assert.equal(m.status, 200, JSON.stringify(m.body));
      ids.push(m.body.message.id);
    }
    await eventually(async () => r.accepted().length >= ids.length, 20_000);
    // The receiver sees an attempt answered before its node has logged it: wait for the log
    // (read on node B) to hold as many attempts as the receiver saw, not for a fixed time.
    let log = await t.call('GET', `/api/v2/management/webhooks/${made.body.webhook.id}/attempts`, { base: b });
    await eventually(async () => {
      log = await t.call('GET', `/api/v2/management/webhooks/${made.body.webhook.id}/attempts`, { base: b });
      return log.status === 200 && log.body.attempts.length >= r.got.length;
    }, 20_000);
    assert.deepEqual(r.accepted().map((d) => d.body.data.message.id).sort(), [...ids].sort(), 'each once');
    assert.ok(r.got.every((d) => d.signatureError === null));
    assert.equal(log.status, 200);
    assert.equal(log.body.attempts.length, ids.length);
    assert.ok(log.body.attempts.every((x: any) => x.ok && x.status_code === 200));
  });

  it('an app token issued on node A works on node B until revoked on A', async () => {
    const [a, b] = [c.nodes[0]!.url, c.nodes[1]!.url];
    const app = await t.call('POST', '/api/v2/management/oauth-apps', { base: a, body: { name: 'EHR' } });
    assert.equal(app.status, 200);
    const tok = await t.call('POST', '/api/v2/oauth/token', {
      base: a, apiKey: null, body: { grant_type: 'client_credentials', client_id: app.body.client_id, client_secret: app.body.client_secret },
    });
    assert.equal(tok.status, 200, JSON.stringify(tok.body));
    const use = () => t.call('GET', '/api/v2/management/users', { base: b, token: tok.body.access_token });
    assert.equal((await use()).status, 200);
    assert.equal((await t.call('DELETE', `/api/v2/management/oauth-apps/${app.body.client_id}`, { base: a })).status, 200);
    const refused = await use();
    assert.deepEqual([refused.status, refused.body.code], [401, 'app.revoked']);
  });
});
