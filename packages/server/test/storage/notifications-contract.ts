/**
 * The storage contract for notifications, care teams, tags and tenant settings: part of the
 * suite every backend runs (called from `storageContract`). Backend-neutral: only the
 * `Storage` interface is used.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Storage } from '../../src/domain/ports.ts';
import type { NewNotification, NotificationTarget } from '../../src/domain/types.ts';
import { AppError } from '../../src/domain/errors.ts';
import type { OpenStorage } from './contract.ts';

const isCode = (code: string) => (e: unknown) => e instanceof AppError && e.code === code;

export function notificationStorageContract(name: string, open: OpenStorage): void {
  describe(`storage contract (notifications, teams, tags, settings): ${name}`, () => {
    let s: Storage;
    let cleanup: () => Promise<void>;
    const T = 'tenant-n';
    const T2 = 'tenant-m';
    let seq = 0;
    /** Increasing ids, like the ULIDs the domain makes. */
    const nid = () => `N${String(++seq).padStart(8, '0')}`;
    const note = (kind: string, over: Partial<NewNotification> = {}): NewNotification => ({
      tenant_id: T, id: nid(), kind, mode: 'each', title: `t-${kind}`, body: null, data: null, sender_id: null,
      audience: 'users', audience_id: null, created_by: 'app', created_at: 1000 + seq, ...over,
    });
    const send = (n: NewNotification, target: NotificationTarget) => s.notifications.create(n, target);

    before(async () => {
      ({ storage: s, cleanup } = await open());
      await s.tenants.createTenant({ id: T, name: 'N', created_at: 1 });
      await s.tenants.createTenant({ id: T2, name: 'M', created_at: 1 });
      for (const id of ['a', 'b', 'c', 'd']) await s.users.upsertUser(T, { id, role: 'patient', name: id, avatar: null, disabled: false }, 10);
      await s.users.upsertUser(T2, { id: 'x', role: 'patient', name: 'x', avatar: null, disabled: false }, 10);
    });
    after(async () => {
      await s.close();
      await cleanup();
    });

    it('kinds: register once, again with the same mode is a no-op, with another mode fails; tenants apart', async () => {
      const r1 = await s.notifications.registerKind(T, 'LAB_RESULT', 'each', 5);
      assert.deepEqual(r1, { kind: { kind: 'LAB_RESULT', mode: 'each', builtin: false, created_at: 5, display_name: null, display_names: {} }, created: true });
      const r2 = await s.notifications.registerKind(T, 'LAB_RESULT', 'each', 6);
      assert.equal(r2.created, false);
      assert.equal(r2.kind.created_at, 5);
      await assert.rejects(s.notifications.registerKind(T, 'LAB_RESULT', 'latest', 7), isCode('notification.kind_exists'));
      assert.equal((await s.notifications.getKind(T, 'LAB_RESULT'))?.mode, 'each');
      assert.equal(await s.notifications.getKind(T2, 'LAB_RESULT'), null);
      await s.notifications.registerKind(T, 'AAA_NEWS', 'latest', 8);
      assert.deepEqual((await s.notifications.listKinds(T)).map((k) => k.kind), ['AAA_NEWS', 'LAB_RESULT']);
      assert.deepEqual(await s.notifications.listKinds(T2), []);
    });

    it('kind names: stored on register, replaced by the same mode again (a name left out stays, null clears), untouched by another mode', async () => {
      const names = { en: 'Vaccine due', 'zh-CN': '疫苗接种提醒' };
      const r1 = await s.notifications.registerKind(T, 'VACCINE_DUE', 'each', 5, { display_name: 'Vaccine due', display_names: names });
      assert.deepEqual(r1, { kind: { kind: 'VACCINE_DUE', mode: 'each', builtin: false, created_at: 5, display_name: 'Vaccine due', display_names: names }, created: true });
      assert.deepEqual(await s.notifications.getKind(T, 'VACCINE_DUE'), r1.kind);
      assert.deepEqual(await s.notifications.registerKind(T, 'VACCINE_DUE', 'each', 6), { kind: r1.kind, created: false });
      const r2 = await s.notifications.registerKind(T, 'VACCINE_DUE', 'each', 7, { display_names: { ru: 'Прививка' } });
      assert.deepEqual(r2, { kind: { ...r1.kind, display_names: { ru: 'Прививка' } }, created: false });
      await assert.rejects(s.notifications.registerKind(T, 'VACCINE_DUE', 'latest', 8, { display_name: 'Other' }), isCode('notification.kind_exists'));
      assert.deepEqual(await s.notifications.getKind(T, 'VACCINE_DUE'), r2.kind);
      const r3 = await s.notifications.registerKind(T, 'VACCINE_DUE', 'each', 9, { display_name: null, display_names: null });
      assert.deepEqual([r3.kind.display_name, r3.kind.display_names, r3.kind.created_at], [null, {}, 5]);
      await s.notifications.registerKind(T, 'VACCINE_DUE', 'each', 10, { display_name: 'Again', display_names: { en: 'Again' } });
      assert.deepEqual((await s.notifications.listKinds(T)).find((k) => k.kind === 'VACCINE_DUE'), {
        kind: 'VACCINE_DUE', mode: 'each', builtin: false, created_at: 5, display_name: 'Again', display_names: { en: 'Again' },
      });
      assert.equal(await s.notifications.getKind(T2, 'VACCINE_DUE'), null);
    });

    it('users target: one row per user, in their inboxes only; an unknown user stores nothing', async () => {
      const n = note('S2C_SIGNED_PUSH', { data: { contract: 7 }, body: 'signed', sender_id: 'b' });
      const r = await send(n, { type: 'users', ids: ['a', 'b'] });
      assert.deepEqual(r.recipients?.sort(), ['a', 'b']);
      assert.equal(r.count, 2);
      assert.deepEqual(r.notification, {
        id: n.id, kind: 'S2C_SIGNED_PUSH', title: n.title, body: 'signed', data: { contract: 7 }, sender_id: 'b',
        audience: 'users', audience_id: null, created_at: n.created_at, read_at: null, seq: r.notification.seq,
      });
      assert.ok(Number.isInteger(r.notification.seq) && r.notification.seq >= 1);
      assert.deepEqual((await s.notifications.inbox(T, 'a', { limit: 10 })).items, [r.notification]);
      assert.equal((await s.notifications.inbox(T, 'c', { limit: 10 })).items.length, 0);
      const headBefore = await s.notifications.head(T, 'a');
      await assert.rejects(send(note('S2C_SIGNED_PUSH'), { type: 'users', ids: ['a', 'ghost'] }), (e: unknown) =>
        isCode('user.not_found')(e) && JSON.stringify((e as AppError).details).includes('ghost'));
      await assert.rejects(send(note('S2C_SIGNED_PUSH'), { type: 'users', ids: ['x'] }), isCode('user.not_found'));
      assert.equal(await s.notifications.head(T, 'a'), headBefore);
      assert.equal((await s.notifications.inbox(T2, 'x', { limit: 10 })).items.length, 0);
    });

    it('teams: put replaces members, unknown members change nothing; sends expand members at that moment', async () => {
      const t1 = await s.teams.putTeam(T, 'team1', 'Team one', ['a', 'b'], 20);
      assert.equal(t1.created, true);
      assert.deepEqual(t1.team, { id: 'team1', name: 'Team one', members: ['a', 'b'], created_at: 20, updated_at: 20 });
      await assert.rejects(s.teams.putTeam(T, 'team1', 'X', ['a', 'ghost'], 21), isCode('user.not_found'));
      await assert.rejects(s.teams.putTeam(T, 'team1', 'X', ['x'], 21), isCode('user.not_found'));
      assert.deepEqual((await s.teams.getTeam(T, 'team1'))?.members, ['a', 'b']);
      assert.equal(await s.teams.getTeam(T2, 'team1'), null);

      const r = await send(note('S2C_RESERVATION_PUSH', { audience: 'team', audience_id: 'team1' }), { type: 'team', id: 'team1' });
      assert.deepEqual(r.recipients?.sort(), ['a', 'b']);
      const t2 = await s.teams.putTeam(T, 'team1', 'Team one', ['b', 'c'], 30);
      assert.equal(t2.created, false);
      assert.equal(t2.team.created_at, 20);
      assert.equal(t2.team.updated_at, 30);
      // c joined later: not a recipient of the earlier notification.
      assert.ok((await s.notifications.inbox(T, 'a', { limit: 10 })).items.some((n) => n.id === r.notification.id));
      assert.ok(!(await s.notifications.inbox(T, 'c', { limit: 10 })).items.some((n) => n.id === r.notification.id));

      await s.teams.putTeam(T, 'empty', 'Empty', [], 31);
      await assert.rejects(send(note('S2C_REMIND_PUSH'), { type: 'team', id: 'empty' }), isCode('notification.target_invalid'));
      await assert.rejects(send(note('S2C_REMIND_PUSH'), { type: 'team', id: 'nope' }), isCode('team.not_found'));
      await s.teams.putTeam(T2, 'other', 'Other', ['x'], 31);
      await assert.rejects(send(note('S2C_REMIND_PUSH'), { type: 'team', id: 'other' }), isCode('team.not_found'));
      assert.equal(await s.teams.deleteTeam(T, 'empty'), true);
      assert.equal(await s.teams.deleteTeam(T, 'empty'), false);
      assert.equal(await s.teams.getTeam(T, 'empty'), null);
    });

    it('tags: set replaces, unknown user fails; a tag target reaches its holders, an unused tag names nobody', async () => {
      assert.deepEqual(await s.teams.setTags(T, 'c', ['diabetes', 'north', 'diabetes'], 40), ['diabetes', 'north']);
      assert.deepEqual(await s.teams.setTags(T, 'd', ['diabetes'], 40), ['diabetes']);
      assert.deepEqual(await s.teams.setTags(T, 'c', ['diabetes'], 41), ['diabetes']);
      assert.deepEqual(await s.teams.getTags(T, 'c'), ['diabetes']);
      await assert.rejects(s.teams.setTags(T, 'ghost', ['x'], 41), isCode('user.not_found'));
      await assert.rejects(s.teams.setTags(T2, 'c', ['x'], 41), isCode('user.not_found'));
      const r = await send(note('S2C_SOCIAL_PUSH', { mode: 'latest', audience: 'tag', audience_id: 'diabetes' }), { type: 'tag', tag: 'diabetes' });
      assert.deepEqual(r.recipients?.sort(), ['c', 'd']);
      await assert.rejects(send(note('S2C_SOCIAL_PUSH'), { type: 'tag', tag: 'north' }), isCode('notification.target_invalid'));
    });

    it('a tenant broadcast is one row: in the inbox of users created before it, read state per user', async () => {
      await s.users.upsertUser(T, { id: 'late', role: 'patient', name: 'late', avatar: null, disabled: false }, 900_000);
      const before = await s.notifications.unread(T, 'a');
      const r = await send(note('S2C_SYSTEM_PUSH', { mode: 'latest', audience: 'tenant', created_at: 500_000 }), { type: 'tenant' });
      assert.equal(r.recipients, null);
      assert.equal(r.count, 5); // a, b, c, d, late — not the system user
      for (const u of ['a', 'b', 'c', 'd']) assert.equal((await s.notifications.inbox(T, u, { limit: 1 })).items[0]?.id, r.notification.id, u);
      assert.ok(!(await s.notifications.inbox(T, 'late', { limit: 10 })).items.some((n) => n.id === r.notification.id));
      assert.equal((await s.notifications.inbox(T2, 'x', { limit: 10 })).items.length, 0);
      assert.equal((await s.notifications.unread(T, 'a')).total, before.total + 1);

      assert.equal(await s.notifications.markRead(T, 'a', { ids: [r.notification.id] }, 600_000), 1);
      assert.equal(await s.notifications.markRead(T, 'a', { ids: [r.notification.id] }, 600_001), 0);
      assert.equal((await s.notifications.inbox(T, 'a', { limit: 1 })).items[0]?.read_at, 600_000);
      assert.equal((await s.notifications.inbox(T, 'b', { limit: 1 })).items[0]?.read_at, null);
      assert.equal((await s.notifications.unread(T, 'a')).total, before.total);
      await assert.rejects(s.notifications.markRead(T, 'late', { ids: [r.notification.id] }, 1), isCode('notification.not_found'));
      await assert.rejects(s.notifications.markRead(T2, 'x', { ids: [r.notification.id] }, 1), isCode('notification.not_found'));

      // The count follows users made, updated, and turned into or out of the system role.
      const count = async () => (await send(note('S2C_SYSTEM_PUSH', { mode: 'latest', audience: 'tenant', created_at: 950_000 }), { type: 'tenant' })).count;
      await s.users.upsertUser(T, { id: 'late', role: 'doctor', name: 'Late', avatar: null, disabled: true }, 900_001);
      assert.equal(await count(), 5);
      await s.users.upsertUser(T, { id: 'late', role: 'system', name: 'Late', avatar: null, disabled: false }, 900_002);
      assert.equal(await count(), 4);
      await s.users.upsertUser(T, { id: 'late', role: 'system', name: 'Late', avatar: null, disabled: false }, 900_003);
      assert.equal(await count(), 4);
      await s.users.upsertUser(T, { id: 'late', role: 'patient', name: 'Late', avatar: null, disabled: false }, 900_004);
      assert.equal(await count(), 5);
      assert.equal((await send(note('S2C_SYSTEM_PUSH', { tenant_id: T2, mode: 'latest', audience: 'tenant', created_at: 950_001 }), { type: 'tenant' })).count, 1);
    });

    it('latest mode: only the newest of the kind is listed and counted; latest per kind covers every kind', async () => {
      await s.users.upsertUser(T, { id: 'e', role: 'patient', name: 'e', avatar: null, disabled: false }, 999_999);
      const e1 = await send(note('S2C_DOCTORMSG_PUSH', { mode: 'latest', created_at: 1_000_001 }), { type: 'users', ids: ['e'] });
      const f1 = await send(note('S2C_FRIENDAPPLY_PUSH', { created_at: 1_000_002 }), { type: 'users', ids: ['e'] });
      const e2 = await send(note('S2C_DOCTORMSG_PUSH', { mode: 'latest', created_at: 1_000_003 }), { type: 'users', ids: ['e'] });
      const f2 = await send(note('S2C_FRIENDAPPLY_PUSH', { created_at: 1_000_004 }), { type: 'users', ids: ['e'] });
      const inbox = await s.notifications.inbox(T, 'e', { limit: 10 });
      assert.deepEqual(inbox.items.map((n) => n.id), [f2, e2, f1].map((r) => r.notification.id));
      assert.deepEqual(await s.notifications.unread(T, 'e'), { total: 3, kinds: { S2C_DOCTORMSG_PUSH: 1, S2C_FRIENDAPPLY_PUSH: 2 } });
      assert.deepEqual((await s.notifications.latestPerKind(T, 'e')).map((n) => n.id), [f2, e2].map((r) => r.notification.id));
      assert.equal(await s.notifications.head(T, 'e'), f2.notification.id);
      // The superseded one is still the user's: it can be marked read (it counts nowhere).
      assert.equal(await s.notifications.markRead(T, 'e', { ids: [e1.notification.id] }, 1), 1);
      assert.equal((await s.notifications.unread(T, 'e')).total, 3);
      assert.equal(await s.notifications.markRead(T, 'e', { kind: 'S2C_DOCTORMSG_PUSH' }, 2), 1);
      assert.deepEqual(await s.notifications.unread(T, 'e'), { total: 2, kinds: { S2C_FRIENDAPPLY_PUSH: 2 } });
    });

    it('inbox paging (newest first), filters, and the catch-up read (oldest first)', async () => {
      await s.users.upsertUser(T, { id: 'p', role: 'patient', name: 'p', avatar: null, disabled: false }, 2_000_000);
      const ids: string[] = [];
      for (let i = 0; i < 7; i++) {
        const kind = i % 2 ? 'LAB_RESULT' : 'S2C_REMIND_PUSH';
        ids.push((await send(note(kind, { created_at: 2_000_001 + i }), { type: 'users', ids: ['p'] })).notification.id);
      }
      const seen: string[] = [];
      let before: string | undefined;
      do {
        const page = await s.notifications.inbox(T, 'p', { limit: 3, ...(before ? { before } : {}) });
        seen.push(...page.items.map((n) => n.id));
        before = page.next_cursor ?? undefined;
      } while (before);
      assert.deepEqual(seen, [...ids].reverse());
      assert.deepEqual((await s.notifications.inbox(T, 'p', { limit: 10, kind: 'LAB_RESULT' })).items.map((n) => n.id), [ids[5], ids[3], ids[1]]);
      await s.notifications.markRead(T, 'p', { ids: [ids[6]!, ids[0]!] }, 3);
      assert.deepEqual((await s.notifications.inbox(T, 'p', { limit: 10, unread: true })).items.map((n) => n.id), ids.slice(1, 6).reverse());
      assert.deepEqual((await s.notifications.inboxAfter(T, 'p', { after: ids[3]!, limit: 10 })).map((n) => n.id), ids.slice(4));
      assert.deepEqual((await s.notifications.inboxAfter(T, 'p', { after: ids[3]!, limit: 2 })).map((n) => n.id), ids.slice(4, 6));
      assert.deepEqual((await s.notifications.inboxAfter(T, 'p', { unread: true, limit: 10 })).map((n) => n.id), ids.slice(1, 6));
      assert.deepEqual((await s.notifications.inboxAfter(T, 'p', { limit: 10 })).map((n) => n.id), ids);
    });

    it('mark read: unknown ids change nothing; by kind; all (broadcasts included)', async () => {
      await s.users.upsertUser(T, { id: 'q', role: 'patient', name: 'q', avatar: null, disabled: false }, 3_000_000);
      const a1 = await send(note('S2C_REMIND_PUSH', { created_at: 3_000_001 }), { type: 'users', ids: ['q'] });
      await send(note('LAB_RESULT', { created_at: 3_000_002 }), { type: 'users', ids: ['q'] });
      await send(note('S2C_UNSIGNED_PUSH', { audience: 'tenant', created_at: 3_000_003 }), { type: 'tenant' });
      assert.equal((await s.notifications.unread(T, 'q')).total, 3);
      await assert.rejects(s.notifications.markRead(T, 'q', { ids: [a1.notification.id, 'N-nope'] }, 5), (e: unknown) =>
        isCode('notification.not_found')(e) && JSON.stringify((e as AppError).details).includes('N-nope'));
      assert.equal((await s.notifications.unread(T, 'q')).total, 3);
      assert.equal(await s.notifications.markRead(T, 'q', { kind: 'LAB_RESULT' }, 6), 1);
      assert.equal(await s.notifications.markRead(T, 'q', { all: true }, 7), 2);
      assert.equal(await s.notifications.markRead(T, 'q', { all: true }, 8), 0);
      assert.deepEqual(await s.notifications.unread(T, 'q'), { total: 0, kinds: {} });
      // Another user's state did not move.
      assert.ok((await s.notifications.unread(T, 'a')).total > 0);
    });

    describe('order across writers: seq and ids in commit order per tenant', () => {
      const S1 = 'tenant-seq-1';
      const S2 = 'tenant-seq-2';
      /** ULID-shaped ids (26 Crockford base32 characters), as the domain makes them. */
      const ulid = (n: number) => `01J${String(n).padStart(23, '0')}`;
      const make = (tenant: string, id: string, over: Partial<NewNotification> = {}): NewNotification => ({
        tenant_id: tenant, id, kind: 'S2C_REMIND_PUSH', mode: 'each', title: `t-${id}`, body: null, data: null, sender_id: null,
        audience: 'users', audience_id: null, created_by: 'app', created_at: 7000, ...over,
      });
      const toUser = (tenant: string, id: string, user = 'a') => send(make(tenant, id), { type: 'users', ids: [user] });
      const toAll = (tenant: string, id: string) => send(make(tenant, id, { audience: 'tenant' }), { type: 'tenant' });

      before(async () => {
        for (const t of [S1, S2]) {
          await s.tenants.createTenant({ id: t, name: t, created_at: 1 });
          for (const u of ['a', 'b']) await s.users.upsertUser(t, { id: u, role: 'patient', name: u, avatar: null, disabled: false }, 10);
        }
      });

      it('seq is 1, 2, 3… per tenant, independent of other tenants; ids increase with seq; failed creates take no seq', async () => {
        const got: { t: string; seq: number; id: string }[] = [];
        for (let i = 1; i <= 3; i++) {
          const r1 = await toUser(S1, ulid(10 * i));
          got.push({ t: S1, seq: r1.notification.seq, id: r1.notification.id });
          if (i === 2) {
            // A create that fails stores nothing and leaves no hole.
            await assert.rejects(send(make(S1, ulid(25)), { type: 'users', ids: ['ghost'] }), isCode('user.not_found'));
          }
        }
        const r2 = await toAll(S2, ulid(15));
        const r3 = await toAll(S1, ulid(40));
        assert.deepEqual(got.map((g) => g.seq), [1, 2, 3]);
        assert.deepEqual(got.map((g) => g.id), [ulid(10), ulid(20), ulid(30)], 'an id greater than the newest is kept');
        assert.equal(r3.notification.seq, 4);
        assert.equal(r3.notification.id, ulid(40));
        assert.equal(r2.notification.seq, 1, 'another tenant counts on its own');
        assert.equal(r2.notification.id, ulid(15));
      });

      it('an id not greater than the tenant\'s newest is replaced by one greater than it; the stored id is the one returned', async () => {
        const newest = (await s.notifications.since(S1, 0, 100)).at(-1)!.notification;
        const smaller = await toUser(S1, ulid(1), 'b');
        assert.equal(smaller.notification.seq, newest.seq + 1);
        assert.ok(smaller.notification.id > newest.id, `${smaller.notification.id} > ${newest.id}`);
        assert.equal(smaller.notification.id.length, 26, 'still a ULID');
        const same = await toUser(S1, smaller.notification.id, 'b');
        assert.equal(same.notification.seq, newest.seq + 2);
        assert.ok(same.notification.id > smaller.notification.id);
        // What was returned is what is stored: in the inbox, readable, and in `since`.
        const inbox = await s.notifications.inbox(S1, 'b', { limit: 10 });
        assert.deepEqual(inbox.items.map((n) => [n.id, n.seq]), [[same.notification.id, same.notification.seq], [smaller.notification.id, smaller.notification.seq], [ulid(40), 4]]);
        assert.equal(await s.notifications.head(S1, 'b'), same.notification.id);
        assert.equal(await s.notifications.markRead(S1, 'b', { ids: [smaller.notification.id] }, 8000), 1);
        // Another tenant's newest id does not matter: smaller than S1's newest, greater than S2's.
        const other = await toUser(S2, ulid(16));
        assert.ok(other.notification.id < same.notification.id);
        assert.deepEqual([other.notification.id, other.notification.seq], [ulid(16), 2]);
        // Over all of the tenant's notifications, ids follow seq.
        const all = (await s.notifications.since(S1, 0, 100)).map((x) => x.notification);
        assert.deepEqual(all.map((n) => n.seq), all.map((_, i) => i + 1));
        assert.deepEqual(all.map((n) => n.id), [...all.map((n) => n.id)].sort());
        assert.equal(new Set(all.map((n) => n.id)).size, all.length);
      });

      it('since: after a seq, ascending, with recipients (null for a broadcast), limit respected, the tenant\'s only', async () => {
        const all = await s.notifications.since(S1, 0, 100);
        assert.deepEqual(all.map((x) => x.notification.seq), [1, 2, 3, 4, 5, 6]);
        assert.deepEqual(all.map((x) => x.recipients), [['a'], ['a'], ['a'], null, ['b'], ['b']]);
        const first = all[0]!.notification;
        assert.deepEqual(first, {
          id: ulid(10), kind: 'S2C_REMIND_PUSH', title: `t-${ulid(10)}`, body: null, data: null, sender_id: null,
          audience: 'users', audience_id: null, created_at: 7000, read_at: null, seq: 1,
        });
        assert.deepEqual((await s.notifications.since(S1, 2, 2)).map((x) => x.notification.seq), [3, 4]);
        assert.deepEqual((await s.notifications.since(S1, 5, 10)).map((x) => x.notification.seq), [6]);
        assert.deepEqual(await s.notifications.since(S1, 6, 10), []);
        assert.deepEqual(await s.notifications.since(S1, 0, 0), []);
        assert.deepEqual(await s.notifications.since(S1, 0, -1), []);
        assert.deepEqual((await s.notifications.since(S2, 0, 10)).map((x) => [x.notification.seq, x.notification.id, x.recipients]), [[1, ulid(15), null], [2, ulid(16), ['a']]]);
        assert.deepEqual(await s.notifications.since('tenant-none', 0, 10), []);
        // Team and tag targets list the users they reached.
        await s.teams.putTeam(S2, 'tm', 'Team', ['a', 'b'], 20);
        await send(make(S2, ulid(50), { audience: 'team', audience_id: 'tm' }), { type: 'team', id: 'tm' });
        const [team] = await s.notifications.since(S2, 2, 10);
        assert.deepEqual([team!.notification.seq, [...team!.recipients!].sort()], [3, ['a', 'b']]);
      });
    });

    it('settings: defaults, update, tenants apart', async () => {
      assert.deepEqual(await s.settings.get(T), { connection_policy: 'notify', patient_to_patient: false, updated_at: null });
      assert.deepEqual(await s.settings.update(T, { connection_policy: 'kick' }, 50), { connection_policy: 'kick', patient_to_patient: false, updated_at: 50 });
      assert.deepEqual(await s.settings.update(T, {}, 51), { connection_policy: 'kick', patient_to_patient: false, updated_at: 51 });
      assert.equal((await s.settings.get(T)).connection_policy, 'kick');
      assert.equal((await s.settings.get(T2)).connection_policy, 'notify');
      // Each setting is kept when another one changes.
      assert.deepEqual(await s.settings.update(T, { patient_to_patient: true }, 52), { connection_policy: 'kick', patient_to_patient: true, updated_at: 52 });
      assert.deepEqual(await s.settings.get(T), { connection_policy: 'kick', patient_to_patient: true, updated_at: 52 });
      assert.equal((await s.settings.update(T, { connection_policy: 'allow_many' }, 53)).patient_to_patient, true);
      assert.equal((await s.settings.get(T)).connection_policy, 'allow_many');
      assert.equal((await s.settings.get(T2)).patient_to_patient, false);
      // A first update that names no policy stores the default.
      assert.deepEqual(await s.settings.update(T2, {}, 54), { connection_policy: 'notify', patient_to_patient: false, updated_at: 54 });
      assert.equal((await s.settings.get(T2)).connection_policy, 'notify');
    });
  });
}
