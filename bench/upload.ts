/**
 * Upload throughput (`npm run bench -- --only upload`, or `node bench/upload.ts`): small
 * photos and a few large documents uploaded to Careline (SQLite, the disk file store) over
 * HTTP on loopback with a user's token, against a same-run baseline — a bare `node:http`
 * server that streams the same bytes to a temp file on the same disk and renames it into
 * place (`bench/upload-server.ts`; each server in its own process, stopped by pid).
 *
 * Two phases per server, each bounded in count and in time (no new upload starts after
 * `--upload-seconds`):
 * - photos: JPEGs of about 200–300 KB (random pixels, so they do not compress away), sent
 *   `--upload-concurrency` at a time (default 4). Careline sniffs each, re-encodes it without
 *   its metadata (sharp), makes a thumbnail, stores both and a database row.
 * - documents: PDFs of `--upload-doc-mib` MiB (default 20), one at a time. Careline spools,
 *   sniffs, copies into the file store and stores the row.
 *
 * Reported per phase: files/s, MB/s (of bytes sent), latency p50/p99 per upload, and the
 * server's CPU seconds; with Careline's ratio to the baseline. The client is the same for
 * both (Node's fetch, the body from memory), so the difference is the server's work.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import type { Ctx } from './lib/ctx.ts';
import type { UploadServerInfo } from './upload-server.ts';

export interface UploadBenchOptions {
  /** Photos uploaded per server (default 300). */
  photos: number;
  /** Large documents per server (default 4). */
  docs: number;
  /** Size of each document, MiB (default 20). */
  docMiB: number;
  /** Photos in flight at once (default 4). */
  concurrency: number;
  /** No new upload starts after this many seconds of a phase (default 60). */
  seconds: number;
  log?: (line: string) => void;
}

export interface UploadPhase {
  files: number;
  failed: number;
  bytes: number;
  seconds: number;
  filesPerSec: number;
  mbPerSec: number;
  p50Ms: number;
  p99Ms: number;
  /** The server process's CPU time over the phase (user + system). */
  serverCpuSec: number;
  /** The first refusal, if any. */
  error?: string;
}

export interface UploadServerResult {
  photos: UploadPhase;
  docs: UploadPhase;
}

export interface UploadBenchResult {
  options: Omit<UploadBenchOptions, 'log'>;
  photoBytesAvg: number;
  careline: UploadServerResult;
  baseline: UploadServerResult;
}

interface Payload {
  name: string;
  type: string;
  body: Uint8Array<ArrayBuffer>;
}

const MB = 1_000_000;

function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** Distinct JPEGs of random pixels (about 250 KB each at 640×480, quality 80). */
async function photos(n: number): Promise<Payload[]> {
  const out: Payload[] = [];
  for (let i = 0; i < n; i++) {
    const body = await sharp(randomBytes(640 * 480 * 3), { raw: { width: 640, height: 480, channels: 3 } }).jpeg({ quality: 80 }).toBuffer();
    out.push({ name: `photo-${i}.jpg`, type: 'image/jpeg', body: new Uint8Array(body) });
  }
  return out;
}

function pdf(bytes: number, i: number): Payload {
  const body = randomBytes(bytes);
  body.write('%PDF-1.4\n%', 0, 'latin1');
  body.write('\n%%EOF\n', bytes - 7, 'latin1');
  return { name: `report-${i}.pdf`, type: 'application/pdf', body: new Uint8Array(body) };
}

class Server {
  readonly proc: ChildProcess;
  info!: UploadServerInfo;

  constructor(kind: 'careline' | 'baseline') {
    this.proc = fork(fileURLToPath(new URL('./upload-server.ts', import.meta.url)), [kind], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  }

  ready(): Promise<void> {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('the upload server did not start in 60 s')), 60_000);
      this.proc.once('exit', (code) => reject(new Error(`the upload server exited (${code})`)));
      this.proc.on('message', (m: { ready?: UploadServerInfo }) => {
        if (!m.ready) return;
        clearTimeout(t);
        this.info = m.ready;
        resolve();
      });
    });
  }

  cpuSec(): Promise<number> {
    return new Promise((resolve) => {
      const on = (m: { cpu?: { user: number; system: number } }) => {
        if (!m.cpu) return;
        this.proc.off('message', on);
        resolve((m.cpu.user + m.cpu.system) / 1e6);
      };
      this.proc.on('message', on);
      this.proc.send('cpu');
    });
  }

  async stop(): Promise<void> {
    if (this.proc.exitCode !== null) return;
    const gone = new Promise((r) => this.proc.once('exit', r));
    this.proc.kill('SIGTERM');
    const t = setTimeout(() => this.proc.kill('SIGKILL'), 10_000);
    await gone;
    clearTimeout(t);
  }
}

async function upload(s: UploadServerInfo, p: Payload): Promise<void> {
  const headers: Record<string, string> = { 'content-type': p.type, accept: 'application/json' };
  if (s.token) headers.authorization = `Bearer ${s.token}`;
  const res = await fetch(`${s.url}${s.uploadPath}?name=${encodeURIComponent(p.name)}`, { method: 'POST', headers, body: p.body });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${text.slice(0, 200)}`);
}

async function phase(server: Server, items: Payload[], concurrency: number, seconds: number): Promise<UploadPhase> {
  const cpu0 = await server.cpuSec();
  const lat: number[] = [];
  let next = 0;
  let bytes = 0;
  let failed = 0;
  let error: string | undefined;
  const t0 = performance.now();
  const deadline = t0 + seconds * 1000;
  const worker = async () => {
    while (next < items.length && performance.now() < deadline) {
      const p = items[next++]!;
      const a = performance.now();
      try {
        await upload(server.info, p);
        lat.push(performance.now() - a);
        bytes += p.body.byteLength;
      } catch (err) {
        failed++;
        error ??= (err as Error).message;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const secs = (performance.now() - t0) / 1000;
  const cpu1 = await server.cpuSec();
  lat.sort((x, y) => x - y);
  return {
    files: lat.length, failed, bytes, seconds: +secs.toFixed(2),
    filesPerSec: +(lat.length / secs).toFixed(1), mbPerSec: +(bytes / MB / secs).toFixed(1),
    p50Ms: +pct(lat, 50).toFixed(1), p99Ms: +pct(lat, 99).toFixed(1), serverCpuSec: +(cpu1 - cpu0).toFixed(2),
    ...(error ? { error } : {}),
  };
}

export async function runUploadBench(opts: Partial<UploadBenchOptions> = {}): Promise<UploadBenchResult> {
  const o: UploadBenchOptions = { photos: 300, docs: 4, docMiB: 20, concurrency: 4, seconds: 60, ...opts };
  const log = o.log ?? (() => undefined);
  // A pool of distinct photos, cycled (the same bytes for both servers).
  const pool = await photos(Math.min(o.photos, 40));
  const photoItems = Array.from({ length: o.photos }, (_, i) => ({ ...pool[i % pool.length]!, name: `photo-${i}.jpg` }));
  const docItems = Array.from({ length: o.docs }, (_, i) => pdf(o.docMiB * 1024 * 1024, i));
  const result: Partial<UploadBenchResult> = {
    options: { photos: o.photos, docs: o.docs, docMiB: o.docMiB, concurrency: o.concurrency, seconds: o.seconds },
    photoBytesAvg: Math.round(pool.reduce((n, p) => n + p.body.byteLength, 0) / pool.length),
  };
  for (const kind of ['baseline', 'careline'] as const) {
    const server = new Server(kind);
    try {
      await server.ready();
      // Warm up (JIT, sharp's first load, SQLite's first statements).
      for (const p of photoItems.slice(0, 5)) await upload(server.info, p);
      log(`upload ${kind}: ${o.photos} photos, ${o.concurrency} at a time`);
      const ph = await phase(server, photoItems, o.concurrency, o.seconds);
      log(`upload ${kind}: ${o.docs} documents of ${o.docMiB} MiB, one at a time`);
      const dc = await phase(server, docItems, 1, o.seconds);
      result[kind] = { photos: ph, docs: dc };
    } finally {
      await server.stop();
    }
  }
  return result as UploadBenchResult;
}

export function uploadTable(r: UploadBenchResult): string {
  const row = (what: string, c: UploadPhase, b: UploadPhase) =>
    `| ${what} | ${c.files}${c.failed ? ` (+${c.failed} failed)` : ''} | ${c.filesPerSec} | ${c.mbPerSec} | ${c.p50Ms} / ${c.p99Ms} | ${c.serverCpuSec} | ${b.filesPerSec} | ${b.mbPerSec} | ${b.p50Ms} / ${b.p99Ms} | ${b.serverCpuSec} | ${b.mbPerSec > 0 ? (c.mbPerSec / b.mbPerSec).toFixed(2) : '–'} |`;
  return [
    `Uploads (Careline: SQLite + disk file store; baseline: bare node:http streaming to disk). Photos ≈ ${Math.round(r.photoBytesAvg / 1000)} kB JPEG, ${r.options.concurrency} at a time; documents ${r.options.docMiB} MiB PDF, one at a time.`,
    '',
    '| phase | files | Careline files/s | MB/s | p50 / p99 ms | server CPU s | baseline files/s | MB/s | p50 / p99 ms | server CPU s | MB/s ratio |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    row('photos', r.careline.photos, r.baseline.photos),
    row('documents', r.careline.docs, r.baseline.docs),
  ].join('\n');
}

/** `--only upload` of bench/run.ts (quick: fewer and smaller files). */
export async function uploadScenario(ctx: Ctx): Promise<UploadBenchResult> {
  ctx.progress.phase('upload');
  const quick = ctx.o.duration <= 5;
  const r = await runUploadBench({ photos: quick ? 60 : 300, docs: quick ? 2 : 4, docMiB: quick ? 8 : 20, seconds: Math.max(ctx.o.duration * 2, 10), log: ctx.log });
  ctx.log(uploadTable(r));
  return r;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values: a } = parseArgs({
    options: {
      photos: { type: 'string' }, docs: { type: 'string' }, 'doc-mib': { type: 'string' }, concurrency: { type: 'string' }, seconds: { type: 'string' }, out: { type: 'string' },
    },
  });
  const r = await runUploadBench({
    ...(a.photos ? { photos: Number(a.photos) } : {}), ...(a.docs ? { docs: Number(a.docs) } : {}), ...(a['doc-mib'] ? { docMiB: Number(a['doc-mib']) } : {}),
    ...(a.concurrency ? { concurrency: Number(a.concurrency) } : {}), ...(a.seconds ? { seconds: Number(a.seconds) } : {}),
    log: (l) => process.stderr.write(l + '\n'),
  });
  process.stdout.write(uploadTable(r) + '\n');
  if (a.out) writeFileSync(a.out, JSON.stringify({ at: new Date().toISOString(), ...r }, null, 2) + '\n');
}
