/**
 * The access policy of docs/access-policy.md, cell by cell: every role × conversation types
 * 0–4 × create, list, read, consultations (topics) and statistics, over the real REST API.
 * The expected table below is the policy; a cell that changes changes the doc too.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ErrorCode } from '@careline/protocol';
import { startTestServer, type TestServer } from '../support/server.ts';
import { assertError, ok, type Reply } from './helpers.ts';

let s: TestServer;
const tok: Record<string, string> = {};

/** The callers: a role, and where they stand towards the conversations and consultations of the fixture. */
const ACTORS = {
  patient: { user: 'pat-a', role: 'patient' }, // the patient of every fixture conversation and consultation
  'other patient': { user: 'pat-b', role: 'patient' }, // in none of them
  'doctor in the session': { user: 'doc-in', role: 'doctor' }, // a participant
  'doctor of the care team': { user: 'doc-team', role: 'doctor' }, // member of care team team-a, not a participant
  'doctor outside': { user: 'doc-out', role: 'doctor' },
  'staff of the care team': { user: 'nurse-team', role: 'staff' },
  'staff outside': { user: 'nurse-out', role: 'staff' },
  admin: { user: 'adm', role: 'admin' },
  integrator: { user: null, role: null }, // the API key, no X-On-Behalf-Of
} as const;
type Actor = keyof typeof ACTORS;
const ACTOR_NAMES = Object.keys(ACTORS) as Actor[];
const TYPES = [0, 1, 2, 3, 4] as const;

type Want = 'ok' | ErrorCode;
const F = 'auth.forbidden' as const;

/** Create a conversation of type T with a doctor (the care team). */
const CREATE_WITH_CARE_TEAM: Record<Actor, readonly Want[]> = {
  //                           type 0  1     2     3     4
  patient: /*                */ [F, 'ok', 'ok', F, F],
  'other patient': /*        */ [F, 'ok', 'ok', F, F],
  'doctor in the session':      [F, 'ok', 'ok', 'ok', 'ok'],
  'doctor of the care team':    [F, 'ok', 'ok', 'ok', 'ok'],
  'doctor outside':             [F, 'ok', 'ok', 'ok', 'ok'],
  'staff of the care team':     [F, 'ok', 'ok', 'ok', 'ok'],
  'staff outside':              [F, 'ok', 'ok', 'ok', 'ok'],
  admin:                        [F, 'ok', 'ok', 'ok', 'ok'],
  integrator:                   ['ok', 'ok', 'ok', 'ok', 'ok'],
};

/** Create a conversation of type T with a patient (patient_to_patient off, the default). */
const CREATE_WITH_PATIENT: Record<Actor, readonly Want[]> = {
  patient:                      [F, F, F, F, F],
  'other patient':              [F, F, F, F, F],
  'doctor in the session':      [F, 'ok', 'ok', F, F],
  'doctor of the care team':    [F, 'ok', 'ok', F, F],
  'doctor outside':             [F, 'ok', 'ok', F, F],
  'staff of the care team':     [F, 'ok', 'ok', F, F],
  'staff outside':              [F, 'ok', 'ok', F, F],
  admin:                        [F, 'ok', 'ok', F, F],
  integrator:                   ['ok', 'ok', 'ok', 'ok', 'ok'],
};

/** List: the fixture conversation of type T is in the caller's list (true), not (false), or an error. */
const LISTED: Record<Actor, boolean | ErrorCode> = {
  patient: true, 'other patient': false, 'doctor in the session': true, 'doctor of the care team': false, 'doctor outside': false,
  'staff of the care team': false, 'staff outside': false, admin: false, integrator: 'request.invalid',
};

/** Read the fixture conversation (and its messages). */
const READ: Record<Actor, Want> = {
  patient: 'ok', 'other patient': 'conversation.not_participant', 'doctor in the session': 'ok',
  'doctor of the care team': 'conversation.not_participant', 'doctor outside': 'conversation.not_participant',
  'staff of the care team': 'conversation.not_participant', 'staff outside': 'conversation.not_participant',
  admin: 'conversation.not_participant', integrator: 'ok',
};

/** Read the consultation of the fixture conversation by id. */
const TOPIC_GET: Record<Actor, Want> = {
  patient: 'ok', 'other patient': 'topic.not_found', 'doctor in the session': 'ok', 'doctor of the care team': 'ok', 'doctor outside': 'topic.not_found',
  'staff of the care team': 'ok', 'staff outside': 'topic.not_found', admin: 'topic.not_found', integrator: 'ok',
};

/** List consultations by team (`team_id=team-a`) or doctor (`doctor_id=doc-in`): the fixture's is listed, not, or an error. */
const TOPIC_LISTED: Record<Actor, boolean | ErrorCode> = {
  patient: F, 'other patient': F, 'doctor in the session': true, 'doctor of the care team': true, 'doctor outside': false,
  'staff of the care team': true, 'staff outside': false, admin: false, integrator: true,
};

/** Statistics of team-a (`/statistics/topics?group_by=team`): how many of the fixture's consultations are counted, or an error. */
const STATISTICS: Record<Actor, number | ErrorCode> = {
  patient: F, 'other patient': F, 'doctor in the session': 5, 'doctor of the care team': 5, 'doctor outside': 0,
  'staff of the care team': 5, 'staff outside': 0, admin: 5, integrator: 5,
};

/** Counts by state (`topicListCountByType?team_id=team-a`): the fixture's consultations counted. A patient: their own. */
const COUNTS: Record<Actor, number | ErrorCode> = { ...STATISTICS, patient: F, 'other patient': F };

const conv = (t: number) => `pol-${t}`;
const topicId = (t: number) => `pol-topic-${t}`;

function call(actor: Actor, method: string, path: string, body?: unknown): Promise<Reply> {
  const user = ACTORS[actor].user;
  return s.call(method, path, user ? { token: tok[user]!, ...(body !== undefined ? { body } : {}) } : { ...(body !== undefined ? { body } : {}) });
}

function expect(r: Reply, want: Want, label: string): void {
  if (want === 'ok') ok(r, label);
  else assertError(r, want, label);
}

/** The body of a create of type `t` by `actor` with `other`, with the parts each type's id needs. */
function createBody(actor: Actor, t: number, other: string, tag: string) {
  const me = ACTORS[actor].user ?? 'integrator';
  // The integrator names both sides (a user creating is always a participant); its own ids keep types 0 and 2 apart.
  const participants = ACTORS[actor].user ? [other] : ['doc-in', other];
  const parts = t === 1 ? { patient: me, team: `tm-${tag}`, consult_type: 1 } : t === 3 ? { team: `adm-${tag}-${me}` } : undefined;
  const id = ACTORS[actor].user ? {} : { session_id: `int-${t}-${tag}` };
  return { session_type: t, participants, ...(parts ? { parts } : {}), ...(t === 1 || t === 3 ? {} : id) };
}

before(async () => {
  s = await startTestServer();
  for (const a of Object.values(ACTORS)) if (a.user) tok[a.user] = (await s.user(a.user, a.role)).token;
  for (const [id, role] of [['counter-doc', 'doctor'], ['counter-pat', 'patient']] as const) await s.user(id, role);
  ok(await s.call('PUT', '/api/v2/management/teams/team-a', { body: { name: 'Team A', members: ['doc-team', 'nurse-team'] } }));
  // One conversation of each type with the patient and a doctor, each with a consultation of team-a.
  for (const t of TYPES) {
    ok(await s.call('POST', '/api/v2/sessions', { body: { session_type: t, session_id: conv(t), participants: ['pat-a:patient', 'doc-in:doctor'] } }));
    ok(await s.call('POST', `/api/v2/sessions/${conv(t)}/topics`, { body: { topic_id: topicId(t), patient_id: 'pat-a', team_id: 'team-a', doctor_id: 'doc-in' } }));
    await s.sendAs('doc-in', conv(t), `reply in type ${t}`);
  }
});
after(() => s.stop());

describe('create: which types each role may create, and with whom', () => {
  for (const actor of ACTOR_NAMES) {
    test(`${actor}`, async () => {
      for (const [i, t] of TYPES.entries()) {
        expect(await call(actor, 'POST', '/api/v2/sessions', createBody(actor, t, 'counter-doc', 'cd')), CREATE_WITH_CARE_TEAM[actor][i]!, `${actor} creates type ${t} with a doctor`);
        expect(await call(actor, 'POST', '/api/v2/sessions', createBody(actor, t, 'counter-pat', 'cp')), CREATE_WITH_PATIENT[actor][i]!, `${actor} creates type ${t} with a patient`);
      }
    });
  }

  test('a refused create stores nothing', async () => {
    const before = ok(await s.call('GET', '/api/v2/sessions/sessionCountByType?type=3', { token: tok['pat-a']! })).count;
    assertError(await s.call('POST', '/api/v2/sessions', { token: tok['pat-a']!, body: { session_type: 3, parts: { team: 'sneaky' }, participants: ['doc-out'] } }), F);
    assertError(await s.call('GET', '/api/v2/sessions/sneaky/session'), 'conversation.not_found');
    assert.equal(ok(await s.call('GET', '/api/v2/sessions/sessionCountByType?type=3', { token: tok['pat-a']! })).count, before);
  });

  test('a patient opens only their own consultation (its id starts with their id), even with their doctor', async () => {
    const body = (patient: string, session_id?: string) => ({ session_type: 1, participants: ['doc-in'], ...(session_id ? { session_id } : { parts: { patient, team: 'team-a', consult_type: 7 } }) });
    assertError(await s.call('POST', '/api/v2/sessions', { token: tok['pat-a']!, body: body('pat-b') }), F);
    assertError(await s.call('POST', '/api/v2/sessions', { token: tok['pat-a']!, body: body('', 'pat-b_team-a_7') }), F);
    assert.equal(ok(await s.call('POST', '/api/v2/sessions', { token: tok['pat-a']!, body: body('pat-a') })).session.id, 'pat-a_team-a_7');
  });

  test('a patient may not bring in a clinic admin either: patients reach the care team', async () => {
    assertError(await s.call('POST', '/api/v2/sessions', { token: tok['pat-a']!, body: { session_type: 2, participants: ['adm'] } }), F);
  });

  test('asking again for a conversation that exists creates nothing and is not refused to its participants', async () => {
    for (const t of TYPES) {
      const r = ok(await s.call('POST', '/api/v2/sessions', { token: tok['pat-a']!, body: { session_type: t, session_id: conv(t), participants: ['doc-in'] } }), `type ${t}`);
      assert.equal(r.created, false);
    }
    assertError(await s.call('POST', '/api/v2/sessions', { token: tok['pat-b']!, body: { session_type: 3, session_id: conv(3), participants: [] } }), 'conversation.not_participant');
  });

  test('the care team may not add a patient to a care-team-only type (3, 4) afterwards; integrators may', async () => {
    const made = ok(await s.call('POST', '/api/v2/sessions', { token: tok['doc-in']!, body: { session_type: 4, participants: ['nurse-out'] } })).session.id;
    for (const body of [{ add: ['pat-b'] }, { participants: ['doc-in', 'nurse-out', 'pat-b:patient'] }]) {
      assertError(await s.call('POST', `/api/v2/sessions/${made}/participant/update`, { token: tok['doc-in']!, body }), F, JSON.stringify(body));
    }
    assertError(await s.call('POST', `/api/v2/sessions/${made}/participants`, { token: tok['doc-in']!, body: { participants: ['pat-b'] } }), F);
    ok(await s.call('POST', `/api/v2/sessions/${made}/participants`, { token: tok['doc-in']!, body: { participants: ['doc-out'] } }));
    ok(await s.call('POST', `/api/v2/sessions/${made}/participants`, { body: { participants: ['pat-b'] } }));
  });
});

describe('the tenant setting patient_to_patient', () => {
  const settings = (body: unknown, o: { token?: string } = {}) => s.call('PUT', '/api/v2/management/settings', { body, ...o });

  test('off by default; on, a patient may open a conversation with another patient; off again, not', async () => {
    assert.equal(ok(await s.call('GET', '/api/v2/management/settings')).settings.patient_to_patient, false);
    assertError(await s.call('POST', '/api/v2/sessions', { token: tok['pat-a']!, body: { session_type: 2, participants: ['pat-b'] } }), F);
    assert.equal(ok(await settings({ patient_to_patient: true })).settings.patient_to_patient, true);
    const p2p = ok(await s.call('POST', '/api/v2/sessions', { token: tok['pat-a']!, body: { session_type: 2, participants: ['pat-b'] } }));
    assert.equal(p2p.created, true);
    // Their own consultation with another patient in it, too; the care team's own types stay closed.
    ok(await s.call('POST', '/api/v2/sessions', { token: tok['pat-a']!, body: { session_type: 1, participants: ['pat-b', 'doc-in'], parts: { patient: 'pat-a', team: 'g', consult_type: 1 } } }));
    assertError(await s.call('POST', '/api/v2/sessions', { token: tok['pat-a']!, body: { session_type: 3, parts: { team: 'p2p-team' }, participants: ['pat-b'] } }), F);
    assertError(await s.call('POST', '/api/v2/sessions', { token: tok['pat-a']!, body: { session_type: 2, participants: ['adm'] } }), F);
    // The connection policy is kept when this setting changes, and the other way round.
    assert.equal(ok(await s.call('GET', '/api/v2/management/settings')).settings.connection_policy, 'notify');
    ok(await settings({ connection_policy: 'allow_many' }));
    assert.equal(ok(await s.call('GET', '/api/v2/management/settings')).settings.patient_to_patient, true);
    ok(await settings({ patient_to_patient: false }));
    assertError(await s.call('POST', '/api/v2/sessions', { token: tok['pat-b']!, body: { session_type: 2, participants: ['counter-pat'] } }), F);
  });

  test('only the integrator sets it, and only to true or false', async () => {
    assertError(await settings({ patient_to_patient: true }, { token: tok['pat-a']! }), F);
    assertError(await s.call('PUT', '/api/v2/management/settings', { apiKey: s.apiKey, headers: { 'x-on-behalf-of': 'adm' }, body: { patient_to_patient: true } }), F);
    for (const v of ['yes', 1, null]) assertError(await settings({ patient_to_patient: v }), 'request.invalid', JSON.stringify(v));
    assert.equal(ok(await s.call('GET', '/api/v2/management/settings')).settings.patient_to_patient, false);
  });
});

describe('list: each caller lists the conversations they are in', () => {
  for (const actor of ACTOR_NAMES) {
    test(`${actor}`, async () => {
      for (const t of TYPES) {
        const r = await call(actor, 'GET', `/api/v2/sessions/sessionListByType?type=${t}&limit=200`);
        const want = LISTED[actor];
        if (typeof want === 'string') {
          assertError(r, want, `${actor} lists type ${t}`);
          continue;
        }
        const ids = ok(r, `${actor} lists type ${t}`).sessions.map((x: { id: string }) => x.id);
        assert.equal(ids.includes(conv(t)), want, `${actor} lists type ${t}: ${ids.join(', ')}`);
      }
    });
  }
});

describe('read: a conversation and its messages', () => {
  for (const actor of ACTOR_NAMES) {
    test(`${actor}`, async () => {
      for (const t of TYPES) {
        expect(await call(actor, 'GET', `/api/v2/sessions/${conv(t)}/session`), READ[actor], `${actor} reads type ${t}`);
        expect(await call(actor, 'GET', `/api/v2/sessions/${conv(t)}/messages?after=0`), READ[actor], `${actor} reads the messages of type ${t}`);
      }
    });
  }
});

describe('consultations: one by id, by team, by doctor', () => {
  for (const actor of ACTOR_NAMES) {
    test(`${actor}`, async () => {
      for (const t of TYPES) {
        const label = `${actor}, consultation in type ${t}`;
        expect(await call(actor, 'GET', `/api/v2/sessions/topics/${topicId(t)}`), TOPIC_GET[actor], `${label}: by id`);
        expect(await call(actor, 'GET', `/api/v2/sessions/${topicId(t)}/topics`), TOPIC_GET[actor], `${label}: by id (the seed's path)`);
        for (const q of ['team_id=team-a', 'doctor_id=doc-in']) {
          for (const path of [`/api/v2/sessions/topics?${q}&limit=200`, `/api/v2/sessions/topicListByType?type=in_progress&${q}&limit=200`]) {
            const r = await call(actor, 'GET', path);
            const want = TOPIC_LISTED[actor];
            if (typeof want === 'string') {
              assertError(r, want, `${label}: ${path}`);
              continue;
            }
            const ids = ok(r, `${label}: ${path}`).topics.map((x: { id: string; patient_id: string }) => x.id);
            assert.equal(ids.includes(topicId(t)), want, `${label}: ${path} → ${ids.join(', ')}`);
          }
        }
        const team = await call(actor, 'GET', '/api/v2/sessions/healthTeamTopics?team_id=team-a&limit=200');
        if (TOPIC_LISTED[actor] === F) assertError(team, F, `${label}: healthTeamTopics`);
        else assert.equal(ok(team).topics.some((x: { id: string }) => x.id === topicId(t)), t === 1 && TOPIC_LISTED[actor] === true, `${label}: healthTeamTopics (type 1 only)`);
      }
    });
  }

  test('a patient lists their own consultations, and may not ask for another patient\'s', async () => {
    const mine = ok(await s.call('GET', '/api/v2/sessions/topics?limit=200', { token: tok['pat-a']! })).topics.map((x: { id: string }) => x.id);
    assert.deepEqual(mine.filter((id: string) => id.startsWith('pol-topic-')).sort(), TYPES.map(topicId));
    assert.deepEqual(ok(await s.call('GET', '/api/v2/sessions/topics?limit=200', { token: tok['pat-b']! })).topics, []);
    assertError(await s.call('GET', '/api/v2/sessions/topics?patient_id=pat-a', { token: tok['pat-b']! }), F);
    assertError(await s.call('GET', '/api/v2/sessions/healthTopics?patient_id=pat-a', { token: tok['pat-b']! }), F);
    assertError(await s.call('GET', '/api/v2/users/pat-a/consult/time', { token: tok['pat-b']! }), F);
  });

  test('a doctor outside the care team learns nothing of its consultations (lists, patient filter, consult time)', async () => {
    for (const path of ['/api/v2/sessions/topics?limit=200', '/api/v2/sessions/topics?patient_id=pat-a', '/api/v2/sessions/healthTopics?patient_id=pat-a']) {
      const ids = ok(await s.call('GET', path, { token: tok['doc-out']! })).topics.map((x: { id: string }) => x.id);
      assert.deepEqual(ids.filter((id: string) => id.startsWith('pol-topic-')), [], path);
    }
    assert.equal(ok(await s.call('GET', '/api/v2/users/pat-a/consult/time', { token: tok['doc-out']! })).total, 0);
    assert.equal(ok(await s.call('GET', '/api/v2/users/pat-a/consult/time', { token: tok['doc-team']! })).total, TYPES.length);
  });

  test('the messages of a consultation are for the participants of its session (and the integrator)', async () => {
    for (const [actor, want] of [['doctor in the session', 'ok'], ['doctor of the care team', 'conversation.not_participant'], ['doctor outside', 'topic.not_found'], ['patient', 'ok'], ['integrator', 'ok']] as const) {
      expect(await call(actor, 'GET', `/api/v2/sessions/topic/${topicId(1)}/messages`), want, actor);
    }
  });
});

describe('statistics and counts', () => {
  for (const actor of ACTOR_NAMES) {
    test(`${actor}`, async () => {
      const rows = await call(actor, 'GET', '/api/v2/statistics/topics?group_by=team');
      const want = STATISTICS[actor];
      if (typeof want === 'string') assertError(rows, want, 'statistics by team');
      else assert.equal(ok(rows).rows.find((r: { team_id: string }) => r.team_id === 'team-a')?.count ?? 0, want, 'statistics by team');
      const byDoctor = await call(actor, 'GET', '/api/v2/statistics/topics?group_by=doctor&team_id=team-a');
      if (typeof want === 'string') assertError(byDoctor, want, 'statistics by doctor');
      else assert.equal(ok(byDoctor).rows.find((r: { doctor_id: string }) => r.doctor_id === 'doc-in')?.count ?? 0, want, 'statistics by doctor of team-a');
      const counts = await call(actor, 'GET', '/api/v2/sessions/topicListCountByType?team_id=team-a');
      const reply = await call(actor, 'GET', '/api/v2/sessions/topics/count/reply?team_id=team-a');
      const wantCount = COUNTS[actor];
      if (typeof wantCount === 'string') {
        assertError(counts, wantCount, 'topicListCountByType');
        assertError(reply, wantCount, 'count/reply');
      } else {
        const c = ok(counts);
        assert.equal(c.unreplied + c.in_progress + c.replied, wantCount, 'topicListCountByType');
        assert.equal(ok(reply).total, wantCount, 'count/reply');
      }
    });
  }

  test('a patient\'s own counts are theirs alone', async () => {
    const own = ok(await s.call('GET', '/api/v2/sessions/topicListCountByType', { token: tok['pat-a']! }));
    assert.equal(own.in_progress, TYPES.length);
    const none = ok(await s.call('GET', '/api/v2/sessions/topicListCountByType', { token: tok['pat-b']! }));
    assert.deepEqual(none, { unreplied: 0, in_progress: 0, replied: 0, ended_unreplied: 0 });
  });
});
