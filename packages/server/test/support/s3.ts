/**
 * An S3-compatible server for tests: s3rver, an npm package (a dev dependency, so nothing to
 * download or install apart from `npm ci`), started as its own process on 127.0.0.1 on a free
 * port with its objects in a new temp dir, and stopped by process id. Debian has no S3 server
 * light enough (no s3proxy package; ceph-radosgw needs a Ceph cluster), and MinIO is not
 * packaged. s3rver speaks the S3 REST API that `@aws-sdk/client-s3` uses (path-style, SigV4).
 *
 *   const s3 = await startS3();   // s3.endpoint, s3.bucket, s3.accessKeyId, s3.secretAccessKey
 *   ...
 *   await s3.stop();
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface S3Service {
  endpoint: string;
  bucket: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  readonly pid: number;
  dir: string;
  stop(): Promise<void>;
}

const MAIN = fileURLToPath(new URL('./s3-main.ts', import.meta.url));

export async function startS3(bucket = 'careline'): Promise<S3Service> {
  const dir = mkdtempSync(join(tmpdir(), 'careline-s3-'));
  const child = spawn(process.execPath, [MAIN, dir, bucket], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stderr.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-4000)));
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`s3rver did not start within 20 s: ${log}`)), 20_000);
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening (\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`s3rver exited (${code}) before listening; is s3rver installed (npm ci)? ${log}`));
    });
  });
  let stopped: Promise<void> | null = null;
  return {
    endpoint: `http://127.0.0.1:${port}`, bucket, region: 'us-east-1', accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER',
    pid: child.pid!, dir,
    stop: () => (stopped ??= new Promise<void>((resolve) => {
      process.removeListener('exit', killOnExit);
      if (child.exitCode !== null) return resolve();
      const kill = setTimeout(() => process.kill(child.pid!, 'SIGKILL'), 3000);
      child.once('exit', () => {
        clearTimeout(kill);
        resolve();
      });
      process.kill(child.pid!, 'SIGTERM');
    }).then(() => rmSync(dir, { recursive: true, force: true }))),
  };
}
