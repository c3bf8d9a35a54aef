/**
 * Reads of conversations with a patient are audit-logged; others are not. Integrators read the
 * log and export it; each record is chained to the previous one of its tenant by hash, so a
 * changed, removed or forged record shows; a read is answered only once its record is
 * committed, so a crash loses none.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import canonicalize from 'canonicalize';
import { auditCommand } from '../../src/cli/audit.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { assertError, ok, raw, secondTenant } from './helpers.ts';

const GENESIS = '0'.repeat(64);
const START = fileURLToPath(new URL('../../src/cli/start.ts', import.meta.url));
const AUDIT_CLI = fileURLToPath(new URL('../../src/cli/audit.ts', import.meta.url));

let s: TestServer;
let doc: { token: string };
let appActor: string;
let withPatient: string;
let staffOnly: string;

/** The records added by `fn` (the log of the test tenant, after the last one seen). */
async function recorded(fn: () => Promise<unknown>): Promise<any[]> {
  const before = ok(await s.call('GET', '/api/v2/management/audit?limit=1000')).records;
  const last = before.length ? before[before.length - 1].id : 0;
  await fn();
  return ok(await s.call('GET', `/api/v2/management/audit?after_id=${last}&limit=1000`)).records;
}

const brief = (records: any[]) => records.map((r: any) => [r.actor_id.startsWith('app:') ? 'app' : r.actor_id, r.action, r.conversation_id]);

before(async () => {
  s = await startTestServer();
  doc = await s.user('doc', 'doctor');
  await s.user('pat', 'patient');
  await s.user('nurse', 'staff');
  withPatient = await s.conversation({ participants: ['doc', 'pat'] });
  staffOnly = await s.conversation({ participants: ['doc', 'nurse'] });
  await s.sendAs('pat', withPatient, 'my blood pressure is 150/95');
  await s.sendAs('nurse', staffOnly, 'shift change at 8');
});
after(() => s.stop());

describe('audit log', () => {
  test('history, single-message and unread reads of a patient conversation are recorded with who and what', async () => {
    let page: any;
    const records = await recorded(async () => {
      page = ok(await s.call('GET', `/api/v2/sessions/${withPatient}/messages?limit=10`, { token: doc.token }));
      ok(await s.call('GET', `/api/v2/sessions/${withPatient}/messages/${page.messages[0].id}`, { token: doc.token }));
      ok(await s.call('GET', `/api/v2/sessions/${withPatient}/messages/unread`, { token: doc.token }));
      ok(await s.call('GET', `/api/v2/sessions/${withPatient}/messages`)); // the integrator reads too
      ok(await s.call('GET', `/api/v2/sessions/${staffOnly}/messages`, { token: doc.token }));
    });
    assert.deepEqual(brief(records), [
      ['doc', 'messages.history', withPatient],
      ['doc', 'messages.get', withPatient],
      ['doc', 'messages.unread', withPatient],
      ['app', 'messages.history', withPatient],
    ]);
    appActor = records[3].actor_id;
    assert.equal(records[1].detail.message_id, page.messages[0].id);
    const byActor = ok(await s.call('GET', '/api/v2/management/audit?actor_id=doc&limit=2'));
    assert.equal(byActor.records.length, 2);
    assert.equal(byActor.next_after_id, byActor.records[1].id);
    const rest = ok(await s.call('GET', `/api/v2/management/audit?actor_id=doc&after_id=${byActor.next_after_id}`));
    assert.deepEqual(rest.records.map((r: any) => r.action), ['messages.unread']);
    assert.equal(rest.next_after_id, null);
  });

  test('the conversation itself, the conversation lists and recent conversations record each patient conversation they show', async () => {
    const topic = ok(await s.call('POST', `/api/v2/sessions/${withPatient}/topics`, { body: { topic_id: 'consult-1', patient_id: 'pat', doctor_id: 'doc' } })).topic;
    const calls: [string, string, number][] = [
      [`/api/v2/sessions/${withPatient}/session`, 'sessions.get', 1],
      ['/api/v2/sessions', 'sessions.list', 1],
      ['/api/v2/sessions?business_type=2', 'sessions.list', 1],
      ['/api/v2/sessions/sessionListByType?type=2', 'sessions.list', 1],
      ['/api/v2/sessions/recent', 'sessions.recent', 1],
      ['/api/v2/sessions/recent?type=patient', 'sessions.recent', 1],
      [`/api/v2/sessions/topic/${topic.id}/messages`, 'topic.messages', 1],
      [`/api/v2/sessions/${withPatient}/topics/current/messages`, 'topic.messages', 1],
      // What shows no patient conversation records nothing.
      ['/api/v2/sessions/recent?type=doctor', '', 0],
      ['/api/v2/sessions?business_type=1', '', 0],
      [`/api/v2/sessions/${staffOnly}/session`, '', 0],
    ];
    for (const [path, action, n] of calls) {
      let body: any;
      const records = await recorded(async () => (body = ok(await s.call('GET', path, { token: doc.token }), path)));
      assert.deepEqual(brief(records), Array(n).fill(['doc', action, withPatient]), path);
      if (action.startsWith('sessions.')) {
        // The record names the last message the answer showed.
        const view = body.session ?? body.sessions.find((v: any) => v.id === withPatient);
        assert.equal(records[0].detail.last_message_id, view.last_message.id, path);
      }
    }
  });

  test('a read that fails records nothing', async () => {
    const records = await recorded(async () => {
      assertError(await s.call('GET', '/api/v2/sessions/nope/session', { token: doc.token }), 'conversation.not_found');
      assertError(await s.call('GET', `/api/v2/sessions/${staffOnly}/session`, { token: (await s.user('pat', 'patient')).token }), 'conversation.not_participant');
    });
    assert.deepEqual(records, []);
  });

  test('a read on behalf of a user keeps both identities: the user and the integrator\'s app', async () => {
    const appId = appActor.slice('app:'.length);
    const records = await recorded(async () => {
      const asDoc = { headers: { 'x-on-behalf-of': 'doc' } };
      ok(await s.call('GET', `/api/v2/sessions/${withPatient}/messages`, asDoc));
      ok(await s.call('GET', `/api/v2/sessions/${withPatient}/session`, asDoc));
      ok(await s.call('GET', '/api/v2/sessions/recent', asDoc));
      ok(await s.call('GET', `/api/v2/sessions/${withPatient}/messages`, { token: doc.token }));
      ok(await s.call('GET', `/api/v2/sessions/${withPatient}/messages`));
    });
    assert.deepEqual(records.map((r: any) => [r.actor_kind, r.actor_id, r.app_id, r.action]), [
      ['user', 'doc', appId, 'messages.history'],
      ['user', 'doc', appId, 'sessions.get'],
      ['user', 'doc', appId, 'sessions.recent'],
      ['user', 'doc', null, 'messages.history'],
      ['app', appActor, appId, 'messages.history'],
    ]);
    const viaApp = ok(await s.call('GET', `/api/v2/management/audit?app_id=${appId}&limit=1000`)).records;
    assert.ok(viaApp.every((r: any) => r.app_id === appId));
    assert.ok(viaApp.some((r: any) => r.actor_id === 'doc'));
  });

  test('only the tenant\'s integrator reads it', async () => {
    assertError(await s.call('GET', '/api/v2/management/audit', { token: doc.token }), 'auth.forbidden');
    assertError(await s.call('GET', '/api/v2/management/audit', { apiKey: null }), 'auth.missing');
    const other = await secondTenant(s);
    const theirs = ok(await s.call('GET', '/api/v2/management/audit', { apiKey: other.apiKey }));
    assert.deepEqual(theirs.records, []);
    assertError(await s.call('GET', '/api/v2/management/audit?limit=0'), 'request.invalid');
  });
});

/** Recomputes a record's hash as an integrator would: SHA-256 of the JCS form of its fields. */
function hashOf(r: any): string {
  const { tenant_id, seq, at, actor_kind, actor_id, app_id, action, conversation_id, detail, prev_hash } = r;
  return createHash('sha256').update(canonicalize({ tenant_id, seq, at, actor_kind, actor_id, app_id, action, conversation_id, detail, prev_hash })!).digest('hex');
}

const ndjson = (text: string) => text.split('\n').filter(Boolean).map((l) => JSON.parse(l));

describe('audit export (NDJSON, with the hash chain)', () => {
  test('streams the tenant\'s records in chain order; each hash recomputes and links to the previous one', async () => {
    ok(await s.call('GET', `/api/v2/sessions/${withPatient}/session`, { token: doc.token }));
    const res = await fetch(`${s.url}/api/v2/management/audit/export`, { headers: { 'x-api-key': s.apiKey } });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^application\/x-ndjson/);
    const lines = ndjson(await res.text());
    assert.ok(lines.length >= 10);
    let prev = GENESIS;
    lines.forEach((r, i) => {
      assert.equal(r.tenant_id, s.tenantId);
      assert.equal(r.seq, i + 1);
      assert.equal(r.prev_hash, prev, `link ${r.seq}`);
      assert.equal(r.hash, hashOf(r), `hash ${r.seq}`);
      prev = r.hash;
    });
    assert.equal(res.headers.get('x-audit-head-seq'), String(lines.length));
    assert.equal(res.headers.get('x-audit-head-hash'), prev);
    // Resume after a seq; a seq past the head gives nothing.
    const tail = ndjson(await (await fetch(`${s.url}/api/v2/management/audit/export?after_seq=${lines.length - 2}`, { headers: { 'x-api-key': s.apiKey } })).text());
    assert.deepEqual(tail, lines.slice(-2));
    assert.deepEqual(ndjson(await (await fetch(`${s.url}/api/v2/management/audit/export?after_seq=${lines.length + 5}`, { headers: { 'x-api-key': s.apiKey } })).text()), []);
  });

  test('another tenant exports only its own; users, bad cursors and no key are refused', async () => {
    const other = await secondTenant(s);
    const r = await raw(s, 'GET', '/api/v2/management/audit/export', { headers: { 'x-api-key': other.apiKey } });
    assert.equal(r.status, 200);
    assert.equal(r.body, '');
    assertError(await s.call('GET', '/api/v2/management/audit/export', { token: doc.token }), 'auth.forbidden');
    assertError(await s.call('GET', '/api/v2/management/audit/export', { apiKey: null }), 'auth.missing');
    assertError(await s.call('GET', '/api/v2/management/audit/export?after_seq=-1'), 'request.invalid');
    assertError(await s.call('GET', '/api/v2/management/audit/export?after_seq=x'), 'request.invalid');
  });

  test('is documented in the OpenAPI document with the schema of a line', async () => {
    const spec = ok(await s.call('GET', '/docs/json', { apiKey: null }));
    const op = spec.paths['/api/v2/management/audit/export'].get;
    const schema = op.responses['200'].content['application/x-ndjson'].schema;
    for (const k of ['seq', 'hash', 'prev_hash', 'tenant_id', 'actor_id', 'app_id', 'action', 'conversation_id', 'detail', 'at']) assert.ok(schema.properties[k], k);
    assert.deepEqual(op.security, [{ apiKey: [] }]);
  });
});

/** Runs `cli/audit.ts` as an operator would, in its own process; the exit code and what it printed. */
function auditCli(...args: string[]): { status: number | null; out: string } {
  const r = spawnSync(process.execPath, [AUDIT_CLI, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, out: r.stdout + r.stderr };
}

/** The same command, called as the `careline` CLI will call it (no process of its own). */
async function audit(...args: string[]): Promise<{ status: number; out: string }> {
  let out = '';
  const status = await auditCommand(args, { out: (x) => (out += x + '\n'), err: (x) => (out += x + '\n') });
  return { status, out };
}

/** A server in a child process on its own SQLite file (test profile, port 0). */
async function child(dbPath: string): Promise<{ url: string; proc: ReturnType<typeof spawn> }> {
  const proc = spawn(process.execPath, [START], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env, IM_PROFILE: 'test', CARELINE_STORAGE_SQLITE_PATH: dbPath, CARELINE_HTTP_PORT: '0', CARELINE_LOG_LEVEL: 'info',
      CARELINE_AUTH_ADMIN_TOKEN: 'crash-admin-token', CARELINE_STORAGE_SQLITE_SYNCHRONOUS: 'NORMAL',
    },
  });
  let err = '';
  proc.stderr!.on('data', (d) => (err += d));
  const lines = createInterface({ input: proc.stdout! });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => (proc.kill('SIGKILL'), reject(new Error(`server did not start: ${err}`))), 60_000);
    lines.on('line', (line) => {
      try {
        const u = JSON.parse(line).url;
        if (typeof u === 'string') (clearTimeout(timer), resolve(u));
      } catch {
        /* not a log line */
      }
    });
    proc.once('exit', (code) => reject(new Error(`server exited ${code}: ${err}`)));
  });
  return { url, proc };
}

describe('an acked read is an audited read', () => {
  let dir: string;
  before(() => (dir = mkdtempSync(join(tmpdir(), 'careline-audit-'))));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('kill -9 right after the last of 20 answered reads: all 20 records are in the database', async () => {
    const dbPath = join(dir, 'crash.db');
    const { url, proc } = await child(dbPath);
    const exited = new Promise((resolve) => proc.once('exit', resolve));
    try {
      const call = async (method: string, path: string, headers: Record<string, string>, body?: unknown) => {
        const res = await fetch(url + path, { method, headers: { ...headers, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined });
        const json = await res.json();
        assert.equal(res.status, 200, `${path}: ${JSON.stringify(json)}`);
        return json;
      };
      const adm = { 'x-admin-token': 'crash-admin-token' };
      await call('POST', '/api/v2/admin/tenants', adm, { id: 'clinic', name: 'Clinic' });
      const key = { 'x-api-key': (await call('POST', '/api/v2/admin/tenants/clinic/apps', adm, { name: 'his' })).api_key };
      for (const [id, role] of [['doc', 'doctor'], ['pat', 'patient']]) await call('PUT', `/api/v2/management/users/${id}`, key, { role, name: id });
      const conv = (await call('POST', '/api/v2/sessions', key, { session_type: 2, participants: ['doc', 'pat'] })).session.id;
      await call('POST', `/api/v2/sessions/${conv}/messages`, key, { type: 1, content: { text: 'chest pain since Monday' }, sender_id: 'pat' });
      const { token } = await call('POST', '/api/v2/users/login', key, { user_id: 'doc' });
      const user = { authorization: `Bearer ${token}` };
      const asDoc = { ...key, 'x-on-behalf-of': 'doc' };
      const reads = [`/api/v2/sessions/${conv}/messages`, `/api/v2/sessions/${conv}/session`, '/api/v2/sessions', '/api/v2/sessions/recent'];
      // 8 one after the other, then 12 at once; the kill follows the last answer.
      for (let i = 0; i < 8; i++) await call('GET', reads[i % 4]!, i % 2 ? user : asDoc);
      await Promise.all(Array.from({ length: 12 }, (_, i) => call('GET', reads[i % 4]!, i % 3 ? user : asDoc)));
      proc.kill('SIGKILL');
      await exited;
    } finally {
      proc.kill('SIGKILL');
    }
    const db = new Database(dbPath);
    try {
      const rows = db.prepare("SELECT seq, actor_id, app_id, action FROM audit_log WHERE tenant_id = 'clinic' ORDER BY seq").all() as any[];
      assert.equal(rows.length, 20, `records that survived: ${rows.length} of 20`);
      assert.deepEqual(rows.map((r) => r.seq), Array.from({ length: 20 }, (_, i) => i + 1));
      assert.ok(rows.every((r) => r.actor_id === 'doc'));
    } finally {
      db.close();
    }
    // The chain of what survived is whole.
    const v = auditCli('verify', '--db', dbPath);
    assert.equal(v.status, 0, v.out);
    assert.match(v.out, /clinic: ok, 20 records/);
  });

  test('a read whose record cannot be written is not answered with its content', async () => {
    const t = await startTestServer();
    try {
      await t.user('doc', 'doctor');
      await t.user('pat', 'patient');
      const conv = await t.conversation({ participants: ['doc', 'pat'] });
      await t.sendAs('pat', conv, 'private');
      ok(await t.call('GET', `/api/v2/sessions/${conv}/messages`));
      const writer = (t.server.core.storage as { writerThread?: { terminate(): Promise<number> } | null }).writerThread;
      assert.ok(writer, 'a file database has a writer thread');
      await writer.terminate();
      for (const path of [`/api/v2/sessions/${conv}/messages`, `/api/v2/sessions/${conv}/session`]) {
        const r = await t.call('GET', path, { headers: { 'x-on-behalf-of': 'doc' } });
        assertError(r, 'server.unavailable', path);
        assert.doesNotMatch(JSON.stringify(r.body), /private/);
      }
    } finally {
      await t.stop().catch(() => {});
    }
  });
});

describe('verify: the first broken link of a chain', () => {
  let dir: string;
  let src: string;
  let tenant: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'careline-audit-verify-'));
    const t = await startTestServer({ dataDir: dir });
    tenant = t.tenantId;
    await t.user('doc', 'doctor');
    await t.user('pat', 'patient');
    const conv = await t.conversation({ participants: ['doc', 'pat'] });
    await t.sendAs('pat', conv, 'hello');
    for (let i = 0; i < 10; i++) ok(await t.call('GET', `/api/v2/sessions/${conv}/messages`));
    await t.server.close();
    src = t.dbPath;
    // Everything in the main file, so that a copy of it is the whole database.
    const db = new Database(src);
    db.pragma('wal_checkpoint(TRUNCATE)');
    db.close();
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  /** A copy of the database, changed by `sql` as someone with the file could (the guard triggers dropped first). */
  function tampered(name: string, sql: string): string {
    const path = join(dir, `${name}.db`);
    copyFileSync(src, path);
    const db = new Database(path);
    db.exec('DROP TRIGGER IF EXISTS audit_log_no_update; DROP TRIGGER IF EXISTS audit_log_no_delete;');
    db.exec(sql.replaceAll('$T', `'${tenant}'`));
    db.close();
    return path;
  }

  test('an untouched database verifies; --tenant limits it, --json prints the reports', async () => {
    const v = auditCli('verify', '--db', src);
    assert.equal(v.status, 0, v.out);
    assert.match(v.out, new RegExp(`${tenant}: ok, 10 records`));
    const j = await audit('verify', '--db', src, '--tenant', tenant, '--json');
    assert.equal(j.status, 0, j.out);
    const [report] = JSON.parse(j.out);
    assert.equal(report.tenant_id, tenant);
    assert.equal(report.ok, true);
    assert.equal(report.records, 10);
    assert.equal(report.head.seq, 10);
    assert.equal(report.broken, null);
  });

  test('the database refuses to change or remove a record', () => {
    const db = new Database(src);
    try {
      assert.throws(() => db.prepare("UPDATE audit_log SET actor_id = 'x' WHERE seq = 1").run(), /append-only/);
      assert.throws(() => db.prepare('DELETE FROM audit_log WHERE seq = 1').run(), /append-only/);
    } finally {
      db.close();
    }
  });

  test('a changed record is the broken link, at its seq', async () => {
    const path = tampered('changed', "UPDATE audit_log SET actor_id = 'someone-else' WHERE tenant_id = $T AND seq = 4");
    const v = auditCli('verify', '--db', path);
    assert.equal(v.status, 1, v.out);
    assert.match(v.out, new RegExp(`${tenant}: BROKEN at seq 4 .*hash`));
  });

  test('a record whose hash was recomputed breaks the link to the next one', async () => {
    const path = tampered('rehashed', "UPDATE audit_log SET action = 'x', hash = 'f' || substr(hash, 2) WHERE tenant_id = $T AND seq = 6");
    const v = await audit('verify', '--db', path, '--json');
    assert.equal(v.status, 1, v.out);
    const [report] = JSON.parse(v.out);
    assert.equal(report.broken.seq, 6);
  });

  test('a removed record, a forged one and one outside the chain are found', async () => {
    const gone = await audit('verify', '--db', tampered('removed', 'DELETE FROM audit_log WHERE tenant_id = $T AND seq = 7'));
    assert.equal(gone.status, 1, gone.out);
    assert.match(gone.out, /BROKEN at seq 8 .*seq 7 is missing/);
    const forged = await audit('verify', '--db', tampered('forged', `INSERT INTO audit_log (tenant_id, seq, at, actor_kind, actor_id, action, conversation_id, prev_hash, hash)
      SELECT tenant_id, 11, at, actor_kind, actor_id, action, conversation_id, hash, '${'a'.repeat(64)}' FROM audit_log WHERE tenant_id = $T AND seq = 10`));
    assert.equal(forged.status, 1, forged.out);
    assert.match(forged.out, /BROKEN at seq 11 /);
    const outside = await audit('verify', '--db', tampered('outside', "INSERT INTO audit_log (tenant_id, at, actor_kind, actor_id, action, conversation_id) VALUES ($T, 1, 'user', 'x', 'messages.get', 'c')"));
    assert.equal(outside.status, 1, outside.out);
    assert.match(outside.out, /1 record outside the chain/);
  });

  test('bad arguments: a usage message and exit 64; a missing database: exit 66', async () => {
    for (const args of [[], ['verify'], ['verify', '--db'], ['nonsense', '--db', src], ['verify', '--db', src, '--what']]) {
      const r = await audit(...args);
      assert.equal(r.status, 64, `${args.join(' ')}: ${r.out}`);
      assert.match(r.out, /usage: .*audit.* verify --db <path>/i);
    }
    const missing = await audit('verify', '--db', join(dir, 'nope.db'));
    assert.equal(missing.status, 66, missing.out);
    const unknown = await audit('verify', '--db', src, '--tenant', 'nobody');
    assert.equal(unknown.status, 0, unknown.out);
    assert.match(unknown.out, /nobody: ok, 0 records/);
  });
});
