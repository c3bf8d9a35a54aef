/**
 * The tenant settings cache of `SettingsService` (read on every connection opening): one
 * storage read per tenant, dropped at once when the settings change (here, or on another node
 * through `settings.changed`), never filled by a read that raced with a change, and bounded;
 * a change whose bus event was lost applies after `cacheTtlMs`, and `clear()` (the bus
 * resumed after a loss) drops every tenant. Over a real SQLite file.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryBus } from '../../src/bus/bus-memory.ts';
import type { DomainEvent } from '../../src/domain/events.ts';
import type { Principal, TenantSettings } from '../../src/domain/types.ts';
import type { Storage } from '../../src/domain/ports.ts';
import { SettingsService } from '../../src/domain/settings.ts';
import { createSqliteStorage } from '../../src/storage/sqlite/index.ts';

const user = (tenantId: string): Principal & { kind: 'user' } => ({ kind: 'user', tenantId, userId: 'u', role: 'patient', sessionId: 's' });
const app = (tenantId: string): Principal => ({ kind: 'app', tenantId, appId: 'a' });

describe('settings cache', () => {
  let dir: string;
  let storage: Storage;
  let reads: string[];
  /** When set, storage reads wait for it (to hold a read in flight). */
  let gate: Promise<void> | null = null;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'careline-settings-'));
    storage = createSqliteStorage({ path: join(dir, 'db.sqlite'), synchronous: 'NORMAL' });
    const real = storage.settings.get.bind(storage.settings);
    storage.settings.get = async (tenantId: string): Promise<TenantSettings> => {
      reads.push(tenantId);
      const held = gate;
      const value = await real(tenantId);
      if (held) await held;
      return value;
    };
  });
  after(async () => {
    await storage.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const node = (cacheTenants?: number, clock?: { now: () => number; ttlMs: number }) => {
    const bus = new MemoryBus();
    const events: DomainEvent[] = [];
    bus.subscribe((e) => events.push(e));
    const settings = new SettingsService({ storage, bus, cacheTenants, now: clock?.now, cacheTtlMs: clock?.ttlMs });
    bus.subscribe((e) => {
      if (e.kind === 'settings.changed') settings.invalidate(e.tenant_id);
    });
    const kicks = () => events.filter((e) => e.kind === 'connection.replaced' && e.policy === 'kick').length;
    return { bus, events, settings, kicks };
  };

  it('reads a tenant\'s settings once for many connections; a change applies to the next connection at once', async () => {
    reads = [];
    const n = node();
    for (let i = 0; i < 5; i++) await n.settings.connected(user('ta'), `c${i}`, 'ios');
    assert.deepEqual(reads, ['ta']);
    assert.equal(n.kicks(), 0);
    await n.settings.update(app('ta'), { connection_policy: 'kick' });
    assert.ok(n.events.some((e) => e.kind === 'settings.changed' && e.tenant_id === 'ta'), 'other nodes are told');
    await n.settings.connected(user('ta'), 'c9', 'ios');
    assert.equal(n.kicks(), 1, 'the new policy applies to the very next connection');
    assert.deepEqual(reads, ['ta', 'ta']);
  });

  it('another node\'s change (settings.changed on the bus) drops the cached copy', async () => {
    reads = [];
    const a = node();
    const b = node();
    await a.settings.connected(user('tb'), 'c1', 'web');
    assert.equal(a.kicks(), 0);
    await b.settings.update(app('tb'), { connection_policy: 'kick' });
    // What the bus between the nodes would carry:
    a.bus.publish({ kind: 'settings.changed', tenant_id: 'tb' });
    await a.settings.connected(user('tb'), 'c2', 'web');
    assert.equal(a.kicks(), 1);
  });

  it('a read in flight while the settings change is not cached', async () => {
    reads = [];
    const n = node();
    let open!: () => void;
    gate = new Promise((r) => (open = r));
    const pending = n.settings.connected(user('tc'), 'c1', 'web'); // reads notify, held
    gate = null;
    await n.settings.update(app('tc'), { connection_policy: 'kick' });
    open();
    await pending;
    await n.settings.connected(user('tc'), 'c2', 'web');
    assert.equal(n.kicks(), 1, 'the stale read was not kept');
    assert.deepEqual(reads, ['tc', 'tc']);
  });

  it('holds at most cacheTenants tenants, the least recently used going first', async () => {
    reads = [];
    const n = node(2);
    for (const t of ['t1', 't2', 't1', 't3', 't1', 't2']) await n.settings.connected(user(t), 'c', null);
    // t1 t2 cached; t1 hit; t3 evicts t2 (least recently used); t1 hit; t2 read again.
    assert.deepEqual(reads, ['t1', 't2', 't3', 't2']);
  });

  it('integrators read the stored settings, not the cache', async () => {
    const n = node();
    await n.settings.connected(user('td'), 'c', null);
    reads = [];
    assert.equal((await n.settings.get(app('td'))).connection_policy, 'notify');
    assert.deepEqual(reads, ['td']);
  });

  it('a change whose settings.changed was lost applies after cacheTtlMs, not before', async () => {
    const c = { t: 1_000_000, now: () => c.t, ttlMs: 30_000 };
    const a = node(undefined, c);
    const b = node();
    reads = [];
    await a.settings.connected(user('te'), 'c1', 'web');
    await b.settings.update(app('te'), { connection_policy: 'kick' }); // the event never reaches a
    c.t += 29_999;
    await a.settings.connected(user('te'), 'c2', 'web');
    assert.equal(a.kicks(), 0, 'still the cached policy');
    assert.deepEqual(reads, ['te']);
    c.t += 1;
    await a.settings.connected(user('te'), 'c3', 'web');
    assert.equal(a.kicks(), 1, 'expired: the stored policy applies');
    assert.deepEqual(reads, ['te', 'te']);
  });

  it('clear() drops every cached tenant', async () => {
    const n = node();
    const other = node();
    for (const t of ['tf', 'tg']) await n.settings.connected(user(t), 'c', null);
    for (const t of ['tf', 'tg']) await other.settings.update(app(t), { connection_policy: 'kick' });
    reads = [];
    n.settings.clear();
    for (const t of ['tf', 'tg']) await n.settings.connected(user(t), 'c2', null);
    assert.deepEqual(reads, ['tf', 'tg']);
    assert.equal(n.kicks(), 2);
  });

  it('a read in flight when clear() runs is not cached', async () => {
    reads = [];
    const n = node();
    let open!: () => void;
    gate = new Promise((r) => (open = r));
    const pending = n.settings.connected(user('th'), 'c1', 'web');
    gate = null;
    n.settings.clear();
    open();
    await pending;
    await n.settings.connected(user('th'), 'c2', 'web');
    assert.deepEqual(reads, ['th', 'th']);
  });
});
