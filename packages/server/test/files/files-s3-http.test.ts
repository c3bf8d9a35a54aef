/** The same upload and download over HTTP with `files.driver: s3`, against a real S3-compatible server (s3rver). */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import sharp from 'sharp';
import { startTestServer, type TestServer } from '../support/server.ts';
import { startS3, type S3Service } from '../support/s3.ts';

let s3: S3Service;
let s: TestServer;
before(async () => {
  s3 = await startS3();
  s = await startTestServer({
    config: { files: { driver: 's3', s3Endpoint: s3.endpoint, s3Bucket: s3.bucket, s3Region: s3.region, s3AccessKeyId: s3.accessKeyId, s3SecretAccessKey: s3.secretAccessKey, s3Prefix: 'careline/' } },
  });
});
after(async () => {
  await s?.stop();
  await s3?.stop();
});

it('s3: an image uploaded, attached and read by the other member, without its EXIF; a range; a thumbnail', async () => {
  const p = await s.user('p1', 'patient');
  const d = await s.user('d1', 'doctor');
  const conv = await s.conversation({ participants: [p.id, d.id] });
  const jpeg = await sharp({ create: { width: 100, height: 50, channels: 3, background: 'red' } }).jpeg().withExif({ IFD3: { GPSLatitudeRef: 'N', GPSLatitude: '1/1 2/1 3/1' } }).toBuffer();
  const up = await fetch(`${s.url}/api/v2/sessions/${conv}/files?name=a.jpg`, { method: 'POST', headers: { authorization: `Bearer ${p.token}`, 'content-type': 'image/jpeg' }, body: new Uint8Array(jpeg) });
  const { file } = (await up.json()) as any;
  assert.equal(up.status, 200);
  const sent = await s.call('POST', `/api/v2/sessions/${conv}/messages`, { token: p.token, body: { type: 2, content: { storageId: file.storageId } } });
  assert.equal(sent.status, 200, JSON.stringify(sent.body));
  const res = await fetch(`${s.url}/api/v2/files/${file.storageId}`, { headers: { authorization: `Bearer ${d.token}` } });
  const bytes = Buffer.from(await res.arrayBuffer());
  assert.equal(res.status, 200);
  assert.equal(bytes.length, file.fileSize);
  assert.equal((await sharp(bytes).metadata()).exif, undefined);
  const part = await fetch(`${s.url}/api/v2/files/${file.storageId}`, { headers: { authorization: `Bearer ${d.token}`, range: 'bytes=2-5' } });
  assert.equal(part.status, 206);
  assert.ok(Buffer.from(await part.arrayBuffer()).equals(bytes.subarray(2, 6)));
  const thumb = await fetch(`${s.url}${file.thumbnail}`, { headers: { authorization: `Bearer ${d.token}` } });
  assert.equal(thumb.status, 200);
  assert.equal((await sharp(Buffer.from(await thumb.arrayBuffer())).metadata()).width, 100);
});
