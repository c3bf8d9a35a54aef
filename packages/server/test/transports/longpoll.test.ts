/** Long-polling, seed 002's /pull and /api/ping, and Server-Sent Events against a real server. */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../support/server.ts';

type Frame = { type: string; id?: string; [k: string]: any };
type Answer = { frames: Frame[]; cursor: string; close?: { code: number; reason: string } };

describe('long-poll transport', () => {
  let s: TestServer;
  let doc: { id: string; token: string };
  let doc2: { id: string; token: string };
  let pat: { id: string; token: string };
  let conv: string;

  const poll = async (token: string, q: Record<string, string | number> = {}): Promise<Answer> => {
    const qs = new URLSearchParams(Object.entries(q).map(([k, v]) => [k, String(v)]));
    const r = await s.call('GET', `/api/v2/poll?${qs}`, { token });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body as Answer;
  };
  const post = async (token: string, frames: unknown): Promise<{ status: number; body: any }> => s.call('POST', '/api/v2/poll/send', { token, body: frames });
  const messages = (a: Answer) => a.frames.filter((f) => f.type === 'message').map((f) => f.message);
  /** A first poll: hello + sync_done, and the cursor after them. */
  const start = async (token: string) => {
    const a = await poll(token, { hello: 1 });
    return a.cursor;
  };

  before(async () => {
    s = await startTestServer({ config: { ws: { heartbeatMs: 1000, syncPageSize: 10 }, longpoll: { maxResponseBytes: 16 * 1024, orderWaitMs: 2000 } } });
    doc = await s.user('doc', 'doctor', 'Dr. Doc');
    doc2 = await s.user('doc', 'doctor', 'Dr. Doc');
    pat = await s.user('pat', 'patient', 'Pat');
    conv = await s.conversation({ participants: ['doc', 'pat'] });
  });
  after(async () => {
    await s.stop();
  });

  it('answers a first poll at once with hello and sync_done, and a cursor', async () => {
    const a = await poll(doc.token, { hello: 1 });
    assert.deepEqual(a.frames.map((f) => f.type), ['hello', 'sync_done']);
    assert.equal(a.frames[0]!.user.id, 'doc');
    assert.ok(a.frames[1]!.conversations.some((c: { id: string }) => c.id === conv));
    assert.equal(typeof a.cursor, 'string');
  });

  it('acks a send only after commit, and a duplicate as duplicate', async () => {
    const send = { type: 'send', id: 'r1', conversation_id: conv, message: { client_id: 'lp-1', type: 1, content: { text: 'hi over http' } } };
    const r = await post(pat.token, [send]);
    assert.equal(r.status, 200);
    const ack = r.body.frames.find((f: Frame) => f.type === 'ack');
    assert.equal(ack.id, 'r1');
    assert.equal(ack.duplicate, false);
    // Acked: stored (a poll from just before it reads it).
    const stored = messages(await poll(doc.token, { cursors: JSON.stringify({ [conv]: ack.seq - 1 }) }));
    assert.equal(stored[0].id, ack.message_id);
    const again = await post(pat.token, [{ ...send, id: 'r2' }]);
    const dup = again.body.frames.find((f: Frame) => f.type === 'ack');
    assert.deepEqual([dup.id, dup.duplicate, dup.message_id, dup.seq], ['r2', true, ack.message_id, ack.seq]);
  });

  it('delivers a live message to every polling device of the user', async () => {
    const [c1, c2] = [await start(doc.token), await start(doc2.token)];
    // Each device polls until a message comes (an earlier answer can carry other live frames:
    // the "connected elsewhere" event of the other device's first poll).
    const until = async (token: string, cursor: string) => {
      for (let i = 0; i < 5; i++) {
        const a = await poll(token, { cursor, timeout: 10_000 });
        if (messages(a).length > 0) return a;
        cursor = a.cursor;
      }
      throw new Error('no message');
    };
    const polls = [until(doc.token, c1), until(doc2.token, c2)];
    await new Promise((r) => setTimeout(r, 200));
    const r = await post(pat.token, [{ type: 'send', id: 'live', conversation_id: conv, message: { client_id: 'lp-live', type: 1, content: { text: 'live' } } }]);
    const ack = r.body.frames[0];
    assert.equal(ack.type, 'ack');
    for (const a of await Promise.all(polls)) {
      const m = messages(a);
      assert.equal(m.length, 1);
      assert.equal(m[0].seq, ack.seq);
      assert.equal(m[0].content.text, 'live');
    }
  });

  it('catches up after a gap from its cursor, each message once, in order; then holds until the timeout', async () => {
    const cursor = await start(doc.token);
    const sent = [];
    for (let i = 0; i < 5; i++) sent.push(await s.sendAs('pat', conv, `gap ${i}`));
    const a = await poll(doc.token, { cursor });
    assert.deepEqual(messages(a).map((m) => m.seq), sent.map((x) => x.seq));
    assert.equal(a.frames.at(-1)!.type, 'sync_done');
    // The same cursor again (another node, a lost answer): the same messages, nothing missed.
    assert.deepEqual(messages(await poll(doc.token, { cursor })).map((m) => m.seq), sent.map((x) => x.seq));
    // From the new cursor: nothing waits, so the poll holds and answers empty at the timeout
    // (it continues the previous answer of its session: no catch-up, so no sync_done either).
    const b = await poll(doc.token, { cursor: a.cursor, timeout: 300 });
    assert.deepEqual(b.frames, []);
    // The same from a cursor another node gave (no continuation): a catch-up, with its sync_done.
    const { k: _k, e: _e, m: _m, ...plain } = JSON.parse(Buffer.from(a.cursor, 'base64url').toString('utf8'));
    const c = await poll(doc.token, { cursor: Buffer.from(JSON.stringify(plain)).toString('base64url'), timeout: 300 });
    assert.deepEqual(c.frames.map((f) => f.type), ['sync_done']);
  });

  it('pages a long catch-up by longpoll.maxResponseBytes, nothing missed or doubled', async () => {
    const cursor = await start(pat.token);
    const big = 'x'.repeat(2000);
    const sent: number[] = [];
    for (let i = 0; i < 30; i++) sent.push((await s.sendAs('doc', conv, `${i} ${big}`)).seq);
    // longpoll.maxResponseBytes is 16 KiB here, and a catch-up page 10 messages (20 KiB): an answer a page.
    const got: number[] = [];
    let cur = cursor;
    let answers = 0;
    for (let i = 0; i < 20 && got.length < sent.length; i++) {
      const a = await poll(pat.token, { cursor: cur, timeout: 100 });
      assert.equal(a.close, undefined);
      got.push(...messages(a).map((m) => m.seq));
      cur = a.cursor;
      answers++;
    }
    assert.deepEqual(got, sent);
    assert.ok(answers > 1);
  });

  it('a receipt or typing that comes between two polls reaches the next poll of the session', async () => {
    const first = await poll(doc.token, { hello: 1 });
    const ack = (await post(pat.token, [{ type: 'send', id: 'rc', conversation_id: conv, message: { client_id: 'lp-rc', type: 1, content: { text: 'read me' } } }])).body.frames[0];
    await post(pat.token, [{ type: 'read', conversation_id: conv, seq: ack.seq }, { type: 'typing', conversation_id: conv }]);
    // No poll was open meanwhile: the session kept them.
    const seen: Frame[] = [];
    let cursor = first.cursor;
    for (let i = 0; i < 5 && !(seen.some((f) => f.type === 'read') && seen.some((f) => f.type === 'typing')); i++) {
      const a = await poll(doc.token, { cursor, timeout: 2000 });
      seen.push(...a.frames);
      cursor = a.cursor;
    }
    assert.equal(seen.find((f) => f.type === 'read')?.seq, ack.seq);
    assert.equal(seen.find((f) => f.type === 'typing')?.user_id, 'pat');
    // Once: the next poll from the new cursor does not bring them again.
    const again = await poll(doc.token, { cursor, timeout: 200 });
    assert.equal(again.frames.filter((f) => f.type === 'read' || f.type === 'typing').length, 0);
  });

  it('refuses a missing or bad token with the WebSocket\'s codes', async () => {
    const none = await s.call('GET', '/api/v2/poll', { apiKey: null });
    assert.equal(none.status, 401);
    assert.equal(none.body.code, 'auth.missing');
    const bad = await s.call('GET', '/api/v2/poll', { token: 'not-a-jwt' });
    assert.equal(bad.status, 401);
    assert.equal(bad.body.code, 'auth.invalid_token');
    const post401 = await s.call('POST', '/api/v2/poll/send', { token: 'not-a-jwt', body: [] });
    assert.equal(post401.body.code, 'auth.invalid_token');
  });

  it('answers bad frames with coded error frames, and bad requests with coded errors', async () => {
    const r = await post(pat.token, [
      { type: 'nope', id: 'a' },
      { type: 'send', id: 'b' },
      5,
      { type: 'send', id: 'c', conversation_id: 'no-such', message: { client_id: 'z', type: 1, content: { text: 'x' } } },
      { type: 'ping', id: 'd' },
    ]);
    assert.equal(r.status, 200);
    const by = (id: string | undefined) => r.body.frames.find((f: Frame) => f.id === id);
    assert.equal(by('a').code, 'frame.unknown_type');
    assert.equal(by('b').code, 'frame.invalid');
    assert.equal(by(undefined).code, 'frame.invalid');
    assert.match(by('c').code, /^conversation\./);
    assert.equal(by('d').type, 'pong');
    const notArray = await s.call('POST', '/api/v2/poll/send', { token: pat.token, body: { type: 'ping' } });
    assert.equal(notArray.status, 400);
    assert.equal(notArray.body.code, 'request.invalid');
    const many = await post(pat.token, Array.from({ length: 101 }, () => ({ type: 'ping' })));
    assert.equal(many.status, 413);
    assert.equal(many.body.code, 'longpoll.too_many_frames');
    const huge = await post(pat.token, [{ type: 'send', id: 'h', conversation_id: conv, message: { client_id: 'h', type: 1, content: { text: 'y'.repeat(70_000) } } }]);
    assert.equal(huge.body.frames[0].code, 'longpoll.frame_too_large');
    const cur = await s.call('GET', '/api/v2/poll?cursor=%%%', { token: pat.token });
    assert.equal(cur.status, 400);
    const cur2 = await s.call('GET', `/api/v2/poll?cursor=${Buffer.from('[1]').toString('base64url')}`, { token: pat.token });
    assert.equal(cur2.body.code, 'longpoll.invalid_cursor');
  });

  it('authenticates a poll session once, as a WebSocket: its requests do not read the login session again; a revoked token or a disabled user is refused at once', async () => {
    const sessions = s.server.core.storage.sessions;
    const read = sessions.getSessionWithUser.bind(sessions);
    let reads = 0;
    sessions.getSessionWithUser = (id: string) => {
      reads++;
      return read(id);
    };
    try {
      const u = await s.user('once', 'patient');
      const cursor = await start(u.token);
      // The first request opened the session; the next is checked in full and taken as the session's.
      await poll(u.token, { cursor, timeout: 0 });
      const before = reads;
      for (let i = 0; i < 5; i++) await poll(u.token, { cursor, timeout: 0 });
      const sent = await post(u.token, [{ type: 'ping', id: 'p' }]);
      assert.equal(sent.status, 200);
      assert.equal(reads, before, 'polls and POSTs of the open session read no login session');
      // Logged out: the session's connection closes, and the token is checked in full again (refused).
      assert.equal((await s.call('POST', '/api/v2/users/logout', { token: u.token })).status, 200);
      const revoked = await s.call('GET', `/api/v2/poll?cursor=${cursor}&timeout=0`, { token: u.token });
      assert.equal(revoked.status, 401);
      assert.equal(revoked.body.code, 'auth.token_revoked');
      // A disabled user likewise.
      const v = await s.user('once2', 'patient');
      const c2 = await start(v.token);
      await poll(v.token, { cursor: c2, timeout: 0 });
      assert.equal((await s.call('PUT', '/api/v2/management/users/once2', { body: { role: 'patient', name: 'Once', disabled: true } })).status, 200);
      const disabled = await s.call('GET', `/api/v2/poll?cursor=${c2}&timeout=0`, { token: v.token });
      assert.equal(disabled.status, 403, JSON.stringify(disabled.body));
      assert.equal(disabled.body.code, 'user.disabled');
    } finally {
      sessions.getSessionWithUser = read;
    }
  });

  it('numbered POSTs of one client are handled in the order of their numbers, whatever order they arrive in', async () => {
    const u = await s.user('pipeliner', 'patient');
    const c = await s.conversation({ participants: ['pipeliner', 'doc'] });
    const sendN = (n: number, from: number) => s.call('POST', `/api/v2/poll/send?client=pipe&n=${n}&from=${from}`, {
      token: u.token, body: [{ type: 'send', id: `p${n}`, conversation_id: c, message: { client_id: `pipe-${n}`, type: 1, content: { text: `number ${n}` } } }],
    });
    // 3 and 4 arrive first: they wait for 2 (the oldest the client has no answer for).
    const p4 = sendN(4, 2);
    const p3 = sendN(3, 2);
    await new Promise((r) => setTimeout(r, 300));
    const p2 = sendN(2, 2);
    const acks = [];
    for (const [n, r] of [[2, await p2], [3, await p3], [4, await p4]] as const) {
      assert.equal(r.status, 200, JSON.stringify(r.body));
      const ack = r.body.frames.find((f: Frame) => f.type === 'ack' && f.id === `p${n}`);
      assert.ok(ack, JSON.stringify(r.body));
      acks.push(ack.seq as number);
    }
    assert.deepEqual(acks, [...acks].sort((a, b) => a - b), `stored in the order of the numbers: seqs ${acks}`);
    assert.equal(new Set(acks).size, 3);
    // A POST whose earlier one never comes here (sent to another node, or lost) is handled after longpoll.orderWaitMs.
    const lone = await s.call('POST', '/api/v2/poll/send?client=pipe2&n=7&from=6', {
      token: u.token, body: [{ type: 'send', id: 'l7', conversation_id: c, message: { client_id: 'lone-7', type: 1, content: { text: 'alone' } } }],
    });
    assert.equal(lone.status, 200);
    assert.equal(lone.body.frames.find((f: Frame) => f.id === 'l7')?.type, 'ack');
  });

  it('refuses a POST number that is not a place among the client\'s POSTs', async () => {
    const frames = [{ type: 'ping', id: 'x' }];
    for (const q of ['client=a&n=2', 'client=a&from=1', 'n=2&from=1', 'client=a&n=2&from=3', 'client=a&n=100&from=1']) {
      const r = await s.call('POST', `/api/v2/poll/send?${q}`, { token: pat.token, body: frames });
      assert.equal(r.status, 400, q);
      assert.equal(r.body.code, 'longpoll.invalid_order', q);
    }
    for (const q of ['client=a&n=0&from=0', 'client=a&n=x&from=1', 'client=a&n=1.5&from=1']) {
      const r = await s.call('POST', `/api/v2/poll/send?${q}`, { token: pat.token, body: frames });
      assert.equal(r.status, 400, q);
      assert.equal(r.body.code, 'request.invalid', q);
    }
    // Nothing else changed: the same client's numbered POSTs go on.
    const ok = await s.call('POST', '/api/v2/poll/send?client=a&n=1&from=1', { token: pat.token, body: frames });
    assert.equal(ok.body.frames[0].type, 'pong');
  });

  it('a client\'s own send is answered by its POST\'s ack, not by its poll too; its other clients get the message', async () => {
    const u = await s.user('sender', 'patient');
    const c = await s.conversation({ participants: ['sender', 'doc'] });
    const cursor = await start(u.token);
    const decode = (cur: string) => JSON.parse(Buffer.from(cur, 'base64url').toString('utf8')) as { c: Record<string, number> };
    // The sending client's poll, another client of the same login session, and one that does not name itself.
    const own = poll(u.token, { cursor, timeout: 1500, client: 'tab-a' });
    const other = poll(u.token, { cursor, timeout: 5000, client: 'tab-b' });
    const unnamed = poll(u.token, { cursor, timeout: 5000 });
    await new Promise((r) => setTimeout(r, 200));
    const r = await s.call('POST', '/api/v2/poll/send?client=tab-a', {
      token: u.token, body: [{ type: 'send', id: 's1', conversation_id: c, message: { client_id: 'own-1', type: 1, content: { text: 'mine' } } }],
    });
    const ack = r.body.frames.find((f: Frame) => f.type === 'ack' && f.id === 's1');
    assert.ok(ack, JSON.stringify(r.body));
    for (const a of [await other, await unnamed]) assert.deepEqual(messages(a).map((m) => m.client_id), ['own-1']);
    const mine = await own;
    assert.deepEqual(messages(mine), [], 'the sending client\'s poll does not answer with its own message');
    assert.equal(decode(mine.cursor).c[c], ack.seq, 'its cursor moved past it');
  });

  it('a poll that continues its previous answer waits without a catch-up; one after a missed message catches up', async () => {
    const u = await s.user('waiter', 'patient');
    const c = await s.conversation({ participants: ['waiter', 'doc'] });
    const store = s.server.core.storage.conversations;
    const read = store.memberships.bind(store);
    let reads = 0;
    store.memberships = (tenantId: string, userId: string) => {
      if (userId === 'waiter') reads++;
      return read(tenantId, userId);
    };
    try {
      const first = await poll(u.token, { cursor: await start(u.token), timeout: 0 });
      const before = reads;
      // Nothing new: the poll only waits, and answers on its timeout with nothing.
      const idle = await poll(u.token, { cursor: first.cursor, timeout: 200 });
      assert.deepEqual(idle.frames, []);
      assert.equal(reads, before, 'no catch-up read');
      // A live message ends a continuing poll, still without a catch-up.
      const held = poll(u.token, { cursor: idle.cursor, timeout: 5000 });
      await new Promise((r) => setTimeout(r, 200));
      const sent = await post(doc.token, [{ type: 'send', id: 'w1', conversation_id: c, message: { client_id: 'w-1', type: 1, content: { text: 'live' } } }]);
      assert.equal(sent.status, 200);
      const live = await held;
      assert.deepEqual(messages(live).map((m) => m.client_id), ['w-1']);
      assert.equal(reads, before, 'no catch-up read for a live message');
      // A message that came while no poll was open: the next poll catches up from storage, at once.
      await post(doc.token, [{ type: 'send', id: 'w2', conversation_id: c, message: { client_id: 'w-2', type: 1, content: { text: 'between' } } }]);
      const next = await poll(u.token, { cursor: live.cursor, timeout: 5000 });
      assert.deepEqual(messages(next).map((m) => m.client_id), ['w-2']);
      assert.ok(reads > before, 'caught up from storage');
    } finally {
      store.memberships = read;
    }
  });

  it('a live message held during a catch-up that found something is in that answer, and a continuing poll after it misses nothing', async () => {
    const u = await s.user('held', 'patient');
    const c = await s.conversation({ participants: ['held', 'doc'] });
    const say = (id: string) => post(doc.token, [{ type: 'send', id, conversation_id: c, message: { client_id: id, type: 1, content: { text: id } } }]);
    const first = await poll(u.token, { cursor: await start(u.token), timeout: 0 });
    await say('h-1');
    // The next poll catches up h-1; while it reads (the notification part of its catch-up, made
    // slow here as a networked store can be), h-2 comes live and is held until the catch-up ends.
    const notes = s.server.core.storage.notifications;
    const head = notes.head.bind(notes);
    let sent: Promise<unknown> | undefined;
    notes.head = async (tenantId: string, userId: string) => {
      if (userId === 'held' && !sent) {
        sent = say('h-2');
        await sent;
        await new Promise((r) => setTimeout(r, 50));
      }
      return head(tenantId, userId);
    };
    let a: Answer;
    try {
      a = await poll(u.token, { cursor: first.cursor, timeout: 5000 });
    } finally {
      notes.head = head;
    }
    const got = messages(a).map((m) => m.client_id);
    // And a poll from that answer's cursor: whatever the first lacked comes now.
    if (!got.includes('h-2')) got.push(...messages(await poll(u.token, { cursor: a.cursor, timeout: 1000 })).map((m) => m.client_id));
    assert.deepEqual(got, ['h-1', 'h-2']);
  });

  it('keeps a polling user online, and offline once the polls stop', async () => {
    const u = await s.user('poller', 'patient');
    const presence = () => s.server.core.presence.status(s.tenantId, 'poller');
    assert.equal((await presence()).online, false);
    await poll(u.token, { hello: 1 });
    assert.equal((await presence()).online, true);
    // Polls every 400 ms for 3 heartbeats: still online.
    for (let i = 0; i < 8; i++) {
      await poll(u.token, { timeout: 400 });
      assert.equal((await presence()).online, true);
    }
    // Then none: offline after two heartbeat intervals (1 s each here), bounded wait.
    let online = true;
    for (let i = 0; i < 100 && online; i++) {
      await new Promise((r) => setTimeout(r, 100));
      online = (await presence()).online;
    }
    assert.equal(online, false);
  });

  it('keeps a user online through a poll held longer than the heartbeat', async () => {
    const u = await s.user('holder', 'patient');
    const cursor = await start(u.token);
    const held = poll(u.token, { cursor, timeout: 3500 });
    await new Promise((r) => setTimeout(r, 3000));
    assert.equal((await s.server.core.presence.status(s.tenantId, 'holder')).online, true);
    await held;
  });

  it('seed 002: /pull answers {code, msg, data} with its message objects; /api/ping the interval', async () => {
    const first = await s.call('GET', `/pull?uid=pat&track_id=t1&timeout=100`, { token: pat.token });
    assert.equal(first.status, 200);
    assert.equal(first.body.code, 0);
    const m = await s.sendAs('doc', conv, 'seed two');
    const next = await s.call('GET', `/pull?uid=pat&track_id=t1&cursor=${first.body.cursor}`, { token: pat.token });
    assert.equal(next.body.code, 0);
    assert.equal(next.body.data.length, 1);
    const d = next.body.data[0];
    assert.equal(d.mid, m.id);
    assert.equal(d.type, 'text');
    assert.equal(d.text, 'seed two');
    assert.deepEqual(d.from, { id: 'doc', name: 'Dr. Doc', role: 'staff' });
    assert.deepEqual(d.chat, { id: conv });
    assert.equal(d.cid, s.tenantId);
    assert.equal(typeof d.t.t0, 'number');
    const other = await s.call('GET', `/pull?uid=doc&track_id=t1&timeout=100`, { token: pat.token });
    assert.equal(other.status, 403);
    const ping = await s.call('GET', '/api/ping?uid=pat&fp=f&track_id=t1', { token: pat.token });
    assert.deepEqual(ping.body, { code: 0, msg: '', interval: 1 });
    assert.equal((await s.call('GET', '/api/ping', { apiKey: null })).body.code, 'auth.missing');
  });

  it('SSE: streams the frames with id = cursor, and resumes from Last-Event-ID with nothing missed or doubled', async () => {
    const read = async (headers: Record<string, string>, until: (events: { id?: string; data: Frame }[]) => boolean) => {
      const ac = new AbortController();
      const res = await fetch(`${s.url}/api/v2/poll/events?token=${pat.token}`, { headers, signal: ac.signal });
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type')!, /^text\/event-stream/);
      const events: { id?: string; data: Frame }[] = [];
      const dec = new TextDecoder();
      let buf = '';
      const reader = res.body!.getReader();
      const deadline = Date.now() + 10_000;
      while (!until(events) && Date.now() < deadline) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += dec.decode(value, { stream: true });
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const id = /^id: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (data && !/^event: /m.test(block)) events.push({ ...(id ? { id } : {}), data: JSON.parse(data) });
        }
      }
      ac.abort();
      return events;
    };
    const a = await read({}, (ev) => ev.some((e) => e.data.type === 'sync_done'));
    assert.deepEqual(a.map((e) => e.data.type), ['hello', 'sync_done']);
    const lastId = a[1]!.id!;
    const sent = [await s.sendAs('doc', conv, 'sse 1'), await s.sendAs('doc', conv, 'sse 2')];
    const b = await read({ 'last-event-id': lastId }, (ev) => ev.some((e) => e.data.type === 'sync_done'));
    assert.deepEqual(b.filter((e) => e.data.type === 'message').map((e) => e.data.message.seq), sent.map((x) => x.seq));
    const live = read({ 'last-event-id': b.at(-1)!.id! }, (ev) => ev.some((e) => e.data.type === 'message'));
    await new Promise((r) => setTimeout(r, 300));
    const m3 = await s.sendAs('doc', conv, 'sse 3');
    const c = await live;
    assert.deepEqual(c.filter((e) => e.data.type === 'message').map((e) => e.data.message.seq), [m3.seq]);
    assert.ok(c.at(-1)!.id);
  });
});
