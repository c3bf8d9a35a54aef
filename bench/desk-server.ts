/**
 * The Careline server of the front-desk benchmark (`bench/desk.ts`), in its own process: the
 * test profile on a real SQLite file (WAL) in a temp dir, on 127.0.0.1, with the widget key's
 * per-IP visitor limit raised (every simulated visitor comes from 127.0.0.1). Creates a tenant
 * with an API key and prints one JSON line:
 *
 *   {"ready":true,"url":"http://127.0.0.1:PORT","apiKey":"ck_…","tenantId":"…","pid":N}
 *
 * SIGTERM closes it and removes the temp dir.
 *
 *   node bench/desk-server.ts [--sla-seconds N] [--log warn]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig, startServer } from '@careline/server';

const { values: a } = parseArgs({ options: { 'sla-seconds': { type: 'string', default: '60' }, log: { type: 'string', default: 'warn' } } });
const ADMIN = 'bench-admin-token';
const dir = mkdtempSync(join(tmpdir(), 'careline-bench-desk-'));

const { config } = loadConfig({
  env: { IM_PROFILE: 'test' },
  overrides: {
    http: { host: '127.0.0.1', port: 0 },
    storage: { sqlitePath: join(dir, 'careline.db') },
    auth: { adminToken: ADMIN },
    log: { level: a.log },
    desk: { visitorsPerIp: 1_000_000, visitorsPerFingerprint: 1_000_000, slaSeconds: Number(a['sla-seconds']) },
    shutdownGraceMs: 3000,
  },
});

const server = await startServer({ config });

async function admin(path: string, body: unknown): Promise<Record<string, string>> {
  const r = await fetch(server.url + path, { method: 'POST', headers: { 'content-type': 'application/json', 'x-admin-token': ADMIN }, body: JSON.stringify(body) });
  const j = (await r.json()) as Record<string, string>;
  if (r.status !== 200) throw new Error(`${path} → ${r.status} ${JSON.stringify(j)}`);
  return j;
}

const tenantId = `desk${Date.now().toString(36)}`;
await admin('/api/v2/admin/tenants', { id: tenantId, name: 'Bench clinic' });
const { api_key: apiKey } = await admin(`/api/v2/admin/tenants/${tenantId}/apps`, { name: 'bench' });
process.stdout.write(JSON.stringify({ ready: true, url: server.url, apiKey, tenantId, pid: process.pid }) + '\n');

let closing = false;
process.on('SIGTERM', () => {
  if (closing) return;
  closing = true;
  void server.close().finally(() => {
    rmSync(dir, { recursive: true, force: true });
    process.exit(0);
  });
});
