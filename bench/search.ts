/**
 * Search latency over a large history, on SQLite and PostgreSQL. Seeds `messages` messages
 * (Chinese and English, spread over conversations as the history scenario spreads them: Zipf)
 * straight through the message store — so the search index is written by the same triggers
 * and index as in production — then times `SearchService.messages` (the REST route's call:
 * checks, store, highlights) for words of different frequencies, over the tenant (an API key)
 * and over one patient's conversation (a user), and reports p50/p99 per query.
 *
 *   node bench/search.ts [--messages N] [--conversations N] [--backends sqlite,postgres] [--samples N] [--out FILE]
 *   npm run bench -- --only search [--backends sqlite,postgres] [--history-messages N]
 */
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import type { Storage } from '../packages/server/src/domain/ports.ts';
import type { NewMessage, Principal } from '../packages/server/src/domain/types.ts';
import { AuditLog } from '../packages/server/src/domain/audit.ts';
import { MemberDirectory } from '../packages/server/src/domain/directory.ts';
import { SearchService } from '../packages/server/src/search/service.ts';
import { createSqliteStorage } from '../packages/server/src/storage/sqlite/index.ts';
import { createPostgresStorage } from '../packages/server/src/storage/postgres/index.ts';
import { startPostgres, type Service } from '../packages/server/test/support/services.ts';
import { zipfCounts } from './scenarios/history.ts';
import type { Ctx } from './lib/ctx.ts';

export type SearchBackend = 'sqlite' | 'postgres';

export interface SearchBenchOptions {
  backend: SearchBackend;
  messages: number;
  conversations: number;
  /** Timed searches per query and scope (after one warm-up). */
  samples: number;
  log?: (line: string) => void;
  /** Keep the SQLite database in this directory (default: a temp dir, removed). */
  keepDir?: string;
  /** Called with the seeded storage before the timings (to look at query plans). */
  inspect?: (storage: Storage) => Promise<void>;
}

export interface SearchLatency {
  query: string;
  /** What the words are: how often they occur. */
  kind: string;
  scope: 'tenant' | 'user';
  samples: number;
  p50: number;
  p99: number;
  max: number;
  /** Hits on the first page (limit 20). */
  hits: number;
  /** The first page came back short with a cursor (the store's work bound was reached). */
  partial: boolean;
}

export interface SearchBenchRun {
  backend: SearchBackend;
  messages: number;
  conversations: number;
  /** Messages of the patient whose searches are the "user" scope. */
  userMessages: number;
  seedMs: number;
  seedPerSec: number;
  dbBytes: number | null;
  results: SearchLatency[];
}

/** The queries: words of every frequency (the seed puts the rare ones in on purpose). */
export const QUERIES: readonly { q: string; kind: string }[] = [
  { q: '医生', kind: 'zh 2 chars, ~25 %' },
  { q: '皮疹', kind: 'zh 2 chars, 0.1 %' },
  { q: '骨折', kind: 'zh 2 chars, absent' },
  { q: '血压偏高', kind: 'zh 4 chars, 1 %' },
  { q: '荨麻疹', kind: 'zh 3 chars, absent' },
  { q: 'pressure', kind: 'en word, ~10 %' },
  { q: 'urticaria', kind: 'en word, 0.01 %' },
  { q: 'blood report', kind: 'en 2 words' },
];

const ZH = ['医生您好', '今天血压', '有点头晕', '吃完药以后', '感觉好多了', '请按时服药', '下周复诊', '血糖控制得不错', '注意休息', '多喝水', '谢谢医生', '检查报告出来了', '孩子发烧', '咳嗽两天了', '饭后半小时', '睡眠不好'];
const EN = ['good morning doctor', 'my blood pressure is 135/85', 'please take the medicine', 'after breakfast', 'see you next week', 'the lab report is ready', 'I feel dizzy', 'keep measuring twice a day', 'no side effects', 'thank you'];

/** A deterministic PRNG (mulberry32): the same history every run. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The text of message `i`: Chinese (60 %) or English fragments, with the rare words put in at fixed rates. */
export function messageText(i: number, r: () => number): string {
  const zh = r() < 0.6;
  const pool = zh ? ZH : EN;
  const parts = Array.from({ length: 2 + Math.floor(r() * 3) }, () => pool[Math.floor(r() * pool.length)]!);
  if (i % 1000 === 7) parts.splice(1, 0, zh ? '手臂上出现皮疹' : 'a rash 皮疹 on the arm');
  if (i % 100 === 3) parts.push(zh ? '血压偏高' : '血压偏高 again');
  if (i % 10_000 === 11) parts.push('possible urticaria');
  return parts.join(zh ? '，' : ', ');
}

const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;

async function open(backend: SearchBackend, dir: string): Promise<{ storage: Storage; pg: Service | null; path: string | null }> {
  if (backend === 'sqlite') {
    const path = join(dir, 'search.sqlite');
    return { storage: createSqliteStorage({ path, synchronous: 'NORMAL', writer: 'worker' }), pg: null, path };
  }
  const pg = await startPostgres({ settings: { fsync: 'off', synchronous_commit: 'off', full_page_writes: 'off', shared_buffers: '256MB', maintenance_work_mem: '256MB' } });
  return { storage: await createPostgresStorage({ url: pg.url, poolSize: 4 }), pg, path: null };
}

export async function searchBench(o: SearchBenchOptions): Promise<SearchBenchRun> {
  const log = o.log ?? (() => {});
  const dir = o.keepDir ?? mkdtempSync(join(tmpdir(), 'careline-bench-search-'));
  const { storage, pg, path } = await open(o.backend, dir);
  try {
    const T = 'bench';
    await storage.tenants.createTenant({ id: T, name: 'bench', created_at: 1 });
    await storage.users.upsertUser(T, { id: 'reader', role: 'doctor', name: 'reader', avatar: null, disabled: false }, 1);
    const counts = zipfCounts(o.messages, o.conversations);
    for (let c = 0; c < o.conversations; c++) {
      await storage.users.upsertUser(T, { id: `h${c}`, role: 'patient', name: `h${c}`, avatar: null, disabled: false }, 1);
      // business_type 1: no audit records, so the figures are the search's alone.
      await storage.conversations.createConversation({
        tenant_id: T, id: `c${c}`, type: 2, business_type: 1, name: '', status: 0, created_by: 'reader',
        participants: [{ user_id: 'reader', role: 'member' }, { user_id: `h${c}`, role: 'member' }],
      }, 1);
    }
    // Messages are appended in time order, round-robin over the conversations that still have some to get.
    log(`search ${o.backend}: seeding ${o.messages.toLocaleString('en-US')} messages over ${o.conversations} conversations`);
    const t0 = performance.now();
    const r = rng(42);
    const left = [...counts];
    let time = Date.now() - 90 * 86_400_000;
    let i = 0;
    // One batch size for both backends: the round-robin (so which conversation holds which message) depends on it.
    const batchSize = 2000;
    let active = left.map((_, c) => c);
    while (i < o.messages) {
      const batch: NewMessage[] = [];
      while (batch.length < batchSize && i < o.messages) {
        active = active.filter((c) => left[c]! > 0);
        for (const c of active) {
          if (batch.length >= batchSize || i >= o.messages || left[c]! === 0) continue;
          left[c]!--;
          const content = { text: messageText(i, r) };
          const id = `01B${String(i).padStart(23, '0')}`;
          batch.push({
            tenant_id: T, conversation_id: `c${c}`, id, sender_id: i % 2 ? 'reader' : `h${c}`, type: 1, content, content_json: JSON.stringify(content),
            client_id: null, created_at: (time += 3), forward: null,
          });
          i++;
        }
      }
      const res = await storage.messages.append(batch);
      const bad = res.find((x) => !x.ok);
      if (bad) throw new Error(`seed: append failed: ${JSON.stringify(bad)}`);
      if (i % 100_000 < batchSize) log(`search ${o.backend}: ${i.toLocaleString('en-US')} messages`);
    }
    const seedMs = performance.now() - t0;
    if (pg) await (storage as unknown as { db: { write: (sql: string) => Promise<unknown> } }).db.write('ANALYZE messages');
    const dbBytes = path ? ['', '-wal', '-search', '-search-wal'].reduce((a, s) => a + (safeSize(path + s)), 0) : null;

    if (o.inspect) await o.inspect(storage);
    const directory = new MemberDirectory(storage.conversations, { ttlMs: 60_000 });
    const service = new SearchService({ store: storage.search, directory, audit: new AuditLog(storage.audit) });
    // The user: the patient of a mid-sized conversation (Zipf rank 10).
    const userConv = Math.min(10, o.conversations - 1);
    const scopes: { scope: 'tenant' | 'user'; p: Principal }[] = [
      { scope: 'tenant', p: { kind: 'app', tenantId: T, appId: 'bench' } },
      { scope: 'user', p: { kind: 'user', tenantId: T, userId: `h${userConv}`, role: 'patient', sessionId: 'bench' } },
    ];
    const results: SearchLatency[] = [];
    for (const { q, kind } of QUERIES) {
      for (const { scope, p } of scopes) {
        const first = await service.messages(p, { q, limit: 20 });
        const times: number[] = [];
        for (let k = 0; k < o.samples; k++) {
          const t = performance.now();
          await service.messages(p, { q, limit: 20 });
          times.push(performance.now() - t);
        }
        times.sort((a, b) => a - b);
        const row: SearchLatency = {
          query: q, kind, scope, samples: times.length, p50: +pct(times, 50).toFixed(2), p99: +pct(times, 99).toFixed(2), max: +times.at(-1)!.toFixed(2),
          hits: first.items.length, partial: first.items.length < 20 && first.next_cursor !== null,
        };
        results.push(row);
        log(`search ${o.backend}: ${q} (${kind}), ${scope}: p50 ${row.p50} ms, p99 ${row.p99} ms, ${row.hits} hits${row.partial ? ' (partial page)' : ''}`);
      }
    }
    return {
      backend: o.backend, messages: o.messages, conversations: o.conversations, userMessages: counts[userConv]!,
      seedMs: Math.round(seedMs), seedPerSec: Math.round(o.messages / (seedMs / 1000)), dbBytes, results,
    };
  } finally {
    await storage.close();
    if (pg) await pg.stop();
    if (!o.keepDir) rmSync(dir, { recursive: true, force: true });
  }
}

function safeSize(p: string): number {
  try {
    return statSync(p).size;
  } catch {
    return 0;
  }
}

/** A markdown table of runs. */
export function searchTable(runs: readonly SearchBenchRun[]): string {
  const lines = ['| backend | query | words | scope | p50 ms | p99 ms | hits (page of 20) |', '| --- | --- | --- | --- | --- | --- | --- |'];
  for (const run of runs) {
    for (const x of run.results) lines.push(`| ${run.backend} | ${x.query} | ${x.kind} | ${x.scope} | ${x.p50} | ${x.p99} | ${x.hits}${x.partial ? ' (partial)' : ''} |`);
  }
  return lines.join('\n');
}

/** The `search` scenario of `bench/run.ts`: this pass's backend (a cluster's is PostgreSQL), over the history scenario's size. */
export async function searchScenario(ctx: Ctx): Promise<SearchBenchRun> {
  const backend: SearchBackend = ctx.o.backend === 'sqlite' ? 'sqlite' : 'postgres';
  ctx.progress.phase(`search ${backend}`);
  const run = await searchBench({ backend, messages: ctx.o.historyMessages, conversations: ctx.o.historyConversations, samples: 50, log: ctx.log });
  ctx.log(searchTable([run]));
  return run;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values: a } = parseArgs({
    options: {
      messages: { type: 'string' }, conversations: { type: 'string' }, backends: { type: 'string' }, samples: { type: 'string' }, out: { type: 'string' },
    },
  });
  const runs: SearchBenchRun[] = [];
  for (const backend of (a.backends ?? 'sqlite,postgres').split(',').map((s) => s.trim()) as SearchBackend[]) {
    if (backend !== 'sqlite' && backend !== 'postgres') throw new Error(`--backends: sqlite or postgres, not ${backend}`);
    runs.push(await searchBench({
      backend, messages: Number(a.messages ?? 100_000), conversations: Number(a.conversations ?? 1000), samples: Number(a.samples ?? 50),
      log: (l) => process.stderr.write(l + '\n'),
    }));
  }
  const table = searchTable(runs);
  process.stdout.write(table + '\n');
  if (a.out) writeFileSync(a.out, JSON.stringify({ at: new Date().toISOString(), runs }, null, 2) + '\n');
}
