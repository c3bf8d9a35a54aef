/**
 * Call signalling on a real server (port 0, SQLite file): every transition over WebSocket
 * frames, REST and the SDK — ringing on every device, other_answer / other_refuse, cancel,
 * timeout, busy, a second invite, a call whose participants go silent, non-members, bad input —
 * and the call's record in the history.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { CarelineClient, MemoryStorage, type CallUpdate } from '@careline/sdk';
import { startTestServer, type TestServer } from '../support/server.ts';
import { WsClient, type Frame } from '../support/ws-client.ts';
import { assertError, eventually, ok } from '../rest/helpers.ts';

let s: TestServer;
const tok: Record<string, string> = {};
const sockets: WsClient[] = [];
const clients: CarelineClient[] = [];
const RING_MS = 1500;
const HB_TIMEOUT_MS = 1500;

before(async () => {
  s = await startTestServer({ config: { calls: { ringTimeoutMs: RING_MS, heartbeatMs: 300, heartbeatTimeoutMs: HB_TIMEOUT_MS, pollMs: 100 } } });
  for (const [id, role] of [['doc', 'doctor'], ['pat', 'patient'], ['pat2', 'patient'], ['nurse', 'staff'], ['outsider', 'patient'], ['a', 'patient'], ['b', 'patient'], ['c', 'patient'], ['d', 'patient'], ['g1', 'patient'], ['g2', 'staff']] as const) {
    tok[id] = (await s.user(id, role)).token;
  }
});
after(async () => {
  for (const c of clients) await c.close();
  for (const w of sockets) w.ws.terminate();
  await s.stop();
});

async function ws(user: string): Promise<WsClient> {
  const w = await WsClient.open(s.wsUrl, tok[user]!);
  sockets.push(w);
  return w;
}

let reqs = 0;
/** Sends a `call` frame with an id and waits for its answer (a `call` or an `error` frame). */
async function frame(w: WsClient, f: Record<string, unknown>): Promise<Frame> {
  const id = `q${++reqs}`;
  w.send({ type: 'call', id, ...f });
  return w.next((x) => x.id === id && (x.type === 'call' || x.type === 'error'));
}

const callFrames = (w: WsClient, callId: string) => w.frames.filter((f) => f.type === 'call' && f.id === undefined && f.call.id === callId);
const statusOf = (w: WsClient, callId: string, status: string) => w.next((f) => f.type === 'call' && f.id === undefined && f.call.id === callId && f.status === status);
const eventOf = (w: WsClient, callId: string, kind: string) => w.next((f) => f.type === 'event' && f.kind === kind && f.call?.id === callId);

async function history(conv: string, user: string) {
  return ok(await s.call('GET', `/api/v2/sessions/${encodeURIComponent(conv)}/messages?limit=50`, { token: tok[user]! })).messages as { type: number; seq: number; sender_id: string; content: any }[];
}

describe('calls over WebSocket frames', () => {
  test('invite rings every device of the callee; accept → other_answer on the other device; hangup ends it with a record', async () => {
    const conv = await s.conversation({ participants: ['doc', 'pat'] });
    const doc = await ws('doc');
    const docOther = await ws('doc');
    const patA = await ws('pat');
    const patB = await ws('pat');
    await s.sendAs('pat', conv, 'before the call');

    const inv = await frame(doc, { action: 'invite', conversation_id: conv, av_type: 'video' });
    assert.equal(inv.type, 'call', JSON.stringify(inv));
    assert.equal(inv.status, 'invite');
    const id = inv.call.id as string;
    assert.equal(inv.call.state, 'ringing');
    assert.equal(inv.call.av_type, 'video');
    assert.deepEqual(inv.call.participants.map((p: any) => [p.user_id, p.state]), [['doc', 'joined'], ['pat', 'ringing']]);
    assert.deepEqual(inv.content, { status: 'invite', avType: 'video', uid: 'doc', roomId: id, timestamp: inv.call.created_at, useTime: 0 });

    // Ringing on both of the callee's devices, with seed 001's event; the caller's other device sees the invite too.
    for (const w of [patA, patB]) {
      assert.equal((await statusOf(w, id, 'invite')).by, 'doc');
      const ev = await eventOf(w, id, 'S2C_VIDEOCALL_INVITE');
      assert.equal(ev.conversation_id, conv);
      assert.equal(ev.content.avType, 'video');
    }
    await statusOf(docOther, id, 'invite');
    assert.equal(callFrames(doc, id).length, 0, 'the inviting connection got its answer only');

    const acc = await frame(patA, { action: 'accept', call_id: id });
    assert.equal(acc.status, 'accept');
    assert.equal(acc.call.state, 'active');
    assert.equal((await statusOf(patB, id, 'other_answer')).by, 'pat');
    assert.equal((await statusOf(doc, id, 'accept')).by, 'pat');
    await statusOf(docOther, id, 'accept');
    // Accepting again (a retry) changes nothing.
    const again = await frame(patA, { action: 'accept', call_id: id });
    assert.equal(again.type, 'call');

    const hb = await frame(patA, { action: 'heartbeat', call_id: id });
    assert.equal(hb.status, 'heartbeat');

    const hang = await frame(doc, { action: 'hangup', call_id: id });
    assert.equal(hang.status, 'hangup');
    assert.equal(hang.call.state, 'ended');
    assert.equal(hang.call.end_reason, 'hangup');
    assert.ok(hang.call.record, 'the call has its record');
    for (const w of [patA, patB]) {
      await statusOf(w, id, 'hangup');
      const end = await eventOf(w, id, 'S2C_VIDEOCALL_END');
      assert.equal(end.call.state, 'ended');
    }
    assert.equal(doc.frames.filter((f) => f.kind === 'S2C_VIDEOCALL_END').length, 0, 'the one who hung up is not told');

    // The record: in the history after the earlier message, with its seq, sent by the caller.
    const msgs = await history(conv, 'pat');
    const rec = msgs.at(-1)!;
    assert.equal(rec.type, 1002);
    assert.equal(rec.sender_id, 'doc');
    assert.equal(rec.seq, hang.call.record.seq);
    assert.equal(rec.seq, msgs.at(-2)!.seq + 1);
    assert.equal(rec.content.status, 'hangup');
    assert.equal(rec.content.avType, 'video');
    assert.equal(rec.content.uid, 'doc');
    assert.equal(rec.content.roomId, id);
    assert.equal(rec.content.answered, true);
    assert.equal(typeof rec.content.useTime, 'number');
    // Every device got it as a message.
    for (const w of [patA, patB, doc]) await w.next((f) => f.type === 'message' && f.message.seq === rec.seq);
    // Hanging up an ended call again changes nothing; accepting it is refused.
    assert.equal((await frame(doc, { action: 'hangup', call_id: id })).type, 'call');
    assert.equal((await frame(patB, { action: 'accept', call_id: id })).code, 'call.invalid_state');
  });

  test('refuse on one device: other_refuse on the other, the caller hears refuse, a missed-call record unread for the callee', async () => {
    const conv = await s.conversation({ participants: ['doc', 'pat2'] });
    const doc = await ws('doc');
    const p1 = await ws('pat2');
    const p2 = await ws('pat2');
    const unreadBefore = ok(await s.call('GET', `/api/v2/sessions/${conv}/messages/unread`, { token: tok.pat2! }));
    const inv = await frame(doc, { action: 'invite', conversation_id: conv, av_type: 'audio' });
    const id = inv.call.id;
    await statusOf(p1, id, 'invite');
    const r = await frame(p2, { action: 'refuse', call_id: id });
    assert.equal(r.status, 'refuse');
    assert.equal(r.call.state, 'ended');
    assert.equal(r.call.end_reason, 'refuse');
    await statusOf(p1, id, 'other_refuse');
    await statusOf(doc, id, 'refuse');
    await eventOf(doc, id, 'S2C_VIDEOCALL_END');
    const rec = (await history(conv, 'doc')).at(-1)!;
    assert.deepEqual([rec.type, rec.content.status, rec.content.answered, rec.content.useTime], [1002, 'refuse', false, 0]);
    const unread = ok(await s.call('GET', `/api/v2/sessions/${conv}/messages/unread`, { token: tok.pat2! }));
    assert.equal(unread.count, unreadBefore.count + 1, 'the missed call is unread for the callee');
  });

  test('cancel by the caller while ringing; only the caller may cancel', async () => {
    const conv = await s.conversation({ participants: ['doc', 'nurse'] });
    const doc = await ws('doc');
    const nurse = await ws('nurse');
    const id = (await frame(doc, { action: 'invite', conversation_id: conv, av_type: 'audio' })).call.id;
    await statusOf(nurse, id, 'invite');
    assert.equal((await frame(nurse, { action: 'cancel', call_id: id })).code, 'call.not_caller');
    const c = await frame(doc, { action: 'cancel', call_id: id });
    assert.equal(c.status, 'cancel');
    assert.equal(c.call.end_reason, 'cancel');
    assert.deepEqual(c.call.participants.map((p: any) => p.state), ['left', 'missed']);
    await statusOf(nurse, id, 'cancel');
    await eventOf(nurse, id, 'S2C_VIDEOCALL_END');
    const rec = (await history(conv, 'nurse')).at(-1)!;
    assert.deepEqual([rec.content.status, rec.content.answered], ['cancel', false]);
  });

  test('nobody answers: the call times out on the server clock and ends with a record', async () => {
    const conv = await s.conversation({ participants: ['doc', 'a'] });
    const doc = await ws('doc');
    const a = await ws('a');
    // The caller keeps beating while it rings.
    const inv = await frame(doc, { action: 'invite', conversation_id: conv, av_type: 'video' });
    const id = inv.call.id;
    const beat = setInterval(() => doc.send({ type: 'call', action: 'heartbeat', call_id: id }), 300);
    try {
      const t = await statusOf(a, id, 'timeout');
      assert.equal(t.by, 'system');
      assert.equal(t.call.end_reason, 'timeout');
      assert.ok(t.call.ended_at >= inv.call.ring_until);
      await statusOf(doc, id, 'timeout');
      await eventOf(doc, id, 'S2C_VIDEOCALL_END');
      await eventOf(a, id, 'S2C_VIDEOCALL_END');
    } finally {
      clearInterval(beat);
    }
    const rec = (await history(conv, 'a')).at(-1)!;
    assert.deepEqual([rec.type, rec.content.status, rec.content.answered], [1002, 'timeout', false]);
    assert.equal(ok(await s.call('GET', '/api/v2/calls', { token: tok.a! })).calls.length, 0);
  });

  test('busy: a callee already in a call; a user cannot join two calls; a second invite in the conversation is refused', async () => {
    const c1 = await s.conversation({ participants: ['b', 'c'] });
    const c2 = await s.conversation({ participants: ['d', 'c'] });
    const c3 = await s.conversation({ participants: ['d', 'b'] });
    const b = await ws('b');
    const c = await ws('c');
    const d = await ws('d');
    const first = (await frame(b, { action: 'invite', conversation_id: c1, av_type: 'audio' })).call.id;
    // A second invite in the same conversation, from the callee: the live call is named.
    const second = await frame(c, { action: 'invite', conversation_id: c1, av_type: 'audio' });
    assert.equal(second.code, 'call.in_progress');
    assert.equal(second.details.call_id, first);
    // d calls c while c is still only ringing: it rings too.
    const ringing = await frame(d, { action: 'invite', conversation_id: c2, av_type: 'audio' });
    assert.equal(ringing.status, 'invite');
    await frame(c, { action: 'accept', call_id: first });
    // c is in a call now: accepting d's call too is refused, nothing changed.
    const twice = await frame(c, { action: 'accept', call_id: ringing.call.id });
    assert.equal(twice.code, 'call.busy');
    assert.equal(ok(await s.call('GET', `/api/v2/calls/${ringing.call.id}`, { token: tok.d! })).call.state, 'ringing');
    assert.equal((await frame(d, { action: 'cancel', call_id: ringing.call.id })).status, 'cancel');
    // d calls b, who is in the call with c: busy at once.
    const busy = await frame(d, { action: 'invite', conversation_id: c3, av_type: 'video' });
    assert.equal(busy.status, 'busy');
    assert.equal(busy.call.state, 'ended');
    assert.equal(busy.call.end_reason, 'busy');
    assert.deepEqual(busy.call.participants.map((p: any) => [p.user_id, p.state]), [['d', 'left'], ['b', 'busy']]);
    assert.equal((await history(c3, 'd')).at(-1)!.content.status, 'busy');
    // b, already in a call, cannot start another.
    const c4 = await s.conversation({ participants: ['b', 'd'], type: 4 });
    assertError(await s.call('POST', '/api/v2/calls', { token: tok.b!, body: { conversation_id: c4, av_type: 'audio' } }), 'call.busy');
    await frame(b, { action: 'hangup', call_id: first });
    await statusOf(c, first, 'hangup');
  });

  test('a call whose participants stop beating ends (lost) on the server clock', async () => {
    const conv = await s.conversation({ participants: ['doc', 'pat'] });
    const pat = await ws('pat');
    const r = ok(await s.call('POST', '/api/v2/calls', { token: tok.doc!, body: { conversation_id: conv, av_type: 'audio' } }));
    const id = r.call.id;
    ok(await s.call('POST', `/api/v2/calls/${id}/accept`, { token: tok.pat!, body: {} }));
    const end = await pat.next((f) => f.type === 'call' && f.call.id === id && f.call.state === 'ended', 4 * HB_TIMEOUT_MS + 3000);
    assert.equal(end.call.end_reason, 'lost');
    assert.equal(end.by, 'system');
    assert.equal(end.status, 'end');
    const rec = (await history(conv, 'pat')).at(-1)!;
    assert.deepEqual([rec.content.status, rec.content.answered], ['lost', true]);
  });
});

describe('group calls', () => {
  test('a refusal or a callee who never answers does not end a group call in progress; the last hangup does', async () => {
    const conv = await s.conversation({ participants: ['doc', 'g1', 'g2'], type: 4 });
    const doc = await ws('doc');
    const g1 = await ws('g1');
    const g2 = await ws('g2');
    const inv = await frame(doc, { action: 'invite', conversation_id: conv, av_type: 'audio' });
    const id = inv.call.id;
    await Promise.all([eventOf(g1, id, 'S2C_VIDEOCALL_INVITE'), eventOf(g2, id, 'S2C_VIDEOCALL_INVITE')]);
    const beat = setInterval(() => {
      for (const w of [doc, g1]) w.send({ type: 'call', action: 'heartbeat', call_id: id });
    }, 300);
    try {
      assert.equal((await frame(g1, { action: 'accept', call_id: id })).call.state, 'active');
      await statusOf(g2, id, 'accept');
      // g2 never answers: at the ring time it missed the call, which goes on.
      const t = await statusOf(doc, id, 'timeout');
      assert.equal(t.call.state, 'active');
      assert.deepEqual(t.call.participants.map((p: any) => p.state), ['joined', 'joined', 'missed']);
      assert.equal((await frame(g2, { action: 'accept', call_id: id })).code, 'call.invalid_state');
      // One joined participant leaves: one is left, the call ends.
      const h = await frame(g1, { action: 'hangup', call_id: id });
      assert.equal(h.call.state, 'ended');
      assert.equal(h.call.end_reason, 'hangup');
      await eventOf(doc, id, 'S2C_VIDEOCALL_END');
      await eventOf(g2, id, 'S2C_VIDEOCALL_END');
    } finally {
      clearInterval(beat);
    }
    // A second group call: one callee refuses, the other answers; the call goes on without the first.
    const id2 = (await frame(doc, { action: 'invite', conversation_id: conv, av_type: 'video' })).call.id;
    const r = await frame(g2, { action: 'refuse', call_id: id2 });
    assert.equal(r.call.state, 'ringing', 'g1 still rings');
    await statusOf(g1, id2, 'refuse');
    assert.equal((await frame(g1, { action: 'accept', call_id: id2 })).call.state, 'active');
    const end = await frame(doc, { action: 'hangup', call_id: id2 });
    assert.equal(end.call.end_reason, 'hangup');
    const recs = (await history(conv, 'g2')).filter((m) => m.type === 1002);
    assert.deepEqual(recs.map((m) => [m.content.roomId, m.content.answered]), [[id, true], [id2, true]]);
  });
});

describe('calls over long-polling', () => {
  test('a long-polling client rings, answers with a call frame POSTed to the poll, and beats; the caller on a WebSocket hears it', async () => {
    const conv = await s.conversation({ participants: ['nurse', 'g1'] });
    const nurse = await ws('nurse');
    const poller = new CarelineClient({ url: s.url, token: tok.g1!, storage: new MemoryStorage(), transport: 'longpoll' });
    clients.push(poller);
    await poller.connect();
    assert.equal(poller.transport, 'longpoll');
    const ringing: string[] = [];
    poller.calls.on('ringing', (c) => ringing.push(c.id));
    const inv = await frame(nurse, { action: 'invite', conversation_id: conv, av_type: 'audio' });
    const beatNurse = setInterval(() => nurse.send({ type: 'call', action: 'heartbeat', call_id: inv.call.id }), 300);
    await eventually(async () => ringing.includes(inv.call.id), 5000);
    // The frame itself, POSTed over the poll: its answer comes back in the POST's answer.
    const r = await fetch(`${s.url}/api/v2/poll/send`, {
      method: 'POST', headers: { authorization: `Bearer ${tok.g1}`, 'content-type': 'application/json' },
      body: JSON.stringify([{ type: 'call', id: 'lp1', action: 'accept', call_id: inv.call.id }]),
    });
    const text = await r.text();
    assert.equal(r.status, 200, text);
    assert.match(text, /"id":"lp1"/);
    assert.match(text, /"status":"accept"/);
    await statusOf(nurse, inv.call.id, 'accept');
    // The SDK on long-polling (it learns it joined from the call frames) keeps the call alive with its heartbeats.
    await eventually(async () => poller.calls.active.some((c) => c.id === inv.call.id && c.state === 'active'), 5000);
    await new Promise((res) => setTimeout(res, HB_TIMEOUT_MS + 500));
    clearInterval(beatNurse);
    assert.equal((await frame(nurse, { action: 'heartbeat', call_id: inv.call.id })).status, 'heartbeat', 'still in progress');
    assert.equal((await frame(nurse, { action: 'hangup', call_id: inv.call.id })).call.end_reason, 'hangup');
  });
});

describe('who may call, and bad input', () => {
  test('a non-member can neither call, answer nor see a call, nor gets its frames', async () => {
    const conv = await s.conversation({ participants: ['doc', 'pat2'] });
    const outsider = await ws('outsider');
    const doc = await ws('doc');
    assertError(await s.call('POST', '/api/v2/calls', { token: tok.outsider!, body: { conversation_id: conv, av_type: 'audio' } }), 'conversation.not_participant');
    const id = (await frame(doc, { action: 'invite', conversation_id: conv, av_type: 'audio' })).call.id;
    for (const action of ['accept', 'refuse', 'hangup', 'heartbeat', 'cancel']) {
      assert.equal((await frame(outsider, { action, call_id: id })).code, 'conversation.not_participant', action);
      assertError(await s.call('POST', `/api/v2/calls/${id}/${action}`, { token: tok.outsider!, body: {} }), 'conversation.not_participant', action);
    }
    assertError(await s.call('GET', `/api/v2/calls/${id}`, { token: tok.outsider! }), 'conversation.not_participant');
    assert.equal(ok(await s.call('GET', `/api/v2/calls/${id}`, { token: tok.pat2! })).call.state, 'ringing', 'nothing changed');
    await frame(doc, { action: 'cancel', call_id: id });
    assert.equal(outsider.frames.filter((f) => f.type === 'call' || (f.type === 'event' && f.call)).length, 0);
  });

  test('malformed call frames and requests: coded errors, nothing stored', async () => {
    const conv = await s.conversation({ participants: ['doc', 'nurse'] });
    const stored = (await history(conv, 'doc')).length;
    const doc = await ws('doc');
    assert.equal((await frame(doc, { action: 'invite', conversation_id: conv })).code, 'call.invalid');
    assert.equal((await frame(doc, { action: 'invite', av_type: 'audio' })).code, 'call.invalid');
    assert.equal((await frame(doc, { action: 'accept' })).code, 'call.invalid');
    assert.equal((await frame(doc, { action: 'ring', call_id: 'x' })).code, 'frame.invalid');
    assert.equal((await frame(doc, { action: 'invite', conversation_id: conv, av_type: 'hologram' })).code, 'frame.invalid');
    assert.equal((await frame(doc, { action: 'accept', call_id: 'x'.repeat(65) })).code, 'frame.invalid');
    assert.equal((await frame(doc, { action: 'accept', call_id: 'nope' })).code, 'call.not_found');
    assert.equal((await frame(doc, { action: 'invite', conversation_id: 'nope', av_type: 'audio' })).code, 'conversation.not_found');
    assertError(await s.call('POST', '/api/v2/calls', { token: tok.doc!, body: { conversation_id: conv, av_type: 'hologram' } }), 'request.invalid');
    assertError(await s.call('POST', '/api/v2/calls', { token: tok.doc!, body: { conversation_id: conv } }), 'request.invalid');
    assertError(await s.call('POST', '/api/v2/calls/nope/accept', { token: tok.doc!, body: {} }), 'call.not_found');
    assertError(await s.call('GET', '/api/v2/calls/nope', { token: tok.doc! }), 'call.not_found');
    const big = await s.conversation({ participants: ['doc', 'a', 'b', 'c', 'd'], type: 4 });
    assertError(await s.call('POST', '/api/v2/calls', { token: tok.doc!, body: { conversation_id: big, av_type: 'audio' } }), 'call.too_many_participants');
    const alone = await s.conversation({ participants: ['doc'], type: 4 });
    assertError(await s.call('POST', '/api/v2/calls', { token: tok.doc!, body: { conversation_id: alone, av_type: 'audio' } }), 'call.no_callee');
    assert.equal(ok(await s.call('GET', '/api/v2/calls', { token: tok.doc! })).calls.length, 0, 'no call was stored');
    assert.equal((await history(conv, 'doc')).length, stored, 'nothing in the history');
    // The caller cannot accept or refuse their own call; a callee cannot hang up a call it never joined.
    const id = (await frame(doc, { action: 'invite', conversation_id: conv, av_type: 'audio' })).call.id;
    assert.equal((await frame(doc, { action: 'refuse', call_id: id })).code, 'call.invalid_state');
    const nurse = await ws('nurse');
    assert.equal((await frame(nurse, { action: 'hangup', call_id: id })).code, 'call.invalid_state');
    await frame(doc, { action: 'cancel', call_id: id });
    assert.equal((await frame(nurse, { action: 'heartbeat', call_id: id })).code, 'call.invalid_state');
  });
});

describe('calls with the SDK', () => {
  test('client.calls: ringing on both devices, accept on one (other_answer on the other), hangup, records; live() after reconnecting', async () => {
    const conv = await s.conversation({ participants: ['doc', 'pat'] });
    const mk = (user: string) => {
      const c = new CarelineClient({ url: s.url, token: tok[user]!, storage: new MemoryStorage() });
      clients.push(c);
      return c;
    };
    const doc = mk('doc');
    const phone = mk('pat');
    const laptop = mk('pat');
    await Promise.all([doc.connect(), phone.connect(), laptop.connect()]);
    const seen = new Map<CarelineClient, CallUpdate[]>();
    const ringing: string[] = [];
    const ended: string[] = [];
    const seedEvents: string[] = [];
    for (const c of [doc, phone, laptop]) {
      seen.set(c, []);
      c.calls.on('call', (u) => seen.get(c)!.push(u));
      c.calls.on('ended', (call) => ended.push(call.id));
      c.on('event', (e) => seedEvents.push(e.kind));
    }
    phone.calls.on('ringing', (call) => ringing.push(`phone:${call.id}`));
    laptop.calls.on('ringing', (call) => ringing.push(`laptop:${call.id}`));

    const call = await doc.calls.invite(conv, { video: true });
    assert.equal(call.av_type, 'video');
    await eventually(async () => ringing.length === 2);
    assert.deepEqual(ringing.sort(), [`laptop:${call.id}`, `phone:${call.id}`]);
    assert.equal(phone.calls.active.length, 1);

    const accepted = await phone.calls.accept(call.id);
    assert.equal(accepted.state, 'active');
    await eventually(async () => seen.get(laptop)!.some((u) => u.status === 'other_answer'));
    await eventually(async () => seen.get(doc)!.some((u) => u.status === 'accept' && u.by === 'pat'));
    assert.equal(seen.get(phone)!.filter((u) => u.status === 'other_answer').length, 0, 'the answering device is not told it answered elsewhere');

    // The participants beat (every 300 ms here): the call outlives the heartbeat timeout.
    await new Promise((r) => setTimeout(r, HB_TIMEOUT_MS + 700));
    assert.equal((await doc.calls.get(call.id)).state, 'active');
    const live = await laptop.calls.live();
    assert.deepEqual(live.map((c) => c.id), [call.id]);

    const done = await phone.calls.hangup(call.id);
    assert.equal(done.state, 'ended');
    await eventually(async () => ended.filter((x) => x === call.id).length === 3);
    assert.ok(seedEvents.includes('S2C_VIDEOCALL_INVITE'));
    assert.ok(seedEvents.includes('S2C_VIDEOCALL_END'));
    const rec = (await history(conv, 'doc')).at(-1)!;
    assert.deepEqual([rec.type, rec.content.status, rec.content.answered, rec.sender_id], [1002, 'hangup', true, 'doc']);
    // A second call: the caller cancels; then a refused one.
    const c2 = await doc.calls.start(conv);
    await eventually(async () => ringing.length === 4);
    assert.equal((await doc.calls.cancel(c2.id)).end_reason, 'cancel');
    const c3 = await doc.calls.invite(conv);
    await eventually(async () => ringing.length === 6);
    await laptop.calls.refuse(c3.id);
    await eventually(async () => seen.get(phone)!.some((u) => u.status === 'other_refuse' && u.call.id === c3.id));
    await eventually(async () => seen.get(doc)!.some((u) => u.status === 'refuse' && u.call.id === c3.id));
    await assert.rejects(laptop.calls.accept(c3.id), (e: { code?: string }) => e.code === 'call.invalid_state');
  });
});
