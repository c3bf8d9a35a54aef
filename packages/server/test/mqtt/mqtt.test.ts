/** The MQTT transport (seed 003): token auth, ACL, send with PUBACK after commit, envelopes, group re-addressing, catch-up. */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import mqtt from 'mqtt';
import pg from 'pg';
import { participantsHash } from '@careline/protocol/ids';
import { startTestServer, type TestServer } from '../support/server.ts';
import { startPostgres, type Service } from '../support/services.ts';
import { WsClient } from '../support/ws-client.ts';
import { MqttTestClient } from './client.ts';

describe('MQTT transport', () => {
  let s: TestServer;
  let port: number;
  let doc: { id: string; token: string };
  let pat: { id: string; token: string };
  let nurse: { id: string; token: string };
  let p2p: string;
  let group: string;
  const open: { end(): Promise<void> }[] = [];
  const ws: WsClient[] = [];

  before(async () => {
    s = await startTestServer({ config: { mqtt: { enabled: true, port: 0 } } });
    port = s.server.mqttPort!;
    doc = await s.user('doc', 'doctor');
    pat = await s.user('pat', 'patient');
    nurse = await s.user('nurse', 'doctor');
    p2p = await s.conversation({ participants: ['doc', 'pat'] });
    group = await s.conversation({ participants: ['doc', 'pat', 'nurse'], type: 4, name: 'care team' });
  });
  after(async () => {
    for (const c of open) await c.end().catch(() => {});
    for (const c of ws) c.close();
    await s.stop();
  });

  const connect = async (u: { id: string; token: string }, o: { clientId?: string; subscribe?: boolean } = {}) => {
    const c = await MqttTestClient.connect(port, u.id, u.token, o);
    open.push(c);
    return c;
  };

  it('the one-to-one conversation id is the P2P rule of the two users (the envelope names the receiver, not the conversation)', () => {
    assert.equal(p2p, participantsHash(['doc', 'pat']));
  });

  it('refuses a bad token in the CONNACK (3.1.1: 4, bad user name or password; 5: 0x86)', async () => {
    await assert.rejects(
      mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { username: 'pat', password: 'not-a-token', protocolVersion: 4, reconnectPeriod: 0 }),
      (err: Error & { code?: number }) => err.code === 4,
    );
    await assert.rejects(
      mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { username: 'pat', protocolVersion: 4, reconnectPeriod: 0 }),
      (err: Error & { code?: number }) => err.code === 4,
    );
    await assert.rejects(
      mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { username: 'pat', password: 'not-a-token', protocolVersion: 5, reconnectPeriod: 0 }),
      (err: Error & { code?: number }) => err.code === 0x86,
    );
  });

  it('MQTT 5: CONNACK says what the server does not do (retain, wildcards, shared subscriptions, topic aliases) and its limits', async () => {
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { username: 'pat', password: pat.token, protocolVersion: 5, reconnectPeriod: 0, clientId: '' });
    open.push({ end: () => client.endAsync(true) });
    const connack = await new Promise<{ properties?: Record<string, unknown> }>((resolve) => {
      // mqtt.js keeps the CONNACK it got: its properties are the server's.
      const c = client as unknown as { connackPacket?: { properties?: Record<string, unknown> } };
      resolve(c.connackPacket ?? {});
    });
    const props = connack.properties ?? {};
    assert.equal(props.retainAvailable, false);
    assert.equal(props.wildcardSubscriptionAvailable, false);
    assert.equal(props.sharedSubscriptionAvailable, false);
    assert.equal(props.topicAliasMaximum, 0);
    assert.equal(props.receiveMaximum, 256);
    assert.equal(typeof props.maximumPacketSize, 'number');
    assert.match(String(props.assignedClientIdentifier), /^careline-/);
  });

  it('MQTT 5: SUBACK reason 0x87 for another account; a forbidden publish gets PUBACK 0x87 and the connection stays; sends are acked after commit', async () => {
    const docMqtt = await MqttTestClient.connect(port, 'doc', doc.token, { protocolVersion: 5 });
    open.push(docMqtt);
    const c = await MqttTestClient.connect(port, 'pat', pat.token, { protocolVersion: 5, subscribe: false });
    open.push(c);
    const err = await c.client.subscribeAsync(['pat', 'doc'], { qos: 1 }).then(() => null, (e: { packet?: { granted: number[] } }) => e);
    const granted = err?.packet?.granted ?? (await c.client.subscribeAsync(['pat'], { qos: 1 })).map((g) => g.qos);
    assert.deepEqual(granted, [1, 0x87]);
    const refused = await c.client.publishAsync('doc', JSON.stringify({ id: 'x5', to: 'doc', type: 'TEXT', content: { text: 'sneaky' } }), { qos: 1 }).then(() => null, (e: Error & { code?: number }) => e);
    assert.equal(refused?.code, 0x87);
    assert.ok(c.client.connected, 'a refused publish leaves an MQTT 5 connection open');
    await c.send('pat', { id: 'env-v5', to: 'doc', type: 'TEXT', content: { text: 'over mqtt 5' } });
    const read = await s.call('GET', `/api/v2/sessions/${p2p}/messages?after=0&limit=1000`, { token: doc.token });
    assert.ok(JSON.stringify(read.body).includes('over mqtt 5'), 'stored when the PUBACK came');
    const env = await docMqtt.next((p) => p.id === 'env-v5');
    assert.deepEqual([env.from, env.to, env.content.text], ['pat', 'doc', 'over mqtt 5']);
    const ack = await c.next((p) => p.type === 'ack' && p.id === 'env-v5');
    assert.equal(ack.seq, env.seq);
  });

  it('MQTT 5: a second connection with the same client id takes the first one\'s place (DISCONNECT 0x8E, session taken over)', async () => {
    const first = await MqttTestClient.connect(port, 'pat', pat.token, { protocolVersion: 5, clientId: 'pat-tablet' });
    open.push(first);
    const disconnected = new Promise<number | undefined>((resolve) => first.client.once('disconnect', (p) => resolve(p.reasonCode)));
    const second = await MqttTestClient.connect(port, 'pat', pat.token, { protocolVersion: 5, clientId: 'pat-tablet' });
    open.push(second);
    assert.equal(await disconnected, 0x8e);
    await s.sendAs('doc', p2p, 'to the new tablet');
    await second.next((p) => p.content?.text === 'to the new tablet');
  });

  it('a client subscribes to its own account topic only (others get 0x80 in the SUBACK)', async () => {
    const c = await connect(pat, { subscribe: false });
    // mqtt.js rejects a SUBACK with a refusal in it; the packet says which were granted.
    const err = await c.client.subscribeAsync(['pat', 'doc', '#', 'pat/+', 'pat/send'], { qos: 1 }).then(() => null, (e: { packet?: { granted: number[] } }) => e);
    assert.deepEqual(err?.packet?.granted, [1, 128, 128, 128, 128]);
  });

  it('a publish to any topic but the send and sync topics closes the connection (MQTT 3.1.1 has no negative PUBACK)', async () => {
    const c = await connect(pat);
    const closed = new Promise<void>((resolve) => c.client.once('close', () => resolve()));
    c.client.publish('doc', JSON.stringify({ id: 'x', to: 'doc', type: 'TEXT', content: { text: 'sneaky' } }), { qos: 1 });
    await closed;
  });

  it('a packet announcing more than the frame limit (plus room for its header) is refused at its fixed header, before authentication, and the server goes on', async () => {
    const { connect: tcp } = await import('node:net');
    const socket = tcp(s.server.mqttPort!, '127.0.0.1');
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    socket.on('error', () => {});
    // A CONNECT (0x10) announcing 100 MiB (remaining length 0x80 0x80 0x80 0x32), then 1 MiB of it.
    socket.write(Buffer.from([0x10, 0x80, 0x80, 0x80, 0x32]));
    let written = 0;
    const chunk = Buffer.alloc(64 * 1024, 0x41);
    while (written < 1024 * 1024 && !socket.destroyed) {
      if (!socket.write(chunk)) await new Promise((r) => setTimeout(r, 5));
      written += chunk.length;
    }
    await closed;
    // The server serves the next client as before.
    const c = await connect(pat);
    assert.ok(c.client.connected);
  });

  it('sends through the send topic: PUBACK after commit, stored, delivered over WebSocket and MQTT as the envelope', async () => {
    const docWs = await WsClient.open(s.wsUrl, doc.token);
    ws.push(docWs);
    const docMqtt = await connect(doc);
    const patMqtt = await connect(pat);
    const patOther = await connect(pat, { clientId: 'pat-second-device' });
    await patMqtt.send('pat', { id: 'env-1', from: 'pat', to: 'doc', tenantNo: s.tenantId, target: '', type: 'TEXT', content: { text: 'hello doctor' }, timestamp: Date.now(), isBackground: false });
    // The PUBACK came: the message is stored already.
    const read = await s.call('GET', `/api/v2/sessions/${p2p}/messages?after=0`, { token: doc.token });
    assert.equal(read.status, 200);
    const stored = JSON.stringify(read.body);
    assert.ok(stored.includes('hello doctor'), stored);
    const f = await docWs.next((x) => x.type === 'message' && x.message.client_id === 'env-1');
    assert.equal(f.message.sender_id, 'pat');
    assert.equal(f.message.type, 1);
    const env = await docMqtt.next((p) => p.id === 'env-1');
    assert.deepEqual(
      { from: env.from, to: env.to, target: env.target, type: env.type, content: env.content, tenantNo: env.tenantNo, isBackground: env.isBackground },
      { from: 'pat', to: 'doc', target: '', type: 'TEXT', content: { text: 'hello doctor' }, tenantNo: s.tenantId, isBackground: false },
    );
    assert.equal(env.conversationId, p2p);
    assert.equal(typeof env.timestamp, 'number');
    assert.equal(typeof env.seq, 'number');
    // The sender's own other device: from the sender, to the peer.
    const mine = await patOther.next((p) => p.id === 'env-1');
    assert.deepEqual([mine.from, mine.to], ['pat', 'doc']);
    // The sending client gets the ack frame (with Careline's message id and seq), not its own envelope.
    const ack = await patMqtt.next((p) => p.type === 'ack' && p.id === 'env-1');
    assert.equal(ack.seq, env.seq);
    assert.equal(patMqtt.envelopes().filter((p) => p.id === 'env-1').length, 0);
  });

  it('a retained publish is not retained: nothing is kept for a later subscriber', async () => {
    const c = await connect(pat);
    await c.client.publishAsync('pat/send', JSON.stringify({ id: 'env-retain', to: 'doc', type: 'TEXT', content: { text: 'retain me' } }), { qos: 1, retain: true });
    // A later subscriber to the account topic gets what is sent after it subscribed, and nothing retained before it.
    const later = await connect(pat, { clientId: 'pat-later' });
    await s.sendAs('doc', p2p, 'marker after retain');
    await later.next((p) => p.content?.text === 'marker after retain');
    assert.deepEqual(later.got.filter((p) => p.id === 'env-retain' || p.content?.text === 'retain me'), []);
  });

  it('a duplicate envelope id is acked again and stored once', async () => {
    const c = await connect(pat);
    const e = { id: 'env-dup', to: 'doc', type: 'TEXT', content: { text: 'once' } };
    await c.send('pat', e);
    await c.send('pat', e);
    const acks = await c.count((p) => p.type === 'ack' && p.id === 'env-dup', 2);
    assert.deepEqual(acks.map((a) => a.duplicate), [false, true]);
    assert.equal(acks[0]!.message_id, acks[1]!.message_id);
    const read = await s.call('GET', `/api/v2/sessions/${p2p}/messages?after=0`, { token: doc.token });
    assert.equal(JSON.stringify(read.body).split('"once"').length - 1, 1);
  });

  it('group: sent with to = group and target = receivers, received as from = group, to = receiver, target = sender', async () => {
    const nurseMqtt = await connect(nurse);
    const docMqtt = await connect(doc);
    const c = await connect(pat);
    await c.send('pat', { id: 'env-g1', from: 'pat', to: group, target: ['doc', 'nurse'], type: 'TEXT', content: { text: 'to the team' } });
    for (const [client, me] of [[nurseMqtt, 'nurse'], [docMqtt, 'doc']] as const) {
      const env = await client.next((p) => p.id === 'env-g1');
      assert.deepEqual([env.from, env.to, env.target], [group, me, 'pat']);
    }
  });

  it('maps the seed content types one to one (CALL travels as custom {kind: "call"} and comes back as CALL)', async () => {
    const docMqtt = await connect(doc);
    const docWs = await WsClient.open(s.wsUrl, doc.token);
    ws.push(docWs);
    const c = await connect(pat);
    const call = { status: 'invite', avType: 'video', uid: 'pat', roomId: 'r1', timestamp: 1675416709033, useTime: 0, agoraKey: 1 };
    const cases: [string, Record<string, unknown>, number][] = [
      ['IMAGE', { storageId: 's1', thumbnail: 't', thumbnailWidth: 100, thumbnailHeight: 100 }, 2],
      ['VOICE', { storageId: 's2', duration: 152 }, 3],
      ['VIDEO', { storageId: 's3', fileName: 'v.mp4', fileSize: '1000', duration: 100, thumbnail: 't', thumbnailWidth: 100, thumbnailHeight: 100 }, 12],
      ['FILE', { storageId: 's4', fileName: 'a.pdf', fileSize: '2000', mimeType: 'application/pdf' }, 1000],
      ['LINK', { title: 'Prescription', content: 'x', action: 'open', appid: 'a', appName: 'n', appLogo: 'l', url: 'https://example.org' }, 1001],
      ['CALL', call, 1100],
      ['CUSTOM', {}, 1100],
    ];
    for (const [type, content, code] of cases) {
      await c.send('pat', { id: `env-t-${type}`, to: 'doc', type, content });
      const env = await docMqtt.next((p) => p.id === `env-t-${type}`);
      assert.deepEqual([env.type, env.content], [type, content], type);
      const f = await docWs.next((x) => x.type === 'message' && x.message.client_id === `env-t-${type}`);
      assert.equal(f.message.type, code, type);
    }
    const f = await docWs.next((x) => x.type === 'message' && x.message.client_id === 'env-t-CALL');
    assert.deepEqual(f.message.content, { kind: 'call', data: call });
  });

  it('bad payloads: acked (nothing would ever accept them) and answered by a coded error frame on the account topic', async () => {
    const c = await connect(pat);
    await c.send('pat', 'not json');
    await c.send('pat', { id: 'env-b1', to: 'doc', type: 'TEXT' });
    await c.send('pat', { id: 'env-b2', to: 'doc', type: 'SMOKE_SIGNAL', content: {} });
    await c.send('pat', { id: 'env-b3', from: 'doc', to: 'pat', type: 'TEXT', content: { text: 'spoofed' } });
    await c.send('pat', { id: 'env-b4', to: 'doc', type: 'TEXT', content: { text: '' } });
    await c.send('pat', { id: 'env-b5', to: 'nobody', type: 'TEXT', content: { text: 'hi' } });
    const errors = await c.count((p) => p.type === 'error', 6);
    assert.deepEqual(errors.map((e) => [e.id ?? null, e.code]), [
      [null, 'mqtt.envelope_invalid'],
      ['env-b1', 'mqtt.envelope_invalid'],
      ['env-b2', 'mqtt.type_unknown'],
      ['env-b3', 'mqtt.sender_mismatch'],
      ['env-b4', 'message.content_invalid'],
      ['env-b5', errors[5]!.code],
    ]);
    assert.match(errors[5]!.code, /^(conversation\.not_found|conversation\.not_member)$/);
  });

  it('speaks MQTT over WebSocket at /mqtt on the HTTP port (same auth, ACL and envelopes); /ws is untouched', async () => {
    const wsUrl = `${s.url.replace(/^http/, 'ws')}/mqtt`;
    await assert.rejects(
      mqtt.connectAsync(wsUrl, { username: 'pat', password: 'bad', protocolVersion: 4, reconnectPeriod: 0 }),
      (err: Error & { code?: number }) => err.code === 4,
    );
    const docMqtt = await MqttTestClient.connect(wsUrl, 'doc', doc.token);
    open.push(docMqtt);
    const plain = await WsClient.open(s.wsUrl, doc.token);
    ws.push(plain);
    const c = await MqttTestClient.connect(wsUrl, 'pat', pat.token);
    open.push(c);
    await c.send('pat', { id: 'env-ws-1', to: 'doc', type: 'TEXT', content: { text: 'over websocket' } });
    const env = await docMqtt.next((p) => p.id === 'env-ws-1');
    assert.deepEqual([env.from, env.to, env.content.text], ['pat', 'doc', 'over websocket']);
    await plain.next((x) => x.type === 'message' && x.message.client_id === 'env-ws-1');
  });

  it('QoS 2 publishes are answered (PUBREC, then PUBCOMP) in their turn: a QoS 2 send and a QoS 1 send after it are answered in publish order, each stored once', async () => {
    const c = await connect(pat);
    const order: string[] = [];
    c.client.on('packetreceive', (p) => (p.cmd === 'puback' || p.cmd === 'pubrec') && order.push(`${p.cmd}:${p.messageId}`));
    const sentIds: number[] = [];
    c.client.on('packetsend', (p) => p.cmd === 'publish' && p.topic === 'pat/send' && sentIds.push(p.messageId!));
    const two = c.client.publishAsync('pat/send', JSON.stringify({ id: 'env-q2', to: 'doc', type: 'TEXT', content: { text: 'qos two' } }), { qos: 2 });
    const one = c.client.publishAsync('pat/send', JSON.stringify({ id: 'env-q1-after', to: 'doc', type: 'TEXT', content: { text: 'qos one after' } }), { qos: 1 });
    await Promise.all([two, one]);
    assert.deepEqual(order, [`pubrec:${sentIds[0]}`, `puback:${sentIds[1]}`]);
    const acks = await c.count((p) => p.type === 'ack' && (p.id === 'env-q2' || p.id === 'env-q1-after'), 2);
    assert.deepEqual(acks.map((a) => a.id), ['env-q2', 'env-q1-after']);
    const read = await s.call('GET', `/api/v2/sessions/${p2p}/messages?after=0&limit=1000`, { token: doc.token });
    const body = JSON.stringify(read.body);
    assert.equal(body.split('"qos two"').length - 1, 1);
    assert.equal(body.split('"qos one after"').length - 1, 1);
  });

  it('catch-up after reconnect through the sync topic: each message once, in order', async () => {
    const c1 = await connect(pat, { clientId: 'pat-phone' });
    await s.sendAs('doc', p2p, 'live 1');
    const live = await c1.next((p) => p.content?.text === 'live 1');
    await c1.end();
    for (let i = 0; i < 25; i++) await s.sendAs('doc', p2p, `missed ${i}`);
    const c2 = await connect(pat, { clientId: 'pat-phone' });
    await c2.sync('pat', { id: 'sy1', cursors: { [p2p]: live.seq } });
    const done = await c2.next((p) => p.type === 'sync_done' && p.id === 'sy1');
    assert.equal(done.sent, 25);
    const got = c2.envelopes().filter((p) => p.conversationId === p2p);
    assert.deepEqual(got.map((p) => p.seq), Array.from({ length: 25 }, (_, i) => live.seq + 1 + i));
    assert.deepEqual(got.map((p) => p.content.text), Array.from({ length: 25 }, (_, i) => `missed ${i}`));
    // Live again after the catch-up, not doubled.
    await s.sendAs('doc', p2p, 'after');
    await c2.next((p) => p.content?.text === 'after');
    assert.equal(c2.envelopes().filter((p) => p.content?.text === 'after').length, 1);
    const bad = await c2.sync('pat', { cursors: 'nope' }).then(() => c2.next((p) => p.type === 'error'));
    assert.equal(bad.code, 'frame.invalid');
  });
});

describe('MQTT liveness', () => {
  let s: TestServer;

  before(async () => {
    s = await startTestServer({ config: { mqtt: { enabled: true, port: 0 }, ws: { heartbeatMs: 1000 } } });
  });
  after(async () => {
    await s.stop();
  });

  it('a client with a keepalive longer than the heartbeat is judged by its keepalive (the server enforces it), not dropped as silent', async () => {
    const pat = await s.user('pat');
    await s.user('doc', 'doctor');
    const conv = await s.conversation({ participants: ['doc', 'pat'] });
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${s.server.mqttPort}`, { username: 'pat', password: pat.token, protocolVersion: 4, reconnectPeriod: 0, keepalive: 60 });
    let closed = false;
    client.on('close', () => (closed = true));
    await client.subscribeAsync('pat', { qos: 1 });
    // Silent for more than two heartbeats (the WebSocket rule would drop it).
    await new Promise((r) => setTimeout(r, 3500));
    assert.equal(closed, false);
    const got = new Promise<string>((resolve) => client.on('message', (_t, p) => resolve(p.toString())));
    await s.sendAs('doc', conv, 'still here');
    assert.match(await got, /still here/);
    await client.endAsync(true);
  });
});

describe('MQTT keepalive', () => {
  let s: TestServer;

  before(async () => {
    s = await startTestServer({ config: { mqtt: { enabled: true, port: 0 } } });
  });
  after(async () => {
    await s.stop();
  });

  it('a client silent for 1.5× its keepalive is cut; PINGREQ keeps it (a raw MQTT 3.1.1 client)', async () => {
    const pat = await s.user('pat');
    const { connect: tcp } = await import('node:net');
    const mqttPacket = (await import('mqtt-packet')).default;
    const open = async () => {
      const socket = tcp(s.server.mqttPort!, '127.0.0.1');
      socket.on('error', () => {});
      const chunks: Buffer[] = [];
      socket.on('data', (d: Buffer) => chunks.push(d));
      await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
      socket.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: '', keepalive: 1, username: 'pat', password: Buffer.from(pat.token) }));
      const closed = new Promise<number>((resolve) => socket.once('close', () => resolve(Date.now())));
      while (chunks.length === 0) await new Promise((r) => setTimeout(r, 5));
      assert.deepEqual([...chunks[0]!.subarray(0, 4)], [0x20, 2, 0, 0], 'CONNACK accepted');
      return { socket, chunks, closed };
    };
    // Silent: cut after about 1.5 s (keepalive 1 s), not before a second.
    const silent = await open();
    const t0 = Date.now();
    const at = await silent.closed;
    assert.ok(at - t0 >= 1000, `cut after ${at - t0} ms`);
    // Pinging every 500 ms: still open after 3 s, and each PINGREQ answered.
    const pinging = await open();
    let closed = false;
    void pinging.closed.then(() => (closed = true));
    for (let i = 0; i < 6; i++) {
      await new Promise((r) => setTimeout(r, 500));
      pinging.socket.write(Buffer.from([0xc0, 0]));
    }
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(closed, false);
    const pingresps = Buffer.concat(pinging.chunks).subarray(4);
    assert.ok(pingresps.length >= 10 && pingresps.every((b, i) => b === (i % 2 === 0 ? 0xd0 : 0)), `PINGRESPs: ${pingresps.toString('hex')}`);
    pinging.socket.destroy();
  });
});

describe('MQTT PUBACK and the commit', () => {
  let s: TestServer;

  // The writer thread, so that the test's own lock does not stall the event loop.
  before(async () => {
    s = await startTestServer({ config: { mqtt: { enabled: true, port: 0 }, storage: { sqliteWriter: 'worker' } } });
  });
  after(async () => {
    await s.stop();
  });

  it('a send that cannot be committed (the SQLite file write-locked by another connection) gets no PUBACK: the connection is closed, the client resends after reconnecting, stored once', async () => {
    const pat = await s.user('pat');
    const doc = await s.user('doc', 'doctor');
    const p2p = await s.conversation({ participants: ['doc', 'pat'] });
    const envelope = { id: 'env-lock', to: 'doc', type: 'TEXT', content: { text: 'held' } };
    const c = await MqttTestClient.connect(s.server.mqttPort!, 'pat', pat.token);
    const lock = new Database(s.dbPath);
    let acked = false;
    try {
      lock.exec('BEGIN IMMEDIATE');
      const closed = new Promise<void>((resolve) => c.client.once('close', () => resolve()));
      void c.send('pat', envelope).then(() => (acked = true), () => {});
      await closed;
    } finally {
      lock.exec('ROLLBACK');
      lock.close();
    }
    assert.equal(acked, false, 'no PUBACK for a message not stored');
    await c.end();
    const again = await MqttTestClient.connect(s.server.mqttPort!, 'pat', pat.token);
    await again.send('pat', envelope);
    await again.send('pat', envelope);
    const acks = await again.count((p) => p.type === 'ack' && p.id === 'env-lock', 2);
    assert.deepEqual(acks.map((a) => a.duplicate), [false, true]);
    const read = await s.call('GET', `/api/v2/sessions/${p2p}/messages?after=0`, { token: doc.token });
    assert.equal(JSON.stringify(read.body).split('"held"').length - 1, 1);
    await again.end();
  });
});

describe('MQTT publishes of one client pipeline into the commit', () => {
  let postgres: Service;
  let s: TestServer;

  // PostgreSQL: a table lock from another connection makes the commits wait (as long as it is held) instead of failing.
  before(async () => {
    postgres = await startPostgres();
    s = await startTestServer({ config: { mqtt: { enabled: true, port: 0 }, storage: { driver: 'postgres', postgresUrl: postgres.url } } });
  }, { timeout: 60_000 });
  after(async () => {
    await s?.stop();
    await postgres?.stop();
  });

  /** The sends the server's connections have taken in so far (the frames counter of /metrics). */
  const sendsTaken = async (): Promise<number> => {
    const r = await fetch(`${s.url}/metrics`);
    const m = /careline_ws_frames_in_total\{type="send"\} (\d+)/.exec(await r.text());
    return m ? Number(m[1]) : 0;
  };

  it('a client\'s next publishes reach the connection while the first waits for its commit; PUBACKs after commit, in publish order; stored in publish order, each once', async () => {
    const pat = await s.user('pat');
    const doc = await s.user('doc', 'doctor');
    const p2p = await s.conversation({ participants: ['doc', 'pat'] });
    const c = await MqttTestClient.connect(s.server.mqttPort!, 'pat', pat.token);
    const sent: number[] = [];
    const acked: number[] = [];
    c.client.on('packetsend', (p) => p.cmd === 'publish' && p.topic === 'pat/send' && sent.push(p.messageId!));
    c.client.on('packetreceive', (p) => p.cmd === 'puback' && acked.push(p.messageId!));
    const N = 8;
    const before = await sendsTaken();
    const lock = new pg.Client({ connectionString: postgres.url });
    await lock.connect();
    const pubacks: Promise<unknown>[] = [];
    try {
      // Nothing can commit: the messages table is locked against writes until the lock's transaction ends.
      await lock.query('BEGIN');
      await lock.query('LOCK TABLE messages IN SHARE ROW EXCLUSIVE MODE');
      // Two publishes in one TCP segment at a time (the stream corked until both are written): the
      // server reads them together, and reads the next pair while these wait for their commit.
      const stream = c.client.stream;
      for (let i = 0; i < N; i += 2) {
        stream.cork();
        for (const k of [i, i + 1]) pubacks.push(c.send('pat', { id: `pipe-${k}`, to: 'doc', type: 'TEXT', content: { text: `pipelined ${k}` } }));
        while (sent.length < i + 2) await new Promise((r) => setImmediate(r));
        stream.uncork();
        // Each publish is taken in by the connection although none before it has committed.
        const deadline = Date.now() + 5000;
        while ((await sendsTaken()) < before + i + 2) {
          if (Date.now() > deadline) throw new Error(`publishes ${i}, ${i + 1} were not taken in while the ones before them wait for their commit`);
          await new Promise((r) => setTimeout(r, 10));
        }
      }
      assert.deepEqual(acked, [], 'no PUBACK before the commit');
    } finally {
      await lock.query('ROLLBACK');
      await lock.end();
    }
    await Promise.all(pubacks);
    assert.equal(sent.length, N);
    assert.deepEqual(acked, sent, 'PUBACKs in the order the PUBLISH packets were sent');
    const acks = await c.count((p) => p.type === 'ack' && String(p.id).startsWith('pipe-'), N);
    assert.deepEqual(acks.map((a) => a.id), Array.from({ length: N }, (_, i) => `pipe-${i}`));
    const read = await s.call('GET', `/api/v2/sessions/${p2p}/messages?after=0&limit=100`, { token: doc.token });
    const texts = (read.body.messages as { content: { text: string } }[]).map((m) => m.content.text);
    assert.deepEqual(texts, Array.from({ length: N }, (_, i) => `pipelined ${i}`), 'stored once each, in publish order');
    await c.end();
  });
});
