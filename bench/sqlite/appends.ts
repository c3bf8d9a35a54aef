/**
 * The SQLite append path alone, without the rest of Careline. Two measurements:
 *
 * - `split`: the writer's transaction run in this process on a file (`synchronous` FULL by
 *   default): BEGIN, the batch's statements, COMMIT, for batches of the given sizes over
 *   pair conversations. Per batch: time in the statements, time in COMMIT (the WAL write and
 *   its fsync), WAL frames (pages) written, and the last commit's pages by B-tree (the WAL
 *   frames' page numbers, named through `dbstat`).
 * - `rate`: the real storage (the writer thread) behind a `GroupCommitter`, as the server
 *   runs it; `--senders` senders, each one send in flight (closed loop), or `--rate` msg/s
 *   offered open loop: msg/s, messages per commit, ack latency p50/p99 from the scheduled time.
 *
 *   node bench/sqlite/appends.ts [--mode split,rate] [--batches 12,300] [--commits 200]
 *        [--senders 400] [--rate 0] [--duration 6] [--sync FULL|NORMAL]
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createSqliteStorage, type SqliteStorage } from '../../packages/server/src/storage/sqlite/index.ts';
import { openDb, type Db } from '../../packages/server/src/storage/sqlite/db.ts';
import { openStores } from '../../packages/server/src/storage/sqlite/stores.ts';
import { GroupCommitter } from '../../packages/server/src/domain/committer.ts';
import { newId } from '../../packages/server/src/domain/ids.ts';
import type { Storage } from '../../packages/server/src/domain/ports.ts';
import type { NewMessage } from '../../packages/server/src/domain/types.ts';

const { values } = parseArgs({
  options: {
    mode: { type: 'string', default: 'split,rate' },
    batches: { type: 'string', default: '12,300' },
    commits: { type: 'string', default: '200' },
    senders: { type: 'string', default: '400' },
    rate: { type: 'string', default: '0' },
    duration: { type: 'string', default: '6' },
    sync: { type: 'string', default: 'FULL' },
  },
});
const T = 'tenant-bench';
const senders = Number(values.senders);
const pairs = senders / 2;
const synchronous = values.sync === 'NORMAL' ? 'NORMAL' : 'FULL';
const CONTENT = { text: 'Good morning doctor, my blood pressure today is 135/85 after the new tablets.' };
const CONTENT_JSON = JSON.stringify(CONTENT);

async function seed(s: Pick<Storage, 'tenants' | 'users' | 'conversations'>): Promise<void> {
  await s.tenants.createTenant({ id: T, name: T, created_at: 1 } as never);
  for (let i = 0; i < senders; i++) await s.users.upsertUser(T, { id: `u${i}`, role: 'patient', name: `u${i}`, avatar: null, disabled: false } as never, 10);
  for (let p = 0; p < pairs; p++) {
    await s.conversations.createConversation({
      tenant_id: T, id: `c${p}`, type: 1, business_type: 0, name: '', status: 0, created_by: `u${2 * p}`,
      participants: [{ user_id: `u${2 * p}`, role: 'member' }, { user_id: `u${2 * p + 1}`, role: 'member' }],
    } as never, 10);
  }
}

let counter = 0;
function message(i: number): NewMessage {
  return {
    tenant_id: T, conversation_id: `c${i >> 1}`, id: newId(), sender_id: `u${i}`, type: 1, content: CONTENT, content_json: CONTENT_JSON,
    client_id: newId(), created_at: Date.now(), forward: null, care_team: false,
  } as NewMessage;
}

const pct = (xs: number[], p: number) => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};
const walFrames = (path: string) => {
  try {
    return Math.max(0, (statSync(`${path}-wal`).size - 32) / (4096 + 24));
  } catch {
    return 0;
  }
};

/** Pages per table/index, to see which B-trees a batch dirtied (diffed by page content). */
function pageOwners(db: Db): Map<number, string> {
  const m = new Map<number, string>();
  for (const r of db.prepare('SELECT pageno, name FROM dbstat').all() as { pageno: number; name: string }[]) m.set(r.pageno, r.name);
  return m;
}

async function split(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'careline-appends-'));
  const path = join(dir, 'db.sqlite');
  try {
    const db = openDb({ path, synchronous, walAutocheckpoint: 0 });
    const st = openStores(db, { mode: 'read' });
    await seed(st);
    // Warm: a history, so that the B-trees have more than one level.
    for (let k = 0; k < 200; k++) {
      db.exec('BEGIN IMMEDIATE');
      st.messages.appendInOpenTransaction(Array.from({ length: 300 }, (_, j) => message((k * 300 + j) % senders)));
      db.exec('COMMIT');
    }
    db.pragma('wal_checkpoint(TRUNCATE)');
    const commits = Number(values.commits);
    for (const size of values.batches!.split(',').map(Number)) {
      const stmt: number[] = [];
      const commit: number[] = [];
      const frames: number[] = [];
      const dirty = new Map<string, number>();
      for (let k = 0; k < commits; k++) {
        // Senders spread over the conversations as at a moderate rate: each message another pair.
        const batch = Array.from({ length: size }, () => message(counter++ % senders));
        const f0 = walFrames(path);
        const t0 = performance.now();
        db.exec('BEGIN IMMEDIATE');
        st.messages.appendInOpenTransaction(batch);
        const t1 = performance.now();
        db.exec('COMMIT');
        const t2 = performance.now();
        stmt.push(t1 - t0);
        commit.push(t2 - t1);
        frames.push(walFrames(path) - f0);
        if (k === commits - 1) {
          // The pages of the last commit, by B-tree: the WAL's frame headers hold page numbers.
          const owners = pageOwners(db);
          const { readFileSync } = await import('node:fs');
          const wal = readFileSync(`${path}-wal`);
          const n = frames.at(-1)!;
          const total = (wal.length - 32) / (4096 + 24);
          for (let f = total - n; f < total; f++) {
            const page = wal.readUInt32BE(32 + f * (4096 + 24));
            const name = owners.get(page) ?? '(new/free)';
            dirty.set(name, (dirty.get(name) ?? 0) + 1);
          }
        }
        if (k % 40 === 39) db.pragma('wal_checkpoint(TRUNCATE)');
      }
      const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
      console.log(`split batch=${size} sync=${synchronous}: statements p50 ${pct(stmt, 50).toFixed(2)} ms (${((1000 * sum(stmt)) / (commits * size)).toFixed(1)} µs/msg), COMMIT p50 ${pct(commit, 50).toFixed(2)} / p99 ${pct(commit, 99).toFixed(2)} ms (${((1000 * sum(commit)) / (commits * size)).toFixed(1)} µs/msg), WAL pages per commit p50 ${pct(frames, 50)}`);
      console.log(`   pages of the last commit by B-tree: ${[...dirty].sort((a, b) => b[1] - a[1]).map(([n, c]) => `${n} ${c}`).join(', ')}`);
    }
    db.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function rate(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'careline-appends-'));
  const path = join(dir, 'db.sqlite');
  let storage: SqliteStorage | null = null;
  try {
    storage = createSqliteStorage({ path, synchronous, writer: 'worker' });
    await seed(storage);
    let commits = 0;
    const committer = new GroupCommitter(storage.messages, 1000, () => {});
    committer.onBatch = () => commits++;
    const durationMs = Number(values.duration) * 1000;
    const offered = Number(values.rate);
    const lat: number[] = [];
    let sent = 0;
    const t0 = performance.now();
    if (offered > 0) {
      // Open loop: message n is due at t0 + n / rate; latency from when it was due.
      const total = Math.floor((offered * durationMs) / 1000);
      const done: Promise<unknown>[] = [];
      for (let n = 0; n < total; n++) {
        const due = t0 + (n * 1000) / offered;
        const wait = due - performance.now();
        if (wait > 1) await new Promise((r) => setTimeout(r, wait));
        done.push(committer.write(message(n % senders), null).then(() => {
          lat.push(performance.now() - due);
          sent++;
        }));
      }
      await Promise.all(done);
    } else {
      await Promise.all(Array.from({ length: senders }, async (_, i) => {
        while (performance.now() - t0 < durationMs) {
          const s = performance.now();
          await committer.write(message(i), null);
          lat.push(performance.now() - s);
          sent++;
        }
      }));
    }
    const secs = (performance.now() - t0) / 1000;
    console.log(`rate sync=${synchronous} ${offered > 0 ? `offered ${offered}/s` : `closed loop, ${senders} senders`}: ${Math.round(sent / secs)} msg/s, ${(sent / commits).toFixed(1)} msg/commit, ack p50 ${pct(lat, 50).toFixed(1)} / p99 ${pct(lat, 99).toFixed(1)} ms`);
  } finally {
    await storage?.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

for (const mode of values.mode!.split(',')) {
  if (mode === 'split') await split();
  else if (mode === 'rate') await rate();
}
