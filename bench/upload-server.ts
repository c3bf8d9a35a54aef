/**
 * A server for the upload bench, in its own process (forked by bench/upload.ts, stopped by
 * its pid): `careline` is a Careline server on SQLite with the disk file store in a temp dir
 * (a tenant, a patient and a doctor, one conversation); `baseline` is a bare `node:http`
 * server that streams each upload's body to a temp file and renames it into a directory —
 * the same bytes to the same disk, without Careline's checks. Tells the parent its address
 * (and a token and conversation for Careline) over IPC; answers `cpu` with its CPU time.
 */
import { createServer } from 'node:http';
import { createWriteStream, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { rename } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { randomUUID } from 'node:crypto';
import { startTestServer } from '../packages/server/test/support/server.ts';

export interface UploadServerInfo {
  url: string;
  /** The upload URL for a file name (Careline: the conversation's files route). */
  uploadPath: string;
  token: string | null;
  dir: string;
}

const kind = process.argv[2];
const send = (m: unknown) => process.send?.(m);

if (kind === 'careline') {
  const t = await startTestServer({ config: { files: { cleanupIntervalSeconds: 0, retentionIntervalSeconds: 0 } } });
  await t.user('doc1', 'doctor', 'Dr. Bench');
  const pat = await t.user('pat1', 'patient', 'Bench Patient');
  const conv = await t.conversation({ participants: ['pat1:patient', 'doc1:doctor'] });
  const info: UploadServerInfo = { url: t.url, uploadPath: `/api/v2/sessions/${encodeURIComponent(conv)}/files`, token: pat.token, dir: t.dataDir };
  process.on('message', (m) => {
    if (m === 'cpu') send({ cpu: process.cpuUsage() });
  });
  const stop = () => void t.stop().finally(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('disconnect', stop);
  send({ ready: info });
} else if (kind === 'baseline') {
  const dir = mkdtempSync(join(tmpdir(), 'careline-upload-baseline-'));
  const tmp = join(dir, 'tmp');
  const files = join(dir, 'files');
  mkdirSync(tmp);
  mkdirSync(files);
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (req.method !== 'POST' || url.pathname !== '/upload') {
      res.writeHead(404).end();
      return;
    }
    const id = randomUUID();
    const spool = join(tmp, id);
    let size = 0;
    req.on('data', (c: Buffer) => (size += c.length));
    pipeline(req, createWriteStream(spool, { flags: 'wx' }))
      .then(() => rename(spool, join(files, id)))
      .then(() => {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ file: { storageId: id, fileSize: size, fileName: url.searchParams.get('name') } }));
      })
      .catch((err: Error) => {
        res.writeHead(500).end(err.message);
      });
  });
  server.listen(0, '127.0.0.1', () => {
    const addr = server.address() as { port: number };
    send({ ready: { url: `http://127.0.0.1:${addr.port}`, uploadPath: '/upload', token: null, dir } satisfies UploadServerInfo });
  });
  process.on('message', (m) => {
    if (m === 'cpu') send({ cpu: process.cpuUsage() });
  });
  const stop = () => server.close(() => {
    rmSync(dir, { recursive: true, force: true });
    process.exit(0);
  });
  process.on('SIGTERM', stop);
  process.on('disconnect', stop);
} else {
  throw new Error('usage: node bench/upload-server.ts careline|baseline');
}
