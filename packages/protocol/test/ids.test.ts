import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { deriveConversationId, participantsHash } from '../src/ids.ts';
import { ErrorCodes, shouldReconnect, CloseCodes, MessageTypeTable } from '../src/index.ts';

describe('conversation id rules (seed 000)', () => {
  it('type 1: patient_team_consultType', () => {
    assert.deepEqual(deriveConversationId(1, { patient: 'p1', team: 't9', consult_type: 2 }), { ok: true, id: 'p1_t9_2' });
    assert.deepEqual(deriveConversationId(1, { patient: 'p1' }), { ok: false, missing: ['team', 'consult_type'] });
  });
  it('types 0 and 2: a hash of the participants, order-free', () => {
    const a = deriveConversationId(2, { participants: ['b', 'a'] });
    const b = deriveConversationId(2, { participants: ['a', 'b', 'a'] });
    assert.deepEqual(a, b);
    assert.equal(a.ok === true && a.id, participantsHash(['a', 'b']));
    assert.match(participantsHash(['x']), /^[0-9a-f]{32}$/);
    assert.deepEqual(deriveConversationId(0, {}), { ok: false, missing: ['participants'] });
  });
  it('type 3: the team id; 4: generated; 5: patient_team; 6/7: given', () => {
    assert.deepEqual(deriveConversationId(3, { team: 'adm7' }), { ok: true, id: 'adm7' });
    assert.deepEqual(deriveConversationId(4, {}), { ok: 'generate' });
    assert.deepEqual(deriveConversationId(5, { patient: 'p', team: 'spec' }), { ok: true, id: 'p_spec' });
    assert.deepEqual(deriveConversationId(6, {}), { ok: 'given' });
    assert.deepEqual(deriveConversationId(7, {}), { ok: 'given' });
  });
  it('types 8–11: patient_consult_consultType; 12: room_consult_consultType', () => {
    for (const t of [8, 9, 10, 11] as const) assert.deepEqual(deriveConversationId(t, { patient: 'p', consult: 'c', consult_type: 't' }), { ok: true, id: 'p_c_t' });
    assert.deepEqual(deriveConversationId(12, { room: 'r', consult: 'c', consult_type: 1 }), { ok: true, id: 'r_c_1' });
    assert.deepEqual(deriveConversationId(12, { room: 'r' }), { ok: false, missing: ['consult', 'consult_type'] });
  });
});

describe('codes', () => {
  it('close code ranges say whether to reconnect', () => {
    assert.equal(shouldReconnect(CloseCodes.SHUTDOWN), true);
    assert.equal(shouldReconnect(CloseCodes.SLOW_CONSUMER), true);
    assert.equal(shouldReconnect(1006), true);
    assert.equal(shouldReconnect(CloseCodes.TOKEN_REVOKED), false);
    assert.equal(shouldReconnect(CloseCodes.AUTH_FAILED), false);
  });
  it('error codes are namespaced and have a status and a message', () => {
    for (const [code, v] of Object.entries(ErrorCodes)) {
      assert.match(code, /^[a-z]+\.[a-z_]+$/);
      assert.ok(v.status >= 400 && v.status < 600);
      assert.ok(v.message.length > 5);
    }
  });
  it('every seed 000 message type code 0–26 and 2102–2104 is in the table once', () => {
    const codes = MessageTypeTable.map((t) => t.code);
    assert.equal(new Set(codes).size, codes.length);
    for (let i = 0; i <= 26; i++) assert.ok(codes.includes(i), `type ${i}`);
    for (const c of [2102, 2103, 2104]) assert.ok(codes.includes(c));
  });
});
