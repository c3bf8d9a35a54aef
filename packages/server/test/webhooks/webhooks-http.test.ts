/**
 * Webhooks end to end on a real server (SQLite file) and a real local receiver that verifies
 * every signature: each event type delivered, retries after 500s and timeouts, a subscription
 * disabled after persistent failure (with its notice), the delivery log and replay, nothing
 * lost or doubled across a restart, and the coded errors of bad input.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestServer, type TestServer } from '../support/server.ts';
import { assertError, closeWs, eventually, ok, openWs, secondTenant } from '../rest/helpers.ts';
import { startReceiver, type Receiver } from './receiver.ts';

const HOOKS = '/api/v2/management/webhooks';

describe('webhooks over HTTP (SQLite)', { timeout: 120_000 }, () => {
  let s: TestServer;
  let all: Receiver;
  let allId: string;

  before(async () => {
    s = await startTestServer({
      config: { webhooks: { pollMs: 20, retryBaseMs: 20, retryMaxMs: 80, timeoutMs: 1500, cacheMs: 0, disableAfterFailures: 4, maxAttempts: 6, allowedTargets: '127.0.0.1' } },
    });
    all = await startReceiver();
    const made = ok(await s.call('POST', HOOKS, { body: { url: all.url, events: ['*'], description: 'everything' } }));
    allId = made.webhook.id;
    all.secret = made.secret;
    assert.match(made.secret, /^whsec_/);
    assert.equal(made.webhook.secret, undefined, 'the secret is not part of the subscription as shown');
  });
  after(async () => {
    await s?.stop();
    await all?.close();
  });

  const ofType = (r: Receiver, type: string) => r.accepted().filter((d) => d.type === type);
  const waitFor = async (r: Receiver, type: string, pred: (data: any) => boolean = () => true) => {
    await eventually(async () => ofType(r, type).some((d) => pred(d.body.data)), 10_000);
    return ofType(r, type).find((d) => pred(d.body.data))!;
  };

  it('delivers every event type, signed, with its data', async () => {
    const pat = await s.user('wh-pat', 'patient');
    await s.user('wh-doc', 'doctor');
    await s.user('wh-nurse', 'staff');
    const conv = await s.conversation({ participants: ['wh-pat', 'wh-doc'] });
    const created = await waitFor(all, 'conversation.created', (d) => d.conversation_id === conv);
    assert.deepEqual([...created.body.data.participants].sort(), ['wh-doc', 'wh-pat']);

    const m = await s.sendAs('wh-pat', conv, 'hello doctor');
    const mc = await waitFor(all, 'message.created', (d) => d.message.id === m.id);
    assert.equal(mc.body.tenant_id, s.tenantId);
    assert.equal(mc.body.id, mc.eventId);
    assert.equal(mc.body.data.message.content.text, 'hello doctor');
    assert.equal(mc.signatureError, null);

    ok(await s.call('POST', `/api/v2/sessions/${conv}/participants`, { body: { participants: ['wh-nurse'] } }));
    const pc = await waitFor(all, 'participants.changed', (d) => d.conversation_id === conv);
    assert.deepEqual(pc.body.data.added, ['wh-nurse']);

    ok(await s.call('POST', `/api/v2/sessions/${conv}/topics`, { body: { topic_id: 'consult-wh-1', name: 'Follow-up', patient_id: 'wh-pat' } }));
    const ts = await waitFor(all, 'topic.started', (d) => d.topic_id === 'consult-wh-1');
    assert.deepEqual({ s: ts.body.data.session_id, p: ts.body.data.patient_id }, { s: conv, p: 'wh-pat' });
    await waitFor(all, 'conversation.updated', (d) => d.conversation_id === conv);

    await s.sendAs('wh-pat', conv, 'still there?');
    const reply = await s.sendAs('wh-doc', conv, 'yes, here');
    await s.sendAs('wh-doc', conv, 'a second reply is not the first');
    const tr = await waitFor(all, 'topic.replied', (d) => d.topic_id === 'consult-wh-1');
    assert.deepEqual({ by: tr.body.data.replied_by, m: tr.body.data.message_id }, { by: 'wh-doc', m: reply.id });

    ok(await s.call('POST', `/api/v2/sessions/${conv}/topics/consult-wh-1/ended`, { body: {} }));
    const te = await waitFor(all, 'topic.ended', (d) => d.topic_id === 'consult-wh-1');
    assert.equal(te.body.data.session_id, conv);
    assert.equal(ofType(all, 'topic.replied').filter((d) => d.body.data.topic_id === 'consult-wh-1').length, 1, 'one topic.replied per topic');

    const sent = ok(await s.call('POST', '/api/v2/management/notifications', { body: { kind: 'S2C_SYSTEM_PUSH', target: { user: 'wh-pat' }, title: 'Lab results ready' } }));
    ok(await s.call('POST', '/api/v2/notifications/read', { token: pat.token, body: { ids: [sent.notification.id] } }));
    const nr = await waitFor(all, 'notification.read', (d) => d.user_id === 'wh-pat');
    assert.equal(nr.body.data.marked, 1);

    // The patient has unread messages (the doctor's replies): going offline is heard.
    const ws = await openWs(s, pat.token);
    await closeWs(ws);
    const off = await waitFor(all, 'user.offline_unread', (d) => d.user_id === 'wh-pat');
    assert.ok(off.body.data.unread_messages >= 2, JSON.stringify(off.body.data));

    for (const d of all.got) assert.equal(d.signatureError, null, `${d.type} verified`);
  });

  it('retries after 500s and a timeout, logs every attempt, and a success resets the streak', async () => {
    const r = await startReceiver();
    try {
      const made = ok(await s.call('POST', HOOKS, { body: { url: r.url, events: ['message.created'] } }));
      r.secret = made.secret;
      let n = 0;
      r.respond = () => (++n <= 2 ? 500 : n === 3 ? 'hang' : 204);
      await s.user('rt-a', 'patient');
      await s.user('rt-b', 'doctor');
      const conv = await s.conversation({ participants: ['rt-a', 'rt-b'] });
      const m = await s.sendAs('rt-a', conv, 'retry me');
      await eventually(async () => r.accepted().length === 1, 10_000);
      const [d] = r.accepted();
      assert.equal(d!.body.data.message.id, m.id);
      assert.equal(d!.attempt, 4);
      assert.equal(new Set(r.got.map((x) => x.eventId)).size, 1, 'every attempt carries the same event id');
      assert.equal(new Set(r.got.map((x) => x.deliveryId)).size, 1);
      // The receiver has answered the 4th attempt; the server logs it once that answer reaches it.
      const attempts = async () => ok(await s.call('GET', `${HOOKS}/${made.webhook.id}/attempts`)).attempts;
      await eventually(async () => (await attempts()).length === 4, 10_000);
      const log = await attempts();
      assert.deepEqual(log.map((a: any) => [a.attempt, a.ok, a.status_code]), [[4, true, 204], [3, false, null], [2, false, 500], [1, false, 500]]);
      assert.match(log[1].error, /no answer within 1500 ms/);
      assert.equal(log[2].error, 'HTTP 500');
      assert.ok(log.every((a: any) => a.delivery_id === d!.deliveryId && a.event_type === 'message.created' && a.latency_ms >= 0));
      const after = ok(await s.call('GET', `${HOOKS}/${made.webhook.id}`)).webhook;
      assert.deepEqual({ status: after.status, failures: after.failures }, { status: 'active', failures: 0 });

      // Replay: the same event and body again, as a new delivery.
      const replayed = ok(await s.call('POST', `${HOOKS}/${made.webhook.id}/deliveries/${d!.deliveryId}/replay`));
      assert.notEqual(replayed.delivery_id, d!.deliveryId);
      await eventually(async () => r.accepted().length === 2, 10_000);
      const again = r.accepted()[1]!;
      assert.deepEqual({ e: again.eventId, id: again.deliveryId, body: again.body }, { e: d!.eventId, id: replayed.delivery_id, body: d!.body });
      assert.equal(again.signatureError, null);
    } finally {
      await r.close();
    }
  });

  it('disables a subscription after persistent failure, with a notice; enabling and replaying delivers', async () => {
    const r = await startReceiver();
    try {
      const made = ok(await s.call('POST', HOOKS, { body: { url: r.url, events: ['message.created'] } }));
      const id = made.webhook.id;
      r.secret = made.secret;
      r.respond = () => 503;
      await s.user('ds-a', 'patient');
      await s.user('ds-b', 'doctor');
      const conv = await s.conversation({ participants: ['ds-a', 'ds-b'] });
      await s.sendAs('ds-a', conv, 'one');
      await s.sendAs('ds-a', conv, 'two');
      await eventually(async () => ok(await s.call('GET', `${HOOKS}/${id}`)).webhook.status === 'disabled', 10_000);
      const w = ok(await s.call('GET', `${HOOKS}/${id}`)).webhook;
      assert.equal(w.disabled_reason, 'failing');
      // The fourth failure in a row disabled it (an attempt already under way then may add one).
      assert.ok(w.failures >= 4, JSON.stringify(w));
      // The notice: a webhook.disabled event to the tenant's other subscriptions.
      const notice = await waitFor(all, 'webhook.disabled', (d) => d.subscription_id === id);
      assert.equal(notice.body.data.url, r.url);
      // No attempt starts after the disabling one. (The receiver sees an attempt answered
      // before the server has logged it: wait until the log holds every attempt seen.)
      await new Promise((res) => setTimeout(res, 300));
      await eventually(async () => ok(await s.call('GET', `${HOOKS}/${id}/attempts`)).attempts.filter((a: any) => a.status_code === 503).length >= r.got.length, 10_000);
      const attemptsThen = r.got.length;
      assert.ok(attemptsThen >= 4 && attemptsThen <= 5, String(attemptsThen));
      await s.sendAs('ds-a', conv, 'three');
      await new Promise((res) => setTimeout(res, 300));
      assert.equal(r.got.length, attemptsThen, 'a disabled subscription gets nothing');
      const failed = r.got[0]!;
      const log = ok(await s.call('GET', `${HOOKS}/${id}/attempts`)).attempts;
      assert.equal(log.filter((a: any) => a.status_code === 503).length, attemptsThen);
      assert.ok(log.every((a: any) => a.status_code === 503 || a.error === 'not sent: the subscription is disabled'), JSON.stringify(log));
      assertError(await s.call('POST', `${HOOKS}/${id}/deliveries/${failed.deliveryId}/replay`), 'webhook.disabled');

      r.respond = () => 200;
      const enabled = ok(await s.call('PATCH', `${HOOKS}/${id}`, { body: { status: 'active' } })).webhook;
      assert.deepEqual({ status: enabled.status, failures: enabled.failures, reason: enabled.disabled_reason }, { status: 'active', failures: 0, reason: null });
      ok(await s.call('POST', `${HOOKS}/${id}/deliveries/${failed.deliveryId}/replay`));
      await eventually(async () => r.accepted().some((d) => d.eventId === failed.eventId), 10_000);
    } finally {
      await r.close();
    }
  });

  it('loses and doubles nothing across a restart', async () => {
    const r = await startReceiver();
    try {
      const made = ok(await s.call('POST', HOOKS, { body: { url: r.url, events: ['message.created'] } }));
      r.secret = made.secret;
      // A slow receiver: most deliveries are still queued when the server stops.
      r.delayMs = 300;
      await s.user('rs-a', 'patient');
      await s.user('rs-b', 'doctor');
      const conv = await s.conversation({ participants: ['rs-a', 'rs-b'] });
      const ids: string[] = [];
      for (let i = 0; i < 30; i++) ids.push((await s.sendAs('rs-a', conv, `m${i}`)).id);
      await s.restart();
      const before = r.accepted().length;
      assert.ok(before < ids.length, `some deliveries were left for after the restart (${before} of ${ids.length} before)`);
      await eventually(async () => new Set(r.accepted().map((d) => d.body.data.message.id)).size >= ids.length, 60_000);
      await new Promise((res) => setTimeout(res, 500));
      assert.deepEqual([...new Set(r.accepted().map((d) => d.body.data.message.id))].sort(), [...ids].sort(), 'every message delivered');
      // One delivery per message, each done by one successful attempt; a request seen twice is a
      // retry after a failed attempt (a timeout on a loaded machine), never a second delivery.
      const log = ok(await s.call('GET', `${HOOKS}/${made.webhook.id}/attempts?limit=500`)).attempts;
      const okAttempts = log.filter((a: any) => a.ok);
      assert.equal(okAttempts.length, ids.length, 'one successful attempt per message');
      assert.equal(new Set(okAttempts.map((a: any) => a.delivery_id)).size, ids.length, 'one delivery per message');
      assert.equal(new Set(log.map((a: any) => a.delivery_id)).size, ids.length, 'no second delivery of an event');
      assert.equal(r.got.length, log.length, 'every request the receiver saw is a logged attempt');
    } finally {
      await r.close();
    }
  });

  it('signs with a rotated secret at once', async () => {
    const r = await startReceiver();
    try {
      const made = ok(await s.call('POST', HOOKS, { body: { url: r.url, events: ['message.created'], secret: 'my-own-secret-0123456789' } }));
      assert.equal(made.secret, 'my-own-secret-0123456789');
      const rotated = ok(await s.call('PATCH', `${HOOKS}/${made.webhook.id}`, { body: { rotate_secret: true } }));
      assert.match(rotated.secret, /^whsec_/);
      r.secret = rotated.secret;
      await s.user('rot-a', 'patient');
      await s.user('rot-b', 'doctor');
      const m = await s.sendAs('rot-a', await s.conversation({ participants: ['rot-a', 'rot-b'] }), 'signed anew');
      await eventually(async () => r.accepted().some((d) => d.body.data.message.id === m.id), 10_000);
      assert.ok(r.got.every((d) => d.signatureError === null));
      assert.equal(ok(await s.call('PATCH', `${HOOKS}/${made.webhook.id}`, { body: { description: 'EHR' } })).secret, undefined);
    } finally {
      await r.close();
    }
  });

  it('answers bad input with coded errors', async () => {
    for (const url of ['not a url', 'ftp://hooks.example.org/x', 'https://user:pw@hooks.example.org/x']) {
      assertError(await s.call('POST', HOOKS, { body: { url, events: ['message.created'] } }), 'webhook.url_invalid', url);
    }
    assertError(await s.call('POST', HOOKS, { body: { url: 'https://hooks.example.org/x', events: ['message.deleted'] } }), 'webhook.event_unknown');
    assertError(await s.call('POST', HOOKS, { body: { url: 'https://hooks.example.org/x', events: ['message.created'], secret: 'short' } }), 'request.invalid');
    const mine = ok(await s.call('POST', HOOKS, { body: { url: 'https://hooks.example.org/x', events: ['call.invited'] } })).webhook;
    assertError(await s.call('PATCH', `${HOOKS}/${mine.id}`, { body: { events: ['nope'] } }), 'webhook.event_unknown');
    assertError(await s.call('PATCH', `${HOOKS}/${mine.id}`, { body: { url: 'javascript:alert(1)' } }), 'webhook.url_invalid');

    const other = await secondTenant(s);
    const theirs = ok(await s.call('POST', HOOKS, { apiKey: other.apiKey, body: { url: 'https://hooks.example.org/y', events: ['*'] } })).webhook;
    assertError(await s.call('GET', `${HOOKS}/${theirs.id}`), 'webhook.not_found');
    assertError(await s.call('PATCH', `${HOOKS}/${theirs.id}`, { body: { status: 'disabled' } }), 'webhook.not_found');
    assertError(await s.call('DELETE', `${HOOKS}/${theirs.id}`), 'webhook.not_found');
    assertError(await s.call('GET', `${HOOKS}/${theirs.id}/attempts`), 'webhook.not_found');
    assertError(await s.call('POST', `${HOOKS}/${theirs.id}/deliveries/x/replay`), 'webhook.not_found');
    assert.ok(!ok(await s.call('GET', HOOKS)).webhooks.some((w: any) => w.id === theirs.id));
    assertError(await s.call('POST', `${HOOKS}/${mine.id}/deliveries/01NOSUCHJOB/replay`), 'webhook.delivery_not_found');
    // A delivery of another subscription is not this one's.
    const allLog = ok(await s.call('GET', `${HOOKS}/${allId}/attempts?limit=1`)).attempts;
    assertError(await s.call('POST', `${HOOKS}/${mine.id}/deliveries/${allLog[0].delivery_id}/replay`), 'webhook.delivery_not_found');

    // Users other than the tenant's admins may not manage webhooks; an admin may.
    const pat = await s.user('bad-pat', 'patient');
    assertError(await s.call('GET', HOOKS, { token: pat.token }), 'auth.forbidden');
    const adm = await s.user('bad-admin', 'admin');
    assert.ok(ok(await s.call('GET', HOOKS, { token: adm.token })).webhooks.some((w: any) => w.id === mine.id));
    ok(await s.call('DELETE', `${HOOKS}/${mine.id}`));
    assertError(await s.call('GET', `${HOOKS}/${mine.id}`), 'webhook.not_found');
  });
});
