/**
 * The conference store (`ConferenceStore`) contract: every backend runs these same tests
 * (`conferences-storage.test.ts` through `onEveryBackend`).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Storage } from '../../src/domain/ports.ts';
import type { Conference, NewTransition } from '../../src/conferences/store.ts';
import * as machine from '../../src/conferences/machine.ts';

export type OpenConferenceStorage = () => Promise<{ storage: Storage; cleanup: () => Promise<void> }>;

const T = 'tenant-conf';
const NOW = 1_800_000_000_000;
let n = 0;

export function newConference(over: Partial<Conference> = {}): Conference {
  return {
    tenant_id: T, id: `cf-${++n}`, status: 'scheduled', title: 'Visit', starts_at: NOW, duration_seconds: 600, ends_at: NOW + 600_000,
    vertical: 'medicine', language: 'ru', created_by: 'doc', created_by_role: 'specialist', created_at: NOW, opened_at: null, started_at: null,
    ended_at: null, end_reason: null, conversation_id: null, topic_id: null, room: 2 ** 46 + n, room_secret: 'sec', room_pin: 'pin',
    arrived_at: null, admitted_at: null, version: 1, info_version: 1,
    participants: [
      { user_id: 'doc', name: 'Dr. Who', role: 'specialist', careline_user: true, token_version: 1, revoked_at: null, joined_at: null, left_at: null },
      { user_id: 'pat', name: 'Пациент', role: 'client', careline_user: false, token_version: 1, revoked_at: null, joined_at: null, left_at: null },
    ],
    ...over,
  };
}

const created = (at = NOW): NewTransition => ({ from: null, to: 'scheduled', action: 'create', by: 'api', reason: null, at, node: 'n1' });

export function conferencesContract(name: string, open: OpenConferenceStorage): void {
  describe(`conferences contract: ${name}`, () => {
    let s: Storage;
    let cleanup: () => Promise<void>;
    before(async () => {
      ({ storage: s, cleanup } = await open());
    });
    after(async () => {
      await s.close();
      await cleanup();
    });

    it('create stores the conference, its participants in order, its tokens and transition 1', async () => {
      const c = newConference();
      const stored = await s.conferences.create(c, { transition: created(), issue: [{ hash: `h-${c.id}-doc`, user_id: 'doc', version: 1 }, { hash: `h-${c.id}-pat`, user_id: 'pat', version: 1 }] });
      assert.deepEqual(stored, c);
      assert.deepEqual(await s.conferences.get(T, c.id), c);
      assert.equal(await s.conferences.get('other-tenant', c.id), null);
      assert.deepEqual(await s.conferences.token(`h-${c.id}-pat`), { tenant_id: T, conference_id: c.id, user_id: 'pat', version: 1, revoked_at: null });
      assert.equal(await s.conferences.token('nope'), null);
      assert.deepEqual(await s.conferences.transitions(T, c.id), [{ seq: 1, from: null, to: 'scheduled', action: 'create', by: 'api', reason: null, at: NOW, node: 'n1' }]);
    });

    it('update writes over the version read only, and numbers the transitions', async () => {
      const c = await s.conferences.create(newConference(), { transition: created() });
      const opened = machine.open(c, { by: 'doc', role: 'specialist' }, NOW, 0)!;
      const w1 = await s.conferences.update(opened.next, { transition: { ...opened.transition!, node: 'n2' } });
      assert.equal(w1?.status, 'open');
      assert.equal(w1?.version, 2);
      assert.equal(w1?.opened_at, NOW);
      // A second write computed from version 1 loses: nothing changes.
      const cancelled = machine.cancel(c, { by: 'api' }, NOW + 1)!;
      assert.equal(await s.conferences.update(cancelled.next, { transition: { ...cancelled.transition!, node: 'n3' } }), null);
      assert.equal((await s.conferences.get(T, c.id))?.status, 'open');
      const joined = machine.join(w1!, 'pat', NOW + 2, { mustBeAdmitted: false })!;
      const w2 = await s.conferences.update(joined.next, { transition: { ...joined.transition!, node: 'n1' } });
      assert.equal(w2?.status, 'started');
      assert.equal(w2?.participants.find((p) => p.user_id === 'pat')?.joined_at, NOW + 2);
      assert.equal(w2?.info_version, 2);
      const ts = await s.conferences.transitions(T, c.id);
      assert.deepEqual(ts.map((t) => [t.seq, t.from, t.to, t.action, t.by, t.node]), [
        [1, null, 'scheduled', 'create', 'api', 'n1'], [2, 'scheduled', 'open', 'open', 'doc', 'n2'], [3, 'open', 'started', 'join', 'pat', 'n1'],
      ]);
    });

    it('revoking and issuing tokens: old rows stay, marked revoked', async () => {
      const c = await s.conferences.create(newConference(), { transition: created(), issue: [{ hash: `a-${n}`, user_id: 'pat', version: 1 }] });
      const first = `a-${n}`;
      const re = machine.reissue(c, 'pat');
      const w = await s.conferences.update(re.next, { revokeTokensOf: ['pat'], issue: [{ hash: `b-${n}`, user_id: 'pat', version: 2 }], at: NOW + 5 });
      assert.equal(w?.participants.find((p) => p.user_id === 'pat')?.token_version, 2);
      assert.deepEqual(await s.conferences.token(first), { tenant_id: T, conference_id: c.id, user_id: 'pat', version: 1, revoked_at: NOW + 5 });
      assert.equal((await s.conferences.token(`b-${n}`))?.revoked_at, null);
      assert.equal((await s.conferences.transitions(T, c.id)).length, 1, 'no transition for a token change');
    });

    it('waiting lists arrived, not admitted, scheduled or open conferences of a conversation by arrival', async () => {
      const room = `room-${n}`;
      const mk = async (arrived: number | null, over: Partial<Conference> = {}) => s.conferences.create(newConference({ conversation_id: room, arrived_at: arrived, ...over }), { transition: created() });
      const late = await mk(NOW + 30);
      const early = await mk(NOW + 10);
      await mk(null);
      await mk(NOW + 5, { admitted_at: NOW + 6 });
      await mk(NOW + 1, { status: 'cancelled' });
      await s.conferences.create(newConference({ conversation_id: 'elsewhere', arrived_at: NOW }), { transition: created() });
      assert.deepEqual((await s.conferences.waiting(T, room)).map((c) => c.id), [early.id, late.id]);
      const admitted = machine.admit(early, { by: 'doc', role: 'specialist' }, NOW + 40);
      await s.conferences.update(admitted.next, { transition: { ...admitted.transition!, node: 'n1' } });
      assert.deepEqual((await s.conferences.waiting(T, room)).map((c) => c.id), [late.id]);
    });

    it('two writers from one version: exactly one wins', async () => {
      const c = await s.conferences.create(newConference(), { transition: created() });
      const a = machine.cancel(c, { by: 'api' }, NOW)!;
      const b = machine.open(c, { by: 'doc', role: 'specialist' }, NOW, 0)!;
      const r = await Promise.all([
        s.conferences.update(a.next, { transition: { ...a.transition!, node: 'a' } }),
        s.conferences.update(b.next, { transition: { ...b.transition!, node: 'b' } }),
      ]);
      assert.equal(r.filter((x) => x !== null).length, 1);
      assert.equal((await s.conferences.transitions(T, c.id)).length, 2);
    });
  });
}
