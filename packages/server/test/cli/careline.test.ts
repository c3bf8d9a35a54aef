import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { startTestServer } from '../support/server.ts';
import { startPostgres } from '../support/services.ts';
import { createSqliteStorage } from '../../src/storage/sqlite/index.ts';
import { cleanEnv, repoRoot, run } from './run.ts';

const SUBCOMMANDS = ['start', 'checkconfig', 'migrate', 'create-tenant', 'create-app'];
const migrationFiles = readdirSync(fileURLToPath(new URL('../../src/storage/sqlite/migrations/', import.meta.url))).filter((f) => f.endsWith('.sql')).sort();

function tempDb(): { dir: string; dbPath: string } {
  const dir = mkdtempSync(join(tmpdir(), 'careline-cli-'));
  return { dir, dbPath: join(dir, 'careline.db') };
}

describe('careline --help', () => {
  it('lists every subcommand, and each subcommand has its own --help', async () => {
    const r = await run(['--help']);
    assert.equal(r.code, 0, r.stderr);
    for (const c of SUBCOMMANDS) assert.match(r.stdout, new RegExp(`^\\s+${c}\\b`, 'm'), `${c} is listed`);
    const [help, ...each] = await Promise.all([run(['help', 'migrate']), ...SUBCOMMANDS.map((c) => run([c, '--help']))]);
    SUBCOMMANDS.forEach((c, i) => {
      assert.equal(each[i]!.code, 0, each[i]!.stderr);
      assert.match(each[i]!.stdout, new RegExp(`^Usage: careline ${c}\\b`, 'm'));
    });
    assert.equal(help.code, 0);
    assert.match(help.stdout, /^Usage: careline migrate/m);
  });

  it('an unknown subcommand or option is a usage error (exit 64) that says what is wrong', async () => {
    const r = await run(['serve']);
    assert.equal(r.code, 64);
    assert.match(r.stderr, /unknown command "serve"/);
    assert.match(r.stderr, /careline --help/);
    const o = await run(['migrate', '--fast']);
    assert.equal(o.code, 64);
    assert.match(o.stderr, /--fast/);
    const none = await run([]);
    assert.equal(none.code, 64);
    assert.match(none.stderr, /Usage: careline <command>/);
  });

  it('runs as `npx careline` from the repository', async () => {
    const node24 = dirname(process.execPath);
    const r = await new Promise<{ code: number | null; out: string }>((resolve, reject) => {
      const c = spawn('npx', ['--no-install', 'careline', '--help'], { cwd: repoRoot, env: cleanEnv({ PATH: `${node24}:${process.env.PATH}` }), stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      c.stdout.on('data', (d: Buffer) => (out += d));
      c.stderr.on('data', (d: Buffer) => (out += d));
      c.on('error', reject);
      c.on('close', (code) => resolve({ code, out }));
    });
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /^\s+checkconfig\b/m);
  });
});

describe('careline checkconfig', () => {
  it('passes on the dev profile and prints the effective config with secrets masked', async () => {
    const r = await run(['checkconfig']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /profile dev/);
    assert.match(r.stdout, /"port": 3000/);
    assert.doesNotMatch(r.stdout, /dev-admin-token|dev-only-token-secret/);
    assert.match(r.stdout, /"tokenSecret": "\*+/);
  });

  it('an env var overrides the profile in what it prints', async () => {
    const r = await run(['checkconfig'], { CARELINE_HTTP_PORT: '8080' });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /"port": 8080/);
  });

  it('fails naming every bad setting, not only the first', async () => {
    const r = await run(['checkconfig'], { CARELINE_HTTP_PORT: 'abc', CARELINE_LOG_LEVEL: 'loud' });
    assert.equal(r.code, 78);
    assert.match(r.stderr, /CARELINE_HTTP_PORT=abc: expected a number/);
    assert.match(r.stderr, /CARELINE_LOG_LEVEL/);
    const range = await run(['checkconfig'], { CARELINE_HTTP_PORT: '70000' });
    assert.equal(range.code, 78);
    assert.match(range.stderr, /CARELINE_HTTP_PORT/);
  });

  it('fails on prod without secrets, naming them, and passes with them without printing them', async () => {
    const r = await run(['checkconfig'], { IM_PROFILE: 'prod' });
    assert.equal(r.code, 78);
    assert.match(r.stderr, /CARELINE_AUTH_TOKEN_SECRET/);
    assert.match(r.stderr, /CARELINE_AUTH_ADMIN_TOKEN/);
    assert.match(r.stderr, /CARELINE_METRICS_TOKEN/);
    const weak = await run(['checkconfig'], { IM_PROFILE: 'prod', CARELINE_AUTH_TOKEN_SECRET: randomBytes(36).toString('base64url'), CARELINE_AUTH_ADMIN_TOKEN: 'admin-admin-admin', CARELINE_METRICS_TOKEN: randomBytes(36).toString('base64url') });
    assert.equal(weak.code, 78);
    assert.match(weak.stderr, /CARELINE_AUTH_ADMIN_TOKEN is too weak for prod/);
    const secret = randomBytes(36).toString('base64url');
    const admin = randomBytes(36).toString('base64url');
    const metrics = randomBytes(36).toString('base64url');
    const ok = await run(['checkconfig'], { IM_PROFILE: 'prod', CARELINE_AUTH_TOKEN_SECRET: secret, CARELINE_AUTH_ADMIN_TOKEN: admin, CARELINE_METRICS_TOKEN: metrics });
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /profile prod/);
    assert.ok(!ok.stdout.includes(secret) && !ok.stdout.includes(admin) && !ok.stdout.includes(metrics), 'secrets are masked');
  });

  it('an unknown profile fails', async () => {
    const r = await run(['checkconfig'], { IM_PROFILE: 'staging' });
    assert.equal(r.code, 78);
    assert.match(r.stderr, /not a known profile/);
  });
});

describe('careline audit', () => {
  it('verifies the configured database\'s audit chain, or the one --db names; has its own help', async () => {
    const { dir, dbPath } = tempDb();
    try {
      const s = createSqliteStorage({ path: dbPath, synchronous: 'NORMAL', writer: 'inline' });
      await s.audit.append([{ tenant_id: 't1', at: 1, actor_kind: 'user', actor_id: 'doc', app_id: null, action: 'sessions.get', conversation_id: 'c1', detail: null }]);
      await s.close();
      const r = await run(['audit', 'verify'], { CARELINE_STORAGE_SQLITE_PATH: dbPath });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^t1: ok, 1 records/m);
      const explicit = await run(['audit', 'verify', '--db', dbPath, '--tenant', 't1']);
      assert.equal(explicit.code, 0, explicit.stderr);
      const help = await run(['audit', '--help']);
      assert.equal(help.code, 0);
      assert.match(help.stdout, /careline audit verify/);
      const memory = await run(['audit', 'verify'], { CARELINE_STORAGE_SQLITE_PATH: ':memory:' });
      assert.equal(memory.code, 78);
      assert.match(memory.stderr, /--db/);
      const missing = await run(['audit', 'verify', '--db', join(dir, 'nothing.db')]);
      assert.equal(missing.code, 66);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('careline migrate', () => {
  it('applies every migration to a fresh database and says which, then has nothing to do', async () => {
    const { dir, dbPath } = tempDb();
    try {
      const r = await run(['migrate'], { CARELINE_STORAGE_SQLITE_PATH: dbPath });
      assert.equal(r.code, 0, r.stderr);
      for (const f of migrationFiles) assert.match(r.stdout, new RegExp(`applied\\s+${f.replace('.', '\\.')}`));
      const db = new Database(dbPath, { readonly: true });
      const rows = db.prepare('SELECT name FROM schema_migrations ORDER BY version').all() as { name: string }[];
      db.close();
      assert.deepEqual(rows.map((x) => x.name), migrationFiles);
      const again = await run(['migrate'], { CARELINE_STORAGE_SQLITE_PATH: dbPath });
      assert.equal(again.code, 0, again.stderr);
      assert.doesNotMatch(again.stdout, /applied\s+0/);
      assert.match(again.stdout, /up to date/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('with storage.driver postgres: applies PostgreSQL\'s migrations once, then has nothing to do; an unreachable server fails', async () => {
    const pg = await startPostgres();
    try {
      const env = { CARELINE_STORAGE_DRIVER: 'postgres', CARELINE_STORAGE_POSTGRES_URL: pg.url };
      const files = readdirSync(join(dirname(fileURLToPath(import.meta.url)), '../../src/storage/postgres/migrations')).filter((f) => f.endsWith('.sql')).sort();
      const r = await run(['migrate'], env);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /careline migrate: PostgreSQL/);
      for (const f of files) assert.match(r.stdout, new RegExp(`applied\\s+${f.replace('.sql', '')}`));
      const again = await run(['migrate'], env);
      assert.equal(again.code, 0, again.stderr);
      assert.doesNotMatch(again.stdout, /applied/);
      assert.match(again.stdout, /up to date \(\d+ migrations/);
      await pg.stop();
      const down = await run(['migrate'], env);
      assert.equal(down.code, 1);
      assert.match(down.stderr, /careline migrate: PostgreSQL/);
    } finally {
      await pg.stop();
    }
  });

  it('refuses to run with a bad configuration', async () => {
    const r = await run(['migrate'], { CARELINE_STORAGE_SQLITE_SYNCHRONOUS: 'OFF' });
    assert.equal(r.code, 78);
    assert.match(r.stderr, /CARELINE_STORAGE_SQLITE_SYNCHRONOUS/);
  });
});

describe('careline create-tenant / create-app', () => {
  it('an operator creates a tenant and an app; the printed key works against the running server', async () => {
    const ts = await startTestServer();
    const env = { CARELINE_STORAGE_SQLITE_PATH: ts.dbPath };
    try {
      const t = await run(['create-tenant', 'acme', 'Acme Clinic'], env);
      assert.equal(t.code, 0, t.stderr);
      assert.match(t.stdout, /acme/);
      const a = await run(['create-app', 'acme', 'EHR bridge'], env);
      assert.equal(a.code, 0, a.stderr);
      const key = /API key[^\n]*?(ck_\S+)/.exec(a.stdout)?.[1];
      assert.ok(key, a.stdout);
      const put = await ts.call('PUT', '/api/v2/management/users/u1', { apiKey: key, body: { role: 'patient', name: 'U One' } });
      assert.equal(put.status, 200, JSON.stringify(put.body));
      const bad = await ts.call('PUT', '/api/v2/management/users/u1', { apiKey: `${key}x`, body: { role: 'patient', name: 'U One' } });
      assert.equal(bad.status, 401);

      // The bad inputs.
      const dup = await run(['create-tenant', 'acme', 'Again'], env);
      assert.equal(dup.code, 1);
      assert.match(dup.stderr, /tenant\.exists/);
      const none = await run(['create-app', 'nobody', 'X'], env);
      assert.equal(none.code, 1);
      assert.match(none.stderr, /tenant\.not_found/);
      const missing = await run(['create-tenant', 'only-id'], env);
      assert.equal(missing.code, 64);
      assert.match(missing.stderr, /Usage: careline create-tenant <id> <name>/);
      const badId = await run(['create-tenant', 'a b', 'Spaces'], env);
      assert.equal(badId.code, 64);
      assert.match(badId.stderr, /tenant id/);
      const extra = await run(['create-app', 'acme', 'X', 'Y'], env);
      assert.equal(extra.code, 64);
    } finally {
      await ts.stop();
    }
  });
});
