/**
 * Notifications through the SDK: a notification the host sends reaches an online patient at
 * once and an offline one on the next connect (once); the inbox helpers (list, latest,
 * unread, mark read) and the badge; member events; "connected elsewhere".
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CarelineError, MemoryStorage, kindDisplayName, type CarelineClient, type Notification, type ServerEvent } from '../src/index.ts';
import { Harness, nextEvent, sleep, waitFor, within } from './support/harness.ts';

const T = { timeout: 20_000 };

describe('notifications (SDK)', () => {
  const h = Harness.forSuite();

  const notify = async (body: Record<string, unknown>): Promise<Notification> => {
    const r = await h.server.call('POST', '/api/v2/management/notifications', { body: { title: 'Title', ...body } });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body.notification;
  };
  const record = (c: CarelineClient) => {
    const got: Notification[] = [];
    c.on('notification', (n) => got.push(n));
    return got;
  };
  const patient = async () => h.server.user(`p-${Math.random().toString(36).slice(2, 8)}`, 'patient');

  test('an online patient gets it at once, typed', T, async () => {
    const p = await patient();
    const c = h.client(p.token);
    await c.connect();
    const arrived = nextEvent(c, 'notification');
    const sentAt = Date.now();
    const n = await notify({ kind: 'S2C_SIGNED_PUSH', target: { user: p.id }, title: 'Contract signed', data: { contract: 'c1' } });
    const got = await within(arrived, 2000, 'notification');
    assert.ok(Date.now() - sentAt < 2000);
    assert.deepEqual(got, n);
    assert.equal(got.kind, 'S2C_SIGNED_PUSH');
    assert.equal(got.read_at, null);
    assert.equal(c.notificationCursor, n.id);
  });

  test('an offline patient gets it on the next connect, once, in order', T, async () => {
    const p = await patient();
    const storage = new MemoryStorage();
    const c1 = h.client(p.token, { storage });
    const before = await notify({ kind: 'S2C_RESERVATION_PUSH', target: { user: p.id } });
    const got1 = record(c1);
    await c1.connect();
    await waitFor(() => got1.length === 1, { what: 'the unread one waiting before the first connect' });
    assert.equal(got1[0]!.id, before.id);
    await c1.close();

    const offline = [
      await notify({ kind: 'S2C_SIGNED_PUSH', target: { user: p.id } }),
      await notify({ kind: 'S2C_SYSTEM_PUSH', target: { tenant: true } }),
      await notify({ kind: 'S2C_REMIND_PUSH', target: { users: [p.id] } }),
    ];
    // The same storage: another run of the app on the same device.
    const c2 = h.client(p.token, { storage });
    const got2 = record(c2);
    const synced = nextEvent(c2, 'synced');
    await c2.connect();
    const s = await synced;
    assert.deepEqual(got2.map((n) => n.id), offline.map((n) => n.id), 'delivered before the client is open');
    assert.equal(s.notifications?.sent, 3);
    assert.equal(s.notifications?.unread.total, 4);

    // A dropped connection: notifications sent meanwhile come with the reconnect, none twice.
    // Listened for before the drop: the client may be reconnecting for only a few milliseconds,
    // shorter than a poll of its state.
    const down = nextEvent(c2, 'state', (e) => e.state === 'reconnecting');
    h.server.dropConnections();
    await down;
    const during = await notify({ kind: 'S2C_UNSIGNED_PUSH', target: { user: p.id } });
    await waitFor(() => got2.length === 4, { what: 'the one sent while cut off' });
    await waitFor(() => c2.state === 'open', { what: 'open again' });
    await sleep(100);
    assert.deepEqual(got2.map((n) => n.id), [...offline, during].map((n) => n.id));
    await c2.close();

    // Connecting once more delivers nothing again.
    const c3 = h.client(p.token, { storage });
    const got3 = record(c3);
    await c3.connect();
    await sleep(100);
    assert.deepEqual(got3, []);
  });

  test('inbox helpers: list, latest per kind, unread counts, mark read; the badge includes notifications', T, async () => {
    const p = await patient();
    const c = h.client(p.token);
    const doctor = await h.server.user(`d-${Math.random().toString(36).slice(2, 8)}`, 'doctor');
    const conv = await h.server.conversation({ participants: [p.id, doctor.id] });
    await h.server.sendAs(doctor.id, conv, 'hello');
    const a = await notify({ kind: 'S2C_DOCTORMSG_PUSH', target: { user: p.id }, title: 'old advice' });
    const b = await notify({ kind: 'S2C_DOCTORMSG_PUSH', target: { user: p.id }, title: 'new advice' });
    const r1 = await notify({ kind: 'S2C_REMIND_PUSH', target: { user: p.id } });
    const r2 = await notify({ kind: 'S2C_REMIND_PUSH', target: { user: p.id } });

    const page = await c.notifications.list({ limit: 2 });
    assert.deepEqual(page.notifications.map((n) => n.id), [r2.id, r1.id]);
    assert.ok(page.next_cursor);
    const rest = await c.notifications.list({ limit: 2, cursor: page.next_cursor! });
    assert.deepEqual(rest.notifications.map((n) => n.id), [b.id], 'latest mode: only the newest doctor message');
    const all: string[] = [];
    for await (const n of c.notifications.all({ limit: 1 })) all.push(n.id);
    assert.deepEqual(all, [r2.id, r1.id, b.id]);
    assert.deepEqual((await c.notifications.list({ kind: 'S2C_REMIND_PUSH', unread: true })).notifications.map((n) => n.id), [r2.id, r1.id]);
    assert.deepEqual((await c.notifications.latest()).map((n) => n.id), [r2.id, b.id]);
    assert.deepEqual(await c.notifications.unreadCount(), { total: 3, kinds: { S2C_DOCTORMSG_PUSH: 1, S2C_REMIND_PUSH: 2 } });
    assert.equal(await c.badge(), 1 + 3);

    assert.equal((await c.notifications.markRead({ ids: [r1.id] })).marked, 1);
    assert.deepEqual((await c.notifications.markRead({ kind: 'S2C_DOCTORMSG_PUSH' })).unread, { total: 1, kinds: { S2C_REMIND_PUSH: 1 } });
    assert.equal(await c.badge(), 1 + 1);
    const err = await c.notifications.markRead({ ids: [a.id, 'not-mine'] }).then(() => null, (e: unknown) => e);
    assert.ok(err instanceof CarelineError);
    assert.equal(err.code, 'notification.not_found');
    assert.equal(err.status, 404);
    const unknownKind = await c.notifications.list({ kind: 'S2C_NOPE_PUSH' }).then(() => null, (e: unknown) => e);
    assert.equal((unknownKind as CarelineError).code, 'notification.kind_unknown');
    assert.equal((await c.notifications.markRead({ all: true })).unread.total, 0);
    assert.equal(await c.badge(), 1);
    assert.equal(page.notifications[0]!.read_at, null);
    assert.equal(typeof (await c.notifications.list({ limit: 1 })).notifications[0]!.read_at, 'number');
  });

  test('kinds(): the tenant\'s kinds with their names for people; kindDisplayName picks the reader\'s language', T, async () => {
    const kind = `VACCINE_${Math.random().toString(36).slice(2, 8).toUpperCase()}_PUSH`;
    const put = (body: Record<string, unknown>) => h.server.call('PUT', `/api/v2/management/notification-kinds/${kind}`, { body });
    assert.equal((await put({ mode: 'each', display_name: 'Vaccine due', display_names: { en: 'Vaccine due', 'zh-CN': '疫苗接种提醒' } })).status, 200);
    const p = await patient();
    const c = h.client(p.token);
    const kinds = await c.notifications.kinds();
    const mine = kinds.find((k) => k.kind === kind);
    assert.deepEqual(mine, { kind, mode: 'each', builtin: false, display_name: 'Vaccine due', display_names: { en: 'Vaccine due', 'zh-CN': '疫苗接种提醒' } });
    const signed = kinds.find((k) => k.kind === 'S2C_SIGNED_PUSH')!;
    assert.equal(signed.builtin, true);
    assert.equal(kindDisplayName(signed, 'zh-CN'), '签约成功');
    assert.equal(kindDisplayName(mine!, 'zh-CN'), '疫苗接种提醒');
    assert.equal(kindDisplayName(mine!, 'zh-TW'), '疫苗接种提醒', 'the same language, another region');
    assert.equal(kindDisplayName(mine!, 'en-GB'), 'Vaccine due');
    assert.equal(kindDisplayName(mine!, 'ru'), 'Vaccine due', 'no name in the language: display_name');
    assert.equal(kindDisplayName({ display_name: null, display_names: {} }, 'en'), null);

    // Renamed by the integrator: the next call sees it.
    assert.equal((await put({ mode: 'each', display_names: { en: 'Vaccination due' } })).status, 200);
    assert.equal(kindDisplayName((await c.notifications.kinds()).find((k) => k.kind === kind)!, 'en'), 'Vaccination due');
    const bad = await put({ mode: 'each', display_names: { 'not a tag': 'x' } });
    assert.deepEqual([bad.status, bad.body.code], [400, 'request.invalid']);

    const stranger = h.client('not-a-token');
    const err = await stranger.notifications.kinds().then(() => null, (e: unknown) => e);
    assert.ok(err instanceof CarelineError);
    assert.equal(err.status, 401);
  });

  test('member enter / leave arrive as typed events', T, async () => {
    const { patient: pt, doctor, conv } = await h.pair();
    const nurse = await h.server.user(`n-${Math.random().toString(36).slice(2, 8)}`, 'staff');
    const c = h.client(pt.token);
    await c.connect();
    const events: ServerEvent[] = [];
    c.on('event', (e) => events.push(e));
    const r = await h.server.call('POST', `/api/v2/sessions/${conv}/participant/update`, { body: { add: [nurse.id] } });
    assert.equal(r.status, 200);
    await waitFor(() => events.length === 1, { what: 'enter' });
    assert.deepEqual(events[0], { kind: 'S2C_TEAMMEMBER_ENTER', conversation_id: conv, user_ids: [nurse.id] });
    await h.server.call('POST', `/api/v2/sessions/${conv}/participant/update`, { body: { remove: [nurse.id] } });
    await waitFor(() => events.length === 2, { what: 'leave' });
    assert.deepEqual(events[1], { kind: 'S2C_TEAMMEMBER_LEAVE', conversation_id: conv, user_ids: [nurse.id] });
    void doctor;
  });

  test('connected elsewhere (policy notify, the default): the older client gets the event and stays connected', T, async () => {
    const p = await patient();
    const login = async (platform: string) => (await h.server.call('POST', '/api/v2/users/login', { body: { user_id: p.id, platform } })).body.token as string;
    const phone = h.client(await login('ios'));
    await phone.connect();
    const event = nextEvent(phone, 'event');
    const states: string[] = [];
    phone.on('state', (s) => states.push(s.state));
    const tablet = h.client(await login('android'));
    await tablet.connect();
    assert.deepEqual(await within(event, 3000, 'event'), { kind: 'S2C_DIFFERENT_CONNECTION', platform_class: 'mobile' });
    await sleep(300);
    assert.deepEqual(states, [], 'the older client was not disconnected');
    assert.equal(phone.state, 'open');
    assert.equal(tablet.state, 'open');
  });

  test('connected elsewhere (policy kick): the older client gets the event and stops with connection.replaced', T, async () => {
    const p = await patient();
    const login = async (platform: string) => (await h.server.call('POST', '/api/v2/users/login', { body: { user_id: p.id, platform } })).body.token as string;
    assert.equal((await h.server.call('PUT', '/api/v2/management/settings', { body: { connection_policy: 'kick' } })).status, 200);
    try {
      const phone = h.client(await login('ios'));
      await phone.connect();
      const event = nextEvent(phone, 'event');
      const stopped = nextEvent(phone, 'state', (s) => s.state === 'closed');
      const tablet = h.client(await login('android'));
      await tablet.connect();
      assert.deepEqual(await within(event, 3000, 'event'), { kind: 'S2C_DIFFERENT_CONNECTION', platform_class: 'mobile' });
      const st = await within(stopped, 3000, 'closed');
      assert.equal(st.error?.code, 'connection.replaced');
      assert.equal(tablet.state, 'open');
      await sleep(300);
      assert.equal(phone.state, 'closed', 'does not reconnect by itself');
    } finally {
      await h.server.call('PUT', '/api/v2/management/settings', { body: { connection_policy: 'notify' } });
    }
  });
});
