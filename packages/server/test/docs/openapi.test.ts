/**
 * The OpenAPI document that a running server serves at /docs/json is clean under Redocly's
 * `recommended` ruleset (what client generators need: an operationId on every operation,
 * servers, declared security, 4xx responses, unambiguous paths).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createConfig, lintFromString } from '@redocly/openapi-core';
import Type from 'typebox';
import { startTestServer, type TestServer } from '../support/server.ts';

interface Operation {
  operationId?: string;
  security?: Record<string, string[]>[];
  responses: Record<string, unknown>;
}
type Doc = { servers?: unknown[]; paths: Record<string, Record<string, Operation>> };

const operations = (doc: Doc) =>
  Object.entries(doc.paths).flatMap(([path, item]) => Object.entries(item).map(([method, op]) => ({ path, method, op })));

describe('OpenAPI document (/docs/json)', () => {
  let server: TestServer;
  let text: string;
  let doc: Doc;

  before(async () => {
    server = await startTestServer();
    const res = await fetch(`${server.url}/docs/json`);
    assert.equal(res.status, 200);
    text = await res.text();
    doc = JSON.parse(text);
  });
  after(() => server?.stop());

  test('lints clean under Redocly recommended: 0 errors, 0 warnings', async (t) => {
    const config = await createConfig({ extends: ['recommended'] });
    const problems = await lintFromString({ source: text, absoluteRef: 'openapi.json', config });
    const lines = problems.map((p) => `${p.severity} ${p.ruleId}: ${p.message} at ${p.location.map((l) => l.pointer).join(', ')}`);
    if (lines.length) t.diagnostic(lines.join('\n'));
    assert.deepEqual(lines, []);
  });

  test('every operation has a unique camelCase operationId, declared security and a 4xx response', () => {
    const ids = new Set<string>();
    for (const { path, method, op } of operations(doc)) {
      assert.match(op.operationId ?? '', /^[a-z][A-Za-z0-9]*$/, `${method} ${path}`);
      assert.ok(!ids.has(op.operationId!), `duplicate operationId ${op.operationId}`);
      ids.add(op.operationId!);
      assert.ok(Array.isArray(op.security), `${method} ${path} declares its security`);
      assert.ok(Object.keys(op.responses).some((c) => /^4/.test(c)), `${method} ${path} has a 4xx response`);
    }
    const byPath = (m: string, p: string) => doc.paths[p]![m]!;
    assert.equal(byPath('get', '/api/v2/sessions/{session_id}/messages').operationId, 'getSessionsBySessionIdMessages');
    assert.deepEqual(byPath('get', '/healthz').security, [], 'a public route declares no security');
    assert.deepEqual(byPath('put', '/api/v2/management/users/{user_id}').security, [{ apiKey: [] }]);
    assert.ok(Array.isArray(doc.servers) && doc.servers.length > 0);
  });

  test('a route added later, without an operationId of its own, gets one, security and a 4xx too', async () => {
    const { buildHttp } = await import('../../src/http/app.ts');
    const { Metrics } = await import('../../src/ops/metrics.ts');
    const app = await buildHttp({ core: server.server.core, metrics: new Metrics(), logger: server.server.logger, state: { accepting: true, connections: () => 0, startedAt: Date.now() } });
    app.get('/api/v2/management/things/:thing_id', { config: { auth: 'app' }, schema: { params: Type.Object({ thing_id: Type.String() }) } }, async () => ({}));
    app.post('/api/v2/things/:thing_id/ping', { schema: { operationId: 'pingThing' } }, async () => ({}));
    await app.ready();
    const later = app.swagger() as unknown as Doc;
    await app.close();
    const thing = later.paths['/api/v2/management/things/{thing_id}']!.get!;
    assert.equal(thing.operationId, 'getManagementThingsByThingId');
    assert.deepEqual(thing.security, [{ apiKey: [] }]);
    assert.ok(Object.keys(thing.responses).some((c) => /^4/.test(c)));
    const ping = later.paths['/api/v2/things/{thing_id}/ping']!.post!;
    assert.equal(ping.operationId, 'pingThing', 'an operationId a route gives is kept');
    assert.deepEqual(ping.security, []);
  });
});
