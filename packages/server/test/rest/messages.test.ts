/**
 * Messages over REST: every type of the content table (seed 000's codes), content
 * validation, who may send what, idempotent sends, gap-free seqs, history paging, single
 * messages, recall (tombstone + system notice), forward (types 8, 9, 19), read cursors,
 * unread counts and the badge number.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CallContent, CustomContent, FileContent, ForwardContent, ImageContent, LinkContent, MessageTypeTable, PersonalCardContent, SystemContent, TextContent,
  VideoContent, VoiceContent,
} from '@careline/protocol';
import type { TSchema } from 'typebox';
import { startTestServer, type TestServer } from '../support/server.ts';
import { assertError, ok, type Reply } from './helpers.ts';

const PAGE_MAX = 20;
let s: TestServer;
const tok: Record<string, string> = {};

const as = (who: string) => ({ token: tok[who]! });
const msgs = (conv: string) => `/api/v2/sessions/${conv}/messages`;
const send = (conv: string, body: Record<string, unknown>, o: { token?: string; headers?: Record<string, string> } = {}): Promise<Reply> =>
  s.call('POST', msgs(conv), { body, ...o });
const text = (t: string, extra: Record<string, unknown> = {}) => ({ type: 1, content: { text: t }, ...extra });
const history = async (conv: string, q = '', who = 'doc') => ok(await s.call('GET', `${msgs(conv)}${q}`, as(who))) as { messages: { seq: number; id: string; type: number; content: any; sender_id: string; recalled_at: number | null; forward: any }[]; has_more: boolean };
const lastSeq = async (conv: string) => ok(await s.call('GET', `/api/v2/sessions/${conv}/session`)).session.last_seq as number;
const seqs = (list: { seq: number }[]) => list.map((m) => m.seq);
const range = (a: number, b: number) => [...Array(b - a + 1)].map((_, i) => a + i);

/** A valid content for each content schema of the table. */
const samples = new Map<TSchema, Record<string, unknown>>([
  [SystemContent, { text: 'Topic started', event: 'topic.started', data: { topic_id: 't1' } }],
  [TextContent, { text: '您好,医生 👋', mentions: ['doc'] }],
  [ImageContent, { storageId: 'img-1', url: 'https://files.example/img-1.png', thumbnail: 'https://files.example/img-1-t.png', width: 800, height: 600, thumbnailWidth: 80, thumbnailHeight: 60, mimeType: 'image/png' }],
  [VoiceContent, { storageId: 'voice-1', duration: 3.5, mimeType: 'audio/amr' }],
  [VideoContent, { storageId: 'video-1', duration: 12, fileName: 'clip.mp4', fileSize: '1048576', thumbnail: 'https://files.example/t.jpg' }],
  [FileContent, { storageId: 'file-1', fileName: 'report.pdf', fileSize: 20480, mimeType: 'application/pdf' }],
  [LinkContent, { title: 'Blood pressure follow-up', content: 'Please fill in', url: 'https://app.example/form/1', data: { consult: 'c1' } }],
  [PersonalCardContent, { user_id: 'doc', name: 'Dr. Doc', role: 'doctor', title: 'Family doctor' }],
  [ForwardContent, { type: 3, content: { storageId: 'voice-9', duration: 2 } }],
  [CustomContent, { kind: 'vitals', data: { systolic: 120, diastolic: 80 } }],
  [CallContent, { status: 'hangup', avType: 'video', uid: 'doc', roomId: 'call-1', timestamp: 1675416709033, useTime: 95, answered: true, duration: 95 }],
]);

before(async () => {
  s = await startTestServer({ config: { messages: { historyPageMax: PAGE_MAX } } });
  for (const [id, role] of [['pat', 'patient'], ['doc', 'doctor'], ['doc2', 'doctor'], ['outsider', 'doctor']] as const) {
    tok[id] = (await s.user(id, role)).token;
  }
});
after(() => s.stop());

describe('sending each message type', () => {
  let conv: string;
  before(async () => {
    conv = await s.conversation({ participants: ['pat', 'doc'], type: 6, id: 'types' });
  });

  test('every type of the content table with a valid content is stored as sent (system-only ones with the API key)', async () => {
    let expected = await lastSeq(conv);
    const sendable = MessageTypeTable.filter((t) => !t.reserved);
    assert.ok(sendable.length >= 30);
    for (const info of sendable) {
      const content = samples.get(info.schema);
      assert.ok(content, `a sample for ${info.name}`);
      const r = info.sender === 'system'
        ? await send(conv, { type: info.code, content })
        : await send(conv, { type: info.code, content }, as('pat'));
      const body = ok(r, `type ${info.code} (${info.name})`);
      expected += 1;
      assert.equal(body.duplicate, false);
      assert.equal(body.message.type, info.code);
      assert.equal(body.message.seq, expected);
      assert.deepEqual(body.message.content, content);
      assert.equal(body.message.sender_id, info.sender === 'system' ? 'system' : 'pat');
      assert.equal(body.message.conversation_id, conv);
      assert.equal(body.message.recalled_at, null);
      assert.equal(body.message.forward, null);
      const stored = ok(await s.call('GET', `${msgs(conv)}/${body.message.id}`, as('doc'))).message;
      assert.deepEqual(stored, body.message, `type ${info.code} reads back the same`);
    }
    assert.equal(await lastSeq(conv), expected);
  });

  test('invalid contents → message.content_invalid with the failing paths; nothing stored', async () => {
    const before = await lastSeq(conv);
    const bad: [number, unknown][] = [
      [1, {}], [1, { text: '' }], [1, { text: 5 }], [1, { text: 'x', extra: true }], [1, { text: 'x'.repeat(16_001) }], [1, { text: 'x', mentions: [''] }],
      [2, { url: 'https://x' }], [2, { storageId: 's', width: -1 }], [2, { storageId: 's', width: 1.5 }],
      [3, { storageId: 's' }], [3, { storageId: 's', duration: 86_401 }], [3, { storageId: 's', duration: '3' }],
      [4, { content: 'no title' }], [5, { title: '' }], [15, { title: 't', data: 'not an object' }],
      [8, { storageId: 's' }], [9, { text: 'not an image' }],
      [12, { storageId: 's' }], [12, { storageId: 's', duration: 1, fileSize: '12ab' }],
      [18, { user_id: 'doc' }], [19, { type: '1', content: {} }], [19, { type: 1 }],
      [1000, { storageId: 's', fileName: 'a', fileSize: -1 }], [1000, { storageId: 's', fileName: 'a' }],
      [1100, { kind: '' }], [1100, { kind: 'k', data: [] }], [2104, {}],
    ];
    for (const [type, content] of bad) {
      const r = await send(conv, { type, content }, as('doc'));
      assertError(r, 'message.content_invalid', `type ${type} ${JSON.stringify(content).slice(0, 60)}`);
      assert.equal(r.body.details.type, type);
      assert.ok(Array.isArray(r.body.details.errors) && r.body.details.errors.length > 0);
      assert.equal(typeof r.body.details.errors[0].path, 'string');
      assert.equal(typeof r.body.details.errors[0].message, 'string');
    }
    // System contents are checked too (with the API key).
    assertError(await send(conv, { type: 0, content: { event: '' } }), 'message.content_invalid');
    assertError(await send(conv, { type: 6, content: { text: 'x', topic: 't' } }), 'message.content_invalid');
    // content must be an object at all.
    for (const content of ['hi', 5, null, ['x']]) assertError(await send(conv, { type: 1, content }, as('doc')), 'request.invalid', JSON.stringify(content));
    assert.equal(await lastSeq(conv), before);
  });

  test('reserved codes 11 and 13 → message.type_reserved; unknown codes → message.type_unknown', async () => {
    const before = await lastSeq(conv);
    for (const type of [11, 13]) {
      assertError(await send(conv, { type, content: { text: 'x' } }, as('doc')), 'message.type_reserved', `user ${type}`);
      assertError(await send(conv, { type, content: { text: 'x' } }), 'message.type_reserved', `key ${type}`);
    }
    for (const type of [27, 99, 2101, 2105, 1003, -1, 2 ** 31]) {
      const r = await send(conv, { type, content: { text: 'x' } }, as('doc'));
      assertError(r, 'message.type_unknown', `type ${type}`);
      assert.equal(r.body.details.type, type);
    }
    for (const type of ['1', 1.5, null]) assertError(await send(conv, { type, content: { text: 'x' } }, as('doc')), 'request.invalid', `type ${type}`);
    assert.equal(await lastSeq(conv), before);
  });

  test('system-only types (0, 6, 7, 10, 14) from a user → message.type_forbidden; from the API key they are sent', async () => {
    // 1002 (a call's record) is written by the server when a call ends; its content has its own schema.
    const systemOnly = MessageTypeTable.filter((t) => t.sender === 'system' && !t.reserved && t.code !== 1002).map((t) => t.code);
    assert.deepEqual(systemOnly, [0, 6, 7, 10, 14]);
    assert.equal(MessageTypeTable.find((t) => t.code === 1002)?.sender, 'system');
    const before = await lastSeq(conv);
    for (const type of systemOnly) {
      assertError(await send(conv, { type, content: { text: 'x' } }, as('doc')), 'message.type_forbidden', `doctor ${type}`);
      assertError(await send(conv, { type, content: { text: 'x' } }, as('pat')), 'message.type_forbidden', `patient ${type}`);
      assertError(await send(conv, { type, content: { text: 'x' } }, { headers: { 'x-on-behalf-of': 'doc' } }), 'message.type_forbidden', `on behalf ${type}`);
    }
    assert.equal(await lastSeq(conv), before);
    for (const type of systemOnly) {
      const m = ok(await send(conv, { type, content: { text: `system ${type}` } })).message;
      assert.equal(m.sender_id, 'system');
      assert.equal(m.type, type);
    }
    // The integrator may also send a system type in a participant's name.
    assert.equal(ok(await send(conv, { type: 14, content: { event: 'topic.entered' }, sender_id: 'pat' })).message.sender_id, 'pat');
    assert.equal(await lastSeq(conv), before + systemOnly.length + 1);
  });

  test('sender_id: only with the API key, and only a participant', async () => {
    assert.equal(ok(await send(conv, text('as doc', { sender_id: 'doc' }))).message.sender_id, 'doc');
    assert.equal(ok(await send(conv, text('as system'))).message.sender_id, 'system');
    assertError(await send(conv, text('x', { sender_id: 'outsider' })), 'conversation.not_participant');
    assertError(await send(conv, text('x', { sender_id: 'ghost' })), 'conversation.not_participant');
    assertError(await send(conv, text('x', { sender_id: 'doc' }), as('pat')), 'auth.forbidden');
    assertError(await send(conv, text('x', { sender_id: '' })), 'request.invalid');
  });

  test('who may send: not a participant → conversation.not_participant; unknown conversation → conversation.not_found', async () => {
    assertError(await send(conv, text('x'), as('outsider')), 'conversation.not_participant');
    assertError(await send('no-such-conv', text('x'), as('doc')), 'conversation.not_found');
    assertError(await send('no-such-conv', text('x')), 'conversation.not_found');
  });
});

describe('idempotent sends and seqs', () => {
  let a: string;
  let b: string;
  before(async () => {
    a = await s.conversation({ participants: ['pat', 'doc'], type: 6, id: 'idem-a' });
    b = await s.conversation({ participants: ['pat', 'doc'], type: 6, id: 'idem-b' });
  });

  test('the same client_id again returns duplicate:true with the same id and seq, and stores nothing', async () => {
    const first = ok(await send(a, text('once', { client_id: 'c-1' }), as('pat')));
    assert.equal(first.duplicate, false);
    assert.equal(first.message.client_id, 'c-1');
    const before = await lastSeq(a);
    const again = ok(await send(a, text('once', { client_id: 'c-1' }), as('pat')));
    assert.equal(again.duplicate, true);
    assert.deepEqual(again.message, first.message);
    // Even with another content: the first message wins.
    const changed = ok(await send(a, text('changed', { client_id: 'c-1' }), as('pat')));
    assert.equal(changed.duplicate, true);
    assert.equal(changed.message.content.text, 'once');
    // Through the API key on behalf of the same sender it is the same client id.
    const viaKey = ok(await send(a, text('once', { client_id: 'c-1', sender_id: 'pat' })));
    assert.equal(viaKey.duplicate, true);
    assert.equal(viaKey.message.id, first.message.id);
    assert.equal(await lastSeq(a), before);
    assert.equal((await history(a)).messages.filter((m) => m.content?.text === 'once').length, 1);
    // Concurrent retries of one client id store one message.
    const burst = await Promise.all([...Array(5)].map(() => send(a, text('burst', { client_id: 'c-burst' }), as('pat'))));
    const bodies = burst.map((r) => ok(r));
    assert.equal(new Set(bodies.map((x) => x.message.id)).size, 1);
    assert.equal(bodies.filter((x) => !x.duplicate).length, 1);
    assert.equal(await lastSeq(a), before + 1);
  });

  test('client ids are per sender: another sender may use the same one', async () => {
    const p = ok(await send(a, text('p', { client_id: 'shared-cid' }), as('pat')));
    const d = ok(await send(a, text('d', { client_id: 'shared-cid' }), as('doc')));
    assert.equal(d.duplicate, false);
    assert.notEqual(d.message.id, p.message.id);
    assert.equal(d.message.seq, p.message.seq + 1);
  });

  test('the same client_id in another conversation → message.client_id_conflict; nothing stored there', async () => {
    ok(await send(a, text('in a', { client_id: 'c-conflict' }), as('pat')));
    const before = await lastSeq(b);
    assertError(await send(b, text('in b', { client_id: 'c-conflict' }), as('pat')), 'message.client_id_conflict');
    assert.equal(await lastSeq(b), before);
    assertError(await send(b, text('x', { client_id: '' }), as('pat')), 'request.invalid');
    assertError(await send(b, text('x', { client_id: 'x'.repeat(65) }), as('pat')), 'request.invalid');
  });

  test('seqs are 1..N with no gaps, also under concurrent sends from several senders', async () => {
    const conv = await s.conversation({ participants: ['pat', 'doc', 'doc2'], type: 6, id: 'seqs' });
    const who = ['pat', 'doc', 'doc2'];
    const results = await Promise.all([...Array(30)].map((_, i) => send(conv, text(`n${i}`), as(who[i % 3]!))));
    const got = results.map((r) => ok(r).message.seq).sort((x, y) => x - y);
    assert.deepEqual(got, range(1, 30));
    const page = await history(conv, '?limit=20');
    assert.deepEqual(seqs(page.messages), range(11, 30));
    assert.equal(await lastSeq(conv), 30);
  });
});

describe('history', () => {
  let conv: string;
  const N = 23;
  before(async () => {
    conv = await s.conversation({ participants: ['pat', 'doc'], type: 6, id: 'history' });
    for (let i = 1; i <= N; i++) await s.sendAs(i % 2 ? 'doc' : 'pat', conv, `m${i}`);
  });

  test('no cursor: the newest page, ascending', async () => {
    const p = await history(conv, '?limit=10');
    assert.deepEqual(seqs(p.messages), range(14, 23));
    assert.equal(p.has_more, true);
    assert.equal(p.messages[9]!.content.text, 'm23');
    const max = await history(conv, `?limit=${PAGE_MAX}`);
    assert.deepEqual(seqs(max.messages), range(N - PAGE_MAX + 1, N));
    assert.equal(max.has_more, true);
    // Default limit is 50, capped by the configured page maximum.
    const def = await history(conv);
    assert.deepEqual(seqs(def.messages), range(N - PAGE_MAX + 1, N));
    assert.equal(def.has_more, true);
  });

  test('before: older pages with has_more', async () => {
    let p = await history(conv, '?before=14&limit=10');
    assert.deepEqual(seqs(p.messages), range(4, 13));
    assert.equal(p.has_more, true);
    p = await history(conv, '?before=4&limit=10');
    assert.deepEqual(seqs(p.messages), [1, 2, 3]);
    assert.equal(p.has_more, false);
    p = await history(conv, '?before=11&limit=10');
    assert.deepEqual(seqs(p.messages), range(1, 10));
    assert.equal(p.has_more, false, 'exactly the rest');
    p = await history(conv, '?before=1');
    assert.deepEqual(p, { messages: [], has_more: false });
    p = await history(conv, '?before=1000&limit=3');
    assert.deepEqual(seqs(p.messages), [21, 22, 23]);
  });

  test('after: newer pages with has_more', async () => {
    let p = await history(conv, '?after=0&limit=10');
    assert.deepEqual(seqs(p.messages), range(1, 10));
    assert.equal(p.has_more, true);
    p = await history(conv, '?after=10&limit=10');
    assert.deepEqual(seqs(p.messages), range(11, 20));
    assert.equal(p.has_more, true);
    p = await history(conv, '?after=20&limit=10');
    assert.deepEqual(seqs(p.messages), [21, 22, 23]);
    assert.equal(p.has_more, false);
    p = await history(conv, '?after=13&limit=10');
    assert.deepEqual(seqs(p.messages), range(14, 23));
    assert.equal(p.has_more, false, 'exactly the rest');
    assert.deepEqual(await history(conv, `?after=${N}`), { messages: [], has_more: false });
  });

  test('after and before together: the window between them', async () => {
    let p = await history(conv, '?after=5&before=9');
    assert.deepEqual(seqs(p.messages), [6, 7, 8]);
    assert.equal(p.has_more, false);
    p = await history(conv, '?after=5&before=12&limit=3');
    assert.deepEqual(seqs(p.messages), [6, 7, 8]);
    assert.equal(p.has_more, true);
  });

  test('over 3+ pages, backward and forward, every message exactly once', async () => {
    for (const limit of [1, 4, 7, 10]) {
      const back: number[] = [];
      let page = await history(conv, `?limit=${limit}`);
      back.unshift(...seqs(page.messages));
      let rounds = 1;
      while (page.has_more) {
        page = await history(conv, `?limit=${limit}&before=${page.messages[0]!.seq}`);
        back.unshift(...seqs(page.messages));
        assert.ok(++rounds <= N + 1, 'terminates');
      }
      assert.ok(rounds >= 3);
      assert.deepEqual(back, range(1, N), `backward, limit ${limit}`);

      const fwd: number[] = [];
      let after = 0;
      for (;;) {
        const p = await history(conv, `?limit=${limit}&after=${after}`);
        fwd.push(...seqs(p.messages));
        if (!p.has_more) break;
        after = p.messages[p.messages.length - 1]!.seq;
      }
      assert.deepEqual(fwd, range(1, N), `forward, limit ${limit}`);
    }
  });

  test('limit bounds and bad cursors → request.invalid; big limits are capped', async () => {
    for (const q of ['?limit=0', '?limit=-1', '?limit=5001', '?limit=ten', '?limit=1.5', '?limit=', '?limit=1e1', '?before=0', '?before=', '?before=-3', '?after=-1', '?after=x', '?before=1.5']) {
      assertError(await s.call('GET', `${msgs(conv)}${q}`, as('doc')), 'request.invalid', q);
    }
    const capped = await history(conv, '?limit=5000&after=0');
    assert.deepEqual(seqs(capped.messages), range(1, PAGE_MAX));
    assert.equal(capped.has_more, true);
    assert.equal((await history(conv, '?limit=1')).messages.length, 1);
  });

  test('who may read: participants and the API key; others get conversation.not_participant / not_found', async () => {
    ok(await s.call('GET', msgs(conv)));
    ok(await s.call('GET', msgs(conv), as('pat')));
    assertError(await s.call('GET', msgs(conv), as('outsider')), 'conversation.not_participant');
    assertError(await s.call('GET', msgs('no-such-conv'), as('doc')), 'conversation.not_found');
  });
});

describe('single message', () => {
  test('GET /:id/messages/:message_id; another conversation\'s message id → message.not_found', async () => {
    const a = await s.conversation({ participants: ['pat', 'doc'], type: 6, id: 'single-a' });
    const b = await s.conversation({ participants: ['pat', 'doc'], type: 6, id: 'single-b' });
    const inA = await s.sendAs('doc', a, 'in a');
    const inB = await s.sendAs('doc', b, 'in b');
    const m = ok(await s.call('GET', `${msgs(a)}/${inA.id}`, as('pat'))).message;
    assert.equal(m.id, inA.id);
    assert.equal(m.seq, inA.seq);
    assert.equal(m.content.text, 'in a');
    assert.equal(m.sender_id, 'doc');
    assert.equal(typeof m.created_at, 'number');
    assertError(await s.call('GET', `${msgs(a)}/${inB.id}`, as('pat')), 'message.not_found');
    assertError(await s.call('GET', `${msgs(a)}/01ARZ3NDEKTSV4RRFFQ69G5FAV`, as('pat')), 'message.not_found');
    assertError(await s.call('GET', `${msgs(a)}/${inA.id}`, as('outsider')), 'conversation.not_participant');
    assertError(await s.call('GET', `${msgs('no-such-conv')}/${inA.id}`, as('pat')), 'conversation.not_found');
    assertError(await s.call('GET', `${msgs(a)}/${'x'.repeat(65)}`, as('pat')), 'request.invalid');
  });
});

describe('recall', () => {
  let conv: string;
  before(async () => {
    conv = await s.conversation({ participants: ['pat', 'doc'], type: 6, id: 'recall' });
  });
  const recall = (id: string, o: { token?: string; headers?: Record<string, string> } = {}) => s.call('POST', `${msgs(conv)}/${id}/recall`, o);

  test('the sender within the window: a tombstone at the same seq, and a type-0 notice with event message.recalled', async () => {
    await s.sendAs('pat', conv, 'before');
    const m = ok(await send(conv, text('oops'), as('doc'))).message;
    await s.sendAs('pat', conv, 'after');
    const head = await lastSeq(conv);
    const r = ok(await recall(m.id, as('doc'))).message;
    assert.equal(r.id, m.id);
    assert.equal(r.seq, m.seq);
    assert.equal(r.content, null);
    assert.equal(typeof r.recalled_at, 'number');
    assert.ok(r.recalled_at >= m.created_at);
    assert.deepEqual(ok(await s.call('GET', `${msgs(conv)}/${m.id}`, as('pat'))).message, r);
    const page = await history(conv, '', 'pat');
    const tomb = page.messages.find((x) => x.id === m.id)!;
    assert.equal(tomb.content, null);
    assert.equal(tomb.seq, m.seq);
    const notice = page.messages[page.messages.length - 1]!;
    assert.equal(notice.seq, head + 1);
    assert.equal(notice.type, 0);
    assert.equal(notice.sender_id, 'doc');
    assert.equal(notice.content.event, 'message.recalled');
    assert.equal(notice.content.data.message_id, m.id);
    assert.equal(notice.content.data.seq, m.seq);
    // The rest of the history is untouched.
    assert.deepEqual(page.messages.filter((x) => x.content?.text).map((x) => x.content.text), ['before', 'after']);
    assertError(await recall(m.id, as('doc')), 'message.already_recalled');
    assertError(await s.call('POST', `${msgs(conv)}/${m.id}/forward`, { ...as('doc'), body: { to: [conv] } }), 'message.already_recalled');
  });

  test('someone else → message.recall_forbidden; the integrator may recall any message', async () => {
    const m = ok(await send(conv, text('mine'), as('doc'))).message;
    const head = await lastSeq(conv);
    assertError(await recall(m.id, as('pat')), 'message.recall_forbidden');
    assertError(await recall(m.id, { headers: { 'x-on-behalf-of': 'pat' } }), 'message.recall_forbidden');
    assertError(await recall(m.id, as('outsider')), 'conversation.not_participant');
    assert.equal(await lastSeq(conv), head, 'no notice for a refused recall');
    assert.notEqual(ok(await s.call('GET', `${msgs(conv)}/${m.id}`, as('pat'))).message.content, null);
    const byKey = ok(await recall(m.id)).message;
    assert.equal(byKey.content, null);
    const notice = (await history(conv, '?limit=1')).messages[0]!;
    assert.equal(notice.sender_id, 'system');
    assert.equal(notice.content.data.by, 'system');
  });

  test('unknown message, another conversation\'s message → message.not_found', async () => {
    const other = await s.conversation({ participants: ['pat', 'doc'], type: 6, id: 'recall-other' });
    const m = ok(await send(other, text('elsewhere'), as('doc'))).message;
    assertError(await recall(m.id, as('doc')), 'message.not_found');
    assertError(await recall('01ARZ3NDEKTSV4RRFFQ69G5FAV', as('doc')), 'message.not_found');
    assert.notEqual(ok(await s.call('GET', `${msgs(other)}/${m.id}`, as('doc'))).message.content, null);
  });

  test('after the window → message.recall_expired (server with recallWindowSeconds 0)', async () => {
    const t = await startTestServer({ config: { messages: { recallWindowSeconds: 0 } } });
    try {
      const doc = await t.user('doc', 'doctor');
      await t.user('pat', 'patient');
      const c = await t.conversation({ participants: ['doc', 'pat'] });
      const m = ok(await t.call('POST', msgs(c), { token: doc.token, body: text('too late') })).message;
      await new Promise((r) => setTimeout(r, 5));
      const head = ok(await t.call('GET', `/api/v2/sessions/${c}/session`)).session.last_seq;
      const r = await t.call('POST', `${msgs(c)}/${m.id}/recall`, { token: doc.token });
      assertError(r, 'message.recall_expired');
      assert.equal(r.body.details.window_seconds, 0);
      assert.equal(ok(await t.call('GET', `/api/v2/sessions/${c}/session`)).session.last_seq, head);
      assert.equal(ok(await t.call('GET', `${msgs(c)}/${m.id}`, { token: doc.token })).message.content.text, 'too late');
      // The integrator is not bound by the window.
      assert.equal(ok(await t.call('POST', `${msgs(c)}/${m.id}/recall`)).message.content, null);
    } finally {
      await t.stop();
    }
  });
});

describe('forward', () => {
  let src: string;
  let dst1: string;
  let dst2: string;
  let foreign: string;
  before(async () => {
    src = await s.conversation({ participants: ['pat', 'doc'], type: 6, id: 'fwd-src' });
    dst1 = await s.conversation({ participants: ['doc', 'doc2'], type: 6, id: 'fwd-dst1' });
    dst2 = await s.conversation({ participants: ['doc', 'pat'], type: 6, id: 'fwd-dst2' });
    foreign = await s.conversation({ participants: ['doc2', 'outsider'], type: 6, id: 'fwd-foreign' });
  });
  const forward = (id: string, body: Record<string, unknown>, who = 'doc') => s.call('POST', `${msgs(src)}/${id}/forward`, { ...as(who), body });

  test('text → type 8, into each target, with forward info', async () => {
    const orig = ok(await send(src, text('please see this', { client_id: 'fwd-orig' }), as('pat'))).message;
    const out = ok(await forward(orig.id, { to: [dst1, dst2] })).messages;
    assert.equal(out.length, 2);
    assert.deepEqual(out.map((m: { conversation_id: string }) => m.conversation_id), [dst1, dst2]);
    for (const m of out) {
      assert.equal(m.type, 8);
      assert.deepEqual(m.content, { text: 'please see this' });
      assert.equal(m.sender_id, 'doc');
      assert.deepEqual(m.forward, { conversation_id: src, message_id: orig.id, sender_id: 'pat' });
      assert.deepEqual(ok(await s.call('GET', `${msgs(m.conversation_id)}/${m.id}`, as('doc'))).message, m);
    }
    const seen = ok(await s.call('GET', `${msgs(dst1)}/${out[0].id}`, as('doc2'))).message;
    assert.equal(seen.type, 8);
    // A forwarded text forwarded again stays type 8.
    const again = ok(await s.call('POST', `${msgs(dst1)}/${out[0].id}/forward`, { ...as('doc2'), body: { to: [foreign] } })).messages[0];
    assert.equal(again.type, 8);
    assert.equal(again.forward.message_id, out[0].id);
  });

  test('image → type 9; other types → 19 wrapping the original', async () => {
    const img = samples.get(ImageContent)!;
    const image = ok(await send(src, { type: 2, content: img }, as('pat'))).message;
    const f1 = ok(await forward(image.id, { to: [dst1] })).messages[0];
    assert.equal(f1.type, 9);
    assert.deepEqual(f1.content, img);
    const voice = samples.get(VoiceContent)!;
    const v = ok(await send(src, { type: 3, content: voice }, as('pat'))).message;
    const f2 = ok(await forward(v.id, { to: [dst1] })).messages[0];
    assert.equal(f2.type, 19);
    assert.deepEqual(f2.content, { type: 3, content: voice });
    const card = samples.get(PersonalCardContent)!;
    const c = ok(await send(src, { type: 18, content: card }, as('doc'))).message;
    const f3 = ok(await forward(c.id, { to: [dst2] })).messages[0];
    assert.equal(f3.type, 19);
    assert.deepEqual(f3.content, { type: 18, content: card });
    assert.deepEqual(f3.forward, { conversation_id: src, message_id: c.id, sender_id: 'doc' });
    // A 19 forwarded again wraps the 19.
    const f4 = ok(await s.call('POST', `${msgs(dst2)}/${f3.id}/forward`, { ...as('doc'), body: { to: [dst1] } })).messages[0];
    assert.equal(f4.type, 19);
    assert.deepEqual(f4.content, { type: 19, content: { type: 18, content: card } });
  });

  test('into a conversation the caller is not in, or that does not exist → refused, nothing written anywhere', async () => {
    const orig = ok(await send(src, text('private'), as('doc'))).message;
    const heads = [await lastSeq(dst1), await lastSeq(foreign)];
    assertError(await forward(orig.id, { to: [dst1, foreign] }), 'conversation.not_participant');
    assertError(await forward(orig.id, { to: [dst1, 'no-such-conv'] }), 'conversation.not_found');
    assert.deepEqual([await lastSeq(dst1), await lastSeq(foreign)], heads);
    assertError(await forward(orig.id, { to: [] }), 'request.invalid');
    assertError(await forward(orig.id, {}), 'request.invalid');
    assertError(await forward(orig.id, { to: dst1 }), 'request.invalid');
    assertError(await forward('01ARZ3NDEKTSV4RRFFQ69G5FAV', { to: [dst1] }), 'message.not_found');
    assertError(await forward(orig.id, { to: [dst1] }, 'outsider'), 'conversation.not_participant');
  });

  test('a client_id makes a forward idempotent', async () => {
    const orig = ok(await send(src, text('once only'), as('doc'))).message;
    const a = ok(await forward(orig.id, { to: [dst1, dst2], client_id: 'fw-1' })).messages;
    const heads = [await lastSeq(dst1), await lastSeq(dst2)];
    const b = ok(await forward(orig.id, { to: [dst1, dst2], client_id: 'fw-1' })).messages;
    assert.deepEqual(b.map((m: { id: string }) => m.id), a.map((m: { id: string }) => m.id));
    assert.deepEqual([await lastSeq(dst1), await lastSeq(dst2)], heads);
  });
});

describe('read cursors, unread counts, badge', () => {
  let conv: string;
  let other: string;
  before(async () => {
    tok.reader = (await s.user('reader', 'patient')).token;
    tok.writer = (await s.user('writer', 'doctor')).token;
    conv = await s.conversation({ participants: ['reader', 'writer'], type: 6, id: 'read-1' });
    other = await s.conversation({ participants: ['reader', 'writer'], type: 6, id: 'read-2' });
    for (let i = 1; i <= 5; i++) await s.sendAs('writer', conv, `r${i}`);
    for (let i = 1; i <= 2; i++) await s.sendAs('writer', other, `o${i}`);
  });
  const count = async (c: string, who: string) => ok(await s.call('GET', `/api/v2/sessions/${c}/unread_message_count`, as(who))).count as number;
  const total = async (who: string) => ok(await s.call('GET', '/api/v2/sessions/unread_message_count', as(who)));
  const badge = async (who: string) => ok(await s.call('GET', '/api/v2/application/badge_no', as(who))).badge_no as number;
  const read = (c: string, body: unknown, who = 'reader') => s.call('POST', `/api/v2/sessions/${c}/read`, { ...as(who), ...(body === undefined ? {} : { body }) });

  test('unread counts per conversation, in total, and the badge; the sender\'s own messages are not unread for them', async () => {
    assert.equal(await count(conv, 'reader'), 5);
    assert.equal(await count(other, 'reader'), 2);
    const t = await total('reader');
    assert.equal(t.count, 7);
    assert.deepEqual([...t.sessions].sort((a: { session_id: string }, b: { session_id: string }) => a.session_id.localeCompare(b.session_id)), [
      { session_id: conv, unread: 5 }, { session_id: other, unread: 2 },
    ]);
    assert.equal(await badge('reader'), 7);
    assert.equal(await count(conv, 'writer'), 0);
    assert.deepEqual(await total('writer'), { count: 0, sessions: [] });
    assert.equal(await badge('writer'), 0);
    const unread = ok(await s.call('GET', `/api/v2/sessions/${conv}/messages/unread`, as('reader')));
    assert.equal(unread.count, 5);
    assert.deepEqual(unread.messages.map((m: { content: { text: string } }) => m.content.text), ['r1', 'r2', 'r3', 'r4', 'r5']);
    assert.deepEqual(ok(await s.call('GET', `/api/v2/sessions/${conv}/messages/unread`, as('writer'))), { messages: [], count: 0 });
    const limited = ok(await s.call('GET', `/api/v2/sessions/${conv}/messages/unread?limit=2`, as('reader')));
    assert.deepEqual(limited.messages.map((m: { seq: number }) => m.seq), [1, 2], 'oldest unread first');
    assert.equal(limited.count, 5);
    assertError(await s.call('GET', `/api/v2/sessions/${conv}/messages/unread?limit=0`, as('reader')), 'request.invalid');
    // Reading the unread list does not mark them read.
    assert.equal(await count(conv, 'reader'), 5);
  });

  test('POST /:id/read moves the cursor forward (to a seq, or the newest), never back', async () => {
    assert.deepEqual(ok(await read(conv, { seq: 2 })), { read_seq: 2, unread: 3 });
    assert.equal(await count(conv, 'reader'), 3);
    assert.deepEqual(ok(await s.call('GET', `/api/v2/sessions/${conv}/messages/unread`, as('reader'))).messages.map((m: { seq: number }) => m.seq), [3, 4, 5]);
    assert.deepEqual(ok(await read(conv, { seq: 1 })), { read_seq: 2, unread: 3 }, 'never back');
    assert.equal((await total('reader')).count, 5);
    assert.equal(await badge('reader'), 5);
    assert.deepEqual(ok(await read(conv, {})), { read_seq: 5, unread: 0 }, 'empty body: to the newest');
    assert.deepEqual(ok(await read(other, { seq: 999 })), { read_seq: 2, unread: 0 }, 'capped at the newest');
    assert.deepEqual(await total('reader'), { count: 0, sessions: [] });
    assert.equal(await badge('reader'), 0);
    const p = ok(await s.call('GET', `/api/v2/sessions/${conv}/participants/reader`)).participants[0];
    assert.equal(p.read_seq, 5);
    // New messages are unread again; the view agrees.
    await s.sendAs('writer', conv, 'r6');
    assert.equal(await count(conv, 'reader'), 1);
    const v = ok(await s.call('GET', `/api/v2/sessions/${conv}/session`, as('reader'))).session;
    assert.equal(v.read_seq, 5);
    assert.equal(v.unread, 1);
    // No body at all: to the newest.
    assert.deepEqual(ok(await read(conv, undefined)), { read_seq: 6, unread: 0 });
    // On behalf of the user through the API key.
    await s.sendAs('writer', conv, 'r7');
    assert.deepEqual(ok(await s.call('POST', `/api/v2/sessions/${conv}/read`, { headers: { 'x-on-behalf-of': 'reader' }, body: {} })), { read_seq: 7, unread: 0 });
  });

  test('bad reads', async () => {
    for (const body of [{ seq: -1 }, { seq: 'x' }, { seq: 1.5 }, { seq: 1, extra: 1 }]) {
      assertError(await read(conv, body), 'request.invalid', JSON.stringify(body));
    }
    assertError(await read(conv, {}, 'outsider'), 'conversation.not_participant');
    assertError(await read('no-such-conv', {}), 'conversation.not_found');
    assertError(await s.call('POST', `/api/v2/sessions/${conv}/read`, { body: {} }), 'request.invalid', 'API key without a user');
    assertError(await s.call('GET', `/api/v2/sessions/${conv}/unread_message_count`, as('outsider')), 'conversation.not_participant');
    assertError(await s.call('GET', `/api/v2/sessions/${conv}/messages/unread`, as('outsider')), 'conversation.not_participant');
    assertError(await s.call('GET', '/api/v2/sessions/unread_message_count'), 'request.invalid', 'API key without a user');
    assertError(await s.call('GET', '/api/v2/application/badge_no'), 'request.invalid', 'API key without a user');
    assert.equal(ok(await s.call('GET', '/api/v2/application/badge_no', { headers: { 'x-on-behalf-of': 'reader' } })).badge_no, 0);
  });
});

describe('history pages from the node\'s recent messages', () => {
  test('a latest page kept in memory follows sends, a recall and a forward, and every page matches what storage holds', async () => {
    const conv = await s.conversation({ participants: ['pat', 'doc'], type: 6, id: 'recent-pages' });
    const recent = s.server.core.recent;
    for (let i = 0; i < 5; i++) await s.sendAs(i % 2 ? 'pat' : 'doc', conv, `m${i}`);
    // Read twice: the second read of a conversation within the TTL keeps a copy.
    for (let i = 0; i < 2; i++) assert.equal((await history(conv, '?limit=20')).messages.length, 5);
    const hits = recent.hits;
    const a = ok(await send(conv, text('after the load'), as('doc'))).message;
    await s.sendAs('pat', conv, 'and one more');
    const other = await s.conversation({ participants: ['pat', 'doc'], type: 6, id: 'recent-pages-2' });
    ok(await s.call('POST', `${msgs(other)}/${ok(await send(other, text('forward me'), as('doc'))).message.id}/forward`, { ...as('doc'), body: { to: [conv] } }));
    const beforeRecall = await history(conv, '?limit=20', 'pat');
    assert.equal(recent.hits, hits + 1, 'answered from memory');
    assert.equal(beforeRecall.messages.at(-1)!.forward?.conversation_id, other);
    ok(await s.call('POST', `${msgs(conv)}/${a.id}/recall`, as('doc')));
    for (let i = 0; i < 2; i++) await history(conv, '?limit=20', 'pat');
    const latest = await history(conv, '?limit=20', 'pat');
    assert.equal(recent.hits, hits + 2, 'the recall dropped the copy; read again twice, then answered from memory');
    const all = seqs(latest.messages);
    assert.deepEqual(all, range(1, all.length), 'gap-free from seq 1');
    const tomb = latest.messages.find((m) => m.id === a.id)!;
    assert.equal(tomb.content, null, 'the recalled message is a tombstone');
    assert.equal(latest.messages.at(-1)!.content.event, 'message.recalled');
    assert.ok(latest.messages.some((m) => m.forward?.conversation_id === other), 'the forward is there');
    // The same pages from storage (the cache dropped) are identical, page by page.
    const pages = ['?limit=20', '?limit=4', '?before=5&limit=3', '?after=2&limit=4', '?after=6', '?after=3&before=7', `?after=${all.length}`];
    const fromMemory = [];
    for (const q of pages) fromMemory.push(await history(conv, q, 'pat'));
    recent.clear();
    for (const [i, q] of pages.entries()) {
      recent.clear();
      assert.deepEqual(await history(conv, q, 'pat'), fromMemory[i], `page ${q}`);
    }
    assert.deepEqual(seqs(fromMemory[1]!.messages), all.slice(-4));
    assert.equal(fromMemory[1]!.has_more, true);
    assert.equal(fromMemory[0]!.has_more, false);
  });

  test('a page after a cursor that an expired copy held loads the copy again, and the page is what storage holds', async () => {
    const t = await startTestServer({ config: { cache: { memberTtlMs: 1000 }, messages: { historyPageMax: PAGE_MAX } } });
    try {
      const doc = await t.user('doc', 'doctor');
      await t.user('pat', 'patient');
      const conv = await t.conversation({ participants: ['pat', 'doc'], type: 6, id: 'recent-ttl' });
      for (let i = 0; i < 8; i++) await t.sendAs('pat', conv, `m${i}`);
      const get = async (q: string) => ok(await t.call('GET', `${msgs(conv)}${q}`, { token: doc.token })) as { messages: { seq: number }[]; has_more: boolean };
      for (let i = 0; i < 2; i++) await get('?limit=20');
      const recent = t.server.core.recent;
      const expected = await get('?after=3&limit=3');
      assert.deepEqual(seqs(expected.messages), [4, 5, 6]);
      await new Promise((r) => setTimeout(r, 1100));
      const misses = recent.misses;
      const hits = recent.hits;
      assert.deepEqual(await get('?after=3&limit=3'), expected, 'after the TTL: the same page');
      assert.equal(recent.misses, misses + 1, 'the expired copy missed once, was loaded again and then answered');
      assert.equal(recent.hits, hits + 1);
      assert.deepEqual(await get('?after=5'), await get('?after=5&limit=20'));
      assert.equal(recent.hits, hits + 3, 'and answers the next pages from memory');
    } finally {
      await t.stop();
    }
  });

  test('a page from memory is still only for participants, and still audited', async () => {
    const conv = await s.conversation({ participants: ['pat', 'doc'], type: 6, id: 'recent-access' });
    await s.sendAs('doc', conv, 'private');
    for (let i = 0; i < 2; i++) await history(conv, '', 'pat');
    assertError(await s.call('GET', msgs(conv), as('outsider')), 'conversation.not_participant');
    const audited = async () => (ok(await s.call('GET', '/api/v2/management/audit?actor_id=pat&limit=1000')).records as { action: string; conversation_id: string }[])
      .filter((r) => r.action === 'messages.history' && r.conversation_id === conv).length;
    const before = await audited();
    const hits = s.server.core.recent.hits;
    await history(conv, '', 'pat');
    assert.equal(s.server.core.recent.hits, hits + 1, 'answered from memory');
    assert.equal(await audited(), before + 1, 'and audited');
  });
});
