/** Consultations (topics) over REST, with the status/reply semantics of seed 000. */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../support/server.ts';
import { WsClient } from '../support/ws-client.ts';
import { assertError, ok, secondTenant } from './helpers.ts';

let s: TestServer;
let doc: { token: string };
let nurse: { token: string };
let pat: { token: string };
let pat2: { token: string };
let family: string; // a type-1 family-doctor session: pat + doc + nurse
let other: string; // pat2 + doc, type 2
const P = (path: string) => `/api/v2/sessions${path}`;

async function say(token: string, session: string, text: string) {
  return ok(await s.call('POST', P(`/${session}/messages`), { token, body: { type: 1, content: { text } } })).message;
}

before(async () => {
  s = await startTestServer();
  doc = await s.user('doc', 'doctor', 'Dr. Doc');
  nurse = await s.user('nurse', 'staff', 'Nurse');
  pat = await s.user('pat', 'patient', 'Pat');
  pat2 = await s.user('pat2', 'patient', 'Pat Two');
  family = ok(await s.call('POST', P(''), {
    body: { session_type: 1, parts: { patient: 'pat', team: 'team7', consult_type: 1 }, participants: ['pat:patient', 'doc:doctor', 'nurse:staff'] },
  })).session.id;
  assert.equal(family, 'pat_team7_1');
  other = await s.conversation({ participants: ['pat2', 'doc'] });
});
after(() => s.stop());

describe('topic life cycle', () => {
  test('start: a type-6 message, status 0 / reply 0, the session marked active; idempotent by id', async () => {
    await say(pat.token, family, 'before the consultation');
    const r = ok(await s.call('POST', P(`/${family}/topics`), {
      token: pat.token, body: { topic_id: 'consult-1', name: 'Blood pressure', description: '150/95 for three days', team_id: 'team7', doctor_id: 'doc', consult_type: 1 },
    }));
    assert.equal(r.created, true);
    const t = r.topic;
    assert.deepEqual([t.id, t.session_id, t.status, t.reply, t.patient_id, t.team_id, t.doctor_id, t.consult_type], ['consult-1', family, 0, 0, 'pat', 'team7', 'doc', '1']);
    const start = ok(await s.call('GET', P(`/${family}/messages/${t.start_message_id}`), { token: doc.token })).message;
    assert.deepEqual([start.type, start.sender_id, start.seq, start.content.event, start.content.data.topic_id], [6, 'system', t.start_seq, 'topic.started', 'consult-1']);
    assert.equal(ok(await s.call('GET', P(`/${family}/session`), { token: doc.token })).session.status, 1);
    const again = ok(await s.call('POST', P(`/${family}/topics`), { token: doc.token, body: { topic_id: 'consult-1', name: 'other name' } }));
    assert.equal(again.created, false);
    assert.equal(again.topic.name, 'Blood pressure');
    const h = ok(await s.call('GET', P(`/${family}/messages?limit=100`), { token: doc.token })).messages;
    assert.equal(h.filter((m: any) => m.type === 6).length, 1, 'the start message is written once');
  });

  test('bad starts: another open topic, an id of another session, unknown session, outsider, patient not in the session', async () => {
    assertError(await s.call('POST', P(`/${family}/topics`), { token: doc.token, body: { topic_id: 'consult-x' } }), 'topic.already_open');
    assertError(await s.call('POST', P(`/${other}/topics`), { token: doc.token, body: { topic_id: 'consult-1' } }), 'topic.session_mismatch');
    assertError(await s.call('POST', P('/nope/topics'), { token: doc.token, body: { topic_id: 'c-nope' } }), 'conversation.not_found');
    assertError(await s.call('POST', P(`/${family}/topics`), { token: pat2.token, body: { topic_id: 'c-out' } }), 'conversation.not_participant');
    assertError(await s.call('POST', P(`/${other}/topics`), { token: doc.token, body: { topic_id: 'c-bad', patient_id: 'pat' } }), 'participant.not_found');
    assertError(await s.call('POST', P(`/${other}/topics`), { token: doc.token, body: { topic_id: 'has space' } }), 'request.invalid');
    assertError(await s.call('POST', P(`/${other}/topics`), { token: doc.token, body: { name: 'no id' } }), 'request.invalid');
    assert.equal(ok(await s.call('GET', P('/topics?session_id=' + other), { token: doc.token })).topics.length, 0, 'nothing was created');
  });

  test('a patient message does not answer; the first care-team message does, with its time and author', async () => {
    await say(pat.token, family, 'It is still high today');
    let t = ok(await s.call('GET', P('/topics/consult-1'), { token: doc.token })).topic;
    assert.deepEqual([t.status, t.reply, t.first_reply_at], [0, 0, null]);
    const reply = await say(nurse.token, family, 'The doctor will look at it');
    await say(doc.token, family, 'Increase to 10 mg');
    t = ok(await s.call('GET', P('/topics/consult-1'), { token: doc.token })).topic;
    assert.deepEqual([t.status, t.reply, t.first_reply_by, t.first_reply_at], [0, 1, 'nurse', reply.created_at]);
    assert.ok(t.first_reply_at >= t.created_at);
  });

  test('the patient enters: a type-14 message; others may not', async () => {
    assertError(await s.call('POST', P(`/${family}/topics/consult-1/into`), { token: doc.token }), 'topic.not_patient');
    const t = ok(await s.call('POST', P(`/${family}/topics/consult-1/into`), { token: pat.token })).topic;
    assert.equal(typeof t.entered_at, 'number');
    const last = ok(await s.call('GET', P(`/${family}/messages?limit=1`), { token: pat.token })).messages[0];
    assert.deepEqual([last.type, last.content.event], [14, 'topic.entered']);
  });

  test('ended? "current" is the newest topic', async () => {
    const r = ok(await s.call('GET', P(`/${family}/topics/current/ended`), { token: pat.token }));
    assert.deepEqual([r.ended, r.topic.id], [false, 'consult-1']);
    assertError(await s.call('GET', P(`/${other}/topics/current/ended`), { token: doc.token }), 'topic.not_found');
    assertError(await s.call('GET', P(`/${other}/topics/consult-1/ended`), { token: doc.token }), 'topic.not_found');
  });

  test('end: care team only; types 7 and 10 written; status 10 / reply 1; the session is no longer active; once', async () => {
    assertError(await s.call('PUT', P(`/${family}/topics/current/ended`), { token: pat.token }), 'auth.forbidden');
    const t = ok(await s.call('PUT', P(`/${family}/topics/current/ended`), { token: doc.token, body: { text: 'Consultation closed, see you next week' } })).topic;
    assert.deepEqual([t.status, t.reply, t.ended_by], [10, 1, 'doc']);
    const tail = ok(await s.call('GET', P(`/${family}/messages?limit=2`), { token: pat.token })).messages;
    assert.deepEqual(tail.map((m: any) => m.type), [7, 10]);
    assert.equal(tail[1].content.text, 'Consultation closed, see you next week');
    assert.equal(t.end_seq, tail[1].seq);
    assert.equal(ok(await s.call('GET', P(`/${family}/session`), { token: doc.token })).session.status, 0);
    assertError(await s.call('PUT', P(`/${family}/topics/consult-1/ended`), { token: doc.token }), 'topic.already_ended');
    assertError(await s.call('POST', P(`/${family}/topics/consult-1/into`), { token: pat.token }), 'topic.already_ended');
    assert.equal(ok(await s.call('GET', P(`/${family}/topics/consult-1/ended`), { token: pat.token })).ended, true);
  });

  test('messages of a topic are those from its start to its end, on both paths', async () => {
    await say(pat.token, family, 'after the consultation');
    const t = ok(await s.call('GET', P('/topics/consult-1'), { token: doc.token })).topic;
    const a = ok(await s.call('GET', P('/topic/consult-1/messages?limit=100'), { token: pat.token }));
    const seqs = a.messages.map((m: any) => m.seq);
    assert.deepEqual(seqs, Array.from({ length: t.end_seq - t.start_seq + 1 }, (_, i) => t.start_seq + i));
    assert.ok(!a.messages.some((m: any) => m.content?.text === 'before the consultation' || m.content?.text === 'after the consultation'));
    const b = ok(await s.call('GET', P(`/${family}/topics/consult-1/messages?limit=3`), { token: doc.token }));
    assert.deepEqual(b.messages.map((m: any) => m.seq), seqs.slice(0, 3));
    assert.equal(b.has_more, true);
    const back = ok(await s.call('GET', P(`/${family}/topics/consult-1/messages?before=${t.end_seq + 1}&limit=2`), { token: doc.token }));
    assert.deepEqual(back.messages.map((m: any) => m.seq), [t.end_seq - 1, t.end_seq]);
    assertError(await s.call('GET', P('/topic/consult-1/messages'), { token: pat2.token }), 'topic.not_found');
  });

  test('ended without a reply is 10 / 0 and counted in none of the three states', async () => {
    ok(await s.call('POST', P(`/${family}/topics`), { body: { topic_id: 'consult-2', team_id: 'team7', doctor_id: 'doc' } }));
    const t = ok(await s.call('POST', P(`/${family}/topics/consult-2/ended`), {})).topic;
    assert.deepEqual([t.status, t.reply, t.ended_by], [10, 0, 'system']);
    const counts = ok(await s.call('GET', P('/topicListCountByType?team_id=team7'), { token: doc.token }));
    assert.deepEqual(counts, { unreplied: 0, in_progress: 0, replied: 1, ended_unreplied: 1 });
  });
});

describe('lists, counts and statistics', () => {
  before(async () => {
    ok(await s.call('POST', P(`/${other}/topics`), { body: { topic_id: 'consult-3', team_id: 'team9', doctor_id: 'doc' } }));
    ok(await s.call('POST', P(`/${family}/topics`), { body: { topic_id: 'consult-4', team_id: 'team7', doctor_id: 'doc' } }));
    await say(doc.token, family, 'answering consult-4');
  });

  test('topicListByType and its count: unreplied, in progress, replied (also by code 0, 1, 2)', async () => {
    const ids = async (type: string) => ok(await s.call('GET', P(`/topicListByType?type=${type}`), { token: doc.token })).topics.map((t: any) => t.id);
    assert.deepEqual(await ids('unreplied'), ['consult-3']);
    assert.deepEqual(await ids('0'), ['consult-3']);
    assert.deepEqual(await ids('in_progress'), ['consult-4']);
    assert.deepEqual(await ids('1'), ['consult-4']);
    assert.deepEqual(await ids('replied'), ['consult-1']);
    assert.deepEqual(await ids('ended_unreplied'), ['consult-2']);
    assert.deepEqual(ok(await s.call('GET', P('/topicListCountByType'), { token: doc.token })), { unreplied: 1, in_progress: 1, replied: 1, ended_unreplied: 1 });
    assertError(await s.call('GET', P('/topicListByType?type=closed'), { token: doc.token }), 'request.invalid');
  });

  test('a patient sees only their own topics; the care team sees their sessions\'; lists page with a cursor', async () => {
    const mine = ok(await s.call('GET', P('/topics'), { token: pat2.token })).topics.map((t: any) => t.id);
    assert.deepEqual(mine, ['consult-3']);
    assertError(await s.call('GET', P('/topics/consult-1'), { token: pat2.token }), 'topic.not_found');
    assertError(await s.call('GET', P('/consult-1/topics'), { token: pat2.token }), 'topic.not_found');
    assert.equal(ok(await s.call('GET', P('/consult-1/topics'), { token: pat.token })).topic.id, 'consult-1');
    const seen: string[] = [];
    let cursor = '';
    do {
      const page = ok(await s.call('GET', P(`/topics?limit=2${cursor ? `&cursor=${cursor}` : ''}`), { token: doc.token }));
      seen.push(...page.topics.map((t: any) => t.id));
      cursor = page.next_cursor ?? '';
    } while (cursor);
    assert.deepEqual(seen.sort(), ['consult-1', 'consult-2', 'consult-3', 'consult-4']);
    assertError(await s.call('GET', P('/topics?cursor=garbage'), { token: doc.token }), 'request.invalid');
  });

  test('health topics are those of family-doctor sessions (type 1); team lists are for the care team', async () => {
    const health = ok(await s.call('GET', P('/healthTopics'), { token: doc.token })).topics.map((t: any) => t.id).sort();
    assert.deepEqual(health, ['consult-1', 'consult-2', 'consult-4']);
    const team = ok(await s.call('GET', P('/healthTeamTopics?team_id=team7&state=in_progress'), { token: nurse.token })).topics.map((t: any) => t.id);
    assert.deepEqual(team, ['consult-4']);
    assertError(await s.call('GET', P('/healthTeamTopics?team_id=team7'), { token: pat.token }), 'auth.forbidden');
    assertError(await s.call('GET', P('/healthTeamTopics'), { token: doc.token }), 'request.invalid');
  });

  test('reply count and per-team / per-doctor statistics with first-response times', async () => {
    const rc = ok(await s.call('GET', P('/topics/count/reply?team_id=team7'), { token: doc.token }));
    assert.deepEqual([rc.total, rc.unreplied, rc.in_progress, rc.replied, rc.ended_unreplied, rc.first_response_ms.count], [3, 0, 1, 1, 1, 2]);
    assert.ok(rc.first_response_ms.avg >= 0 && rc.first_response_ms.p90 >= rc.first_response_ms.p50);
    const byTeam = ok(await s.call('GET', '/api/v2/statistics/topics?group_by=team', { token: doc.token })).rows;
    const t7 = byTeam.find((r: any) => r.team_id === 'team7');
    const t9 = byTeam.find((r: any) => r.team_id === 'team9');
    assert.deepEqual([t7.count, t7.replied, t7.in_progress, t7.ended_unreplied, t7.first_response_ms.count], [3, 1, 1, 1, 2]);
    assert.deepEqual([t9.count, t9.unreplied, t9.first_response_ms.avg], [1, 1, null]);
    const byDoctor = ok(await s.call('GET', '/api/v2/statistics/topics?group_by=doctor')).rows;
    assert.equal(byDoctor.find((r: any) => r.doctor_id === 'doc').count, 4);
    const none = ok(await s.call('GET', `/api/v2/statistics/topics?group_by=team&since=${Date.now() + 60_000}`)).rows;
    assert.deepEqual(none, []);
    assertError(await s.call('GET', '/api/v2/statistics/topics?group_by=team', { token: pat.token }), 'auth.forbidden');
    assertError(await s.call('GET', '/api/v2/statistics/topics?group_by=ward', { token: doc.token }), 'request.invalid');
  });

  test('a user\'s consultation time', async () => {
    const ct = ok(await s.call('GET', '/api/v2/users/pat/consult/time', { token: doc.token }));
    assert.deepEqual([ct.total, ct.last_topic_id, ct.open_topic_id], [3, 'consult-4', 'consult-4']);
    assert.equal(typeof ct.last_started_at, 'number');
    assertError(await s.call('GET', '/api/v2/users/pat/consult/time', { token: pat2.token }), 'auth.forbidden');
    assertError(await s.call('GET', '/api/v2/users/ghost/consult/time', { token: doc.token }), 'user.not_found');
  });

  test('another tenant sees none of it', async () => {
    const t2 = await secondTenant(s);
    assertError(await s.call('GET', P('/topics/consult-1'), { apiKey: t2.apiKey }), 'topic.not_found');
    assert.deepEqual(ok(await s.call('GET', P('/topics'), { apiKey: t2.apiKey })).topics, []);
    assertError(await s.call('PUT', P(`/${family}/topics/consult-4/ended`), { apiKey: t2.apiKey }), 'conversation.not_found');
  });
});

describe('reconciliation with the host system', () => {
  test('reports topics missing here, missing in the host, and fields that differ', async () => {
    const since = Date.now() - 3_600_000;
    const until = Date.now() + 60_000;
    const r = ok(await s.call('POST', '/api/v2/management/topics/reconcile', {
      body: {
        since, until,
        topics: [
          { id: 'consult-1', session_id: family, status: 10, reply: 1 },
          { id: 'consult-2', status: 0 },
          { id: 'consult-3', team_id: 'team9' },
          { id: 'host-only-1' },
        ],
      },
    }));
    assert.deepEqual(r.missing_here, ['host-only-1']);
    assert.deepEqual(r.missing_in_host, ['consult-4']);
    assert.deepEqual(r.different, [{ id: 'consult-2', field: 'status', host: 0, here: 10 }]);
    assert.equal(r.checked, 4);
    assertError(await s.call('POST', '/api/v2/management/topics/reconcile', { token: doc.token, body: { since, until, topics: [] } }), 'auth.forbidden');
    assertError(await s.call('POST', '/api/v2/management/topics/reconcile', { body: { since: until, until: since, topics: [] } }), 'request.invalid');
  });
});

describe('live', () => {
  test('connected participants receive the start and end messages as they happen', async () => {
    const d = await WsClient.open(s.wsUrl, doc.token);
    try {
      ok(await s.call('POST', P(`/${other}/topics/consult-3/ended`), {}));
      const types = (await d.count((f) => f.type === 'message' && f.message.conversation_id === other, 2)).map((f) => f.message.type);
      assert.deepEqual(types, [7, 10]);
      await d.next((f) => f.type === 'conversation' && f.conversation_id === other && f.event === 'updated');
    } finally {
      d.close();
    }
  });
});
