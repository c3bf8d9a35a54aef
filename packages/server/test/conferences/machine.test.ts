/** The conference status machine on its own (docs/conferences.md): the end of time, info changes, the waiting room. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as machine from '../../src/conferences/machine.ts';
import { newConference } from './conferences-contract.ts';

const NOW = 1_800_000_000_000;

describe('conference machine', () => {
  it('the end of time finishes a running conference at ends_at, not before, and never an ended one', () => {
    const c = newConference();
    assert.equal(machine.expire(c, c.ends_at - 1), null);
    for (const status of ['scheduled', 'open', 'started'] as const) {
      const ch = machine.expire({ ...c, status }, c.ends_at)!;
      assert.deepEqual([ch.next.status, ch.next.end_reason, ch.transition?.action, ch.transition?.by, ch.transition?.from], ['finished', 'time', 'time', 'system', status]);
    }
    for (const status of ['finished', 'cancelled'] as const) assert.equal(machine.expire({ ...c, status }, c.ends_at + 1), null);
  });

  it('finishing marks the participants still in the room as left', () => {
    const c = newConference({ status: 'started' });
    c.participants[0]!.joined_at = NOW;
    const ch = machine.finish(c, { by: 'doc', role: 'specialist' }, NOW + 5)!;
    assert.equal(ch.next.participants[0]!.left_at, NOW + 5);
    assert.equal(ch.next.participants[1]!.left_at, null, 'never joined');
  });

  it('an info change moves ends_at with the start or the duration, and says what changed', () => {
    const c = newConference();
    const ch = machine.update(c, { duration_seconds: 60, title: c.title })!;
    assert.deepEqual(ch.changed, ['duration_seconds', 'ends_at']);
    assert.equal(ch.next.ends_at, c.starts_at + 60_000);
    assert.equal(ch.next.info_version, 2);
    assert.equal(machine.update(c, { title: c.title }), null);
  });

  it('a waiting-room client joins only once admitted; admitting a scheduled conference opens it', () => {
    const c = newConference({ status: 'open', conversation_id: 'room', arrived_at: NOW });
    assert.throws(() => machine.join(c, 'pat', NOW, { mustBeAdmitted: true }), { code: 'conference.not_admitted' });
    assert.ok(machine.join(c, 'doc', NOW, { mustBeAdmitted: true }), 'the specialist needs no admission');
    const s = machine.admit({ ...c, status: 'scheduled' }, { by: 'doc', role: 'specialist' }, NOW);
    assert.deepEqual([s.next.status, s.next.admitted_at, s.transition?.to], ['open', NOW, 'open']);
    assert.throws(() => machine.admit(s.next, { by: 'doc', role: 'specialist' }, NOW), { code: 'conference.invalid_state' });
    assert.equal(machine.arrive(s.next, NOW), null, 'arriving again changes nothing');
  });
});
