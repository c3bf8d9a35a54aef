/**
 * The `PresenceStore` contract, run against every implementation (`presence.test.ts`). A
 * harness gives "nodes": stores that stand for separate processes sharing one view of who is
 * online (for the memory store, one process: the same store seen by every node). Where a node
 * can die, the harness can close one without cleanup (`crash`): its users go offline after the
 * TTL by themselves, and a live node reports it once through `onChange`.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import type { PresenceChange, PresenceStore } from '../../src/domain/ports.ts';
import { until } from '../bus/bus-contract.ts';

export interface PresenceHarness {
  /** `n` stores, one per node, with this TTL. */
  nodes(n: number, ttlSeconds: number): Promise<PresenceStore[]>;
  /** Node `i` dies: it stops refreshing and nothing is counted out (absent: nodes do not die apart). */
  crash?: (i: number) => Promise<void>;
  close(): Promise<void>;
}

let seq = 0;
const uid = (name: string) => `${name}-${++seq}`;

export function presenceContract(name: string, make: () => Promise<PresenceHarness>): void {
  describe(`PresenceStore contract: ${name}`, { timeout: 60_000 }, () => {
    const harnesses: PresenceHarness[] = [];
    after(async () => {
      for (const h of harnesses) await h.close();
    });
    const start = async (n: number, ttl = 30) => {
      const h = await make();
      harnesses.push(h);
      return { h, nodes: await h.nodes(n, ttl) };
    };

    test('a user nobody saw: offline, never seen, no connections', async () => {
      const { nodes: [a] } = await start(1);
      assert.deepEqual(await a!.status('t1', uid('nobody')), { online: false, last_seen: null, connections: 0 });
    });

    test('connections on one node: online with the first, offline with the last, last seen then', async () => {
      const { nodes: [a] } = await start(1);
      const u = uid('u');
      assert.equal(await a!.connected('t1', u, 1000), true);
      assert.equal(await a!.connected('t1', u, 2000), false);
      assert.deepEqual(await a!.status('t1', u), { online: true, last_seen: 2000, connections: 2 });
      assert.equal(await a!.disconnected('t1', u, 3000), false);
      assert.equal(await a!.disconnected('t1', u, 4000), true);
      assert.deepEqual(await a!.status('t1', u), { online: false, last_seen: 4000, connections: 0 });
    });

    test('counts add up across nodes: online with the first connection anywhere, offline with the last anywhere', async () => {
      const { nodes } = await start(2);
      const [a, b] = nodes as [PresenceStore, PresenceStore];
      const u = uid('u');
      assert.equal(await a.connected('t1', u, 1000), true, 'first anywhere');
      assert.equal(await b.connected('t1', u, 1100), false, 'already online on A');
      assert.equal(await b.connected('t1', u, 1200), false);
      for (const n of [a, b]) assert.deepEqual(await n.status('t1', u), { online: true, last_seen: 1200, connections: 3 });
      assert.equal(await a.disconnected('t1', u, 1300), false, 'still on B');
      assert.equal(await b.disconnected('t1', u, 1400), false, 'still once on B');
      assert.equal(await b.disconnected('t1', u, 1500), true, 'the last one anywhere');
      for (const n of [a, b]) assert.deepEqual(await n.status('t1', u), { online: false, last_seen: 1500, connections: 0 });
      assert.equal(await b.connected('t1', u, 1600), true, 'online again');
    });

    test('tenants are apart: the same user id in two tenants is two users', async () => {
      const { nodes } = await start(2);
      const [a, b] = nodes as [PresenceStore, PresenceStore];
      const u = uid('u');
      assert.equal(await a.connected('t1', u, 1000), true);
      assert.equal(await b.connected('t2', u, 1000), true);
      assert.equal((await a.status('t2', u)).connections, 1);
      assert.equal(await a.disconnected('t1', u, 2000), true);
      assert.equal((await b.status('t2', u)).online, true);
    });

    test('a node that dies: its users go offline after the TTL, reported once by a live node; users also on a live node stay', async () => {
      const h = await make();
      harnesses.push(h);
      const crash = h.crash;
      const ttl = 2;
      const [a, b, c] = (await h.nodes(3, ttl)) as [PresenceStore, PresenceStore, PresenceStore];
      const changes: PresenceChange[] = [];
      a.onChange((ch) => changes.push(ch));
      c.onChange((ch) => changes.push(ch));
      const only = uid('only-on-b'), both = uid('on-a-and-b');
      await b.connected('t1', only, Date.now());
      await b.connected('t1', only, Date.now());
      await b.connected('t1', both, Date.now());
      await a.connected('t1', both, Date.now());
      if (!crash) {
        // Nodes of one process do not die apart: nothing to report.
        assert.deepEqual(changes, []);
        return;
      }
      await crash(1);
      const crashedAt = Date.now();
      await until(() => changes.length > 0, 10_000, 'the dead node\'s users reported offline');
      await new Promise((r) => setTimeout(r, ttl * 1000)); // another refresh round: no second report
      assert.equal(changes.length, 1, `reported once, by one node: ${JSON.stringify(changes)}`);
      const [ch] = changes;
      assert.deepEqual({ tenantId: ch!.tenantId, userId: ch!.userId, online: ch!.online }, { tenantId: 't1', userId: only, online: false });
      assert.ok(ch!.lastSeen <= crashedAt, 'last seen: the dead node\'s last heartbeat');
      for (const n of [a, c]) {
        assert.deepEqual(await n.status('t1', only), { online: false, last_seen: ch!.lastSeen, connections: 0 });
        const s = await n.status('t1', both);
        assert.equal(s.online, true);
        assert.equal(s.connections, 1, 'only the live node\'s connection counts');
      }
      assert.equal(await a.disconnected('t1', both, Date.now()), true, 'the live node\'s last connection: offline');
    });
  });
}
