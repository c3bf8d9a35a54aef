/**
 * Blobs as files under one directory (by default `files` beside the SQLite database): for one
 * node, or several sharing a network file system. A put writes a temp file in the same
 * directory and renames it into place, so a reader sees the whole old object or the whole new
 * one, never half.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { BlobStat, BlobStore } from '../domain/ports.ts';
import { fail } from '../domain/errors.ts';
import { checkKey, counted } from './blob-keys.ts';

export class DiskBlobStore implements BlobStore {
  readonly root: string;

  constructor(root: string) {
    this.root = root;
  }

  #path(key: string): string {
    return join(this.root, ...checkKey(key).split('/'));
  }

  async put(key: string, body: AsyncIterable<Uint8Array>, size: number): Promise<void> {
    const path = this.#path(key);
    await mkdir(dirname(path), { recursive: true });
    const tmp = `${path}.${randomBytes(6).toString('hex')}.part`;
    try {
      await pipeline(Readable.from(counted(body, size)), createWriteStream(tmp, { flags: 'wx' }));
      await rename(tmp, path);
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
  }

  async get(key: string, range?: { start: number; end: number }) {
    const path = this.#path(key);
    const s = await this.stat(key);
    if (!s) return null;
    if (range && (range.start < 0 || range.end < range.start || range.end >= s.size)) throw fail('file.range_invalid', undefined, { size: s.size });
    return createReadStream(path, range ? { start: range.start, end: range.end } : {});
  }

  async stat(key: string): Promise<BlobStat | null> {
    try {
      const s = await stat(this.#path(key));
      return s.isFile() ? { size: s.size } : null;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
  }

  async delete(key: string): Promise<boolean> {
    const path = this.#path(key);
    if (!(await this.stat(key))) return false;
    await rm(path, { force: true });
    return true;
  }

  async close(): Promise<void> {}
}
