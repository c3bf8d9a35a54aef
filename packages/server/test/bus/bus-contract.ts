/**
 * The `EventBus` contract, run against every implementation (`bus.test.ts`). A harness gives
 * "nodes": buses that stand for separate processes sharing one event stream (for the memory
 * bus, one process: the same bus seen by every node). Where the implementation has a link that
 * can break, the harness can break it (`restart`): the node's own clients keep getting its
 * events, other nodes' events come back after it, and `onResume` runs.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import type { DomainEvent } from '../../src/domain/events.ts';
import type { EventBus } from '../../src/domain/ports.ts';

export interface BusHarness {
  /** `n` buses, one per node, all connected and subscribed when it resolves. */
  nodes(n: number): Promise<EventBus[]>;
  /** Breaks the link between the nodes for a while and restores it (absent: there is no link to break). */
  restart?: () => Promise<void>;
  /** Stops what the harness started. */
  close(): Promise<void>;
}

/** An event that says which node sent it and its number. */
export const ev = (node: string, i: number): DomainEvent => ({ kind: 'typing', tenant_id: 't1', conversation_id: node, user_id: `u${i}`, state: 'typing', recipients: [] });
const tag = (e: DomainEvent) => (e.kind === 'typing' ? `${e.conversation_id}:${e.user_id.slice(1)}` : e.kind);

/** Waits until `cond()` holds, checking every 10 ms, for at most `ms`. */
export async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Collects the test events one subscriber gets, as `node:i` tags (a harness may send others of its own). */
function collect(bus: EventBus): string[] {
  const got: string[] = [];
  bus.subscribe((e) => {
    if (e.kind === 'typing') got.push(tag(e));
  });
  return got;
}

export function busContract(name: string, make: () => Promise<BusHarness>): void {
  describe(`EventBus contract: ${name}`, { timeout: 60_000 }, () => {
    const harnesses: BusHarness[] = [];
    after(async () => {
      for (const h of harnesses) await h.close();
    });
    const start = async (n: number) => {
      const h = await make();
      harnesses.push(h);
      return { h, buses: await h.nodes(n) };
    };

    test('a node gets its own events at once, synchronously, once each, in publish order', async () => {
      const { buses: [a] } = await start(1);
      const got = collect(a!);
      for (let i = 0; i < 50; i++) {
        a!.publish(ev('A', i));
        assert.equal(got.length, i + 1, 'delivered before publish returns');
      }
      await new Promise((r) => setTimeout(r, 50)); // an echo from a shared link must not come back as a second copy
      assert.deepEqual(got, Array.from({ length: 50 }, (_, i) => `A:${i}`));
    });

    test('a throwing subscriber does not stop the others; unsubscribe stops delivery', async () => {
      const { buses: [a] } = await start(1);
      a!.subscribe(() => {
        throw new Error('boom');
      });
      const got: string[] = [];
      const off = a!.subscribe((e) => got.push(tag(e)));
      a!.publish(ev('A', 1));
      off();
      a!.publish(ev('A', 2));
      assert.deepEqual(got, ['A:1']);
    });

    test('an event from one node reaches the subscribers of every node once, in publish order', async () => {
      const { buses } = await start(3);
      const [a, b, c] = buses as [EventBus, EventBus, EventBus];
      const gotA = collect(a), gotB = collect(b), gotC = collect(c), gotB2 = collect(b);
      const N = 200;
      for (let i = 0; i < N; i++) {
        a.publish(ev('A', i));
        if (i % 2 === 0) b.publish(ev('B', i));
      }
      const fromA = Array.from({ length: N }, (_, i) => `A:${i}`);
      const fromB = Array.from({ length: N / 2 }, (_, i) => `B:${2 * i}`);
      await until(() => gotB.length >= N * 1.5 && gotC.length >= N * 1.5 && gotA.length >= N * 1.5, 10_000, 'every event on every node');
      await new Promise((r) => setTimeout(r, 50)); // nothing more comes (no duplicates)
      for (const [who, got] of [['A', gotA], ['B', gotB], ['B (second subscriber)', gotB2], ['C', gotC]] as const) {
        assert.equal(got.length, N * 1.5, `${who} got each event once`);
        assert.deepEqual(got.filter((t) => t.startsWith('A:')), fromA, `${who}: A's events in A's order`);
        assert.deepEqual(got.filter((t) => t.startsWith('B:')), fromB, `${who}: B's events in B's order`);
      }
    });

    test('a closed node gets nothing more; the others go on', async () => {
      const { buses } = await start(2);
      const [a, b] = buses as [EventBus, EventBus];
      const gotB = collect(b);
      await b.close();
      a.publish(ev('A', 1));
      const gotA = collect(a);
      a.publish(ev('A', 2));
      assert.deepEqual(gotA, ['A:2']);
      await new Promise((r) => setTimeout(r, 50));
      assert.deepEqual(gotB, []);
    });

    test('the link lost and back: own events keep flowing locally, other nodes\' events come back, onResume runs', async (t) => {
      const h = await make();
      harnesses.push(h);
      const restart = h.restart;
      if (!restart) {
        // A bus with no link between nodes never loses one: onResume is never called.
        const [a] = await h.nodes(1);
        let resumed = 0;
        a!.onResume(() => resumed++);
        a!.publish(ev('A', 1));
        assert.equal(resumed, 0);
        return;
      }
      const [a, b, c] = (await h.nodes(3)) as [EventBus, EventBus, EventBus];
      const gotA = collect(a), gotB = collect(b), gotC = collect(c);
      const resumed = [0, 0, 0];
      [a, b, c].forEach((bus, i) => bus.onResume(() => resumed[i]!++));
      const restarting = restart();
      let done = false;
      restarting.then(() => (done = true), () => (done = true));
      let i = 0;
      // Publish through the outage: each event reaches A's own subscriber before publish returns.
      while (!done && i < 5000) {
        a.publish(ev('A', i));
        assert.equal(gotA.at(-1), `A:${i}`, 'own events are delivered locally during the outage');
        i++;
        await new Promise((r) => setTimeout(r, 5));
      }
      await restarting;
      t.diagnostic(`${i} events published during the restart`);
      await until(() => resumed.every((n) => n >= 1), 15_000, 'onResume on every node');
      // Across nodes: at most once, in order (some were dropped while the link was down).
      for (const got of [gotB, gotC]) {
        const nums = got.map((s) => Number(s.split(':')[1]));
        assert.deepEqual(nums, [...nums].sort((x, y) => x - y), 'in publish order');
        assert.equal(new Set(nums).size, nums.length, 'no duplicates');
      }
      const before = [gotB.length, gotC.length];
      a.publish(ev('A', 100_000));
      c.publish(ev('C', 100_001));
      await until(() => gotB.includes('A:100000') && gotC.includes('A:100000') && gotA.includes('C:100001') && gotB.includes('C:100001'), 10_000, 'cross-node delivery after the restart');
      assert.equal(gotB.length, before[0]! + 2);
      assert.equal(gotC.length, before[1]! + 2);
    });
  });
}
