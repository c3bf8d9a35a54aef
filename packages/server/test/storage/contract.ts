/**
 * The storage contract: every backend runs these same tests. A backend's test file calls
 * `storageContract(name, open)` with a function that opens a fresh, empty, migrated storage.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Storage } from '../../src/domain/ports.ts';
import type { NewMessage } from '../../src/domain/types.ts';
import { AppError } from '../../src/domain/errors.ts';

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

    it('login sessions: create, read, revoke once', async () => {
      await s.sessions.createSession({ id: 'sess1', tenant_id: T, user_id: 'doc', platform: 'web', device_id: null, created_at: 1, expires_at: 99, revoked_at: null });
      assert.equal((await s.sessions.getSession('sess1'))?.user_id, 'doc');
      assert.equal(await s.sessions.revokeSession('sess1', 5), true);
      assert.equal(await s.sessions.revokeSession('sess1', 6), false);
      assert.equal((await s.sessions.getSession('sess1'))?.revoked_at, 5);
      assert.equal(await s.sessions.getSession('none'), null);
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

    it('read cursor: only forward, never past the head, null for non-participants', async () => {
      assert.equal(await s.conversations.advanceRead(T, 'h', 'doc', 3), 27); // the sender (of the recall notice too) already read everything it sent
      await s.conversations.createConversation({ tenant_id: T, id: 'r', type: 2, business_type: 2, name: '', status: 0, created_by: 'x', participants: [{ user_id: 'doc', role: 'm' }, { user_id: 'pat', role: 'm' }] }, 1);
      await s.messages.append([msg(T, 'r', 'doc', '1'), msg(T, 'r', 'doc', '2'), msg(T, 'r', 'doc', '3')]);
      assert.equal(await s.conversations.advanceRead(T, 'r', 'pat', 2), 2);
      assert.equal(await s.conversations.advanceRead(T, 'r', 'pat', 1), 2);
      assert.equal(await s.conversations.advanceRead(T, 'r', 'pat', 999), 3);
      assert.equal(await s.conversations.advanceRead(T, 'r', 'nurse', 1), null);
      assert.equal(await s.conversations.advanceRead(T2, 'r', 'pat', 1), null);
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

    it('audit: appended in order, queried by conversation, actor, time and cursor, per tenant', async () => {
      await s.audit.append([
        { tenant_id: T, at: 100, actor_kind: 'user', actor_id: 'doc', action: 'messages.history', conversation_id: 'c1', detail: { before: 10 } },
        { tenant_id: T, at: 200, actor_kind: 'app', actor_id: 'app:x', action: 'messages.get', conversation_id: 'c1', detail: null },
        { tenant_id: T, at: 300, actor_kind: 'user', actor_id: 'doc', action: 'messages.history', conversation_id: 'h', detail: null },
        { tenant_id: T2, at: 300, actor_kind: 'user', actor_id: 'doc', action: 'messages.history', conversation_id: 'c1', detail: null },
      ]);
      await s.audit.append([]);
      const byConv = await s.audit.query(T, { conversation_id: 'c1', limit: 10 });
      assert.deepEqual(byConv.map((r) => [r.actor_id, r.at, r.detail]), [['doc', 100, { before: 10 }], ['app:x', 200, null]]);
      assert.deepEqual((await s.audit.query(T, { actor_id: 'doc', limit: 10 })).map((r) => r.conversation_id), ['c1', 'h']);
      assert.deepEqual((await s.audit.query(T, { since: 150, until: 300, limit: 10 })).map((r) => r.at), [200]);
      const first = await s.audit.query(T, { limit: 1 });
      assert.deepEqual((await s.audit.query(T, { after_id: first[0]!.id, limit: 10 })).map((r) => r.at), [200, 300]);
      assert.equal((await s.audit.query(T2, { limit: 10 })).length, 1);
    });

    it('ping answers', async () => {
      assert.equal(await s.ping(), true);
    });
  });
}
