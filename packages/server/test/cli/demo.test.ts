import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { DEMO_USERS } from '../../src/demo.ts';
import { Running, startScript } from './run.ts';

/** `npm start`'s script on a given SQLite file, port 0, dev profile: its printed banner. */
async function startDemo(dbPath: string): Promise<{ proc: Running; out: string; url: string }> {
  const proc = new Running([], { IM_PROFILE: 'dev', CARELINE_HTTP_PORT: '0', CARELINE_STORAGE_SQLITE_PATH: dbPath, CARELINE_LOG_LEVEL: 'warn' }, startScript);
  await proc.waitFor(() => /Try:.*\n/.test(proc.stdout), 'the demo banner');
  const url = /Web client\s+(http:\/\/\S+?)\/\s/.exec(proc.stdout)![1]!;
  return { proc, out: proc.stdout, url };
}

const apiKeyOf = (out: string) => /API key\s+(\S+)/.exec(out)?.[1];

function demoApps(dbPath: string): { id: string; revoked_at: number | null }[] {
  const db = new Database(dbPath, { readonly: true });
  try {
    return db.prepare("SELECT id, revoked_at FROM apps WHERE tenant_id = 'demo' ORDER BY created_at").all() as { id: string; revoked_at: number | null }[];
  } finally {
    db.close();
  }
}

describe('npm start: the demo banner', () => {
  it('the Try line runs as pasted, every demo user is listed with a working token, and a restart reuses the demo API key', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'careline-demo-'));
    const dbPath = join(dir, 'careline.db');
    try {
      const first = await startDemo(dbPath);
      let firstKey: string | undefined;
      try {
        // The Try line: a whole command, no ellipsis, that works when pasted.
        const tryLine = /Try:\s+(.*)/.exec(first.out)![1]!;
        assert.doesNotMatch(tryLine, /…|\.\.\./, 'the Try line is not shortened');
        const m = /^curl -H "Authorization: Bearer ([^"]+)" (\S+)$/.exec(tryLine.trim());
        assert.ok(m, `a curl command: ${tryLine}`);
        const res = await fetch(m[2]!, { headers: { authorization: `Bearer ${m[1]}` } });
        assert.equal(res.status, 200, await res.clone().text());
        assert.ok(Array.isArray(((await res.json()) as { sessions?: unknown[] }).sessions ?? []));

        // Every demo user the web client offers is in the banner, with a token that works.
        for (const u of DEMO_USERS) {
          const line = new RegExp(`\\b${u.id.replace('.', '\\.')}\\b.*token (\\S+)`).exec(first.out);
          assert.ok(line, `${u.id} is listed:\n${first.out}`);
          const r = await fetch(`${first.url}/api/v2/sessions`, { headers: { authorization: `Bearer ${line[1]}` } });
          assert.equal(r.status, 200, `${u.id}'s token works`);
        }
        // ...and what the web client's sign-in offers is exactly that list.
        const web = await fetch(`${first.url}/api/v2/demo/users`);
        assert.equal(web.status, 200);
        const offered = ((await web.json()) as { users: { id: string }[] }).users.map((u) => u.id);
        for (const id of offered) assert.match(first.out, new RegExp(`\\b${id.replace('.', '\\.')}\\b.*token`), `${id} (offered by the web client) is in the banner`);

        firstKey = apiKeyOf(first.out);
        assert.ok(firstKey);
        const ok = await fetch(`${first.url}/api/v2/management/users/dr.li/tags`, { headers: { 'x-api-key': firstKey } });
        assert.equal(ok.status, 200, 'the demo API key works');
      } finally {
        assert.equal((await first.proc.stop()).code, 0);
      }

      // A restart on the same database: the same key, no new app row.
      const second = await startDemo(dbPath);
      try {
        assert.equal(apiKeyOf(second.out), firstKey);
      } finally {
        await second.proc.stop();
      }
      assert.equal(demoApps(dbPath).length, 1, 'one demo app row after two starts');

      // A revoked demo key is replaced by a new one on the next start.
      const third = await startDemo(dbPath);
      try {
        const [app] = demoApps(dbPath);
        const rv = await fetch(`${third.url}/api/v2/admin/tenants/demo/apps/${app!.id}`, { method: 'DELETE', headers: { 'x-admin-token': 'dev-admin-token' } });
        assert.equal(rv.status, 200);
      } finally {
        await third.proc.stop();
      }
      const fourth = await startDemo(dbPath);
      try {
        const key = apiKeyOf(fourth.out)!;
        assert.notEqual(key, firstKey);
        const ok = await fetch(`${fourth.url}/api/v2/management/users/dr.li/tags`, { headers: { 'x-api-key': key } });
        assert.equal(ok.status, 200, 'the new demo API key works');
        const old = await fetch(`${fourth.url}/api/v2/management/users/dr.li/tags`, { headers: { 'x-api-key': firstKey! } });
        assert.equal(old.status, 401, 'the revoked one does not');
      } finally {
        await fourth.proc.stop();
      }
      const apps = demoApps(dbPath);
      assert.equal(apps.length, 2);
      assert.equal(apps.filter((a) => a.revoked_at === null).length, 1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
