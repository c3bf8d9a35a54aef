/**
 * The `NodeRegistry` contract (seed 002's push-node registry), run against every
 * implementation (`registry.test.ts`). Every registry is a node with its own address. A harness
 * whose nodes share a registry (`shared`) also runs the tests across nodes: finding the node
 * of a user connected elsewhere, and a dead node dropping out.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import type { NodeRegistry } from '../../src/domain/ports.ts';

export interface RegistryHarness {
  /** Nodes with these addresses and TTL. */
  nodes(addresses: string[], ttlSeconds: number): Promise<NodeRegistry[]>;
  /** Node `i` writes its heartbeat now (what it does every third of the TTL). */
  beat(i: number): Promise<void>;
  close(): Promise<void>;
}

let seq = 0;
const uid = (name: string) => `${name}-${++seq}`;

export function registryContract(name: string, make: () => Promise<RegistryHarness>, o: { shared: boolean }): void {
  describe(`NodeRegistry contract: ${name}`, { timeout: 60_000 }, () => {
    const harnesses: RegistryHarness[] = [];
    after(async () => {
      for (const h of harnesses) await h.close();
    });
    const start = async (addresses: string[], ttl = 30) => {
      const h = await make();
      harnesses.push(h);
      return { h, nodes: await h.nodes(addresses, ttl) };
    };

    test('a node lists itself, by its address, with a recent heartbeat', async () => {
      const before = Date.now();
      const { h, nodes: [a] } = await start(['http://10.0.0.1:8080']);
      await h.beat(0);
      const live = await a!.nodes();
      assert.deepEqual(live.map((n) => n.address), ['http://10.0.0.1:8080']);
      assert.ok(live[0]!.heartbeat >= before && live[0]!.heartbeat <= Date.now());
      assert.equal(a!.address, 'http://10.0.0.1:8080');
    });

    test('a registered user is found at the node; unregistered, at none; tenants apart', async () => {
      const { nodes: [a] } = await start(['http://10.0.0.1:8080']);
      const u = uid('u');
      assert.equal(await a!.lookup('t1', u), null);
      await a!.register('t1', u);
      assert.equal(await a!.lookup('t1', u), 'http://10.0.0.1:8080');
      assert.equal(await a!.lookup('t2', u), null, 'another tenant\'s user of that id');
      await a!.unregister('t1', u);
      assert.equal(await a!.lookup('t1', u), null);
    });

    if (!o.shared) return;

    test('across nodes: any node finds the node holding the user; the latest to register, then one still holding it', async () => {
      const { h, nodes } = await start(['http://a:1', 'http://b:1', 'http://c:1']);
      const [a, b, c] = nodes as [NodeRegistry, NodeRegistry, NodeRegistry];
      const u = uid('u');
      await a.register('t1', u);
      for (const n of nodes) assert.equal(await n.lookup('t1', u), 'http://a:1');
      await b.register('t1', u);
      assert.equal(await c.lookup('t1', u), 'http://b:1', 'the latest to register');
      await b.unregister('t1', u);
      await h.beat(0); // A still holds the user: it takes the key back
      assert.equal(await c.lookup('t1', u), 'http://a:1');
      await a.unregister('t1', u);
      await h.beat(0);
      assert.equal(await c.lookup('t1', u), null);
      const live = (await c.nodes()).map((n) => n.address).sort();
      assert.deepEqual(live, ['http://a:1', 'http://b:1', 'http://c:1']);
    });

    test('a node that dies drops out after the TTL, and its users are found nowhere', async () => {
      const ttl = 2;
      const { nodes } = await start(['http://a:1', 'http://b:1'], ttl);
      const [a, b] = nodes as [NodeRegistry, NodeRegistry];
      const u = uid('u');
      await b.register('t1', u);
      assert.equal(await a.lookup('t1', u), 'http://b:1');
      await b.close(); // no cleanup: it just stops
      let live: string[] = [];
      let found: string | null = 'x';
      const end = Date.now() + 10_000;
      while (Date.now() < end) {
        live = (await a.nodes()).map((n) => n.address);
        found = await a.lookup('t1', u);
        if (!live.includes('http://b:1') && found === null) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.deepEqual(live, ['http://a:1']);
      assert.equal(found, null);
    });
  });
}
