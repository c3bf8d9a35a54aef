/**
 * Starts a real Careline server for tests: port 0, a real SQLite file in a temp dir, a
 * tenant with an API key. Helpers create users (with tokens) and conversations through the
 * public HTTP API, as an integrator would.
 */
import type { Redis } from 'ioredis';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/load.ts';
import { startServer, type CarelineServer } from '../../src/server.ts';

export interface TestServer {
  url: string;
  wsUrl: string;
  tenantId: string;
  apiKey: string;
  dataDir: string;
  dbPath: string;
  /** The running server (its core and HTTP instance), for white-box checks. */
  server: CarelineServer;
  /** Upserts a user with the API key and logs them in: returns a fresh token. */
  user(id: string, role?: 'patient' | 'doctor' | 'staff' | 'admin', name?: string): Promise<{ id: string; token: string }>;
  /** Creates a conversation (default type 2, p2p) with the API key; returns its id. */
  conversation(input: { participants: string[]; type?: number; id?: string; name?: string }): Promise<string>;
  /** Sends a message through REST with the API key on behalf of `senderId`. */
  sendAs(senderId: string, conversationId: string, text: string): Promise<{ id: string; seq: number }>;
  /** An HTTP call with JSON in and out. */
  call(method: string, path: string, opts?: { body?: unknown; token?: string; apiKey?: string | null; headers?: Record<string, string> }): Promise<{ status: number; body: any }>;
  /** Terminates every WebSocket connection abruptly (a network drop); the server stays up. */
  dropConnections(): void;
  /** Stops the server and starts it again on the same port and the same SQLite file. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export interface TestServerOptions {
  config?: Record<string, unknown>;
  /** Reuse this data dir (default: a new temp dir, removed on stop). */
  dataDir?: string;
  /** Passed to startServer: storage can no longer write. */
  onStorageFailure?: (err: unknown) => void;
  /** Passed to startServer: the rate-limit counters go to this Redis (shared with other servers given it). */
  redis?: Redis;
}

const ADMIN = 'test-admin-token';

export async function startTestServer(opts: TestServerOptions = {}): Promise<TestServer> {
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'careline-test-'));
  const dbPath = join(dataDir, 'careline.db');
  const make = (port: number) =>
    loadConfig({
      env: { IM_PROFILE: 'test' },
      overrides: deepMerge({ http: { port }, storage: { sqlitePath: dbPath }, auth: { adminToken: ADMIN }, log: { level: 'silent' } }, structuredClone(opts.config ?? {})),
    }).config;

  const extra = opts.redis ? { redis: opts.redis } : {};
  let server = await startServer({ config: make(0), onStorageFailure: opts.onStorageFailure, ...extra });
  const port = server.port;
  const tenantId = `t${Math.random().toString(36).slice(2, 10)}`;

  const call: TestServer['call'] = async (method, path, o = {}) => {
    const headers: Record<string, string> = { ...o.headers };
    if (o.body !== undefined) headers['content-type'] = 'application/json';
    if (o.token) headers.authorization = `Bearer ${o.token}`;
    else if (o.apiKey) headers['x-api-key'] = o.apiKey;
    const res = await fetch(server.url + path, { method, headers, body: o.body === undefined ? undefined : JSON.stringify(o.body) });
    const text = await res.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      /* not JSON */
    }
    return { status: res.status, body };
  };

  const must = async (method: string, path: string, o: Parameters<TestServer['call']>[2]) => {
    const r = await call(method, path, o);
    if (r.status !== 200) throw new Error(`${method} ${path} → ${r.status} ${JSON.stringify(r.body)}`);
    return r.body;
  };

  await must('POST', '/api/v2/admin/tenants', { body: { id: tenantId, name: 'Test clinic' }, headers: { 'x-admin-token': ADMIN } });
  const { api_key: apiKey } = await must('POST', `/api/v2/admin/tenants/${tenantId}/apps`, { body: { name: 'tests' }, headers: { 'x-admin-token': ADMIN } });

  const t: TestServer = {
    get url() {
      return server.url;
    },
    get wsUrl() {
      return server.url.replace(/^http/, 'ws') + '/ws';
    },
    get server() {
      return server;
    },
    tenantId,
    apiKey,
    dataDir,
    dbPath,
    call: (m, p, o) => call(m, p, o?.apiKey === null || o?.token ? o : { ...o, apiKey: o?.apiKey ?? apiKey }),
    async user(id, role = 'patient', name = id) {
      await must('PUT', `/api/v2/management/users/${encodeURIComponent(id)}`, { apiKey, body: { role, name } });
      const { token } = await must('POST', '/api/v2/users/login', { apiKey, body: { user_id: id } });
      return { id, token };
    },
    async conversation({ participants, type = 2, id, name }) {
      const body = { session_type: type, participants, ...(id ? { session_id: id } : {}), ...(name ? { session_name: name } : {}) };
      const r = await must('POST', '/api/v2/sessions', { apiKey, body });
      return r.session.id as string;
    },
    async sendAs(senderId, conversationId, text) {
      const r = await must('POST', `/api/v2/sessions/${encodeURIComponent(conversationId)}/messages`, {
        apiKey, body: { type: 1, content: { text }, sender_id: senderId },
      });
      return { id: r.message.id, seq: r.message.seq };
    },
    dropConnections() {
      server.ws.terminateAll();
    },
    async restart() {
      await server.close();
      server = await startServer({ config: make(port), onStorageFailure: opts.onStorageFailure, ...extra });
    },
    async stop() {
      await server.close();
      if (!opts.dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
  return t;
}

function deepMerge(a: Record<string, any>, b: Record<string, any>): Record<string, any> {
  const out = { ...a };
  for (const [k, v] of Object.entries(b)) out[k] = v && typeof v === 'object' && !Array.isArray(v) && typeof out[k] === 'object' ? deepMerge(out[k], v) : v;
  return out;
}
