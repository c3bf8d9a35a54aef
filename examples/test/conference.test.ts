/** Runs the conference examples as a user would, each with its own in-process server. */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';

const dir = join(dirname(fileURLToPath(import.meta.url)), '..');

function run(script: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const env = { ...process.env };
  delete env.CARELINE_URL;
  delete env.CARELINE_API_KEY;
  delete env.NODE_TEST_CONTEXT;
  return new Promise((resolve) => {
    execFile(process.execPath, [join(dir, script)], { env, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : null) : 0, stdout, stderr });
    });
  });
}

describe('conference examples', () => {
  test('conference-booking.ts prints a link per participant', { timeout: 70_000 }, async () => {
    const r = await run('conference-booking.ts');
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /^conference cf_\w+: .*, scheduled, /m);
    assert.match(r.stdout, /specialist .*http:\/\/127\.0\.0\.1:\d+\/conf\/[A-Za-z0-9_-]{24}$/m);
    assert.match(r.stdout, /client .*http:\/\/127\.0\.0\.1:\d+\/conf\/[A-Za-z0-9_-]{24}$/m);
  });

  test('conference-visit.ts: both pages see every status', { timeout: 70_000 }, async () => {
    const r = await run('conference-visit.ts');
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /^specialist screens: PendingSpecialist → JoinSpecialist → Started → Finish$/m);
    assert.match(r.stdout, /^client screens: PendingClient → JoinClient → Started → Finish$/m);
  });
});
