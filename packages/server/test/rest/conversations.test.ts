/**
 * Conversations ("sessions") over REST: creation by each id rule of the family-doctor IM
 * server (seed 000), idempotency and conflicts, listing (sticky first, newest activity),
 * by type, counts, recent by business_type, rename, status, isExist (which must move nobody's
 * read cursor), participants, and tenant isolation.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { startTestServer, type TestServer } from '../support/server.ts';
import { assertError, enc, ok, secondTenant, type Reply, type Tenant } from './helpers.ts';

let s: TestServer;
const tok: Record<string, string> = {};

const md5 = (ids: string[]) => createHash('md5').update([...new Set(ids)].sort().join(',')).digest('hex');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const create = (body: Record<string, unknown>, o: { token?: string; headers?: Record<string, string> } = {}): Promise<Reply> =>
  s.call('POST', '/api/v2/sessions', { body, ...o });
const as = (who: string) => ({ token: tok[who]! });
const get = (path: string, who?: string) => s.call('GET', path, who ? as(who) : {});

before(async () => {
  s = await startTestServer();
  const users: [string, 'patient' | 'doctor' | 'staff'][] = [
    ['pat1', 'patient'], ['pat2', 'patient'], ['doc1', 'doctor'], ['doc2', 'doctor'], ['doc3', 'doctor'], ['nurse', 'staff'], ['outsider', 'doctor'],
  ];
  for (const [id, role] of users) tok[id] = (await s.user(id, role, `${id.toUpperCase()} name`)).token;
});
after(() => s.stop());

describe('POST /api/v2/sessions: id rules (seed 000)', () => {
  test('type 1: patient_team_consultType from parts; business_type 2 with a patient', async () => {
    const r = ok(await create({ session_type: 1, participants: ['pat1:patient', 'doc1:doctor'], parts: { patient: 'pat1', team: 'teamA', consult_type: 1 } }));
    assert.equal(r.created, true);
    assert.equal(r.session.id, 'pat1_teamA_1');
    assert.equal(r.session.type, 1);
    assert.equal(r.session.business_type, 2);
    assert.equal(r.session.last_seq, 0);
    assert.equal(r.session.status, 0);
    // The default name joins the participants' names with "、", cut to 10 characters.
    assert.equal(r.session.name, 'PAT1 name、DOC1 name'.slice(0, 10) + '…');
    // consult_type may be a string too.
    const r2 = ok(await create({ session_type: 1, participants: ['pat1', 'doc1'], parts: { patient: 'pat1', team: 'teamA', consult_type: '2' } }));
    assert.equal(r2.session.id, 'pat1_teamA_2');
  });

  test('type 1: missing parts → conversation.id_required naming them; a given id contradicting the parts → conversation.id_mismatch', async () => {
    const r = await create({ session_type: 1, participants: ['pat1', 'doc1'], parts: { patient: 'pat1' } });
    assertError(r, 'conversation.id_required');
    assert.deepEqual(r.body.details.missing, ['team', 'consult_type']);
    assertError(await create({ session_type: 1, participants: ['pat1', 'doc1'] }), 'conversation.id_required');
    assertError(
      await create({ session_type: 1, session_id: 'something_else', participants: ['pat1', 'doc1'], parts: { patient: 'pat1', team: 'teamB', consult_type: 1 } }),
      'conversation.id_mismatch',
    );
    // The id the parts give is accepted as the given id.
    const same = ok(await create({ session_type: 1, session_id: 'pat1_teamB_1', participants: ['pat1', 'doc1'], parts: { patient: 'pat1', team: 'teamB', consult_type: 1 } }));
    assert.equal(same.session.id, 'pat1_teamB_1');
  });

  test('type 2: hash of the participants, the same in any order and with or without roles', async () => {
    const a = ok(await create({ session_type: 2, participants: ['doc1', 'doc2'] }));
    assert.equal(a.created, true);
    assert.equal(a.session.id, md5(['doc1', 'doc2']));
    assert.equal(a.session.business_type, 1, 'no patient');
    const b = ok(await create({ session_type: 2, participants: ['doc2:doctor', 'doc1:doctor'] }));
    assert.equal(b.created, false);
    assert.equal(b.session.id, a.session.id);
    // A user creating it is a participant: doc1 naming only doc2 gives the same pair.
    const c = ok(await create({ session_type: 2, participants: ['doc2'] }, as('doc1')));
    assert.equal(c.session.id, a.session.id);
    assert.equal(c.created, false);
    // Another pair is another conversation.
    const d = ok(await create({ session_type: 2, participants: ['pat1', 'doc2'] }));
    assert.equal(d.session.id, md5(['pat1', 'doc2']));
    assert.notEqual(d.session.id, a.session.id);
    assert.equal(d.session.business_type, 2);
  });

  test('type 0 (system): hash of the participants', async () => {
    const r = ok(await create({ session_type: 0, participants: ['pat2', 'nurse'] }));
    assert.equal(r.session.id, md5(['nurse', 'pat2']));
    assert.equal(r.session.type, 0);
  });

  test('type 3: the team id', async () => {
    const r = ok(await create({ session_type: 3, participants: ['doc1', 'doc2', 'nurse'], parts: { team: 'admin-team-7' }, session_name: 'Team 7' }));
    assert.equal(r.session.id, 'admin-team-7');
    assert.equal(r.session.name, 'Team 7');
    assert.equal(r.session.business_type, 1);
    const missing = await create({ session_type: 3, participants: ['doc1'] });
    assertError(missing, 'conversation.id_required');
    assert.deepEqual(missing.body.details.missing, ['team']);
  });

  test('type 4: a generated id, new at every create (or the id given)', async () => {
    const a = ok(await create({ session_type: 4, participants: ['doc1', 'doc2', 'doc3'], session_name: 'DOC1、DOC2、DOC3' }));
    const b = ok(await create({ session_type: 4, participants: ['doc1', 'doc2', 'doc3'] }));
    assert.match(a.session.id, /^[0-9A-HJKMNP-TV-Z]{26}$/);
    assert.notEqual(a.session.id, b.session.id);
    assert.equal(a.created && b.created, true);
    const given = ok(await create({ session_type: 4, session_id: 'discussion-given', participants: ['doc1', 'doc2'] }));
    assert.equal(given.session.id, 'discussion-given');
  });

  test('type 5: patient_specialistTeam', async () => {
    const r = ok(await create({ session_type: 5, participants: ['pat1:patient', 'doc1:specialist', 'doc2:family'], parts: { patient: 'pat1', team: 'spec9' }, session_name: 'pat1-共管对话' }));
    assert.equal(r.session.id, 'pat1_spec9');
    assert.equal(r.session.name, 'pat1-共管对话');
    assertError(await create({ session_type: 5, participants: ['pat1'], parts: { team: 'spec9' } }), 'conversation.id_required');
  });

  test('types 6 and 7 have no rule: session_id is required', async () => {
    for (const type of [6, 7]) {
      assertError(await create({ session_type: type, participants: ['pat1', 'doc1'] }), 'conversation.id_required', `type ${type}`);
      assertError(await create({ session_type: type, participants: ['pat1', 'doc1'], parts: { patient: 'pat1', consult: 'c1', consult_type: 1 } }), 'conversation.id_required', `type ${type} with parts`);
      const r = ok(await create({ session_type: type, session_id: `expert-${type}`, participants: ['pat1', 'doc1'] }));
      assert.equal(r.session.id, `expert-${type}`);
      assert.equal(r.session.type, type);
    }
  });

  test('types 8–11: patient_consult_consultType; type 12: room_consult_consultType', async () => {
    for (const type of [8, 9, 10, 11]) {
      const r = ok(await create({ session_type: type, participants: ['pat2', 'doc2'], parts: { patient: 'pat2', consult: `cons${type}`, consult_type: type } }));
      assert.equal(r.session.id, `pat2_cons${type}_${type}`);
      assert.equal(r.session.type, type);
      const bad = await create({ session_type: type, participants: ['pat2', 'doc2'], parts: { patient: 'pat2' } });
      assertError(bad, 'conversation.id_required', `type ${type}`);
      assert.deepEqual(bad.body.details.missing, ['consult', 'consult_type']);
    }
    const room = ok(await create({ session_type: 12, participants: ['pat1', 'pat2', 'doc3'], parts: { room: 'room3', consult: 'q1', consult_type: 12 } }));
    assert.equal(room.session.id, 'room3_q1_12');
    const bad = await create({ session_type: 12, participants: ['pat1'], parts: { patient: 'pat1', consult: 'q1', consult_type: 12 } });
    assertError(bad, 'conversation.id_required');
    assert.deepEqual(bad.body.details.missing, ['room']);
  });
});

describe('POST /api/v2/sessions: idempotency and bad input', () => {
  test('creating again returns created:false with the same conversation, unchanged', async () => {
    const body = { session_type: 8, participants: ['pat1', 'doc3'], parts: { patient: 'pat1', consult: 'idem', consult_type: 8 }, session_name: 'first' };
    const a = ok(await create(body));
    const b = ok(await create({ ...body, session_name: 'second', participants: ['pat1', 'doc3', 'doc2'] }));
    assert.equal(a.created, true);
    assert.equal(b.created, false);
    assert.deepEqual(b.session, a.session, 'the existing conversation, not changed by the second call');
    const people = ok(await get(`/api/v2/sessions/${a.session.id}/participants`)).participants.map((p: { user_id: string }) => p.user_id).sort();
    assert.deepEqual(people, ['doc3', 'pat1']);
  });

  test('the same id with another type → conversation.conflict', async () => {
    ok(await create({ session_type: 3, participants: ['doc1'], parts: { team: 'T-conflict' } }));
    const r = await create({ session_type: 6, session_id: 'T-conflict', participants: ['doc1'] });
    assertError(r, 'conversation.conflict');
    assert.equal(r.body.details.existing_type, 3);
  });

  test('a user who is not in an existing conversation learns nothing by "creating" it', async () => {
    const id = ok(await create({ session_type: 6, session_id: 'private-expert', participants: ['pat1', 'doc1'], session_name: 'Private' })).session.id;
    const r = await create({ session_type: 6, session_id: id, participants: ['outsider'] }, as('outsider'));
    assertError(r, 'conversation.not_participant');
    // …and is not added by it.
    assertError(await get(`/api/v2/sessions/${id}/session`, 'outsider'), 'conversation.not_participant');
  });

  test('unknown type codes → conversation.type_unknown', async () => {
    for (const type of [13, -1, 99, 2147483647]) {
      const r = await create({ session_type: type, participants: ['doc1'] });
      assertError(r, 'conversation.type_unknown', `type ${type}`);
    }
    for (const type of [1.5, '2', null]) assertError(await create({ session_type: type, participants: ['doc1'] }), 'request.invalid', `type ${type}`);
  });

  test('an unknown participant → user.not_found (with the missing ids); nothing is created', async () => {
    const r = await create({ session_type: 2, participants: ['doc1', 'ghost', 'ghost2:doctor'] });
    assertError(r, 'user.not_found');
    assert.deepEqual(r.body.details.missing.sort(), ['ghost', 'ghost2']);
    const exists = ok(await get(`/api/v2/sessions/isExist?session_type=2&participants=doc1,ghost,ghost2`));
    assert.equal(exists.exists, false);
  });

  test('malformed participants → participant.invalid or request.invalid', async () => {
    for (const p of ['a:', 'doc1:', 'has space', 'x/y', 'q?', `doc1:${'r'.repeat(33)}`]) {
      assertError(await create({ session_type: 2, participants: ['doc2', p] }), 'participant.invalid', p);
    }
    for (const p of ['', 5, { id: 'doc1', role: '' }, { id: 'doc1', extra: 1 }, { role: 'x' }]) {
      assertError(await create({ session_type: 2, participants: ['doc2', p] }), 'request.invalid', JSON.stringify(p));
    }
    assertError(await create({ session_type: 2, participants: [] }), 'request.invalid', 'no participants');
    assertError(await create({ session_type: 2 }), 'request.invalid', 'participants missing');
  });

  test('participants as objects; explicit business_type; bad business_type and ids', async () => {
    const r = ok(await create({ session_type: 6, session_id: 'obj-parts', participants: [{ id: 'pat2', role: 'patient' }, { id: 'doc2' }], business_type: 1 }));
    assert.equal(r.session.business_type, 1, 'explicit business_type wins');
    const roles = ok(await get('/api/v2/sessions/obj-parts/participants')).participants.map((p: { user_id: string; role: string }) => `${p.user_id}:${p.role}`).sort();
    assert.deepEqual(roles, ['doc2:member', 'pat2:patient']);
    assertError(await create({ session_type: 6, session_id: 'bt3', participants: ['doc2'], business_type: 3 }), 'request.invalid');
    assertError(await create({ session_type: 6, session_id: 'has/slash', participants: ['doc2'] }), 'request.invalid');
    assertError(await create({ session_type: 6, session_id: 'x'.repeat(129), participants: ['doc2'] }), 'request.invalid');
    assertError(await create({ session_type: 6, session_id: 'extra', participants: ['doc2'], foo: 1 }), 'request.invalid');
    assertError(await create({ session_type: 1, participants: ['doc2'], parts: { patient: 'p', team: 't', consult_type: 1, other: 'x' } }), 'request.invalid');
  });
});

describe('listing, sticky, by type, counts, recent', () => {
  // lister is in four conversations whose activity order is c4 (newest) … c1.
  const c: string[] = [];
  before(async () => {
    tok.lister = (await s.user('lister', 'doctor', 'Lister')).token;
    await s.user('lpat', 'patient', 'LPat');
    c.push(await s.conversation({ participants: ['lister', 'lpat'], type: 2 })); // business 2
    c.push(await s.conversation({ participants: ['lister', 'doc1'], type: 2 })); // business 1
    c.push(await s.conversation({ participants: ['lister', 'doc2', 'doc3'], type: 4 })); // business 1
    c.push(await s.conversation({ participants: ['lister', 'lpat', 'doc1'], type: 6, id: 'lister-expert' })); // business 2
    for (const id of c) {
      await sleep(3);
      await s.sendAs('lister', id, `hello ${id}`);
    }
  });
  const ids = (r: Reply) => ok(r).sessions.map((x: { id: string }) => x.id);

  test('GET /sessions: newest activity first, with the caller\'s view', async () => {
    const body = ok(await get('/api/v2/sessions', 'lister'));
    assert.deepEqual(body.sessions.map((x: { id: string }) => x.id), [...c].reverse());
    assert.equal(body.next_cursor, null);
    const first = body.sessions[0];
    assert.equal(first.sticky, false);
    assert.equal(first.last_message.content.text, `hello ${c[3]}`);
    assert.equal(first.read_seq, 1, 'own message is read');
    assert.equal(first.unread, 0);
    // A message moves its conversation to the top.
    await sleep(3);
    await s.sendAs('lister', c[0]!, 'bump');
    assert.deepEqual(ids(await get('/api/v2/sessions', 'lister')), [c[0], c[3], c[2], c[1]]);
    c.push(c.shift()!); // order is now c[3] newest … c[0] oldest: [c2, c3, c4, c1]
  });

  test('cursor paging visits every conversation once, in order', async () => {
    const expected = ids(await get('/api/v2/sessions', 'lister'));
    const seen: string[] = [];
    let cursor: string | null = null;
    for (let i = 0; i < 10; i++) {
      const body: { sessions: { id: string }[]; next_cursor: string | null } = ok(
        await get(`/api/v2/sessions?limit=1${cursor ? `&cursor=${enc(cursor)}` : ''}`, 'lister'),
      );
      seen.push(...body.sessions.map((x) => x.id));
      cursor = body.next_cursor;
      if (!cursor) break;
    }
    assert.deepEqual(seen, expected);
    assertError(await get('/api/v2/sessions?limit=0', 'lister'), 'request.invalid');
    assertError(await get('/api/v2/sessions?limit=201', 'lister'), 'request.invalid');
    assertError(await get('/api/v2/sessions?limit=ten', 'lister'), 'request.invalid');
  });

  test('PUT sticky puts a conversation first (for the caller only); DELETE restores the order', async () => {
    const before = ids(await get('/api/v2/sessions', 'lister'));
    const oldest = before[before.length - 1]!;
    assert.deepEqual(ok(await s.call('PUT', `/api/v2/sessions/${oldest}/sticky`, as('lister'))), { sticky: true });
    const stuck = ok(await get('/api/v2/sessions', 'lister')).sessions;
    assert.deepEqual(stuck.map((x: { id: string }) => x.id), [oldest, ...before.slice(0, -1)]);
    assert.equal(stuck[0].sticky, true);
    assert.equal(ok(await get(`/api/v2/sessions/${oldest}/session`, 'lister')).session.sticky, true);
    // Paging keeps the sticky one first.
    const p1 = ok(await get('/api/v2/sessions?limit=2', 'lister'));
    const p2 = ok(await get(`/api/v2/sessions?limit=2&cursor=${enc(p1.next_cursor)}`, 'lister'));
    assert.deepEqual([...p1.sessions, ...p2.sessions].map((x: { id: string }) => x.id), [oldest, ...before.slice(0, -1)]);
    // Sticky is per user: the other participant's view is unchanged.
    const other = ok(await get(`/api/v2/sessions/${oldest}/session`, 'doc1'));
    assert.equal(other.session.sticky, false);
    // Sticky twice is still sticky.
    assert.deepEqual(ok(await s.call('PUT', `/api/v2/sessions/${oldest}/sticky`, as('lister'))), { sticky: true });
    assert.deepEqual(ok(await s.call('DELETE', `/api/v2/sessions/${oldest}/sticky`, as('lister'))), { sticky: false });
    assert.deepEqual(ids(await get('/api/v2/sessions', 'lister')), before);
  });

  test('a cursor that is not a next_cursor of this list is refused (request.invalid), on every paged list', async () => {
    const b64 = (v: unknown) => enc(Buffer.from(JSON.stringify(v)).toString('base64url'));
    const topicShaped = b64([Date.now(), 'x']);
    for (const bad of ['garbage', enc('!!'), b64({ a: 1 }), b64([1, 2]), b64([1, '2', 'x']), b64([1, 2, 3]), topicShaped]) {
      assertError(await get(`/api/v2/sessions?cursor=${bad}`, 'lister'), 'request.invalid', bad);
      assertError(await get(`/api/v2/sessions/sessionListByType?type=2&cursor=${bad}`, 'lister'), 'request.invalid', bad);
    }
    // A conversation list's cursor is not a topic list's either.
    const p1 = ok(await get('/api/v2/sessions?limit=1', 'lister'));
    assert.ok(p1.next_cursor);
    assertError(await get(`/api/v2/sessions/topics?cursor=${enc(p1.next_cursor)}`, 'lister'), 'request.invalid');
    // An empty cursor is the first page.
    assert.deepEqual(ids(await get('/api/v2/sessions?limit=1&cursor=', 'lister')), p1.sessions.map((x: { id: string }) => x.id));
  });

  test('sticky: not a participant, unknown conversation, no user', async () => {
    assertError(await s.call('PUT', `/api/v2/sessions/${c[0]}/sticky`, as('outsider')), 'conversation.not_participant');
    assertError(await s.call('PUT', '/api/v2/sessions/no-such-conv/sticky', as('lister')), 'conversation.not_found');
    assertError(await s.call('DELETE', '/api/v2/sessions/no-such-conv/sticky', as('lister')), 'conversation.not_found');
    assertError(await s.call('PUT', `/api/v2/sessions/${c[0]}/sticky`), 'request.invalid', 'API key without a user');
    ok(await s.call('PUT', `/api/v2/sessions/${c[0]}/sticky`, { headers: { 'x-on-behalf-of': 'lister' } }));
    ok(await s.call('DELETE', `/api/v2/sessions/${c[0]}/sticky`, { headers: { 'x-on-behalf-of': 'lister' } }));
  });

  test('sessionListByType and sessionCountByType', async () => {
    const two = ok(await get('/api/v2/sessions/sessionListByType?type=2', 'lister')).sessions;
    assert.equal(two.length, 2);
    assert.ok(two.every((x: { type: number }) => x.type === 2));
    assert.deepEqual(ok(await get('/api/v2/sessions/sessionCountByType?type=2', 'lister')), { count: 2 });
    assert.deepEqual(ids(await get('/api/v2/sessions/sessionListByType?type=4', 'lister')), [c.find((x) => x.length === 26)]);
    assert.deepEqual(ok(await get('/api/v2/sessions/sessionCountByType?type=6', 'lister')), { count: 1 });
    assert.deepEqual(ok(await get('/api/v2/sessions/sessionCountByType?type=12', 'lister')), { count: 0 });
    assert.deepEqual(ok(await get('/api/v2/sessions/sessionListByType?type=12', 'lister')), { sessions: [], next_cursor: null });
    // Paging by type.
    const p1 = ok(await get('/api/v2/sessions/sessionListByType?type=2&limit=1', 'lister'));
    assert.equal(p1.sessions.length, 1);
    const p2 = ok(await get(`/api/v2/sessions/sessionListByType?type=2&limit=1&cursor=${enc(p1.next_cursor)}`, 'lister'));
    assert.deepEqual([...p1.sessions, ...p2.sessions].map((x: { id: string }) => x.id), two.map((x: { id: string }) => x.id));
    assert.equal(p2.next_cursor, null);
    for (const q of ['', '?type=', '?type=abc', '?type=1.5', '?type=2x', '?type=1e99', '?type=%202']) {
      assertError(await get(`/api/v2/sessions/sessionListByType${q}`, 'lister'), 'request.invalid', q);
      assertError(await get(`/api/v2/sessions/sessionCountByType${q}`, 'lister'), 'request.invalid', q);
    }
    assertError(await get('/api/v2/sessions/sessionCountByType?type=2'), 'request.invalid', 'API key without a user');
  });

  test('recent: type=patient keeps conversations with a patient, type=doctor those without', async () => {
    const all = ids(await get('/api/v2/sessions/recent', 'lister'));
    assert.equal(all.length, 4);
    const withPatient = ok(await get('/api/v2/sessions/recent?type=patient', 'lister')).sessions;
    assert.deepEqual(withPatient.map((x: { id: string }) => x.id).sort(), [c.find((x) => x === 'lister-expert'), md5(['lister', 'lpat'])].sort());
    assert.ok(withPatient.every((x: { business_type: number }) => x.business_type === 2));
    const doctors = ok(await get('/api/v2/sessions/recent?type=doctor', 'lister')).sessions;
    assert.equal(doctors.length, 2);
    assert.ok(doctors.every((x: { business_type: number }) => x.business_type === 1));
    assert.deepEqual(ids(await get('/api/v2/sessions/recent?limit=1', 'lister')), all.slice(0, 1));
    assertError(await get('/api/v2/sessions/recent?type=nurse', 'lister'), 'request.invalid');
    assertError(await get('/api/v2/sessions/recent?limit=0', 'lister'), 'request.invalid');
  });
});

describe('one conversation: get, rename, status', () => {
  let id: string;
  before(async () => {
    id = await s.conversation({ participants: ['pat2:patient', 'doc3:doctor'], type: 6, id: 'rename-me' });
  });

  test('GET /:id/session: the caller\'s view; an API key sees the conversation as it is now', async () => {
    const v = ok(await get(`/api/v2/sessions/${id}/session`, 'pat2')).session;
    assert.equal(v.id, id);
    assert.equal(v.type, 6);
    assert.equal(v.unread, 0);
    assert.equal(v.last_message, null);
    await s.sendAs('doc3', id, 'one');
    await s.sendAs('doc3', id, 'two');
    const after = ok(await get(`/api/v2/sessions/${id}/session`, 'pat2')).session;
    assert.equal(after.last_seq, 2);
    assert.equal(after.unread, 2);
    assert.equal(after.last_message.content.text, 'two');
    const byKey = ok(await get(`/api/v2/sessions/${id}/session`)).session;
    assert.equal(byKey.last_seq, 2, 'not a stale cached copy');
    assert.equal(byKey.last_message_at, after.last_message_at);
    assert.equal(byKey.last_message.content.text, 'two');
    assertError(await get(`/api/v2/sessions/${id}/session`, 'outsider'), 'conversation.not_participant');
    assertError(await get('/api/v2/sessions/nope/session', 'pat2'), 'conversation.not_found');
    assertError(await get(`/api/v2/sessions/${'x'.repeat(129)}/session`, 'pat2'), 'request.invalid');
    assertError(await get(`/api/v2/sessions/${'x'.repeat(5000)}/session`, 'pat2'), 'request.invalid');
  });

  test('ids up to 128 characters work on every path (type 12 ids from long codes); longer is request.invalid', async () => {
    const parts = { room: 'r'.repeat(60), consult: 'c'.repeat(60), consult_type: 12 };
    const long = ok(await create({ session_type: 12, participants: ['pat2', 'doc3'], parts })).session.id as string;
    assert.equal(long.length, 124);
    ok(await get(`/api/v2/sessions/${long}/session`, 'pat2'));
    const m = ok(await s.call('POST', `/api/v2/sessions/${long}/messages`, { ...as('pat2'), body: { type: 1, content: { text: 'long' } } })).message;
    ok(await get(`/api/v2/sessions/${long}/messages/${m.id}`, 'doc3'));
    ok(await get(`/api/v2/sessions/${long}/participants/pat2,doc3`, 'doc3'));
    const id128 = 'i'.repeat(128);
    assert.equal(ok(await create({ session_type: 6, session_id: id128, participants: ['pat2', 'doc3'] })).session.id, id128);
    ok(await s.call('PUT', `/api/v2/sessions/${id128}/sticky`, as('pat2')));
    assertError(await create({ session_type: 6, session_id: 'i'.repeat(129), participants: ['pat2'] }), 'request.invalid');
    // A long comma-separated participant list in the path (over the router's default 100 characters).
    const many = [...Array(30)].map((_, i) => `ghost-number-${i}`).concat('doc3').join(',');
    assert.ok(many.length > 100);
    assert.deepEqual(ok(await get(`/api/v2/sessions/${long}/participants/${many}`, 'doc3')).participants.map((p: { user_id: string }) => p.user_id), ['doc3']);
  });

  test('rename with PUT or POST /:id/name', async () => {
    const r = ok(await s.call('POST', `/api/v2/sessions/${id}/name`, { ...as('doc3'), body: { name: '某居民-共管对话' } }));
    assert.equal(r.session.name, '某居民-共管对话');
    assert.equal(ok(await get(`/api/v2/sessions/${id}/session`, 'pat2')).session.name, '某居民-共管对话');
    const r2 = ok(await s.call('PUT', `/api/v2/sessions/${id}/name`, { body: { name: 'By the integrator' } }));
    assert.equal(r2.session.name, 'By the integrator');
    assert.equal(ok(await get(`/api/v2/sessions/${id}/session`)).session.name, 'By the integrator');
    assert.equal(ok(await get('/api/v2/sessions', 'pat2')).sessions.find((x: { id: string }) => x.id === id).name, 'By the integrator');
    for (const body of [{}, { name: '' }, { name: 5 }, { name: 'x'.repeat(257) }, { name: 'ok', extra: 1 }]) {
      assertError(await s.call('POST', `/api/v2/sessions/${id}/name`, { ...as('doc3'), body }), 'request.invalid', JSON.stringify(body));
    }
    assertError(await s.call('POST', `/api/v2/sessions/${id}/name`, { ...as('outsider'), body: { name: 'x' } }), 'conversation.not_participant');
    assertError(await s.call('POST', '/api/v2/sessions/nope/name', { ...as('doc3'), body: { name: 'x' } }), 'conversation.not_found');
  });

  test('status with PUT or POST /:id/status', async () => {
    assert.equal(ok(await s.call('PUT', `/api/v2/sessions/${id}/status`, { ...as('doc3'), body: { status: 1 } })).session.status, 1);
    assert.equal(ok(await get(`/api/v2/sessions/${id}/session`, 'pat2')).session.status, 1);
    assert.equal(ok(await s.call('POST', `/api/v2/sessions/${id}/status`, { body: { status: 10 } })).session.status, 10);
    assert.equal(ok(await get(`/api/v2/sessions/${id}/session`, 'pat2')).session.status, 10);
    for (const body of [{}, { status: '1' }, { status: 1.5 }, { status: null }, { status: 1, name: 'x' }]) {
      assertError(await s.call('PUT', `/api/v2/sessions/${id}/status`, { ...as('doc3'), body }), 'request.invalid', JSON.stringify(body));
    }
    assertError(await s.call('PUT', `/api/v2/sessions/${id}/status`, { ...as('outsider'), body: { status: 0 } }), 'conversation.not_participant');
    assertError(await s.call('PUT', '/api/v2/sessions/nope/status', { ...as('doc3'), body: { status: 0 } }), 'conversation.not_found');
  });
});

describe('GET /sessions/isExist', () => {
  let id: string;
  before(async () => {
    id = await s.conversation({ participants: ['pat1', 'doc2'], type: 2 });
  });

  test('by session_id, or by session_type + participants', async () => {
    assert.deepEqual(ok(await get(`/api/v2/sessions/isExist?session_id=${id}`, 'pat1')), { exists: true, session_id: id });
    assert.deepEqual(ok(await get(`/api/v2/sessions/isExist?session_id=${id}`)), { exists: true, session_id: id });
    assert.deepEqual(ok(await get('/api/v2/sessions/isExist?session_id=nope', 'pat1')), { exists: false, session_id: null });
    assert.deepEqual(ok(await get('/api/v2/sessions/isExist?session_type=2&participants=doc2,pat1', 'pat1')), { exists: true, session_id: id });
    assert.deepEqual(ok(await get('/api/v2/sessions/isExist?session_type=2&participants=pat1,doc2')), { exists: true, session_id: id });
    assert.deepEqual(ok(await get('/api/v2/sessions/isExist?session_type=2&participants=pat1,doc3')), { exists: false, session_id: null });
    // A user outside it does not learn it exists.
    assert.deepEqual(ok(await get(`/api/v2/sessions/isExist?session_id=${id}`, 'outsider')), { exists: false, session_id: null });
  });

  test('bad queries', async () => {
    assertError(await get('/api/v2/sessions/isExist', 'pat1'), 'request.invalid');
    assertError(await get('/api/v2/sessions/isExist?session_type=2', 'pat1'), 'request.invalid');
    assertError(await get('/api/v2/sessions/isExist?session_type=13&participants=a,b', 'pat1'), 'conversation.type_unknown');
    assertError(await get('/api/v2/sessions/isExist?session_type=x&participants=a,b', 'pat1'), 'request.invalid');
    assertError(await get('/api/v2/sessions/isExist?session_type=1&participants=pat1,doc2', 'pat1'), 'conversation.id_required');
    assertError(await get('/api/v2/sessions/isExist?session_type=2&participants=a:', 'pat1'), 'participant.invalid');
  });

  test('moves NOBODY\'s read cursor (the bug seed 000 notes): unread counts are equal before and after', async () => {
    const conv = await s.conversation({ participants: ['pat1:patient', 'doc1:doctor', 'doc2:doctor'], type: 6, id: 'isexist-cursor' });
    await s.sendAs('doc1', conv, 'm1');
    await s.sendAs('pat1', conv, 'm2');
    await s.sendAs('doc2', conv, 'm3');
    const snapshot = async () => {
      const out: Record<string, unknown> = {};
      for (const u of ['pat1', 'doc1', 'doc2']) {
        out[`${u}.one`] = ok(await get(`/api/v2/sessions/${conv}/unread_message_count`, u)).count;
        out[`${u}.total`] = ok(await get('/api/v2/sessions/unread_message_count', u)).count;
        out[`${u}.badge`] = ok(await get('/api/v2/application/badge_no', u)).badge_no;
      }
      out.cursors = ok(await get(`/api/v2/sessions/${conv}/participants`)).participants.map((p: { user_id: string; read_seq: number }) => `${p.user_id}@${p.read_seq}`).sort();
      return out;
    };
    const before = await snapshot();
    assert.deepEqual(before.cursors, ['doc1@1', 'doc2@3', 'pat1@2'], 'each sender has read up to their own message');
    assert.equal(before['doc1.one'], 2);
    for (const u of ['pat1', 'doc1', 'doc2']) {
      ok(await get(`/api/v2/sessions/isExist?session_id=${conv}`, u));
      ok(await get(`/api/v2/sessions/isExist?session_id=${conv}`, u));
    }
    ok(await get(`/api/v2/sessions/isExist?session_id=${conv}`));
    // The original's pattern: "create" the conversation before each send. That must not move cursors either.
    const again = ok(await create({ session_type: 6, session_id: conv, participants: ['pat1', 'doc1', 'doc2'] }, as('doc1')));
    assert.equal(again.created, false);
    ok(await create({ session_type: 6, session_id: conv, participants: ['pat1', 'doc1', 'doc2'] }));
    // Looking at the conversation does not mark it read either.
    ok(await get(`/api/v2/sessions/${conv}/session`, 'pat1'));
    // (Paging history is not a read; the newest page is seed 000's fetch, a read: seed-compat.test.ts.)
    ok(await get(`/api/v2/sessions/${conv}/messages?after=0`, 'pat1'));
    ok(await get(`/api/v2/sessions/${conv}/messages/unread`, 'pat1'));
    assert.deepEqual(await snapshot(), before);
  });
});

describe('participants', () => {
  let id: string;
  before(async () => {
    ok(await s.call('PUT', '/api/v2/management/users/doc1', { body: { role: 'doctor', name: 'DOC1 name', avatar: 'https://img.example/doc1.png' } }));
    id = ok(await create({ session_type: 1, participants: ['pat1:patient', 'doc1:doctor', 'doc2:doctor'], parts: { patient: 'pat1', team: 'teamP', consult_type: 3 } })).session.id;
    await s.sendAs('doc1', id, 'before anyone joins');
  });
  const list = async (who?: string) => ok(await get(`/api/v2/sessions/${id}/participants`, who)).participants as { user_id: string; role: string; name: string; avatar: string | null; user_role: string; read_seq: number }[];
  const people = async () => (await list()).map((p) => p.user_id).sort();

  test('GET participants: everyone, with name, avatar, roles; patients may read', async () => {
    const all = await list('pat1');
    assert.deepEqual(all.map((p) => p.user_id).sort(), ['doc1', 'doc2', 'pat1']);
    const d1 = all.find((p) => p.user_id === 'doc1')!;
    assert.equal(d1.role, 'doctor');
    assert.equal(d1.user_role, 'doctor');
    assert.equal(d1.name, 'DOC1 name');
    assert.equal(d1.avatar, 'https://img.example/doc1.png');
    assert.equal(all.find((p) => p.user_id === 'pat1')!.user_role, 'patient');
  });

  test('avatars: all, one, several', async () => {
    const all = ok(await get(`/api/v2/sessions/${id}/participants/avatars`, 'doc2')).avatars;
    assert.deepEqual(
      [...all].sort((a: { user_id: string }, b: { user_id: string }) => a.user_id.localeCompare(b.user_id)),
      [{ user_id: 'doc1', avatar: 'https://img.example/doc1.png' }, { user_id: 'doc2', avatar: null }, { user_id: 'pat1', avatar: null }],
    );
    assert.deepEqual(ok(await get(`/api/v2/sessions/${id}/participants/doc1/avatars`, 'pat1')).avatars, [{ user_id: 'doc1', avatar: 'https://img.example/doc1.png' }]);
    assert.equal(ok(await get(`/api/v2/sessions/${id}/participants/doc1,pat1/avatars`, 'pat1')).avatars.length, 2);
    assertError(await get(`/api/v2/sessions/${id}/participants/ghost/avatars`, 'pat1'), 'participant.not_found');
  });

  test('GET one participant, and several separated by commas', async () => {
    const one = ok(await get(`/api/v2/sessions/${id}/participants/doc2`, 'pat1')).participants;
    assert.deepEqual(one.map((p: { user_id: string }) => p.user_id), ['doc2']);
    const two = ok(await get(`/api/v2/sessions/${id}/participants/doc2,pat1`, 'pat1')).participants;
    assert.deepEqual(two.map((p: { user_id: string }) => p.user_id).sort(), ['doc2', 'pat1']);
    assert.equal(ok(await get(`/api/v2/sessions/${id}/participants/doc2,%20doc2,,`, 'pat1')).participants.length, 1);
    assertError(await get(`/api/v2/sessions/${id}/participants/ghost`, 'pat1'), 'participant.not_found');
    assertError(await get(`/api/v2/sessions/${id}/participants/outsider`, 'pat1'), 'participant.not_found', 'a user who is not in it');
  });

  test('add with POST /participants and PUT /participants/:id (with a role); joiners start with nothing unread', async () => {
    const added = ok(await s.call('POST', `/api/v2/sessions/${id}/participants`, { ...as('doc1'), body: { participants: ['nurse:nurse'] } })).participants;
    assert.deepEqual(added.map((p: { user_id: string }) => p.user_id).sort(), ['doc1', 'doc2', 'nurse', 'pat1']);
    assert.equal(added.find((p: { user_id: string }) => p.user_id === 'nurse').role, 'nurse');
    assert.equal(ok(await get(`/api/v2/sessions/${id}/unread_message_count`, 'nurse')).count, 0, 'joined at the head');
    assert.equal(ok(await get(`/api/v2/sessions/${id}/session`, 'nurse')).session.id, id);
    const put = ok(await s.call('PUT', `/api/v2/sessions/${id}/participants/doc3`, { ...as('doc1'), body: { role: 'consultant' } })).participants;
    assert.equal(put.find((p: { user_id: string }) => p.user_id === 'doc3').role, 'consultant');
    // PUT again changes the role only.
    const changed = ok(await s.call('PUT', `/api/v2/sessions/${id}/participants/doc3`, { ...as('doc1'), body: { role: 'lead' } })).participants;
    assert.equal(changed.find((p: { user_id: string }) => p.user_id === 'doc3').role, 'lead');
    assert.equal(changed.length, 5);
    // PUT with no role on someone already in keeps their role.
    const kept = ok(await s.call('PUT', `/api/v2/sessions/${id}/participants/doc1`, as('doc1'))).participants;
    assert.equal(kept.find((p: { user_id: string }) => p.user_id === 'doc1').role, 'doctor');
    assertError(await s.call('POST', `/api/v2/sessions/${id}/participants`, { ...as('doc1'), body: { participants: [] } }), 'request.invalid');
    assertError(await s.call('POST', `/api/v2/sessions/${id}/participants`, { ...as('doc1'), body: { participants: ['ghost'] } }), 'user.not_found');
    assertError(await s.call('PUT', `/api/v2/sessions/${id}/participants/ghost`, as('doc1')), 'user.not_found');
    assertError(await s.call('POST', `/api/v2/sessions/${id}/participants`, { ...as('doc1'), body: { participants: ['a:'] } }), 'participant.invalid');
    assert.deepEqual(await people(), ['doc1', 'doc2', 'doc3', 'nurse', 'pat1'], 'failed adds changed nothing');
  });

  test('remove with DELETE /participants/:id (one or several); the removed lose access', async () => {
    const r = ok(await s.call('DELETE', `/api/v2/sessions/${id}/participants/doc3,nurse`, as('doc1'))).participants;
    assert.deepEqual(r.map((p: { user_id: string }) => p.user_id).sort(), ['doc1', 'doc2', 'pat1']);
    assertError(await get(`/api/v2/sessions/${id}/session`, 'nurse'), 'conversation.not_participant');
    assertError(await get(`/api/v2/sessions/${id}/messages`, 'nurse'), 'conversation.not_participant');
    assertError(await s.call('POST', `/api/v2/sessions/${id}/messages`, { ...as('nurse'), body: { type: 1, content: { text: 'x' } } }), 'conversation.not_participant');
    assert.ok(!ok(await get('/api/v2/sessions', 'nurse')).sessions.some((x: { id: string }) => x.id === id));
    const again = await s.call('DELETE', `/api/v2/sessions/${id}/participants/nurse`, as('doc1'));
    assertError(again, 'participant.not_found');
    assert.deepEqual(again.body.details.missing, ['nurse']);
    assertError(await s.call('DELETE', `/api/v2/sessions/${id}/participants/doc2,ghost`, as('doc1')), 'participant.not_found');
    assert.deepEqual(await people(), ['doc1', 'doc2', 'pat1'], 'a failed remove removes nobody');
  });

  test('participant/update: `participants` replaces the whole list; add/remove change part of it', async () => {
    const r = ok(await s.call('POST', `/api/v2/sessions/${id}/participant/update`, { ...as('doc1'), body: { participants: ['pat1:patient', 'doc1:doctor', 'doc3:doctor'] } })).participants;
    assert.deepEqual(r.map((p: { user_id: string; role: string }) => `${p.user_id}:${p.role}`).sort(), ['doc1:doctor', 'doc3:doctor', 'pat1:patient']);
    assertError(await get(`/api/v2/sessions/${id}/session`, 'doc2'), 'conversation.not_participant');
    const r2 = ok(await s.call('POST', `/api/v2/sessions/${id}/participant/update`, { body: { add: ['doc2:doctor'], remove: ['doc3'] } })).participants;
    assert.deepEqual(r2.map((p: { user_id: string }) => p.user_id).sort(), ['doc1', 'doc2', 'pat1']);
    // An unknown user in the new list → nothing changes.
    assertError(await s.call('POST', `/api/v2/sessions/${id}/participant/update`, { ...as('doc1'), body: { participants: ['pat1', 'ghost'] } }), 'user.not_found');
    assertError(await s.call('POST', `/api/v2/sessions/${id}/participant/update`, { ...as('doc1'), body: { participants: ['pat1', 'doc1:'] } }), 'participant.invalid');
    assertError(await s.call('POST', `/api/v2/sessions/${id}/participant/update`, { ...as('doc1'), body: { participants: 'pat1' } }), 'request.invalid');
    assertError(await s.call('POST', `/api/v2/sessions/${id}/participant/update`, { ...as('doc1'), body: { replace: ['pat1'] } }), 'request.invalid');
    assert.deepEqual(await people(), ['doc1', 'doc2', 'pat1']);
  });

  test('patients cannot change participants → auth.forbidden', async () => {
    const calls: [string, string, unknown?][] = [
      ['POST', `/api/v2/sessions/${id}/participant/update`, { participants: ['pat1'] }],
      ['POST', `/api/v2/sessions/${id}/participant/update`, { add: ['pat2'] }],
      ['POST', `/api/v2/sessions/${id}/participants`, { participants: ['pat2'] }],
      ['PUT', `/api/v2/sessions/${id}/participants/pat2`],
      ['DELETE', `/api/v2/sessions/${id}/participants/doc2`],
    ];
    for (const [m, p, body] of calls) {
      assertError(await s.call(m, p, { ...as('pat1'), ...(body ? { body } : {}) }), 'auth.forbidden', `${m} ${p}`);
      assertError(await s.call(m, p, { headers: { 'x-on-behalf-of': 'pat1' }, ...(body ? { body } : {}) }), 'auth.forbidden', `${m} ${p} on behalf`);
    }
    assert.deepEqual(await people(), ['doc1', 'doc2', 'pat1']);
  });

  test('a user outside the conversation → conversation.not_participant; an unknown one → conversation.not_found', async () => {
    for (const p of [`/api/v2/sessions/${id}/participants`, `/api/v2/sessions/${id}/participants/avatars`, `/api/v2/sessions/${id}/participants/doc1`, `/api/v2/sessions/${id}/participants/doc1/avatars`]) {
      assertError(await get(p, 'outsider'), 'conversation.not_participant', p);
      assertError(await get(p.replace(id, 'no-such-conv'), 'outsider'), 'conversation.not_found', p);
    }
    assertError(await s.call('POST', `/api/v2/sessions/${id}/participant/update`, { ...as('outsider'), body: { add: ['outsider'] } }), 'conversation.not_participant');
    assertError(await s.call('PUT', `/api/v2/sessions/${id}/participants/outsider`, as('outsider')), 'conversation.not_participant');
    assertError(await s.call('POST', '/api/v2/sessions/no-such-conv/participant/update', { body: { add: ['doc1'] } }), 'conversation.not_found');
    assert.deepEqual(await people(), ['doc1', 'doc2', 'pat1']);
  });
});

describe('tenant isolation', () => {
  let other: Tenant;
  let id: string;
  let msgId: string;
  before(async () => {
    id = await s.conversation({ participants: ['pat1', 'doc1'], type: 6, id: 'shared-id' });
    msgId = (await s.sendAs('doc1', id, 'tenant A only')).id;
    other = await secondTenant(s);
    tok.otherDoc = (await other.user('doc1', 'doctor', 'Other doc1')).token;
  });

  test('another tenant\'s conversation id is conversation.not_found, for its key and its users', async () => {
    const paths: [string, string, unknown?][] = [
      ['GET', `/api/v2/sessions/${id}/session`],
      ['GET', `/api/v2/sessions/${id}/messages`],
      ['GET', `/api/v2/sessions/${id}/messages/${msgId}`],
      ['POST', `/api/v2/sessions/${id}/messages`, { type: 1, content: { text: 'x' } }],
      ['POST', `/api/v2/sessions/${id}/messages/${msgId}/recall`],
      ['POST', `/api/v2/sessions/${id}/messages/${msgId}/forward`, { to: [id] }],
      ['GET', `/api/v2/sessions/${id}/participants`],
      ['GET', `/api/v2/sessions/${id}/participants/avatars`],
      ['GET', `/api/v2/sessions/${id}/participants/doc1`],
      ['POST', `/api/v2/sessions/${id}/participant/update`, { add: ['doc1'] }],
      ['PUT', `/api/v2/sessions/${id}/participants/doc1`],
      ['DELETE', `/api/v2/sessions/${id}/participants/doc1`],
      ['POST', `/api/v2/sessions/${id}/name`, { name: 'hijack' }],
      ['PUT', `/api/v2/sessions/${id}/status`, { status: 9 }],
      ['PUT', `/api/v2/sessions/${id}/sticky`],
      ['POST', `/api/v2/sessions/${id}/read`, {}],
      ['GET', `/api/v2/sessions/${id}/unread_message_count`],
      ['GET', `/api/v2/sessions/${id}/messages/unread`],
    ];
    for (const [m, p, body] of paths) {
      const withBody = body === undefined ? {} : { body };
      assertError(await s.call(m, p, { apiKey: other.apiKey, headers: { 'x-on-behalf-of': 'doc1' }, ...withBody }), 'conversation.not_found', `${m} ${p} (key)`);
      assertError(await s.call(m, p, { token: tok.otherDoc!, ...withBody }), 'conversation.not_found', `${m} ${p} (token)`);
    }
    assert.deepEqual(ok(await s.call('GET', `/api/v2/sessions/isExist?session_id=${id}`, { apiKey: other.apiKey })), { exists: false, session_id: null });
    // Tenant A is untouched.
    const v = ok(await get(`/api/v2/sessions/${id}/session`, 'doc1')).session;
    assert.equal(v.last_seq, 1);
    assert.equal(v.status, 0);
    assert.notEqual(v.name, 'hijack');
  });

  test('the same id in another tenant is another conversation', async () => {
    const r = ok(await s.call('POST', '/api/v2/sessions', { apiKey: other.apiKey, body: { session_type: 7, session_id: id, participants: ['doc1'] } }));
    assert.equal(r.created, true, 'ids are per tenant');
    assert.equal(r.session.type, 7);
    assert.equal(r.session.last_seq, 0);
    assert.equal(ok(await get(`/api/v2/sessions/${id}/session`, 'doc1')).session.type, 6);
  });
});
