/**
 * One writer per conversation (`domain/appends.ts`): nodes made of a real `RedisBus` (one
 * Redis started for the test) and a `GroupCommitter` each, over one SQLite file — as cluster
 * nodes share one database. What is checked: the nodes agree on owners and a node leaving
 * moves only its own conversations; a send on another node is appended by the owner, which
 * publishes its event and answers; a node's sends to one conversation keep their order, also
 * when the owner changes while some are on their way; an owner that does not answer is
 * replaced by an append here that stores nothing twice.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import type { Storage } from '../../src/domain/ports.ts';
import type { DomainEvent } from '../../src/domain/events.ts';
import type { AppendResult, NewMessage } from '../../src/domain/types.ts';
import { GroupCommitter } from '../../src/domain/committer.ts';
import { AppendRouter, type AppendCtx } from '../../src/domain/appends.ts';
import { BUS_CHANNEL, RedisBus } from '../../src/bus/bus-redis.ts';
import { createSqliteStorage } from '../../src/storage/sqlite/index.ts';
import { startRedis } from '../support/services.ts';

const T = 't';
let n = 0;

interface Node {
  id: string;
  bus: RedisBus;
  router: AppendRouter<AppendCtx>;
  committer: GroupCommitter<AppendCtx>;
  events: Extract<DomainEvent, { kind: 'message.created' }>[];
}

async function until(what: string, f: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!f()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('appends: one writer per conversation', () => {
  let dir: string;
  let storage: Storage;
  let redis: Awaited<ReturnType<typeof startRedis>>;
  const nodes: Node[] = [];

  /** A node as `core.ts` makes one: its committer publishes what it committed, as `MessageService` does. */
  const node = (id: string, timeoutMs = 2_000): Node => {
    const bus = new RedisBus({ url: redis.url, nodeId: id, heartbeatMs: 100 });
    const events: Node['events'] = [];
    bus.subscribe((e) => { if (e.kind === 'message.created') events.push(e); });
    const committer = new GroupCommitter<AppendCtx>(storage.messages, 500, (msg, r, ctx) => {
      if (r.ok && !r.duplicate) bus.publish({ kind: 'message.created', tenant_id: msg.tenant_id, message: r.message, recipients: ctx.recipients, ...(ctx.origin ? { origin: ctx.origin.connection, origin_request: ctx.origin.request } : {}) });
    });
    const router = new AppendRouter({ link: bus.link, committer, timeoutMs });
    const x = { id, bus, router, committer, events };
    nodes.push(x);
    return x;
  };
  const conversation = async (id: string) => {
    await storage.conversations.createConversation({
      tenant_id: T, id, type: 1, business_type: 1, name: '', status: 0, created_by: 'doc',
      participants: [{ user_id: 'doc', role: 'm' }, { user_id: 'pat', role: 'm' }],
    }, 1);
    return id;
  };
  const message = (conv: string, text: string, clientId: string | null = `c${n + 1}`): NewMessage => {
    const content = { text };
    return {
      tenant_id: T, conversation_id: conv, id: `m${String(++n).padStart(25, '0')}`, sender_id: 'doc', type: 1,
      content, content_json: JSON.stringify(content), client_id: clientId, created_at: 1_000 + n, forward: null,
    };
  };
  const ctx: AppendCtx = { recipients: ['doc', 'pat'] };
  const ok = (r: AppendResult) => {
    assert.ok(r.ok, JSON.stringify(r));
    return r;
  };
  const agreed = (...xs: Node[]) => until('the nodes to hear each other', () => xs.every((x) => x.bus.link.nodes().length === xs.length));
  /** A conversation the given node owns, as every node computes it. */
  const ownedBy = async (owner: Node, others: Node[], prefix: string): Promise<string> => {
    for (let i = 0; ; i++) {
      const id = `${prefix}-${i}`;
      if (owner.router.owner(T, id) === owner.id && others.every((o) => o.router.owner(T, id) === owner.id)) return conversation(id);
    }
  };

  before(async () => {
    redis = await startRedis();
    dir = mkdtempSync(join(tmpdir(), 'careline-appends-'));
    storage = createSqliteStorage({ path: join(dir, 'db.sqlite'), synchronous: 'NORMAL' });
    await storage.tenants.createTenant({ id: T, name: 'T', created_at: 1 });
    for (const id of ['doc', 'pat']) await storage.users.upsertUser(T, { id, role: id === 'pat' ? 'patient' : 'doctor', name: id, avatar: null, disabled: false }, 1);
  });
  after(async () => {
    for (const x of nodes) {
      await x.router.close();
      await x.committer.drain();
      await x.bus.close();
    }
    await storage.close();
    rmSync(dir, { recursive: true, force: true });
    await redis.stop();
  });

  it('the nodes agree on each conversation\'s owner, share the conversations about evenly, and a node leaving moves only its own', async () => {
    const [a, b, c] = [node('own-a'), node('own-b'), node('own-c')];
    await agreed(a, b, c);
    const ids = Array.from({ length: 3000 }, (_, i) => `conv-${i}`);
    const owners = ids.map((id) => a.router.owner(T, id));
    assert.deepEqual(ids.map((id) => b.router.owner(T, id)), owners);
    assert.deepEqual(ids.map((id) => c.router.owner(T, id)), owners);
    for (const x of [a, b, c]) {
      const share = owners.filter((o) => o === x.id).length / ids.length;
      assert.ok(share > 0.28 && share < 0.39, `${x.id} owns ${share}`);
    }
    // Another tenant's conversation of the same id has an owner of its own.
    assert.ok(ids.some((id) => a.router.owner('other', id) !== a.router.owner(T, id)));
    await c.router.close();
    await c.bus.close();
    nodes.splice(nodes.indexOf(c), 1);
    await until('c to drop out', () => a.bus.link.nodes().length === 2 && b.bus.link.nodes().length === 2);
    const after = ids.map((id) => a.router.owner(T, id));
    for (let i = 0; i < ids.length; i++) {
      if (owners[i] !== c.id) assert.equal(after[i], owners[i], 'a conversation c did not own stays where it was');
      else assert.notEqual(after[i], c.id);
    }
    assert.deepEqual(ids.map((id) => b.router.owner(T, id)), after);
  });

  it('a send on another node is appended by the owner: its event comes from the owner, in order, and the sender gets the stored message', async () => {
    const [a, b] = [nodes[0]!, nodes[1]!];
    await agreed(a, b);
    const conv = await ownedBy(b, [a], 'fwd');
    const before = { a: { ...a.router.counts }, b: { ...b.router.counts } };
    const sends = Array.from({ length: 100 }, (_, i) => a.router.write(message(conv, `hello ${i}`), { ...ctx, origin: { connection: 'conn-a', request: `r${i}` } }));
    const results = (await Promise.all(sends)).map(ok);
    assert.deepEqual(results.map((r) => r.message.seq), Array.from({ length: 100 }, (_, i) => i + 1), 'seqs in the order sent');
    assert.deepEqual(results.map((r) => (r.message.content as { text: string }).text), Array.from({ length: 100 }, (_, i) => `hello ${i}`));
    assert.equal(a.router.counts.forwarded - before.a.forwarded, 100);
    assert.equal(b.router.counts.received - before.b.received, 100);
    assert.equal(a.router.counts.fallback, before.a.fallback);
    // The owner published each event (it reached a over the bus), with the sending connection for the ack.
    await until('the events on a', () => a.events.filter((e) => e.message.conversation_id === conv).length === 100);
    const evs = a.events.filter((e) => e.message.conversation_id === conv);
    assert.deepEqual(evs.map((e) => e.message.seq), results.map((r) => r.message.seq));
    assert.deepEqual(evs.map((e) => e.origin_request), results.map((_, i) => `r${i}`));
    assert.ok(evs.every((e) => e.origin === 'conn-a'));
    // Stored once each, as the owner answered.
    const stored = await storage.messages.history(T, conv, { limit: 200 });
    assert.deepEqual(stored.map((m) => m.id), results.map((r) => r.message.id));
    // A resend to the owner's conversation from a is answered as a duplicate of the first.
    const again = ok(await a.router.write({ ...message(conv, 'hello 0'), client_id: results[0]!.message.client_id }, ctx));
    assert.equal(again.duplicate, true);
    assert.equal(again.message.id, results[0]!.message.id);
    // A send without a client id is appended here: a lost answer could not be told from a lost send.
    const plain = ok(await a.router.write(message(conv, 'no client id', null), ctx));
    assert.equal(plain.message.seq, 101);
    assert.equal(a.router.counts.forwarded - before.a.forwarded, 101);
  });

  it('a node\'s sends to one conversation keep their order when its owner changes while some are on their way', async () => {
    const a = nodes[0]!;
    // A node that is heard but never answers (alive on the channel, its appends stuck), then leaves.
    const ghostId = 'zz-ghost';
    const ghost = new Redis(redis.url);
    try {
      const beat = setInterval(() => void ghost.publish(BUS_CHANNEL, JSON.stringify({ n: ghostId, hb: 1 })), 50);
      await until('the ghost to be heard', () => a.bus.link.nodes().includes(ghostId));
      let conv = '';
      for (let i = 0; ; i++) {
        const id = `order-${i}`;
        if (a.router.owner(T, id) === ghostId) {
          conv = await conversation(id);
          break;
        }
      }
      const fallbacks = a.router.counts.fallback;
      const first = Array.from({ length: 5 }, (_, i) => a.router.write(message(conv, `first ${i}`), ctx));
      clearInterval(beat);
      await ghost.publish(BUS_CHANNEL, JSON.stringify({ n: ghostId, bye: 1 }));
      await until('the ghost to leave', () => !a.bus.link.nodes().includes(ghostId));
      assert.notEqual(a.router.owner(T, conv), ghostId);
      // Sent after the owner changed, appended where they now belong — after the first five.
      const then = Array.from({ length: 5 }, (_, i) => a.router.write(message(conv, `then ${i}`), ctx));
      const all = (await Promise.all([...first, ...then])).map(ok);
      assert.deepEqual(all.map((r) => (r.message.content as { text: string }).text), [0, 1, 2, 3, 4].map((i) => `first ${i}`).concat([0, 1, 2, 3, 4].map((i) => `then ${i}`)));
      assert.deepEqual(all.map((r) => r.message.seq), Array.from({ length: 10 }, (_, i) => i + 1), 'stored in the order sent');
      assert.equal(a.router.counts.fallback - fallbacks, 5, 'the five the ghost never answered were appended here');
    } finally {
      ghost.disconnect();
    }
  });

  it('an owner too slow to answer in time: the sender appends the send itself, and it is stored once', async () => {
    // A forward waits 1 ms: the owner's append and the sender's own race, and the client id settles it.
    const [a, b] = [nodes[0]!, nodes[1]!];
    const hasty = node('hasty', 1);
    await agreed(a, b, hasty);
    const conv = await ownedBy(b, [a, hasty], 'race');
    const results = (await Promise.all(Array.from({ length: 50 }, (_, i) => hasty.router.write(message(conv, `race ${i}`), ctx)))).map(ok);
    assert.ok(hasty.router.counts.fallback > 0, 'some were not answered in time');
    const stored = await storage.messages.history(T, conv, { limit: 200 });
    assert.equal(stored.length, 50, 'each stored once');
    assert.deepEqual(new Set(results.map((r) => r.message.id)).size, 50);
    assert.deepEqual(stored.map((m) => m.id).sort(), results.map((r) => r.message.id).sort(), 'each answered with its stored copy');
    assert.deepEqual(stored.map((m) => m.seq), Array.from({ length: 50 }, (_, i) => i + 1), 'no gap');
  });
});
