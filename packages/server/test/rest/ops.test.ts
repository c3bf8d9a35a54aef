/**
 * Operations endpoints: liveness, readiness, Prometheus metrics, the monitoring ping of
 * seed 002 ({service_id, service_type, code, interval, msg, stats[]}), and the OpenAPI
 * description listing every /api/v2 path of the contract.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../support/server.ts';
import type { SqliteStorage } from '../../src/storage/sqlite/index.ts';
import { assertError, closeWs, enc, eventually, ok, openWs, raw } from './helpers.ts';

let s: TestServer;
let token: string;

before(async () => {
  s = await startTestServer({ config: { service: { id: 'careline-test-7', type: 'careline-im-test' } } });
  token = (await s.user('doc', 'doctor')).token;
  await s.user('pat', 'patient');
});
after(() => s.stop());

const metric = (text: string, name: string): number | undefined => {
  const line = text.split('\n').find((l) => l.startsWith(name + ' ') || l.startsWith(name + '{'));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
};

describe('health', () => {
  test('/healthz answers without credentials', async () => {
    assert.deepEqual(ok(await raw(s, 'GET', '/healthz')), { status: 'ok' });
  });

  test('/readyz: storage answers and the server accepts work', async () => {
    assert.deepEqual(ok(await raw(s, 'GET', '/readyz')), { status: 'ready', storage: true, accepting: true });
  });
});

describe('readiness when storage cannot write', () => {
  test('the SQLite writer thread dies: /readyz is 503, writes answer server.unavailable, reads and /healthz go on; the embedder is told once', async () => {
    const failures: unknown[] = [];
    const t = await startTestServer({ onStorageFailure: (err) => failures.push(err) });
    try {
      await t.user('doc', 'doctor');
      await t.user('pat', 'patient');
      const conv = await t.conversation({ participants: ['doc', 'pat'] });
      await t.sendAs('doc', conv, 'before');
      await t.user('doc2', 'doctor');
      const team = await t.conversation({ participants: ['doc', 'doc2'] });
      await t.sendAs('doc', team, 'before');
      const storage = t.server.core.storage as SqliteStorage;
      assert.equal(storage.writerMode, 'worker');
      await storage.writerThread!.terminate();
      const ready = await raw(t, 'GET', '/readyz');
      assert.equal(ready.status, 503);
      assert.deepEqual(ready.body, { status: 'not_ready', storage: false, accepting: true });
      assert.equal(ok(await raw(t, 'GET', '/monitor/api/ping')).code, 1);
      assertError(await t.call('POST', `/api/v2/sessions/${enc(conv)}/messages`, { apiKey: t.apiKey, body: { sender_id: 'doc', type: 1, content: { text: 'after' } } }), 'server.unavailable');
      // A read that needs no audit record goes on; a read of a patient's conversation is
      // answered only once its audit record is stored, so it fails rather than go unrecorded.
      const history = ok(await t.call('GET', `/api/v2/sessions/${enc(team)}/messages`, { apiKey: t.apiKey }));
      assert.deepEqual(history.messages.map((m: { content: { text: string } }) => m.content.text), ['before']);
      assertError(await t.call('GET', `/api/v2/sessions/${enc(conv)}/messages`, { apiKey: t.apiKey }), 'server.unavailable');
      assert.deepEqual(ok(await raw(t, 'GET', '/healthz')), { status: 'ok' });
      assert.equal(failures.length, 1);
      assert.equal((failures[0] as { code: string }).code, 'server.unavailable');
    } finally {
      await t.stop();
    }
  });
});

describe('/metrics', () => {
  test('Prometheus text with careline_ metrics that move with traffic', async () => {
    const before = await fetch(`${s.url}/metrics`);
    assert.equal(before.status, 200);
    assert.match(before.headers.get('content-type') ?? '', /^text\/plain/);
    const t0 = await before.text();
    for (const name of ['careline_http_request_duration_seconds', 'careline_ws_connections', 'careline_messages_committed_total', 'careline_commit_batch_size', 'careline_process_cpu_user_seconds_total']) {
      assert.ok(t0.includes(`# TYPE ${name}`), `${name} is exported`);
    }
    const committed0 = metric(t0, 'careline_messages_committed_total') ?? 0;
    const conv = await s.conversation({ participants: ['doc', 'pat'] });
    await s.sendAs('doc', conv, 'one');
    await s.sendAs('pat', conv, 'two');
    assertError(await s.call('GET', '/api/v2/sessions', { apiKey: null }), 'auth.missing');
    const t1 = await (await fetch(`${s.url}/metrics`)).text();
    assert.equal(metric(t1, 'careline_messages_committed_total'), committed0 + 2);
    assert.match(t1, /careline_errors_total\{code="auth\.missing"\} [1-9]/);
    assert.match(t1, /careline_http_request_duration_seconds_count\{[^}]*route="\/api\/v2\/sessions\/:session_id\/messages"[^}]*status="200"[^}]*\} [1-9]/);
    // History pages: the first two from storage (the second keeps a copy), the third from memory.
    const pages = (t: string, from: string) => Number(new RegExp(`careline_history_pages_total\\{from="${from}"\\} (\\d+)`).exec(t)?.[1] ?? NaN);
    for (let i = 0; i < 3; i++) ok(await s.call('GET', `/api/v2/sessions/${conv}/messages`, { apiKey: s.apiKey }));
    const t2 = await (await fetch(`${s.url}/metrics`)).text();
    assert.equal(pages(t2, 'storage') - pages(t1, 'storage'), 2);
    assert.equal(pages(t2, 'memory') - pages(t1, 'memory'), 1);
    assert.ok(metric(t2, 'careline_recent_messages_bytes')! > 0);
  });
});

describe('/monitor/api/ping', () => {
  test('the shape of seed 002: service_id, service_type, code, interval, msg, stats[]', async () => {
    const body = ok(await raw(s, 'GET', '/monitor/api/ping'));
    assert.deepEqual(Object.keys(body).sort(), ['code', 'interval', 'msg', 'service_id', 'service_type', 'stats']);
    assert.equal(body.service_id, 'careline-test-7');
    assert.equal(body.service_type, 'careline-im-test');
    assert.equal(body.code, 0);
    assert.equal(body.msg, 'ok');
    assert.equal(body.interval, 5);
    assert.ok(Array.isArray(body.stats) && body.stats.length > 0);
    for (const st of body.stats) {
      assert.deepEqual(Object.keys(st).sort(), ['name', 'value']);
      assert.equal(typeof st.name, 'string');
      assert.equal(typeof st.value, 'number');
    }
    const names = body.stats.map((x: { name: string }) => x.name);
    for (const n of ['connections', 'uptime_seconds', 'pending_writes']) assert.ok(names.includes(n), n);
  });

  test('the connections stat counts open WebSockets', async () => {
    const conns = async () => ok(await raw(s, 'GET', '/monitor/api/ping')).stats.find((x: { name: string }) => x.name === 'connections').value as number;
    const base = await conns();
    const ws = await openWs(s, token);
    try {
      await eventually(async () => (await conns()) === base + 1);
    } finally {
      await closeWs(ws);
    }
    await eventually(async () => (await conns()) === base);
  });
});

describe('OpenAPI', () => {
  /** Every path of docs/api-contract.md (topics excepted), with its methods. */
  const contract: [string, string[]][] = [
    ['/api/v2/application/badge_no', ['get']],
    ['/api/v2/users/login', ['post']],
    ['/api/v2/users/logout', ['post']],
    ['/api/v2/users/{user_id}', ['get']],
    ['/api/v2/users/{user_id}/status', ['get']],
    ['/api/v2/management/users/{user_id}', ['put']],
    ['/api/v2/sessions', ['get', 'post']],
    ['/api/v2/sessions/{session_id}/session', ['get']],
    ['/api/v2/sessions/sessionListByType', ['get']],
    ['/api/v2/sessions/sessionCountByType', ['get']],
    ['/api/v2/sessions/{session_id}/sticky', ['put', 'delete']],
    ['/api/v2/sessions/{session_id}/status', ['put', 'post']],
    ['/api/v2/sessions/{session_id}/name', ['put', 'post']],
    ['/api/v2/sessions/recent', ['get']],
    ['/api/v2/sessions/isExist', ['get']],
    ['/api/v2/sessions/{session_id}/messages', ['get', 'post']],
    ['/api/v2/sessions/{session_id}/messages/{message_id}', ['get']],
    ['/api/v2/sessions/{session_id}/messages/{message_id}/recall', ['post']],
    ['/api/v2/sessions/{session_id}/messages/{message_id}/forward', ['post']],
    ['/api/v2/sessions/{session_id}/read', ['post']],
    ['/api/v2/sessions/unread_message_count', ['get']],
    ['/api/v2/sessions/{session_id}/unread_message_count', ['get']],
    ['/api/v2/sessions/{session_id}/messages/unread', ['get']],
    ['/api/v2/sessions/{session_id}/participant/update', ['post']],
    ['/api/v2/sessions/{session_id}/participants', ['get', 'post']],
    ['/api/v2/sessions/{session_id}/participants/avatars', ['get']],
    ['/api/v2/sessions/{session_id}/participants/{participant_id}', ['get', 'put', 'delete']],
    ['/api/v2/sessions/{session_id}/participants/{participant_id}/avatars', ['get']],
  ];

  test('/docs/json is an OpenAPI document listing every /api/v2 path of the contract', async () => {
    const doc = ok(await raw(s, 'GET', '/docs/json'));
    assert.match(doc.openapi, /^3\./);
    assert.equal(typeof doc.info.title, 'string');
    assert.deepEqual(Object.keys(doc.components.securitySchemes).sort(), ['admin', 'apiKey', 'bearer', 'conferenceToken']);
    for (const [path, methods] of contract) {
      assert.ok(doc.paths[path], `${path} is described`);
      for (const m of methods) assert.ok(doc.paths[path][m], `${m.toUpperCase()} ${path} is described`);
    }
    const send = doc.paths['/api/v2/sessions/{session_id}/messages'].post;
    assert.deepEqual(send.security, [{ bearer: [] }, { apiKey: [] }]);
    assert.ok(send.requestBody, 'the send body is described');
    assert.ok(send.responses['200'] && send.responses['400'], 'replies are described');
    assert.deepEqual(doc.paths['/api/v2/users/login'].post.security, [{ apiKey: [] }]);
    assert.deepEqual(doc.paths['/api/v2/admin/tenants'].post.security, [{ admin: [] }]);
    assert.deepEqual(doc.paths['/api/v2/users/logout'].post.security, [{ bearer: [] }]);
  });

  test('/docs serves the HTML viewer', async () => {
    const res = await fetch(`${s.url}/docs`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /text\/html/);
    assert.match(await res.text(), /<html/i);
  });
});

describe('/sdk/im.client.js', () => {
  test('serves the browser SDK, or says it is not built with a contract error', async () => {
    const res = await fetch(`${s.url}/sdk/im.client.js`);
    if (res.status === 200) {
      assert.match(res.headers.get('content-type') ?? '', /javascript/);
      assert.ok((await res.text()).length > 0);
    } else {
      assertError({ status: res.status, body: await res.json() }, 'request.route_not_found');
    }
  });
});
