/**
 * Child processes of the bench: the server under test, the baseline relay and the load
 * generators. Each is a Node process with an IPC channel (request/response calls), optionally
 * pinned to CPUs (`taskset`) and with its file limit raised (`ulimit -n`, up to the hard
 * limit). CPU time and RSS are read from /proc, so the process under test does not measure
 * itself.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { availableParallelism as cpus } from 'node:os';
import { createInterface } from 'node:readline';

export interface SpawnOptions {
  name: string;
  args?: string[];
  execArgv?: string[];
  /** CPU list for taskset (e.g. "0" or "1"); unset: not pinned. */
  cpus?: string;
  /** Raise the soft file limit to this (bounded by the hard limit). */
  fdLimit?: number;
  env?: NodeJS.ProcessEnv;
}

interface Pending {
  resolve: (v: any) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout | undefined;
}

export class Proc {
  readonly name: string;
  readonly child: ChildProcess;
  readonly pid: number;
  /** The first stdout line that parses as a JSON object with `ready: true`. */
  readonly ready: Promise<any>;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  #pending = new Map<number, Pending>();
  #nextId = 1;
  #tail: string[] = [];
  #exit: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  /** Events the child sends without being asked (`{event, data}`). */
  onEvent: ((event: string, data: any) => void) | undefined;

  constructor(file: string, o: SpawnOptions) {
    this.name = o.name;
    const node = [...(o.execArgv ?? []), file, ...(o.args ?? [])];
    const [cmd, argv] = o.fdLimit
      ? ['/bin/sh', ['-c', 'ulimit -n "$0" 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true; exec "$@"', String(o.fdLimit), process.execPath, ...node]]
      : [process.execPath, node];
    this.child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe', 'ipc'], env: o.env ?? process.env });
    if (this.child.pid === undefined) throw new Error(`${o.name}: could not start`);
    this.pid = this.child.pid;
    if (o.cpus) pin(this.pid, o.cpus);
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        this.#exit = { code, signal };
        for (const p of this.#pending.values()) {
          clearTimeout(p.timer);
          p.reject(new Error(`${this.name} exited (${signal ?? code}) during a call\n${this.tail()}`));
        }
        this.#pending.clear();
        resolve(this.#exit);
      });
    });
    const keep = (line: string) => {
      this.#tail.push(line);
      if (this.#tail.length > 40) this.#tail.shift();
    };
    createInterface({ input: this.child.stderr! }).on('line', keep);
    const out = createInterface({ input: this.child.stdout! });
    this.ready = new Promise((resolve, reject) => {
      out.on('line', (line) => {
        keep(line);
        if (line.startsWith('{')) {
          try {
            const j = JSON.parse(line) as { ready?: boolean };
            if (j.ready) resolve(j);
          } catch {
            /* a log line */
          }
        }
      });
      void this.exited.then((e) => reject(new Error(`${this.name} exited (${e.signal ?? e.code}) before it was ready\n${this.tail()}`)));
    });
    this.ready.catch(() => {});
    this.child.on('message', (m: any) => {
      if (m && typeof m.id === 'number') {
        const p = this.#pending.get(m.id);
        if (!p) return;
        this.#pending.delete(m.id);
        clearTimeout(p.timer);
        if (m.error) p.reject(new Error(`${this.name}: ${m.error}`));
        else p.resolve(m.result);
      } else if (m && typeof m.event === 'string') {
        this.onEvent?.(m.event, m.data);
      }
    });
  }

  get alive(): boolean {
    return this.#exit === null;
  }

  /** The last lines the process wrote (for error reports). */
  tail(): string {
    return this.#tail.map((l) => `  [${this.name}] ${l}`).join('\n');
  }

  /** Calls a handler registered in the child with `serve()`. */
  call<T = any>(method: string, params: unknown = {}, timeoutMs = 120_000): Promise<T> {
    if (!this.alive) return Promise.reject(new Error(`${this.name} is not running`));
    const id = this.#nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new Error(`${this.name}: ${method} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending.set(id, { resolve, reject, timer });
      this.child.send({ id, method, params });
    });
  }

  /** Process CPU time (user + system), in ms, from /proc. */
  cpuMs(): number {
    return procCpuMs(this.pid);
  }

  rssBytes(): number {
    return procRss(this.pid);
  }

  kill(signal: NodeJS.Signals): void {
    if (this.alive) process.kill(this.pid, signal);
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. */
  async stop(graceMs = 5000): Promise<void> {
    if (!this.alive) return;
    this.kill('SIGTERM');
    const t = setTimeout(() => this.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(t);
  }
}

export function pin(pid: number, cpus: string): void {
  try {
    execFileSync('taskset', ['-a', '-p', '-c', cpus, String(pid)], { stdio: 'ignore' });
  } catch {
    /* taskset missing or not allowed: run unpinned */
  }
}

const TICK_MS = (() => {
  try {
    return 1000 / Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
  } catch {
    return 10;
  }
})();

/** utime + stime of a process, in ms. */
export function procCpuMs(pid: number): number {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) * TICK_MS;
  } catch {
    return NaN;
  }
}

/**
 * CPU of a server that forks its workers (PostgreSQL: the postmaster and its backends), in ms:
 * the root's own time, the time of the children it has already reaped (cutime + cstime, so
 * a backend that exited between two readings still counts), and that of its live children
 * (every process whose parent is the root). NaN when the root is gone.
 */
export function procTreeCpuMs(rootPid: number): number {
  const root = procStat(rootPid);
  if (!root) return NaN;
  let ticks = root.utime + root.stime + root.cutime + root.cstime;
  for (const pid of childPids(rootPid)) {
    const c = procStat(pid);
    if (c) ticks += c.utime + c.stime;
  }
  return ticks * TICK_MS;
}

/** The live processes whose parent is `pid` (from /proc/<pid>/stat). */
export function childPids(pid: number): number[] {
  const out: number[] = [];
  let names: string[] = [];
  try {
    names = readdirSync('/proc');
  } catch {
    return out;
  }
  for (const name of names) {
    if (!/^\d+$/.test(name)) continue;
    const s = procStat(Number(name));
    if (s && s.ppid === pid) out.push(Number(name));
  }
  return out;
}

function procStat(pid: number): { ppid: number; utime: number; stime: number; cutime: number; cstime: number } | null {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return { ppid: Number(f[1]), utime: Number(f[11]), stime: Number(f[12]), cutime: Number(f[13]), cstime: Number(f[14]) };
  } catch {
    return null;
  }
}

export function procRss(pid: number): number {
  try {
    const m = readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+) kB/);
    return m ? Number(m[1]) * 1024 : NaN;
  } catch {
    return NaN;
  }
}

/** Machine-wide CPU counters (jiffies): busy and total, for utilisation over an interval. */
export function machineCpu(): { busy: number; total: number } {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    const total = f.reduce((a, b) => a + b, 0);
    const idle = (f[3] ?? 0) + (f[4] ?? 0);
    return { busy: total - idle, total };
  } catch {
    return { busy: NaN, total: NaN };
  }
}

/** The soft and hard `ulimit -n` of this shell's children. */
export function fdLimits(): { soft: number; hard: number } {
  try {
    const out = execFileSync('/bin/sh', ['-c', 'echo "$(ulimit -Sn) $(ulimit -Hn)"'], { encoding: 'utf8' }).trim().split(' ');
    const n = (s: string | undefined) => (s === 'unlimited' ? 1 << 20 : Number(s));
    return { soft: n(out[0]), hard: n(out[1]) };
  } catch {
    return { soft: 1024, hard: 1024 };
  }
}

/** Anything whose CPU time can be read: a Proc, a node of a cluster, PostgreSQL's process tree. */
export interface CpuSource {
  cpuMs(): number;
}

/** CPU use of a set of processes over an interval: call `start()`, then `stop()`. */
export class CpuMeter {
  readonly #procs: CpuSource[];
  #t0 = 0;
  #c0: number[] = [];
  #m0 = machineCpu();

  constructor(procs: CpuSource[]) {
    this.#procs = procs;
  }

  #self0 = process.cpuUsage();

  start(): this {
    this.#self0 = process.cpuUsage();
    this.#t0 = performance.now();
    this.#c0 = this.#procs.map((p) => p.cpuMs());
    this.#m0 = machineCpu();
    return this;
  }

  /**
   * ms of CPU each process used, the wall time, the machine's busy share (0..1), and the
   * CPU (in cores) used by processes other than the measured ones and this one — other
   * people's work on a shared machine, which disturbs the figures.
   */
  stop(): { wallMs: number; cpuMs: number[]; util: number[]; machineBusy: number; foreignCores: number } {
    const wallMs = performance.now() - this.#t0;
    const cpuMs = this.#procs.map((p, i) => p.cpuMs() - this.#c0[i]!);
    const m = machineCpu();
    const machineBusy = (m.busy - this.#m0.busy) / Math.max(1, m.total - this.#m0.total);
    const self = (process.cpuUsage(this.#self0).user + process.cpuUsage(this.#self0).system) / 1000;
    const ours = cpuMs.reduce((a, b) => a + b, 0) + self;
    const foreignCores = Math.max(0, machineBusy * cpus() - ours / wallMs);
    return { wallMs, cpuMs, util: cpuMs.map((c) => c / wallMs), machineBusy, foreignCores };
  }
}

/** Machine-wide count of connections dropped because a listen queue was full (TcpExt ListenDrops). */
export function listenDrops(): number {
  try {
    const lines = readFileSync('/proc/net/netstat', 'utf8').split('\n').filter((l) => l.startsWith('TcpExt:'));
    const keys = lines[0]!.trim().split(/\s+/);
    const vals = lines[1]!.trim().split(/\s+/);
    return Number(vals[keys.indexOf('ListenDrops')]);
  } catch {
    return NaN;
  }
}

/** TCP sockets in TIME_WAIT on the machine (`/proc/net/sockstat` counts IPv4's and IPv6's together); NaN if unknown. */
export function timeWaitSockets(): number {
  try {
    const m = /^TCP: .*\btw (\d+)/m.exec(readFileSync('/proc/net/sockstat', 'utf8'));
    return m ? Number(m[1]) : NaN;
  } catch {
    return NaN;
  }
}

/**
 * Waits (up to `maxMs`) until fewer than `below` TCP sockets are in TIME_WAIT (they last a
 * minute after a close): a reconnect storm that starts among the last run's tens of
 * thousands measured twice as long as one that does not. Returns how long it waited (ms).
 */
export async function waitTimeWait(maxMs: number, below = 2000): Promise<number> {
  const start = Date.now();
  while (timeWaitSockets() >= below && Date.now() - start < maxMs) await new Promise((r) => setTimeout(r, 1000));
  return Date.now() - start;
}

/**
 * Waits (up to `maxMs`) until the machine is quiet — less than `busy` of its CPU used over
 * a second — so a scenario does not start while other work (tests, builds) runs. Returns
 * the busy share last seen.
 */
export async function waitQuiet(maxMs: number, busy = 0.25): Promise<number> {
  const end = Date.now() + maxMs;
  let last = 1;
  do {
    const a = machineCpu();
    await new Promise((r) => setTimeout(r, 1000));
    const b = machineCpu();
    last = (b.busy - a.busy) / Math.max(1, b.total - a.total);
    if (last < busy) return last;
  } while (Date.now() < end);
  return last;
}
