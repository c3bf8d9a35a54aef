/**
 * The virus-scan hook with a real clamd (its own temp dir and EICAR signature, see clamd.ts):
 * clean files are stored; the EICAR test string in a PDF or in a JPEG's EXIF is refused with
 * `file.infected`; a file past clamd's stream limit, and clamd down, give `file.scan_failed`;
 * nothing is stored in any refused case.
 */
import assert from 'node:assert/strict';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { startTestServer, type TestServer } from '../support/server.ts';
import { EICAR, startClamd, type Clamd } from './clamd.ts';

let s: TestServer;
let clamd: Clamd;
let patient: { id: string; token: string };
let conv: string;

function pdf(bytes: number, inside = ''): Buffer {
  const head = Buffer.from(`%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n% ${inside}\n`);
  return Buffer.concat([head, Buffer.alloc(Math.max(0, bytes - head.length - 6), 0x20), Buffer.from('%%EOF\n')]);
}

async function upload(body: Buffer, name: string) {
  const res = await fetch(`${s.url}/api/v2/sessions/${encodeURIComponent(conv)}/files?name=${encodeURIComponent(name)}`, {
    method: 'POST', headers: { authorization: `Bearer ${patient.token}`, 'content-type': 'application/octet-stream' }, body: new Uint8Array(body),
  });
  return { status: res.status, body: (await res.json()) as any };
}

function blobs(): number {
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
  walk(join(s.dataDir, 'files'));
  return n;
}
const rows = () => s.server.core.storage.files.orphans(Date.now() + 60_000, 1000).then((r) => r.length);

before(async () => {
  clamd = await startClamd({ streamMaxBytes: 150_000 });
  s = await startTestServer({ config: { files: { scan: { enabled: true, socket: clamd.socket, timeoutMs: 20_000 } } } });
  patient = await s.user('pat-scan', 'patient');
  const doctor = await s.user('doc-scan', 'doctor');
  conv = await s.conversation({ participants: [patient.id, doctor.id] });
});
after(async () => {
  await s?.stop();
  await clamd?.stop();
});

describe('virus scanning with clamd', () => {
  it('clean files are stored', async () => {
    const r = await upload(pdf(50_000), 'clean.pdf');
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const img = await sharp({ create: { width: 64, height: 64, channels: 3, background: 'white' } }).jpeg().toBuffer();
    assert.equal((await upload(img, 'clean.jpg')).status, 200);
  });

  it('the EICAR test string in a PDF, or in a JPEG\'s EXIF, is refused with file.infected and nothing is stored', async () => {
    const before = { blobs: blobs(), rows: await rows() };
    const a = await upload(pdf(20_000, EICAR), 'lab.pdf');
    assert.equal(a.status, 422, JSON.stringify(a.body));
    assert.equal(a.body.code, 'file.infected');
    assert.match(a.body.details.signature, /EICAR/);
    const jpeg = await sharp({ create: { width: 64, height: 64, channels: 3, background: 'red' } }).jpeg().withExif({ IFD0: { ImageDescription: EICAR } }).toBuffer();
    const b = await upload(jpeg, 'photo.jpg');
    assert.equal(b.body.code, 'file.infected', JSON.stringify(b.body));
    assert.equal(blobs(), before.blobs);
    assert.equal(await rows(), before.rows);
  });

  it('a file past clamd\'s StreamMaxLength cannot be scanned: file.scan_failed, nothing stored', async () => {
    const before = { blobs: blobs(), rows: await rows() };
    const r = await upload(pdf(400_000), 'big.pdf');
    assert.equal(r.status, 503, JSON.stringify(r.body));
    assert.equal(r.body.code, 'file.scan_failed');
    assert.equal(blobs(), before.blobs);
    assert.equal(await rows(), before.rows);
  });

  it('clamd down: file.scan_failed, nothing stored', async () => {
    await clamd.stop();
    const before = { blobs: blobs(), rows: await rows() };
    const r = await upload(pdf(10_000), 'later.pdf');
    assert.equal(r.status, 503, JSON.stringify(r.body));
    assert.equal(r.body.code, 'file.scan_failed');
    assert.equal(blobs(), before.blobs);
    assert.equal(await rows(), before.rows);
  });
});
