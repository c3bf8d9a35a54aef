/**
 * One conversation, three carriers: a patient on MQTT (the SDK's MQTT transport, over
 * WebSocket at /mqtt), a doctor on long-polling and a nurse on WebSocket, each through a
 * forwarder to a node of its own (checked in the node registry when there is Redis). Everyone
 * gets every message of the others once, in order; read receipts and typing cross. Then
 * `kill -9` of the patient's node and of the doctor's node, one after the other, while all
 * three keep sending: the clients resume on another node, and what each received plus what
 * it sent is the stored history — nothing lost, nothing doubled.
 *
 * The same body runs on the cluster (3 nodes, PostgreSQL + Redis, HAProxy) and on one SQLite
 * node (the node is killed and started again in place of moving to another).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { CarelineClient, type Message, type SendAck } from '@careline/sdk';
import { startCluster, type ClusterNode, type ClusterTenant, type TestCluster } from '../support/cluster.ts';
import { SwitchProxy } from '../support/switch-proxy.ts';

type Transport = 'mqtt' | 'longpoll' | 'websocket';
const PER_PHASE = 25;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor<T>(what: string, cond: () => T | Promise<T>, timeoutMs = 30_000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await cond();
    if (v) return v as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

interface Member {
  name: string;
  id: string;
  transport: Transport;
  client: CarelineClient;
  proxy: SwitchProxy;
  /** Messages of the others, as delivered. */
  got: Message[];
  /** Acks of its own sends. */
  acks: SendAck[];
  reads: { user_id: string; seq: number }[];
  typing: string[];
}

function mixedSuite(title: string, opts: { nodes: number; backend: 'postgres' | 'sqlite' }): void {
  describe(title, { timeout: 600_000 }, () => {
    let c: TestCluster;
    let t: ClusterTenant;
    let redis: Redis | null = null;
    const members: Member[] = [];
    let conv = '';
    /** A token of the nurse's, for reading the history through the balancer. */
    let readerToken = '';

    before(async () => {
      c = await startCluster({ nodes: opts.nodes, backend: opts.backend, env: { CARELINE_MQTT_ENABLED: 'true', CARELINE_MQTT_PORT: '0' } });
      if (c.redis) redis = new Redis(c.redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
      t = await c.tenant();
    }, { timeout: 240_000 });

    after(async () => {
      await Promise.allSettled(members.map((m) => m.client.close()));
      await Promise.allSettled(members.map((m) => m.proxy.close()));
      redis?.disconnect();
      await c?.stop();
    }, { timeout: 120_000 });

    /** Where the node registry says a user's connection is (the public address of its node). */
    const registered = async (userId: string): Promise<string | null> => (redis ? redis.get(`uid-pusher-addr-${t.tenantId}:${userId}`) : null);

    const nodeOf = (m: Member): ClusterNode => c.nodes.find((n) => n.port === m.proxy.target)!;

    const send = async (m: Member, phase: string, n: number) => {
      for (let i = 0; i < n; i++) m.acks.push(await m.client.send(conv, { type: 1, content: { text: `${m.name} ${phase} ${i}` } }));
    };

    /** Repeats `act` until `seen` holds: ephemeral frames (typing) sent before a subscription settles may be missed. */
    const until = async (what: string, act: () => void, seen: () => boolean) => {
      const deadline = Date.now() + 30_000;
      while (!seen()) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        act();
        await sleep(300);
      }
    };

    /** Every stored message of the conversation, through the balancer. */
    const history = async (): Promise<Message[]> => {
      const out: Message[] = [];
      let after = 0;
      for (;;) {
        const r = await t.call('GET', `/api/v2/sessions/${conv}/messages?after=${after}&limit=200`, { token: readerToken });
        assert.equal(r.status, 200, JSON.stringify(r.body));
        out.push(...(r.body.messages as Message[]));
        if (!r.body.has_more || r.body.messages.length === 0) return out;
        after = out[out.length - 1]!.seq;
      }
    };

    /** Each member got every stored message of the others once, in seq order, and its acks are its own stored ones. */
    const checkAgainstHistory = async () => {
      await c.waitBalanced(60_000);
      const stored = await history();
      assert.deepEqual(stored.map((m) => m.seq), Array.from({ length: stored.length }, (_, i) => i + 1), 'the stored history has no gaps');
      for (const m of members) {
        const theirs = stored.filter((s) => s.sender_id !== m.id).map((s) => s.id);
        await waitFor(`${m.name} (${m.transport}) to get ${theirs.length} messages (has ${m.got.length})`, () => m.got.length >= theirs.length, 60_000);
        await sleep(300);
        assert.deepEqual(m.got.map((x) => x.id), theirs, `${m.name} over ${m.transport}: every message of the others, once, in order`);
        const mine = stored.filter((s) => s.sender_id === m.id);
        assert.deepEqual([...new Set(m.acks.map((a) => a.message_id))].sort(), mine.map((s) => s.id).sort(), `${m.name}: each own send stored once`);
        assert.equal(new Set(mine.map((s) => s.client_id)).size, mine.length, `${m.name}: no client id stored twice`);
      }
      return stored;
    };

    it('a patient on MQTT, a doctor on long-poll and a nurse on WebSocket, each on its own node: every message once, in order; receipts and typing cross', async () => {
      const people: [string, 'patient' | 'doctor' | 'staff', Transport][] = [['patient', 'patient', 'mqtt'], ['doctor', 'doctor', 'longpoll'], ['nurse', 'staff', 'websocket']];
      const users = [];
      for (const [name, role] of people) users.push(await t.user(name, role));
      conv = await t.conversation({ participants: people.map((p) => p[0]), type: 4, name: 'care team' });
      readerToken = await t.login('nurse');
      for (const [i, [name, , transport]] of people.entries()) {
        const node = c.nodes[i % c.nodes.length]!;
        const proxy = await SwitchProxy.start(node.port);
        const client = new CarelineClient({ url: proxy.url, token: users[i]!.token, transport, reconnect: { baseMs: 100, maxMs: 1000 }, connectTimeoutMs: 10_000 });
        const m: Member = { name, id: users[i]!.id, transport, client, proxy, got: [], acks: [], reads: [], typing: [] };
        client.on('message', (x) => m.got.push(x));
        client.on('read', (r) => m.reads.push({ user_id: r.user_id, seq: r.seq }));
        client.on('typing', (x) => m.typing.push(x.user_id));
        client.on('error', () => {});
        members.push(m);
      }
      await Promise.all(members.map((m) => m.client.connect()));
      for (const m of members) assert.equal(m.client.transport, m.transport);
      if (redis) {
        await redis.connect();
        for (const m of members) {
          const at = await waitFor(`${m.name} in the node registry`, () => registered(m.id), 15_000);
          assert.equal(at, nodeOf(m).url, `${m.name} (${m.transport}) is connected to ${nodeOf(m).name}`);
        }
        assert.equal(new Set(members.map((m) => nodeOf(m).name)).size, Math.min(3, c.nodes.length), 'each on a node of its own');
      }

      await Promise.all(members.map((m) => send(m, 'live', PER_PHASE)));
      const stored = await checkAgainstHistory();
      const last = stored[stored.length - 1]!.seq;

      // Read receipts: each reader's reaches both others, whatever their carriers.
      for (const reader of members) {
        reader.client.markRead(conv, last);
        for (const other of members.filter((x) => x !== reader)) {
          await waitFor(`${other.name} (${other.transport}) to see ${reader.name}'s receipt`, () => other.reads.some((r) => r.user_id === reader.id && r.seq === last));
        }
      }
      // Typing: likewise.
      for (const typist of members) {
        for (const other of members.filter((x) => x !== typist)) {
          await until(`${other.name} (${other.transport}) to see ${typist.name} typing`, () => typist.client.typing(conv), () => other.typing.includes(typist.id));
        }
      }
      for (const m of members) assert.ok(!m.typing.includes(m.id), `${m.name} does not see its own typing`);
    });

    it('kill -9 of the MQTT patient\'s node, then of the long-poll doctor\'s node, while everyone sends: they resume elsewhere, nothing lost or doubled', async () => {
      assert.equal(members.length, 3, 'the first test placed the members');
      const [patient, doctor] = members as [Member, Member, Member];
      /** Kills the member's node and moves the member (and whoever shared it) to another running node, or to the same one started again. */
      const killUnder = async (m: Member) => {
        const victim = nodeOf(m);
        const on = members.filter((x) => x.proxy.target === victim.port);
        await victim.kill9();
        let target = c.nodes.find((n) => n !== victim && n.running());
        if (!target) {
          await victim.restart();
          target = victim;
        }
        for (const x of on) x.proxy.moveTo(target.port);
        return { victim, target };
      };

      const sending = Promise.all(members.map((m) => send(m, 'storm', PER_PHASE)));
      await waitFor('the storm to start', () => members.every((m) => m.acks.length > PER_PHASE + 3));
      const first = await killUnder(patient);
      await waitFor('the patient back (over MQTT)', () => patient.client.state === 'open', 60_000);
      if (first.victim !== first.target) await first.victim.restart();
      await waitFor('more sends', () => members.every((m) => m.acks.length > PER_PHASE + 10), 60_000);
      const second = await killUnder(doctor);
      await waitFor('the doctor back (over long-poll)', () => doctor.client.state === 'open', 60_000);
      if (second.victim !== second.target) await second.victim.restart();
      await sending;
      await Promise.all(members.map((m) => send(m, 'after', 5)));
      if (redis) {
        for (const m of [patient, doctor]) {
          await waitFor(`${m.name} registered on its new node`, async () => (await registered(m.id)) === nodeOf(m).url, 30_000);
        }
      }
      const stored = await checkAgainstHistory();
      assert.equal(stored.length, 3 * (2 * PER_PHASE + 5));
      for (const m of members) assert.equal(m.acks.length, 2 * PER_PHASE + 5);
    });
  });
}

mixedSuite('mixed transports on a cluster (3 nodes, PostgreSQL + Redis)', { nodes: 3, backend: 'postgres' });
mixedSuite('mixed transports on one SQLite node', { nodes: 1, backend: 'sqlite' });
