/** Seed 002's endpoints on a real server: their bodies and answers, the id formats, state-init versions, visits and the online lists. */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../support/server.ts';
import { CHAT_ID_RE, MID_RE, SID_RE, TID_RE, VID_RE, isTidOf, newMid, newTid, newVid, stamp } from '../../src/desk/ids.ts';
import { pullUntil, requestChat, seedText, visitor, widgetKey, type DeskVisitor } from './support.ts';
import { WsClient } from '../support/ws-client.ts';

describe('front desk ids', () => {
  it('have seed 002\'s formats and lengths', () => {
    const vid = newVid();
    assert.match(vid, VID_RE);
    assert.equal(vid.length, 23);
    const tid = newTid(vid, Date.UTC(2016, 10, 3, 18, 55, 44));
    assert.equal(tid.length, 53);
    assert.match(tid, TID_RE);
    assert.equal(tid.slice(0, 14), '20161103185544');
    assert.equal(tid.slice(14, 37), vid);
    assert.equal(isTidOf(tid, vid), true);
    assert.equal(isTidOf(tid, newVid()), false);
    assert.equal(stamp(0), '19700101000000');
    assert.match('b0a1qggeibm0k3lm1440', MID_RE);
  });

  it('makes mids that sort in the order they were made, also within a millisecond and when the clock goes back', () => {
    const mids: string[] = [];
    const t = Date.now();
    for (let i = 0; i < 2000; i++) mids.push(newMid(t - (i % 7 === 0 ? 5 : 0)));
    for (const m of mids) assert.match(m, MID_RE);
    assert.deepEqual([...mids].sort(), mids);
    assert.equal(new Set(mids).size, mids.length);
    assert.ok(newMid(t + 10) > mids.at(-1)!);
  });
});

describe('seed 002 endpoints', () => {
  let s: TestServer;
  let key: string;
  let cid: string;
  let nurse: { id: string; token: string };
  let nurse2: { id: string; token: string };

  before(async () => {
    s = await startTestServer({ config: { desk: { visitorsPerIp: 1000, visitorsPerFingerprint: 1000 }, ws: { heartbeatMs: 2000 } } });
    cid = s.tenantId;
    key = await widgetKey(s);
    nurse = await s.user('nurse-li', 'staff', 'Nurse Li');
    nurse2 = await s.user('nurse-wang', 'staff', 'Nurse Wang');
  });
  after(async () => s.stop());

  it('state init makes a visitor with the widget key: {code, uid, addr, track_id, state:{chats, version}} and a token', async () => {
    const v = await visitor(s, key, 'fp-one');
    const b = v.init;
    assert.equal(b.code, 0);
    assert.match(b.uid, VID_RE);
    assert.equal(typeof b.addr, 'string');
    assert.ok(b.addr.length > 0);
    assert.match(b.track_id, TID_RE);
    assert.equal(isTidOf(b.track_id, b.uid), true);
    assert.deepEqual(b.state.chats, []);
    assert.match(b.state.version, MID_RE);
    assert.equal(b.role, 'user');
    assert.equal(b.cid, cid);
    assert.equal(typeof b.token, 'string');
    // Again with its token: the same visitor, its track id kept, no new token.
    const again = await s.call('GET', `/api/state/init?uid=${b.uid}&fp=fp-one&track_id=${b.track_id}`, { token: v.token });
    assert.equal(again.status, 200);
    assert.equal(again.body.uid, b.uid);
    assert.equal(again.body.track_id, b.track_id);
    assert.equal(again.body.token, undefined);
    assert.ok(again.body.state.version > b.state.version);
  });

  it('request_chat creates the chat on the server; text, file and image answer {code, mid, msg}; state init shows it with its messages', async () => {
    const v = await visitor(s, key);
    const r = await s.call('POST', '/api/message', { token: v.token, body: { cid, type: 'request_chat', from: { id: v.uid, name: '', role: 'user' }, event: { uids: [v.uid] } } });
    assert.equal(r.status, 200);
    assert.equal(r.body.code, 0);
    assert.equal(r.body.msg, 'ok');
    assert.match(r.body.mid, MID_RE);
    assert.match(r.body.chat.id, CHAT_ID_RE);
    const chatId = r.body.chat.id as string;
    const twice = await s.call('POST', '/api/message', { token: v.token, body: { cid, type: 'request_chat', from: { id: v.uid, name: '', role: 'user' }, event: { uids: [v.uid] } } });
    assert.equal(twice.body.chat.id, chatId, 'one open chat per visitor');

    const text = await s.call('POST', '/api/message', { token: v.token, body: seedText(cid, { id: v.uid, role: 'user' }, chatId, '你好') });
    assert.deepEqual(Object.keys(text.body).sort(), ['code', 'mid', 'msg']);
    assert.equal(text.body.code, 0);
    assert.match(text.body.mid, MID_RE);
    const file = await s.call('POST', '/api/message', {
      token: v.token, body: { cid, type: 'file', from: { id: v.uid, name: '', role: 'user' }, chat: { id: chatId }, file: { name: 'referral.pdf', src: 'https://clinic.example/f/1', size: 1234 } },
    });
    assert.equal(file.body.code, 0);
    const image = await s.call('POST', '/api/message', {
      token: v.token, body: { cid, type: 'image', from: { id: v.uid, name: '', role: 'user' }, chat: { id: chatId }, image: { src: 'https://clinic.example/i/1.png', width: 1, height: 1, size: 0 } },
    });
    assert.equal(image.body.code, 0);
    assert.ok(text.body.mid < file.body.mid && file.body.mid < image.body.mid, 'time-ordered');

    const init = await s.call('GET', `/api/state/init?uid=${v.uid}&fp=x`, { token: v.token });
    const [chat] = init.body.state.chats;
    assert.equal(chat.chat_id, chatId);
    assert.equal(chat.id, chatId);
    assert.equal(chat.creator, v.uid);
    assert.equal(chat.staff_id, '0');
    assert.equal(chat.state, 'request');
    assert.equal(chat.user_num, '1');
    assert.equal(chat.gid, '');
    assert.match(chat.created_at, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
    assert.equal(chat.ended_at, '');
    assert.equal(chat.position >= 1, true);
    assert.deepEqual(chat.msgs.map((m: any) => m.type), ['text', 'file', 'image']);
    assert.deepEqual(chat.msgs[0], { ...chat.msgs[0], cid, mid: text.body.mid, type: 'text', from: { id: v.uid, name: '', role: 'user' }, chat: { id: chatId }, text: '你好' });
    assert.deepEqual(chat.msgs[1].file, { name: 'referral.pdf', src: 'https://clinic.example/f/1', size: 1234 });
    assert.equal(chat.msgs[2].image.src, 'https://clinic.example/i/1.png');
    for (const m of chat.msgs) assert.ok(m.mid <= init.body.state.version, 'the snapshot is not newer than its version');
  });

  it('join_chat claims the chat; the second staff member gets desk.already_claimed; the visitor gets the join and the answer over /pull', async () => {
    const v = await visitor(s, key);
    const { chatId } = await requestChat(s, cid, v);
    const version = (await s.call('GET', `/api/state/init?uid=${v.uid}`, { token: v.token })).body.state.version as string;
    const join = { cid, type: 'join_chat', from: { id: nurse.id, name: 'Nurse Li', role: 'staff' }, event: { chat: { id: chatId } } };
    const r = await s.call('POST', '/api/message', { token: nurse.token, body: join });
    assert.equal(r.status, 200);
    assert.equal(r.body.code, 0);
    assert.match(r.body.mid, MID_RE);
    const lost = await s.call('POST', '/api/message', { token: nurse2.token, body: { ...join, from: { id: nurse2.id, name: '', role: 'staff' } } });
    assert.equal(lost.status, 409);
    assert.equal(lost.body.code, 'desk.already_claimed');
    assert.equal(lost.body.details.staff_id, nurse.id);
    const answer = await s.call('POST', '/api/message', { token: nurse.token, body: seedText(cid, { id: nurse.id, role: 'staff', name: 'Nurse Li' }, chatId, 'We open at 8.') });
    assert.equal(answer.body.code, 0);
    // The staff member who lost may not write in it.
    const intrude = await s.call('POST', '/api/message', { token: nurse2.token, body: seedText(cid, { id: nurse2.id, role: 'staff' }, chatId, 'me too') });
    assert.equal(intrude.body.code, 'desk.not_in_chat');

    const data = await pullUntil(s, v.token, (d) => d.some((x) => x.type === 'text' && x.text === 'We open at 8.') && d.some((x) => x.type === 'join_chat'), { version });
    const join2 = data.find((x) => x.type === 'join_chat');
    assert.deepEqual(join2.event, { chat: { id: chatId }, staff_id: nurse.id });
    assert.deepEqual(join2.from, { id: nurse.id, name: 'Nurse Li', role: 'staff' });
    const text = data.find((x) => x.type === 'text');
    assert.equal(text.mid, answer.body.mid);
    assert.deepEqual(text.from, { id: nurse.id, name: 'Nurse Li', role: 'staff' });
    assert.equal(typeof text.t.t0, 'number');
    for (const d of data) assert.ok(d.mid > version, 'nothing older than the version');

    const init = await s.call('GET', `/api/state/init?uid=${v.uid}`, { token: v.token });
    assert.equal(init.body.state.chats[0].state, 'active');
    assert.equal(init.body.state.chats[0].staff_id, nurse.id);
    assert.equal(init.body.state.chats[0].user_num, '2');
    const staffInit = await s.call('GET', `/api/state/init?uid=${nurse.id}`, { token: nurse.token });
    assert.equal(staffInit.body.role, 'staff');
    assert.ok(staffInit.body.state.chats.some((c: any) => c.id === chatId));
  });

  it('state init versions: events after the version come in /pull (also those sent between polls), older ones are left out', async () => {
    const v = await visitor(s, key);
    const { chatId, mid: requestMid } = await requestChat(s, cid, v);
    const v1 = (await s.call('GET', `/api/state/init?uid=${v.uid}`, { token: v.token })).body.state.version as string;
    assert.ok(requestMid < v1);
    // Events while the visitor is not polling: stored, and caught up from the version.
    const claim = await s.call('POST', `/api/desk/chats/${chatId}/claim`, { token: nurse2.token });
    assert.equal(claim.status, 200);
    const close = await s.call('POST', `/api/desk/chats/${chatId}/close`, { token: nurse2.token, body: { outcome: 'resolved' } });
    assert.equal(close.status, 200);
    const first = await s.call('GET', `/pull?version=${v1}&timeout=0`, { token: v.token });
    assert.equal(first.status, 200);
    const types = first.body.data.map((d: any) => d.type);
    assert.deepEqual(types.filter((t: string) => t === 'join_chat' || t === 'close_chat'), ['join_chat', 'close_chat']);
    assert.ok(!first.body.data.some((d: any) => d.mid === requestMid), 'the request is older than the version');
    assert.equal(first.body.version, close.body.mid);
    // With the newest version nothing old comes again.
    const second = await s.call('GET', `/pull?version=${first.body.version}&timeout=0&cursor=${first.body.cursor}`, { token: v.token });
    assert.ok(!second.body.data.some((d: any) => d.mid <= first.body.version));
    // A version later than everything: the older events are ignored.
    const late = await s.call('GET', `/pull?version=${newMid(Date.now() + 60_000)}&timeout=0`, { token: v.token });
    assert.deepEqual(late.body.data.filter((d: any) => d.type === 'join_chat' || d.type === 'close_chat'), []);
  });

  it('a client far behind catches up the stored events page by page, none skipped', async () => {
    const v = await visitor(s, key);
    const { chatId } = await requestChat(s, cid, v);
    const start = (await s.call('GET', '/api/state/init', { token: nurse2.token })).body.state.version as string;
    const mids: string[] = [];
    for (let i = 0; i < 230; i++) mids.push((await s.call('POST', `/api/desk/chats/${chatId}/ack`, { token: nurse2.token })).body.mid);
    const got: string[] = [];
    let version = start;
    let cursor = '';
    for (let i = 0; i < 5 && got.length < mids.length; i++) {
      const r = await s.call('GET', `/pull?timeout=0&version=${version}${cursor ? `&cursor=${cursor}` : ''}`, { token: nurse2.token });
      got.push(...r.body.data.filter((d: any) => d.type === 'ack_chat' && d.chat.id === chatId).map((d: any) => d.mid));
      version = r.body.version;
      cursor = r.body.cursor;
    }
    assert.deepEqual(got, mids);
    await s.call('POST', `/api/desk/chats/${chatId}/close`, { token: nurse2.token, body: { outcome: 'spam' } });
  });

  it('/api/user/track answers a track_id and tells every online staff member; /api/users/online lists the visitor with its page', async () => {
    const v = await visitor(s, key, 'fp-track');
    // The nurse is on: a poll waiting for the news.
    const init = await s.call('GET', `/api/state/init?uid=${nurse.id}`, { token: nurse.token });
    const waiting = pullUntil(s, nurse.token, (d) => d.some((x) => x.type === 'users_changed' && x.event.uids.includes(v.uid)), { version: init.body.state.version });
    await new Promise((r) => setTimeout(r, 200));
    const ping = await s.call('GET', `/api/ping?uid=${v.uid}&fp=fp-track&track_id=${v.init.track_id}`, { token: v.token });
    assert.deepEqual(Object.keys(ping.body).sort(), ['code', 'interval', 'msg']);
    const body = { uid: v.uid, fp: 'fp-track', cid, url: 'https://clinic.example/prices', title: 'Prices', referer: 'https://search.example/', os: 'Linux', browser: 'Firefox 140' };
    const r = await s.call('POST', '/api/user/track', { token: v.token, body });
    assert.equal(r.status, 200);
    assert.equal(r.body.code, 0);
    assert.equal(r.body.msg, 'ok');
    assert.match(r.body.track_id, TID_RE);
    assert.equal(r.body.track_id.slice(14, 37), v.uid);
    await waiting;
    const online = await s.call('GET', `/api/users/online?cid=${cid}`, { token: nurse.token });
    assert.equal(online.status, 200);
    assert.equal(online.body.code, 0);
    const me = online.body.data.find((x: any) => x.uid === v.uid);
    assert.ok(me, 'the visitor is online');
    assert.equal(me.url, body.url);
    assert.equal(me.title, 'Prices');
    assert.equal(me.browser, 'Firefox 140');
    assert.equal(me.track_id, r.body.track_id);
    // A visitor may not read the visitor list.
    assert.equal((await s.call('GET', `/api/users/online?cid=${cid}`, { token: v.token })).body.code, 'desk.not_staff');
  });

  it('/ws carries desk events as {type: "desk", event} frames: the visitor list changed, a chat requested, and the chat\'s messages', async () => {
    await s.call('GET', '/api/staff/info', { token: nurse2.token });
    const ws = await WsClient.open(s.wsUrl, nurse2.token);
    try {
      const v = await visitor(s, key);
      await s.call('POST', '/api/user/track', { token: v.token, body: { uid: v.uid, cid, url: 'https://clinic.example/' } });
      const changed = await ws.next((f) => f.type === 'desk' && f.event.type === 'users_changed' && f.event.event.uids.includes(v.uid));
      assert.equal(changed.event.cid, cid);
      assert.match(changed.event.mid, MID_RE);
      const { chatId, mid } = await requestChat(s, cid, v);
      const req = await ws.next((f) => f.type === 'desk' && f.event.type === 'request_chat' && f.event.chat.id === chatId);
      assert.equal(req.event.mid, mid);
      assert.deepEqual(req.event.event.uids, [v.uid]);
      assert.equal(req.event.from.role, 'user');
      await s.call('POST', `/api/desk/chats/${chatId}/claim`, { token: nurse2.token });
      const sent = await s.call('POST', '/api/message', { token: v.token, body: seedText(cid, { id: v.uid, role: 'user' }, chatId, 'Is parking free?') });
      const msg = await ws.next((f) => f.type === 'message' && f.message.conversation_id === chatId);
      assert.equal(msg.message.client_id, sent.body.mid, 'the mid is the message\'s client id');
      assert.equal(msg.message.content.text, 'Is parking free?');
      await s.call('POST', `/api/desk/chats/${chatId}/close`, { token: nurse2.token, body: { outcome: 'resolved' } });
    } finally {
      ws.close();
    }
  });

  it('/api/staff/info and /api/staff/online', async () => {
    const info = await s.call('GET', '/api/staff/info', { token: nurse.token });
    assert.equal(info.status, 200);
    assert.deepEqual(Object.keys(info.body).sort(), ['cid', 'code', 'msg', 'staff', 'staff_id', 'track_id']);
    assert.equal(info.body.cid, cid);
    assert.match(info.body.staff_id, SID_RE);
    assert.equal(info.body.track_id.length, 53);
    assert.deepEqual(info.body.staff, { name: 'Nurse Li', gender: '' });
    const again = await s.call('GET', '/api/staff/info', { token: nurse.token });
    assert.equal(again.body.staff_id, info.body.staff_id, 'one sid per staff member');
    await s.call('GET', '/api/ping', { token: nurse.token });
    const v = await visitor(s, key);
    const online = await s.call('GET', `/api/staff/online?cid=${cid}`, { token: v.token });
    assert.equal(online.status, 200);
    const li = online.body.data.find((x: any) => x.uid === nurse.id);
    assert.ok(li);
    assert.equal(li.staff_id, info.body.staff_id);
    assert.equal(li.name, 'Nurse Li');
    assert.equal((await s.call('GET', '/api/staff/info', { token: v.token })).body.code, 'desk.not_staff');
  });

  it('/monitor/api/ping keeps its shape, with the desk\'s figures in stats', async () => {
    const r = await s.call('GET', '/monitor/api/ping', { apiKey: null });
    assert.equal(r.status, 200);
    assert.deepEqual(Object.keys(r.body).sort(), ['code', 'interval', 'msg', 'service_id', 'service_type', 'stats']);
    const names = r.body.stats.map((x: any) => x.name);
    assert.ok(names.includes('desk_queue') && names.includes('desk_active'));
    for (const x of r.body.stats) assert.equal(typeof x.value, 'number');
  });

  it('the seed 002 paths and the triage paths are in the OpenAPI document', async () => {
    const doc = await s.call('GET', '/docs/json', { apiKey: null });
    const paths = Object.keys(doc.body.paths);
    for (const p of ['/api/state/init', '/api/message', '/api/user/track', '/api/users/online', '/api/staff/online', '/api/staff/info', '/api/ping', '/pull',
      '/api/desk/queue', '/api/desk/chats/{chat_id}/claim', '/api/desk/chats/{chat_id}/transfer', '/api/desk/chats/{chat_id}/close', '/api/desk/chats/{chat_id}/ack',
      '/api/desk/stats', '/api/desk/widget-keys', '/api/desk/sla']) {
      assert.ok(paths.includes(p), p);
    }
  });

  void ({} as DeskVisitor);
});
