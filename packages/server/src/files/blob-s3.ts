/**
 * Blobs in an S3-compatible bucket (`files.driver: s3`), shared by every node. One PutObject
 * per file with its length known (the upload is spooled to a local temp file first, so the
 * body is never held in memory): objects up to S3's 5 GiB single-put limit. Checksums are
 * sent only when an operation requires them, which keeps S3-compatible servers that do not
 * know the newer checksum headers working.
 */
import { Readable } from 'node:stream';
import type { S3Client } from '@aws-sdk/client-s3';
import type { BlobStat, BlobStore } from '../domain/ports.ts';
import { fail, isAppError } from '../domain/errors.ts';
import { checkKey, counted } from './blob-keys.ts';

export interface S3BlobOptions {
  endpoint: string;
  region: string;
  bucket: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** Object keys start with this (e.g. `careline/`). */
  prefix: string;
  /** Path-style URLs (`endpoint/bucket/key`), which most S3-compatible servers need. */
  forcePathStyle: boolean;
}

export class S3BlobStore implements BlobStore {
  readonly #o: S3BlobOptions;
  #client: Promise<{ s3: S3Client; sdk: Sdk }> | null = null;
  readonly #bucket: string;
  readonly #prefix: string;

  constructor(o: S3BlobOptions) {
    this.#o = o;
    this.#bucket = o.bucket;
    this.#prefix = o.prefix;
  }

  #sdk(): Promise<{ s3: S3Client; sdk: Sdk }> {
    const o = this.#o;
    return (this.#client ??= import('@aws-sdk/client-s3').then((sdk) => ({ sdk, s3: new sdk.S3Client({
      ...(o.endpoint ? { endpoint: o.endpoint } : {}),
      region: o.region,
      forcePathStyle: o.forcePathStyle,
      ...(o.accessKeyId ? { credentials: { accessKeyId: o.accessKeyId, secretAccessKey: o.secretAccessKey } } : {}),
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      maxAttempts: 3,
      // Failures surface as coded errors to the caller; the SDK's own console lines are noise.
      logger: { trace() {}, debug() {}, info() {}, warn() {}, error() {} },
    }) })));
  }

  #key(key: string): string {
    return this.#prefix + checkKey(key);
  }

  async put(key: string, body: AsyncIterable<Uint8Array>, size: number): Promise<void> {
    const Key = this.#key(key);
    // A body that runs long or short aborts the request: S3 stores nothing for it (and should
    // the server have taken the announced length before the excess showed, the object is
    // deleted again).
    const { s3, sdk } = await this.#sdk();
    const abort = new AbortController();
    let bodyError: unknown = null;
    const stream = Readable.from(counted(body, size));
    stream.once('error', (err) => {
      bodyError = err;
      abort.abort(err);
    });
    try {
      await s3.send(new sdk.PutObjectCommand({ Bucket: this.#bucket, Key, Body: stream, ContentLength: size }), { abortSignal: abort.signal });
    } catch (err) {
      throw unavailable(bodyError ?? err);
    }
    if (bodyError) {
      await s3.send(new sdk.DeleteObjectCommand({ Bucket: this.#bucket, Key })).catch(() => {});
      throw bodyError;
    }
  }

  async get(key: string, range?: { start: number; end: number }) {
    const Key = this.#key(key);
    if (range) {
      const s = await this.stat(key);
      if (!s) return null;
      if (range.start < 0 || range.end < range.start || range.end >= s.size) throw fail('file.range_invalid', undefined, { size: s.size });
    }
    const { s3, sdk } = await this.#sdk();
    try {
      const out = await s3.send(new sdk.GetObjectCommand({ Bucket: this.#bucket, Key, ...(range ? { Range: `bytes=${range.start}-${range.end}` } : {}) }));
      return out.Body as Readable;
    } catch (err) {
      if (missing(sdk, err)) return null;
      throw unavailable(err);
    }
  }

  async stat(key: string): Promise<BlobStat | null> {
    const Key = this.#key(key);
    const { s3, sdk } = await this.#sdk();
    try {
      const out = await s3.send(new sdk.HeadObjectCommand({ Bucket: this.#bucket, Key }));
      return { size: out.ContentLength ?? 0 };
    } catch (err) {
      if (missing(sdk, err)) return null;
      throw unavailable(err);
    }
  }

  async delete(key: string): Promise<boolean> {
    if (!(await this.stat(key))) return false;
    const { s3, sdk } = await this.#sdk();
    await wrap(s3.send(new sdk.DeleteObjectCommand({ Bucket: this.#bucket, Key: this.#key(key) })));
    return true;
  }

  async close(): Promise<void> {
    if (this.#client) (await this.#client).s3.destroy();
  }
}

type Sdk = typeof import('@aws-sdk/client-s3');

function missing(sdk: Sdk, err: unknown): boolean {
  return err instanceof sdk.S3ServiceException && (err.$metadata.httpStatusCode === 404 || err.name === 'NoSuchKey' || err.name === 'NotFound');
}

function unavailable(err: unknown): Error {
  if (isAppError(err)) return err;
  return fail('file.storage_failed', err instanceof Error ? err.message : String(err), { storage: 's3' });
}

async function wrap<T>(p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (err) {
    throw unavailable(err);
  }
}
