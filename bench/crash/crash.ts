/**
 * The crash test: a send storm from many clients while the server is killed with SIGKILL at
 * random moments and restarted on the same SQLite file, again and again. The clients behave
 * as the SDK does: every send keeps its client id until acked and is resent after a
 * reconnect (the server dedupes by client id); each (re)connect uses `?sync=1` and a `sync`
 * with the client's cursors.
 *
 * With `backend: 'postgres'` the server is N nodes on one PostgreSQL (and, for N > 1, one
 * Redis for the bus and presence), both started for the test on loopback; each cycle kills
 * one node picked at random and restarts it on its port. Every client knows every node's
 * URL: it starts on one (round-robin) and, when its connection drops, moves on to the next
 * URL in its list, so it lands on a live node and resends there.
 *
 * At the end the clients' records are checked against the database:
 *
 *  - every acked message is stored exactly once, with the seq and id it was acked with;
 *  - no conversation has a seq gap, and its last_seq is its newest message;
 *  - every client received each message of its conversations exactly once (live, by
 *    catch-up, or as the ack of its own send).
 */
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import pg from 'pg';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { startPostgres, startRedis, type Service } from '../../packages/server/test/support/services.ts';
import { createSqliteStorage } from '../../packages/server/src/storage/sqlite/index.ts';
import { searchDbPath } from '../../packages/server/src/storage/sqlite/search-db.ts';
import { createPostgresStorage } from '../../packages/server/src/storage/postgres/index.ts';
import { Proc } from '../lib/proc.ts';
import { checkBackends, nodeEnv, sqliteEnv, type NodeReady } from '../lib/target.ts';
import { mapLimit, rng, sleep, waitFor } from '../lib/util.ts';
import { NODE_FLAGS } from '../../packages/server/src/cli/node-flags.ts';

export interface CrashOptions {
  cycles: number;
  /** Clients (users), in pairs; all of them are also in one group conversation. */
  clients: number;
  /** Sends each client keeps in flight. */
  window: number;
  sync: 'NORMAL' | 'FULL';
  /** The server is killed after a random time in [minUpMs, maxUpMs] from being ready. */
  minUpMs: number;
  maxUpMs: number;
  seed: number;
  keep: boolean;
  /** sqlite: one node on an SQLite file (the default); postgres: `nodes` nodes on PostgreSQL (+ Redis when more than one). */
  backend: 'sqlite' | 'postgres';
  nodes: number;
  log: (line: string) => void;
  onCycle?: (done: number) => void;
}

export const crashDefaults: CrashOptions = {
  cycles: 20, clients: 40, window: 4, sync: 'FULL', minUpMs: 100, maxUpMs: 1500, seed: Date.now() % 1e9, keep: false, backend: 'sqlite', nodes: 1, log: () => {},
};

export interface CrashResult {
  cycles: number;
  backend: 'sqlite' | 'postgres';
  nodes: number;
  /** How many times each node was killed. */
  kills: number[];
  sent: number;
  acked: number;
  stored: number;
  lost: number;
  duplicated: number;
  gaps: number;
  ackMismatch: number;
  storedNotAcked: number;
  deliveryMissed: number;
  deliveryDuplicated: number;
  /** Messages a sync sent again because the client asked from before them (its cursor stops at a gap): asked for, not doubled. */
  refetched: number;
  /** Syncs the clients sent to fill a gap that lasted (a live frame that never came). */
  gapSyncs: number;
  resends: number;
  duplicateAcks: number;
  reconnects: number;
  errorFrames: number;
  errorSamples: string[];
  /** The first doubled deliveries, with how each receipt came. */
  doubleSamples: string[];
  /**
   * The search index after the kills, once a fresh storage has caught it up (it is written
   * behind the appends): searchable messages stored, those not in the index, index entries
   * of no stored searchable message.
   */
  search: { searchable: number; missing: number; extra: number };
  seconds: number;
  ok: boolean;
}

const serverFile = fileURLToPath(new URL('../server.ts', import.meta.url));

interface Pending {
  conv: string;
  frame: string;
}

class Client {
  readonly user: string;
  readonly token: string;
  readonly convs: string[];
  ws: WebSocket | null = null;
  /** Every node's WebSocket URL; the client uses urls[at] and moves to the next one when its connection drops. */
  urls: string[] = [];
  at = 0;
  /** Unacked sends, in the order they were first sent. */
  readonly outbox = new Map<string, Pending>();
  readonly acked = new Map<string, { conv: string; seq: number; id: string }>();
  /** conv → seq → times received. */
  readonly got = new Map<string, Map<number, number>>();
  readonly cursor = new Map<string, number>();
  heads = new Map<string, number>();
  syncedAt = 0;
  next = 0;
  sending = true;
  stopped = false;
  stats = { resends: 0, duplicateAcks: 0, reconnects: 0, errorFrames: 0, sent: 0, refetched: 0, gapSyncs: 0, ackAfterDelivery: 0 };
  /** Per sync in flight (by id): the cursors it asked from. What it sends after them was asked for, even what the client had. */
  readonly #asked = new Map<string, Map<string, number>>();
  /** conv → the highest seq received: above the cursor means a gap. */
  readonly #maxSeen = new Map<string, number>();
  #gapTimer: NodeJS.Timeout | null = null;
  #syncs = 0;
  errorSamples: string[] = [];
  /** How the first few doubled deliveries came: conv, seq, and each receipt (kind, connection, node). */
  doubleSamples: string[] = [];
  /** conv\0seq → how it was first received (for `doubleSamples`): the newest FIRST_BY_KEPT only, so a long run stays small. */
  readonly #firstBy = new Map<string, string>();
  #conn = 0;
  readonly #rand: () => number;

  constructor(user: string, token: string, convs: string[], rand: () => number) {
    this.user = user;
    this.token = token;
    this.convs = convs;
    this.#rand = rand;
    for (const c of convs) {
      this.got.set(c, new Map());
      this.cursor.set(c, 0);
    }
  }

  #receive(conv: string, seq: number, how: string): void {
    const m = this.got.get(conv);
    if (!m) return;
    const had = m.get(seq) ?? 0;
    // The ack of an own send that a sync already delivered (the catch-up read the commit before
    // its ack went out): the ack answers the send, it is not a second delivery.
    if (had > 0 && how === 'ack') {
      this.stats.ackAfterDelivery++;
      return;
    }
    const by = `${how} on connection ${this.#conn} (node ${(this.at % this.urls.length) + 1}, syncs asked: ${[...this.#asked.keys()].join(',') || 'none'})`;
    if (had === 0) {
      this.#firstBy.set(`${conv}\u0000${seq}`, by);
      if (this.#firstBy.size > FIRST_BY_KEPT) this.#firstBy.delete(this.#firstBy.keys().next().value!);
    }
    // A sync asks for everything after the client's cursor, which stops at its first gap: what
    // it sends beyond the gap that the client had already is asked for, not delivered twice.
    if (had > 0 && [...this.#asked.values()].some((a) => (a.get(conv) ?? 0) < seq)) {
      this.stats.refetched++;
      return;
    }
    if (had > 0 && this.doubleSamples.length < 3) this.doubleSamples.push(`${this.user} ${conv} seq ${seq}: first ${this.#firstBy.get(`${conv}\u0000${seq}`)}, again ${by}`);
    m.set(seq, had + 1);
    let c = this.cursor.get(conv)!;
    while (m.has(c + 1)) c++;
    this.cursor.set(conv, c);
    if (seq > (this.#maxSeen.get(conv) ?? 0)) this.#maxSeen.set(conv, seq);
    if ((this.#maxSeen.get(conv) ?? 0) > c) this.#armGapCheck();
  }

  /**
   * As the SDK does: a gap that lasts (a message whose live frame never came — with several
   * nodes, the node that committed it may have died before publishing it) is filled by a sync.
   */
  #armGapCheck(): void {
    if (this.#gapTimer || this.stopped) return;
    this.#gapTimer = setTimeout(() => {
      this.#gapTimer = null;
      if (this.stopped) return;
      const gap = [...this.#maxSeen].some(([conv, max]) => max > this.cursor.get(conv)!);
      if (!gap) return;
      if (this.#asked.size === 0 && this.ws?.readyState === WebSocket.OPEN) {
        this.stats.gapSyncs++;
        this.#sync(this.ws, `gap-${++this.#syncs}`);
      }
      this.#armGapCheck();
    }, 1000);
    this.#gapTimer.unref();
  }

  #sync(ws: WebSocket, id: string): void {
    this.#asked.set(id, new Map(this.cursor));
    ws.send(JSON.stringify({ type: 'sync', id, cursors: Object.fromEntries(this.cursor) }));
  }

  connect(): void {
    if (this.stopped) return;
    const ws = new WebSocket(`${this.urls[this.at % this.urls.length]}?token=${this.token}&sync=1`, { perMessageDeflate: false });
    this.#conn++;
    this.ws = ws;
    ws.on('open', () => {
      this.#sync(ws, 'sync');
      // Resend what was never acked, in the original order, with the same client ids.
      for (const p of this.outbox.values()) {
        ws.send(p.frame);
        this.stats.resends++;
      }
      this.#fill();
    });
    ws.on('message', (data: Buffer) => this.#onFrame(JSON.parse(data.toString())));
    ws.on('error', () => {});
    ws.on('close', () => {
      if (this.ws === ws) this.ws = null;
      this.#asked.clear();
      if (this.stopped) return;
      this.stats.reconnects++;
      this.at = (this.at + 1) % this.urls.length;
      setTimeout(() => this.connect(), 30 + this.#rand() * 150);
    });
  }

  #onFrame(f: any): void {
    switch (f.type) {
      case 'ack': {
        const prev = this.acked.get(f.id);
        if (f.duplicate) this.stats.duplicateAcks++;
        else this.#receive(f.conversation_id, f.seq, 'ack');
        if (prev && (prev.seq !== f.seq || prev.id !== f.message_id)) {
          // Two different messages acked for one client id: a double store.
          this.acked.set(`${f.id}#conflict${this.acked.size}`, { conv: f.conversation_id, seq: f.seq, id: f.message_id });
        } else this.acked.set(f.id, { conv: f.conversation_id, seq: f.seq, id: f.message_id });
        this.outbox.delete(f.id);
        this.#fill();
        return;
      }
      case 'message':
        this.#receive(f.message.conversation_id, f.message.seq, this.#asked.size ? 'message during a sync' : 'message');
        return;
      case 'sync_done':
        this.#asked.delete(f.id);
        if (f.id !== 'sync' && f.id !== 'final') return;
        this.syncedAt = Date.now();
        this.heads = new Map((f.conversations as { id: string; last_seq: number }[]).map((c) => [c.id, c.last_seq]));
        return;
      case 'error':
        this.stats.errorFrames++;
        if (this.errorSamples.length < 3) this.errorSamples.push(`${f.code}: ${f.message}`);
        return;
    }
  }

  /** Keeps `window` new sends in flight while sending is on. */
  #fill(): void {
    const ws = this.ws;
    if (!ws || ws.readyState !== ws.OPEN) return;
    while (this.sending && this.outbox.size < WINDOW) {
      const n = this.next++;
      const clientId = `${this.user}-${n}`;
      // Most sends go to the pair's conversation, one in eight to the group.
      const conv = this.convs[n % 8 === 7 ? 1 : 0]!;
      const frame = JSON.stringify({ type: 'send', id: clientId, conversation_id: conv, message: { client_id: clientId, type: 1, content: { text: `message ${n} from ${this.user}` } } });
      this.outbox.set(clientId, { conv, frame });
      this.stats.sent++;
      ws.send(frame);
    }
  }

  /** Asks for a catch-up from the current cursors (after the storm, to collect the tail). */
  resync(): void {
    this.syncedAt = 0;
    if (this.ws) this.#sync(this.ws, 'final');
  }

  close(): void {
    this.stopped = true;
    this.ws?.terminate();
  }
}

let WINDOW = 4;
/** Per client, how many first receipts `doubleSamples` can name (the newest). */
const FIRST_BY_KEPT = 2000;

interface Node {
  proc: Proc;
  url: string;
  apiKey: string;
  tenantId: string;
}

interface Services {
  postgres: Service | null;
  redis: Service | null;
}

/** Starts node `i` on `port` (0: any), on SQLite in `dir` or on the services. */
async function startServer(o: CrashOptions, dir: string, port: number, services: Services, i = 0): Promise<Node> {
  for (let attempt = 0; ; attempt++) {
    const proc = services.postgres
      ? new Proc(serverFile, {
        name: `node${i}`, execArgv: [...NODE_FLAGS],
        env: nodeEnv({ postgresUrl: services.postgres.url, redisUrl: services.redis?.url, nodeId: `crash-node${i}` }),
        // --db: a path that is never opened on PostgreSQL, so a killed node leaves no temp dir behind.
        args: ['--db', join(dir, 'unused.db'), '--tenant-file', join(dir, 'tenant.json'), '--port', String(port), '--log', 'error'],
      })
      : new Proc(serverFile, {
        name: 'server', env: sqliteEnv(), execArgv: [...NODE_FLAGS],
        args: ['--db', join(dir, 'careline.db'), '--tenant-file', join(dir, 'tenant.json'), '--sync', o.sync, '--port', String(port), '--log', 'error'],
      });
    let r: NodeReady;
    try {
      r = (await proc.ready) as NodeReady;
    } catch (err) {
      // The port may still be held for a moment after a kill: try again; any other failure is final.
      if (attempt >= 20 || !/EADDRINUSE|address already in use/i.test(String(err))) throw err;
      await sleep(250);
      continue;
    }
    if (services.postgres) {
      try {
        checkBackends(r, !!services.redis, `crash test node ${i}`);
      } catch (err) {
        await proc.stop(5000);
        throw err;
      }
    }
    return { proc, url: r.url, apiKey: r.apiKey, tenantId: r.tenantId };
  }
}

/** The stored messages and each conversation's last seq, from the SQLite file or from PostgreSQL. */
async function readStore(dir: string, services: Services, tenantId: string): Promise<{ rows: StoredRow[]; lastSeq: Map<string, number> }> {
  const MESSAGES = 'SELECT conversation_id AS conv, seq, id, sender_id AS sender, client_id AS cid FROM messages WHERE tenant_id = ';
  const CONVERSATIONS = 'SELECT id, last_seq FROM conversations WHERE tenant_id = ';
  if (services.postgres) {
    const client = new pg.Client({ connectionString: services.postgres.url });
    await client.connect();
    try {
      const rows = (await client.query(MESSAGES + '$1', [tenantId])).rows as (Omit<StoredRow, 'seq'> & { seq: string | number })[];
      const convs = (await client.query(CONVERSATIONS + '$1', [tenantId])).rows as { id: string; last_seq: string | number }[];
      return { rows: rows.map((r) => ({ ...r, seq: Number(r.seq) })), lastSeq: new Map(convs.map((c) => [c.id, Number(c.last_seq)])) };
    } finally {
      await client.end();
    }
  }
  const db = new Database(join(dir, 'careline.db'), { readonly: true });
  try {
    const rows = db.prepare(MESSAGES + '?').all(tenantId) as StoredRow[];
    const lastSeq = new Map((db.prepare(CONVERSATIONS + '?').all(tenantId) as { id: string; last_seq: number }[]).map((r) => [r.id, r.last_seq]));
    return { rows, lastSeq };
  } finally {
    db.close();
  }
}

/** Catches the search index up on a fresh storage (as a restarted node would), then compares it with the messages. */
async function checkSearch(dir: string, services: Services): Promise<CrashResult['search']> {
  const SEARCHABLE = 'type NOT IN (0, 6, 7, 10, 11, 13, 14) AND content IS NOT NULL';
  if (services.postgres) {
    const storage = await createPostgresStorage({ url: services.postgres.url, poolSize: 2 });
    try {
      await storage.searchIndexer.catchUp();
    } finally {
      await storage.close();
    }
    const client = new pg.Client({ connectionString: services.postgres.url });
    await client.connect();
    try {
      const n = async (sql: string) => Number((await client.query(sql)).rows[0].n);
      return {
        searchable: await n(`SELECT count(*) n FROM messages WHERE ${SEARCHABLE}`),
        missing: await n(`SELECT count(*) n FROM messages m WHERE ${SEARCHABLE} AND NOT EXISTS (SELECT 1 FROM message_search s WHERE s.tenant_id = m.tenant_id AND s.conversation_id = m.conversation_id AND s.seq = m.seq)`),
        extra: await n(`SELECT count(*) n FROM message_search s WHERE NOT EXISTS (SELECT 1 FROM messages m WHERE m.tenant_id = s.tenant_id AND m.conversation_id = s.conversation_id AND m.seq = s.seq AND ${SEARCHABLE.replaceAll('type', 'm.type').replaceAll('content', 'm.content')})`),
      };
    } finally {
      await client.end();
    }
  }
  const path = join(dir, 'careline.db');
  const storage = createSqliteStorage({ path, synchronous: 'FULL', writer: 'inline' });
  try {
    storage.searchIndexer!.catchUp();
  } finally {
    await storage.close();
  }
  const db = new Database(path, { readonly: true });
  db.prepare('ATTACH DATABASE ? AS search').run(searchDbPath(path));
  try {
    const n = (sql: string) => db.prepare(sql).pluck().get() as number;
    return {
      searchable: n(`SELECT count(*) FROM messages WHERE ${SEARCHABLE}`),
      missing: n(`SELECT count(*) FROM messages m WHERE ${SEARCHABLE} AND NOT EXISTS (SELECT 1 FROM message_search_keys k WHERE k.tenant_id = m.tenant_id AND k.conversation_id = m.conversation_id AND k.seq = m.seq)`),
      // A key without its message, or one without its row of the FTS index (or the reverse).
      extra: n(`SELECT count(*) FROM message_search_keys k WHERE NOT EXISTS (SELECT 1 FROM messages m WHERE m.tenant_id = k.tenant_id AND m.conversation_id = k.conversation_id AND m.seq = k.seq)`)
        + Math.abs(n('SELECT count(*) FROM message_search_keys') - n('SELECT count(*) FROM message_search')),
    };
  } finally {
    db.close();
  }
}

interface StoredRow {
  conv: string;
  seq: number;
  id: string;
  sender: string;
  cid: string | null;
}

export async function runCrashTest(opts: Partial<CrashOptions> = {}): Promise<CrashResult> {
  const o: CrashOptions = { ...crashDefaults, ...opts };
  if (o.backend === 'sqlite' && o.nodes !== 1) throw new Error(`crash test: an SQLite file serves one node (nodes ${o.nodes}); use backend postgres`);
  if (!Number.isInteger(o.nodes) || o.nodes < 1) throw new Error(`crash test: nodes ${o.nodes}: a whole number ≥ 1`);
  WINDOW = o.window;
  const t0 = Date.now();
  const rand = rng(o.seed);
  const dir = mkdtempSync(join(tmpdir(), 'careline-crash-'));
  const services: Services = { postgres: null, redis: null };
  const nodes: Node[] = [];
  const clients: Client[] = [];
  const kills = Array.from({ length: o.nodes }, () => 0);
  try {
    if (o.backend === 'postgres') {
      services.postgres = await startPostgres();
      if (o.nodes > 1) services.redis = await startRedis();
    }
    // The first node creates the tenant (tenant.json); the others read it.
    nodes.push(await startServer(o, dir, 0, services, 0));
    nodes.push(...(await Promise.all(Array.from({ length: o.nodes - 1 }, (_, i) => startServer(o, dir, 0, services, i + 1)))));
    const ports = nodes.map((n) => Number(new URL(n.url).port));
    const server = nodes[0]!;
    // Setup through the public API.
    const call = async (method: string, path: string, body: unknown) => {
      const r = await fetch(server.url + path, { method, headers: { 'content-type': 'application/json', 'x-api-key': server.apiKey }, body: JSON.stringify(body) });
      const j = (await r.json()) as any;
      if (r.status !== 200) throw new Error(`${method} ${path} → ${r.status} ${JSON.stringify(j)}`);
      return j;
    };
    const n = Math.max(2, o.clients - (o.clients % 2));
    const users = Array.from({ length: n }, (_, i) => `cu${i}`);
    const tokens = await mapLimit(users, 16, async (u, i) => {
      await call('PUT', `/api/v2/management/users/${u}`, { role: i % 2 ? 'doctor' : 'patient', name: u });
      return (await call('POST', '/api/v2/users/login', { user_id: u })).token as string;
    });
    const group = (await call('POST', '/api/v2/sessions', { session_type: 3, parts: { team: 'crash-group' }, participants: users })).session.id as string;
    const pairs = await mapLimit(Array.from({ length: n / 2 }, (_, i) => i), 16, async (i) =>
      (await call('POST', '/api/v2/sessions', { session_type: 2, participants: [users[2 * i]!, users[2 * i + 1]!] })).session.id as string);
    const wsUrls = nodes.map((n) => n.url.replace(/^http/, 'ws') + '/ws');
    for (const [i, u] of users.entries()) {
      const c = new Client(u, tokens[i]!, [pairs[Math.floor(i / 2)]!, group], rng(o.seed + i + 1));
      c.urls = wsUrls;
      c.at = i % wsUrls.length; // the two sides of a pair on different nodes
      clients.push(c);
    }
    for (const c of clients) c.connect();

    for (let cycle = 1; cycle <= o.cycles; cycle++) {
      const up = o.minUpMs + rand() * (o.maxUpMs - o.minUpMs);
      await sleep(up);
      const k = nodes.length > 1 ? Math.floor(rand() * nodes.length) : 0; // one node: the same random sequence as ever
      const victim = nodes[k]!;
      victim.proc.kill('SIGKILL');
      await victim.proc.exited;
      kills[k]!++;
      o.onCycle?.(cycle);
      nodes[k] = await startServer(o, dir, ports[k]!, services, k);
    }

    // Quiesce: no new sends; every pending send is resent until acked.
    for (const c of clients) c.sending = false;
    const drained = await waitFor(() => clients.every((c) => c.outbox.size === 0), 60_000, 50);
    if (!drained) o.log(`crash test: ${clients.reduce((a, c) => a + c.outbox.size, 0)} sends still unacked after 60 s`);
    // Everyone collects the tail with one more sync.
    await waitFor(() => clients.every((c) => c.ws?.readyState === WebSocket.OPEN), 30_000, 50);
    for (const c of clients) c.resync();
    await waitFor(() => clients.every((c) => c.syncedAt > 0), 30_000, 50);
    await sleep(200);
    for (const c of clients) c.close();
    await Promise.all(nodes.map((n) => n.proc.stop(15_000)));

    // Check the database against the clients' records.
    const { rows, lastSeq } = await readStore(dir, services, server.tenantId);
    const search = await checkSearch(dir, services);

    const byClientId = new Map<string, typeof rows>();
    const seqs = new Map<string, Set<number>>();
    let duplicated = 0;
    for (const r of rows) {
      if (r.cid !== null) {
        const k = `${r.sender}\u0000${r.cid}`;
        const l = byClientId.get(k);
        if (l) {
          l.push(r);
          duplicated++;
        } else byClientId.set(k, [r]);
      }
      let s = seqs.get(r.conv);
      if (!s) seqs.set(r.conv, (s = new Set()));
      if (s.has(r.seq)) duplicated++;
      s.add(r.seq);
    }
    let gaps = 0;
    for (const [conv, s] of seqs) {
      const last = lastSeq.get(conv) ?? 0;
      for (let i = 1; i <= last; i++) if (!s.has(i)) gaps++;
      // A loop, not Math.max(...s): a long run stores more seqs than fit in call arguments.
      let max = 0;
      for (const seq of s) if (seq > max) max = seq;
      if (max > last) gaps++;
    }
    let acked = 0;
    let lost = 0;
    let ackMismatch = 0;
    const ackedKeys = new Set<string>();
    for (const c of clients) {
      for (const [key, a] of c.acked) {
        if (key.includes('#conflict')) {
          duplicated++;
          continue;
        }
        acked++;
        ackedKeys.add(`${c.user}\u0000${key}`);
        const stored = byClientId.get(`${c.user}\u0000${key}`);
        if (!stored) lost++;
        else if (stored[0]!.seq !== a.seq || stored[0]!.id !== a.id || stored[0]!.conv !== a.conv) ackMismatch++;
      }
    }
    let storedNotAcked = 0;
    for (const k of byClientId.keys()) if (!ackedKeys.has(k)) storedNotAcked++;
    let deliveryMissed = 0;
    let deliveryDuplicated = 0;
    for (const c of clients) {
      for (const conv of c.convs) {
        const got = c.got.get(conv)!;
        const last = lastSeq.get(conv) ?? 0;
        for (let s = 1; s <= last; s++) {
          const k = got.get(s) ?? 0;
          if (k === 0) deliveryMissed++;
          else if (k > 1) deliveryDuplicated += k - 1;
        }
      }
    }
    const sum = (k: keyof Client['stats']) => clients.reduce((a, c) => a + c.stats[k], 0);
    const r: CrashResult = {
      cycles: o.cycles, backend: o.backend, nodes: o.nodes, kills, sent: sum('sent'), acked, stored: rows.length, lost, duplicated, gaps, ackMismatch, storedNotAcked,
      deliveryMissed, deliveryDuplicated, refetched: sum('refetched'), gapSyncs: sum('gapSyncs'), resends: sum('resends'), duplicateAcks: sum('duplicateAcks'), reconnects: sum('reconnects'),
      errorFrames: sum('errorFrames'), errorSamples: clients.flatMap((c) => c.errorSamples).slice(0, 5), doubleSamples: clients.flatMap((c) => c.doubleSamples).slice(0, 5),
      search, seconds: Math.round((Date.now() - t0) / 100) / 10, ok: false,
    };
    r.ok = drained && r.lost === 0 && r.duplicated === 0 && r.gaps === 0 && r.ackMismatch === 0 && r.storedNotAcked === 0 && r.deliveryMissed === 0 && r.deliveryDuplicated === 0 && r.acked > 0
      && r.search.missing === 0 && r.search.extra === 0;
    return r;
  } finally {
    for (const c of clients) c.close();
    await Promise.all(nodes.map((n) => n.proc.stop(5000)));
    await services.redis?.stop();
    if (o.keep && services.postgres) o.log(`crash test: PostgreSQL stopped; its data went with its temp dir`);
    await services.postgres?.stop();
    if (!o.keep) rmSync(dir, { recursive: true, force: true });
    else o.log(`crash test: data kept in ${dir}`);
  }
}
