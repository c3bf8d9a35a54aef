/**
 * An append writes an outbox job only for messages some after-commit consumer wants
 * (`AfterCommit.wants`): on a server that pushes nothing, a text message in a tenant known to
 * have no webhook writes none (and the runner claims nothing for it), while a call record
 * (missed calls) still writes one; once the tenant subscribes a webhook, the next message
 * writes its job again and is delivered. A real server on a SQLite file, a real receiver.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { MessageTypes } from '@careline/protocol';
import { OUTBOX_MESSAGES } from '../../src/domain/outbox.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { eventually, ok } from '../rest/helpers.ts';
import { startReceiver, type Receiver } from '../webhooks/receiver.ts';

describe('outbox jobs only for messages a consumer wants', { timeout: 60_000 }, () => {
  let s: TestServer;
  let r: Receiver;
  let conv: string;

  /** Outbox jobs of messages written so far, once none is queued or leased. */
  const written = async (): Promise<number> => {
    const jobs = s.server.core.storage.jobs;
    let n = -1;
    await eventually(async () => {
      const st = (await jobs.stats()).find((x) => x.kind === OUTBOX_MESSAGES);
      n = st ? st.queued + st.leased + st.done + st.dead : 0;
      return !st || st.queued + st.leased === 0;
    }, 10_000);
    return n;
  };

  before(async () => {
    // A tenant's "no subscription" is kept 60 s: within it, what a text message would find is known.
    s = await startTestServer({ config: { webhooks: { pollMs: 20, cacheMs: 60_000, allowedTargets: '127.0.0.1' } } });
    r = await startReceiver();
    await s.user('ow-pat', 'patient');
    await s.user('ow-doc', 'doctor');
    conv = await s.conversation({ participants: ['ow-pat', 'ow-doc'] });
  });
  after(async () => {
    await s?.stop();
    await r?.close();
  });

  it('no job for text messages of a tenant without webhooks; a call record still writes one', async () => {
    // The tenant's subscriptions were read for the conversation's event: none, remembered.
    await s.sendAs('ow-pat', conv, 'first');
    const before = await written();
    for (let i = 0; i < 5; i++) await s.sendAs(i % 2 ? 'ow-pat' : 'ow-doc', conv, `text ${i}`);
    assert.equal(await written(), before, 'no outbox job for text messages nobody wants');
    const call = await s.call('POST', `/api/v2/sessions/${conv}/messages`, {
      body: { type: MessageTypes.CALL, sender_id: 'ow-doc', content: { status: 'timeout', avType: 'video', uid: 'ow-doc', roomId: 'room-1', timestamp: Date.now(), useTime: 0, answered: false, duration: 0 } },
    });
    assert.equal(call.status, 200, JSON.stringify(call.body));
    assert.equal(await written(), before + 1, 'a call record is wanted (missed calls)');
  });

  it('a webhook subscribed: the next message writes its job and is delivered', async () => {
    const base = await written();
    const made = ok(await s.call('POST', '/api/v2/management/webhooks', { body: { url: r.url, events: ['message.created'] } }));
    r.secret = made.secret;
    const m = await s.sendAs('ow-doc', conv, 'after the subscription');
    await eventually(async () => r.accepted().some((d) => d.body.data.message.id === m.id), 10_000);
    assert.equal(await written(), base + 1);
  });
});
