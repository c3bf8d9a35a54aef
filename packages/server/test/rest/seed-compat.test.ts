/**
 * What clients written for the original systems send, as they send it: seed 003's content
 * shapes (a file with `duration` and `mimeType`, free-form custom content), seed 000's
 * participant entries, and seed 000's unread rule (a member's fetch through the seed's message
 * paths is their read: unread counts the messages after it).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../support/server.ts';
import { assertError, closeWs, eventually, ok, openWs } from './helpers.ts';

let s: TestServer;
const tok: Record<string, string> = {};
const as = (who: string) => ({ token: tok[who]! });

before(async () => {
  s = await startTestServer();
  for (const [id, role] of [['pat', 'patient'], ['doc', 'doctor'], ['nurse', 'staff']] as const) tok[id] = (await s.user(id, role)).token;
});
after(() => s.stop());

describe('seed 003 content shapes', () => {
  let conv: string;
  before(async () => {
    conv = await s.conversation({ participants: ['pat', 'doc'], type: 2 });
  });
  const send = (type: number, content: unknown) => s.call('POST', `/api/v2/sessions/${conv}/messages`, { body: { type, content }, ...as('pat') });

  test('a file with duration and mimeType (seed 003) is a file message, stored as sent', async () => {
    const content = { storageId: 'st-1', fileName: 'clip.3gp', fileSize: '20480', duration: 100, mimeType: 'video/3gpp' };
    const m = ok(await send(1000, content)).message;
    assert.equal(m.type, 1000);
    assert.deepEqual(m.content, content);
    // Without mimeType (it is optional in the seed) and with a numeric size.
    ok(await send(1000, { storageId: 'st-2', fileName: 'a.pdf', fileSize: 5, duration: 0 }));
  });

  test('a file with a bad duration, or none of the required fields, is still refused', async () => {
    for (const content of [
      { storageId: 'st', fileName: 'a', fileSize: '1', duration: -1 },
      { storageId: 'st', fileName: 'a', fileSize: '1', duration: '100' },
      { storageId: 'st', fileName: 'a', fileSize: '1', duration: 86_401 },
      { storageId: 'st', fileName: 'a', duration: 1 },
      { storageId: 'st', fileName: 'a', fileSize: '1', duration: 1, unknown: true },
    ]) assertError(await send(1000, content), 'message.content_invalid', JSON.stringify(content));
  });

  test('custom content is free-form (seed 003: `{}`), with kind and data checked when given', async () => {
    for (const content of [{}, { anything: [1, 2, { deep: true }] }, { kind: 'vitals', data: { systolic: 120 } }, { kind: 'x' }, { data: {} }]) {
      const m = ok(await send(1100, content), JSON.stringify(content)).message;
      assert.deepEqual(m.content, content);
    }
    for (const content of [{ kind: '' }, { kind: 5 }, { kind: 'x', data: 'not an object' }, { kind: 'k'.repeat(65) }]) {
      assertError(await send(1100, content), 'message.content_invalid', JSON.stringify(content));
    }
  });
});

describe('seed 000 participant entries', () => {
  test('":doctor" (an empty user id) is participant.invalid, not user.not_found', async () => {
    for (const participants of [[':doctor'], ['pat', ':doctor'], ['doc:'], [' :doctor'], [':']]) {
      const r = await s.call('POST', '/api/v2/sessions', { apiKey: s.apiKey, body: { session_type: 2, participants } });
      assertError(r, 'participant.invalid', JSON.stringify(participants));
    }
    const conv = await s.conversation({ participants: ['pat', 'doc'], type: 2 });
    for (const body of [{ add: [':doctor'] }, { participants: ['pat', 'doc', ':staff'] }]) {
      assertError(await s.call('POST', `/api/v2/sessions/${conv}/participant/update`, { body }), 'participant.invalid', JSON.stringify(body));
    }
    // Still fine: "id:role" and a bare id.
    const made = ok(await s.call('POST', '/api/v2/sessions', { apiKey: s.apiKey, body: { session_type: 2, participants: ['doc:doctor', 'pat'] } }));
    assert.deepEqual(made.session.id, (await s.call('GET', `/api/v2/sessions/isExist?session_type=2&participants=pat,doc:doctor`, { apiKey: s.apiKey })).body.session_id);
  });
});

describe('seed 000 unread: a fetch through the seed\'s message path is the member\'s read', () => {
  let conv: string;
  const unread = async (who: string) => ok(await s.call('GET', `/api/v2/sessions/${conv}/unread_message_count`, as(who))).count as number;
  const total = async (who: string) => ok(await s.call('GET', '/api/v2/sessions/unread_message_count', as(who))).count as number;
  const fetchMessages = async (who: string, q = '') => ok(await s.call('GET', `/api/v2/sessions/${conv}/messages${q}`, as(who))) as { messages: { seq: number }[] };

  before(async () => {
    conv = await s.conversation({ participants: ['pat', 'doc', 'nurse'], type: 1, id: 'pat_team1_1' });
    for (let i = 1; i <= 5; i++) await s.sendAs('doc', conv, `m${i}`);
  });

  test('fetching the newest page moves the caller\'s read cursor to the newest seq returned, and only theirs', async () => {
    assert.equal(await unread('pat'), 5);
    assert.equal(await unread('nurse'), 5);
    const page = await fetchMessages('pat');
    assert.equal(page.messages.at(-1)!.seq, 5);
    assert.equal(await unread('pat'), 0);
    assert.equal(await total('pat'), 0);
    assert.equal(await unread('nurse'), 5, 'another member\'s cursor does not move');
    // New messages after the fetch are unread again, as the seed counted them.
    await s.sendAs('doc', conv, 'm6');
    await s.sendAs('doc', conv, 'm7');
    assert.equal(await unread('pat'), 2);
    // A page limited to older messages moves the cursor only up to what it returned.
    const limited = await fetchMessages('nurse', '?limit=2');
    assert.deepEqual(limited.messages.map((m) => m.seq), [6, 7]);
    assert.equal(await unread('nurse'), 0);
  });

  test('paging with before/after (the SDK\'s history paging and gap filling) moves nobody\'s cursor', async () => {
    await s.sendAs('doc', conv, 'm8');
    assert.equal(await unread('pat'), 3);
    await fetchMessages('pat', '?after=5');
    await fetchMessages('pat', '?before=9&limit=2');
    await fetchMessages('pat', '?after=0&limit=1');
    assert.equal(await unread('pat'), 3);
  });

  test('the cursor moves forward only: a fetch never makes read messages unread again', async () => {
    const r = ok(await s.call('POST', `/api/v2/sessions/${conv}/read`, { body: {}, ...as('pat') }));
    assert.equal(r.unread, 0);
    await fetchMessages('pat');
    assert.equal(await unread('pat'), 0);
    assert.equal(ok(await s.call('GET', `/api/v2/sessions/${conv}/session`, as('pat'))).session.read_seq, r.read_seq);
  });

  test('the fetch publishes a read receipt to the other members (as the read frame does)', async () => {
    await s.sendAs('doc', conv, 'm9');
    const ws = await openWs(s, tok['doc']!);
    try {
      const receipts: { user_id: string; seq: number }[] = [];
      ws.addEventListener('message', (e) => {
        const f = JSON.parse(String(e.data));
        if (f.type === 'read' && f.conversation_id === conv) receipts.push(f);
      });
      const page = await fetchMessages('nurse');
      const newest = page.messages.at(-1)!.seq;
      await eventually(async () => receipts.some((f) => f.user_id === 'nurse' && f.seq === newest));
      // A second fetch with nothing new moves nothing and sends no second receipt.
      await fetchMessages('nurse');
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(receipts.filter((f) => f.user_id === 'nurse').length, 1);
    } finally {
      await closeWs(ws);
    }
  });

  test('an integrator\'s fetch (API key) moves nobody\'s; with X-On-Behalf-Of it moves that user\'s', async () => {
    await s.sendAs('doc', conv, 'm10');
    const before = await unread('pat');
    assert.ok(before > 0);
    ok(await s.call('GET', `/api/v2/sessions/${conv}/messages`));
    assert.equal(await unread('pat'), before);
    ok(await s.call('GET', `/api/v2/sessions/${conv}/messages`, { apiKey: s.apiKey, headers: { 'x-on-behalf-of': 'pat' } }));
    assert.equal(await unread('pat'), 0);
  });

  test('isExist still moves nobody\'s cursor; the unread list does not either', async () => {
    await s.sendAs('doc', conv, 'm11');
    const before = await unread('pat');
    ok(await s.call('GET', `/api/v2/sessions/isExist?session_id=${conv}`, as('pat')));
    ok(await s.call('GET', `/api/v2/sessions/${conv}/messages/unread`, as('pat')));
    assert.equal(await unread('pat'), before);
  });

  test('fetches again and again move the cursor each time something new came; a member added again starts at the head', async () => {
    const c2 = await s.conversation({ participants: ['pat', 'doc', 'nurse'], type: 1, id: 'pat_team1_2' });
    for (let round = 1; round <= 3; round++) {
      await s.sendAs('doc', c2, `r${round}`);
      await fetchMessages('pat'); // the conversation of the describe: nothing new there
      const page = ok(await s.call('GET', `/api/v2/sessions/${c2}/messages`, as('pat'))) as { messages: { seq: number }[] };
      ok(await s.call('GET', `/api/v2/sessions/${c2}/messages`, as('pat')));
      assert.equal(page.messages.at(-1)!.seq, round);
      assert.equal(ok(await s.call('GET', `/api/v2/sessions/${c2}/unread_message_count`, as('pat'))).count, 0, `round ${round}`);
    }
    // Removed, three more messages, added again: the cursor starts at the head (6), and a
    // fetch after two more moves it to 8 — the node's floor of 3 from before does not stand in the way.
    ok(await s.call('DELETE', `/api/v2/sessions/${c2}/participants/pat`));
    for (let i = 4; i <= 6; i++) await s.sendAs('doc', c2, `r${i}`);
    ok(await s.call('PUT', `/api/v2/sessions/${c2}/participants/pat`, { body: { role: 'patient' } }));
    const session = async () => ok(await s.call('GET', `/api/v2/sessions/${c2}/session`, as('pat'))).session;
    assert.equal((await session()).read_seq, 6);
    await s.sendAs('doc', c2, 'r7');
    await s.sendAs('doc', c2, 'r8');
    assert.equal(ok(await s.call('GET', `/api/v2/sessions/${c2}/unread_message_count`, as('pat'))).count, 2);
    ok(await s.call('GET', `/api/v2/sessions/${c2}/messages`, as('pat')));
    assert.equal((await session()).read_seq, 8);
  });

  test('a non-member\'s fetch is refused and moves nothing', async () => {
    const other = await s.conversation({ participants: ['doc', 'nurse'], type: 2 });
    const r = await s.call('GET', `/api/v2/sessions/${other}/messages`, as('pat'));
    assertError(r, 'conversation.not_participant');
  });
});
