/**
 * Login sessions do not pile up: the server deletes those that expired or were revoked more
 * than `auth.sessionKeepSeconds` ago, every `auth.sessionPruneIntervalSeconds`.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { startTestServer, type TestServer } from '../support/server.ts';
import { assertError, eventually, ok } from './helpers.ts';

let s: TestServer;
before(async () => {
  s = await startTestServer({ config: { auth: { sessionPruneIntervalSeconds: 1, sessionKeepSeconds: 0 } } });
});
after(() => s.stop());

const sessionIds = (): string[] => {
  const db = new Database(s.dbPath, { readonly: true });
  try {
    return db.prepare('SELECT id FROM auth_sessions ORDER BY id').pluck().all() as string[];
  } finally {
    db.close();
  }
};

test('a revoked login session is deleted by the periodic prune; a live one stays', async () => {
  const live = await s.user('stay');
  const gone = await s.user('leave');
  const logins = sessionIds();
  assert.equal(logins.length, 2);
  ok(await s.call('POST', '/api/v2/users/logout', { token: gone.token }));
  assertError(await s.call('GET', '/api/v2/sessions', { token: gone.token }), 'auth.token_revoked');
  await eventually(async () => sessionIds().length === 1, 5000, 100);
  ok(await s.call('GET', '/api/v2/sessions', { token: live.token }), 'the live session still works');
  // Once pruned, the token names no session at all.
  assertError(await s.call('GET', '/api/v2/sessions', { token: gone.token }), 'auth.invalid_token');
});
