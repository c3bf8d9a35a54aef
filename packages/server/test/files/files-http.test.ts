/**
 * Files over HTTP on a real server (port 0, SQLite file, disk blobs): real JPEGs with EXIF GPS,
 * a PDF, a WAV voice note; bad input refused with coded errors and nothing stored; access by
 * membership, tenant, recall; signed links; audit of reads.
 */
import assert from 'node:assert/strict';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { startTestServer, type TestServer } from '../support/server.ts';

let s: TestServer;
let patient: { id: string; token: string };
let doctor: { id: string; token: string };
let outsider: { id: string; token: string };
let conv: string;

const LIMITS = { maxImageBytes: 300_000, maxAudioBytes: 200_000, maxVideoBytes: 200_000, maxFileBytes: 20_000, signedUrlTtlSeconds: 1 };

async function gpsJpeg(): Promise<Buffer> {
  return sharp({ create: { width: 640, height: 480, channels: 3, background: { r: 200, g: 80, b: 60 } } })
    .jpeg()
    .withExif({
      IFD0: { Make: 'PhoneCam', Model: 'X1' },
      IFD3: { GPSLatitudeRef: 'N', GPSLatitude: '52/1 31/1 12/1', GPSLongitudeRef: 'E', GPSLongitude: '13/1 24/1 36/1' },
    })
    .toBuffer();
}

function pdf(bytes = 600): Buffer {
  const head = Buffer.from('%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n');
  return Buffer.concat([head, Buffer.alloc(Math.max(0, bytes - head.length - 6), 0x20), Buffer.from('%%EOF\n')]);
}

/** A mono 16-bit PCM WAV of `seconds` at 8 kHz. */
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

async function upload(who: { token: string } | { apiKey: string; onBehalf: string }, body: Buffer, name: string, type = 'application/octet-stream', c = conv) {
  const headers: Record<string, string> = { 'content-type': type };
  if ('token' in who) headers.authorization = `Bearer ${who.token}`;
  else Object.assign(headers, { 'x-api-key': who.apiKey, 'x-on-behalf-of': who.onBehalf });
  const res = await fetch(`${s.url}/api/v2/sessions/${encodeURIComponent(c)}/files?name=${encodeURIComponent(name)}`, { method: "POST", headers, body: new Uint8Array(body) });
  return { status: res.status, body: (await res.json()) as any };
}

async function download(path: string, headers: Record<string, string> = {}) {
  const res = await fetch(s.url + path, { headers });
  const bytes = Buffer.from(await res.arrayBuffer());
  return { status: res.status, bytes, headers: res.headers, json: () => JSON.parse(bytes.toString()) };
}

const bearer = (u: { token: string }) => ({ authorization: `Bearer ${u.token}` });

/** Blob files on disk (temp files excluded). */
function blobs(): string[] {
  const root = join(s.dataDir, 'files');
  const out: string[] = [];
  const walk = (d: string) => {
    let names: string[] = [];
    try {
      names = readdirSync(d);
    } catch {
      return;
    }
    for (const n of names) (statSync(join(d, n)).isDirectory() ? walk(join(d, n)) : out.push(n));
  };
  walk(root);
  return out.sort();
}

const fileRows = () => s.server.core.storage.files.orphans(Date.now() + 60_000, 1000).then((r) => r.length);

before(async () => {
  s = await startTestServer({ config: { files: LIMITS } });
  patient = await s.user('pat-1', 'patient');
  doctor = await s.user('doc-1', 'doctor');
  outsider = await s.user('pat-2', 'patient');
  conv = await s.conversation({ participants: [patient.id, doctor.id] });
});
after(async () => {
  await s?.stop();
});

describe('files over HTTP', () => {
  let imageId = '';

  it('an uploaded JPEG is served without its EXIF and GPS, with dimensions and a thumbnail', async () => {
    const original = await gpsJpeg();
    const meta = await sharp(original).metadata();
    assert.ok(meta.exif && meta.exif.includes(Buffer.from([0x25, 0x88])), 'the test image carries a GPS IFD pointer');
    const up = await upload(patient, original, 'rash photo.jpg', 'image/jpeg');
    assert.equal(up.status, 200, JSON.stringify(up.body));
    const f = up.body.file;
    imageId = f.storageId;
    assert.equal(f.mimeType, 'image/jpeg');
    assert.equal(f.fileName, 'rash photo.jpg');
    assert.equal(f.width, 640);
    assert.equal(f.height, 480);
    assert.equal(f.thumbnail, `/api/v2/files/${imageId}/thumbnail`);
    assert.equal(f.thumbnailWidth, 320);
    assert.equal(f.thumbnailHeight, 240);

    const got = await download(`/api/v2/files/${imageId}`, bearer(patient));
    assert.equal(got.status, 200);
    assert.equal(got.headers.get('content-type'), 'image/jpeg');
    assert.equal(got.bytes.length, f.fileSize);
    const served = await sharp(got.bytes).metadata();
    assert.equal(served.exif, undefined, 'no EXIF in what is served');
    assert.equal(got.bytes.includes(Buffer.from('Exif\0\0')), false);
    assert.equal(got.bytes.includes(Buffer.from('PhoneCam')), false);
    assert.equal(served.width, 640);
    const thumb = await download(`/api/v2/files/${imageId}/thumbnail`, bearer(patient));
    assert.equal(thumb.status, 200);
    assert.equal((await sharp(thumb.bytes).metadata()).width, 320);
    assert.equal((await sharp(thumb.bytes).metadata()).exif, undefined);
    // A byte range.
    const part = await download(`/api/v2/files/${imageId}`, { ...bearer(patient), range: 'bytes=0-9' });
    assert.equal(part.status, 206);
    assert.ok(part.bytes.equals(got.bytes.subarray(0, 10)));
    assert.equal(part.headers.get('content-range'), `bytes 0-9/${f.fileSize}`);
  });

  it('until a message attaches it only the uploader reads it; then the members, and the reads are audited', async () => {
    assert.equal((await download(`/api/v2/files/${imageId}`, bearer(doctor))).json().code, 'file.not_found');
    const sent = await s.call('POST', `/api/v2/sessions/${conv}/messages`, { token: patient.token, body: { type: 2, content: { storageId: imageId, width: 1, mimeType: 'image/gif' } } });
    assert.equal(sent.status, 200, JSON.stringify(sent.body));
    const c = sent.body.message.content;
    assert.equal(c.storageId, imageId);
    assert.equal(c.width, 640, 'stored facts replace the client\'s');
    assert.equal(c.mimeType, 'image/jpeg');
    assert.equal(c.thumbnailWidth, 320);
    const got = await download(`/api/v2/files/${imageId}`, bearer(doctor));
    assert.equal(got.status, 200);
    // The same file cannot be attached twice.
    const again = await s.call('POST', `/api/v2/sessions/${conv}/messages`, { token: patient.token, body: { type: 2, content: { storageId: imageId } } });
    assert.equal(again.body.code, 'file.not_attachable');
    // The API key on behalf of a member, and the API key alone, read it.
    assert.equal((await download(`/api/v2/files/${imageId}`, { 'x-api-key': s.apiKey, 'x-on-behalf-of': doctor.id })).status, 200);
    assert.equal((await download(`/api/v2/files/${imageId}`, { 'x-api-key': s.apiKey })).status, 200);
    const audit = await s.call('GET', `/api/v2/management/audit?conversation_id=${encodeURIComponent(conv)}`);
    const reads = audit.body.records.filter((r: any) => r.action === 'files.read');
    assert.ok(reads.some((r: any) => r.actor_id === doctor.id || r.actor_id?.includes(doctor.id)), JSON.stringify(reads));
  });

  it('a non-member, another tenant and a forged or expired signed link read nothing', async () => {
    assert.equal((await download(`/api/v2/files/${imageId}`, bearer(outsider))).json().code, 'file.not_found');
    // Another tenant's key.
    const t2 = `t2${Math.random().toString(36).slice(2, 8)}`;
    await s.call('POST', '/api/v2/admin/tenants', { apiKey: null, body: { id: t2, name: 'Other' }, headers: { 'x-admin-token': 'test-admin-token' } });
    const key2 = (await s.call('POST', `/api/v2/admin/tenants/${t2}/apps`, { apiKey: null, body: { name: 'x' }, headers: { 'x-admin-token': 'test-admin-token' } })).body.api_key;
    const other = await download(`/api/v2/files/${imageId}`, { 'x-api-key': key2 });
    assert.equal(other.status, 404);
    assert.equal(other.json().code, 'file.not_found');

    const link = await s.call('POST', `/api/v2/files/${imageId}/link?variant=thumbnail`, { token: doctor.token });
    assert.equal(link.status, 200, JSON.stringify(link.body));
    const viaLink = await download(link.body.url);
    assert.equal(viaLink.status, 200);
    assert.equal(viaLink.headers.get('content-type'), 'image/jpeg');
    const forged = link.body.url.replace(/.$/, (ch: string) => (ch === 'A' ? 'B' : 'A'));
    assert.equal((await download(forged)).json().code, 'file.link_invalid');
    await new Promise((r) => setTimeout(r, 1100));
    assert.equal((await download(link.body.url)).json().code, 'file.link_invalid', 'expired');
  });

  it('a recalled message\'s file is no longer served', async () => {
    const up = await upload(doctor, await gpsJpeg(), 'x.jpg', 'image/jpeg');
    const sent = await s.call('POST', `/api/v2/sessions/${conv}/messages`, { token: doctor.token, body: { type: 2, content: { storageId: up.body.file.storageId } } });
    assert.equal((await download(`/api/v2/files/${up.body.file.storageId}`, bearer(patient))).status, 200);
    const r = await s.call('POST', `/api/v2/sessions/${conv}/messages/${sent.body.message.id}/recall`, { token: doctor.token });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal((await download(`/api/v2/files/${up.body.file.storageId}`, bearer(patient))).json().code, 'file.not_found');
  });

  it('a voice note gets its duration; a PDF its type; the API key uploads on behalf of a user', async () => {
    const v = await upload({ apiKey: s.apiKey, onBehalf: patient.id }, wav(2), 'note.wav', 'audio/wav');
    assert.equal(v.status, 200, JSON.stringify(v.body));
    assert.equal(v.body.file.mimeType, 'audio/wav');
    assert.equal(v.body.file.duration, 2);
    const sent = await s.call('POST', `/api/v2/sessions/${conv}/messages`, { token: patient.token, body: { type: 3, content: { storageId: v.body.file.storageId, duration: 99 } } });
    assert.equal(sent.status, 200, JSON.stringify(sent.body));
    assert.equal(sent.body.message.content.duration, 2);
    const p = await upload(doctor, pdf(), 'lab report.pdf');
    assert.equal(p.status, 200, JSON.stringify(p.body));
    assert.equal(p.body.file.mimeType, 'application/pdf');
    const got = await download(`/api/v2/files/${p.body.file.storageId}`, bearer(doctor));
    assert.ok(got.bytes.equals(pdf()));
  });

  it('bad uploads are refused with coded errors and store nothing', async () => {
    const before = { blobs: blobs(), rows: await fileRows() };
    const png = await sharp({ create: { width: 8, height: 8, channels: 3, background: 'blue' } }).png().toBuffer();
    const cases: [string, Promise<{ status: number; body: any }>][] = [
      ['file.empty', upload(patient, Buffer.alloc(0), 'a.jpg')],
      ['file.too_large', upload(patient, Buffer.alloc(400_000, 1), 'big.bin')],
      ['file.too_large', upload(patient, pdf(30_000), 'big.pdf')],
      ['file.type_mismatch', upload(patient, png, 'a.jpg', 'image/jpeg')],
      ['file.type_not_allowed', upload(patient, Buffer.from('just some text, not a file type we take'), 'a.txt')],
      ['file.type_not_allowed', upload(patient, Buffer.from('MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff'.repeat(20), 'latin1'), 'a.exe')],
      ['file.invalid', upload(patient, png, '../../etc/passwd')],
      ['file.invalid', upload(patient, png, 'dir/a.png')],
      ['file.invalid', upload(patient, png, '..\\a.png')],
      ['file.invalid', upload(patient, png, '.htaccess')],
      ['conversation.not_participant', upload(outsider, png, 'a.png')],
    ];
    for (const [code, p] of cases) {
      const r = await p;
      assert.equal(r.body.code, code, `${code}: ${JSON.stringify(r.body)}`);
    }
    // Sending a message with a storage id that is not the sender's, or of nothing.
    const mine = await upload(patient, png, 'mine.png', 'image/png');
    const steal = await s.call('POST', `/api/v2/sessions/${conv}/messages`, { token: doctor.token, body: { type: 2, content: { storageId: mine.body.file.storageId } } });
    assert.equal(steal.body.code, 'file.not_attachable');
    const none = await s.call('POST', `/api/v2/sessions/${conv}/messages`, { token: doctor.token, body: { type: 2, content: { storageId: '01JAAAAAAAAAAAAAAAAAAAAAAA0123456789abcdef' } } });
    assert.equal(none.body.code, 'file.not_found');
    assert.equal(blobs().length, before.blobs.length + 2, 'only the good upload (and its thumbnail) was stored');
    assert.equal(await fileRows(), before.rows + 1);
  });

  it('orphaned uploads are deleted after files.orphanTtlSeconds', async () => {
    const png = await sharp({ create: { width: 8, height: 8, channels: 3, background: 'green' } }).png().toBuffer();
    const up = await upload(patient, png, 'orphan.png', 'image/png');
    const files = s.server.core.files;
    const n0 = blobs().length;
    // Young uploads stay; the run is then made as if a day had passed, instead of waiting one.
    assert.equal(await files.cleanupOrphans(), 0);
    assert.equal((await download(`/api/v2/files/${up.body.file.storageId}`, bearer(patient))).status, 200);
    const later = Date.now() + (s.server.core.config.files.orphanTtlSeconds + 1) * 1000;
    assert.ok((await files.cleanupOrphans(500, later)) >= 1);
    assert.equal((await download(`/api/v2/files/${up.body.file.storageId}`, bearer(patient))).json().code, 'file.not_found');
    assert.ok(blobs().length <= n0 - 2);
  });
});
