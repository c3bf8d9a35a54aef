/**
 * The MQTT connection layer (`mqtt/session.ts`) at the packet level: a raw TCP client writes
 * packets built by mqtt-packet and reads what the server answers, for what mqtt.js and
 * mosquitto do not send on their own — packets out of place, pipelined before the CONNACK,
 * MQTT 5 flow control and size limits, QoS 2's second half, malformed and unknown versions.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect as tcp, type Socket } from 'node:net';
import mqttPacket, { type Packet } from 'mqtt-packet';
import { startTestServer, type TestServer } from '../support/server.ts';

/** A raw MQTT client: writes packets, collects the server's packets and whether it closed. */
class RawClient {
  readonly socket: Socket;
  readonly got: Packet[] = [];
  closed = false;
  readonly #version: number;
  #parser: ReturnType<typeof mqttPacket.parser>;

  private constructor(socket: Socket, version: number) {
    this.socket = socket;
    this.#version = version;
    this.#parser = mqttPacket.parser({ protocolVersion: version });
    this.#parser.on('packet', (p: Packet) => this.got.push(p));
    socket.on('data', (d: Buffer) => this.#parser.parse(d));
    socket.on('error', () => {});
    socket.on('close', () => (this.closed = true));
  }

  static async open(port: number, version = 4): Promise<RawClient> {
    const socket = tcp(port, '127.0.0.1');
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    return new RawClient(socket, version);
  }

  send(...packets: Packet[]): void {
    this.socket.write(Buffer.concat(packets.map((p) => mqttPacket.generate(p, { protocolVersion: this.#version }))));
  }

  connectPacket(token: string, extra: Record<string, unknown> = {}): Packet {
    return { cmd: 'connect', protocolId: 'MQTT', protocolVersion: this.#version as 4 | 5, clean: true, clientId: '', keepalive: 0, username: 'u', password: Buffer.from(token), ...extra } as Packet;
  }

  async waitFor(pred: (p: Packet) => boolean, timeoutMs = 5000): Promise<Packet> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const p = this.got.find(pred);
      if (p) return p;
      if (Date.now() > deadline) throw new Error(`no such packet; got ${JSON.stringify(this.got.map((x) => x.cmd))}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  async waitClosed(timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed) {
      if (Date.now() > deadline) throw new Error('still open');
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  publishes(topic: string): (Packet & { cmd: 'publish' })[] {
    return this.got.filter((p): p is Packet & { cmd: 'publish' } => p.cmd === 'publish' && p.topic === topic);
  }
}

describe('MQTT connection layer, packet by packet', () => {
  let s: TestServer;
  let port: number;
  let pat: { id: string; token: string };
  let doc: { id: string; token: string };
  let p2p: string;
  const raws: RawClient[] = [];
  const open = async (version = 4) => {
    const c = await RawClient.open(port, version);
    raws.push(c);
    return c;
  };

  before(async () => {
    s = await startTestServer({ config: { mqtt: { enabled: true, port: 0 } } });
    port = s.server.mqttPort!;
    pat = await s.user('pat', 'patient');
    doc = await s.user('doc', 'doctor');
    p2p = await s.conversation({ participants: ['doc', 'pat'] });
  });
  after(async () => {
    for (const c of raws) c.socket.destroy();
    await s.stop();
  });

  it('a first packet that is not a CONNECT closes the connection; so does a second CONNECT', async () => {
    const a = await open();
    a.send({ cmd: 'pingreq' });
    await a.waitClosed();
    const b = await open();
    b.send(b.connectPacket(pat.token));
    await b.waitFor((p) => p.cmd === 'connack');
    b.send(b.connectPacket(pat.token));
    await b.waitClosed();
  });

  it('a protocol version it does not speak gets CONNACK 1 (unacceptable protocol version), then the close', async () => {
    const c = await open();
    // CONNECT, "MQTT", protocol level 6.
    c.socket.write(Buffer.from([0x10, 12, 0, 4, 0x4d, 0x51, 0x54, 0x54, 6, 0x02, 0, 0, 0, 0]));
    const connack = await c.waitFor((p) => p.cmd === 'connack');
    assert.equal((connack as { returnCode?: number }).returnCode, 1);
    await c.waitClosed();
  });

  it('a malformed packet (reserved flags set) closes that connection, and the server serves the next', async () => {
    const c = await open();
    c.send(c.connectPacket(pat.token));
    await c.waitFor((p) => p.cmd === 'connack');
    // SUBSCRIBE must have flags 0b0010; 0x80 (flags 0) is malformed.
    c.socket.write(Buffer.from([0x80, 6, 0, 1, 0, 1, 0x70, 1]));
    await c.waitClosed();
    const next = await open();
    next.send(next.connectPacket(pat.token));
    await next.waitFor((p) => p.cmd === 'connack' && (p as { returnCode?: number }).returnCode === 0);
  });

  it('packets sent right behind the CONNECT, before its CONNACK, are handled after it, in order', async () => {
    const c = await open();
    c.send(
      c.connectPacket(pat.token),
      { cmd: 'subscribe', messageId: 7, subscriptions: [{ topic: 'pat', qos: 1 }] } as Packet,
      { cmd: 'publish', topic: 'pat/send', qos: 1, messageId: 8, retain: false, dup: false, payload: Buffer.from(JSON.stringify({ id: 'raw-pipe', to: 'doc', type: 'TEXT', content: { text: 'before the connack' } })) } as Packet,
    );
    await c.waitFor((p) => p.cmd === 'puback' && p.messageId === 8);
    const order = c.got.map((p) => p.cmd).filter((x) => x === 'connack' || x === 'suback' || x === 'puback');
    assert.deepEqual(order.slice(0, 3), ['connack', 'suback', 'puback']);
    const read = await s.call('GET', `/api/v2/sessions/${p2p}/messages?after=0&limit=1000`, { token: doc.token });
    assert.ok(JSON.stringify(read.body).includes('before the connack'));
  });

  it('QoS 2: PUBREC after commit, PUBREL answered by PUBCOMP; the same packet id again before its PUBREL is answered, not stored twice', async () => {
    const c = await open();
    c.send(c.connectPacket(pat.token), { cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'pat', qos: 1 }] } as Packet);
    await c.waitFor((p) => p.cmd === 'suback');
    const payload = Buffer.from(JSON.stringify({ id: 'raw-q2', to: 'doc', type: 'TEXT', content: { text: 'exactly once' } }));
    c.send({ cmd: 'publish', topic: 'pat/send', qos: 2, messageId: 40, retain: false, dup: false, payload } as Packet);
    await c.waitFor((p) => p.cmd === 'pubrec' && p.messageId === 40);
    c.send({ cmd: 'publish', topic: 'pat/send', qos: 2, messageId: 40, retain: false, dup: true, payload } as Packet);
    await c.waitFor((p) => p.cmd === 'pubrec' && p.messageId === 40 && c.got.filter((x) => x.cmd === 'pubrec').length === 2);
    c.send({ cmd: 'pubrel', messageId: 40 } as Packet);
    await c.waitFor((p) => p.cmd === 'pubcomp' && p.messageId === 40);
    // One ack frame: the repeat was not handed to the connection.
    await new Promise((r) => setTimeout(r, 100));
    const acks = c.publishes('pat').map((p) => JSON.parse(p.payload.toString())).filter((f) => f.type === 'ack' && f.id === 'raw-q2');
    assert.equal(acks.length, 1);
    const read = await s.call('GET', `/api/v2/sessions/${p2p}/messages?after=0&limit=1000`, { token: doc.token });
    assert.equal(JSON.stringify(read.body).split('"exactly once"').length - 1, 1);
  });

  it('MQTT 5: no more QoS 1 publishes unacknowledged than the client\'s receive maximum; the rest follow its PUBACKs, in order', async () => {
    const c = await open(5);
    c.send(c.connectPacket(doc.token, { properties: { receiveMaximum: 2 } }), { cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'doc', qos: 1 }] } as Packet);
    await c.waitFor((p) => p.cmd === 'suback');
    for (let i = 0; i < 5; i++) await s.sendAs('pat', p2p, `flow ${i}`);
    await new Promise((r) => setTimeout(r, 200));
    const envelopes = () => c.publishes('doc').filter((p) => p.qos === 1);
    assert.equal(envelopes().length, 2, 'two in flight, no more');
    for (let acked = 0; acked < 5; acked++) {
      const p = envelopes()[acked]!;
      c.send({ cmd: 'puback', messageId: p.messageId } as Packet);
      if (acked < 3) await c.waitFor(() => envelopes().length === acked + 3);
    }
    assert.deepEqual(envelopes().map((p) => JSON.parse(p.payload.toString()).content.text), [0, 1, 2, 3, 4].map((i) => `flow ${i}`));
  });

  it('MQTT 5: a publish larger than the client\'s maximum packet size is not sent to it; smaller ones are', async () => {
    const c = await open(5);
    c.send(c.connectPacket(doc.token, { properties: { maximumPacketSize: 600 } }), { cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'doc', qos: 1 }] } as Packet);
    await c.waitFor((p) => p.cmd === 'suback');
    await s.sendAs('pat', p2p, 'x'.repeat(2000));
    await s.sendAs('pat', p2p, 'small after the large one');
    const small = await c.waitFor((p) => p.cmd === 'publish' && p.payload.toString().includes('small after the large one'));
    assert.ok(small);
    assert.equal(c.publishes('doc').filter((p) => p.payload.toString().includes('xxxxxxxxxx')).length, 0);
  });

  it('MQTT 5: the server\'s close is a DISCONNECT with a reason code (logout: 0x87 not authorized)', async () => {
    const u = await s.user('pat-logout', 'patient');
    const c = await open(5);
    c.send(c.connectPacket(u.token));
    await c.waitFor((p) => p.cmd === 'connack');
    const r = await s.call('POST', '/api/v2/users/logout', { token: u.token });
    assert.equal(r.status, 200);
    const d = await c.waitFor((p) => p.cmd === 'disconnect');
    assert.equal((d as { reasonCode?: number }).reasonCode, 0x87);
    await c.waitClosed();
  });

  it('UNSUBSCRIBE stops the topic\'s publishes (MQTT 5: UNSUBACK 0x00, and 0x11 for a topic not subscribed)', async () => {
    const c = await open(5);
    c.send(c.connectPacket(doc.token), { cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'doc', qos: 1 }] } as Packet);
    await c.waitFor((p) => p.cmd === 'suback');
    c.send({ cmd: 'unsubscribe', messageId: 2, unsubscriptions: ['doc', 'nothing'] } as Packet);
    const unsuback = await c.waitFor((p) => p.cmd === 'unsuback');
    assert.deepEqual((unsuback as { granted?: number[] }).granted, [0x00, 0x11]);
    await s.sendAs('pat', p2p, 'after unsubscribe');
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(c.publishes('doc').filter((p) => p.payload.toString().includes('after unsubscribe')).length, 0);
  });
});
