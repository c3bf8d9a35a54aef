/**
 * The search store contract: every backend runs these same tests. A backend's test file
 * calls `searchContract(name, open)` with a function that opens a fresh, empty, migrated
 * storage, and `exec` to run SQL on it directly (a delete or an edit no store method makes yet).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { SearchQuery, Storage } from '../../src/domain/ports.ts';
import type { Message, NewMessage } from '../../src/domain/types.ts';
import { AppError } from '../../src/domain/errors.ts';

export type OpenSearchStorage = () => Promise<{ storage: Storage; exec: (sql: string) => Promise<void>; cleanup: () => Promise<void> }>;

let n = 0;
/** Increasing ids (as ULIDs are), so that id order is the order of sending. */
const nextId = () => `01S${String(++n).padStart(23, '0')}`;

export function searchContract(name: string, open: OpenSearchStorage): void {
  describe(`search contract: ${name}`, () => {
    let s: Storage;
    let exec: (sql: string) => Promise<void>;
    let cleanup: () => Promise<void>;
    const T = 'tenant-a';
    const T2 = 'tenant-b';
    const at0 = 1_700_000_000_000;
    let clock = at0;
    const sent: Record<string, Message> = {};

    const send = async (tenant: string, conv: string, sender: string, type: number, content: Record<string, unknown>, label?: string): Promise<Message> => {
      const m: NewMessage = {
        tenant_id: tenant, conversation_id: conv, id: nextId(), sender_id: sender, type, content, content_json: JSON.stringify(content),
        client_id: null, created_at: (clock += 1000), forward: null,
      };
      const [r] = await s.messages.append([m]);
      assert.ok(r?.ok, `append ${label}`);
      if (label) sent[label] = r.message;
      return r.message;
    };
    const find = async (tenant: string, terms: string[], q: Partial<SearchQuery> = {}) => {
      const page = await s.search.messages(tenant, { terms, limit: 50, ...q });
      return page.items.map((m) => m.id);
    };
    const ids = (...labels: string[]) => labels.map((l) => sent[l]!.id);

    before(async () => {
      ({ storage: s, exec, cleanup } = await open());
      await s.tenants.createTenant({ id: T, name: 'A', created_at: 1 });
      await s.tenants.createTenant({ id: T2, name: 'B', created_at: 1 });
      for (const [t, id, role] of [[T, 'doc', 'doctor'], [T, 'pat', 'patient'], [T, 'pat2', 'patient'], [T, 'nurse', 'staff'], [T, 'loner', 'patient'], [T2, 'doc', 'doctor']] as const) {
        await s.users.upsertUser(t, { id, role, name: id, avatar: null, disabled: false }, 10);
      }
      const conv = (tenant: string, id: string, business_type: number, members: string[]) => s.conversations.createConversation({
        tenant_id: tenant, id, type: 2, business_type, name: id, status: 0, created_by: members[0]!, participants: members.map((u) => ({ user_id: u, role: 'member' })),
      }, 100);
      await conv(T, 'c1', 2, ['doc', 'pat']);
      await conv(T, 'c2', 1, ['doc', 'nurse']);
      await conv(T, 'c3', 2, ['doc', 'pat2']);
      await conv(T2, 'x1', 2, ['doc']);

      await send(T, 'c1', 'pat', 1, { text: '医生您好，我手臂上出现皮疹，还有点发热' }, 'zh1');
      await send(T, 'c1', 'doc', 1, { text: '皮疹' }, 'zh2');
      await send(T, 'c1', 'doc', 1, { text: 'Please send a photo of the Rash on your arm' }, 'en1');
      await send(T, 'c1', 'pat', 1000, { storageId: 's1', fileName: 'blood_test_report.pdf', fileSize: 1200 }, 'file1');
      await send(T, 'c2', 'nurse', 1, { text: 'The patient in bed 3 has a rash again, 皮疹加重' }, 'en2');
      await send(T, 'c2', 'doc', 4, { title: 'Dermatology guideline: 湿疹 and rash', content: 'Topical steroids first' }, 'link1');
      await send(T, 'c3', 'pat2', 1, { text: '皮疹好多了，谢谢' }, 'zh3');
      await send(T, 'c3', 'doc', 19, { type: 1, content: { text: 'forwarded: rash photo looks fine' } }, 'fwd1');
      await send(T, 'c1', 'system', 0, { text: 'rash 皮疹 system notice', event: 'x' }, 'sys1');
      await send(T2, 'x1', 'doc', 1, { text: 'other tenant rash 皮疹' }, 'other');
      await send(T, 'c2', 'nurse', 1, { text: 'Discount: 100% off_today' }, 'pct');
      await send(T, 'c2', 'nurse', 1, { text: "don't panic: C:\\notes\\x'y & z | !w" }, 'quote');
    });
    after(async () => {
      await s.close();
      await cleanup();
    });

    it('finds English words anywhere in the text, ASCII case folded, newest first', async () => {
      assert.deepEqual(await find(T, ['rash']), ids('fwd1', 'link1', 'en2', 'en1'));
      assert.deepEqual(await find(T, ['RASH']), ids('fwd1', 'link1', 'en2', 'en1'));
      assert.deepEqual(await find(T, ['photo', 'arm']), ids('en1'));
      assert.deepEqual(await find(T, ['rash', 'zebra']), []);
      // Substrings too: no word boundaries (the same matching for every language).
      assert.deepEqual(await find(T, ['ermatolog']), ids('link1'));
    });

    it('finds Chinese words of two characters and more without word spaces', async () => {
      assert.deepEqual(await find(T, ['皮疹']), ids('zh3', 'en2', 'zh2', 'zh1'));
      assert.deepEqual(await find(T, ['出现皮疹']), ids('zh1'));
      assert.deepEqual(await find(T, ['皮疹', '发热']), ids('zh1'));
      assert.deepEqual(await find(T, ['湿疹']), ids('link1'));
      assert.deepEqual(await find(T, ['皮疹', 'rash']), ids('en2'));
      assert.deepEqual(await find(T, ['荨麻疹']), []);
    });

    it('searches file names, card titles and content, forwarded content; never system messages', async () => {
      assert.deepEqual(await find(T, ['report']), ids('file1'));
      assert.deepEqual(await find(T, ['steroids']), ids('link1'));
      assert.deepEqual(await find(T, ['forwarded']), ids('fwd1'));
      assert.deepEqual(await find(T, ['notice']), []);
    });

    it('takes LIKE wildcards literally', async () => {
      assert.deepEqual(await find(T, ['0%']), ids('pct'));
      assert.deepEqual(await find(T, ['f_']), ids('pct'));
      assert.deepEqual(await find(T, ['%%']), []);
      assert.deepEqual(await find(T, ['"rash"']), []);
      // Quotes, backslashes and query operators are text too.
      assert.deepEqual(await find(T, ["don't"]), ids('quote'));
      assert.deepEqual(await find(T, ['C:\\notes\\x\'y']), ids('quote'));
      assert.deepEqual(await find(T, ['&z', '!w']), []);
      assert.deepEqual(await find(T, ['!w']), ids('quote'));
    });

    it('only the tenant; with member, only the conversations the user is in', async () => {
      assert.deepEqual(await find(T2, ['rash']), ids('other'));
      assert.deepEqual(await find(T2, ['皮疹']), ids('other'));
      assert.deepEqual(await find(T, ['皮疹'], { member: 'pat' }), ids('zh2', 'zh1'));
      assert.deepEqual(await find(T, ['皮疹'], { member: 'nurse' }), ids('en2'));
      assert.deepEqual(await find(T, ['rash'], { member: 'doc' }), ids('fwd1', 'link1', 'en2', 'en1'));
      assert.deepEqual(await find(T, ['rash'], { member: 'loner' }), []);
      assert.deepEqual(await find(T, ['rash'], { member: 'nobody' }), []);
      assert.deepEqual(await find(T, ['rash'], { member: 'pat', conversation_id: 'c2' }), []);
    });

    it('filters by conversation, sender, type and time', async () => {
      assert.deepEqual(await find(T, ['皮疹'], { conversation_id: 'c1' }), ids('zh2', 'zh1'));
      assert.deepEqual(await find(T, ['皮疹'], { sender_id: 'pat2' }), ids('zh3'));
      assert.deepEqual(await find(T, ['rash'], { type: 4 }), ids('link1'));
      assert.deepEqual(await find(T, ['rash'], { type: 1, sender_id: 'doc' }), ids('en1'));
      const t = (l: string) => sent[l]!.created_at;
      assert.deepEqual(await find(T, ['皮疹'], { from: t('zh2'), to: t('zh3') }), ids('en2', 'zh2'));
      assert.deepEqual(await find(T, ['皮疹'], { from: t('zh3') + 1 }), []);
      assert.deepEqual(await find(T, ['皮疹'], { to: t('zh1') }), []);
    });

    it('pages newest first with a cursor: every match once, then null', async () => {
      const all = await find(T, ['皮疹']);
      const seen: string[] = [];
      let cursor: string | undefined;
      for (let i = 0; i < 10; i++) {
        const page = await s.search.messages(T, { terms: ['皮疹'], limit: 2, ...(cursor ? { cursor } : {}) });
        assert.ok(page.items.length <= 2);
        seen.push(...page.items.map((m) => m.id));
        if (page.next_cursor === null) break;
        cursor = page.next_cursor;
      }
      assert.deepEqual(seen, all);
      const first = await s.search.messages(T, { terms: ['皮疹'], limit: 4 });
      assert.equal(first.items.length, 4);
      assert.equal(first.next_cursor, null, 'a page holding the last match says so');
      for (const bad of ['nope', Buffer.from('["s",{}]').toString('base64url'), Buffer.from('[1,2]').toString('base64url')]) {
        await assert.rejects(s.search.messages(T, { terms: ['皮疹'], limit: 2, cursor: bad }), (e: unknown) => e instanceof AppError && e.code === 'search.cursor_invalid');
      }
    });

    it('stores a message whose text JSON cannot give to every database (an escaped NUL)', async () => {
      const m = await send(T, 'c2', 'nurse', 1, { text: 'nul \u0000 zqxwv' });
      assert.equal((await s.messages.getById(T, 'c2', m.id))?.content?.text, 'nul \u0000 zqxwv');
      assert.deepEqual(await find(T, ['rash'], { conversation_id: 'c2' }), ids('link1', 'en2'));
    });

    it('returns the stored messages as history does', async () => {
      const page = await s.search.messages(T, { terms: ['出现皮疹'], limit: 5 });
      assert.deepEqual(page.items, [await s.messages.getById(T, 'c1', sent.zh1!.id)]);
    });

    it('a message is found once appended; never once recalled, deleted or edited away', async () => {
      const m = await send(T, 'c1', 'pat', 1, { text: '荨麻疹 hives after penicillin' });
      assert.deepEqual(await find(T, ['荨麻疹']), [m.id]);
      assert.deepEqual(await find(T, ['麻疹']), [m.id]);
      const notice = { event: 'message.recalled', data: { message_id: m.id } };
      const r = await s.messages.recall(T, 'c1', m.id, clock + 1, {
        tenant_id: T, conversation_id: 'c1', id: nextId(), sender_id: 'system', type: 0, content: notice, content_json: JSON.stringify(notice),
        client_id: null, created_at: (clock += 1000), forward: null,
      });
      assert.ok(r);
      assert.deepEqual(await find(T, ['荨麻疹']), []);
      assert.deepEqual(await find(T, ['penicillin']), []);

      const d = await send(T, 'c1', 'pat', 1, { text: 'allergic to amoxicillin 过敏' });
      assert.deepEqual(await find(T, ['amoxicillin']), [d.id]);
      await exec(`DELETE FROM messages WHERE tenant_id = 'tenant-a' AND id = '${d.id}'`);
      assert.deepEqual(await find(T, ['amoxicillin']), []);
      assert.deepEqual(await find(T, ['过敏']), []);

      const e = await send(T, 'c1', 'pat', 1, { text: 'typo: ibuprofem' });
      const later = await send(T, 'c1', 'doc', 1, { text: 'ibuprofen is fine' });
      await exec(`UPDATE messages SET content = '{"text":"ibuprofen 布洛芬"}' WHERE tenant_id = 'tenant-a' AND id = '${e.id}'`);
      assert.deepEqual(await find(T, ['ibuprofem']), []);
      assert.deepEqual(await find(T, ['布洛芬']), [e.id]);
      // An edited message keeps its place, newest first by sending.
      assert.deepEqual(await find(T, ['ibuprofen']), [later.id, e.id]);
      assert.deepEqual(await find(T, ['ibuprofen'], { member: 'pat' }), [later.id, e.id]);
      assert.deepEqual(await find(T, ['ibuprofen'], { conversation_id: 'c1' }), [later.id, e.id]);
      await exec(`UPDATE messages SET content = '{"storageId":"x","duration":3}', type = 3 WHERE tenant_id = 'tenant-a' AND id = '${e.id}'`);
      assert.deepEqual(await find(T, ['ibuprofen']), [later.id]);
    });
  });
}
