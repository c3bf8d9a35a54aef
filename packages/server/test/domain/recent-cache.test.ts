/**
 * The node's recent messages (`domain/recent.ts`) answer a history page exactly as storage
 * does, or not at all. Over a real SQLite file: messages appended through storage, their
 * `message.created` events given to the cache as the bus would, and every page the cache
 * answers compared with storage's answer to the same query. Then what must drop an entry or a
 * load: a gap, a recall, a load overtaken by an event, age, the bus resuming, the byte bound.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Storage } from '../../src/domain/ports.ts';
import type { HistoryQuery, Message, MessageText, NewMessage } from '../../src/domain/types.ts';

/** A committed message as a page's text (what a load from storage gives). */
const asText = (m: Message): MessageText => ({ seq: m.seq, id: m.id, json: JSON.stringify(m) });
import { RecentMessages } from '../../src/domain/recent.ts';
import { createSqliteStorage } from '../../src/storage/sqlite/index.ts';

const T = 't';
let n = 0;

describe('recent messages cache', () => {
  let dir: string;
  let storage: Storage;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'careline-recent-'));
    storage = createSqliteStorage({ path: join(dir, 'db.sqlite'), synchronous: 'NORMAL' });
    await storage.tenants.createTenant({ id: T, name: 'T', created_at: 1 });
    for (const id of ['doc', 'pat']) await storage.users.upsertUser(T, { id, role: id === 'pat' ? 'patient' : 'doctor', name: id, avatar: null, disabled: false }, 1);
  });
  after(async () => {
    await storage.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const conversation = async (id: string) => {
    await storage.conversations.createConversation({
      tenant_id: T, id, type: 1, business_type: 1, name: '', status: 0, created_by: 'doc',
      participants: [{ user_id: 'doc', role: 'm' }, { user_id: 'pat', role: 'm' }],
    }, 1);
  };
  const newMessage = (conv: string, text: string): NewMessage => {
    const content = text.length % 3 === 0 ? { text, extra: { n: text.length } } : { text };
    return {
      tenant_id: T, conversation_id: conv, id: `m${String(++n).padStart(25, '0')}`, sender_id: n % 2 ? 'doc' : 'pat', type: 1,
      content, content_json: JSON.stringify(content), client_id: n % 5 ? `c${n}` : null, created_at: 1_000 + n, forward: null,
    };
  };
  /** Appends `count` messages; returns them as committed (what the bus carries). */
  const send = async (conv: string, count: number): Promise<Message[]> => {
    const r = await storage.messages.append(Array.from({ length: count }, (_, i) => newMessage(conv, `hello ${i} ${'x'.repeat(i % 7)}`)));
    return r.map((x) => {
      assert.ok(x.ok);
      return x.message;
    });
  };
  /** What `MessageService` does on a latest-page miss: the newest messages, read and kept. */
  const load = async (c: RecentMessages, conv: string) => {
    const slot = c.begin(T, conv);
    const newest = await storage.messages.historyText(T, conv, { limit: c.perConversation });
    c.store(T, conv, slot, newest, c.perConversation);
  };
  const clock = () => {
    const k = { t: 1_000_000, now: () => k.t };
    return k;
  };
  const same = async (c: RecentMessages, conv: string, q: HistoryQuery): Promise<boolean> => {
    const kept = c.page(T, conv, q);
    if (!kept) return false;
    const stored = await storage.messages.history(T, conv, q);
    assert.deepEqual(kept, stored, `page ${JSON.stringify(q)}`);
    // The same page as text (what the REST answer is made of): the same messages, the same seqs.
    const text = c.pageText(T, conv, q)!;
    assert.deepEqual(text.map((t) => t.seq), stored.map((m) => m.seq), `text page ${JSON.stringify(q)}`);
    assert.deepEqual(text.map((t) => JSON.parse(t.json) as unknown), stored, `text page ${JSON.stringify(q)}`);
    return true;
  };

  it('answers every page it holds exactly as storage does, kept up to date by the commits\' events', async () => {
    await conversation('eq');
    const c = new RecentMessages({ maxBytes: 64 << 20, perConversation: 40, ttlMs: 60_000 });
    assert.equal(c.page(T, 'eq', { limit: 10 }), null, 'nothing held yet');
    await load(c, 'eq');
    assert.ok(await same(c, 'eq', { limit: 10 }), 'an empty conversation: an empty page');
    let answered = 0;
    let rand = 7;
    const r = (k: number) => {
      rand = (rand * 1103515245 + 12345) % 2 ** 31;
      return rand % k;
    };
    for (let round = 0; round < 30; round++) {
      for (const m of await send('eq', 1 + r(6))) c.created(T, m);
      const head = (await storage.messages.history(T, 'eq', { limit: 1 }))[0]!.seq;
      const qs: HistoryQuery[] = [
        { limit: 1 + r(45) },
        { limit: 51 },
        { before: 1 + r(head + 3), limit: 1 + r(30) },
        { after: r(head + 2), limit: 1 + r(60) },
        { after: Math.max(0, head - r(50)), limit: 1 + r(20), before: head - r(10) },
        { after: head, limit: 5 },
      ];
      for (const q of qs) if (await same(c, 'eq', q)) answered++;
    }
    assert.ok(answered > 100, `most pages answered from memory (${answered} of 180)`);
    // Past its bound the entry keeps only the newest 40: an older page goes to storage.
    assert.equal(c.page(T, 'eq', { before: 2, limit: 1 }), null);
    assert.ok(await same(c, 'eq', { limit: 40 }));
  });

  it('a gap (an event missed) or an event out of order drops the entry; the same event twice changes nothing', async () => {
    await conversation('gap');
    const c = new RecentMessages({ maxBytes: 64 << 20, ttlMs: 60_000 });
    await send('gap', 3);
    await load(c, 'gap');
    const [m4] = await send('gap', 1);
    c.created(T, m4!);
    c.created(T, m4!);
    assert.ok(await same(c, 'gap', { limit: 10 }), 'a repeated event is ignored');
    const [m5, m6] = await send('gap', 2);
    c.created(T, m6!); // m5's event was lost
    assert.equal(c.page(T, 'gap', { limit: 10 }), null, 'a gap: storage answers');
    c.created(T, m5!);
    assert.equal(c.page(T, 'gap', { limit: 10 }), null, 'still nothing held');
  });

  it('a recall drops the conversation\'s entry: the tombstone is read from storage', async () => {
    await conversation('rc');
    const c = new RecentMessages({ maxBytes: 64 << 20, ttlMs: 60_000 });
    const [m1] = await send('rc', 2);
    await load(c, 'rc');
    const notice = newMessage('rc', '');
    const nc = { event: 'message.recalled', data: { message_id: m1!.id, seq: m1!.seq, by: 'doc' } };
    const r = await storage.messages.recall(T, 'rc', m1!.id, 5_000, { ...notice, sender_id: 'doc', type: 0, content: nc, content_json: JSON.stringify(nc), client_id: null });
    assert.ok(r);
    c.created(T, r.notice);
    assert.equal(c.page(T, 'rc', { limit: 10 }), null);
    await load(c, 'rc');
    const page = c.page(T, 'rc', { limit: 10 })!;
    assert.equal(page[0]!.content, null);
    assert.equal(page[0]!.recalled_at, 5_000);
    assert.ok(await same(c, 'rc', { limit: 10 }));
  });

  it('a load overtaken by an event for its conversation is not kept', async () => {
    await conversation('race');
    const c = new RecentMessages({ maxBytes: 64 << 20, ttlMs: 60_000 });
    await send('race', 2);
    const slot = c.begin(T, 'race');
    const newest = await storage.messages.historyText(T, 'race', { limit: c.perConversation });
    // Committed by another node after the read began; its event arrives before the load ends.
    const [m3] = await send('race', 1);
    c.created(T, m3!);
    c.store(T, 'race', slot, newest, c.perConversation);
    assert.equal(c.page(T, 'race', { limit: 10 }), null, 'the stale load was dropped');
  });

  it('an entry is read again once older than the TTL (a change that sent no event is seen then)', async () => {
    await conversation('ttl');
    const k = clock();
    const c = new RecentMessages({ maxBytes: 64 << 20, ttlMs: 10_000, now: k.now });
    await send('ttl', 2);
    await load(c, 'ttl');
    // A message committed by a node that died before publishing it: no event.
    await send('ttl', 1);
    k.t += 9_999;
    assert.equal(c.page(T, 'ttl', { limit: 10 })!.length, 2, 'fresh: served from memory');
    k.t += 1;
    assert.equal(c.page(T, 'ttl', { limit: 10 }), null, 'expired: storage answers');
    await load(c, 'ttl');
    assert.ok(await same(c, 'ttl', { limit: 10 }));
    assert.equal(c.page(T, 'ttl', { limit: 10 })!.length, 3);
    // A page the expired copy held (after a cursor near the head) says to load it again; one it did not hold, or another conversation's miss, does not.
    k.t += 10_000;
    assert.equal(c.page(T, 'ttl', { after: 1, limit: 10 }), null);
    assert.equal(c.wasKept(T, 'ttl'), 3, 'as many as it held');
    assert.equal(c.wasKept(T, 'ttl'), 0, 'asked once');
    await load(c, 'ttl');
    k.t += 10_000;
    assert.equal(c.page(T, 'ttl', { after: 1, limit: 10 }), null);
    assert.equal(c.page(T, 'nothing-here', { limit: 10 }), null);
    assert.equal(c.wasKept(T, 'ttl'), 0, 'a later miss elsewhere forgets it');
  });

  it('a copy is admitted at the second latest-page miss of a conversation within the TTL, not the first', () => {
    const k = clock();
    const c = new RecentMessages({ maxBytes: 64 << 20, ttlMs: 10_000, now: k.now });
    assert.equal(c.admit(T, 'adm'), false, 'read once: not kept');
    k.t += 9_999;
    assert.equal(c.admit(T, 'adm'), true, 'read again within the TTL');
    assert.equal(c.admit(T, 'adm'), false, 'counted again from there');
    k.t += 10_000;
    assert.equal(c.admit(T, 'adm'), false, 'too long after');
    assert.equal(c.admit(T, 'other'), false, 'per conversation');
    c.clear();
    assert.equal(c.admit(T, 'adm'), false, 'clear() forgets the reads too');
  });

  it('clear() (the bus resumed after a loss) drops every entry and every load in flight', async () => {
    await conversation('cl1');
    await conversation('cl2');
    const c = new RecentMessages({ maxBytes: 64 << 20, ttlMs: 60_000 });
    await send('cl1', 1);
    await send('cl2', 1);
    await load(c, 'cl1');
    const slot = c.begin(T, 'cl2');
    const newest = await storage.messages.historyText(T, 'cl2', { limit: c.perConversation });
    c.clear();
    c.store(T, 'cl2', slot, newest, c.perConversation);
    assert.equal(c.page(T, 'cl1', { limit: 10 }), null);
    assert.equal(c.page(T, 'cl2', { limit: 10 }), null);
    assert.equal(c.bytes, 0);
  });

  it('holds at most its bytes: the conversations read least recently go first; 0 keeps nothing', async () => {
    const c = new RecentMessages({ maxBytes: 20_000, ttlMs: 60_000 });
    for (const id of ['b1', 'b2', 'b3', 'b4']) {
      await conversation(id);
      await send(id, 30);
      await load(c, id);
      assert.ok(c.bytes <= 20_000, `${c.bytes} bytes held`);
    }
    assert.equal(c.page(T, 'b1', { limit: 5 }), null, 'the first read went first');
    assert.ok(await same(c, 'b4', { limit: 5 }));
    for (const m of await send('b4', 50)) c.created(T, m);
    assert.ok(c.bytes <= 20_000, `${c.bytes} bytes held after appends`);
    const off = new RecentMessages({ maxBytes: 0, ttlMs: 60_000 });
    assert.equal(off.enabled, false);
    await load(off, 'b4');
    assert.equal(off.page(T, 'b4', { limit: 5 }), null);
  });

  it('keeps no rows that are not a latest page (a gap in them, or fewer than asked without seq 1)', async () => {
    await conversation('odd');
    const c = new RecentMessages({ maxBytes: 64 << 20, ttlMs: 60_000 });
    const ms = await send('odd', 5);
    c.store(T, 'odd', c.begin(T, 'odd'), [ms[0]!, ms[2]!].map(asText), c.perConversation);
    assert.equal(c.page(T, 'odd', { limit: 2 }), null, 'a gap');
    c.store(T, 'odd', c.begin(T, 'odd'), ms.slice(2).map(asText), c.perConversation);
    assert.equal(c.page(T, 'odd', { limit: 2 }), null, 'fewer than asked, not from seq 1');
    c.store(T, 'odd', c.begin(T, 'odd'), ms.slice(2).map(asText), 3);
    assert.ok(await same(c, 'odd', { limit: 3 }), 'the newest 3 when 3 were asked');
  });
});
