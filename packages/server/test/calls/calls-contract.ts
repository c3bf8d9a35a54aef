/**
 * The call store (`CallStore`) contract: every backend runs these same tests. A backend's test
 * file calls `callsContract(name, open)` with a function that opens a fresh, empty, migrated
 * storage.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Storage } from '../../src/domain/ports.ts';
import type { Call, NewMessage } from '../../src/domain/types.ts';
import { AppError } from '../../src/domain/errors.ts';
import * as machine from '../../src/calls/machine.ts';

export type OpenCallStorage = () => Promise<{ storage: Storage; cleanup: () => Promise<void> }>;

const T = 'tenant-calls';
const NOW = 1_800_000_000_000;
let n = 0;

function newCall(conversation: string, caller: string, callees: string[], at = NOW): Call {
  return {
    tenant_id: T, id: `call-${++n}`, conversation_id: conversation, caller_id: caller, av_type: 'video', state: 'ringing',
    participants: [
      { user_id: caller, state: 'joined', joined_at: at, left_at: null, seen_at: at },
      ...callees.map((u) => ({ user_id: u, state: 'ringing' as const, joined_at: null, left_at: null, seen_at: at })),
    ],
    created_at: at, ring_until: at + 30_000, answered_at: null, ended_at: null, end_reason: null, version: 1, record_message_id: null, record_seq: null,
  };
}

function record(c: Call): NewMessage {
  const content = { status: c.end_reason, avType: c.av_type, uid: c.caller_id, roomId: c.id, timestamp: c.created_at, useTime: 0, answered: false, duration: 0 };
  return {
    tenant_id: T, conversation_id: c.conversation_id, id: `m-${c.id}`, sender_id: c.caller_id, type: 1002, content,
    content_json: JSON.stringify(content), client_id: `call:${c.id}`, created_at: c.ended_at!, forward: null,
  };
}

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof AppError || (e as { code?: string }).code, String(e));
    return (e as AppError).code;
  }
  return 'resolved';
}

export function callsContract(name: string, open: OpenCallStorage): void {
  describe(`calls contract: ${name}`, () => {
    let s: Storage;
    let cleanup: () => Promise<void>;
    const conv = async (id: string, members: string[]) => {
      await s.conversations.createConversation({
        tenant_id: T, id, type: 4, business_type: 0, name: id, status: 0, created_by: members[0]!, participants: members.map((u) => ({ user_id: u, role: 'member' })),
      }, NOW);
      return id;
    };

    before(async () => {
      ({ storage: s, cleanup } = await open());
      await s.tenants.createTenant({ id: T, name: 'Calls', created_at: NOW });
    });
    after(async () => {
      await s.close();
      await cleanup();
    });

    it('create stores the call and its participants in order; get, live and liveForUser read it back', async () => {
      const c = await conv('c-create', ['doc', 'pat', 'nurse']);
      const call = newCall(c, 'doc', ['pat', 'nurse']);
      const stored = await s.calls.create(call);
      assert.deepEqual(stored, call);
      assert.deepEqual(await s.calls.get(T, call.id), call);
      assert.deepEqual(await s.calls.live(T, c), call);
      assert.deepEqual((await s.calls.liveForUser(T, 'pat')).map((x) => x.id), [call.id]);
      assert.equal(await s.calls.get('other-tenant', call.id), null);
      assert.equal(await s.calls.live(T, 'c-none'), null);
      const ended = machine.cancel(stored, 'doc', NOW + 5)!.next;
      assert.ok(await s.calls.update(ended, record(ended)));
    });

    it('one live call per conversation: a second create fails with call.in_progress naming the live one, storing nothing', async () => {
      const c = await conv('c-second', ['u1', 'u2']);
      const first = await s.calls.create(newCall(c, 'u1', ['u2']));
      const second = newCall(c, 'u2', ['u1']);
      try {
        await s.calls.create(second);
        assert.fail('a second live call was stored');
      } catch (e) {
        assert.equal((e as AppError).code, 'call.in_progress');
        assert.deepEqual((e as AppError).details, { call_id: first.id });
      }
      assert.equal(await s.calls.get(T, second.id), null);
      // Once it ended, the conversation may call again.
      const ended = machine.cancel(first, 'u1', NOW + 1)!.next;
      const r = await s.calls.update(ended, record(ended));
      assert.equal(r!.call.state, 'ended');
      assert.equal((await s.calls.create(newCall(c, 'u2', ['u1']))).state, 'ringing');
    });

    it('one joined call per user: callees joined elsewhere are stored busy; a joined caller and a second join fail with call.busy', async () => {
      const c1 = await conv('c-busy-1', ['b1', 'b2']);
      const c2 = await conv('c-busy-2', ['b3', 'b2', 'b4']);
      const c3 = await conv('c-busy-3', ['b1', 'b4']);
      const first = await s.calls.create(newCall(c1, 'b1', ['b2']));
      const accepted = await s.calls.update(machine.accept(first, 'b2', NOW + 10)!.next);
      assert.equal(accepted!.call.participants[1]!.state, 'joined');
      const second = await s.calls.create(newCall(c2, 'b3', ['b2', 'b4']));
      assert.deepEqual(second.participants.map((p) => p.state), ['joined', 'busy', 'ringing']);
      assert.equal(await code(s.calls.create(newCall(c3, 'b1', ['b4']))), 'call.busy');
      assert.equal(await s.calls.live(T, c3), null, 'nothing stored');
      // b4 ringing in call 2 may answer; answering a call of a joined user fails and changes nothing.
      const third = await s.calls.create(newCall(await conv('c-busy-4', ['b5', 'b4']), 'b5', ['b4']));
      assert.ok(await s.calls.update(machine.accept(second, 'b4', NOW + 20)!.next));
      assert.equal(await code(s.calls.update(machine.accept(third, 'b4', NOW + 21)!.next)), 'call.busy');
      const after = await s.calls.get(T, third.id);
      assert.deepEqual([after!.version, after!.state, after!.participants[1]!.state], [1, 'ringing', 'ringing']);
    });

    it('update is conditional on the version: the second of two changes computed from one read changes nothing', async () => {
      const c = await conv('c-race', ['r1', 'r2', 'r3']);
      const call = await s.calls.create(newCall(c, 'r1', ['r2', 'r3']));
      const a = machine.accept(call, 'r2', NOW + 1)!.next;
      const b = machine.refuse(call, 'r3', NOW + 1)!.next;
      const [ra, rb] = await Promise.all([s.calls.update(a), s.calls.update(b)]);
      assert.equal([ra, rb].filter((r) => r === null).length, 1, 'exactly one applies');
      const now = await s.calls.get(T, call.id);
      assert.equal(now!.version, 2);
      // The loser recomputes from the newer version and applies.
      const retry = ra === null ? machine.accept(now!, 'r2', NOW + 2)!.next : machine.refuse(now!, 'r3', NOW + 2)!.next;
      assert.ok(await s.calls.update(retry));
      assert.deepEqual((await s.calls.get(T, call.id))!.participants.map((p) => p.state), ['joined', 'joined', 'refused']);
    });

    it('an ending update appends the record in the same transaction, at the next seq, once', async () => {
      const c = await conv('c-record', ['e1', 'e2']);
      const [before] = await s.messages.append([{
        tenant_id: T, conversation_id: c, id: 'm-before', sender_id: 'e2', type: 1, content: { text: 'hi' }, content_json: '{"text":"hi"}', client_id: null, created_at: NOW, forward: null,
      }]);
      assert.ok(before!.ok);
      const call = await s.calls.create(newCall(c, 'e1', ['e2']));
      const ended = machine.refuse(call, 'e2', NOW + 3)!.next;
      const r = await s.calls.update(ended, record(ended));
      assert.equal(r!.record!.seq, 2);
      assert.equal(r!.record!.type, 1002);
      assert.equal(r!.call.record_message_id, r!.record!.id);
      assert.equal(r!.call.record_seq, 2);
      assert.equal(r!.call.end_reason, 'refuse');
      assert.equal(await s.calls.live(T, c), null);
      // The same change again: the version moved, nothing more is written.
      assert.equal(await s.calls.update(ended, record(ended)), null);
      const history = await s.messages.history(T, c, { limit: 10 });
      assert.deepEqual(history.map((m) => [m.seq, m.type]), [[1, 1], [2, 1002]]);
    });

    it('beat moves a joined participant\'s seen_at forward only; a ringing or unknown one is not beaten', async () => {
      const c = await conv('c-beat', ['h1', 'h2', 'h3']);
      const call = await s.calls.create(newCall(c, 'h1', ['h2', 'h3']));
      assert.equal(await s.calls.beat(T, call.id, 'h1', NOW + 500), true);
      assert.equal(await s.calls.beat(T, call.id, 'h1', NOW + 100), true);
      assert.equal(await s.calls.beat(T, call.id, 'h2', NOW + 500), false, 'ringing');
      assert.equal(await s.calls.beat(T, call.id, 'nobody', NOW + 500), false);
      const got = await s.calls.get(T, call.id);
      assert.equal(got!.participants[0]!.seen_at, NOW + 500);
      assert.equal(got!.participants[1]!.seen_at, NOW);
      // An update computed from an older read does not move seen_at back.
      const r = await s.calls.update(machine.accept(call, 'h2', NOW + 200)!.next);
      assert.equal(r!.call.participants[0]!.seen_at, NOW + 500);
    });
  });
}
