/**
 * Resumable uploads (tus 1.0) with a real tus client (tus-js-client in Node) on a real server:
 * chunked upload with progress, resume after an upload cut mid-PATCH, the checks of an upload
 * at completion, the protocol's errors, termination and expiry; and across two nodes
 * (PostgreSQL, S3-compatible blobs): started on one, finished on the other.
 */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import * as tus from 'tus-js-client';
import { startTestServer, type TestServer } from '../support/server.ts';
import { startPostgres, startRedis, startS3, type S3Service, type Service } from '../support/services.ts';

/** A mono 16-bit PCM WAV of `seconds` at 8 kHz (16 000 bytes a second). */
function wav(seconds: number): Buffer {
  const rate = 8000;
  const data = Buffer.alloc(rate * 2 * seconds);
  for (let i = 0; i < rate * seconds; i++) data.writeInt16LE(Math.round(Math.sin(i / 5) * 8000), i * 2);
  const h = Buffer.alloc(44);
  h.write('RIFF', 0); h.writeUInt32LE(36 + data.length, 4); h.write('WAVE', 8); h.write('fmt ', 12); h.writeUInt32LE(16, 16);
  h.writeUInt16LE(1, 20); h.writeUInt16LE(1, 22); h.writeUInt32LE(rate, 24); h.writeUInt32LE(rate * 2, 28); h.writeUInt16LE(2, 32);
  h.writeUInt16LE(16, 34); h.write('data', 36); h.writeUInt32LE(data.length, 40);
  return Buffer.concat([h, data]);
}

const meta = (name: string) => `filename ${Buffer.from(name).toString('base64')}`;

/** Runs a tus-js-client upload to the end; rejects with its error. */
function tusUpload(input: Buffer, opts: tus.UploadOptions): Promise<{ upload: tus.Upload; storageId: string | null; progress: number[] }> {
  const progress: number[] = [];
  return new Promise((resolve, reject) => {
    const upload = new tus.Upload(input, {
      retryDelays: [],
      ...opts,
      onProgress: (sent) => progress.push(sent),
      onSuccess: (payload) => resolve({ upload, storageId: payload.lastResponse.getHeader('careline-storage-id') ?? null, progress }),
      onError: reject,
    });
    upload.start();
  });
}

async function call(base: string, method: string, path: string, headers: Record<string, string>, body?: Buffer) {
  const res = await fetch(base + path, { method, headers, ...(body ? { body: new Uint8Array(body) } : {}) });
  const text = await res.text();
  let json: any = null;
  try {
    json = JSON.parse(text);
  } catch {
    json = null;
  }
  return { status: res.status, headers: res.headers, json };
}

/** Sends the first `send` bytes of a PATCH announcing `body.length`, then cuts the connection. */
function cutPatch(base: string, path: string, token: string, offset: number, body: Buffer, send: number): Promise<void> {
  return new Promise((resolve) => {
    const u = new URL(base + path);
    const req = request({
      host: u.hostname, port: u.port, path: u.pathname, method: 'PATCH',
      headers: { authorization: `Bearer ${token}`, 'tus-resumable': '1.0.0', 'content-type': 'application/offset+octet-stream', 'upload-offset': String(offset), 'content-length': String(body.length) },
    });
    req.on('error', () => resolve());
    req.on('response', () => resolve());
    req.write(body.subarray(0, send), () => setTimeout(() => {
      req.destroy();
      resolve();
    }, 200));
  });
}

async function eventually<T>(f: () => Promise<T>, ok: (v: T) => boolean, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (ok(v) || Date.now() > end) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('tus on one node (SQLite, disk)', () => {
  let s: TestServer;
  let patient: { id: string; token: string };
  let doctor: { id: string; token: string };
  let conv: string;
  const auth = () => ({ authorization: `Bearer ${patient.token}` });
  const T = (h: Record<string, string> = {}) => ({ ...auth(), 'tus-resumable': '1.0.0', ...h });
  const endpoint = () => `${s.url}/api/v2/sessions/${encodeURIComponent(conv)}/uploads`;
  /** Blobs of upload parts (`u/…`); the files' own blobs are elsewhere (and the orphan cleanup may take them). */
  const blobCount = () => {
    let n = 0;
    const walk = (d: string) => {
      let names: string[] = [];
      try {
        names = readdirSync(d);
      } catch {
        return;
      }
      for (const x of names) (statSync(join(d, x)).isDirectory() ? walk(join(d, x)) : n++);
    };
    walk(join(s.dataDir, 'files', 'u'));
    return n;
  };

  before(async () => {
    s = await startTestServer({ config: { files: { maxAudioBytes: 2_000_000, maxFileBytes: 100_000 } } });
    patient = await s.user('pat-tus', 'patient');
    doctor = await s.user('doc-tus', 'doctor');
    conv = await s.conversation({ participants: [patient.id, doctor.id] });
  });
  after(async () => {
    await s?.stop();
  });

  it('tus-js-client uploads a voice note in chunks with progress; the file goes through the usual checks and is attachable', async () => {
    const audio = wav(20); // 320 044 bytes
    const r = await tusUpload(audio, { endpoint: endpoint(), headers: auth(), metadata: { filename: 'long note.wav', filetype: 'audio/wav' }, chunkSize: 64 * 1024 });
    assert.ok(r.storageId, 'the completing PATCH names the stored file');
    assert.ok(r.progress.length >= 5);
    assert.equal(r.progress.at(-1), audio.length);
    const status = await call(s.url, 'GET', new URL(r.upload.url!).pathname, auth());
    assert.equal(status.status, 200, JSON.stringify(status.json));
    assert.equal(status.json.upload.state, 'done');
    assert.equal(status.json.upload.file.storageId, r.storageId);
    assert.equal(status.json.upload.file.kind, 'audio');
    assert.equal(status.json.upload.file.duration, 20);
    assert.equal(status.json.upload.file.fileName, 'long note.wav');
    const sent = await s.call('POST', `/api/v2/sessions/${conv}/messages`, { token: patient.token, body: { type: 3, content: { storageId: r.storageId, duration: 1 } } });
    assert.equal(sent.status, 200, JSON.stringify(sent.body));
    const got = await fetch(`${s.url}/api/v2/files/${r.storageId}`, { headers: { authorization: `Bearer ${doctor.token}` } });
    assert.ok(Buffer.from(await got.arrayBuffer()).equals(audio));
  });

  it('an upload cut in the middle of a PATCH keeps what arrived; tus-js-client resumes from there', async () => {
    const audio = wav(30); // 480 044 bytes
    const created = await call(s.url, 'POST', new URL(endpoint()).pathname, T({ 'upload-length': String(audio.length), 'upload-metadata': meta('resumed.wav') }));
    assert.equal(created.status, 201, JSON.stringify(created.json));
    const location = created.headers.get('location')!;
    assert.match(location, /^\/api\/v2\/uploads\/[0-9A-Za-z]+$/);
    await cutPatch(s.url, location, patient.token, 0, audio, 200_000);
    const head = await eventually(() => call(s.url, 'HEAD', location, T()), (h) => Number(h.headers.get('upload-offset')) > 0);
    const kept = Number(head.headers.get('upload-offset'));
    assert.equal(head.status, 200);
    assert.ok(kept > 0 && kept <= 200_000, `kept ${kept}`);
    assert.equal(head.headers.get('upload-length'), String(audio.length));
    assert.equal(head.headers.get('tus-resumable'), '1.0.0');
    assert.equal(head.headers.get('cache-control'), 'no-store');

    const offsets: string[] = [];
    const r = await tusUpload(audio, {
      uploadUrl: s.url + location, headers: auth(), metadata: { filename: 'resumed.wav' },
      onBeforeRequest: (req) => {
        if (req.getMethod() === 'PATCH') offsets.push(req.getHeader('Upload-Offset') ?? '');
      },
    });
    assert.deepEqual(offsets, [String(kept)], 'one PATCH, from where the cut upload stopped');
    const got = await fetch(`${s.url}/api/v2/files/${r.storageId}`, { headers: auth() });
    assert.ok(Buffer.from(await got.arrayBuffer()).equals(audio), 'the bytes are whole and in order');
  });

  it('completion runs the checks of an upload: a type not accepted ends the upload, nothing is stored, its parts are deleted', async () => {
    const n0 = blobCount();
    const rows = () => s.server.core.storage.files.orphans(Date.now() + 60_000, 1000).then((r) => r.length);
    const rows0 = await rows();
    const bad = Buffer.alloc(50_000, 'not a file type we take ');
    await assert.rejects(
      tusUpload(bad, { endpoint: endpoint(), headers: auth(), metadata: { filename: 'x.txt' }, chunkSize: 20_000 }),
      (e: tus.DetailedError) => e.originalResponse?.getStatus() === 415 && JSON.parse(e.originalResponse.getBody()).code === 'file.type_not_allowed',
    );
    assert.equal(blobCount(), n0);
    // Size limits of the kind apply to the sniffed type (a PDF: maxFileBytes 100 000).
    const pdf = Buffer.concat([Buffer.from('%PDF-1.4\n'), Buffer.alloc(150_000, 0x20), Buffer.from('%%EOF\n')]);
    await assert.rejects(
      tusUpload(pdf, { endpoint: endpoint(), headers: auth(), metadata: { filename: 'big.pdf' }, chunkSize: 60_000 }),
      (e: tus.DetailedError) => e.originalResponse?.getStatus() === 413,
    );
    assert.equal(blobCount(), n0);
    assert.equal(await rows(), rows0, 'no file stored');
  });

  it('protocol errors are coded: version, length, membership, owner, content type, offset, a finished upload', async () => {
    const path = new URL(endpoint()).pathname;
    const opts = await call(s.url, 'OPTIONS', path, {});
    assert.equal(opts.status, 204);
    assert.equal(opts.headers.get('tus-version'), '1.0.0');
    assert.equal(opts.headers.get('tus-extension'), 'creation,termination');
    assert.equal(opts.headers.get('tus-max-size'), String(s.server.core.files.maxBytes));
    const noVersion = await call(s.url, 'POST', path, { ...auth(), 'upload-length': '10', 'upload-metadata': meta('a.wav') });
    assert.equal(noVersion.status, 412);
    assert.equal(noVersion.json.code, 'file.tus_version');
    assert.equal((await call(s.url, 'POST', path, T({ 'upload-length': String(s.server.core.files.maxBytes + 1), 'upload-metadata': meta('a.wav') }))).json.code, 'file.too_large');
    assert.equal((await call(s.url, 'POST', path, T({ 'upload-length': '0', 'upload-metadata': meta('a.wav') }))).json.code, 'file.empty');
    assert.equal((await call(s.url, 'POST', path, T({ 'upload-defer-length': '1', 'upload-metadata': meta('a.wav') }))).json.code, 'file.invalid');
    assert.equal((await call(s.url, 'POST', path, T({ 'upload-length': '10', 'upload-metadata': meta('../etc/passwd') }))).json.code, 'file.invalid');
    const outsider = await s.user('pat-out', 'patient');
    const notMember = await call(s.url, 'POST', path, { 'tus-resumable': '1.0.0', authorization: `Bearer ${outsider.token}`, 'upload-length': '10', 'upload-metadata': meta('a.wav') });
    assert.equal(notMember.json.code, 'conversation.not_participant');

    const created = await call(s.url, 'POST', path, T({ 'upload-length': '100', 'upload-metadata': meta('a.wav') }));
    const loc = created.headers.get('location')!;
    assert.equal((await call(s.url, 'HEAD', loc, { 'tus-resumable': '1.0.0', authorization: `Bearer ${doctor.token}` })).status, 404, 'only the uploader');
    assert.equal((await call(s.url, 'PATCH', loc, T({ 'content-type': 'application/octet-stream', 'upload-offset': '0' }), Buffer.alloc(10))).json.code, 'file.upload_content_type');
    const wrong = await call(s.url, 'PATCH', loc, T({ 'content-type': 'application/offset+octet-stream', 'upload-offset': '5' }), Buffer.alloc(10));
    assert.equal(wrong.status, 409);
    assert.equal(wrong.json.code, 'file.upload_conflict');
    const tooLong = await call(s.url, 'PATCH', loc, T({ 'content-type': 'application/offset+octet-stream', 'upload-offset': '0' }), Buffer.alloc(101));
    assert.equal(tooLong.json.code, 'file.size_mismatch');
    assert.equal((await call(s.url, 'HEAD', loc, T())).headers.get('upload-offset'), '0', 'a PATCH past the length stores nothing');
    const ten = await call(s.url, 'PATCH', loc, T({ 'content-type': 'application/offset+octet-stream', 'upload-offset': '0' }), Buffer.alloc(10, 1));
    assert.equal(ten.status, 204);
    assert.equal(ten.headers.get('upload-offset'), '10');
    // The rest: not a type we take; the upload is over, and says so.
    const rest = await call(s.url, 'PATCH', loc, T({ 'content-type': 'application/offset+octet-stream', 'upload-offset': '10' }), Buffer.alloc(90, 1));
    assert.equal(rest.json.code, 'file.type_not_allowed');
    const gone = await call(s.url, 'HEAD', loc, T());
    assert.equal(gone.status, 410);
    assert.equal(gone.headers.get('upload-offset'), null);
    assert.equal((await call(s.url, 'GET', loc, auth())).json.upload.error, 'file.type_not_allowed');
  });

  it('termination and expiry delete an upload and its parts', async () => {
    const n0 = blobCount();
    const path = new URL(endpoint()).pathname;
    const a = (await call(s.url, 'POST', path, T({ 'upload-length': '1000', 'upload-metadata': meta('a.wav') }))).headers.get('location')!;
    const p1 = await call(s.url, 'PATCH', a, T({ 'content-type': 'application/offset+octet-stream', 'upload-offset': '0' }), wav(1).subarray(0, 400));
    assert.equal(p1.status, 204, JSON.stringify(p1.json));
    assert.equal(blobCount(), n0 + 1);
    assert.equal((await call(s.url, 'DELETE', a, T())).status, 204);
    assert.equal((await call(s.url, 'HEAD', a, T())).status, 404);
    assert.equal(blobCount(), n0);

    const b = (await call(s.url, 'POST', path, T({ 'upload-length': '1000', 'upload-metadata': meta('b.wav') }))).headers.get('location')!;
    await call(s.url, 'PATCH', b, T({ 'content-type': 'application/offset+octet-stream', 'upload-offset': '0' }), wav(1).subarray(0, 400));
    assert.equal(blobCount(), n0 + 1);
    await s.server.core.files.cleanupOrphans(500);
    assert.equal((await call(s.url, 'HEAD', b, T())).status, 200, 'young uploads stay');
    await s.server.core.files.cleanupOrphans(500, Date.now() + (s.server.core.config.files.orphanTtlSeconds + 5) * 1000);
    assert.equal((await call(s.url, 'HEAD', b, T())).status, 404);
    assert.equal(blobCount(), n0);
  });
});

describe('tus across two nodes (PostgreSQL, S3-compatible blobs)', () => {
  let postgres: Service;
  let redis: Service;
  let s3: S3Service;
  let a: TestServer;
  let b: TestServer;

  before(async () => {
    [postgres, redis, s3] = await Promise.all([startPostgres(), startRedis(), startS3()]);
    const admin = new pg.Client({ connectionString: postgres.url });
    await admin.connect();
    await admin.query('CREATE DATABASE careline_tus_nodes');
    await admin.end();
    const url = new URL(postgres.url);
    url.pathname = '/careline_tus_nodes';
    const config = (nodeId: string) => ({
      storage: { driver: 'postgres', postgresUrl: url.toString() }, bus: { driver: 'redis', redisUrl: redis.url }, presence: { driver: 'redis' }, cluster: { nodeId },
      files: { driver: 's3', s3Endpoint: s3.endpoint, s3Bucket: s3.bucket, s3Region: s3.region, s3AccessKeyId: s3.accessKeyId, s3SecretAccessKey: s3.secretAccessKey },
    });
    a = await startTestServer({ config: config('node-a') });
    b = await startTestServer({ config: config('node-b') });
  }, { timeout: 60_000 });
  after(async () => {
    await a?.stop();
    await b?.stop();
    await s3?.stop();
    await redis?.stop();
    await postgres?.stop();
  });

  it('started on node A, cut, resumed by tus-js-client on node B; the file is read on node A', async () => {
    const pat = await a.user('pat-n', 'patient');
    const doc = await a.user('doc-n', 'doctor');
    const conv = await a.conversation({ participants: [pat.id, doc.id] });
    const audio = wav(25);
    const T = { authorization: `Bearer ${pat.token}`, 'tus-resumable': '1.0.0' };
    const created = await call(a.url, 'POST', `/api/v2/sessions/${conv}/uploads`, { ...T, 'upload-length': String(audio.length), 'upload-metadata': meta('nodes.wav') });
    assert.equal(created.status, 201, JSON.stringify(created.json));
    const loc = created.headers.get('location')!;
    const first = await call(a.url, 'PATCH', loc, { ...T, 'content-type': 'application/offset+octet-stream', 'upload-offset': '0' }, audio.subarray(0, 100_000));
    assert.equal(first.status, 204);
    await cutPatch(a.url, loc, pat.token, 100_000, audio.subarray(100_000), 150_000);
    const head = await eventually(() => call(b.url, 'HEAD', loc, T), (h) => Number(h.headers.get('upload-offset')) > 100_000);
    const kept = Number(head.headers.get('upload-offset'));
    assert.ok(kept > 100_000, `node B sees what node A received (${kept})`);
    // Two PATCHes at one offset on the two nodes: one wins.
    const chunk = audio.subarray(kept, kept + 1000);
    const race = await Promise.all([a, b].map((n) => call(n.url, 'PATCH', loc, { ...T, 'content-type': 'application/offset+octet-stream', 'upload-offset': String(kept) }, chunk)));
    assert.deepEqual(race.map((r) => r.status).sort(), [204, 409]);
    const r = await tusUpload(audio, { uploadUrl: b.url + loc, headers: { authorization: `Bearer ${pat.token}` }, chunkSize: 100_000 });
    assert.ok(r.storageId);
    await a.call('POST', `/api/v2/sessions/${conv}/messages`, { token: pat.token, body: { type: 3, content: { storageId: r.storageId, duration: 1 } } });
    const got = await fetch(`${a.url}/api/v2/files/${r.storageId}`, { headers: { authorization: `Bearer ${doc.token}` } });
    assert.equal(got.status, 200);
    assert.ok(Buffer.from(await got.arrayBuffer()).equals(audio));
  });
});
