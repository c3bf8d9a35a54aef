/**
 * A Careline cluster for tests: the processes of `npm run cluster` (scripts/lib/cluster.ts) —
 * PostgreSQL, Redis, N real `careline start` node processes and HAProxy in front — with a
 * tenant, users, conversations and SDK clients made through the balancer, as an integrator
 * and its apps would.
 *
 *   const c = await startCluster({ nodes: 3 });
 *   const t = await c.tenant();
 *   const a = await t.user('pt-1');                  // { id, token }
 *   const client = c.client(a.token);                // an SDK client through the balancer
 *   await c.nodes[0]!.kill9(); await c.nodes[0]!.restart();
 *   await c.stop();
 *
 * `pinned(node, token)` connects an SDK client to one node directly, for tests that need a
 * user's devices spread over given nodes. Everything started is stopped by `stop()`.
 */
import { CarelineClient, type CarelineClientOptions } from '@careline/sdk';
import { startLocalCluster, type ClusterBackend, type LocalCluster, type LocalNode } from '../../../../scripts/lib/cluster.ts';
import type { HaproxyService, Service } from './services.ts';

export interface ClusterNode {
  name: string;
  /** The node's own URL (not through the balancer). */
  url: string;
  port: number;
  readonly pid: number;
  running(): boolean;
  log(): string;
  /** SIGKILL by process id; resolves once it has exited. */
  kill9(): Promise<void>;
  /** A graceful stop (SIGTERM) by process id. */
  stop(): Promise<void>;
  /** Starts it again on the same port (after kill9 or stop), or stops and starts it; resolves when /readyz answers 200. */
  restart(): Promise<void>;
}

export interface ClusterTenant {
  tenantId: string;
  apiKey: string;
  /** Upserts a user with the API key and logs them in (platform as given, default `web`). */
  user(id: string, role?: 'patient' | 'doctor' | 'staff' | 'admin', opts?: { platform?: string }): Promise<{ id: string; token: string }>;
  /** Logs a user in again: a fresh token (another device). */
  login(id: string, opts?: { platform?: string }): Promise<string>;
  /** Creates a conversation (default type 2) with the API key; returns its id. */
  conversation(input: { participants: string[]; type?: number; name?: string }): Promise<string>;
  /** An HTTP call through the balancer with the tenant's API key (or the token given). */
  call(method: string, path: string, opts?: { body?: unknown; token?: string; apiKey?: string | null; headers?: Record<string, string>; base?: string }): Promise<{ status: number; body: any }>;
}

export interface TestCluster {
  /** The balancer. */
  url: string;
  nodes: ClusterNode[];
  pg: Service | null;
  redis: Service | null;
  balancer: HaproxyService;
  adminToken: string;
  /** The env every node runs with. */
  env: Record<string, string>;
  /** A new tenant with an app, created through the balancer. */
  tenant(): Promise<ClusterTenant>;
  /** An SDK client through the balancer, fast reconnects; closed by stop(). */
  client(token: string, opts?: Partial<CarelineClientOptions>): CarelineClient;
  /** An SDK client connected to one node directly; closed by stop(). */
  pinned(node: ClusterNode, token: string, opts?: Partial<CarelineClientOptions>): CarelineClient;
  /** Resolves once the balancer sees every running node UP. */
  waitBalanced(timeoutMs?: number): Promise<void>;
  /** Closes the clients, then stops every process by its id and removes the temp dir. */
  stop(): Promise<void>;
}

export interface ClusterOptions {
  /** Careline nodes (default 3). */
  nodes?: number;
  /** `postgres` (default): PostgreSQL + Redis. `sqlite`: each node its own SQLite file (the balancer alone). */
  backend?: ClusterBackend;
  /** More env vars for every node (`CARELINE_WS_HEARTBEAT_MS`…). */
  env?: Record<string, string>;
  /** The balancer's health-check interval in ms (default 500 here: tests wait less for a dead node to go out). */
  checkIntervalMs?: number;
  /**
   * The nodes' IM_PROFILE (default `test`). `dev` is what `npm run cluster` runs: the nodes
   * start one after the other and each seeds the demo tenant, so the web client's demo sign-in
   * works through the balancer.
   */
  profile?: 'dev' | 'test';
}

function nodeHandle(n: LocalNode): ClusterNode {
  return {
    name: n.name,
    url: n.url,
    port: n.port,
    get pid() {
      return n.pid;
    },
    running: () => n.running(),
    log: () => n.log(),
    kill9: () => n.kill9(),
    stop: () => n.stop(),
    restart: () => (n.running() ? n.restart() : n.start()),
  };
}

async function request(base: string, method: string, path: string, o: { body?: unknown; token?: string; apiKey?: string | null; headers?: Record<string, string> } = {}): Promise<{ status: number; body: any }> {
  const headers: Record<string, string> = { ...o.headers };
  if (o.body !== undefined) headers['content-type'] = 'application/json';
  if (o.token) headers.authorization = `Bearer ${o.token}`;
  else if (o.apiKey) headers['x-api-key'] = o.apiKey;
  const res = await fetch(base + path, { method, headers, body: o.body === undefined ? undefined : JSON.stringify(o.body), signal: AbortSignal.timeout(15_000) });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: res.status, body };
}

export async function startCluster(opts: ClusterOptions = {}): Promise<TestCluster> {
  const local: LocalCluster = await startLocalCluster({
    nodes: opts.nodes ?? 3,
    backend: opts.backend ?? 'postgres',
    profile: opts.profile ?? 'test',
    env: { CARELINE_LOG_LEVEL: 'warn', ...opts.env },
    checkIntervalMs: opts.checkIntervalMs ?? 500,
  });
  const clients: CarelineClient[] = [];
  const nodes = local.nodes.map(nodeHandle);
  const must = async (method: string, path: string, o: Parameters<typeof request>[3]) => {
    const r = await request(local.url, method, path, o);
    if (r.status !== 200) throw new Error(`${method} ${path} → ${r.status} ${JSON.stringify(r.body)}`);
    return r.body;
  };
  const make = (url: string, token: string, o: Partial<CarelineClientOptions>) => {
    const c = new CarelineClient({ url, token, reconnect: { baseMs: 50, maxMs: 500 }, ...o });
    clients.push(c);
    return c;
  };

  return {
    url: local.url,
    nodes,
    pg: local.pg,
    redis: local.redis,
    balancer: local.balancer,
    adminToken: local.adminToken,
    env: local.commonEnv,
    async tenant() {
      const tenantId = `t${Math.random().toString(36).slice(2, 10)}`;
      const admin = { 'x-admin-token': local.adminToken };
      await must('POST', '/api/v2/admin/tenants', { body: { id: tenantId, name: 'Cluster clinic' }, headers: admin });
      const { api_key: apiKey } = await must('POST', `/api/v2/admin/tenants/${tenantId}/apps`, { body: { name: 'tests' }, headers: admin });
      const login = async (id: string, o: { platform?: string } = {}) =>
        (await must('POST', '/api/v2/users/login', { apiKey, body: { user_id: id, ...(o.platform ? { platform: o.platform } : {}) } })).token as string;
      return {
        tenantId,
        apiKey,
        async user(id, role = 'patient', o = {}) {
          await must('PUT', `/api/v2/management/users/${encodeURIComponent(id)}`, { apiKey, body: { role, name: id } });
          return { id, token: await login(id, o) };
        },
        login,
        async conversation({ participants, type = 2, name }) {
          const r = await must('POST', '/api/v2/sessions', { apiKey, body: { session_type: type, participants, ...(name ? { session_name: name } : {}) } });
          return r.session.id as string;
        },
        call: (method, path, o = {}) => request(o.base ?? local.url, method, path, o.apiKey === null || o.token ? o : { ...o, apiKey: o.apiKey ?? apiKey }),
      };
    },
    client: (token, o = {}) => make(local.url, token, o),
    pinned: (node, token, o = {}) => make(node.url, token, o),
    waitBalanced: (ms) => local.waitBalanced(ms),
    async stop() {
      await Promise.allSettled(clients.map((c) => c.close()));
      await local.stop();
    },
  };
}
