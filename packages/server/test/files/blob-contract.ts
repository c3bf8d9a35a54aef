/** The `BlobStore` contract: every backend (disk, S3) passes these same tests. */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import type { BlobStore } from '../../src/domain/ports.ts';

async function* chunks(buf: Buffer, size = 64 * 1024): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < buf.length; i += size) yield buf.subarray(i, i + size);
}

async function read(s: AsyncIterable<Uint8Array> | null): Promise<Buffer> {
  assert.ok(s, 'expected a stream');
  const parts: Buffer[] = [];
  for await (const c of s) parts.push(Buffer.from(c));
  return Buffer.concat(parts);
}

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    return (err as { code?: string }).code ?? String(err);
  }
  return 'no error';
}

export function blobContract(name: string, open: () => Promise<{ blobs: BlobStore; done: () => Promise<void> }>): void {
  test(`${name}: put streams a body in; get, a range, stat and delete read it back`, async () => {
    const { blobs, done } = await open();
    try {
      const body = randomBytes(300 * 1024 + 7);
      await blobs.put('t1/ab/file-1', chunks(body), body.length);
      assert.deepEqual(await blobs.stat('t1/ab/file-1'), { size: body.length });
      assert.ok((await read(await blobs.get('t1/ab/file-1'))).equals(body));
      assert.ok((await read(await blobs.get('t1/ab/file-1', { start: 10, end: 99 }))).equals(body.subarray(10, 100)));
      assert.ok((await read(await blobs.get('t1/ab/file-1', { start: body.length - 1, end: body.length - 1 }))).equals(body.subarray(body.length - 1)));
      assert.equal(await code(blobs.get('t1/ab/file-1', { start: 5, end: body.length })), 'file.range_invalid');
      // Replacing is whole.
      const second = Buffer.from('second version');
      await blobs.put('t1/ab/file-1', chunks(second), second.length);
      assert.ok((await read(await blobs.get('t1/ab/file-1'))).equals(second));
      assert.equal(await blobs.delete('t1/ab/file-1'), true);
      assert.equal(await blobs.delete('t1/ab/file-1'), false);
      assert.equal(await blobs.stat('t1/ab/file-1'), null);
      assert.equal(await blobs.get('t1/ab/file-1'), null);
    } finally {
      await done();
    }
  });

  test(`${name}: a body shorter or longer than announced stores nothing`, async () => {
    const { blobs, done } = await open();
    try {
      const body = randomBytes(1000);
      assert.equal(await code(blobs.put('t1/short', chunks(body), 1001)), 'file.size_mismatch');
      assert.equal(await blobs.stat('t1/short'), null);
      assert.equal(await code(blobs.put('t1/long', chunks(body), 999)), 'file.size_mismatch');
      assert.equal(await blobs.stat('t1/long'), null);
      // An empty object is an object.
      await blobs.put('t1/empty', chunks(Buffer.alloc(0)), 0);
      assert.deepEqual(await blobs.stat('t1/empty'), { size: 0 });
    } finally {
      await done();
    }
  });

  test(`${name}: keys with path tricks are refused`, async () => {
    const { blobs, done } = await open();
    try {
      for (const key of ['../etc/passwd', 't1/../../x', '/abs', 't1//x', 't1/./x', 'a\\b', 'a b', '', 'ü']) {
        assert.equal(await code(blobs.put(key, chunks(Buffer.from('x')), 1)), 'file.invalid', key);
        assert.equal(await code(blobs.get(key)), 'file.invalid', key);
      }
    } finally {
      await done();
    }
  });
}
