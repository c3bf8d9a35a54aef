/** The blob store contract on local disk and on a real S3-compatible server (s3rver). */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { DiskBlobStore } from '../../src/files/blob-disk.ts';
import { S3BlobStore } from '../../src/files/blob-s3.ts';
import { startS3, type S3Service } from '../support/s3.ts';
import { blobContract } from './blob-contract.ts';

blobContract('disk', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'careline-blobs-'));
  const blobs = new DiskBlobStore(dir);
  return { blobs, done: async () => { await blobs.close(); rmSync(dir, { recursive: true, force: true }); } };
});

let s3: S3Service;
before(async () => {
  s3 = await startS3();
});
after(async () => {
  await s3?.stop();
});
let n = 0;
blobContract('s3', async () => {
  const blobs = new S3BlobStore({
    endpoint: s3.endpoint, region: s3.region, bucket: s3.bucket, accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey,
    prefix: `run-${++n}/`, forcePathStyle: true,
  });
  return { blobs, done: () => blobs.close() };
});
