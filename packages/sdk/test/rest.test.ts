/** REST helpers (history paging, unread counts, badge, recall, forward, errors) and the read/typing/presence events. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CarelineApi, CarelineError, type Message } from '../src/index.ts';
import { Harness, nextEvent, text, waitFor, within } from './support/harness.ts';

const T = { timeout: 20_000 };

describe('REST helpers', () => {
  const h = Harness.forSuite();

  test('history backwards over more than two pages returns every message once, newest first', T, async () => {
    const { patient, doctor, conv } = await h.pair();
    for (let i = 1; i <= 25; i++) await h.server.sendAs(doctor.id, conv, `h${i}`);
    const c = h.client(patient.token);
    const seen: Message[] = [];
    const pages: number[] = [];
    const origHistory = c.api.history.bind(c.api);
    c.api.history = async (id, q) => {
      const page = await origHistory(id, q);
      pages.push(page.messages.length);
      return page;
    };
    for await (const m of c.historyBackwards(conv, { pageSize: 10 })) seen.push(m);
    assert.deepEqual(seen.map((m) => m.seq), Array.from({ length: 25 }, (_, i) => 25 - i));
    assert.equal(new Set(seen.map((m) => m.id)).size, 25);
    assert.deepEqual(pages, [10, 10, 5]);

    // Starting from a cursor, and stopping early.
    const older: number[] = [];
    for await (const m of c.historyBackwards(conv, { before: 8, pageSize: 3 })) older.push(m.seq);
    assert.deepEqual(older, [7, 6, 5, 4, 3, 2, 1]);
    let n = 0;
    for await (const _ of c.historyBackwards(conv, { pageSize: 4 })) if (++n === 5) break;
    assert.equal(n, 5);
  });

  test('history pages both ways with a cursor', T, async () => {
    const { patient, doctor, conv } = await h.pair();
    for (let i = 1; i <= 12; i++) await h.server.sendAs(doctor.id, conv, `x${i}`);
    const c = h.client(patient.token);
    const newest = await c.history(conv, { limit: 5 });
    assert.deepEqual(newest.messages.map((m) => m.seq), [8, 9, 10, 11, 12]);
    assert.equal(newest.has_more, true);
    const before = await c.history(conv, { before: 8, limit: 5 });
    assert.deepEqual(before.messages.map((m) => m.seq), [3, 4, 5, 6, 7]);
    const afterPage = await c.history(conv, { after: 9, limit: 5 });
    assert.deepEqual(afterPage.messages.map((m) => m.seq), [10, 11, 12]);
    assert.equal(afterPage.has_more, false);
    const forward: number[] = [];
    let cursor = 0;
    for (;;) {
      const page = await c.history(conv, { after: cursor, limit: 5 });
      forward.push(...page.messages.map((m) => m.seq));
      if (!page.has_more) break;
      cursor = page.messages.at(-1)!.seq;
    }
    assert.deepEqual(forward, Array.from({ length: 12 }, (_, i) => i + 1));
  });

  test('unread counts, badge, and markRead (with the receipt seen by the other side)', T, async () => {
    const { patient, doctor, conv } = await h.pair();
    const p = h.client(patient.token);
    const d = h.client(doctor.token);
    await Promise.all([p.connect(), d.connect()]);
    for (let i = 1; i <= 3; i++) await d.send(conv, text(`unread ${i}`));
    await waitFor(() => p.cursor(conv) === 3, { what: 'patient got 3' });
    const counts = await p.unreadCounts();
    assert.equal(counts.count, 3);
    assert.deepEqual(counts.sessions.find((s) => s.session_id === conv)?.unread, 3);
    assert.equal(await p.badge(), 3);
    const views = await p.conversations();
    assert.equal(views.sessions.find((s) => s.id === conv)?.unread, 3);

    const receipt = nextEvent(d, 'read', (r) => r.conversation_id === conv && r.user_id === patient.id);
    p.markRead(conv); // up to the cursor (3)
    assert.equal((await within(receipt, 3000, 'receipt')).seq, 3);
    await waitFor(async () => (await p.unreadCounts()).count === 0, { what: 'unread 0' });
    assert.equal(await p.badge(), 0);
  });

  test('recall and forward', T, async () => {
    const { patient, doctor, conv } = await h.pair();
    const other = await h.server.conversation({ participants: [patient.id, doctor.id], type: 4, name: 'other' });
    const p = h.client(patient.token);
    await p.connect();
    const ack = await p.send(conv, text('oops'));
    const tomb = await p.recall(conv, ack.message_id);
    assert.equal(tomb.id, ack.message_id);
    assert.equal(tomb.content, null);
    assert.ok(tomb.recalled_at);
    const again = await p.recall(conv, ack.message_id).catch((e: unknown) => e);
    assert.ok(again instanceof CarelineError);
    assert.equal(again.code, 'message.already_recalled');

    const keep = await p.send(conv, text('forward me'));
    const copies = await p.forward(conv, keep.message_id, [other]);
    assert.equal(copies.length, 1);
    assert.equal(copies[0]?.conversation_id, other);
    assert.equal(copies[0]?.forward?.message_id, keep.message_id);
  });

  test('REST errors carry the server code and status', T, async () => {
    const { patient } = await h.pair();
    const others = await h.pair();
    const c = h.client(patient.token);
    const e1 = await c.history(others.conv).catch((e: unknown) => e);
    assert.ok(e1 instanceof CarelineError);
    assert.equal(e1.code, 'conversation.not_participant');
    assert.equal(e1.status, 403);
    const e2 = await c.api.message(others.conv, 'nope').catch((e: unknown) => e);
    assert.ok(e2 instanceof CarelineError);
    assert.match(e2.code, /^(conversation\.not_participant|message\.not_found)$/);
    const bad = new CarelineApi({ url: h.server.url, token: () => 'garbage' });
    const e3 = await bad.unreadCounts().catch((e: unknown) => e);
    assert.ok(e3 instanceof CarelineError);
    assert.equal(e3.code, 'auth.invalid_token');
    assert.equal(e3.status, 401);
    const down = new CarelineApi({ url: 'http://127.0.0.1:9', token: () => 't' });
    const e4 = await down.badge().catch((e: unknown) => e);
    assert.ok(e4 instanceof CarelineError);
    assert.equal(e4.code, 'client.network_error');
    assert.equal(e4.retryable, true);
  });

  test('typing and presence events', T, async () => {
    const { patient, doctor, conv } = await h.pair();
    const p = h.client(patient.token);
    const d = h.client(doctor.token);
    await p.connect();
    const offline = nextEvent(p, 'presence', (e) => e.user_id === doctor.id);
    p.subscribePresence([doctor.id]);
    assert.equal((await within(offline, 3000, 'presence')).online, false);
    const online = nextEvent(p, 'presence', (e) => e.user_id === doctor.id && e.online);
    await d.connect();
    await within(online, 3000, 'online');

    const typing = nextEvent(p, 'typing', (e) => e.conversation_id === conv);
    assert.equal(d.typing(conv), true);
    const t = await within(typing, 3000, 'typing');
    assert.deepEqual(t, { conversation_id: conv, user_id: doctor.id, state: 'typing' });

    const gone = nextEvent(p, 'presence', (e) => e.user_id === doctor.id && !e.online);
    await d.close();
    assert.equal(d.typing(conv), false, 'nothing sent while closed');
    await within(gone, 3000, 'offline');
  });
});
