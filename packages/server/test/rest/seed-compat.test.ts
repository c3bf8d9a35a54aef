/**
 * What clients written for the original systems send, as they send it: seed 003's content
 * shapes (a file with `duration` and `mimeType`, free-form custom content) and seed 000's
 * participant entries.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../support/server.ts';
import { assertError, ok } from './helpers.ts';

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
