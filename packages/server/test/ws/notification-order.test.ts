/**
 * A tenant's notifications reach a connection in commit order (the tenant's seq), each once,
 * whatever order their events come in and even when one is lost: events published on the
 * server's own bus out of order, duplicated, or never published (a notification stored
 * without an event, as when the bus between nodes drops one).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { DomainEvent } from '../../src/domain/events.ts';
import { newId } from '../../src/domain/ids.ts';
import type { Notification } from '../../src/domain/types.ts';
import type { Connection } from '../../src/realtime/connection.ts';
import { Hub } from '../../src/realtime/hub.ts';
import { createSqliteStorage, type SqliteStorage } from '../../src/storage/sqlite/index.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import type { Frame, FrameClient } from '../support/frame-client.ts';
import { CARRIERS } from '../support/frame-client.ts';
import { openOver } from '../support/carriers.ts';

const isNote = (f: Frame) => f.type === 'notification';
const noteIds = (c: FrameClient) => c.frames.filter(isNote).map((f) => f.notification.id as string);

// Over every carrier (a server each: the first test is about the tenant's first event on the node).
for (const carrier of CARRIERS) {
describe(`notification order on a node: by the tenant's seq, gaps filled from storage, over ${carrier}`, () => {
  let s: TestServer;
  let pa: FrameClient;
  const tok: Record<string, string> = {};

  /** Stores a notification for `pa` without publishing its event (as on another node whose event never came). */
  const store = async (title: string): Promise<{ notification: Notification; recipients: string[] | null }> => {
    const r = await s.server.core.storage.notifications.create({
      tenant_id: s.tenantId, id: newId(), kind: 'S2C_REMIND_PUSH', mode: 'each', title, body: null, data: null, sender_id: null,
      audience: 'user', audience_id: null, created_by: 'other-node', created_at: Date.now(),
    }, { type: 'users', ids: ['pa'] });
    return { notification: r.notification, recipients: r.recipients };
  };
  const publish = (n: { notification: Notification; recipients: string[] | null }) =>
    s.server.core.bus.publish({ kind: 'notification.created', tenant_id: s.tenantId, notification: n.notification, recipients: n.recipients });
  const sendRest = async (title: string): Promise<string> => {
    const r = await s.call('POST', '/api/v2/management/notifications', { body: { kind: 'S2C_REMIND_PUSH', target: { user: 'pa' }, title } });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.ok(!('seq' in r.body.notification), 'the REST answer has no seq');
    return r.body.notification.id;
  };
  /** Waits for `id` to arrive at `pa`, then returns every notification id it got, in order. */
  const receivedThrough = async (id: string): Promise<string[]> => {
    await pa.next((f) => isNote(f) && f.notification.id === id);
    return noteIds(pa);
  };

  before(async () => {
    s = await startTestServer({ config: { ws: { notificationReorderMs: 300 }, mqtt: { enabled: true, port: 0 } } });
    tok.pa = (await s.user('pa', 'patient')).token;
  }, { timeout: 20_000 });
  after(async () => {
    pa?.close();
    await s.stop();
  });

  it('the tenant\'s first event here: a notification stored just before it whose event was lost comes first', async () => {
    pa = await openOver(carrier, s, tok.pa!);
    const lost = await store('lost-first');
    const id = await sendRest('first-event');
    assert.deepEqual(await receivedThrough(id), [lost.notification.id, id]);
    assert.ok(lost.notification.id < id);
  });

  it('events out of order (seq 3 before seq 2): the client gets 2, then 3', async () => {
    const before = noteIds(pa).length;
    const two = await store('two');
    const three = await store('three');
    assert.equal(three.notification.seq, two.notification.seq + 1);
    publish(three);
    publish(two);
    const got = (await receivedThrough(three.notification.id)).slice(before);
    assert.deepEqual(got, [two.notification.id, three.notification.id]);
  });

  it('a lost event: the next one waits, the missing one is read from storage, both arrive in order', async () => {
    const before = noteIds(pa).length;
    const lost = await store('lost');
    const next = await store('after-lost');
    publish(next);
    const got = (await receivedThrough(next.notification.id)).slice(before);
    assert.deepEqual(got, [lost.notification.id, next.notification.id]);
    const frame = pa.frames.find((f) => isNote(f) && f.notification.id === lost.notification.id)!;
    assert.equal(frame.notification.title, 'lost');
    assert.ok(!('seq' in frame.notification), 'a frame has no seq');
  });

  it('a duplicate event (again, or one already filled from storage) is delivered once', async () => {
    const before = noteIds(pa).length;
    const dup = await store('dup');
    publish(dup);
    publish(dup);
    const [filled] = await s.server.core.storage.notifications.since(s.tenantId, dup.notification.seq - 2, 1);
    publish(filled!);
    const last = await sendRest('after-dup');
    assert.deepEqual((await receivedThrough(last)).slice(before), [dup.notification.id, last]);
    assert.equal(new Set(noteIds(pa)).size, noteIds(pa).length, 'no notification twice');
  });

  // A catch-up by sync frame (long-polling's is its poll cursor: test/transports/longpoll.test.ts).
  if (carrier !== 'longpoll') it('a catch-up on a new connection sends the same notifications, in the same order, without seq', async () => {
    const c = await openOver(carrier, s, tok.pa!, { sync: true });
    try {
      c.send({ type: 'sync', id: 's', cursors: {}, notifications_after: '00000000000000000000000000' });
      await c.next((f) => f.type === 'sync_done' && f.id === 's');
      assert.deepEqual(noteIds(c), noteIds(pa));
      assert.ok(c.frames.filter(isNote).every((f) => !('seq' in f.notification)));
      const inbox = await s.call('GET', '/api/v2/notifications?limit=200', { token: tok.pa });
      assert.deepEqual(inbox.body.notifications.map((n: { id: string }) => n.id), [...noteIds(pa)].reverse());
      assert.ok(inbox.body.notifications.every((n: object) => !('seq' in n)), 'the inbox has no seq');
      const latest = await s.call('GET', '/api/v2/notifications/latest', { token: tok.pa });
      assert.ok(latest.body.notifications.every((n: object) => !('seq' in n)));
    } finally {
      c.close();
    }
  });
});
}

describe('Hub: the bounds of waiting', () => {
  /** A connection as the Hub sees it: what it is handed is recorded. */
  interface Fake {
    id: string;
    principal: { tenantId: string; userId: string };
    platformClass: string;
    got: string[];
    deliverNotification(data: string, id: string): void;
  }
  const fake = (tenantId: string, userId: string, i: number): Fake => ({
    id: `c${i}`, principal: { tenantId, userId }, platformClass: 'web', got: [],
    deliverNotification(_data, id) {
      this.got.push(id);
    },
  });
  const T = 'tb';
  let storage: SqliteStorage;
  const stored: Notification[] = [];

  before(async () => {
    storage = createSqliteStorage({ path: ':memory:', synchronous: 'NORMAL' });
    await storage.tenants.createTenant({ id: T, name: 'T', created_at: 1 });
    await storage.users.upsertUser(T, { id: 'u', role: 'patient', name: 'u', avatar: null, disabled: false }, 1);
    for (let i = 1; i <= 8; i++) {
      const r = await storage.notifications.create({
        tenant_id: T, id: newId(), kind: 'S2C_REMIND_PUSH', mode: 'each', title: `n${i}`, body: null, data: null, sender_id: null,
        audience: 'user', audience_id: null, created_by: 'app', created_at: Date.now(),
      }, { type: 'users', ids: ['u'] });
      stored.push(r.notification);
    }
  });
  after(async () => {
    await storage.close();
  });

  const event = (i: number): DomainEvent => ({ kind: 'notification.created', tenant_id: T, notification: stored[i - 1]!, recipients: ['u'] });
  const until = async (cond: () => boolean) => {
    for (let i = 0; i < 500 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  };

  it('more than reorderMax waiting: the missing ones are read at once, not after the wait', async () => {
    const errors: unknown[] = [];
    const hub = new Hub({ reorderMs: 600_000, reorderMax: 2, since: (t, a, l) => storage.notifications.since(t, a, l), onError: (e) => errors.push(e) });
    const c = fake(T, 'u', 1);
    hub.add(c as unknown as Connection);
    hub.onEvent(event(1));
    // (The first event of the tenant looks back first: seq 1 has nothing before it, so it goes out at once.)
    assert.deepEqual(c.got, [stored[0]!.id]);
    hub.onEvent(event(3));
    hub.onEvent(event(4));
    assert.deepEqual(hub.ordering, { tenants: 1, waiting: 2 });
    hub.onEvent(event(5));
    await until(() => c.got.length === 5);
    assert.deepEqual(c.got, stored.slice(0, 5).map((n) => n.id));
    assert.deepEqual(hub.ordering, { tenants: 1, waiting: 0 });
    hub.onEvent(event(2));
    hub.onEvent(event(6));
    assert.deepEqual(c.got, stored.slice(0, 6).map((n) => n.id), 'a duplicate dropped, the next one out at once');
    assert.deepEqual(errors, []);
    // The tenant's last connection goes: nothing waits any more (nor its timer), where the order stands is kept.
    hub.onEvent(event(8));
    assert.deepEqual(hub.ordering, { tenants: 1, waiting: 1 });
    hub.remove(c as unknown as Connection);
    assert.deepEqual(hub.ordering, { tenants: 1, waiting: 0 });
    // A connection that comes back gets the next one at once, none again.
    const again = fake(T, 'u', 3);
    hub.add(again as unknown as Connection);
    hub.onEvent(event(7));
    hub.onEvent(event(8));
    assert.deepEqual(again.got, []);
    hub.remove(again as unknown as Connection);
  });

  it('the order of a tenant without connections here is forgotten once idle; one with connections is kept', async () => {
    const hub = new Hub({ reorderMs: 600_000, orderIdleMs: 0, since: (t, a, l) => storage.notifications.since(t, a, l) });
    const c = fake('other', 'u', 4);
    hub.add(c as unknown as Connection);
    const other = (seq: number): DomainEvent => ({ kind: 'notification.created', tenant_id: 'other', notification: { ...stored[0]!, seq }, recipients: ['u'] });
    hub.onEvent(event(3));
    hub.onEvent(other(1));
    assert.deepEqual(hub.ordering.tenants, 1, 'only the tenant with a connection here');
    assert.deepEqual(c.got, [stored[0]!.id]);
    hub.onEvent(other(2));
    assert.deepEqual(hub.ordering.tenants, 1);
    hub.remove(c as unknown as Connection);
  });

  it('storage cannot be read: the waiting ones go out in order past the gap, and the failure is reported', async () => {
    const errors: unknown[] = [];
    const closed = createSqliteStorage({ path: ':memory:', synchronous: 'NORMAL' });
    await closed.close();
    const hub = new Hub({ reorderMs: 0, since: (t, a, l) => closed.notifications.since(t, a, l), onError: (e) => errors.push(e) });
    const c = fake(T, 'u', 2);
    hub.add(c as unknown as Connection);
    // The look back at the first event fails too: it goes out all the same.
    hub.onEvent(event(2));
    await until(() => c.got.length === 1);
    hub.onEvent(event(5));
    hub.onEvent(event(4));
    await until(() => c.got.length === 3);
    assert.deepEqual(c.got, [2, 4, 5].map((i) => stored[i - 1]!.id));
    assert.ok(errors.length >= 2, `reported (${errors.length})`);
    hub.remove(c as unknown as Connection);
  });
});
