/**
 * Deeply nested content: refused at validation (REST and WebSocket) with
 * `message.content_invalid`, and a message already stored with such content (written before
 * the limit existed) never blocks live delivery or a catch-up: it goes out as a placeholder
 * at its seq, and what follows it is delivered.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { MAX_CONTENT_DEPTH, MessageTypes, UNAVAILABLE_EVENT } from '@careline/protocol';
import { startTestServer, type TestServer } from '../support/server.ts';
import { WsClient, type Frame } from '../support/ws-client.ts';
import { PollClient } from '../support/poll-client.ts';
import type { FrameClient } from '../support/frame-client.ts';
import { openOver } from '../support/carriers.ts';

/** A custom content whose `data` nests so that the whole content is `depth` levels deep. */
function deep(depth: number): Record<string, unknown> {
  // content (1) → data (2) → x (3) → …
  let v: unknown = {};
  for (let i = 0; i < depth - 2; i++) v = { x: v };
  return { kind: 'nest', data: v as Record<string, unknown> };
}

/** The same as JSON text, built without recursion (JSON.stringify cannot write it). */
function deepText(depth: number): string {
  return `{"kind":"nest","data":${'{"x":'.repeat(depth - 2)}{}${'}'.repeat(depth - 2)}}`;
}

describe('content nesting depth', () => {
  let s: TestServer;
  let doc: { id: string; token: string };
  let pat: { id: string; token: string };
  let conv: string;
  const open: FrameClient[] = [];
  const post = (content: unknown, token = pat.token) =>
    s.call('POST', `/api/v2/sessions/${conv}/messages`, { token, body: { type: MessageTypes.CUSTOM, content } });
  /** Posts content given as JSON text (deeper than JSON.stringify can write). */
  const postText = async (content: string) => {
    const res = await fetch(`${s.url}/api/v2/sessions/${conv}/messages`, {
      method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${pat.token}` },
      body: `{"type":${MessageTypes.CUSTOM},"content":${content}}`,
    });
    return { status: res.status, body: await res.json() as { code: string; details?: { max_depth?: number } } };
  };

  before(async () => {
    s = await startTestServer({ config: { mqtt: { enabled: true, port: 0 } } });
    doc = await s.user('doc', 'doctor');
    pat = await s.user('pat', 'patient');
    conv = await s.conversation({ participants: ['doc', 'pat'] });
  });
  after(async () => {
    for (const c of open) c.close();
    await s.stop();
  });

  it(`REST: ${MAX_CONTENT_DEPTH} levels are accepted; ${MAX_CONTENT_DEPTH + 1}, 4,391 and 40,000 → message.content_invalid, nothing stored`, async () => {
    const ok = await post(deep(MAX_CONTENT_DEPTH));
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    const before = (await s.call('GET', `/api/v2/sessions/${conv}/messages?limit=200`, { token: pat.token })).body.messages.length;
    for (const depth of [MAX_CONTENT_DEPTH + 1, 4390, 4391, 40_000]) {
      const r = await postText(deepText(depth));
      assert.equal(r.status, 400, `depth ${depth}: ${JSON.stringify(r.body).slice(0, 200)}`);
      assert.equal(r.body.code, 'message.content_invalid');
      assert.equal(r.body.details?.max_depth, MAX_CONTENT_DEPTH);
    }
    const after = (await s.call('GET', `/api/v2/sessions/${conv}/messages?limit=200`, { token: pat.token })).body.messages.length;
    assert.equal(after, before);
  });

  it('WebSocket: a send nesting too deep → an error frame message.content_invalid with its id; the connection goes on', async () => {
    const c = await WsClient.open(s.wsUrl, pat.token);
    open.push(c);
    c.send({ type: 'send', id: 's1', conversation_id: conv, message: { client_id: 'deep-1', type: MessageTypes.CUSTOM, content: deep(4391) } });
    const e1 = await c.next((f) => f.type === 'error' && f.id === 's1');
    assert.equal(e1.code, 'message.content_invalid');
    // 10,000 levels still fit a 64 KiB frame.
    c.ws.send(`{"type":"send","id":"s2","conversation_id":${JSON.stringify(conv)},"message":{"client_id":"deep-2","type":${MessageTypes.CUSTOM},"content":${deepText(10_000)}}}`);
    const e2 = await c.next((f) => f.type === 'error' && f.id === 's2');
    assert.equal(e2.code, 'message.content_invalid');
    const ack = await c.say(conv, 'still here');
    assert.equal(ack.type, 'ack');
  });

  for (const carrier of ['longpoll', 'mqtt'] as const) it(`${carrier}: a send nesting too deep → an error frame message.content_invalid with its id; the connection goes on`, async () => {
    const c = await openOver(carrier, s, pat.token);
    open.push(c);
    // As deep as the client's own JSON.stringify can write inside the POST's array or the MQTT payload.
    for (const [i, depth] of [MAX_CONTENT_DEPTH + 1, 1000].entries()) {
      c.send({ type: 'send', id: `s${i}`, conversation_id: conv, message: { client_id: `deep-${carrier}-${i}`, type: MessageTypes.CUSTOM, content: deep(depth) } });
      const e = await c.next((f) => f.type === 'error' && f.id === `s${i}`);
      assert.equal(e.code, 'message.content_invalid');
    }
    assert.equal((await c.say(conv, 'still here')).type, 'ack');
  });

  it('long-polling: a poll past a stored message 5,000 levels deep gets a placeholder at its seq and goes on past it', async () => {
    const c3 = await s.conversation({ participants: ['doc', 'pat'], type: 4, name: 'poisoned-poll' });
    await s.sendAs('doc', c3, 'one');
    const c = await PollClient.open(s.url, pat.token);
    open.push(c);
    const db = new Database(s.dbPath, { fileMustExist: true, timeout: 5000 });
    try {
      const now = Date.now();
      db.prepare(`INSERT INTO messages (tenant_id, conversation_id, seq, id, sender_id, type, content, client_id, created_at, recalled_at, forward)
        VALUES (?, ?, 2, '01POISONPOLL00000000000000', 'pat', ?, ?, NULL, ?, NULL, NULL)`).run(s.tenantId, c3, MessageTypes.CUSTOM, deepText(5000), now);
      db.prepare('UPDATE conversations SET last_seq = 2, last_message_at = ?, updated_at = ? WHERE tenant_id = ? AND id = ?').run(now, now, s.tenantId, c3);
    } finally {
      db.close();
    }
    await s.sendAs('doc', c3, 'three');
    await c.next((f) => f.type === 'message' && f.message.content?.text === 'three');
    const got = c.messages(c3);
    assert.deepEqual(got.map((m: Frame) => m.seq), [2, 3], 'the poll went on from its cursor past the poisoned row');
    assert.equal(got[0]!.content.event, UNAVAILABLE_EVENT);
  });

  it('a message already stored with 5,000 levels: catch-up sends a placeholder at its seq and goes on past it; history and lists serve it too', async () => {
    const c2 = await s.conversation({ participants: ['doc', 'pat'], type: 4, name: 'poisoned' });
    await s.sendAs('doc', c2, 'one');
    // Written straight into the SQLite file, as a row stored before the limit existed.
    const db = new Database(s.dbPath, { fileMustExist: true, timeout: 5000 });
    try {
      const now = Date.now();
      db.prepare(`INSERT INTO messages (tenant_id, conversation_id, seq, id, sender_id, type, content, client_id, created_at, recalled_at, forward)
        VALUES (?, ?, 2, '01POISON000000000000000000', 'pat', ?, ?, NULL, ?, NULL, NULL)`).run(s.tenantId, c2, MessageTypes.CUSTOM, deepText(5000), now);
      db.prepare('UPDATE conversations SET last_seq = 2, last_message_at = ?, updated_at = ? WHERE tenant_id = ? AND id = ?').run(now, now, s.tenantId, c2);
    } finally {
      db.close();
    }
    await s.sendAs('doc', c2, 'three');

    const c = await WsClient.open(s.wsUrl, pat.token, { sync: true });
    open.push(c);
    c.send({ type: 'sync', id: 'y', cursors: { [c2]: 0 } });
    const done = await c.next((f) => f.type === 'sync_done' && f.id === 'y');
    assert.equal(done.sent, 3);
    const got = c.messages(c2);
    assert.deepEqual(got.map((m: Frame) => m.seq), [1, 2, 3]);
    const poison = got[1]!;
    assert.equal(poison.id, '01POISON000000000000000000');
    assert.equal(poison.type, MessageTypes.SYSTEM);
    assert.equal(poison.content.event, UNAVAILABLE_EVENT);
    assert.equal(poison.content.data.type, MessageTypes.CUSTOM);
    assert.equal(got[2]!.content.text, 'three');

    const h = await s.call('GET', `/api/v2/sessions/${c2}/messages?limit=10`, { token: pat.token });
    assert.equal(h.status, 200, JSON.stringify(h.body).slice(0, 300));
    assert.deepEqual(h.body.messages.map((m: Frame) => m.seq), [1, 2, 3]);
    assert.equal(h.body.messages[1].content.event, UNAVAILABLE_EVENT);
    const one = await s.call('GET', `/api/v2/sessions/${c2}/messages/01POISON000000000000000000`, { token: pat.token });
    assert.equal(one.status, 200);
    assert.equal(one.body.message?.content?.event ?? one.body.content?.event, UNAVAILABLE_EVENT);
  });

  it('notification data nested too deep → request.invalid (not server.internal), nothing stored', async () => {
    const res = await fetch(`${s.url}/api/v2/management/notifications`, {
      method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': s.apiKey },
      body: `{"kind":"S2C_SIGNED_PUSH","target":{"user":"pat"},"title":"t","data":${'{"x":'.repeat(5000)}{}${'}'.repeat(5000)}}`,
    });
    const body = await res.json() as { code: string; details?: { max_depth?: number } };
    assert.equal(res.status, 400, JSON.stringify(body).slice(0, 200));
    assert.equal(body.code, 'request.invalid');
    assert.equal(body.details?.max_depth, MAX_CONTENT_DEPTH);
    const inbox = await s.call('GET', '/api/v2/notifications', { token: pat.token });
    assert.equal(inbox.status, 200);
    assert.deepEqual(inbox.body.notifications, []);
  });

  it('a notification already stored with data 5,000 levels deep: the notification catch-up sends it with data null and ends', async () => {
    const sent = await s.call('POST', '/api/v2/management/notifications', { body: { kind: 'S2C_SIGNED_PUSH', target: { user: 'doc' }, title: 'deep', data: { a: 1 } } });
    assert.equal(sent.status, 200, JSON.stringify(sent.body));
    const id = sent.body.notification.id as string;
    const db = new Database(s.dbPath, { fileMustExist: true, timeout: 5000 });
    try {
      db.prepare('UPDATE notifications SET data = ? WHERE tenant_id = ? AND id = ?').run(`{"x":${'{"x":'.repeat(4999)}{}${'}'.repeat(4999)}}`, s.tenantId, id);
    } finally {
      db.close();
    }
    const c = await WsClient.open(s.wsUrl, doc.token, { sync: true });
    open.push(c);
    c.send({ type: 'sync', id: 'n', cursors: {}, notifications_after: '' });
    const done = await c.next((f) => f.type === 'sync_done' && f.id === 'n');
    assert.equal(done.notifications.sent, 1);
    const n = c.frames.find((f) => f.type === 'notification')!;
    assert.equal(n.notification.id, id);
    assert.equal(n.notification.data, null);
    assert.equal(n.notification.title, 'deep');
  });

  it('live delivery: a message event whose content cannot be serialised reaches each recipient as a placeholder, and the next one follows', async () => {
    const c = await WsClient.open(s.wsUrl, doc.token);
    open.push(c);
    // A message event carrying content too deep to serialise (as a stored row read back would).
    let v: unknown = {};
    for (let i = 0; i < 100_000; i++) v = { x: v };
    s.server.core.bus.publish({
      kind: 'message.created', tenant_id: s.tenantId, recipients: ['doc', 'pat'],
      message: {
        id: '01POISONLIVE00000000000000', conversation_id: conv, seq: 999, sender_id: 'pat', type: MessageTypes.CUSTOM,
        content: { kind: 'nest', data: v as Record<string, unknown> }, client_id: null, created_at: Date.now(), recalled_at: null, forward: null,
      },
    });
    const placeholder = await c.next((f) => f.type === 'message' && f.message.id === '01POISONLIVE00000000000000');
    assert.equal(placeholder.message.seq, 999);
    assert.equal(placeholder.message.content.event, UNAVAILABLE_EVENT);
    await s.sendAs('pat', conv, 'after the poison');
    const next = await c.next((f) => f.type === 'message' && f.message.content?.text === 'after the poison');
    assert.ok(next);
  });
});
