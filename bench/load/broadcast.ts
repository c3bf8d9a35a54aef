/**
 * Generator side of the broadcast scenario.
 *
 * - Receivers (`broadcast.connect`): users of the tenant, connected before the broadcasts.
 *   Each notes the notification ids it gets, in arrival order, and for each id the wall-clock
 *   time of every arrival (all processes share the clock), so the orchestrator can tell how
 *   long after its POST each user had it, and when the last one did.
 * - The host system (`broadcast.send`): the tenant broadcasts, POSTed one after the other
 *   with the API key, each timed from its request to its response (stored).
 * - Offline users (`broadcast.catchup`): users who were not connected come back with
 *   `?sync=1` and a `sync` with `notifications_after: ""`, as the SDK does on its first
 *   connect; each is timed from its connect to its `sync_done`.
 *
 * `broadcast.verify` checks every client against the ids it should have: each exactly once,
 * in id order (a client keeps the newest id as its catch-up cursor, so order matters).
 */
import { Agent, request } from 'node:http';
import type WebSocket from 'ws';
import { Histogram } from '../lib/hist.ts';
import { tally, wallMs } from '../lib/util.ts';
import { connect } from './client.ts';

interface Member {
  ws: WebSocket | null;
  /** Notification ids in arrival order. */
  got: string[];
  /** Catch-up clients: connect started, sync_done received (wall ms), and what it reported. */
  startAt: number;
  syncDoneAt: number;
  reportedSent: number;
  reportedUnread: number;
  onSyncDone: (() => void) | null;
}

const NOTE = Buffer.from('{"type":"notification"');
const NOTE_ID = Buffer.from('"notification":{"id":"');
const SYNC_DONE = Buffer.from('{"type":"sync_done"');

let members: Member[] = [];
/** Notification id → wall-clock arrival times, one per delivery. */
let arrivals = new Map<string, number[]>();
let deliveries = 0;
let closes = 0;
let errors = 0;
const errorSamples: string[] = [];

function onData(m: Member, data: Buffer): void {
  if (data.indexOf(NOTE) === 0) {
    const at = wallMs();
    const i = data.indexOf(NOTE_ID);
    if (i < 0) return;
    const start = i + NOTE_ID.length;
    const id = data.toString('latin1', start, data.indexOf(34, start));
    m.got.push(id);
    let list = arrivals.get(id);
    if (!list) arrivals.set(id, (list = []));
    list.push(at);
    deliveries++;
    return;
  }
  if (data.indexOf(SYNC_DONE) === 0) {
    m.syncDoneAt = wallMs();
    const f = JSON.parse(data.toString()) as { notifications?: { sent: number; unread: { total: number } } };
    m.reportedSent = f.notifications?.sent ?? -1;
    m.reportedUnread = f.notifications?.unread.total ?? -1;
    m.onSyncDone?.();
    return;
  }
  if (data.indexOf('"type":"error"') >= 0) {
    errors++;
    const f = JSON.parse(data.toString()) as { code?: string; message?: string };
    if (errorSamples.length < 5) errorSamples.push(`${f.code}: ${f.message}`);
  }
}

const newMember = (): Member => ({ ws: null, got: [], startAt: 0, syncDoneAt: 0, reportedSent: 0, reportedUnread: 0, onSyncDone: null });

/** Opens `urls` with `concurrency` in flight; `sync`: send the notification catch-up on open and wait for sync_done. */
async function openAll(urls: string[], o: { concurrency: number; localAddress?: string; sync: boolean; timeoutMs: number }): Promise<{ opened: number; failed: number; samples: string[]; latency: Histogram }> {
  const list = urls.map(newMember);
  members.push(...list);
  const h = new Histogram();
  const samples: string[] = [];
  let failed = 0;
  let next = 0;
  const lane = async () => {
    while (next < urls.length) {
      const i = next++;
      const m = list[i]!;
      m.startAt = wallMs();
      let timer: NodeJS.Timeout | undefined;
      const synced = new Promise<boolean>((resolve) => {
        m.onSyncDone = () => resolve(true);
        timer = setTimeout(() => resolve(false), o.timeoutMs);
      });
      try {
        m.ws = await connect(urls[i]!, {
          localAddress: o.localAddress,
          timeoutMs: o.timeoutMs,
          onOpen: o.sync ? (ws) => ws.send('{"type":"sync","id":"s1","cursors":{},"notifications_after":""}') : undefined,
          onData: (d) => onData(m, d),
          onClose: () => {
            closes++;
            m.ws = null;
            m.onSyncDone?.();
          },
        });
        if (o.sync) {
          await synced;
          if (m.syncDoneAt === 0) throw new Error(m.ws ? 'no sync_done in time' : 'closed before sync_done');
          h.record(m.syncDoneAt - m.startAt);
        } else h.record(wallMs() - m.startAt);
      } catch (err) {
        failed++;
        if (samples.length < 3) samples.push(String((err as Error).message));
      } finally {
        clearTimeout(timer);
        m.onSyncDone = null;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(o.concurrency, urls.length) }, lane));
  return { opened: list.filter((m) => m.ws).length, failed, samples, latency: h };
}

function post(agent: Agent, url: URL, path: string, apiKey: string, body: unknown): Promise<{ status: number; body: string }> {
  const data = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request({
      agent, host: url.hostname, port: url.port, path, method: 'POST',
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data), 'x-api-key': apiKey },
    }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(data);
  });
}

export const broadcastHandlers = {
  /** Connects the receivers (before any broadcast). */
  async 'broadcast.connect'(p: { urls: string[]; concurrency: number; localAddress?: string }) {
    const t0 = performance.now();
    const r = await openAll(p.urls, { concurrency: p.concurrency, localAddress: p.localAddress, sync: false, timeoutMs: 30_000 });
    return { opened: r.opened, failed: r.failed, samples: r.samples, ms: performance.now() - t0, latency: r.latency.toJSON() };
  },

  /**
   * The host system: `count` tenant broadcasts, one after the other (each POST once the
   * previous one answered). Per broadcast: its id, when it was sent (wall ms) and the POST's latency.
   */
  async 'broadcast.send'(p: { base: string; apiKey: string; kind: string; count: number; label: string; startAt?: number }) {
    if (p.startAt) await new Promise((r) => setTimeout(r, Math.max(0, p.startAt! - wallMs())));
    const url = new URL(p.base);
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const sent: { id: string; sentAt: number; ms: number; recipients: number }[] = [];
    try {
      for (let n = 0; n < p.count; n++) {
        const body = {
          kind: p.kind, target: { tenant: true }, title: `Clinic notice ${p.label} ${n + 1}: maintenance tonight 22:00–23:00`,
          body: 'The app and video consultations are unavailable during maintenance. Messages sent meanwhile are delivered afterwards.',
          data: { series: p.label, n: n + 1, link: 'https://clinic.example/notices/maintenance' },
        };
        const sentAt = wallMs();
        const s = performance.now();
        const r = await post(agent, url, '/api/v2/management/notifications', p.apiKey, body);
        const ms = performance.now() - s;
        if (r.status !== 200) throw new Error(`POST /api/v2/management/notifications → ${r.status} ${r.body.slice(0, 300)}`);
        const j = JSON.parse(r.body) as { notification: { id: string }; recipients: number };
        sent.push({ id: j.notification.id, sentAt, ms, recipients: j.recipients });
      }
    } finally {
      agent.destroy();
    }
    return { sent };
  },

  /**
   * Deliveries so far of the given notifications: per id, how many and the last arrival;
   * with `sentAt` (id → wall ms of its POST), a histogram of arrival − POST over the deliveries.
   */
  'broadcast.status'(p: { ids: string[]; sentAt?: Record<string, number> }) {
    const per = p.ids.map((id) => {
      const list = arrivals.get(id) ?? [];
      let last = 0;
      for (const t of list) if (t > last) last = t;
      let hist = null;
      if (p.sentAt?.[id] !== undefined) {
        const h = new Histogram();
        const t0 = p.sentAt[id]!;
        for (const t of list) h.record(Math.max(0, t - t0));
        hist = h.toJSON();
      }
      return { id, count: list.length, last, hist };
    });
    return { per, deliveries, open: members.filter((m) => m.ws).length, closes, errors, errorSamples };
  },

  /**
   * Every client checked against `expected` (ids in id order): missing, duplicated, not in
   * id order (an id older than one received before it), unknown (not expected).
   */
  'broadcast.verify'(p: { expected: string[] }) {
    const want = new Set(p.expected);
    let complete = 0;
    let missing = 0;
    let duplicated = 0;
    let outOfOrder = 0;
    let unknown = 0;
    let clientsMissing = 0;
    let sentMismatch = 0;
    for (const m of members) {
      const seen = new Map<string, number>();
      let prev = '';
      let bad = false;
      for (const id of m.got) {
        seen.set(id, (seen.get(id) ?? 0) + 1);
        if (!want.has(id)) {
          unknown++;
          bad = true;
        }
        if (id <= prev) {
          outOfOrder++;
          bad = true;
        }
        if (id > prev) prev = id;
      }
      const { missing: miss, duplicated: dup } = tally(p.expected, (id) => seen.get(id) ?? 0);
      if (dup) bad = true;
      duplicated += dup;
      missing += miss;
      if (miss) clientsMissing++;
      if (m.syncDoneAt > 0 && m.reportedSent !== -1 && m.reportedSent !== m.got.filter((id) => want.has(id)).length) sentMismatch++;
      if (!bad && miss === 0) complete++;
    }
    return { clients: members.length, complete, missing, clientsMissing, duplicated, outOfOrder, unknown, sentMismatch, closes, errors, errorSamples };
  },

  /**
   * Offline users come back: each connects with ?sync=1 and a notification catch-up (`""`:
   * the unread items), `concurrency` at a time; timed from the connect to `sync_done`.
   */
  async 'broadcast.catchup'(p: { urls: string[]; concurrency: number; localAddress?: string; timeoutMs: number }) {
    const t0 = performance.now();
    const r = await openAll(p.urls, { concurrency: p.concurrency, localAddress: p.localAddress, sync: true, timeoutMs: p.timeoutMs });
    const unread = members.filter((m) => m.syncDoneAt > 0).map((m) => m.reportedUnread);
    return {
      opened: r.opened, failed: r.failed, samples: r.samples, ms: performance.now() - t0, latency: r.latency.toJSON(),
      unreadMin: unread.length ? Math.min(...unread) : NaN, unreadMax: unread.length ? Math.max(...unread) : NaN,
    };
  },

  'broadcast.close'() {
    for (const m of members) m.ws?.terminate();
    members = [];
    arrivals = new Map();
    deliveries = 0;
    closes = 0;
    errors = 0;
    return null;
  },
};
