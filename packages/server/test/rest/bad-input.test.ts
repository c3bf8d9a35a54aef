/**
 * Bad requests: malformed JSON, wrong types, extra properties, bodies over the limit,
 * contents over the limit, unsupported media types, unknown routes, broken URLs. After every
 * bad request the server still answers and nothing changed.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../support/server.ts';
import { assertError, ok, raw, type Reply } from './helpers.ts';
import type { ErrorCode } from '@careline/protocol';

const BODY_LIMIT = 2048;
const CONTENT_LIMIT = 512;
let s: TestServer;
let doc: string;
let pat: string;
let conv: string;
let other: string;
let firstId: string;

const json = (token: string) => ({ 'content-type': 'application/json', authorization: `Bearer ${token}` });
const msgs = (c: string) => `/api/v2/sessions/${c}/messages`;

/** Everything a bad request might have changed. */
async function snapshot(): Promise<unknown> {
  const view = ok(await s.call('GET', `/api/v2/sessions/${conv}/session`, { token: doc })).session;
  const page = ok(await s.call('GET', `${msgs(conv)}?limit=200`, { token: doc }));
  const otherView = ok(await s.call('GET', `/api/v2/sessions/${other}/session`, { token: doc })).session;
  return {
    last_seq: view.last_seq, name: view.name, status: view.status, read: view.read_seq, unread: view.unread, updated_at: view.updated_at,
    messages: page.messages.map((m: { seq: number; content: unknown }) => [m.seq, m.content]),
    other_seq: otherView.last_seq,
    participants: ok(await s.call('GET', `/api/v2/sessions/${conv}/participants`)).participants,
    conversations: ok(await s.call('GET', '/api/v2/sessions?limit=200', { token: doc })).sessions.map((x: { id: string }) => x.id).sort(),
    patUnread: ok(await s.call('GET', '/api/v2/sessions/unread_message_count', { token: pat })).count,
    users: [ok(await s.call('GET', '/api/v2/users/doc')).user, ok(await s.call('GET', '/api/v2/users/pat')).user],
  };
}

/** Runs bad requests, checks each one's error, then that the server answers and nothing changed. */
async function refused(cases: [string, () => Promise<Reply>, ErrorCode][]): Promise<void> {
  const before = await snapshot();
  for (const [label, run, code] of cases) {
    assertError(await run(), code, label);
    assert.deepEqual(ok(await raw(s, 'GET', '/healthz')), { status: 'ok' }, `alive after ${label}`);
  }
  assert.deepEqual(await snapshot(), before, 'nothing changed');
}

before(async () => {
  s = await startTestServer({ config: { http: { bodyLimitBytes: BODY_LIMIT }, messages: { maxContentBytes: CONTENT_LIMIT } } });
  doc = (await s.user('doc', 'doctor', 'Doc')).token;
  pat = (await s.user('pat', 'patient', 'Pat')).token;
  await s.user('doc2', 'doctor');
  conv = await s.conversation({ participants: ['doc', 'pat'], type: 6, id: 'bad-input', name: 'Original' });
  other = await s.conversation({ participants: ['doc', 'pat'], type: 6, id: 'bad-input-other' });
  firstId = (await s.sendAs('doc', conv, 'first')).id;
  await s.sendAs('pat', conv, 'second');
  await s.sendAs('doc', conv, 'third');
  await s.sendAs('doc', other, 'elsewhere');
});
after(() => s.stop());

describe('bodies that are not valid JSON', () => {
  test('malformed JSON → request.invalid_json', async () => {
    const bodies = ['{bad', '{"type":1,', '[1,2', "{'type':1}", '{"type":1}}', 'undefined', '{"type":1,"content":{"text":"x"},}', '\u0000'];
    const cases: [string, () => Promise<Reply>, ErrorCode][] = [];
    for (const body of bodies) {
      cases.push([`send ${JSON.stringify(body)}`, () => raw(s, 'POST', msgs(conv), { headers: json(doc), body }), 'request.invalid_json']);
    }
    cases.push(
      ['create', () => raw(s, 'POST', '/api/v2/sessions', { headers: json(doc), body: '{"session_type":2,' }), 'request.invalid_json'],
      ['name', () => raw(s, 'POST', `/api/v2/sessions/${conv}/name`, { headers: json(doc), body: '{"name":"x"' }), 'request.invalid_json'],
      ['read', () => raw(s, 'POST', `/api/v2/sessions/${conv}/read`, { headers: json(pat), body: '{seq:3}' }), 'request.invalid_json'],
      ['login', () => raw(s, 'POST', '/api/v2/users/login', { headers: { 'content-type': 'application/json', 'x-api-key': s.apiKey }, body: '{"user_id":' }), 'request.invalid_json'],
      ['empty body with a JSON content type', () => raw(s, 'POST', msgs(conv), { headers: json(doc), body: '' }), 'request.invalid_json'],
    );
    await refused(cases);
  });

  test('prototype poisoning is refused as invalid JSON', async () => {
    await refused([
      ['__proto__', () => raw(s, 'POST', msgs(conv), { headers: json(doc), body: '{"type":1,"content":{"text":"x"},"__proto__":{"admin":true}}' }), 'request.invalid_json'],
      ['constructor.prototype', () => raw(s, 'POST', `/api/v2/sessions/${conv}/name`, { headers: json(doc), body: '{"name":"x","constructor":{"prototype":{"admin":true}}}' }), 'request.invalid_json'],
    ]);
  });

  test('an unauthenticated request is refused before its body is read', async () => {
    await refused([
      ['no credentials, bad JSON', () => raw(s, 'POST', msgs(conv), { headers: { 'content-type': 'application/json' }, body: '{bad' }), 'auth.missing'],
      ['wrong key, bad JSON', () => raw(s, 'POST', msgs(conv), { headers: { 'content-type': 'application/json', 'x-api-key': 'ck_x' }, body: '{bad' }), 'auth.invalid_api_key'],
      ['no credentials, big body', () => raw(s, 'POST', msgs(conv), { headers: { 'content-type': 'application/json' }, body: JSON.stringify({ type: 1, content: { text: 'x'.repeat(BODY_LIMIT * 2) } }) }), 'auth.missing'],
    ]);
  });
});

describe('JSON that does not match the schema', () => {
  test('wrong types → request.invalid with the failing paths', async () => {
    const r = await s.call('POST', msgs(conv), { token: doc, body: { type: '1', content: { text: 'x' } } });
    assertError(r, 'request.invalid');
    assert.ok(Array.isArray(r.body.details));
    assert.deepEqual(r.body.details.map((d: { in: string; path: string }) => [d.in, d.path]).filter(([, p]: string[]) => p === '/type'), [['body', '/type']]);
    const send = (body: unknown) => () => s.call('POST', msgs(conv), { token: doc, body });
    await refused([
      ['array body', send([{ type: 1, content: { text: 'x' } }]), 'request.invalid'],
      ['null body', send(null), 'request.invalid'],
      ['string body', send('hello'), 'request.invalid'],
      ['number body', send(42), 'request.invalid'],
      ['type as string', send({ type: '1', content: { text: 'x' } }), 'request.invalid'],
      ['type as float', send({ type: 1.5, content: { text: 'x' } }), 'request.invalid'],
      ['type missing', send({ content: { text: 'x' } }), 'request.invalid'],
      ['content missing', send({ type: 1 }), 'request.invalid'],
      ['content as string', send({ type: 1, content: 'x' }), 'request.invalid'],
      ['client_id as number', send({ type: 1, content: { text: 'x' }, client_id: 7 }), 'request.invalid'],
      ['huge number', () => raw(s, 'POST', msgs(conv), { headers: json(doc), body: '{"type":1e400,"content":{"text":"x"}}' }), 'request.invalid'],
      ['create: participants as string', () => s.call('POST', '/api/v2/sessions', { token: doc, body: { session_type: 2, participants: 'doc,pat' } }), 'request.invalid'],
      ['create: session_type missing', () => s.call('POST', '/api/v2/sessions', { token: doc, body: { participants: ['pat'] } }), 'request.invalid'],
      ['name as number', () => s.call('POST', `/api/v2/sessions/${conv}/name`, { token: doc, body: { name: 1 } }), 'request.invalid'],
      ['status as string', () => s.call('POST', `/api/v2/sessions/${conv}/status`, { token: doc, body: { status: 'closed' } }), 'request.invalid'],
      ['read seq as string', () => s.call('POST', `/api/v2/sessions/${conv}/read`, { token: pat, body: { seq: '3' } }), 'request.invalid'],
      ['upsert: unknown role', () => s.call('PUT', '/api/v2/management/users/doc', { body: { role: 'surgeon', name: 'Doc' } }), 'request.invalid'],
      ['upsert: role system', () => s.call('PUT', '/api/v2/management/users/doc', { body: { role: 'system', name: 'Doc' } }), 'request.invalid'],
      ['upsert: disabled as string', () => s.call('PUT', '/api/v2/management/users/doc', { body: { role: 'doctor', name: 'Doc', disabled: 'yes' } }), 'request.invalid'],
      ['forward: to as string', () => s.call('POST', `${msgs(conv)}/${firstId}/forward`, { token: doc, body: { to: other } }), 'request.invalid'],
      ['participants: remove as string', () => s.call('POST', `/api/v2/sessions/${conv}/participant/update`, { token: doc, body: { remove: 'pat' } }), 'request.invalid'],
    ]);
  });

  test('extra properties are rejected → request.invalid', async () => {
    const extra = { unexpected: true };
    await refused([
      ['send', () => s.call('POST', msgs(conv), { token: doc, body: { type: 1, content: { text: 'x' }, ...extra } }), 'request.invalid'],
      ['send: extra content property', () => s.call('POST', msgs(conv), { token: doc, body: { type: 1, content: { text: 'x', ...extra } } }), 'message.content_invalid'],
      ['create', () => s.call('POST', '/api/v2/sessions', { token: doc, body: { session_type: 2, participants: ['pat'], ...extra } }), 'request.invalid'],
      ['create parts', () => s.call('POST', '/api/v2/sessions', { token: doc, body: { session_type: 3, participants: ['pat'], parts: { team: 't', ...extra } } }), 'request.invalid'],
      ['name', () => s.call('PUT', `/api/v2/sessions/${conv}/name`, { token: doc, body: { name: 'x', ...extra } }), 'request.invalid'],
      ['status', () => s.call('PUT', `/api/v2/sessions/${conv}/status`, { token: doc, body: { status: 1, ...extra } }), 'request.invalid'],
      ['read', () => s.call('POST', `/api/v2/sessions/${conv}/read`, { token: pat, body: { seq: 3, ...extra } }), 'request.invalid'],
      ['forward', () => s.call('POST', `${msgs(conv)}/${firstId}/forward`, { token: doc, body: { to: [other], ...extra } }), 'request.invalid'],
      ['participant/update', () => s.call('POST', `/api/v2/sessions/${conv}/participant/update`, { token: doc, body: { add: ['doc2'], ...extra } }), 'request.invalid'],
      ['participants add', () => s.call('POST', `/api/v2/sessions/${conv}/participants`, { token: doc, body: { participants: ['doc2'], ...extra } }), 'request.invalid'],
      ['participant put', () => s.call('PUT', `/api/v2/sessions/${conv}/participants/doc2`, { token: doc, body: { role: 'x', ...extra } }), 'request.invalid'],
      ['login', () => s.call('POST', '/api/v2/users/login', { body: { user_id: 'doc', ...extra } }), 'request.invalid'],
      ['upsert', () => s.call('PUT', '/api/v2/management/users/doc', { body: { role: 'doctor', name: 'Doc', ...extra } }), 'request.invalid'],
    ]);
  });

  test('bad query strings and path params → request.invalid', async () => {
    await refused([
      ['repeated limit', () => s.call('GET', `${msgs(conv)}?limit=1&limit=2`, { token: doc }), 'request.invalid'],
      ['path param too long', () => s.call('GET', `/api/v2/sessions/${'x'.repeat(129)}/messages`, { token: doc }), 'request.invalid'],
      ['path param far too long', () => s.call('POST', `/api/v2/sessions/${'x'.repeat(10_000)}/messages`, { token: doc, body: { type: 1, content: { text: 'x' } } }), 'request.invalid'],
      ['broken percent-encoding', () => raw(s, 'GET', '/api/v2/sessions/%E0%A4%A/session', { headers: { authorization: `Bearer ${doc}` } }), 'request.invalid'],
      ['user id too long', () => s.call('GET', `/api/v2/users/${'u'.repeat(129)}`), 'request.invalid'],
    ]);
  });
});

describe('sizes', () => {
  test(`a body over http.bodyLimitBytes (${BODY_LIMIT}) → request.body_too_large`, async () => {
    const big = JSON.stringify({ type: 1, content: { text: 'x'.repeat(BODY_LIMIT) } });
    await refused([
      ['send', () => raw(s, 'POST', msgs(conv), { headers: json(doc), body: big }), 'request.body_too_large'],
      ['create', () => s.call('POST', '/api/v2/sessions', { token: doc, body: { session_type: 4, participants: [...Array(300)].map((_, i) => `user-${i}`) } }), 'request.body_too_large'],
      ['name', () => s.call('POST', `/api/v2/sessions/${conv}/name`, { token: doc, body: { name: 'n'.repeat(BODY_LIMIT) } }), 'request.body_too_large'],
    ]);
    // Just under the limit is parsed (and then judged on its content).
    const under = JSON.stringify({ type: 1, content: { text: 'y'.repeat(BODY_LIMIT - 100) } });
    assert.ok(Buffer.byteLength(under) < BODY_LIMIT);
    assertError(await raw(s, 'POST', msgs(conv), { headers: json(doc), body: under }), 'message.content_too_large');
  });

  test(`a content over messages.maxContentBytes (${CONTENT_LIMIT}) → message.content_too_large`, async () => {
    const send = (content: unknown, type = 1) => () => s.call('POST', msgs(conv), { token: doc, body: { type, content } });
    const r = await send({ text: 'z'.repeat(CONTENT_LIMIT) })();
    assertError(r, 'message.content_too_large');
    assert.equal(r.body.details.max_bytes, CONTENT_LIMIT);
    await refused([
      ['ascii text', send({ text: 'z'.repeat(CONTENT_LIMIT) }), 'message.content_too_large'],
      // 200 characters, 600 bytes in UTF-8: the limit is in bytes.
      ['multi-byte text', send({ text: '医'.repeat(200) }), 'message.content_too_large'],
      ['link card', send({ title: 't', content: 'c'.repeat(CONTENT_LIMIT) }, 4), 'message.content_too_large'],
      ['system message by the key', () => s.call('POST', msgs(conv), { body: { type: 0, content: { text: 's'.repeat(CONTENT_LIMIT) } } }), 'message.content_too_large'],
    ]);
    // At the limit it is accepted.
    const fits = { text: 'a'.repeat(CONTENT_LIMIT - '{"text":""}'.length) };
    assert.equal(Buffer.byteLength(JSON.stringify(fits)), CONTENT_LIMIT);
    const sent = ok(await send(fits)());
    assert.equal(sent.message.content.text.length, fits.text.length);
  });

  test('a forward whose wrapped content goes over the limit → message.content_too_large, nothing written', async () => {
    const voice = { storageId: 'v', duration: 1, url: 'https://files.example/' + 'p'.repeat(CONTENT_LIMIT - 70) };
    assert.ok(Buffer.byteLength(JSON.stringify(voice)) <= CONTENT_LIMIT);
    const v = ok(await s.call('POST', msgs(conv), { token: doc, body: { type: 3, content: voice } })).message;
    await refused([
      ['forward', () => s.call('POST', `${msgs(conv)}/${v.id}/forward`, { token: doc, body: { to: [other] } }), 'message.content_too_large'],
    ]);
  });
});

describe('media types and routes', () => {
  test('a body that is not JSON → request.unsupported_media_type', async () => {
    const send = (contentType: string, body: string) => () => raw(s, 'POST', msgs(conv), { headers: { 'content-type': contentType, authorization: `Bearer ${doc}` }, body });
    await refused([
      ['text/plain', send('text/plain', '{"type":1,"content":{"text":"x"}}'), 'request.unsupported_media_type'],
      ['form', send('application/x-www-form-urlencoded', 'type=1&content=x'), 'request.unsupported_media_type'],
      ['xml', send('application/xml', '<m/>'), 'request.unsupported_media_type'],
      ['multipart', send('multipart/form-data; boundary=x', '--x--'), 'request.unsupported_media_type'],
      ['no content type', () => raw(s, 'POST', msgs(conv), { headers: { authorization: `Bearer ${doc}` }, body: new Blob(['{"type":1,"content":{"text":"x"}}']) }), 'request.unsupported_media_type'],
    ]);
    // JSON with a charset parameter is JSON.
    const r = await raw(s, 'POST', msgs(conv), { headers: { 'content-type': 'application/json; charset=utf-8', authorization: `Bearer ${doc}` }, body: '{"type":1,"content":{"text":"charset"}}' });
    assert.equal(ok(r).message.content.text, 'charset');
  });

  test('unknown routes and methods → request.route_not_found', async () => {
    await refused([
      ['unknown path', () => s.call('GET', '/api/v2/nope', { token: doc }), 'request.route_not_found'],
      ['unknown sub-path', () => s.call('POST', `/api/v2/sessions/${conv}/unknown`, { token: doc, body: {} }), 'request.route_not_found'],
      ['wrong method', () => s.call('PATCH', '/api/v2/sessions', { token: doc, body: {} }), 'request.route_not_found'],
      ['DELETE a message', () => s.call('DELETE', `${msgs(conv)}/${firstId}`, { token: doc }), 'request.route_not_found'],
      ['an unknown nested path', () => s.call('GET', '/api/v2/sessions/topics/count/nothing', { token: doc }), 'request.route_not_found'],
      ['old api version', () => s.call('GET', '/api/v1/sessions', { token: doc }), 'request.route_not_found'],
      // (`/` itself is the web client: apps/web/test/serve.test.ts)
      ['a file outside the API', () => raw(s, 'GET', '/nothing-here.php'), 'request.route_not_found'],
      ['no credentials', () => raw(s, 'GET', '/api/v2/nothing-here'), 'request.route_not_found'],
    ]);
  });

  test('edge values that are valid do not break anything', async () => {
    const before = ok(await s.call('GET', `/api/v2/sessions/${conv}/session`, { token: pat })).session.last_seq;
    assert.deepEqual(ok(await s.call('POST', `/api/v2/sessions/${conv}/read`, { token: pat, body: { seq: 1e20 } })), { read_seq: before, unread: 0 });
    assert.deepEqual(ok(await s.call('GET', `${msgs(conv)}?before=99999999999999999999&limit=1`, { token: pat })).messages.map((m: { seq: number }) => m.seq), [before]);
    const odd = { text: '\u0000\u202e<script>alert(1)</script>\'"; DROP TABLE messages; --' };
    assert.deepEqual(ok(await s.call('POST', msgs(conv), { token: doc, body: { type: 1, content: odd } })).message.content, odd);
    assert.equal(ok(await s.call('GET', `${msgs(conv)}?limit=1`, { token: pat })).messages[0].content.text, odd.text);
  });
});
