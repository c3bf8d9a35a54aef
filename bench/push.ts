/**
 * The push scenario of `npm run bench` (`--only push`): N offline users (default 10,000),
 * each with one install registered through the REST API (half APNs, half FCM), each receive
 * one message from their doctor. The Careline server runs in its own process
 * (`bench/push-server.ts`, SQLite) and sends the pushes to the local APNs (HTTP/2 over TLS)
 * and FCM (HTTP v1 over TLS) of the push tests (`packages/server/test/push/support/`), which
 * check every request as the vendors do. Measured:
 *
 * - push requests/s accepted by the two servers, from the first to the last request;
 * - time from a message's commit (its `created_at`) to its push request arriving, p50/p99;
 * - each message pushed exactly once (lost and doubled counted);
 * - chat latency between online users (SDK over WebSocket) before the pushes and while they
 *   are sent, p50/p99: what the push work costs the people chatting.
 *
 * The baseline, in the same run, is a bare loop that sends the same requests (the same
 * bodies and headers, one HTTP/2 session to APNs, keep-alive HTTPS to FCM, the same
 * concurrency as Careline's push workers) to the same local servers.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createPrivateKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http2 from 'node:http2';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { CarelineClient } from '@careline/sdk';
import { apnsBody } from '../packages/server/src/push/apns.ts';
import { FcmSender } from '../packages/server/src/push/fcm.ts';
import type { PushNotification } from '../packages/server/src/push/vendor.ts';
import { startFakeApns, type FakeApns } from '../packages/server/test/push/support/fake-apns.ts';
import { startFakeFcm, type FakeFcm } from '../packages/server/test/push/support/fake-fcm.ts';

export interface PushBenchOptions {
  /** Offline users, one message and one install each (default 10,000). */
  users: number;
  /** Doctors sending the messages (default 100). */
  doctors: number;
  /** Messages sent per second (open loop, default 1000). */
  sendRate: number;
  /** Careline's `push.workers`, and the baseline's concurrency (default 16). */
  workers: number;
  /** Online patient/doctor pairs chatting over WebSocket (default 20). */
  chatPairs: number;
  /** Their messages per second, in total (default 50). */
  chatRate: number;
  /** The chat-only phase before the pushes (default 5000 ms). */
  quietMs: number;
  /** Longest wait for every push (default 180,000 ms). */
  timeoutMs: number;
  log?: (line: string) => void;
}

export const PUSH_DEFAULTS: PushBenchOptions = { users: 10_000, doctors: 100, sendRate: 1000, workers: 16, chatPairs: 20, chatRate: 50, quietMs: 5000, timeoutMs: 180_000 };

export interface Pct { n: number; p50: number; p99: number; max: number }

export interface PushBenchResult {
  users: number;
  workers: number;
  careline: {
    /** Push requests accepted (APNs + FCM). */
    pushes: number;
    apns: number;
    fcm: number;
    /** Accepted push requests per second, first to last. */
    reqPerSec: number;
    /** Commit → push request arrival, ms. */
    delayMs: Pct;
    /** Messages sent per second (what was offered). */
    sendPerSec: number;
    lost: number;
    doubled: number;
    /** Requests a vendor server refused as malformed (should be 0). */
    rejected: number;
  };
  chat: { quiet: Pct; duringPush: Pct };
  baseline: { pushes: number; reqPerSec: number; rejected: number };
  setupSeconds: number;
}

const KEY_ID = 'BENCHKEY01';
const TEAM_ID = 'BENCHTEAM1';
const TOPIC = 'org.careline.bench';
const PROJECT = 'careline-bench';
const EMAIL = 'push@careline-bench.iam.gserviceaccount.com';
const ADMIN = 'push-bench-admin-token';
const TITLE = 'New message from your care team';

export function pct(values: number[]): Pct {
  if (!values.length) return { n: 0, p50: 0, p99: 0, max: 0 };
  const s = [...values].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
  return { n: s.length, p50: round(at(0.5)), p99: round(at(0.99)), max: round(s[s.length - 1]!) };
}
const round = (x: number) => Math.round(x * 10) / 10;

/** Runs `fn` over `items`, `n` at a time. */
async function pool<T>(items: readonly T[], n: number, fn: (item: T, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i]!, i);
    }
  }));
}

/** Records the arrival time (ms since the epoch) of every request a vendor server accepts, by message id. */
function arrivals<T>(list: T[], idOf: (x: T) => string): Map<string, number[]> {
  const seen = new Map<string, number[]>();
  const push = list.push.bind(list);
  list.push = (...items: T[]) => {
    const now = Date.now();
    for (const x of items) {
      const id = idOf(x);
      const l = seen.get(id);
      if (l) l.push(now);
      else seen.set(id, [now]);
    }
    return push(...items);
  };
  return seen;
}

interface Server {
  url: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

function startServer(config: Record<string, unknown>): Promise<Server> {
  const script = fileURLToPath(new URL('./push-server.ts', import.meta.url));
  const child = spawn(process.execPath, [script], { env: { ...process.env, PUSH_BENCH_CONFIG: JSON.stringify(config) }, stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    const timer = setTimeout(() => reject(new Error('push bench: the server did not start in 60 s')), 60_000);
    child.once('exit', (code) => reject(new Error(`push bench: the server exited (${code})`)));
    lines.on('line', (line) => {
      try {
        const m = JSON.parse(line) as { ready?: boolean; url?: string };
        if (!m.ready || !m.url) return;
        clearTimeout(timer);
        resolve({
          url: m.url, child,
          async stop() {
            if (child.exitCode === null && child.pid) process.kill(child.pid, 'SIGTERM');
            const kill = setTimeout(() => child.pid && child.exitCode === null && process.kill(child.pid, 'SIGKILL'), 15_000);
            await exited;
            clearTimeout(kill);
          },
        });
      } catch {
        /* not our line */
      }
    });
  });
}

async function call(base: string, method: string, path: string, o: { body?: unknown; apiKey?: string; token?: string; admin?: boolean } = {}): Promise<any> {
  const headers: Record<string, string> = {};
  if (o.body !== undefined) headers['content-type'] = 'application/json';
  if (o.apiKey) headers['x-api-key'] = o.apiKey;
  if (o.token) headers.authorization = `Bearer ${o.token}`;
  if (o.admin) headers['x-admin-token'] = ADMIN;
  const res = await fetch(base + path, { method, headers, body: o.body === undefined ? undefined : JSON.stringify(o.body), signal: AbortSignal.timeout(30_000) });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`${method} ${path} → ${res.status} ${text.slice(0, 300)}`);
  return JSON.parse(text);
}

const apnsToken = (i: number) => i.toString(16).padStart(64, '0');
const fcmToken = (i: number) => `bench${i}:APA91b${'Q'.repeat(60)}`;

/** A chat loop between online pairs: `rate` messages/s round-robin, each carrying its send time (the receivers measure). */
function chatLoop(pairs: { from: CarelineClient; conv: string }[], rate: number): { stop(): Promise<void> } {
  const pending = new Set<Promise<unknown>>();
  let i = 0;
  const timer = setInterval(() => {
    const p = pairs[i++ % pairs.length]!;
    const sent: Promise<unknown> = p.from.send(p.conv, { type: 1, content: { text: `t=${performance.now()}` } }).catch(() => {}).finally(() => pending.delete(sent));
    pending.add(sent);
  }, 1000 / rate);
  return {
    async stop() {
      clearInterval(timer);
      await Promise.all(pending);
      await new Promise((r) => setTimeout(r, 200));
    },
  };
}

export async function runPushBench(opts: Partial<PushBenchOptions> = {}): Promise<PushBenchResult> {
  const o: PushBenchOptions = { ...PUSH_DEFAULTS, ...opts };
  const log = o.log ?? (() => {});
  const dir = mkdtempSync(join(tmpdir(), 'careline-push-bench-'));
  const ec = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  let apns: FakeApns | undefined;
  let fcm: FakeFcm | undefined;
  let server: Server | undefined;
  const clients: CarelineClient[] = [];
  try {
    apns = await startFakeApns({ publicKey: ec.publicKey, keyId: KEY_ID, teamId: TEAM_ID, topic: TOPIC });
    fcm = await startFakeFcm({ publicKey: rsa.publicKey, clientEmail: EMAIL, projectId: PROJECT });
    const keyFile = join(dir, 'AuthKey.p8');
    writeFileSync(keyFile, ec.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    writeFileSync(join(dir, 'apns-ca.pem'), apns.ca);
    writeFileSync(join(dir, 'fcm-ca.pem'), fcm.ca);
    const serviceAccountFile = join(dir, 'service-account.json');
    writeFileSync(serviceAccountFile, JSON.stringify({
      type: 'service_account', project_id: PROJECT, private_key_id: 'k1', client_email: EMAIL,
      private_key: rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }), token_uri: fcm.tokenUrl,
    }));
    server = await startServer({
      http: { port: 0 }, log: { level: 'warn' }, auth: { adminToken: ADMIN },
      storage: { sqlitePath: join(dir, 'careline.db') }, rateLimit: { enabled: false },
      push: {
        workers: o.workers, pollMs: 50, retryBaseMs: 200, retryMaxMs: 2000,
        apns: { url: apns.url, keyFile, keyId: KEY_ID, teamId: TEAM_ID, topic: TOPIC, caFile: join(dir, 'apns-ca.pem') },
        fcm: { serviceAccountFile, url: fcm.url, caFile: join(dir, 'fcm-ca.pem') },
      },
    });
    const base = server.url;

    // Setup through the API, as an integrator and its apps would.
    const t0 = Date.now();
    const tenant = `bench${Date.now().toString(36)}`;
    await call(base, 'POST', '/api/v2/admin/tenants', { admin: true, body: { id: tenant, name: 'Push bench' } });
    const { api_key: apiKey } = await call(base, 'POST', `/api/v2/admin/tenants/${tenant}/apps`, { admin: true, body: { name: 'bench' } });
    const upsert = (id: string, role: string) => call(base, 'PUT', `/api/v2/management/users/${id}`, { apiKey, body: { role, name: id } });
    const login = async (id: string): Promise<string> => (await call(base, 'POST', '/api/v2/users/login', { apiKey, body: { user_id: id } })).token;
    const conversation = async (a: string, b: string): Promise<string> =>
      (await call(base, 'POST', '/api/v2/sessions', { apiKey, body: { session_type: 2, participants: [a, b] } })).session.id;
    const doctors = Array.from({ length: o.doctors }, (_, i) => `doc-${i}`);
    await pool(doctors, 16, (d) => upsert(d, 'doctor'));
    const patients = Array.from({ length: o.users }, (_, i) => ({ id: `pat-${i}`, conv: '', doctor: doctors[i % doctors.length]! }));
    let done = 0;
    await pool(patients, 16, async (p, i) => {
      await upsert(p.id, 'patient');
      const token = await login(p.id);
      const vendor = i % 2 === 0 ? 'apns' : 'fcm';
      await call(base, 'POST', '/api/v2/devices', {
        token, body: { device_id: `install-${i}`, os_type: vendor === 'apns' ? 1 : 2, vendor, push_token: vendor === 'apns' ? apnsToken(i) : fcmToken(i), device_info: { model: 'bench' } },
      });
      p.conv = await conversation(p.id, p.doctor);
      if (++done % 2000 === 0) log(`push bench: ${done} of ${o.users} users set up`);
    });
    const pairs: { from: CarelineClient; conv: string }[] = [];
    const latencies: number[] = [];
    for (let i = 0; i < o.chatPairs; i++) {
      const [a, b] = [`online-pat-${i}`, `online-doc-${i}`];
      await upsert(a, 'patient');
      await upsert(b, 'doctor');
      const conv = await conversation(a, b);
      const from = new CarelineClient({ url: base, token: await login(a) });
      const to = new CarelineClient({ url: base, token: await login(b) });
      clients.push(from, to);
      to.on('message', (m: { sender_id: string; content: { text?: string } | null }) => {
        const t = /^t=([\d.]+)$/.exec(m.content?.text ?? '');
        if (m.sender_id === a && t) latencies.push(performance.now() - Number(t[1]));
      });
      await Promise.all([from.connect(), to.connect()]);
      pairs.push({ from, conv });
    }
    const setupSeconds = Math.round((Date.now() - t0) / 1000);
    log(`push bench: set up in ${setupSeconds} s; chat alone for ${o.quietMs} ms`);

    // Chat alone.
    const runChat = async (whileFn: () => Promise<void>) => {
      latencies.length = 0;
      const loop = chatLoop(pairs, o.chatRate);
      await whileFn();
      await loop.stop();
      return latencies.splice(0);
    };
    const quiet = pairs.length ? await runChat(() => new Promise((r) => setTimeout(r, o.quietMs))) : [];

    // The pushes, with the chat going on.
    const apnsAt = arrivals(apns.delivered, (x) => String(x.headers['apns-collapse-id']));
    const fcmAt = arrivals(fcm.delivered, (x) => String(x.message?.data?.message_id));
    const committed = new Map<string, number>();
    let sendPerSec = 0;
    const during = await runChat(async () => {
      const start = Date.now();
      const interval = 1000 / o.sendRate;
      const inflight = new Set<Promise<void>>();
      for (let i = 0; i < patients.length; i++) {
        const due = start + i * interval;
        const wait = due - Date.now();
        if (wait > 1) await new Promise((r) => setTimeout(r, wait));
        while (inflight.size >= 256) await Promise.race(inflight);
        const p = patients[i]!;
        const req: Promise<void> = call(base, 'POST', `/api/v2/sessions/${p.conv}/messages`, { apiKey, body: { type: 1, content: { text: 'Your results are in.' }, sender_id: p.doctor } })
          .then((r) => {
            committed.set(r.message.id, r.message.created_at);
          })
          .finally(() => inflight.delete(req));
        inflight.add(req);
      }
      await Promise.all(inflight);
      sendPerSec = Math.round(patients.length / ((Date.now() - start) / 1000));
      log(`push bench: ${patients.length} messages sent (${sendPerSec}/s); waiting for their pushes`);
      const deadline = Date.now() + o.timeoutMs;
      while (apnsAt.size + fcmAt.size < committed.size && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      await new Promise((r) => setTimeout(r, 500));
    });

    const delays: number[] = [];
    const times: number[] = [];
    let doubled = 0;
    let lost = 0;
    for (const [id, at] of committed) {
      const got = apnsAt.get(id) ?? fcmAt.get(id);
      if (!got) {
        lost++;
        continue;
      }
      if (got.length > 1) doubled += got.length - 1;
      delays.push(got[0]! - at);
      times.push(...got);
    }
    const span = times.length > 1 ? (Math.max(...times) - Math.min(...times)) / 1000 : 0;
    const pushes = apns.delivered.length + fcm.delivered.length;
    const careline = {
      pushes, apns: apns.delivered.length, fcm: fcm.delivered.length, reqPerSec: span > 0 ? Math.round(pushes / span) : 0, delayMs: pct(delays), sendPerSec, lost, doubled,
      rejected: apns.rejected.length + fcm.rejected.length,
    };
    log(`push bench: Careline ${careline.reqPerSec} pushes/s, commit → push p50 ${careline.delayMs.p50} ms, p99 ${careline.delayMs.p99} ms; now the baseline`);
    for (const c of clients.splice(0)) await c.close();
    await server.stop();
    server = undefined;

    // The baseline: the same requests, a bare loop.
    const before = apns.delivered.length + fcm.delivered.length;
    const rejectedBefore = apns.rejected.length + fcm.rejected.length;
    const baseline = await bareLoop({ apns, fcm, ec: ec.privateKey, rsa: rsa.privateKey, n: o.users, concurrency: o.workers, tenant });
    return {
      users: o.users, workers: o.workers, careline, chat: { quiet: pct(quiet), duringPush: pct(during) }, setupSeconds,
      baseline: { pushes: apns.delivered.length + fcm.delivered.length - before, reqPerSec: baseline, rejected: apns.rejected.length + fcm.rejected.length - rejectedBefore },
    };
  } finally {
    for (const c of clients) await c.close().catch(() => {});
    await server?.stop();
    await apns?.stop();
    await fcm?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

const b64 = (x: unknown) => Buffer.from(JSON.stringify(x)).toString('base64url');

/** The baseline: `n` pushes (half APNs, half FCM, as Careline sent them), `concurrency` at a time; returns requests/s. */
async function bareLoop(o: { apns: FakeApns; fcm: FakeFcm; ec: KeyObject; rsa: KeyObject; n: number; concurrency: number; tenant: string }): Promise<number> {
  const iat = Math.floor(Date.now() / 1000);
  const head = `${b64({ alg: 'ES256', kid: KEY_ID })}.${b64({ iss: TEAM_ID, iat })}`;
  const jwt = `${head}.${sign('sha256', Buffer.from(head), { key: createPrivateKey(o.ec.export({ type: 'pkcs8', format: 'pem' })), dsaEncoding: 'ieee-p1363' }).toString('base64url')}`;
  const assertionHead = `${b64({ alg: 'RS256', typ: 'JWT', kid: 'k1' })}.${b64({ iss: EMAIL, scope: 'https://www.googleapis.com/auth/firebase.messaging', aud: o.fcm.tokenUrl, iat, exp: iat + 3600 })}`;
  const assertion = `${assertionHead}.${sign('sha256', Buffer.from(assertionHead), o.rsa).toString('base64url')}`;
  const agent = new https.Agent({ keepAlive: true, maxSockets: o.concurrency, ca: o.fcm.ca });
  const post = (url: string, body: string, headers: Record<string, string>) => new Promise<{ status: number; text: string }>((resolve, reject) => {
    const req = https.request(url, { method: 'POST', agent, headers: { ...headers, 'content-length': Buffer.byteLength(body) } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
  const tok = await post(o.fcm.tokenUrl, new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion }).toString(), { 'content-type': 'application/x-www-form-urlencoded' });
  const access = (JSON.parse(tok.text) as { access_token: string }).access_token;
  const session = http2.connect(o.apns.url, { ca: o.apns.ca });
  await new Promise<void>((resolve, reject) => session.once('connect', () => resolve()).once('error', reject));
  const note = (i: number): PushNotification => ({
    collapse_id: `01BASELINE${String(i).padStart(16, '0')}`, title: TITLE, badge: 1, quiet: false,
    data: { tenant_id: o.tenant, conversation_id: `conv-${i}`, message_id: `01BASELINE${String(i).padStart(16, '0')}`, seq: 1 },
  });
  const fcmUrl = `${o.fcm.url}/v1/projects/${PROJECT}/messages:send`;
  const sendOne = async (i: number) => {
    const n = note(i);
    if (i % 2 === 0) {
      await new Promise<void>((resolve, reject) => {
        const req = session.request({
          ':method': 'POST', ':path': `/3/device/${apnsToken(i)}`, authorization: `bearer ${jwt}`, 'apns-topic': TOPIC, 'apns-push-type': 'alert',
          'apns-priority': '10', 'apns-collapse-id': n.collapse_id, 'apns-expiration': String(iat + 7 * 86_400), 'content-type': 'application/json',
        });
        req.on('response', () => {});
        req.on('data', () => {});
        req.on('end', () => resolve());
        req.on('error', reject);
        req.end(JSON.stringify(apnsBody(n)));
      });
    } else {
      await post(fcmUrl, JSON.stringify(FcmSender.body(fcmToken(i), n)), { authorization: `Bearer ${access}`, 'content-type': 'application/json' });
    }
  };
  const items = Array.from({ length: o.n }, (_, i) => i);
  const start = performance.now();
  await pool(items, o.concurrency, (i) => sendOne(i));
  const secs = (performance.now() - start) / 1000;
  session.close();
  agent.destroy();
  return Math.round(o.n / secs);
}

/** The scenario's table, for the terminal and the results' markdown. */
export function pushTable(r: PushBenchResult): string {
  const c = r.careline;
  const ratio = r.baseline.reqPerSec > 0 ? (c.reqPerSec / r.baseline.reqPerSec).toFixed(2) : '–';
  return [
    `| push: ${r.users} offline users, one message each (${r.workers} workers / concurrency) | Careline | baseline (bare loop) |`,
    '| --- | --- | --- |',
    `| push requests/s (APNs HTTP/2 + FCM HTTP v1, local) | ${c.reqPerSec} (${ratio}× the baseline) | ${r.baseline.reqPerSec} |`,
    `| pushes accepted (APNs / FCM) | ${c.pushes} (${c.apns} / ${c.fcm}) | ${r.baseline.pushes} |`,
    `| lost / doubled / refused as malformed | ${c.lost} / ${c.doubled} / ${c.rejected} | – / – / ${r.baseline.rejected} |`,
    `| commit → push request, p50 / p99 / max (ms) | ${c.delayMs.p50} / ${c.delayMs.p99} / ${c.delayMs.max} | – |`,
    `| messages sent per s (offered) | ${c.sendPerSec} | – |`,
    `| chat latency, online pairs, before the pushes: p50 / p99 ms (n) | ${r.chat.quiet.p50} / ${r.chat.quiet.p99} (${r.chat.quiet.n}) | – |`,
    `| chat latency while the pushes go out: p50 / p99 ms (n) | ${r.chat.duringPush.p50} / ${r.chat.duringPush.p99} (${r.chat.duringPush.n}) | – |`,
  ].join('\n');
}
