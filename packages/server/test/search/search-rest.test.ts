/**
 * `GET /api/v2/search/messages` and the SDK's `client.search`: Chinese and English, what each
 * caller may see (a user: their conversations; an API key: its tenant), filters, paging,
 * recall, audit records, highlights and bad input (`search.*`).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { CarelineClient, CarelineError, MemoryStorage, highlightParts } from '@careline/sdk';
import { startTestServer, type TestServer } from '../support/server.ts';
import { assertError, ok, secondTenant, type Tenant } from '../rest/helpers.ts';

let s: TestServer;
let doc: { id: string; token: string };
let pat: { id: string; token: string };
let pat2: { id: string; token: string };
let nurse: { id: string; token: string };
let c1: string;
let c2: string;
let c3: string;
let other: Tenant;
const sent: Record<string, string> = {};

const search = (query: string, token?: string) => s.call('GET', `/api/v2/search/messages?${query}`, token ? { token } : {});
const hitIds = (body: any) => body.items.map((h: any) => h.message.id);

before(async () => {
  s = await startTestServer();
  doc = await s.user('doc', 'doctor');
  pat = await s.user('pat', 'patient');
  pat2 = await s.user('pat2', 'patient');
  nurse = await s.user('nurse', 'staff');
  c1 = await s.conversation({ participants: ['doc', 'pat'] });
  c2 = await s.conversation({ participants: ['doc', 'nurse'] });
  c3 = await s.conversation({ participants: ['doc', 'pat2'] });
  sent.zh1 = (await s.sendAs('pat', c1, '医生您好，我手臂上出现皮疹，还有点发热')).id;
  sent.en1 = (await s.sendAs('doc', c1, 'Please send a photo of the Rash on your arm')).id;
  sent.zh2 = (await s.sendAs('nurse', c2, '3床患者皮疹加重，rash spreading')).id;
  sent.zh3 = (await s.sendAs('pat2', c3, '皮疹好多了，谢谢医生')).id;
  other = await secondTenant(s);
  await other.user('doc', 'doctor');
  const x = await other.conversation({ participants: ['doc'] });
  ok(await s.call('POST', `/api/v2/sessions/${x}/messages`, { apiKey: other.apiKey, body: { type: 1, content: { text: 'other clinic 皮疹 rash' }, sender_id: 'doc' } }));
});
after(() => s.stop());

describe('search over REST', () => {
  test('a user finds Chinese and English words in their conversations only, newest first, highlighted', async () => {
    const body = ok(await search(`q=${encodeURIComponent('皮疹')}`, pat.token));
    assert.deepEqual(hitIds(body), [sent.zh1]);
    assert.equal(body.next_cursor, null);
    const h = body.items[0].highlight;
    assert.equal(h.field, 'text');
    assert.deepEqual(h.ranges.map(([a, b]: [number, number]) => h.text.slice(a, b)), ['皮疹']);

    assert.deepEqual(hitIds(ok(await search(`q=${encodeURIComponent('皮疹')}`, doc.token))), [sent.zh3, sent.zh2, sent.zh1]);
    assert.deepEqual(hitIds(ok(await search('q=rash', doc.token))), [sent.zh2, sent.en1]);
    assert.deepEqual(hitIds(ok(await search('q=RASH+arm', pat.token))), [sent.en1]);
    assert.deepEqual(hitIds(ok(await search(`q=${encodeURIComponent('皮疹')}`, nurse.token))), [sent.zh2]);
    // pat2 is in c3 only: nothing of c1 or c2, whatever the words.
    assert.deepEqual(hitIds(ok(await search('q=rash', pat2.token))), []);
  });

  test('an API key searches its tenant, never another', async () => {
    assert.deepEqual(hitIds(ok(await search(`q=${encodeURIComponent('皮疹')}`))), [sent.zh3, sent.zh2, sent.zh1]);
    const theirs = ok(await s.call('GET', `/api/v2/search/messages?q=${encodeURIComponent('皮疹')}`, { apiKey: other.apiKey }));
    assert.equal(theirs.items.length, 1);
    assert.equal(theirs.items[0].message.content.text, 'other clinic 皮疹 rash');
    // On behalf of a user: that user's conversations.
    const onBehalf = ok(await s.call('GET', `/api/v2/search/messages?q=rash`, { headers: { 'x-on-behalf-of': 'pat' }, apiKey: s.apiKey }));
    assert.deepEqual(hitIds(onBehalf), [sent.en1]);
  });

  test('a conversation filter must name a conversation the caller is in', async () => {
    assertError(await search(`q=rash&conversation_id=${c2}`, pat.token), 'conversation.not_participant');
    assertError(await search('q=rash&conversation_id=nope', doc.token), 'conversation.not_found');
    assertError(await s.call('GET', `/api/v2/search/messages?q=rash&conversation_id=${c1}`, { apiKey: other.apiKey }), 'conversation.not_found');
    assert.deepEqual(hitIds(ok(await search(`q=rash&conversation_id=${c1}`, doc.token))), [sent.en1]);
  });

  test('filters: sender, type, dates (ms or ISO 8601)', async () => {
    const q = `q=${encodeURIComponent('皮疹')}`;
    assert.deepEqual(hitIds(ok(await search(`${q}&sender_id=nurse`, doc.token))), [sent.zh2]);
    assert.deepEqual(hitIds(ok(await search(`${q}&type=4`, doc.token))), []);
    assert.deepEqual(hitIds(ok(await search(`${q}&type=1&sender_id=pat`, doc.token))), [sent.zh1]);
    const future = Date.now() + 3_600_000;
    assert.deepEqual(hitIds(ok(await search(`${q}&from=${future}`, doc.token))), []);
    assert.deepEqual(hitIds(ok(await search(`${q}&to=${future}&from=2020-01-01`, doc.token))).length, 3);
    assert.deepEqual(hitIds(ok(await search(`${q}&to=2020-01-01T00:00:00Z`, doc.token))), []);
  });

  test('pages with a cursor', async () => {
    const q = `q=${encodeURIComponent('皮疹')}&limit=2`;
    const p1 = ok(await search(q, doc.token));
    assert.deepEqual(hitIds(p1), [sent.zh3, sent.zh2]);
    assert.ok(p1.next_cursor);
    const p2 = ok(await search(`${q}&cursor=${p1.next_cursor}`, doc.token));
    assert.deepEqual(hitIds(p2), [sent.zh1]);
    assert.equal(p2.next_cursor, null);
  });

  test('a recalled message is not found', async () => {
    const m = await s.sendAs('pat', c1, '荨麻疹 after amoxicillin');
    assert.deepEqual(hitIds(ok(await search('q=amoxicillin', doc.token))), [m.id]);
    ok(await s.call('POST', `/api/v2/sessions/${c1}/messages/${m.id}/recall`, { headers: { 'x-on-behalf-of': 'pat' }, apiKey: s.apiKey }));
    assert.deepEqual(hitIds(ok(await search('q=amoxicillin', doc.token))), []);
    assert.deepEqual(hitIds(ok(await search(`q=${encodeURIComponent('荨麻疹')}`, doc.token))), []);
  });

  test('a search that shows messages of a patient conversation is audit-logged, with its words', async () => {
    const records = async () => ok(await s.call('GET', '/api/v2/management/audit?limit=1000')).records.filter((r: any) => r.action === 'messages.search');
    const before = (await records()).length;
    ok(await search(`q=${encodeURIComponent('皮疹')}`, doc.token));
    const added = (await records()).slice(before);
    // c1 and c3 hold a patient; c2 (doctor and nurse) does not.
    assert.deepEqual(added.map((r: any) => r.conversation_id).sort(), [c1, c3].sort());
    const r1 = added.find((r: any) => r.conversation_id === c1);
    assert.equal(r1.actor_id, 'doc');
    assert.deepEqual(r1.detail.terms, ['皮疹']);
    assert.deepEqual(r1.detail.message_ids, [sent.zh1]);
    // Limited to a patient conversation: recorded even when nothing is found.
    const n = (await records()).length;
    ok(await search(`q=zzzz&conversation_id=${c1}`, doc.token));
    assert.deepEqual((await records()).slice(n).map((r: any) => [r.conversation_id, r.detail.count]), [[c1, 0]]);
  });

  test('bad input gets search.* codes', async () => {
    assertError(await search('q=', doc.token), 'search.query_empty');
    assertError(await search('q=%20%20', doc.token), 'search.query_empty');
    assertError(await search('', doc.token), 'search.query_empty');
    assertError(await search('q=a+b+c', doc.token), 'search.query_too_short');
    assertError(await search(`q=${encodeURIComponent('痛')}`, doc.token), 'search.query_too_short');
    assertError(await search(`q=${'x'.repeat(201)}`, doc.token), 'search.query_too_long');
    assertError(await search(`q=${Array.from({ length: 9 }, (_, i) => `w${i}`).join('+')}`, doc.token), 'search.query_too_long');
    assertError(await search('q=rash&cursor=nonsense', doc.token), 'search.cursor_invalid');
    assertError(await search('q=rash&from=yesterday', doc.token), 'search.date_invalid');
    assertError(await search('q=rash&to=2024-13-45', doc.token), 'search.date_invalid');
    assertError(await search('q=rash&from=2025-01-02&to=2025-01-01', doc.token), 'search.date_invalid');
    assertError(await search('q=rash&limit=0', doc.token), 'request.invalid');
    assertError(await search('q=rash&type=text', doc.token), 'request.invalid');
    assertError(await s.call('GET', '/api/v2/search/messages?q=rash', { apiKey: null }), 'auth.missing');
  });
});

describe('client.search (SDK)', () => {
  test('finds, filters, pages and rejects with the server code', async () => {
    const c = new CarelineClient({ url: s.url, token: doc.token, storage: new MemoryStorage() });
    try {
      const page = await c.search({ q: '皮疹', limit: 2 });
      assert.deepEqual(page.items.map((h) => h.message.id), [sent.zh3, sent.zh2]);
      assert.ok(page.next_cursor);
      const next = await c.search({ q: '皮疹', limit: 2, cursor: page.next_cursor });
      assert.deepEqual(next.items.map((h) => h.message.id), [sent.zh1]);
      const filtered = await c.search({ q: 'rash', conversation_id: c1, from: new Date(Date.now() - 3_600_000), to: Date.now() + 60_000 });
      assert.deepEqual(filtered.items.map((h) => h.message.id), [sent.en1]);
      assert.deepEqual(highlightParts(filtered.items[0]!.highlight!).filter(([, m]) => m).map(([t]) => t), ['Rash']);
      await assert.rejects(c.search({ q: ' ' }), (e: unknown) => e instanceof CarelineError && e.code === 'search.query_empty');
    } finally {
      await c.close();
    }
  });
});
