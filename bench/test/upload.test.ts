/**
 * The upload bench at a tiny scale: both servers take every photo and document, the figures
 * are filled in, and the table names both phases. (Speed itself is the bench's to report.)
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runUploadBench, uploadTable } from '../upload.ts';

test('upload bench: a few photos and documents to Careline and the baseline', { timeout: 180_000 }, async () => {
  const r = await runUploadBench({ photos: 8, docs: 1, docMiB: 1, concurrency: 2, seconds: 60 });
  for (const kind of ['careline', 'baseline'] as const) {
    const s = r[kind];
    assert.equal(s.photos.files, 8, `${kind} photos: ${s.photos.error ?? ''}`);
    assert.equal(s.photos.failed, 0);
    assert.equal(s.docs.files, 1, `${kind} documents: ${s.docs.error ?? ''}`);
    assert.equal(s.docs.bytes, 1024 * 1024);
    for (const p of [s.photos, s.docs]) assert.ok(p.filesPerSec > 0 && p.mbPerSec > 0 && p.p50Ms > 0 && p.p50Ms <= p.p99Ms, JSON.stringify(p));
  }
  assert.ok(r.photoBytesAvg > 50_000, 'photos of random pixels do not compress away');
  assert.match(uploadTable(r), /\| photos \| 8 \|[\s\S]*\| documents \| 1 \|/);
});
