/**
 * `client.files` against a real server: upload a Blob, bytes and a Node stream with progress
 * events, send the stored file as an image, voice note and document, open signed links, and
 * the server's codes for bad input.
 */
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { describe, test } from 'node:test';
import sharp from 'sharp';
import { CarelineError, MessageTypes, type Message, type UploadProgress } from '../src/index.ts';
import { Harness, Inbox, nextEvent } from './support/harness.ts';

const T = { timeout: 30_000 };

async function jpeg(width = 800, height = 600): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: { r: 10, g: 120, b: 200 } } })
    .jpeg({ quality: 95 })
    .withExif({ IFD3: { GPSLatitudeRef: 'N', GPSLatitude: '52/1 31/1 12/1', GPSLongitudeRef: 'E', GPSLongitude: '13/1 24/1 36/1' } })
    .toBuffer();
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

function pdf(bytes: number): Buffer {
  const head = Buffer.from('%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n');
  return Buffer.concat([head, Buffer.alloc(Math.max(0, bytes - head.length - 6), 0x20), Buffer.from('%%EOF\n')]);
}

function checkProgress(events: UploadProgress[], size: number) {
  assert.ok(events.length >= 2, `several progress events (got ${events.length})`);
  for (let i = 1; i < events.length; i++) assert.ok(events[i]!.loaded >= events[i - 1]!.loaded, 'progress never goes back');
  assert.deepEqual(events.at(-1), { loaded: size, total: size });
}

describe('client.files', () => {
  const h = Harness.forSuite({ files: { maxFileBytes: 2_000_000 } });

  test('a Blob (File) is uploaded with progress and sent as an image; the doctor gets seed 003 fields and opens it by a signed link', T, async () => {
    const { patient, doctor, conv } = await h.pair();
    const p = h.client(patient.token);
    const d = h.client(doctor.token);
    await Promise.all([p.connect(), d.connect()]);
    const bytes = await jpeg();
    const file = new File([new Uint8Array(bytes)], 'rash.jpg', { type: 'image/jpeg' });
    const progress: UploadProgress[] = [];
    const got = nextEvent(d, 'message', (m) => m.conversation_id === conv);
    const { ack, file: stored } = await p.files.send(conv, file, { onProgress: (e) => progress.push(e) });
    checkProgress(progress, bytes.length);
    assert.equal(stored.fileName, 'rash.jpg');
    assert.equal(stored.kind, 'image');
    assert.equal(stored.mimeType, 'image/jpeg');
    assert.equal(stored.width, 800);
    assert.equal(stored.thumbnailWidth, 320);
    assert.ok(stored.fileSize < bytes.length + 1, 'stored without its metadata');
    assert.equal(ack.duplicate, false);

    const m: Message = await got;
    assert.equal(m.type, MessageTypes.IMAGE);
    const c = m.content as Record<string, unknown>;
    assert.equal(c.storageId, stored.storageId);
    assert.equal(c.width, 800);
    assert.equal(c.height, 600);
    assert.equal(c.thumbnail, `/api/v2/files/${stored.storageId}/thumbnail`);
    assert.equal(c.mimeType, 'image/jpeg');

    // The doctor reads it: a signed link without credentials, and the thumbnail with the token.
    const link = await d.files.url(stored.storageId);
    assert.ok(link.url.startsWith(`${h.server.url}/api/v2/signed-files/`), link.url);
    assert.ok(link.expires_at > Date.now());
    const res = await fetch(link.url);
    assert.equal(res.status, 200);
    const served = Buffer.from(await res.arrayBuffer());
    assert.equal(served.length, stored.fileSize);
    assert.equal((await sharp(served).metadata()).exif, undefined, 'no EXIF (GPS) in what the doctor gets');
    const thumb = await d.files.download(stored.storageId, { variant: 'thumbnail' });
    assert.equal(thumb.headers.get('content-type'), 'image/jpeg');
    assert.equal((await sharp(Buffer.from(await thumb.arrayBuffer())).metadata()).width, 320);
    const tlink = await d.files.url(stored.storageId, { variant: 'thumbnail' });
    assert.equal((await fetch(tlink.url)).status, 200);
  });

  test('a Node stream is sent as a voice note with its duration; bytes (a Uint8Array) as a document', T, async () => {
    const { patient, doctor, conv } = await h.pair();
    const p = h.client(patient.token);
    const d = h.client(doctor.token);
    await Promise.all([p.connect(), d.connect()]);
    const inbox = new Inbox(d);
    const audio = wav(3);
    const progress: UploadProgress[] = [];
    // A stream of small pieces of unknown total length.
    const stream = Readable.from((function* () {
      for (let i = 0; i < audio.length; i += 10_000) yield audio.subarray(i, i + 10_000);
    })());
    const voice = await p.files.send(conv, stream, { name: 'note.wav', onProgress: (e) => progress.push(e) });
    assert.equal(voice.file.kind, 'audio');
    assert.equal(voice.file.duration, 3);
    assert.ok(progress.length >= 2);
    assert.deepEqual(progress.at(-1), { loaded: audio.length, total: audio.length });
    assert.ok(progress.slice(0, -1).every((e) => e.total === null), 'a stream without size has no total');

    const doc = pdf(300_000);
    const docProgress: UploadProgress[] = [];
    const sent = await p.files.send(conv, new Uint8Array(doc), { name: 'lab report.pdf', onProgress: (e) => docProgress.push(e) });
    checkProgress(docProgress, doc.length);
    assert.equal(sent.file.kind, 'file');

    const [vm, fm] = await inbox.wait(conv, 2);
    assert.equal(vm!.type, MessageTypes.VOICE);
    assert.deepEqual(vm!.content, { storageId: voice.file.storageId, duration: 3, mimeType: voice.file.mimeType });
    assert.equal(fm!.type, MessageTypes.FILE);
    assert.deepEqual(fm!.content, { storageId: sent.file.storageId, fileName: 'lab report.pdf', fileSize: doc.length, mimeType: 'application/pdf' });
    const res = await d.files.download(sent.file.storageId);
    assert.deepEqual(Buffer.from(await res.arrayBuffer()), doc);
  });

  test('a web ReadableStream with a size; upload then sendStored', T, async () => {
    const { patient, doctor, conv } = await h.pair();
    const p = h.client(patient.token);
    await p.connect();
    const doc = pdf(150_000);
    const web = new Blob([new Uint8Array(doc)]).stream();
    const progress: UploadProgress[] = [];
    const stored = await p.files.upload(web, { conversationId: conv, name: 'scan.pdf', size: doc.length, onProgress: (e) => progress.push(e) });
    checkProgress(progress, doc.length);
    assert.equal(stored.fileSize, doc.length);
    // Not attached yet: the doctor cannot read it.
    const d = h.client(doctor.token);
    await assert.rejects(d.files.url(stored.storageId).then((l) => fetch(l.url)).then(async (r) => {
      if (!r.ok) throw new CarelineError(((await r.json()) as { code: 'file.not_found' }).code, 'x');
    }), (e: CarelineError) => e.code === 'file.not_found');
    const ack = await p.files.sendStored(conv, stored);
    assert.ok(ack.seq >= 1);
    assert.equal((await d.files.download(stored.storageId)).status, 200);
  });

  test('bad input: coded errors from the server, and a cancelled upload', T, async () => {
    const { patient, conv } = await h.pair();
    const p = h.client(patient.token);
    await assert.rejects(p.files.upload(new Uint8Array(0), { conversationId: conv, name: 'empty.pdf' }), (e: CarelineError) => e.code === 'file.empty' && e.status === 400);
    await assert.rejects(p.files.upload(new TextEncoder().encode('just text'), { conversationId: conv, name: 'a.txt' }), (e: CarelineError) => e.code === 'file.type_not_allowed');
    await assert.rejects(p.files.upload(new Uint8Array(pdf(1000)), { conversationId: conv, name: '../etc/passwd' }), (e: CarelineError) => e.code === 'file.invalid');
    await assert.rejects(p.files.upload(new Uint8Array(pdf(1000)), { conversationId: conv, name: 'x.pdf', mimeType: 'image/png' }), (e: CarelineError) => e.code === 'file.type_mismatch');
    await assert.rejects(p.files.upload(new Uint8Array(pdf(3_000_000)), { conversationId: conv, name: 'big.pdf' }), (e: CarelineError) => e.code === 'file.too_large');
    await assert.rejects(p.files.upload(new Uint8Array(pdf(1000)), { conversationId: 'nope', name: 'x.pdf' }), (e: CarelineError) => e.code === 'conversation.not_found' || e.code === 'conversation.not_participant');
    const ac = new AbortController();
    ac.abort();
    await assert.rejects(p.files.upload(new Uint8Array(pdf(1000)), { conversationId: conv, name: 'x.pdf', signal: ac.signal }), (e: CarelineError) => e.code === 'client.aborted');
    await assert.rejects(p.files.url('01ARZ3NDEKTSV4RRFFQ69G5FAV0123456789abcdef'), (e: CarelineError) => e.code === 'file.not_found');
  });
});
