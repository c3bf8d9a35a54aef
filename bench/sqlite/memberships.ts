/**
 * A user's memberships and conversation list read from SQLite as the server reads them: on
 * the read connection of the real storage, with the writer thread committing a message before
 * each read (in WAL a commit by another connection drops the reader's whole page cache, so
 * every read here starts cold, as under chat load). `--doctors` doctors, each in a two-person
 * conversation with `--patients` patients of their own.
 *
 * Per read (µs, p50 / mean): a doctor's memberships (what a connection's catch-up reads), a
 * doctor's first page of the conversation list, a patient's memberships, one conversation by
 * its key, a conversation's member ids.
 *
 *   node bench/sqlite/memberships.ts [--doctors 20] [--patients 500] [--reads 1000]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createSqliteStorage } from '../../packages/server/src/storage/sqlite/index.ts';
import { newId } from '../../packages/server/src/domain/ids.ts';

const { values } = parseArgs({
  options: {
    doctors: { type: 'string', default: '20' },
    patients: { type: 'string', default: '500' },
    reads: { type: 'string', default: '1000' },
  },
});
const D = Number(values.doctors);
const P = Number(values.patients);
const N = Number(values.reads);
const T = 'tenant-bench';
const CONTENT = { text: 'Good morning doctor, my blood pressure today is 135/85 after the new tablets.' };

const dir = mkdtempSync(join(tmpdir(), 'careline-memberships-'));
const s = createSqliteStorage({ path: join(dir, 'db.sqlite'), synchronous: 'NORMAL' });
try {
  await s.tenants.createTenant({ id: T, name: T, created_at: 1 } as never);
  const conv = (d: number, p: number) => `c${d}-${p}`;
  for (let d = 0; d < D; d++) await s.users.upsertUser(T, { id: `dr${d}`, role: 'doctor', name: `dr${d}`, avatar: null, disabled: false } as never, 10);
  // Patients join one after another across the doctors, as a clinic's list grows: a doctor's
  // rows are spread over the file in the order they were added.
  const made: Promise<unknown>[] = [];
  for (let p = 0; p < P; p++) {
    for (let d = 0; d < D; d++) {
      const pt = `pt${d}-${p}`;
      made.push(s.users.upsertUser(T, { id: pt, role: 'patient', name: pt, avatar: null, disabled: false } as never, 10).then(() =>
        s.conversations.createConversation({
          tenant_id: T, id: conv(d, p), type: 1, business_type: 2, name: '', status: 0, created_by: `dr${d}`,
          participants: [{ user_id: `dr${d}`, role: 'member' }, { user_id: pt, role: 'member' }],
        } as never, 10)));
    }
    if (made.length >= 2000) await Promise.all(made.splice(0));
  }
  await Promise.all(made);

  let n = 0;
  const send = async () => {
    const d = n % D;
    const p = (n * 7919) % P;
    n++;
    const [r] = await s.messages.append([{
      tenant_id: T, conversation_id: conv(d, p), id: newId(), sender_id: `dr${d}`, type: 1, content: CONTENT,
      content_json: JSON.stringify(CONTENT), client_id: null, created_at: Date.now(),
    } as never]);
    if (!r?.ok) throw new Error('append failed');
  };
  const timings: Record<string, number[]> = {};
  const time = async (name: string, f: () => Promise<unknown>) => {
    await send(); // a commit by the writer thread: the read below starts on a cold cache
    const a = process.hrtime.bigint();
    await f();
    (timings[name] ??= []).push(Number(process.hrtime.bigint() - a) / 1e3);
  };
  for (let i = 0; i < N; i++) {
    const d = `dr${i % D}`;
    const p = `pt${i % D}-${(i * 31) % P}`;
    await time("a doctor's memberships", () => s.conversations.memberships(T, d));
    await time("a doctor's conversation list, first 20", () => s.conversations.listForUser(T, d, { limit: 20 } as never));
    await time("a patient's memberships", () => s.conversations.memberships(T, p));
    await time('a conversation by its key', () => s.conversations.getConversation(T, conv(i % D, (i * 31) % P)));
    await time("a conversation's member ids", () => s.conversations.memberIds(T, conv(i % D, (i * 31) % P)));
  }
  console.log(`${D} doctors × ${P} patients (${D * P} conversations), ${N} reads of each, each after a commit by the writer thread`);
  for (const [name, xs] of Object.entries(timings)) {
    xs.sort((a, b) => a - b);
    const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
    console.log(`  ${name.padEnd(42)} p50 ${xs[xs.length >> 1]!.toFixed(1).padStart(8)} µs   mean ${mean.toFixed(1).padStart(8)} µs`);
  }
} finally {
  await s.close();
  rmSync(dir, { recursive: true, force: true });
}
