/**
 * A server under test — Careline (`bench/server.ts`) or the bare `ws` baseline
 * (`bench/baseline.ts`) — and the fixtures a scenario needs on it: users with tokens and
 * conversations (through Careline's public REST API, with bounded concurrency; the
 * baseline needs none), and the URL each client connects to.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Proc } from './proc.ts';
import { mapLimit } from './util.ts';

export type TargetKind = 'careline' | 'baseline';

export interface TargetOptions {
  kind: TargetKind;
  name: string;
  cpus?: string;
  fdLimit?: number;
  sync: 'NORMAL' | 'FULL';
  /** Careline only: where SQLite writes run (default worker). */
  writer?: 'worker' | 'inline';
  /** Write V8 CPU profiles of the server's measured phases into this folder. */
  profileDir?: string;
  heartbeatMs?: number;
  /** Baseline only: keep an in-memory log for `sync`. */
  log?: boolean;
  /** Careline only: this database file (default: a fresh temp dir), and where the tenant and API key are kept across restarts. */
  db?: string;
  tenantFile?: string;
}

export interface Mem {
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
  connections: number;
}

/** The server's event-loop delay over an interval (ms): how long it did not get round to a due timer. */
export interface LoopDelay {
  p50: number;
  p99: number;
  max: number;
}

export interface CommitStats {
  commits: number;
  messages: number;
  seconds: number;
}

/** What happened between two `commits()` readings, over `wallMs`. */
export function commitDelta(a: CommitStats, b: CommitStats, wallMs: number): { commits: number; meanBatch: number; commitShare: number; meanCommitMs: number } {
  const commits = b.commits - a.commits;
  return {
    commits,
    meanBatch: (b.messages - a.messages) / Math.max(1, commits),
    commitShare: ((b.seconds - a.seconds) * 1000) / wallMs,
    meanCommitMs: ((b.seconds - a.seconds) * 1000) / Math.max(1, commits),
  };
}

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));

export class Target {
  readonly kind: TargetKind;
  readonly proc: Proc;
  url = '';
  wsUrl = '';
  apiKey = '';
  tenantId = '';
  /** The database file (Careline). */
  db = '';
  #profileDir: string | undefined;
  #name = '';

  private constructor(kind: TargetKind, proc: Proc) {
    this.kind = kind;
    this.proc = proc;
  }

  static async start(o: TargetOptions): Promise<Target> {
    const execArgv = ['--expose-gc'];
    const proc = o.kind === 'careline'
      ? new Proc(here('../server.ts'), {
        name: o.name, cpus: o.cpus, fdLimit: o.fdLimit, execArgv,
        args: [
          '--sync', o.sync, ...(o.writer ? ['--writer', o.writer] : []), ...(o.heartbeatMs ? ['--heartbeat-ms', String(o.heartbeatMs)] : []),
          ...(o.db ? ['--db', o.db] : []), ...(o.tenantFile ? ['--tenant-file', o.tenantFile] : []),
        ],
      })
      : new Proc(here('../baseline.ts'), { name: o.name, cpus: o.cpus, fdLimit: o.fdLimit, execArgv, args: o.log ? ['--log'] : [] });
    const t = new Target(o.kind, proc);
    t.#profileDir = o.kind === 'careline' ? o.profileDir : undefined;
    t.#name = o.name;
    const ready = (await proc.ready) as { url: string; apiKey?: string; tenantId?: string; db?: string };
    t.db = ready.db ?? '';
    t.url = ready.url;
    t.wsUrl = ready.url.replace(/^http/, 'ws') + '/ws';
    t.apiKey = ready.apiKey ?? '';
    t.tenantId = ready.tenantId ?? '';
    return t;
  }

  async #call(method: string, path: string, body: unknown, headers: Record<string, string> = {}): Promise<any> {
    for (let attempt = 0; ; attempt++) {
      try {
        const r = await fetch(this.url + path, {
          method,
          headers: { 'content-type': 'application/json', 'x-api-key': this.apiKey, ...headers },
          body: body === undefined ? undefined : JSON.stringify(body),
        });
        const text = await r.text();
        if (r.status !== 200) throw new Error(`${method} ${path} → ${r.status} ${text.slice(0, 300)}`);
        return JSON.parse(text);
      } catch (err) {
        // Setup runs thousands of calls: retry a transient socket error a few times.
        if (attempt >= 3 || /→ \d{3}/.test(String(err))) throw err;
        await new Promise((r) => setTimeout(r, 200 * (attempt + 1)));
      }
    }
  }

  /** Creates (or updates) users and logs each in: user id → token. The baseline: no tokens. */
  async users(ids: string[], role: 'patient' | 'doctor' | 'staff', onProgress?: (done: number) => void, concurrency = 24): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    if (this.kind === 'baseline') {
      for (const id of ids) out.set(id, '');
      return out;
    }
    let done = 0;
    await mapLimit(ids, concurrency, async (id) => {
      await this.#call('PUT', `/api/v2/management/users/${encodeURIComponent(id)}`, { role, name: id });
      const { token } = await this.#call('POST', '/api/v2/users/login', { user_id: id });
      out.set(id, token as string);
      if (++done % 500 === 0) onProgress?.(done);
    });
    return out;
  }

  /**
   * Creates (or updates) users without logging them in — the users of a tenant who do not
   * connect. `onProgress` every 1,000. The baseline: nothing to create.
   */
  async createUsers(ids: string[], role: 'patient' | 'doctor' | 'staff', onProgress?: (done: number) => void, concurrency = 24): Promise<void> {
    if (this.kind === 'baseline') return;
    let done = 0;
    await mapLimit(ids, concurrency, async (id) => {
      await this.#call('PUT', `/api/v2/management/users/${encodeURIComponent(id)}`, { role, name: id });
      if (++done % 1000 === 0) onProgress?.(done);
    });
  }

  /** One call of the public REST API with the tenant's API key (the baseline answers the few it knows). */
  api(method: 'GET' | 'PUT' | 'POST', path: string, body?: unknown): Promise<any> {
    return this.#call(method, path, body);
  }

  /**
   * Creates conversations; returns their ids. `p2p` (type 2, id derived from the two
   * participants) or `team` (type 3, id = the given team id). The baseline just names them.
   */
  async conversations(specs: { kind: 'p2p' | 'team'; participants: string[]; team?: string }[], concurrency = 24): Promise<string[]> {
    if (this.kind === 'baseline') return specs.map((s) => (s.kind === 'team' ? s.team! : `p2p-${s.participants.join('-')}`));
    return mapLimit(specs, concurrency, async (s) => {
      const body = s.kind === 'p2p'
        ? { session_type: 2, participants: s.participants }
        : { session_type: 3, parts: { team: s.team }, session_name: s.team, participants: s.participants };
      const r = await this.#call('POST', '/api/v2/sessions', body);
      return r.session.id as string;
    });
  }

  /** The URL a client connects to. */
  connectUrl(user: string, token: string, convs: string[], sync = false): string {
    if (this.kind === 'careline') return `${this.wsUrl}?token=${token}${sync ? '&sync=1' : ''}`;
    return `${this.wsUrl}?user=${encodeURIComponent(user)}&c=${convs.map(encodeURIComponent).join(',')}${sync ? '&sync=1' : ''}`;
  }

  /** Memory of the server process, after a full GC. */
  mem(): Promise<Mem> {
    return this.proc.call<Mem>('mem', {}, 60_000);
  }

  /** Careline's group-commit counters from /metrics: commits, messages, seconds spent committing (zeros for the baseline). */
  async commits(): Promise<CommitStats> {
    if (this.kind !== 'careline') return { commits: 0, messages: 0, seconds: 0 };
    try {
      const text = await (await fetch(`${this.url}/metrics`)).text();
      const val = (name: string) => Number(text.match(new RegExp(`^${name} ([0-9.e+-]+)$`, 'm'))?.[1] ?? NaN);
      return { commits: val('careline_commit_batch_size_count'), messages: val('careline_commit_batch_size_sum'), seconds: val('careline_commit_duration_seconds_sum') };
    } catch {
      return { commits: NaN, messages: NaN, seconds: NaN };
    }
  }

  /** Starts measuring the server's event-loop delay (how late a 1 ms timer fires). */
  loopStart(): Promise<void> {
    return this.proc.call('loop.start');
  }

  /** The event-loop delay since `loopStart`, in ms. */
  loopStop(): Promise<LoopDelay> {
    return this.proc.call<LoopDelay>('loop.stop');
  }

  /** Starts a CPU profile of the server (with --profile, Careline only). */
  async profileStart(): Promise<void> {
    if (this.#profileDir) await this.proc.call('profile.start');
  }

  /** Stops it and writes `<profile dir>/<scenario>-careline[-phase].cpuprofile`. */
  async profileStop(phase = ''): Promise<void> {
    if (this.#profileDir) await this.proc.call('profile.stop', { path: join(this.#profileDir, `${this.#name}${phase ? `-${phase}` : ''}.cpuprofile`) }, 120_000);
  }

  stop(): Promise<void> {
    return this.proc.stop(10_000);
  }
}
