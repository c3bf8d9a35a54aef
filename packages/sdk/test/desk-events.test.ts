/**
 * Front-desk events through the SDK (docs/desk.md): a staff member's client gets the desk's
 * events as `desk` events — a visitor's visit (`users_changed`), a chat request
 * (`request_chat`) — in seed 002's shape, as the staff console uses them.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Harness, waitFor } from './support/harness.ts';

const T = { timeout: 20_000 };

describe('desk events (SDK)', () => {
  const h = Harness.forSuite();

  test('a staff member\'s client gets users_changed and request_chat', T, async () => {
    const staff = await h.server.user('desk-nurse', 'staff', 'Nurse');
    const c = h.client(staff.token);
    const got: Record<string, unknown>[] = [];
    c.on('desk', (e) => got.push(e));
    await c.connect();
    // Calling a desk endpoint once makes the user desk staff of the organisation.
    const init = await h.server.call('GET', '/api/state/init', { token: staff.token });
    assert.equal(init.status, 200, JSON.stringify(init.body));

    const key = await h.server.call('POST', '/api/desk/widget-keys', { body: { name: 'site' } });
    assert.equal(key.status, 200, JSON.stringify(key.body));
    const visitor = await h.server.call('GET', `/api/state/init?fp=fp-1&key=${encodeURIComponent(key.body.key)}`, { apiKey: null });
    assert.equal(visitor.status, 200, JSON.stringify(visitor.body));
    const { uid, token } = visitor.body as { uid: string; token: string };
    const track = await h.server.call('POST', '/api/user/track', { token, body: { uid, fp: 'fp-1', url: 'https://clinic.example/hours', title: 'Hours' } });
    assert.equal(track.status, 200, JSON.stringify(track.body));
    await waitFor(() => got.some((e) => e['type'] === 'users_changed' && (e['event'] as { uids: string[] }).uids.includes(uid)), { timeoutMs: 5000 });

    const ask = await h.server.call('POST', '/api/message', { token, body: { cid: h.server.tenantId, type: 'request_chat', from: { id: uid, name: '', role: 'user' }, event: { uids: [uid] } } });
    assert.equal(ask.status, 200, JSON.stringify(ask.body));
    await waitFor(() => got.some((e) => e['type'] === 'request_chat'), { timeoutMs: 5000 });
    const req = got.find((e) => e['type'] === 'request_chat')!;
    assert.equal((req['chat'] as { id: string }).id, ask.body.chat.id);
    assert.match(String(req['mid']), /^[0-9a-v]{20}$/);
    await c.close();
  });
});
