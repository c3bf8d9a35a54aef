/**
 * Notifications over REST: the integrator sends (every target, both modes, custom kinds), a
 * user reads the inbox, latest per kind and unread counts and marks read; care teams, tags
 * and tenant settings. Bad input and rights: each refused with its code, nothing changed.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { BuiltinNotificationKinds, type ErrorCode } from '@careline/protocol';
import { startTestServer, type TestServer } from '../support/server.ts';
import { assertError, ok, secondTenant, type Reply, type Tenant } from './helpers.ts';

let s: TestServer;
let other: Tenant;
const tok: Record<string, string> = {};

const N = '/api/v2/management/notifications';
const send = (body: unknown, apiKey?: string) => s.call('POST', N, { body, ...(apiKey ? { apiKey } : {}) });
const sent = async (body: Record<string, unknown>) => ok(await send({ title: 'A title', ...body }), `send ${JSON.stringify(body)}`);
const inbox = async (user: string, q = '') => ok(await s.call('GET', `/api/v2/notifications${q}`, { token: tok[user] }));
const unread = async (user: string) => ok(await s.call('GET', '/api/v2/notifications/unread_count', { token: tok[user] }));
const ids = (page: { notifications: { id: string }[] }) => page.notifications.map((n) => n.id);

/** Rows of a table for this server's tenant, read from the SQLite file. */
function rows(table: string, where = '', ...args: unknown[]): number {
  const db = new Database(s.dbPath, { readonly: true, fileMustExist: true });
  try {
    return db.prepare(`SELECT COUNT(*) FROM ${table} WHERE tenant_id = ?${where ? ` AND ${where}` : ''}`).pluck().get(s.tenantId, ...args) as number;
  } finally {
    db.close();
  }
}

/** Everything a refused request might have changed. */
async function snapshot(): Promise<unknown> {
  return {
    notifications: rows('notifications'),
    recipients: rows('notification_recipients'),
    reads: rows('notification_reads'),
    kinds: rows('notification_kinds'),
    teams: ok(await s.call('GET', '/api/v2/management/teams/care')).team,
    tags: ok(await s.call('GET', '/api/v2/management/users/pa/tags')).tags,
    settings: ok(await s.call('GET', '/api/v2/management/settings')).settings,
    unread: await Promise.all(['pa', 'pb', 'dr'].map((u) => unread(u))),
  };
}

async function refused(cases: [string, () => Promise<Reply>, ErrorCode][]): Promise<void> {
  const before = await snapshot();
  for (const [label, run, code] of cases) assertError(await run(), code, label);
  assert.deepEqual(await snapshot(), before, 'nothing changed');
}

before(async () => {
  s = await startTestServer();
  for (const [id, role] of [['pa', 'patient'], ['pb', 'patient'], ['pc', 'patient'], ['dr', 'doctor'], ['nu', 'staff']] as const) {
    tok[id] = (await s.user(id, role)).token;
  }
  ok(await s.call('PUT', '/api/v2/management/teams/care', { body: { name: 'Care team', members: ['dr', 'nu'] } }));
  ok(await s.call('PUT', '/api/v2/management/users/pa/tags', { body: { tags: ['diabetes'] } }));
  other = await secondTenant(s);
  await other.user('ox');
  ok(await s.call('PUT', '/api/v2/management/teams/oteam', { apiKey: other.apiKey, body: { name: 'Other', members: ['ox'] } }));
  ok(await s.call('PUT', '/api/v2/management/notification-kinds/OTHER_ONLY', { apiKey: other.apiKey, body: { mode: 'each' } }));
}, { timeout: 20_000 });
after(async () => {
  await s?.stop();
});

describe('sending', () => {
  test('every built-in kind of seed 001 can be sent, with its mode listed', async () => {
    const kinds = ok(await s.call('GET', '/api/v2/management/notification-kinds')).kinds as { kind: string; mode: string; builtin: boolean }[];
    assert.deepEqual(
      kinds.filter((k) => k.builtin).map((k) => [k.kind, k.mode]),
      Object.entries(BuiltinNotificationKinds),
    );
    assert.deepEqual(Object.entries(BuiltinNotificationKinds).filter(([, m]) => m === 'latest').map(([k]) => k).sort(), ['S2C_DOCTORMSG_PUSH', 'S2C_SOCIAL_PUSH', 'S2C_SYSTEM_PUSH']);
    tok.kinds = (await s.user('kinds')).token;
    for (const kind of Object.keys(BuiltinNotificationKinds)) {
      const r = await sent({ kind, target: { user: 'kinds' } });
      assert.equal(r.notification.kind, kind);
    }
    assert.deepEqual((await inbox('kinds')).notifications.map((n: { kind: string }) => n.kind).sort(), Object.keys(BuiltinNotificationKinds).sort());
  });

  test('to one user: stored with its fields, in that inbox only', async () => {
    const r = await sent({ kind: 'S2C_SIGNED_PUSH', target: { user: 'pb' }, title: 'Contract signed', body: 'With Dr. Wang', data: { contract_id: 'c-9' }, sender_id: 'dr' });
    assert.equal(r.recipients, 1);
    assert.match(r.notification.id, /^[0-9A-Z]{26}$/);
    assert.deepEqual({ ...r.notification, id: 'x', created_at: 0 }, {
      id: 'x', kind: 'S2C_SIGNED_PUSH', title: 'Contract signed', body: 'With Dr. Wang', data: { contract_id: 'c-9' }, sender_id: 'dr',
      audience: 'user', audience_id: null, created_at: 0, read_at: null,
    });
    assert.deepEqual((await inbox('pb')).notifications[0], r.notification);
    assert.ok(!ids(await inbox('pc')).includes(r.notification.id));
    assert.equal(rows('notification_recipients', 'notification_id = ?', r.notification.id), 1);
  });

  test('to a list of users (duplicates once)', async () => {
    const r = await sent({ kind: 'S2C_RESERVATION_PUSH', target: { users: ['pa', 'pb', 'pa'] } });
    assert.equal(r.recipients, 2);
    assert.equal(r.notification.audience, 'users');
    for (const u of ['pa', 'pb']) assert.equal(ids(await inbox(u))[0], r.notification.id);
    assert.ok(!ids(await inbox('pc')).includes(r.notification.id));
  });

  test('to a care team: its members at the moment of sending', async () => {
    const r = await sent({ kind: 'S2C_REMIND_PUSH', target: { team: 'care' } });
    assert.equal(r.recipients, 2);
    assert.deepEqual([r.notification.audience, r.notification.audience_id], ['team', 'care']);
    const t = ok(await s.call('PUT', '/api/v2/management/teams/care2', { body: { name: 'Two', members: ['dr'] } }));
    assert.deepEqual(t, { team: { ...t.team, id: 'care2', name: 'Two', members: ['dr'] }, created: true });
    const r2 = await sent({ kind: 'S2C_REMIND_PUSH', target: { team: 'care2' } });
    ok(await s.call('PUT', '/api/v2/management/teams/care2', { body: { name: 'Two', members: ['dr', 'nu'] } }));
    assert.ok(ids(await inbox('dr')).includes(r2.notification.id));
    assert.ok(!ids(await inbox('nu')).includes(r2.notification.id), 'a later member does not get earlier notifications');
    assert.deepEqual(ok(await s.call('DELETE', '/api/v2/management/teams/care2')), { deleted: true });
    assertError(await s.call('GET', '/api/v2/management/teams/care2'), 'team.not_found');
    assert.ok(ids(await inbox('dr')).includes(r2.notification.id), 'deleting a team keeps what was sent');
  });

  test('to a tag: the users who have it', async () => {
    ok(await s.call('PUT', '/api/v2/management/users/pc/tags', { body: { tags: ['diabetes', 'north'] } }));
    assert.deepEqual(ok(await s.call('GET', '/api/v2/management/users/pc/tags')), { user_id: 'pc', tags: ['diabetes', 'north'] });
    const r = await sent({ kind: 'S2C_SOCIAL_PUSH', target: { tag: 'diabetes' } });
    assert.equal(r.recipients, 2);
    assert.deepEqual([r.notification.audience, r.notification.audience_id], ['tag', 'diabetes']);
    for (const u of ['pa', 'pc']) assert.ok(ids(await inbox(u)).includes(r.notification.id), u);
    assert.ok(!ids(await inbox('pb')).includes(r.notification.id));
    ok(await s.call('PUT', '/api/v2/management/users/pc/tags', { body: { tags: [] } }));
    assert.deepEqual(ok(await s.call('GET', '/api/v2/management/users/pc/tags')).tags, []);
  });

  test('to the whole tenant: stored once (one row, no row per user), in every inbox, read state per user', async () => {
    const before = { n: rows('notifications'), r: rows('notification_recipients') };
    const r = await sent({ kind: 'S2C_SYSTEM_PUSH', target: { tenant: true }, title: 'Maintenance tonight' });
    assert.equal(rows('notifications'), before.n + 1);
    assert.equal(rows('notification_recipients'), before.r, 'no row per user');
    assert.equal(r.notification.audience, 'tenant');
    assert.equal(r.recipients, 6); // pa pb pc dr nu kinds
    for (const u of ['pa', 'pb', 'pc', 'dr', 'nu']) assert.equal((await inbox(u, '?kind=S2C_SYSTEM_PUSH')).notifications[0]?.id, r.notification.id, u);
    // A user created afterwards does not get it; the other tenant neither.
    const late = await s.user('late');
    tok.late = late.token;
    assert.deepEqual(ids(await inbox('late')), []);
    assert.deepEqual(ok(await s.call('GET', '/api/v2/notifications', { token: (await other.user('ox')).token })).notifications, []);
    // Reading it is per user.
    ok(await s.call('POST', '/api/v2/notifications/read', { token: tok.pa, body: { ids: [r.notification.id] } }));
    assert.equal(rows('notification_reads'), 1);
    assert.equal(typeof (await inbox('pa', '?kind=S2C_SYSTEM_PUSH')).notifications[0].read_at, 'number');
    assert.equal((await inbox('pb', '?kind=S2C_SYSTEM_PUSH')).notifications[0].read_at, null);
  });

  test('latest mode shows only the newest of a kind (a broadcast superseded by a direct one too); each mode keeps all', async () => {
    tok.lm = (await s.user('lm')).token;
    const d1 = await sent({ kind: 'S2C_DOCTORMSG_PUSH', target: { user: 'lm' }, title: 'first' });
    const d2 = await sent({ kind: 'S2C_DOCTORMSG_PUSH', target: { user: 'lm' }, title: 'second' });
    const e1 = await sent({ kind: 'S2C_FRIENDAPPLY_PUSH', target: { user: 'lm' } });
    const e2 = await sent({ kind: 'S2C_FRIENDAPPLY_PUSH', target: { user: 'lm' } });
    const b = await sent({ kind: 'S2C_SYSTEM_PUSH', target: { tenant: true }, title: 'broadcast' });
    const s2 = await sent({ kind: 'S2C_SYSTEM_PUSH', target: { user: 'lm' }, title: 'direct' });
    assert.deepEqual(ids(await inbox('lm')), [s2, e2, e1, d2].map((r) => r.notification.id));
    assert.ok(!ids(await inbox('lm')).includes(d1.notification.id));
    assert.ok(!ids(await inbox('lm')).includes(b.notification.id));
    assert.deepEqual(await unread('lm'), { total: 4, kinds: { S2C_DOCTORMSG_PUSH: 1, S2C_FRIENDAPPLY_PUSH: 2, S2C_SYSTEM_PUSH: 1 } });
    const latest = ok(await s.call('GET', '/api/v2/notifications/latest', { token: tok.lm })).notifications;
    assert.deepEqual(latest.map((n: { id: string }) => n.id), [s2, e2, d2].map((r) => r.notification.id));
    // Others still see the broadcast as their newest system push.
    assert.equal((await inbox('pb', '?kind=S2C_SYSTEM_PUSH')).notifications[0].id, b.notification.id);
  });

  test('custom kinds: register (idempotent), send, keep their mode; conflicts are notification.kind_exists', async () => {
    const put = (kind: string, mode: string, apiKey?: string) => s.call('PUT', `/api/v2/management/notification-kinds/${kind}`, { body: { mode }, ...(apiKey ? { apiKey } : {}) });
    const r1 = ok(await put('LAB_RESULT_PUSH', 'each'));
    assert.equal(r1.created, true);
    assert.deepEqual(r1.kind, { kind: 'LAB_RESULT_PUSH', mode: 'each', builtin: false, created_at: r1.kind.created_at, display_name: null, display_names: {} });
    assert.deepEqual(ok(await put('LAB_RESULT_PUSH', 'each')), { kind: r1.kind, created: false });
    assert.deepEqual(ok(await put('S2C_SYSTEM_PUSH', 'latest')).created, false);
    ok(await put('CAMPAIGN_PUSH', 'latest'));
    await refused([
      ['other mode', () => put('LAB_RESULT_PUSH', 'latest'), 'notification.kind_exists'],
      ['built-in with other mode', () => put('S2C_SIGNED_PUSH', 'latest'), 'notification.kind_exists'],
      ['event kind name', () => put('S2C_DIFFERENT_CONNECTION', 'each'), 'notification.kind_exists'],
      ['bad name', () => put('lab-result', 'each'), 'request.invalid'],
      ['bad mode', () => put('GOOD_NAME', 'sometimes'), 'request.invalid'],
    ]);
    tok.ck = (await s.user('ck')).token;
    for (let i = 0; i < 2; i++) await sent({ kind: 'LAB_RESULT_PUSH', target: { user: 'ck' } });
    for (let i = 0; i < 2; i++) await sent({ kind: 'CAMPAIGN_PUSH', target: { user: 'ck' } });
    assert.deepEqual(await unread('ck'), { total: 3, kinds: { CAMPAIGN_PUSH: 1, LAB_RESULT_PUSH: 2 } });
    const kinds = ok(await s.call('GET', '/api/v2/management/notification-kinds')).kinds.filter((k: { builtin: boolean }) => !k.builtin).map((k: { kind: string }) => k.kind);
    assert.deepEqual(kinds, ['CAMPAIGN_PUSH', 'LAB_RESULT_PUSH']);
  });

  test('kinds have display names: set on register, updated by a re-PUT with the same mode, listed to integrators and users', async () => {
    const put = (kind: string, body: Record<string, unknown>, apiKey?: string) =>
      s.call('PUT', `/api/v2/management/notification-kinds/${kind}`, { body, ...(apiKey ? { apiKey } : {}) });
    const userKinds = async (opts: { token?: string; headers?: Record<string, string> }) => ok(await s.call('GET', '/api/v2/notifications/kinds', opts)).kinds;
    const r1 = ok(await put('VACCINE_DUE_PUSH', { mode: 'each', display_name: '  Vaccine due ', display_names: { en: 'Vaccine due', 'zh-cn': '疫苗接种提醒' } }));
    assert.equal(r1.created, true);
    assert.deepEqual(r1.kind, {
      kind: 'VACCINE_DUE_PUSH', mode: 'each', builtin: false, created_at: r1.kind.created_at,
      display_name: 'Vaccine due', display_names: { en: 'Vaccine due', 'zh-CN': '疫苗接种提醒' },
    });
    // Without names: registered as before, with none.
    const plain = ok(await put('PLAIN_KIND_PUSH', { mode: 'latest' })).kind;
    assert.deepEqual([plain.display_name, plain.display_names], [null, {}]);

    // The same mode again: the names given replace the stored ones; a name left out stays.
    const r2 = ok(await put('VACCINE_DUE_PUSH', { mode: 'each', display_names: { en: 'Vaccination due', ru: 'Пора прививаться' } }));
    assert.deepEqual(r2, { created: false, kind: { ...r1.kind, display_names: { en: 'Vaccination due', ru: 'Пора прививаться' } } });
    assert.deepEqual(ok(await put('VACCINE_DUE_PUSH', { mode: 'each' })), r2, 'no names: nothing changes');
    const r3 = ok(await put('PLAIN_KIND_PUSH', { mode: 'latest', display_name: 'Plain' }));
    assert.deepEqual([r3.created, r3.kind.display_name, r3.kind.display_names, r3.kind.created_at], [false, 'Plain', {}, plain.created_at]);
    assert.equal(ok(await put('PLAIN_KIND_PUSH', { mode: 'latest', display_name: null, display_names: null })).kind.display_name, null, 'null clears');

    // The integrator's list and the users' list carry the names; built-in kinds are named in English and Chinese.
    const managed = ok(await s.call('GET', '/api/v2/management/notification-kinds')).kinds;
    assert.deepEqual(managed.find((k: { kind: string }) => k.kind === 'VACCINE_DUE_PUSH'), r2.kind);
    assert.deepEqual(managed.find((k: { kind: string }) => k.kind === 'S2C_SIGNED_PUSH'), {
      kind: 'S2C_SIGNED_PUSH', mode: 'each', builtin: true, created_at: null,
      display_name: 'Care contract signed', display_names: { en: 'Care contract signed', 'zh-CN': '签约成功' },
    });
    const seen = await userKinds({ token: tok.pa });
    assert.deepEqual(seen, managed.map(({ created_at: _, ...k }: { created_at: unknown }) => k));
    assert.deepEqual(seen.find((k: { kind: string }) => k.kind === 'VACCINE_DUE_PUSH'), {
      kind: 'VACCINE_DUE_PUSH', mode: 'each', builtin: false, display_name: 'Vaccine due', display_names: { en: 'Vaccination due', ru: 'Пора прививаться' },
    });
    for (const k of Object.keys(BuiltinNotificationKinds)) {
      const b = seen.find((x: { kind: string }) => x.kind === k);
      assert.ok(b.builtin && b.display_name && b.display_names.en && b.display_names['zh-CN'], k);
    }
    assert.deepEqual(await userKinds({ headers: { 'x-api-key': s.apiKey, 'x-on-behalf-of': 'pb' } }), seen, 'an API key on behalf of a user');
    // Another tenant's users see only its own registered kinds.
    const otherUser = (await other.user('ou')).token;
    assert.deepEqual((await userKinds({ token: otherUser })).filter((k: { builtin: boolean }) => !k.builtin).map((k: { kind: string }) => k.kind), ['OTHER_ONLY']);
    assertError(await s.call('GET', '/api/v2/notifications/kinds', { apiKey: null }), 'auth.missing', 'no credentials');
    assertError(await s.call('GET', '/api/v2/notifications/kinds'), 'request.invalid', 'an API key alone is not a user');

    const long = 'x'.repeat(65);
    const many = Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`l${String.fromCharCode(97 + (i % 26))}${String.fromCharCode(97 + Math.floor(i / 26))}`, 'n']));
    await refused([
      ['display_name empty', () => put('VACCINE_DUE_PUSH', { mode: 'each', display_name: '' }), 'request.invalid'],
      ['display_name blank', () => put('VACCINE_DUE_PUSH', { mode: 'each', display_name: '   ' }), 'request.invalid'],
      ['display_name too long', () => put('VACCINE_DUE_PUSH', { mode: 'each', display_name: long }), 'request.invalid'],
      ['display_name control character', () => put('VACCINE_DUE_PUSH', { mode: 'each', display_name: 'Vac\u0000cine' }), 'request.invalid'],
      ['display_name bidi override', () => put('VACCINE_DUE_PUSH', { mode: 'each', display_name: 'Vac\u202ecine' }), 'request.invalid'],
      ['display_name not a string', () => put('VACCINE_DUE_PUSH', { mode: 'each', display_name: 7 }), 'request.invalid'],
      ['display_names not an object', () => put('VACCINE_DUE_PUSH', { mode: 'each', display_names: ['Vaccine'] }), 'request.invalid'],
      ['display_names bad tag', () => put('VACCINE_DUE_PUSH', { mode: 'each', display_names: { 'english!': 'Vaccine' } }), 'request.invalid'],
      ['display_names tag Intl refuses', () => put('VACCINE_DUE_PUSH', { mode: 'each', display_names: { 'en-US-x': 'Vaccine' } }), 'request.invalid'],
      ['display_names same tag twice', () => put('VACCINE_DUE_PUSH', { mode: 'each', display_names: { 'zh-CN': 'a', 'zh-cn': 'b' } }), 'request.invalid'],
      ['display_names name too long', () => put('VACCINE_DUE_PUSH', { mode: 'each', display_names: { en: long } }), 'request.invalid'],
      ['display_names name empty', () => put('VACCINE_DUE_PUSH', { mode: 'each', display_names: { en: '' } }), 'request.invalid'],
      ['display_names too many', () => put('VACCINE_DUE_PUSH', { mode: 'each', display_names: many }), 'request.invalid'],
      ['names with another mode', () => put('VACCINE_DUE_PUSH', { mode: 'latest', display_name: 'Renamed' }), 'notification.kind_exists'],
      ['naming a built-in kind', () => put('S2C_SIGNED_PUSH', { mode: 'each', display_name: 'Signed' }), 'request.invalid'],
      ['unknown field', () => put('VACCINE_DUE_PUSH', { mode: 'each', title: 'Vaccine' }), 'request.invalid'],
    ]);
    assert.deepEqual(ok(await s.call('GET', '/api/v2/management/notification-kinds')).kinds.find((k: { kind: string }) => k.kind === 'VACCINE_DUE_PUSH'), r2.kind, 'refusals changed no name');
  });
});

describe('the inbox', () => {
  test('pages newest first with a cursor; filters by kind and unread', async () => {
    const u = await s.user('pager');
    tok.pager = u.token;
    const made: string[] = [];
    for (let i = 0; i < 7; i++) made.push((await sent({ kind: i % 2 ? 'S2C_RESERVATION_PUSH' : 'S2C_REMIND_PUSH', target: { user: 'pager' }, title: `n${i}` })).notification.id);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: { notifications: { id: string }[]; next_cursor: string | null } = await inbox('pager', `?limit=3${cursor ? `&cursor=${cursor}` : ''}`);
      assert.ok(page.notifications.length <= 3);
      seen.push(...ids(page));
      cursor = page.next_cursor;
    } while (cursor);
    assert.deepEqual(seen, [...made].reverse());
    assert.deepEqual(ids(await inbox('pager', '?kind=S2C_RESERVATION_PUSH')), [made[5], made[3], made[1]]);
    ok(await s.call('POST', '/api/v2/notifications/read', { token: tok.pager, body: { ids: [made[6], made[5]] } }));
    assert.deepEqual(ids(await inbox('pager', '?unread=true')), made.slice(0, 5).reverse());
    assert.deepEqual(ids(await inbox('pager', '?unread=true&kind=S2C_REMIND_PUSH&limit=2')), [made[4], made[2]]);
  });

  test('mark read by ids, by kind, all; unread counts and the badge follow', async () => {
    const u = await s.user('reader');
    tok.reader = u.token;
    const conv = await s.conversation({ participants: ['reader', 'dr'] });
    await s.sendAs('dr', conv, 'one unread message');
    const a = await sent({ kind: 'S2C_REMIND_PUSH', target: { user: 'reader' } });
    await sent({ kind: 'S2C_REMIND_PUSH', target: { user: 'reader' } });
    await sent({ kind: 'S2C_SIGNED_PUSH', target: { user: 'reader' } });
    await sent({ kind: 'S2C_UNSIGNED_PUSH', target: { user: 'reader' } });
    const badge = async () => ok(await s.call('GET', '/api/v2/application/badge_no', { token: u.token })).badge_no;
    assert.equal(await badge(), 1 + 4);
    const read = (body: unknown) => s.call('POST', '/api/v2/notifications/read', { token: u.token, body });
    assert.deepEqual(ok(await read({ ids: [a.notification.id] })), { marked: 1, unread: { total: 3, kinds: { S2C_REMIND_PUSH: 1, S2C_SIGNED_PUSH: 1, S2C_UNSIGNED_PUSH: 1 } } });
    assert.equal(ok(await read({ ids: [a.notification.id] })).marked, 0, 'again: nothing new');
    assert.equal(ok(await read({ kind: 'S2C_REMIND_PUSH' })).marked, 1);
    assert.equal(await badge(), 1 + 2);
    assert.deepEqual(ok(await read({ all: true })), { marked: 2, unread: { total: 0, kinds: {} } });
    assert.equal(await badge(), 1);
    // The integrator reads a user's inbox on their behalf.
    const onBehalf = ok(await s.call('GET', '/api/v2/notifications/unread_count', { headers: { 'x-on-behalf-of': 'reader' } }));
    assert.deepEqual(onBehalf, { total: 0, kinds: {} });
  });
});

describe('bad input and rights: a coded error, nothing changed', () => {
  test('malformed targets are notification.target_invalid; unknown users, teams and kinds are not found / unknown', async () => {
    const bad = (target: unknown, label: string): [string, () => Promise<Reply>, ErrorCode] => [label, () => send({ kind: 'S2C_SIGNED_PUSH', target, title: 't' }), 'notification.target_invalid'];
    ok(await s.call('PUT', '/api/v2/management/teams/empty', { body: { name: 'Empty', members: [] } }));
    await refused([
      bad({}, 'empty target'),
      bad({ user: 'pa', team: 'care' }, 'two audiences'),
      bad({ group: 'x' }, 'unknown audience'),
      bad({ users: [] }, 'empty list'),
      bad({ users: 'pa' }, 'users not a list'),
      bad({ user: '' }, 'empty user id'),
      bad({ user: 'has space' }, 'malformed user id'),
      bad({ tenant: false }, 'tenant false'),
      bad('pa', 'a string'),
      bad(null, 'null'),
      bad({ team: 'empty' }, 'a team with no members'),
      bad({ tag: 'nobody-has-it' }, 'a tag nobody has'),
      ['unknown user', () => send({ kind: 'S2C_SIGNED_PUSH', target: { user: 'ghost' }, title: 't' }), 'user.not_found'],
      ['one unknown user in a list', () => send({ kind: 'S2C_SIGNED_PUSH', target: { users: ['pa', 'ghost'] }, title: 't' }), 'user.not_found'],
      ['unknown team', () => send({ kind: 'S2C_SIGNED_PUSH', target: { team: 'nope' }, title: 't' }), 'team.not_found'],
      ['unknown kind', () => send({ kind: 'S2C_NOPE_PUSH', target: { user: 'pa' }, title: 't' }), 'notification.kind_unknown'],
      ['malformed kind', () => send({ kind: 'lower-case', target: { user: 'pa' }, title: 't' }), 'notification.kind_unknown'],
      ['event kind', () => send({ kind: 'S2C_TEAMMEMBER_ENTER', target: { user: 'pa' }, title: 't' }), 'notification.kind_unknown'],
      ['no title', () => send({ kind: 'S2C_SIGNED_PUSH', target: { user: 'pa' } }), 'request.invalid'],
      ['extra field', () => send({ kind: 'S2C_SIGNED_PUSH', target: { user: 'pa' }, title: 't', color: 'red' }), 'request.invalid'],
      ['data not an object', () => send({ kind: 'S2C_SIGNED_PUSH', target: { user: 'pa' }, title: 't', data: [1] }), 'request.invalid'],
      ['data too large', () => send({ kind: 'S2C_SIGNED_PUSH', target: { user: 'pa' }, title: 't', data: { x: 'y'.repeat(40_000) } }), 'request.invalid'],
      ['unknown sender', () => send({ kind: 'S2C_SIGNED_PUSH', target: { user: 'pa' }, title: 't', sender_id: 'ghost' }), 'user.not_found'],
      ['team of unknown users', () => s.call('PUT', '/api/v2/management/teams/care', { body: { name: 'X', members: ['dr', 'ghost'] } }), 'user.not_found'],
      ['team without name', () => s.call('PUT', '/api/v2/management/teams/care', { body: { members: [] } }), 'request.invalid'],
      ['tags of an unknown user', () => s.call('PUT', '/api/v2/management/users/ghost/tags', { body: { tags: ['a'] } }), 'user.not_found'],
      ['a tag with a comma', () => s.call('PUT', '/api/v2/management/users/pa/tags', { body: { tags: ['a,b'] } }), 'request.invalid'],
      ['unknown team read', () => s.call('GET', '/api/v2/management/teams/nope'), 'team.not_found'],
      ['unknown team delete', () => s.call('DELETE', '/api/v2/management/teams/nope'), 'team.not_found'],
      ['tags of unknown user read', () => s.call('GET', '/api/v2/management/users/ghost/tags'), 'user.not_found'],
      ['bad policy', () => s.call('PUT', '/api/v2/management/settings', { body: { connection_policy: 'sometimes' } }), 'request.invalid'],
    ]);
  });

  test('the inbox: unknown ids, another user\'s notification, bad selections', async () => {
    const theirs = await sent({ kind: 'S2C_SIGNED_PUSH', target: { user: 'pb' } });
    const mine = await sent({ kind: 'S2C_SIGNED_PUSH', target: { user: 'pa' } });
    const read = (body: unknown) => s.call('POST', '/api/v2/notifications/read', { token: tok.pa, body });
    await refused([
      ['unknown id', () => read({ ids: ['01NOPE0000000000000000000'] }), 'notification.not_found'],
      ['another user\'s notification (one good id with it)', () => read({ ids: [mine.notification.id, theirs.notification.id] }), 'notification.not_found'],
      ['nothing selected', () => read({}), 'request.invalid'],
      ['two selections', () => read({ all: true, kind: 'S2C_SIGNED_PUSH' }), 'request.invalid'],
      ['all: false', () => read({ all: false }), 'request.invalid'],
      ['empty ids', () => read({ ids: [] }), 'request.invalid'],
      ['unknown kind', () => read({ kind: 'S2C_NOPE_PUSH' }), 'notification.kind_unknown'],
      ['unknown kind filter', () => s.call('GET', '/api/v2/notifications?kind=S2C_NOPE_PUSH', { token: tok.pa }), 'notification.kind_unknown'],
      ['another tenant\'s custom kind', () => s.call('GET', '/api/v2/notifications?kind=OTHER_ONLY', { token: tok.pa }), 'notification.kind_unknown'],
      ['unread not boolean', () => s.call('GET', '/api/v2/notifications?unread=maybe', { token: tok.pa }), 'request.invalid'],
      ['limit too large', () => s.call('GET', '/api/v2/notifications?limit=1000', { token: tok.pa }), 'request.invalid'],
      ['an app without X-On-Behalf-Of', () => s.call('GET', '/api/v2/notifications'), 'request.invalid'],
      ['no credentials', () => s.call('GET', '/api/v2/notifications', { apiKey: null }), 'auth.missing'],
    ]);
  });

  test('management routes refuse user tokens (auth.forbidden); a key reaches only its tenant', async () => {
    const u = { token: tok.dr };
    await refused([
      ['send', () => s.call('POST', N, { ...u, body: { kind: 'S2C_SIGNED_PUSH', target: { user: 'pa' }, title: 't' } }), 'auth.forbidden'],
      ['send on behalf of', () => s.call('POST', N, { headers: { 'x-on-behalf-of': 'dr' }, body: { kind: 'S2C_SIGNED_PUSH', target: { user: 'pa' }, title: 't' } }), 'auth.forbidden'],
      ['register kind', () => s.call('PUT', '/api/v2/management/notification-kinds/USER_KIND', { ...u, body: { mode: 'each' } }), 'auth.forbidden'],
      ['list kinds', () => s.call('GET', '/api/v2/management/notification-kinds', u), 'auth.forbidden'],
      ['put team', () => s.call('PUT', '/api/v2/management/teams/care', { ...u, body: { name: 'x', members: [] } }), 'auth.forbidden'],
      ['get team', () => s.call('GET', '/api/v2/management/teams/care', u), 'auth.forbidden'],
      ['delete team', () => s.call('DELETE', '/api/v2/management/teams/care', u), 'auth.forbidden'],
      ['put tags', () => s.call('PUT', '/api/v2/management/users/pa/tags', { ...u, body: { tags: [] } }), 'auth.forbidden'],
      ['get tags', () => s.call('GET', '/api/v2/management/users/pa/tags', u), 'auth.forbidden'],
      ['get settings', () => s.call('GET', '/api/v2/management/settings', u), 'auth.forbidden'],
      ['put settings', () => s.call('PUT', '/api/v2/management/settings', { ...u, body: { connection_policy: 'kick' } }), 'auth.forbidden'],
      ['another tenant\'s key to this tenant\'s user', () => send({ kind: 'S2C_SIGNED_PUSH', target: { user: 'pa' }, title: 't' }, other.apiKey), 'user.not_found'],
      ['this key to the other tenant\'s team', () => send({ kind: 'S2C_SIGNED_PUSH', target: { team: 'oteam' }, title: 't' }), 'team.not_found'],
      ['this key to the other tenant\'s user', () => send({ kind: 'S2C_SIGNED_PUSH', target: { user: 'ox' }, title: 't' }), 'user.not_found'],
      ['the other tenant\'s custom kind', () => send({ kind: 'OTHER_ONLY', target: { user: 'pa' }, title: 't' }), 'notification.kind_unknown'],
      ['the other tenant\'s team, read', () => s.call('GET', '/api/v2/management/teams/oteam'), 'team.not_found'],
      ['another tenant\'s key reading this tenant\'s team', () => s.call('GET', '/api/v2/management/teams/care', { apiKey: other.apiKey }), 'team.not_found'],
      ['another tenant\'s key tagging this tenant\'s user', () => s.call('PUT', '/api/v2/management/users/pa/tags', { apiKey: other.apiKey, body: { tags: ['x'] } }), 'user.not_found'],
      ['bad key', () => send({ kind: 'S2C_SIGNED_PUSH', target: { user: 'pa' }, title: 't' }, 'ck_wrong'), 'auth.invalid_api_key'],
    ]);
    // Settings are per tenant.
    ok(await s.call('PUT', '/api/v2/management/settings', { apiKey: other.apiKey, body: { connection_policy: 'kick' } }));
    assert.equal(ok(await s.call('GET', '/api/v2/management/settings')).settings.connection_policy, 'notify');
    ok(await s.call('PUT', '/api/v2/management/settings', { apiKey: other.apiKey, body: { connection_policy: 'notify' } }));
  });
});

test('the OpenAPI description covers the notification, team, tag and settings paths', async () => {
  const doc = ok(await s.call('GET', '/docs/json', { apiKey: null }));
  const expect: [string, string[], string][] = [
    ['/api/v2/management/notifications', ['post'], 'apiKey'],
    ['/api/v2/management/notification-kinds', ['get'], 'apiKey'],
    ['/api/v2/management/notification-kinds/{kind}', ['put'], 'apiKey'],
    ['/api/v2/management/teams/{team_id}', ['put', 'get', 'delete'], 'apiKey'],
    ['/api/v2/management/users/{user_id}/tags', ['put', 'get'], 'apiKey'],
    ['/api/v2/management/settings', ['get', 'put'], 'apiKey'],
    ['/api/v2/notifications', ['get'], 'bearer'],
    ['/api/v2/notifications/latest', ['get'], 'bearer'],
    ['/api/v2/notifications/unread_count', ['get'], 'bearer'],
    ['/api/v2/notifications/read', ['post'], 'bearer'],
  ];
  for (const [path, methods, scheme] of expect) {
    for (const m of methods) {
      const op = doc.paths[path]?.[m];
      assert.ok(op, `${m.toUpperCase()} ${path}`);
      assert.ok(op.security.some((x: Record<string, unknown>) => scheme in x), `${m} ${path} security`);
      assert.ok(op.responses['200'], `${m} ${path} reply`);
    }
  }
  const target = doc.paths['/api/v2/management/notifications'].post.requestBody.content['application/json'].schema.properties.target;
  assert.deepEqual(Object.keys(target.properties).sort(), ['tag', 'team', 'tenant', 'user', 'users']);
});
