/** Picks the blob store named by config (`files.driver`). */
import { dirname, join, resolve } from 'node:path';
import type { Config } from '../config/schema.ts';
import type { BlobStore } from '../domain/ports.ts';
import { DiskBlobStore } from './blob-disk.ts';
import { S3BlobStore } from './blob-s3.ts';

/** The disk driver's directory: `files.dir`, else `files` beside the SQLite database file. */
export function filesDir(config: Readonly<Config>): string {
  if (config.files.dir) return resolve(config.files.dir);
  const db = config.storage.sqlitePath;
  const base = db && db !== ':memory:' && !db.startsWith('file:') ? dirname(resolve(db)) : resolve('data');
  return join(base, 'files');
}

export function openBlobs(config: Readonly<Config>): BlobStore {
  const f = config.files;
  switch (f.driver) {
    case 'disk':
      return new DiskBlobStore(filesDir(config));
    case 's3':
      return new S3BlobStore({
        endpoint: f.s3Endpoint, region: f.s3Region, bucket: f.s3Bucket, accessKeyId: f.s3AccessKeyId, secretAccessKey: f.s3SecretAccessKey,
        prefix: f.s3Prefix, forcePathStyle: f.s3ForcePathStyle,
      });
  }
}
