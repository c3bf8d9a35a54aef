/**
 * PostgreSQL under appends from several writers, without the rest of Careline: W writers
 * (each a PgDb with its own write connection and group commit, as W nodes) append closed-loop
 * to pair conversations whose two senders sit on different writers (as the cluster bench
 * spreads clients). Prints, per run: messages/s, messages per commit, PostgreSQL CPU-µs per
 * message, this process's CPU per message and per commit, deadlocks, rollbacks, the share of samples with a backend waiting on a lock, and
 * the statements that took PostgreSQL's time (pg_stat_statements).
 *
 *   node bench/pg/appends.ts [--writers 1,3] [--senders 400] [--duration 8] [--setting k=v ...]
 */
import { parseArgs } from 'node:util';
import pg from 'pg';
import { startPostgres } from '../../packages/server/test/support/services.ts';
import { createPostgresStorage, type PostgresStorage } from '../../packages/server/src/storage/postgres/index.ts';
import { GroupCommitter } from '../../packages/server/src/domain/committer.ts';
import { newId } from '../../packages/server/src/domain/ids.ts';
import { PgDb, type Queryable, type TxOptions } from '../../packages/server/src/storage/postgres/db.ts';
import { childPids, procCpuMs, procTreeCpuMs } from '../lib/proc.ts';
import { readFileSync } from 'node:fs';

const { values } = parseArgs({
  options: {
    writers: { type: 'string', default: '1,3' },
    senders: { type: 'string', default: '400' },
    duration: { type: 'string', default: '8' },
    setting: { type: 'string', multiple: true, default: [] },
    'busy-ms': { type: 'string', default: '0' },
  },
});
const T = 'tenant-bench';
const senders = Number(values.senders);
const durationMs = Number(values.duration) * 1000;
const extra = Object.fromEntries(values.setting!.map((s) => s.split('=') as [string, string]));

// --busy-ms: a node whose event loop is busy answers the first statement of each append
// transaction that much later (its other statements wait as they would).
const busyMs = Number(values['busy-ms']);
if (busyMs > 0) {
  const tx = PgDb.prototype.tx;
  PgDb.prototype.tx = function (this: PgDb, fn: (q: Queryable) => Promise<unknown>, opts?: TxOptions) {
    return tx.call(this, (q) => {
      let first = true;
      const late: Queryable = {
        query: <R>(text: string, v?: readonly unknown[]) => {
          const p = q.query<R>(text, v);
          if (!first) return p;
          first = false;
          return p.then((r) => new Promise<typeof r>((res) => setTimeout(() => res(r), busyMs)));
        },
      };
      return fn(late);
    }, opts);
  } as typeof tx;
}

async function run(writers: number): Promise<void> {
  const server = await startPostgres({
    settings: { fsync: 'on', synchronous_commit: 'on', full_page_writes: 'on', shared_preload_libraries: 'pg_stat_statements', max_connections: 100, ...extra },
  });
  const stores: PostgresStorage[] = [];
  const admin = new pg.Client({ connectionString: server.url });
  try {
    await admin.connect();
    for (let w = 0; w < writers; w++) stores.push(await createPostgresStorage({ url: server.url, poolSize: 4 }));
    const s0 = stores[0]!;
    await s0.tenants.createTenant({ id: T, name: T, created_at: 1 });
    const pairs = senders / 2;
    for (let i = 0; i < senders; i++) await s0.users.upsertUser(T, { id: `u${i}`, role: 'patient', name: `u${i}`, avatar: null, disabled: false }, 10);
    for (let p = 0; p < pairs; p++) {
      await s0.conversations.createConversation({
        tenant_id: T, id: `c${p}`, type: 1, business_type: 0, name: '', status: 0, created_by: `u${2 * p}`,
        participants: [{ user_id: `u${2 * p}`, role: 'member' }, { user_id: `u${2 * p + 1}`, role: 'member' }],
      }, 10);
    }
    await admin.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
    const committers = stores.map((s) => new GroupCommitter(s.messages, 1000, () => {}));
    const stat = async () => (await admin.query(`SELECT xact_commit::int c, xact_rollback::int r, deadlocks::int d FROM pg_stat_database WHERE datname = 'postgres'`)).rows[0];
    await admin.query('SELECT pg_stat_statements_reset()');
    const before = await stat();
    const kinds = () => {
      const m = new Map<string, number>();
      for (const pid of childPids(server.pid)) {
        let name = 'gone';
        try {
          name = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').replace(/^postgres: /, '').replace(/careline postgres .*/, 'client backends').trim();
        } catch {}
        m.set(name, (m.get(name) ?? 0) + procCpuMs(pid));
      }
      return m;
    };
    const k0 = kinds();
    const cpu0 = procTreeCpuMs(server.pid);
    const node0 = process.cpuUsage();
    const t0 = performance.now();
    let sent = 0;
    let errors = 0;
    let stop = false;
    // Lock waits: sampled every 20 ms.
    let samples = 0;
    let lockSamples = 0;
    let lockWaiters = 0;
    const sampler = (async () => {
      const sc = new pg.Client({ connectionString: server.url });
      await sc.connect();
      while (!stop) {
        const { rows } = await sc.query(`SELECT count(*)::int n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND backend_type = 'client backend'`);
        samples++;
        if (rows[0].n > 0) lockSamples++, (lockWaiters += rows[0].n);
        await new Promise((r) => setTimeout(r, 20));
      }
      await sc.end();
    })();
    const loops = Array.from({ length: senders }, async (_, i) => {
      const c = committers[i % writers]!;
      let n = 0;
      while (performance.now() - t0 < durationMs) {
        const r = await c.write({
          tenant_id: T, conversation_id: `c${i >> 1}`, id: newId(), sender_id: `u${i}`, type: 1, content: { t: 'x' }, content_json: '{"t":"hello"}',
          client_id: `u${i}-${n++}`, created_at: Date.now(), forward: null,
        }, null).catch(() => null);
        if (r?.ok) sent++;
        else errors++;
      }
    });
    await Promise.all(loops);
    const secs = (performance.now() - t0) / 1000;
    const nodeCpu = process.cpuUsage(node0);
    stop = true;
    await sampler;
    const cpu = procTreeCpuMs(server.pid) - cpu0;
    const after = await stat();
    const k1 = kinds();
    console.log('   PostgreSQL CPU by process (ms): ' + [...k1].map(([n, v]) => `${n} ${Math.round(v - (k0.get(n) ?? 0))}`).join(', '));
    const commits = after.c - before.c;
    console.log(`writers=${writers} senders=${senders} busy=${busyMs}ms: ${Math.round(sent / secs)} msg/s, ${(sent / commits).toFixed(1)} msg/commit (commits ${commits}), PostgreSQL ${((cpu * 1000) / sent).toFixed(1)} µs/msg (${(cpu / 1000 / secs).toFixed(2)} cores), this process (the writers and the lock sampler) ${((nodeCpu.user + nodeCpu.system) / sent).toFixed(1)} µs/msg and ${((nodeCpu.user + nodeCpu.system) / commits).toFixed(1)} µs/commit, rollbacks ${after.r - before.r}, deadlocks ${after.d - before.d}, errors ${errors}, lock-wait samples ${((100 * lockSamples) / samples).toFixed(0)}% (avg ${(lockWaiters / Math.max(1, lockSamples)).toFixed(1)} waiting)`);
    const tf = await admin.query(`SELECT tup_fetched::bigint f FROM pg_stat_database WHERE datname = 'postgres'`);
    const tb = await admin.query(`SELECT relname, n_tup_upd, n_tup_hot_upd, n_dead_tup, pg_relation_size(relid) sz FROM pg_stat_user_tables WHERE relname IN ('conversations', 'participants')`);
    console.log(`   tup_fetched ${tf.rows[0].f}; ` + tb.rows.map((r) => `${r.relname}: upd ${r.n_tup_upd}, hot ${r.n_tup_hot_upd}, dead ${r.n_dead_tup}, ${r.sz} bytes`).join('; '));
    if (process.env.EXPLAIN) {
      const keys = JSON.stringify(Array.from({ length: pairs }, (_, p) => [T, `c${p}`]));
      await admin.query(`SET plan_cache_mode = force_generic_plan`);
      await admin.query(`PREPARE lk(jsonb) AS SELECT k.o FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS k(e, o) CROSS JOIN LATERAL (SELECT 1 FROM conversations c WHERE c.tenant_id = k.e->>0 AND c.id = k.e->>1 LIMIT 1) c`);
      const ex = await admin.query(`EXPLAIN (ANALYZE, BUFFERS) EXECUTE lk('${keys}')`);
      for (const r of ex.rows) console.log('   | ' + r['QUERY PLAN']);
    }
    const { rows } = await admin.query(`SELECT calls, round(total_exec_time)::int ms, round(total_plan_time)::int plan_ms, plans, round(total_exec_time * 1000 / greatest(calls, 1))::int us_per_call, rows, left(regexp_replace(query, '\\s+', ' ', 'g'), 70) q FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 6`);
    for (const r of rows) console.log(`   ${String(r.ms).padStart(6)} ms  ${String(r.calls).padStart(6)} calls  ${String(r.us_per_call).padStart(6)} µs/call plan ${r.plan_ms} ms/${r.plans}  ${r.q}`);
  } finally {
    await admin.end().catch(() => {});
    for (const s of stores) await s.close().catch(() => {});
    await server.stop();
  }
}

for (const w of values.writers!.split(',').map(Number)) await run(w);
