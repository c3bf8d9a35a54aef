/**
 * The baseline: a minimal relay written with `ws` alone — no auth, no validation, no
 * storage — that speaks just enough of Careline's frames for the bench's clients to run the
 * same workload against it. Its figures are the floor this machine sets for the work any
 * WebSocket server must do (parse, serialise, write to sockets); Careline's are reported as
 * a ratio to them.
 *
 * Connect: `/ws?user=U&c=conv1,conv2[&sync=1]` (the conversations the client is in; nothing
 * checked; with sync=1 it joins them when its first `sync` is answered).
 * `send` → a `message` frame (seq from an in-memory counter) to the room's other sockets
 * and an `ack` to the sender, in one synchronous pass. `sync` answers from an in-memory log
 * kept only with --log (the reconnect storm needs it). `ping` → `pong`. Plain HTTP
 * `GET /api/v2/sessions/:id/messages?before|after&limit` answers from in-memory arrays
 * filled by the `seed` IPC call (the history scenario).
 *
 * Tenant broadcasts (the broadcast scenario): `POST /api/v2/management/notifications` with
 * `{"target":{"tenant":true},…}` keeps the notification in an in-memory log, serialises one
 * `notification` frame and writes it to every connection in one synchronous pass (all
 * connections are one tenant). A `sync` with `notifications_after` first sends the log after
 * that id ("" = all of it), keeping of a `latest`-mode kind only the newest, as Careline's
 * inbox does; `PUT /api/v2/management/notification-kinds/:kind {mode}` names a kind's mode
 * (the built-in kinds have theirs). Nothing is checked and nothing is stored.
 *
 * With `--store` (the bench's `--baseline-store`) the same relay keeps what Careline must
 * keep, and nothing else: each message goes into a SQLite file (WAL, `synchronous=FULL`, a
 * table clustered by conversation and seq, a unique key on sender and client id) before its
 * ack and its delivery — the messages of one turn of the event loop in one transaction,
 * committed on the main thread at the end of the turn, while the next frames wait in the
 * sockets — and `sync` and the history read from that file; each history read is recorded
 * (hash-chained) in an audit table of the same file, committed before the answer, as Careline
 * records reads of patient conversations. It is what the durable-storage
 * targets leave when the server's own code (auth, validation, membership, audit, presence,
 * search, metrics) takes no time: a floor for Careline's figures with storage, where the
 * plain relay is the floor without.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { monitorEventLoopDelay, type ELDHistogram } from 'node:perf_hooks';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import { WebSocketServer, type WebSocket } from 'ws';
import { BuiltinNotificationKinds } from '@careline/protocol/constants';

const { values: a } = parseArgs({ options: { port: { type: 'string', default: '0' }, log: { type: 'boolean', default: false }, store: { type: 'boolean', default: false } } });

// ---- --store: the messages in SQLite ------------------------------------------------------
const storeDir = a.store ? mkdtempSync(join(tmpdir(), 'careline-bench-baseline-')) : null;
const db = storeDir ? new Database(join(storeDir, 'baseline.db')) : null;
if (db) {
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.exec(`CREATE TABLE messages (conversation_id TEXT NOT NULL, seq INTEGER NOT NULL, id TEXT NOT NULL, sender_id TEXT NOT NULL,
    type INTEGER NOT NULL, content TEXT, client_id TEXT, created_at INTEGER NOT NULL, PRIMARY KEY (conversation_id, seq)) WITHOUT ROWID;
    CREATE UNIQUE INDEX messages_client_id ON messages (sender_id, client_id) WHERE client_id IS NOT NULL;
    CREATE TABLE audit (seq INTEGER PRIMARY KEY, at INTEGER NOT NULL, actor_id TEXT NOT NULL, action TEXT NOT NULL,
      conversation_id TEXT NOT NULL, detail TEXT, prev_hash TEXT NOT NULL, hash TEXT NOT NULL);`);
}
const COLS = 'id, conversation_id, seq, sender_id, type, content, client_id, created_at';
const insert = db?.prepare(`INSERT INTO messages (${COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`);
const after = db?.prepare(`SELECT ${COLS} FROM messages WHERE conversation_id = ? AND seq > ? ORDER BY seq LIMIT ?`);
const before = db?.prepare(`SELECT ${COLS} FROM messages WHERE conversation_id = ? AND seq < ? ORDER BY seq DESC LIMIT ?`);
const newest = db?.prepare(`SELECT ${COLS} FROM messages WHERE conversation_id = ? ORDER BY seq DESC LIMIT ?`);
interface Row { id: string; conversation_id: string; seq: number; sender_id: string; type: number; content: string | null; client_id: string | null; created_at: number }
const q = JSON.stringify;
/** A stored row as a message's JSON, its content spliced in as stored. */
const rowJson = (r: Row) => `{"id":${q(r.id)},"conversation_id":${q(r.conversation_id)},"seq":${r.seq},"sender_id":${q(r.sender_id)},"type":${r.type},"content":${r.content ?? 'null'},"client_id":${r.client_id === null ? 'null' : q(r.client_id)},"created_at":${r.created_at},"recalled_at":null,"forward":null}`;
/**
 * Items gathered over a turn of the event loop, committed in one transaction at its end
 * (while the next frames wait in the sockets), then answered — or all failed with the error.
 */
function perTurn<T>(commit: (items: T[]) => void, done: (items: T[]) => void, failed: (items: T[], err: unknown) => void): (item: T) => void {
  let items: T[] = [];
  const flush = () => {
    const xs = items;
    items = [];
    try {
      commit(xs);
    } catch (err) {
      failed(xs, err);
      return;
    }
    done(xs);
  };
  return (item) => {
    if (items.push(item) === 1) setImmediate(flush);
  };
}
interface Pending { room: Room; sender: Client; frameId: unknown; row: Row; frame: string }
/** A send, acked and delivered once its turn's transaction is committed. */
const queueSend = db ? perTurn<Pending>(
  db.transaction((ps: Pending[]) => {
    for (const p of ps) insert!.run(p.row.id, p.row.conversation_id, p.row.seq, p.row.sender_id, p.row.type, p.row.content, p.row.client_id, p.row.created_at);
  }),
  // Delivered to the members at commit: a client that joined meanwhile (its sync read the
  // file before this commit) gets it live, once.
  (ps) => {
    for (const p of ps) {
      for (const m of p.room.members) {
        if (m === p.sender) m.ws.send(JSON.stringify({ type: 'ack', id: p.frameId, conversation_id: p.room.id, message_id: p.row.id, seq: p.row.seq, created_at: p.row.created_at, duplicate: false }));
        else m.ws.send(p.frame);
      }
    }
  },
  (ps, err) => {
    for (const p of ps) p.sender.ws.send(JSON.stringify({ type: 'error', id: p.frameId, code: 'server.unavailable', message: String(err) }));
  },
) : null;

interface Room {
  id: string;
  seq: number;
  members: Set<Client>;
  log: string[];
}
interface Client {
  ws: WebSocket;
  user: string;
  rooms: Room[];
}

const rooms = new Map<string, Room>();
/** Every connection that gets tenant broadcasts (with sync=1: once its sync is answered). */
const everyone = new Set<Client>();
const keepLog = a.log;
let nextId = 0;
let connections = 0;

function room(id: string): Room {
  let r = rooms.get(id);
  if (!r) rooms.set(id, (r = { id, seq: 0, members: new Set(), log: [] }));
  return r;
}

// ---- history over plain HTTP -------------------------------------------------------------
const history = new Map<string, object[]>();

function onHttp(req: IncomingMessage, res: ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://x');
  if (req.method === 'POST' && url.pathname === '/api/v2/management/notifications') return void readBody(req).then((b) => broadcast(b, res));
  const k = url.pathname.match(/^\/api\/v2\/management\/notification-kinds\/([^/]+)$/);
  if (req.method === 'PUT' && k) return void readBody(req).then((b) => registerKind(decodeURIComponent(k[1]!), b, res));
  const m = url.pathname.match(/^\/api\/v2\/sessions\/([^/]+)\/messages$/);
  if (db && m) return storedHistory(decodeURIComponent(m[1]!), url, res);
  const list = m ? history.get(decodeURIComponent(m[1]!)) : undefined;
  if (!list) {
    res.writeHead(404, { 'content-type': 'application/json' }).end('{"code":"not_found"}');
    return;
  }
  const { limit, before, after } = pageParams(url);
  let page: object[];
  let hasMore: boolean;
  if (after !== null) {
    const from = Math.max(0, Number(after));
    page = list.slice(from, from + limit);
    hasMore = from + limit < list.length;
  } else {
    const end = before !== null ? Math.min(list.length, Number(before) - 1) : list.length;
    const start = Math.max(0, end - limit);
    page = list.slice(start, end);
    hasMore = start > 0;
  }
  res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' }).end(JSON.stringify({ messages: page, has_more: hasMore }));
}

/**
 * A read of a conversation is recorded before it is answered, as Careline audits reads of
 * patient conversations: the reads of one turn in one transaction, each record hash-chained
 * to the one before (SHA-256 of the record and the previous hash).
 */
const auditInsert = db?.prepare('INSERT INTO audit (at, actor_id, action, conversation_id, detail, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?)');
let auditHead = '0'.repeat(64);
interface Read { conv: string; detail: string; res: ServerResponse; body: string }
const queueRead = db ? perTurn<Read>(
  db.transaction((rs: Read[]) => {
    const at = Date.now();
    for (const x of rs) {
      const hash = createHash('sha256').update(`${auditHead}|${at}|reader|messages.history|${x.conv}|${x.detail}`).digest('hex');
      auditInsert!.run(at, 'reader', 'messages.history', x.conv, x.detail, auditHead, hash);
      auditHead = hash;
    }
  }),
  (rs) => {
    for (const x of rs) x.res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' }).end(x.body);
  },
  (rs, err) => {
    for (const x of rs) x.res.writeHead(503, { 'content-type': 'application/json' }).end(JSON.stringify({ code: 'server.unavailable', message: String(err) }));
  },
) : null;

/** A history request's page: its size and its cursors. */
function pageParams(url: URL): { limit: number; before: string | null; after: string | null } {
  return { limit: Math.min(Number(url.searchParams.get('limit') ?? 50), 200), before: url.searchParams.get('before'), after: url.searchParams.get('after') };
}

/** The history from the file: a page ascending by seq, one row more than asked telling whether there is more. */
function storedHistory(conv: string, url: URL, res: ServerResponse): void {
  const { limit, before: b, after: f } = pageParams(url);
  let rows: Row[];
  let hasMore: boolean;
  if (f !== null) {
    rows = after!.all(conv, Number(f), limit + 1) as Row[];
    hasMore = rows.length > limit;
    if (hasMore) rows.pop();
  } else {
    rows = (b !== null ? before!.all(conv, Number(b), limit + 1) : newest!.all(conv, limit + 1)) as Row[];
    hasMore = rows.length > limit;
    if (hasMore) rows.pop();
    rows.reverse();
  }
  const body = `{"messages":[${rows.map(rowJson).join(',')}],"has_more":${hasMore}}`;
  const detail = JSON.stringify({ before: b === null ? undefined : Number(b), after: f === null ? undefined : Number(f), limit, count: rows.length });
  queueRead!({ conv, detail, res, body });
}

// ---- tenant broadcasts ------------------------------------------------------------------------
interface Logged {
  id: string;
  kind: string;
  frame: string;
}
const notificationLog: Logged[] = [];
const kindModes = new Map<string, string>(Object.entries(BuiltinNotificationKinds));
let nextNotification = 0;

function readBody(req: IncomingMessage): Promise<any> {
  return new Promise((resolve) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => {
      try {
        resolve(JSON.parse(Buffer.concat(parts).toString() || '{}'));
      } catch {
        resolve({});
      }
    });
  });
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' }).end(JSON.stringify(body));
}

function registerKind(kind: string, b: any, res: ServerResponse): void {
  const mode = b.mode === 'latest' ? 'latest' : 'each';
  kindModes.set(kind, mode);
  json(res, 200, { kind: { kind, mode, builtin: false, created_at: Date.now() }, created: true });
}

/** Log it, serialise one frame, write it to every connection: one synchronous pass. */
function broadcast(b: any, res: ServerResponse): void {
  if (b.target?.tenant !== true) return json(res, 400, { code: 'notification.target_invalid', message: 'the baseline only broadcasts to the tenant' });
  const notification = {
    id: `n${String(++nextNotification).padStart(12, '0')}`, kind: String(b.kind), title: String(b.title), body: b.body ?? null, data: b.data ?? null,
    sender_id: b.sender_id ?? null, audience: 'tenant', audience_id: null, created_at: Date.now(), read_at: null,
  };
  const frame = JSON.stringify({ type: 'notification', kind: notification.kind, notification });
  notificationLog.push({ id: notification.id, kind: notification.kind, frame });
  for (const c of everyone) c.ws.send(frame);
  json(res, 200, { notification, recipients: everyone.size });
}

/** The log after `after` ("" = all), oldest first; of a `latest`-mode kind only its newest. */
function notificationsAfter(after: string): Logged[] {
  const newest = new Map<string, string>();
  for (const n of notificationLog) if (kindModes.get(n.kind) === 'latest') newest.set(n.kind, n.id);
  return notificationLog.filter((n) => n.id > after && (kindModes.get(n.kind) !== 'latest' || newest.get(n.kind) === n.id));
}

// ---- the relay -----------------------------------------------------------------------------
const http = createServer(onHttp);
const wss = new WebSocketServer({ server: http, path: '/ws', perMessageDeflate: false, clientTracking: false, maxPayload: 64 * 1024 });

wss.on('connection', (ws, req) => {
  const url = new URL(req.url ?? '/', 'http://x');
  const c: Client = { ws, user: url.searchParams.get('user') ?? 'anon', rooms: [] };
  for (const id of (url.searchParams.get('c') ?? '').split(',')) if (id) c.rooms.push(room(id));
  // With sync=1 the client joins its rooms when its sync is answered (in the same
  // synchronous pass), so catch-up and live messages neither overlap nor leave a hole.
  let joined = url.searchParams.get('sync') !== '1';
  if (joined) {
    for (const r of c.rooms) r.members.add(c);
    everyone.add(c);
  }
  connections++;
  ws.on('error', () => ws.terminate());
  ws.on('close', () => {
    connections--;
    for (const r of c.rooms) r.members.delete(c);
    everyone.delete(c);
  });
  ws.on('message', (data: Buffer) => {
    let f: any;
    try {
      f = JSON.parse(data.toString());
    } catch {
      return;
    }
    switch (f.type) {
      case 'send': {
        const r = rooms.get(f.conversation_id);
        if (!r) return ws.send(JSON.stringify({ type: 'error', id: f.id, code: 'conversation.not_found', message: 'no such room' }));
        const seq = ++r.seq;
        const now = Date.now();
        const id = `m${(++nextId).toString(36)}`;
        if (db) {
          const content = JSON.stringify(f.message.content ?? null);
          const row: Row = { id, conversation_id: r.id, seq, sender_id: c.user, type: f.message.type, content, client_id: f.message.client_id ?? null, created_at: now };
          queueSend!({ room: r, sender: c, frameId: f.id, row, frame: `{"type":"message","message":${rowJson(row)}}` });
          return;
        }
        const message = {
          id, conversation_id: r.id, seq, sender_id: c.user, type: f.message.type, content: f.message.content,
          client_id: f.message.client_id ?? null, created_at: now, recalled_at: null, forward: null,
        };
        const frame = JSON.stringify({ type: 'message', message });
        if (keepLog) r.log.push(frame);
        for (const m of r.members) {
          if (m === c) ws.send(JSON.stringify({ type: 'ack', id: f.id, conversation_id: r.id, message_id: id, seq, created_at: now, duplicate: false }));
          else m.ws.send(frame);
        }
        return;
      }
      case 'sync': {
        if (!joined) {
          joined = true;
          for (const r of c.rooms) r.members.add(c);
          everyone.add(c);
        }
        let sent = 0;
        for (const r of c.rooms) {
          const cur = f.cursors?.[r.id];
          if (typeof cur !== 'number') continue;
          if (db) {
            for (const row of after!.all(r.id, cur, 1_000_000) as Row[]) {
              ws.send(`{"type":"message","message":${rowJson(row)}}`);
              sent++;
            }
            continue;
          }
          for (let s = cur + 1; s <= r.log.length; s++) {
            ws.send(r.log[s - 1]!);
            sent++;
          }
        }
        let notifications: object | undefined;
        if (typeof f.notifications_after === 'string') {
          const list = notificationsAfter(f.notifications_after);
          for (const n of list) ws.send(n.frame);
          const all = notificationsAfter('');
          const kinds: Record<string, number> = {};
          for (const n of all) kinds[n.kind] = (kinds[n.kind] ?? 0) + 1;
          notifications = { last_id: notificationLog[notificationLog.length - 1]?.id ?? null, sent: list.length, unread: { total: all.length, kinds } };
        }
        ws.send(JSON.stringify({
          type: 'sync_done', id: f.id, server_time: Date.now(), sent,
          conversations: c.rooms.map((r) => ({ id: r.id, last_seq: r.seq, read_seq: 0 })),
          ...(notifications ? { notifications } : {}),
        }));
        return;
      }
      case 'ping':
        ws.send(JSON.stringify({ type: 'pong', id: f.id, server_time: Date.now() }));
        return;
    }
  });
  ws.send(JSON.stringify({ type: 'hello', connection_id: `c${connections}`, user: { id: c.user }, server_time: Date.now(), heartbeat_ms: 25_000, max_frame_bytes: 65_536 }));
});

const gc = (globalThis as { gc?: () => void }).gc;
/** The event loop's delay between `loop.start` and `loop.stop` (the same IPC calls as bench/server.ts). */
let loop: ELDHistogram | null = null;
process.on('message', (m: any) => {
  if (!m || typeof m.id !== 'number') return;
  const reply = (result: unknown) => process.send?.({ id: m.id, result });
  switch (m.method) {
    case 'mem':
      if (gc) {
        gc();
        gc();
      }
      return reply({ ...process.memoryUsage(), gc: !!gc, connections });
    case 'stats':
      return reply({ connections, pending: 0, ...(db ? { stored: (db.prepare('SELECT count(*) AS n FROM messages').get() as { n: number }).n, audited: (db.prepare('SELECT count(*) AS n FROM audit').get() as { n: number }).n } : {}) });
    case 'notificationRows':
      // Nothing is stored: the log is in memory.
      return reply(null);
    case 'loop.start':
      loop?.disable();
      loop = monitorEventLoopDelay({ resolution: 1 });
      loop.enable();
      return reply(null);
    case 'loop.stop': {
      if (!loop) return reply(null);
      loop.disable();
      const r = { p50: loop.percentile(50) / 1e6, p99: loop.percentile(99) / 1e6, max: loop.max / 1e6 };
      loop = null;
      return reply(r);
    }
    case 'seed': {
      const t0 = performance.now();
      const p = m.params as { sender: string; conversations: [string, number][] };
      let time = Date.now() - 90 * 86_400_000;
      let rows = 0;
      const texts = ['Good morning doctor, my blood pressure today is 135/85.', 'Thank you. Please keep measuring twice a day and send me the readings on Friday.', 'ok', 'I took the medicine after breakfast as you said, no side effects so far, but I feel a bit tired in the afternoon.', 'See you at the follow-up visit next week.'];
      if (db) {
        const seedTx = db.transaction((rowsOf: Row[]) => {
          for (const x of rowsOf) insert!.run(x.id, x.conversation_id, x.seq, x.sender_id, x.type, x.content, x.client_id, x.created_at);
        });
        for (const [conv, count] of p.conversations) {
          for (let from = 0; from < count; from += 5000) {
            const batch: Row[] = [];
            for (let i = from; i < Math.min(count, from + 5000); i++) {
              time += 3;
              batch.push({ id: `S${(rows++).toString(36)}`, conversation_id: conv, seq: i + 1, sender_id: p.sender, type: 1, content: JSON.stringify({ text: texts[rows % texts.length] }), client_id: null, created_at: time });
            }
            seedTx(batch);
          }
          room(conv).seq = count;
        }
        return reply({ rows, ms: performance.now() - t0 });
      }
      for (const [conv, count] of p.conversations) {
        const list: object[] = new Array(count);
        for (let i = 0; i < count; i++) {
          time += 3;
          list[i] = {
            id: `S${(rows++).toString(36)}`, conversation_id: conv, seq: i + 1, sender_id: p.sender, type: 1, content: { text: texts[rows % texts.length] },
            client_id: null, created_at: time, recalled_at: null, forward: null,
          };
        }
        history.set(conv, list);
      }
      return reply({ rows, ms: performance.now() - t0 });
    }
    default:
      return process.send?.({ id: m.id, error: `unknown method ${m.method}` });
  }
});

const stop = () => {
  http.close();
  db?.close();
  if (storeDir) rmSync(storeDir, { recursive: true, force: true });
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.on('disconnect', stop);

http.listen(Number(a.port), '127.0.0.1', () => {
  const { port } = http.address() as AddressInfo;
  process.stdout.write(JSON.stringify({ ready: true, url: `http://127.0.0.1:${port}`, pid: process.pid, ...(storeDir ? { store: storeDir } : {}) }) + '\n');
});
