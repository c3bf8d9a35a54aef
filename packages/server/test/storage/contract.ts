/**
 * The storage contract: every backend runs these same tests. A backend's test file calls
 * `storageContract(name, open)` with a function that opens a fresh, empty, migrated storage.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Storage } from '../../src/domain/ports.ts';
import type { NewMessage } from '../../src/domain/types.ts';
import { AppError } from '../../src/domain/errors.ts';
import { notificationStorageContract } from './notifications-contract.ts';
import { auditHash, GENESIS_HASH, verifyAuditChain } from '../../src/domain/audit.ts';

export type OpenStorage = () => Promise<{ storage: Storage; cleanup: () => Promise<void> }>;

let n = 0;
const uid = (p: string) => `${p}${++n}`;

function msg(tenant: string, conv: string, sender: string, text: string, client: string | null = null, at = Date.now()): NewMessage {
  return {
    tenant_id: tenant, conversation_id: conv, id: uid('m').padStart(26, '0'), sender_id: sender, type: 1,
    content: { text }, content_json: JSON.stringify({ text }), client_id: client, created_at: at, forward: null,
  };
}

export function storageContract(name: string, open: OpenStorage): void {
  describe(`storage contract: ${name}`, () => {
    let s: Storage;
    let cleanup: () => Promise<void>;
    const T = 'tenant-a';
    const T2 = 'tenant-b';

    before(async () => {
      ({ storage: s, cleanup } = await open());
      await s.tenants.createTenant({ id: T, name: 'A', created_at: 1 });
      await s.tenants.createTenant({ id: T2, name: 'B', created_at: 1 });
      for (const [t, id, role] of [[T, 'doc', 'doctor'], [T, 'pat', 'patient'], [T, 'nurse', 'staff'], [T2, 'doc', 'doctor']] as const) {
        await s.users.upsertUser(t, { id, role, name: id.toUpperCase(), avatar: null, disabled: false }, 10);
      }
    });
    after(async () => {
      await s.close();
      await cleanup();
    });

    it('tenants: create once, the system user comes with it, a second create fails', async () => {
      assert.deepEqual(await s.tenants.getTenant(T), { id: T, name: 'A', created_at: 1 });
      assert.equal((await s.users.getUser(T, 'system'))?.role, 'system');
      await assert.rejects(s.tenants.createTenant({ id: T, name: 'again', created_at: 2 }), (e: unknown) => e instanceof AppError && e.code === 'tenant.exists');
      assert.equal(await s.tenants.getTenant('nope'), null);
    });

    it('apps: found by key hash; revoke is once', async () => {
      await s.tenants.createApp({ id: 'app1', tenant_id: T, name: 'x', key_hash: 'h1', created_at: 5, revoked_at: null });
      assert.equal((await s.tenants.findAppByKeyHash('h1'))?.id, 'app1');
      assert.equal(await s.tenants.findAppByKeyHash('h2'), null);
      assert.equal(await s.tenants.revokeApp(T, 'app1', 6), true);
      assert.equal(await s.tenants.revokeApp(T, 'app1', 7), false);
      assert.equal(await s.tenants.revokeApp(T2, 'app1', 7), false);
      assert.equal((await s.tenants.findAppByKeyHash('h1'))?.revoked_at, 6);
    });

    it('users: upsert creates then updates; tenants are apart', async () => {
      const a = await s.users.upsertUser(T, { id: 'u1', role: 'patient', name: 'One', avatar: null, disabled: false }, 100);
      assert.equal(a.created, true);
      const b = await s.users.upsertUser(T, { id: 'u1', role: 'patient', name: 'Uno', avatar: 'http://a/x.png', disabled: true }, 200);
      assert.equal(b.created, false);
      assert.deepEqual(b.user, { id: 'u1', role: 'patient', name: 'Uno', avatar: 'http://a/x.png', disabled: true, created_at: 100, updated_at: 200 });
      assert.equal(await s.users.getUser(T2, 'u1'), null);
      const many = await s.users.getUsers(T, ['doc', 'pat', 'ghost']);
      assert.deepEqual(many.map((u) => u.id).sort(), ['doc', 'pat']);
      assert.deepEqual(await s.users.getUsers(T, []), []);
    });

    it('users: listed in id order, paged after an id, filtered by role and disabled; not the system user, not another tenant\'s', async () => {
      const L = 'tenant-list';
      await s.tenants.createTenant({ id: L, name: 'L', created_at: 1 });
      const rows = [['d2', 'doctor', false], ['p1', 'patient', false], ['d1', 'doctor', true], ['s1', 'staff', false], ['p2', 'patient', true]] as const;
      for (const [id, role, disabled] of rows) await s.users.upsertUser(L, { id, role, name: id, avatar: null, disabled }, 50);
      await s.users.upsertUser(T2, { id: 'c0', role: 'doctor', name: 'elsewhere', avatar: null, disabled: false }, 50);
      const ids = async (q: Parameters<typeof s.users.listUsers>[1]) => (await s.users.listUsers(L, q)).map((u) => u.id);
      assert.deepEqual(await ids({ limit: 10 }), ['d1', 'd2', 'p1', 'p2', 's1']);
      assert.deepEqual(await ids({ limit: 2 }), ['d1', 'd2']);
      assert.deepEqual(await ids({ limit: 2, after: 'd2' }), ['p1', 'p2']);
      assert.deepEqual(await ids({ limit: 2, after: 'p2' }), ['s1']);
      assert.deepEqual(await ids({ limit: 2, after: 's1' }), []);
      assert.deepEqual(await ids({ limit: 10, after: 'e' }), ['p1', 'p2', 's1'], 'after need not be an existing id');
      assert.deepEqual(await ids({ limit: 10, role: 'doctor' }), ['d1', 'd2']);
      assert.deepEqual(await ids({ limit: 1, role: 'patient', after: 'p1' }), ['p2']);
      assert.deepEqual(await ids({ limit: 10, disabled: true }), ['d1', 'p2']);
      assert.deepEqual(await ids({ limit: 10, disabled: false, role: 'doctor' }), ['d2']);
      assert.deepEqual(await ids({ limit: 10, role: 'system' }), [], 'the built-in system user is not listed');
      assert.deepEqual((await s.users.listUsers(L, { limit: 1, after: 's' }))[0], await s.users.getUser(L, 's1'));
    });

    it('login sessions: create, read, revoke once', async () => {
      await s.sessions.createSession({ id: 'sess1', tenant_id: T, user_id: 'doc', platform: 'web', device_id: null, created_at: 1, expires_at: 99, revoked_at: null });
      assert.equal((await s.sessions.getSession('sess1'))?.user_id, 'doc');
      assert.equal(await s.sessions.revokeSession('sess1', 5), true);
      assert.equal(await s.sessions.revokeSession('sess1', 6), false);
      assert.equal((await s.sessions.getSession('sess1'))?.revoked_at, 5);
      assert.equal(await s.sessions.getSession('none'), null);
      const both = await s.sessions.getSessionWithUser('sess1');
      assert.deepEqual(both?.session, await s.sessions.getSession('sess1'));
      assert.deepEqual(both?.user, await s.users.getUser(T, 'doc'));
      assert.equal(await s.sessions.getSessionWithUser('none'), null);
      await s.sessions.createSession({ id: 'sess-ghost', tenant_id: T, user_id: 'nobody', platform: null, device_id: null, created_at: 1, expires_at: 99, revoked_at: null });
      assert.deepEqual(await s.sessions.getSessionWithUser('sess-ghost'), { session: await s.sessions.getSession('sess-ghost'), user: null });
    });

    it('login sessions: pruning deletes those expired or revoked before a time, in bounded batches, and nothing else', async () => {
      const mk = (id: string, expires_at: number, revoked_at: number | null) =>
        s.sessions.createSession({ id, tenant_id: T, user_id: 'pat', platform: null, device_id: null, created_at: 1, expires_at, revoked_at });
      // Sessions of earlier tests end before 1000: out of the way first.
      while ((await s.sessions.pruneSessions(1000, 100)) > 0);
      await mk('p-expired-1', 1000, null);
      await mk('p-expired-2', 1500, null);
      await mk('p-expired-3', 1999, null);
      await mk('p-revoked-old', 50_000, 1200);
      await mk('p-revoked-new', 50_000, 2500);
      await mk('p-live', 50_000, null);
      await mk('p-expires-at-cutoff', 2000, null);
      assert.equal(await s.sessions.pruneSessions(2000, 3), 3, 'a batch stops at its limit');
      assert.equal(await s.sessions.pruneSessions(2000, 3), 1, 'the rest');
      assert.equal(await s.sessions.pruneSessions(2000, 3), 0, 'nothing left before the cut-off');
      for (const gone of ['p-expired-1', 'p-expired-2', 'p-expired-3', 'p-revoked-old']) assert.equal(await s.sessions.getSession(gone), null, gone);
      for (const kept of ['p-revoked-new', 'p-live', 'p-expires-at-cutoff']) assert.equal((await s.sessions.getSession(kept))?.id, kept, kept);
    });

    it('conversations: create is idempotent and atomic with participants', async () => {
      const input = {
        tenant_id: T, id: 'c1', type: 2, business_type: 2, name: 'c one', status: 0, created_by: 'doc',
        participants: [{ user_id: 'doc', role: 'doctor' }, { user_id: 'pat', role: 'patient' }],
      };
      const a = await s.conversations.createConversation(input, 1000);
      assert.equal(a.created, true);
      assert.equal(a.conversation.last_seq, 0);
      const b = await s.conversations.createConversation({ ...input, name: 'other' }, 2000);
      assert.equal(b.created, false);
      assert.equal(b.conversation.name, 'c one');
      assert.deepEqual((await s.conversations.memberIds(T, 'c1')).sort(), ['doc', 'pat']);
      assert.equal(await s.conversations.getConversation(T2, 'c1'), null);
      const parts = await s.conversations.getParticipants(T, 'c1');
      assert.deepEqual(parts.map((p) => [p.user_id, p.role, p.name, p.user_role]).sort(), [['doc', 'doctor', 'DOC', 'doctor'], ['pat', 'patient', 'PAT', 'patient']]);
    });

    it('messages: seq per conversation with no gaps, sender cursor moves, durable in order', async () => {
      const res = await s.messages.append([msg(T, 'c1', 'doc', 'a'), msg(T, 'c1', 'pat', 'b'), msg(T, 'c1', 'doc', 'c')]);
      assert.deepEqual(res.map((r) => r.ok && r.message.seq), [1, 2, 3]);
      assert.equal((await s.conversations.getConversation(T, 'c1'))?.last_seq, 3);
      const view = await s.conversations.viewForUser(T, 'doc', 'c1');
      assert.equal(view?.read_seq, 3);
      assert.equal(view?.unread, 0);
      const pview = await s.conversations.viewForUser(T, 'pat', 'c1');
      assert.equal(pview?.read_seq, 2);
      assert.equal(pview?.unread, 1);
      assert.equal(pview?.last_message?.content?.text, 'c');
    });

    it('messages: a client id is stored once; the same id elsewhere is a conflict; unknown conversation fails alone', async () => {
      const [first] = await s.messages.append([msg(T, 'c1', 'pat', 'once', 'cid-1')]);
      assert.ok(first?.ok && !first.duplicate);
      const res = await s.messages.append([
        msg(T, 'c1', 'pat', 'twice', 'cid-1'),
        msg(T, 'nope', 'pat', 'x'),
        msg(T, 'c1', 'doc', 'same cid other sender', 'cid-1'),
        msg(T, 'c1', 'pat', 'in-batch', 'cid-2'),
        msg(T, 'c1', 'pat', 'in-batch again', 'cid-2'),
      ]);
      assert.ok(res[0]?.ok && res[0].duplicate && res[0].message.id === first.message.id && res[0].message.content?.text === 'once');
      assert.deepEqual(res[1], { ok: false, code: 'conversation.not_found' });
      assert.ok(res[2]?.ok && !res[2].duplicate);
      assert.ok(res[3]?.ok && !res[3].duplicate);
      assert.ok(res[4]?.ok && res[4].duplicate && res[4].message.seq === (res[3] as { message: { seq: number } }).message.seq);
      // An unknown conversation in a batch with nothing stored before (no resend in it).
      const alone = await s.messages.append([msg(T, 'nope', 'pat', 'x', 'cid-nope'), msg(T, 'c1', 'pat', 'beside it', 'cid-3'), msg(T, 'nope2', 'doc', 'y')]);
      assert.deepEqual([alone[0], alone[2]], [{ ok: false, code: 'conversation.not_found' }, { ok: false, code: 'conversation.not_found' }]);
      assert.ok(alone[1]?.ok && !alone[1].duplicate && alone[1].message.seq === (res[3] as { message: { seq: number } }).message.seq + 1);
      assert.equal(await s.messages.getById(T, 'nope', (alone[1] as { message: { id: string } }).message.id), null);
      await s.conversations.createConversation({ tenant_id: T, id: 'c2', type: 2, business_type: 2, name: '', status: 0, created_by: 'x', participants: [{ user_id: 'pat', role: 'm' }] }, 1);
      const [conflict] = await s.messages.append([msg(T, 'c2', 'pat', 'moved', 'cid-1')]);
      assert.deepEqual(conflict, { ok: false, code: 'message.client_id_conflict' });
      const all = await s.messages.history(T, 'c1', { limit: 100 });
      assert.deepEqual(all.map((m) => m.seq), all.map((_, i) => i + 1));
    });

    it('history: newest page, before and after, ascending, bounded', async () => {
      await s.conversations.createConversation({ tenant_id: T, id: 'h', type: 2, business_type: 1, name: '', status: 0, created_by: 'x', participants: [{ user_id: 'doc', role: 'm' }] }, 1);
      await s.messages.append(Array.from({ length: 25 }, (_, i) => msg(T, 'h', 'doc', `m${i + 1}`)));
      assert.deepEqual((await s.messages.history(T, 'h', { limit: 5 })).map((m) => m.seq), [21, 22, 23, 24, 25]);
      assert.deepEqual((await s.messages.history(T, 'h', { before: 21, limit: 5 })).map((m) => m.seq), [16, 17, 18, 19, 20]);
      assert.deepEqual((await s.messages.history(T, 'h', { after: 0, limit: 3 })).map((m) => m.seq), [1, 2, 3]);
      assert.deepEqual((await s.messages.history(T, 'h', { after: 23, limit: 10 })).map((m) => m.seq), [24, 25]);
      assert.deepEqual((await s.messages.history(T, 'h', { after: 5, before: 9, limit: 10 })).map((m) => m.seq), [6, 7, 8]);
      assert.deepEqual(await s.messages.history(T2, 'h', { limit: 5 }), []);
      const one = (await s.messages.history(T, 'h', { after: 9, limit: 1 }))[0]!;
      assert.deepEqual(await s.messages.getById(T, 'h', one.id), one);
      assert.equal(await s.messages.getById(T, 'c1', one.id), null);
      assert.equal(await s.messages.getById(T2, 'h', one.id), null);
    });

    it('recall: tombstone at the same seq and a notice after, atomically; once', async () => {
      const [r] = await s.messages.append([msg(T, 'h', 'doc', 'oops')]);
      assert.ok(r?.ok);
      const noticeContent = { event: 'message.recalled', data: { message_id: r.message.id } };
      const notice = { ...msg(T, 'h', 'doc', ''), type: 0, content: noticeContent, content_json: JSON.stringify(noticeContent) };
      const out = await s.messages.recall(T, 'h', r.message.id, 777, notice);
      assert.ok(out);
      assert.equal(out.recalled.seq, r.message.seq);
      assert.equal(out.recalled.content, null);
      assert.equal(out.recalled.recalled_at, 777);
      assert.equal(out.notice.seq, r.message.seq + 1);
      assert.equal(await s.messages.recall(T, 'h', r.message.id, 778, { ...notice, id: 'other-notice-id-000000000' }), null);
      assert.equal((await s.conversations.getConversation(T, 'h'))?.last_seq, r.message.seq + 1);
    });

    it('participants: remove then add atomically; added users join at the head', async () => {
      await s.conversations.createConversation({ tenant_id: T, id: 'p', type: 3, business_type: 1, name: '', status: 0, created_by: 'x', participants: [{ user_id: 'doc', role: 'm' }] }, 1);
      await s.messages.append([msg(T, 'p', 'doc', '1'), msg(T, 'p', 'doc', '2')]);
      const ch = await s.conversations.changeParticipants(T, 'p', { add: [{ user_id: 'nurse', role: 'helper' }, { user_id: 'doc', role: 'lead' }], remove: ['ghost'] }, 50);
      assert.deepEqual(ch, { added: ['nurse'], removed: [] });
      const nurse = (await s.conversations.memberships(T, 'nurse')).find((m) => m.id === 'p');
      assert.deepEqual(nurse && [nurse.joined_seq, nurse.read_seq, nurse.last_seq, nurse.joined_at], [2, 2, 2, 50]);
      assert.equal((await s.conversations.getParticipants(T, 'p', ['doc']))[0]?.role, 'lead');
      const rm = await s.conversations.changeParticipants(T, 'p', { add: [], remove: ['doc'] }, 60);
      assert.deepEqual(rm, { added: [], removed: ['doc'] });
      assert.deepEqual(await s.conversations.memberIds(T, 'p'), ['nurse']);
      assert.equal(await s.conversations.viewForUser(T, 'doc', 'p'), null);
    });

    it('read cursor: only forward, never past the head, read by key, null for non-participants', async () => {
      assert.equal(await s.conversations.advanceRead(T, 'h', 'doc', 3), 27); // the sender (of the recall notice too) already read everything it sent
      await s.conversations.createConversation({ tenant_id: T, id: 'r', type: 2, business_type: 2, name: '', status: 0, created_by: 'x', participants: [{ user_id: 'doc', role: 'm' }, { user_id: 'pat', role: 'm' }] }, 1);
      await s.messages.append([msg(T, 'r', 'doc', '1'), msg(T, 'r', 'doc', '2'), msg(T, 'r', 'doc', '3')]);
      /** A user's read cursor as the port gives it (null: not a participant). */
      const cursor = async (t: string, c: string, u: string) => (await s.conversations.getParticipants(t, c, [u]))[0]?.read_seq ?? null;
      assert.equal(await cursor(T, 'r', 'pat'), 0);
      assert.equal(await cursor(T, 'r', 'doc'), 3, 'a sender has read what it sent');
      assert.equal(await s.conversations.advanceRead(T, 'r', 'pat', 2), 2);
      assert.equal(await cursor(T, 'r', 'pat'), 2);
      assert.equal(await s.conversations.advanceRead(T, 'r', 'pat', 1), 2);
      assert.equal(await s.conversations.advanceRead(T, 'r', 'pat', 999), 3);
      assert.equal(await s.conversations.advanceRead(T, 'r', 'nurse', 1), null);
      assert.equal(await s.conversations.advanceRead(T2, 'r', 'pat', 1), null);
      assert.equal(await cursor(T, 'r', 'nurse'), null);
      assert.equal(await cursor(T2, 'r', 'pat'), null, 'another tenant\'s conversation of the same id');
      assert.equal(await cursor(T, 'nope', 'pat'), null);
    });

    it('lists: sticky first, then newest activity; cursor pages see each once; filters and counts', async () => {
      const U = 'lister';
      await s.users.upsertUser(T, { id: U, role: 'doctor', name: 'L', avatar: null, disabled: false }, 1);
      for (let i = 0; i < 7; i++) {
        await s.conversations.createConversation(
          { tenant_id: T, id: `l${i}`, type: i % 2 ? 1 : 2, business_type: i % 2 ? 2 : 1, name: `L${i}`, status: 0, created_by: U, participants: [{ user_id: U, role: 'm' }] },
          1000 + i,
        );
      }
      await s.messages.append([msg(T, 'l2', U, 'newest', null, 5000)]);
      await s.conversations.setSticky(T, 'l0', U, true, 6000);
      const ids: string[] = [];
      let cursor: string | undefined;
      do {
        const page = await s.conversations.listForUser(T, U, { limit: 3, ...(cursor ? { cursor } : {}) });
        ids.push(...page.items.map((v) => v.id));
        cursor = page.next_cursor ?? undefined;
      } while (cursor);
      assert.deepEqual(ids, ['l0', 'l2', 'l6', 'l5', 'l4', 'l3', 'l1']);
      const sticky = await s.conversations.listForUser(T, U, { limit: 1 });
      assert.equal(sticky.items[0]?.sticky, true);
      assert.equal(await s.conversations.countForUser(T, U, { type: 1 }), 3);
      assert.equal(await s.conversations.countForUser(T, U, { business_type: 1 }), 4);
      assert.deepEqual((await s.conversations.listForUser(T, U, { limit: 10, type: 1 })).items.map((v) => v.id), ['l5', 'l3', 'l1']);
      assert.equal(await s.conversations.setSticky(T, 'l0', 'ghost', true, 1), false);
      await assert.rejects(s.conversations.listForUser(T, U, { limit: 10, cursor: 'garbage' }), (e: unknown) => e instanceof AppError && e.code === 'request.invalid');
    });

    it('update: name and status; unknown is null', async () => {
      const c = await s.conversations.updateConversation(T, 'c1', { name: 'renamed', status: 10 }, 9999);
      assert.equal(c?.name, 'renamed');
      assert.equal(c?.status, 10);
      assert.equal(c?.updated_at, 9999);
      assert.equal(await s.conversations.updateConversation(T2, 'c1', { name: 'x' }, 1), null);
    });

    it('audit: appended in order, queried by conversation, actor, app, time and cursor, per tenant', async () => {
      await s.audit.append([
        { tenant_id: T, at: 100, actor_kind: 'user', actor_id: 'doc', app_id: null, action: 'messages.history', conversation_id: 'c1', detail: { before: 10 } },
        { tenant_id: T, at: 200, actor_kind: 'app', actor_id: 'app:x', app_id: 'x', action: 'messages.get', conversation_id: 'c1', detail: null },
        { tenant_id: T, at: 300, actor_kind: 'user', actor_id: 'doc', app_id: 'x', action: 'messages.history', conversation_id: 'h', detail: null },
        { tenant_id: T2, at: 300, actor_kind: 'user', actor_id: 'doc', app_id: null, action: 'messages.history', conversation_id: 'c1', detail: null },
      ]);
      await s.audit.append([]);
      const byConv = await s.audit.query(T, { conversation_id: 'c1', limit: 10 });
      assert.deepEqual(byConv.map((r) => [r.actor_id, r.app_id, r.at, r.detail]), [['doc', null, 100, { before: 10 }], ['app:x', 'x', 200, null]]);
      assert.deepEqual((await s.audit.query(T, { actor_id: 'doc', limit: 10 })).map((r) => r.conversation_id), ['c1', 'h']);
      assert.deepEqual((await s.audit.query(T, { app_id: 'x', limit: 10 })).map((r) => r.at), [200, 300]);
      assert.deepEqual((await s.audit.query(T, { since: 150, until: 300, limit: 10 })).map((r) => r.at), [200]);
      const first = await s.audit.query(T, { limit: 1 });
      assert.deepEqual((await s.audit.query(T, { after_id: first[0]!.id, limit: 10 })).map((r) => r.at), [200, 300]);
      assert.equal((await s.audit.query(T2, { limit: 10 })).length, 1);
    });

    it('audit: each tenant\'s records form a hash chain, seq 1, 2, 3…, computed as they are appended', async () => {
      const A = 'chain-a';
      const B = 'chain-b';
      const e = (tenant: string, at: number, actor = 'doc') =>
        ({ tenant_id: tenant, at, actor_kind: 'user' as const, actor_id: actor, app_id: null, action: 'sessions.get', conversation_id: 'c', detail: { last_message_id: null, n: at } });
      assert.equal(await s.audit.head(A), null);
      await s.audit.append([e(A, 1), e(B, 1), e(A, 2)]);
      await Promise.all([s.audit.append([e(A, 3)]), s.audit.append([e(B, 2), e(A, 4)])]);
      const a = await s.audit.chain(A, { after_seq: 0, limit: 10 });
      assert.deepEqual(a.map((r) => [r.seq, r.at]), [[1, 1], [2, 2], [3, 3], [4, 4]]);
      assert.equal(a[0]!.prev_hash, GENESIS_HASH);
      for (let i = 1; i < a.length; i++) assert.equal(a[i]!.prev_hash, a[i - 1]!.hash);
      for (const r of a) assert.equal(r.hash, auditHash(r), `seq ${r.seq}`);
      assert.equal(new Set(a.map((r) => r.hash)).size, 4);
      assert.deepEqual((await s.audit.chain(B, { after_seq: 0, limit: 10 })).map((r) => r.seq), [1, 2]);
      assert.deepEqual((await s.audit.chain(A, { after_seq: 2, limit: 1 })).map((r) => r.seq), [3]);
      assert.deepEqual(await s.audit.head(A), { seq: 4, hash: a[3]!.hash });
      assert.ok((await s.audit.tenants()).includes(B));
      assert.equal(await s.audit.unchained(A), 0);
      const report = await verifyAuditChain(s.audit, A);
      assert.deepEqual(report, { tenant_id: A, ok: true, records: 4, head: { seq: 4, hash: a[3]!.hash }, broken: null });
      // A record's fields are all in its hash: the same entry at another time, or by another actor, hashes apart.
      assert.notEqual(auditHash({ ...a[1]!, actor_id: 'other' }), a[1]!.hash);
      assert.notEqual(auditHash({ ...a[1]!, detail: { last_message_id: 'm', n: 2 } }), a[1]!.hash);
    });

    it('topics: start is atomic with its message and idempotent; one open topic per session', async () => {
      await s.conversations.createConversation({ tenant_id: T, id: 'tp', type: 1, business_type: 2, name: '', status: 0, created_by: 'x', participants: [{ user_id: 'doc', role: 'm' }, { user_id: 'pat', role: 'm' }] }, 1);
      const topic = (id: string, at: number) => ({ id, session_id: 'tp', name: id, description: null, patient_id: 'pat', team_id: 'team1', doctor_id: 'doc', consult_type: '1', created_at: at, created_by: 'pat' });
      const startMsg = () => ({ ...msg(T, 'tp', 'system', 'start'), type: 6 });
      const a = await s.topics.start(T, topic('k1', 1000), startMsg());
      assert.ok(a.created && a.message);
      assert.deepEqual([a.topic.status, a.topic.reply, a.topic.start_seq, a.topic.start_message_id], [0, 0, a.message.seq, a.message.id]);
      assert.equal((await s.conversations.getConversation(T, 'tp'))?.status, 1);
      const again = await s.topics.start(T, topic('k1', 2000), startMsg());
      assert.deepEqual([again.created, again.message, again.topic.created_at], [false, null, 1000]);
      await assert.rejects(s.topics.start(T, topic('k2', 3000), startMsg()), (e: unknown) => e instanceof AppError && e.code === 'topic.already_open');
      await assert.rejects(s.topics.start(T, { ...topic('k1', 1), session_id: 'c1' }, startMsg()), (e: unknown) => e instanceof AppError && e.code === 'topic.session_mismatch');
      assert.equal((await s.conversations.getConversation(T, 'tp'))?.last_seq, 1, 'failed starts wrote nothing');
    });

    it('topics: the first care-team message replies, in the same transaction; end and enter append their messages', async () => {
      await s.messages.append([msg(T, 'tp', 'pat', 'question')]);
      assert.equal((await s.topics.get(T, 'k1'))?.reply, 0);
      await s.messages.append([{ ...msg(T, 'tp', 'doc', 'answer', null, 5000), care_team: true }, { ...msg(T, 'tp', 'doc', 'more', null, 6000), care_team: true }]);
      const replied = await s.topics.get(T, 'k1');
      assert.deepEqual([replied?.reply, replied?.first_reply_at, replied?.first_reply_by], [1, 5000, 'doc']);
      const entered = await s.topics.enter(T, 'k1', 6500, { ...msg(T, 'tp', 'system', 'enter'), type: 14 });
      assert.equal(entered?.topic.entered_at, 6500);
      const ended = await s.topics.end(T, 'k1', 7000, 'doc', [{ ...msg(T, 'tp', 'system', 'end'), type: 7 }, { ...msg(T, 'tp', 'system', 'bye'), type: 10 }]);
      assert.ok(ended);
      assert.deepEqual([ended.topic.status, ended.topic.ended_at, ended.topic.ended_by, ended.topic.end_seq], [10, 7000, 'doc', ended.messages[1]!.seq]);
      assert.equal(ended.topic.end_message_id, ended.messages[0]!.id);
      assert.equal((await s.conversations.getConversation(T, 'tp'))?.status, 0);
      assert.equal(await s.topics.end(T, 'k1', 8000, 'doc', []), null);
      assert.equal(await s.topics.enter(T, 'k1', 8000, msg(T, 'tp', 'system', 'x')), null);
      await s.messages.append([{ ...msg(T, 'tp', 'doc', 'after the end'), care_team: true }]);
      assert.equal((await s.topics.get(T, 'k1'))?.first_reply_at, 5000);
    });

    it('topics: lists by state newest first with a cursor, counts, statistics, the created ones of a period', async () => {
      const topic = (id: string, at: number) => ({ id, session_id: 'tp', name: id, description: null, patient_id: 'pat', team_id: id === 'k3' ? 'team2' : 'team1', doctor_id: 'doc', consult_type: null, created_at: at, created_by: 'x' });
      const k2 = await s.topics.start(T, topic('k2', 10_000), { ...msg(T, 'tp', 'system', 's'), type: 6 });
      assert.ok(k2.created);
      await s.topics.end(T, 'k2', 11_000, 'system', []);
      await s.topics.start(T, topic('k3', 12_000), { ...msg(T, 'tp', 'system', 's'), type: 6 });
      assert.equal((await s.topics.latest(T, 'tp'))?.id, 'k3');
      const ids: string[] = [];
      let cursor: string | undefined;
      do {
        const page = await s.topics.list(T, { session_id: 'tp', limit: 2, ...(cursor ? { cursor } : {}) });
        ids.push(...page.items.map((t) => t.id));
        cursor = page.next_cursor ?? undefined;
      } while (cursor);
      assert.deepEqual(ids, ['k3', 'k2', 'k1']);
      assert.deepEqual((await s.topics.list(T, { state: 'ended_unreplied', limit: 10 })).items.map((t) => t.id), ['k2']);
      assert.deepEqual((await s.topics.list(T, { member: 'pat', session_type: 1, state: 'replied', limit: 10 })).items.map((t) => t.id), ['k1']);
      assert.deepEqual((await s.topics.list(T, { member: 'nurse', limit: 10 })).items, []);
      // A care-team viewer sees the topics of the sessions they are in and of the care teams they belong to.
      assert.deepEqual((await s.topics.list(T, { viewer: 'nurse', limit: 10 })).items, []);
      await s.teams.putTeam(T, 'team2', 'Team two', ['nurse'], 20);
      assert.deepEqual((await s.topics.list(T, { viewer: 'nurse', limit: 10 })).items.map((t) => t.id), ['k3']);
      assert.deepEqual((await s.topics.list(T, { viewer: 'doc', limit: 10 })).items.map((t) => t.id), ['k3', 'k2', 'k1']);
      assert.deepEqual((await s.topics.list(T, { viewer: 'nurse', team_id: 'team1', limit: 10 })).items, []);
      assert.deepEqual(await s.topics.countByState(T, { viewer: 'nurse' }), { unreplied: 1, in_progress: 0, replied: 0, ended_unreplied: 0 });
      assert.deepEqual((await s.topics.stats(T, 'team', { viewer: 'nurse' })).map((r) => [r.key, r.count]), [['team2', 1]]);
      assert.deepEqual((await s.topics.list(T2, { viewer: 'nurse', limit: 10 })).items, []);
      assert.deepEqual(await s.topics.countByState(T, { session_id: 'tp' }), { unreplied: 1, in_progress: 0, replied: 1, ended_unreplied: 1 });
      const stats = await s.topics.stats(T, 'team', { session_id: 'tp' });
      const team1 = stats.find((r) => r.key === 'team1');
      assert.deepEqual([team1?.count, team1?.replied, team1?.ended_unreplied, team1?.response_ms], [2, 1, 1, [4000]]);
      assert.deepEqual((await s.topics.created(T, 10_000, 12_000)).map((t) => t.id), ['k2']);
      assert.equal(await s.topics.get(T2, 'k1'), null);
      await assert.rejects(s.topics.list(T, { limit: 1, cursor: '!!' }), (e: unknown) => e instanceof AppError && e.code === 'request.invalid');
    });

    it('read-your-writes: once a write resolves, a read sees it, with many writes in flight at once', async () => {
      await s.conversations.createConversation({ tenant_id: T, id: 'ryw', type: 2, business_type: 1, name: '', status: 0, created_by: 'x', participants: [{ user_id: 'doc', role: 'm' }, { user_id: 'pat', role: 'm' }] }, 1);
      const checks: Promise<void>[] = [];
      for (let i = 1; i <= 40; i++) {
        checks.push(s.messages.append([msg(T, 'ryw', 'doc', `m${i}`, `ryw-${i}`)]).then(async ([r]) => {
          assert.ok(r?.ok && !r.duplicate);
          assert.equal((await s.messages.getById(T, 'ryw', r.message.id))?.seq, r.message.seq);
          assert.ok((await s.conversations.getConversation(T, 'ryw'))!.last_seq >= r.message.seq);
        }));
        checks.push(s.conversations.advanceRead(T, 'ryw', 'pat', i).then(async (cursor) => {
          assert.ok((await s.conversations.viewForUser(T, 'pat', 'ryw'))!.read_seq >= cursor!);
        }));
      }
      checks.push(s.settings.update(T2, { connection_policy: 'kick' }, 50).then(async () => assert.equal((await s.settings.get(T2)).connection_policy, 'kick')));
      checks.push(s.sessions.createSession({ id: 'ryw-s', tenant_id: T, user_id: 'pat', platform: 'ios', device_id: null, created_at: 1, expires_at: 99, revoked_at: null })
        .then(() => s.sessions.revokeSession('ryw-s', 7))
        .then(async () => assert.equal((await s.sessions.getSession('ryw-s'))?.revoked_at, 7)));
      await Promise.all(checks);
      const all = await s.messages.history(T, 'ryw', { limit: 100 });
      assert.deepEqual(all.map((m) => m.seq), all.map((_, i) => i + 1));
    });

    it('writes apply in the order they were called, awaited or not', async () => {
      const names = ['one', 'two', 'three', 'four'];
      const ups = await Promise.all(names.map((name, i) => s.users.upsertUser(T, { id: 'order', role: 'patient', name, avatar: null, disabled: false }, 100 + i)));
      assert.deepEqual(ups.map((u) => [u.created, u.user.name]), [[true, 'one'], [false, 'two'], [false, 'three'], [false, 'four']]);
      assert.equal((await s.users.getUser(T, 'order'))?.name, 'four');
      await s.conversations.createConversation({ tenant_id: T, id: 'ord', type: 2, business_type: 1, name: '', status: 0, created_by: 'x', participants: [{ user_id: 'doc', role: 'm' }] }, 1);
      const sends = await Promise.all(Array.from({ length: 12 }, (_, i) => s.messages.append([msg(T, 'ord', 'doc', `o${i}`)])));
      assert.deepEqual(sends.map(([r]) => r?.ok && r.message.seq), Array.from({ length: 12 }, (_, i) => i + 1));
      assert.deepEqual((await s.messages.history(T, 'ord', { limit: 20 })).map((m) => m.content?.text), Array.from({ length: 12 }, (_, i) => `o${i}`));
    });

    it('a write that fails fails alone, with its code, message and details, among writes in flight', async () => {
      const user = (id: string) => s.users.upsertUser(T, { id, role: 'patient', name: id, avatar: null, disabled: false }, 300);
      const [a, exists, missing, b] = await Promise.allSettled([
        user('alone-1'),
        s.tenants.createTenant({ id: T, name: 'again', created_at: 2 }),
        s.teams.putTeam(T, 'alone-team', 'Team', ['alone-1', 'ghost-1', 'ghost-2'], 300),
        user('alone-2'),
      ]);
      assert.equal(a.status, 'fulfilled');
      assert.equal(b.status, 'fulfilled');
      assert.ok(exists.status === 'rejected' && exists.reason instanceof AppError && exists.reason.code === 'tenant.exists');
      assert.ok(missing.status === 'rejected' && missing.reason instanceof AppError);
      assert.equal(missing.reason.code, 'user.not_found');
      assert.equal(missing.reason.status, 404);
      assert.equal(missing.reason.message, 'Unknown users: ghost-1, ghost-2');
      assert.deepEqual(missing.reason.details, { missing: ['ghost-1', 'ghost-2'] });
      assert.equal(await s.teams.getTeam(T, 'alone-team'), null);
      assert.deepEqual((await s.users.getUsers(T, ['alone-1', 'alone-2'])).map((u) => u.id).sort(), ['alone-1', 'alone-2']);
      assert.equal((await s.tenants.getTenant(T))?.name, 'A');
    });

    it('an append that fails as a whole (a message id stored before) fails alone among writes in flight', async () => {
      await s.conversations.createConversation({ tenant_id: T, id: 'whole', type: 2, business_type: 1, name: '', status: 0, created_by: 'x', participants: [{ user_id: 'doc', role: 'm' }] }, 1);
      const [first] = await s.messages.append([msg(T, 'whole', 'doc', 'first')]);
      assert.ok(first?.ok);
      const reused = { ...msg(T, 'whole', 'doc', 'reuses an id'), id: first.message.id };
      const [before, bad, after, user] = await Promise.allSettled([
        s.messages.append([msg(T, 'whole', 'doc', 'before')]),
        s.messages.append([msg(T, 'whole', 'doc', 'lost with the batch'), reused]),
        s.messages.append([msg(T, 'whole', 'doc', 'after')]),
        s.users.upsertUser(T, { id: 'whole-user', role: 'patient', name: 'W', avatar: null, disabled: false }, 1),
      ]);
      assert.equal(bad.status, 'rejected');
      assert.ok(before.status === 'fulfilled' && after.status === 'fulfilled' && user.status === 'fulfilled');
      assert.deepEqual((await s.messages.history(T, 'whole', { limit: 10 })).map((m) => [m.seq, m.content?.text]), [[1, 'first'], [2, 'before'], [3, 'after']]);
      assert.equal((await s.users.getUser(T, 'whole-user'))?.name, 'W');
    });

    it('history as text: each message is the JSON of the message history gives, for every kind of page', async () => {
      await s.conversations.createConversation({ tenant_id: T, id: 'text', type: 2, business_type: 1, name: '', status: 0, created_by: 'x', participants: [{ user_id: 'doc', role: 'm' }] }, 1);
      const odd = 'quote " backslash \\ line\nsep \u2028 tab\t emoji 🩺 ctrl \u0001';
      const content = { text: `${odd} lone \ud800`, nested: { list: [1, 2.5, -0, 1e21, true, null, { deep: [[['x']]] }], 'key "q"': odd } };
      const forwarded = { ...msg(T, 'text', 'doc', ''), content, content_json: JSON.stringify(content), client_id: odd,
        forward: { conversation_id: 'c1', message_id: 'm-1', sender_id: 'pat' } };
      const [a, b] = await s.messages.append([forwarded, msg(T, 'text', 'doc', 'to recall', 'cid-text')]);
      assert.ok(a?.ok && b?.ok);
      const noticeContent = { event: 'message.recalled', data: { message_id: b.message.id } };
      assert.ok(await s.messages.recall(T, 'text', b.message.id, 999, { ...msg(T, 'text', 'doc', ''), type: 0, content: noticeContent, content_json: JSON.stringify(noticeContent) }));
      await s.messages.append(Array.from({ length: 6 }, (_, i) => msg(T, 'text', 'doc', `t${i}`)));
      for (const q of [{ limit: 50 }, { limit: 3 }, { before: 4, limit: 2 }, { after: 0, limit: 4 }, { after: 2, before: 5, limit: 10 }, { after: 9, limit: 5 }]) {
        const objects = await s.messages.history(T, 'text', q);
        const texts = await s.messages.historyText(T, 'text', q);
        assert.deepEqual(texts.map((t) => t.seq), objects.map((m) => m.seq), JSON.stringify(q));
        assert.deepEqual(texts.map((t) => JSON.parse(t.json) as unknown), objects, JSON.stringify(q));
      }
      const [first] = await s.messages.historyText(T, 'text', { after: 0, limit: 1 });
      assert.equal((JSON.parse(first!.json) as { client_id: string }).client_id, odd);
      assert.deepEqual(await s.messages.historyText(T2, 'text', { limit: 5 }), []);
    });

    it('ping answers', async () => {
      assert.equal(await s.ping(), true);
    });
  });
  notificationStorageContract(name, open);
}
