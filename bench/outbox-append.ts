/**
 * The cost of the after-commit outbox on the append path, measured at the store (SQLite,
 * writer thread): N batches of B messages over C conversations, 4 batches in flight, against
 * the tree given (this checkout by default; pass another checkout's root, e.g. an export of
 * the commit before the outbox, to compare — run them alternately, several times, and compare
 * medians: a shared machine is noisy).
 *
 *   node bench/outbox-append.ts [root] [FULL|NORMAL]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
const root = process.argv[2] ?? join(import.meta.dirname, '..');
const { createSqliteStorage } = await import(join(root, 'packages/server/src/storage/sqlite/index.ts'));
const dir = mkdtempSync(join(tmpdir(), 'ab-'));
const s = createSqliteStorage({ path: join(dir, 'db.sqlite'), synchronous: process.argv[3] ?? 'FULL', writer: 'worker' });
const T = 't';
await s.tenants.createTenant({ id: T, name: 'x', created_at: 1 });
for (const id of ['a', 'b']) await s.users.upsertUser(T, { id, role: 'doctor', name: id, avatar: null, disabled: false }, 1);
const C = 200, B = 64, N = 600;
for (let i = 0; i < C; i++) await s.conversations.createConversation({ tenant_id: T, id: `c${i}`, type: 1, business_type: 1, name: '', status: 0, created_by: 'a', participants: [{ user_id: 'a', role: 'm' }, { user_id: 'b', role: 'm' }] }, 1);
let k = 0;
const batch = () => Array.from({ length: B }, () => { const text = `hello ${k}`; return { tenant_id: T, conversation_id: `c${k % C}`, id: `m${String(k++).padStart(20, '0')}`, sender_id: 'a', type: 1, content: { text }, content_json: JSON.stringify({ text }), client_id: null, created_at: Date.now(), forward: null }; });
for (let i = 0; i < 50; i++) await s.messages.append(batch());
const t0 = performance.now();
// 4 batches in flight, as the group committer keeps the writer busy.
const inflight = new Set<Promise<unknown>>();
for (let i = 0; i < N; i++) { const p = s.messages.append(batch()).then(() => inflight.delete(p)); inflight.add(p); if (inflight.size >= 4) await Promise.race(inflight); }
await Promise.all(inflight);
const ms = performance.now() - t0;
console.log(JSON.stringify({ root, msgPerSec: Math.round((N * B) / (ms / 1000)) }));
await s.close();
rmSync(dir, { recursive: true, force: true });
