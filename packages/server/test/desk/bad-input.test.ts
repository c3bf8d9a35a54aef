/** Bad input to the front desk → coded errors with nothing changed; the widget key's limits. */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../support/server.ts';
import { requestChat, seedText, visitor, widgetKey } from './support.ts';

describe('front desk: bad input', () => {
  let s: TestServer;
  let key: string;
  let cid: string;
  let nurse: { id: string; token: string };

  before(async () => {
    s = await startTestServer({ config: { desk: { visitorsPerIp: 1000, visitorsPerFingerprint: 1000 } } });
    cid = s.tenantId;
    key = await widgetKey(s);
    nurse = await s.user('nurse', 'staff', 'Nurse');
  });
  after(async () => s.stop());

  const chatsOf = async (token: string) => (await s.call('GET', '/api/state/init', { token })).body.state.chats;

  it('an unknown cid: desk.wrong_organisation, no chat made, no visitor made', async () => {
    const v = await visitor(s, key);
    const r = await s.call('POST', '/api/message', { token: v.token, body: { cid: 'no-such-org', type: 'request_chat', from: { id: v.uid, role: 'user' }, event: { uids: [v.uid] } } });
    assert.equal(r.status, 403);
    assert.equal(r.body.code, 'desk.wrong_organisation');
    assert.deepEqual(await chatsOf(v.token), []);
    const init = await s.call('GET', '/api/state/init?fp=f1&cid=no-such-org', { apiKey: null, headers: { 'x-desk-key': key } });
    assert.equal(init.body.code, 'desk.wrong_organisation');
    assert.equal((await s.call('GET', '/api/users/online?cid=no-such-org', { token: nurse.token })).body.code, 'desk.wrong_organisation');
    assert.equal((await s.call('POST', '/api/user/track', { token: v.token, body: { uid: v.uid, cid: 'other', url: 'https://x.example/' } })).body.code, 'desk.wrong_organisation');
  });

  it('a forged uid: desk.uid_mismatch, nothing sent', async () => {
    const v = await visitor(s, key);
    const other = await visitor(s, key);
    const { chatId } = await requestChat(s, cid, v);
    const forged = await s.call('POST', '/api/message', { token: v.token, body: seedText(cid, { id: other.uid, role: 'user' }, chatId, 'not me') });
    assert.equal(forged.status, 403);
    assert.equal(forged.body.code, 'desk.uid_mismatch');
    assert.equal((await s.call('GET', `/api/state/init?uid=${other.uid}`, { token: v.token })).body.code, 'desk.uid_mismatch');
    assert.equal((await s.call('GET', `/api/state/init?uid=${v.uid}&fp=x`, { apiKey: null, headers: { 'x-desk-key': key } })).body.code, 'desk.uid_mismatch', 'a uid needs its token');
    assert.equal((await s.call('POST', '/api/message', {
      token: v.token, body: { cid, type: 'request_chat', from: { id: v.uid, role: 'user' }, event: { uids: [other.uid] } },
    })).body.code, 'desk.uid_mismatch');
    assert.equal((await s.call('POST', '/api/user/track', { token: v.token, body: { uid: other.uid, url: 'https://x.example/' } })).body.code, 'desk.uid_mismatch');
    assert.equal((await s.call('POST', '/api/message', { token: v.token, body: seedText(cid, { id: v.uid, role: 'staff' }, chatId, 'staff?') })).body.code, 'desk.invalid_message');
    // The other visitor cannot write into v's chat either.
    assert.equal((await s.call('POST', '/api/message', { token: other.token, body: seedText(cid, { id: other.uid, role: 'user' }, chatId, 'hi') })).body.code, 'desk.not_in_chat');
    const [chat] = await chatsOf(v.token);
    assert.deepEqual(chat.msgs, []);
  });

  it('oversize track data: desk.track_too_large (413), the visitor\'s page unchanged', async () => {
    const v = await visitor(s, key);
    await s.call('GET', '/api/ping', { token: v.token });
    assert.equal((await s.call('POST', '/api/user/track', { token: v.token, body: { uid: v.uid, cid, url: 'https://clinic.example/a', title: 'A' } })).status, 200);
    for (const body of [
      { uid: v.uid, cid, url: `https://clinic.example/${'x'.repeat(3000)}` },
      { uid: v.uid, cid, url: 'https://clinic.example/b', title: 't'.repeat(2000), referer: 'r'.repeat(2000), os: 'o'.repeat(2000), browser: 'b'.repeat(2000), fp: 'f'.repeat(2000) },
    ]) {
      const r = await s.call('POST', '/api/user/track', { token: v.token, body });
      assert.equal(r.status, 413);
      assert.equal(r.body.code, 'desk.track_too_large');
    }
    assert.equal((await s.call('POST', '/api/user/track', { token: v.token, body: { uid: v.uid, cid } })).body.code, 'desk.invalid_message', 'url is required');
    const online = await s.call('GET', '/api/users/online', { token: nurse.token });
    assert.equal(online.body.data.find((x: any) => x.uid === v.uid).url, 'https://clinic.example/a');
  });

  it('another organisation\'s chat: desk.chat_not_found, nothing changed', async () => {
    {
      // A second organisation on the same database: another tenant of this server.
      const adminHeaders = { 'x-admin-token': 'test-admin-token' };
      const org2 = `o${Math.random().toString(36).slice(2, 9)}`;
      await s.call('POST', '/api/v2/admin/tenants', { apiKey: null, headers: adminHeaders, body: { id: org2, name: 'Other clinic' } });
      const app2 = await s.call('POST', `/api/v2/admin/tenants/${org2}/apps`, { apiKey: null, headers: adminHeaders, body: { name: 'other' } });
      const key2 = await widgetKey({ call: (m, p, o) => s.call(m, p, { ...o, apiKey: app2.body.api_key }) });
      const v2 = await visitor(s, key2);
      assert.equal(v2.init.cid, org2);
      const { chatId } = await requestChat(s, org2, v2);
      for (const [m, p, body] of [
        ['POST', `/api/desk/chats/${chatId}/claim`, undefined],
        ['POST', `/api/desk/chats/${chatId}/ack`, undefined],
        ['POST', `/api/desk/chats/${chatId}/close`, { outcome: 'spam' }],
        ['GET', `/api/desk/chats/${chatId}`, undefined],
      ] as const) {
        const r = await s.call(m, p, { token: nurse.token, ...(body ? { body } : {}) });
        assert.equal(r.status, 404, p);
        assert.equal(r.body.code, 'desk.chat_not_found');
      }
      const join = await s.call('POST', '/api/message', { token: nurse.token, body: { cid, type: 'join_chat', from: { id: 'nurse', role: 'staff' }, event: { chat: { id: chatId } } } });
      assert.equal(join.body.code, 'desk.chat_not_found');
      const [chat] = await chatsOf(v2.token);
      assert.equal(chat.state, 'request');
      assert.equal(chat.staff_id, '0');
      // Its widget key makes visitors of its organisation only.
      assert.equal((await s.call('GET', `/api/state/init?fp=z&cid=${cid}`, { apiKey: null, headers: { 'x-desk-key': key2 } })).body.code, 'desk.wrong_organisation');
    }
  });

  it('malformed bodies and ids: coded errors', async () => {
    const v = await visitor(s, key);
    const { chatId } = await requestChat(s, cid, v);
    for (const body of [
      { cid, type: 'video', chat: { id: chatId } },
      { cid, type: 'text', chat: { id: chatId } },
      { cid, type: 'text', text: 'no chat' },
      { cid, type: 'file', chat: { id: chatId }, file: { name: 'x' } },
      { cid, type: 'image', chat: { id: chatId }, image: {} },
      { cid, type: 'text', chat: { id: chatId }, text: 'x', mid: 'not-a-mid' },
    ]) {
      const r = await s.call('POST', '/api/message', { token: v.token, body });
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.equal(r.body.code, 'desk.invalid_message');
    }
    assert.equal((await s.call('POST', '/api/message', { token: v.token, body: seedText(cid, { id: v.uid, role: 'user' }, 'ZZZZZZZZZZZZZZZZZZZZZZZZZ', 'x') })).body.code, 'desk.chat_not_found');
    assert.equal((await s.call('POST', '/api/message', { token: nurse.token, body: { cid, type: 'request_chat', from: { id: 'nurse', role: 'staff' } } })).body.code, 'desk.invalid_message');
    assert.equal((await s.call('POST', `/api/desk/chats/${chatId}/claim`, { token: v.token })).body.code, 'desk.not_staff');
    assert.equal((await s.call('POST', '/api/message', { body: seedText(cid, { id: v.uid, role: 'user' }, chatId, 'x') })).body.code, 'auth.forbidden');
    const plain = await s.user('just-a-patient', 'patient');
    assert.equal((await s.call('POST', '/api/message', { token: plain.token, body: seedText(cid, { id: plain.id, role: 'user' }, chatId, 'x') })).body.code, 'desk.not_staff');
    const [chat] = await chatsOf(v.token);
    assert.deepEqual(chat.msgs, []);
    assert.equal(chat.state, 'request');
  });

  it('a team that does not exist: desk.team_not_found, no chat made', async () => {
    const v = await visitor(s, key);
    const r = await s.call('POST', '/api/message', { token: v.token, body: { cid, type: 'request_chat', from: { id: v.uid, role: 'user' }, event: { uids: [v.uid], team_id: 'no-team' } } });
    assert.equal(r.status, 404);
    assert.equal(r.body.code, 'desk.team_not_found');
    assert.deepEqual(await chatsOf(v.token), []);
  });
});

describe('front desk: the widget key', () => {
  let s: TestServer;
  let key: string;

  before(async () => {
    s = await startTestServer({ config: { desk: { visitorsPerIp: 6, visitorsPerFingerprint: 3, rateWindowSeconds: 60 } } });
    key = await widgetKey(s);
  });
  after(async () => s.stop());

  const init = (k: string, fp: string, headers: Record<string, string> = {}) => s.call('GET', `/api/state/init?fp=${fp}`, { apiKey: null, headers: { 'x-desk-key': k, ...headers } });

  it('limits new visitors per fingerprint and per address: desk.rate_limited (429, Retry-After)', async () => {
    for (let i = 0; i < 3; i++) assert.equal((await init(key, 'same-fp')).status, 200);
    const fp = await init(key, 'same-fp');
    assert.equal(fp.status, 429);
    assert.equal(fp.body.code, 'desk.rate_limited');
    assert.ok(fp.body.details.retry_after >= 1);
    const res = await fetch(`${s.url}/api/state/init?fp=same-fp`, { headers: { 'x-desk-key': key } });
    assert.equal(res.status, 429);
    assert.ok(Number(res.headers.get('retry-after')) >= 1);
    // Per address: 6 in all from here (4 counted so far, the refused ones included).
    const codes = [];
    for (let i = 0; i < 4; i++) codes.push((await init(key, `fp-${i}`)).status);
    assert.deepEqual(codes.filter((c) => c === 429).length >= 2, true, JSON.stringify(codes));
    assert.equal((await init(key, 'fresh-fp')).body.code, 'desk.rate_limited');
  });

  it('a wrong, revoked or other-origin key is refused; the key does nothing but make visitors', async () => {
    assert.equal((await init('dwk_not-a-real-key-at-all-000000', 'k1')).body.code, 'desk.key_invalid');
    assert.equal((await s.call('GET', '/api/state/init?fp=k2', { apiKey: null })).body.code, 'auth.missing');
    const limited = await widgetKey(s, { name: 'site', origins: ['https://clinic.example'] });
    const keys = await s.call('GET', '/api/desk/widget-keys', {});
    assert.equal(keys.status, 200);
    assert.equal(keys.body.keys.length, 2);
    assert.equal(JSON.stringify(keys.body).includes(limited), false, 'secrets are not listed');
    const wrongOrigin = await init(limited, 'k3', { origin: 'https://evil.example' });
    assert.equal(wrongOrigin.status, 403);
    assert.equal(wrongOrigin.body.code, 'desk.key_forbidden');
    // As an API key or a token it is nothing.
    assert.equal((await s.call('GET', '/api/desk/stats', { apiKey: key })).body.code, 'auth.invalid_api_key');
    assert.equal((await s.call('POST', '/api/message', { token: key, body: { type: 'text' } })).status, 401);
    const id = keys.body.keys.find((k: any) => k.origins.length === 1).id;
    assert.equal((await s.call('DELETE', `/api/desk/widget-keys/${id}`, {})).status, 204);
    assert.equal((await init(limited, 'k4', { origin: 'https://clinic.example' })).body.code, 'desk.key_invalid');
  });
});
