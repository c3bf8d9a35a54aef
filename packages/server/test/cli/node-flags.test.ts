/**
 * The Node flags the server runs with (`cli/node-flags.ts`) are written out where no import
 * reaches: `npm start`'s script and the `careline` command's shebangs. They say the same. And
 * both start with Node's compile cache on (`bin/careline.mjs`, `bin/start.mjs`).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { missingNodeFlags, NODE_FLAGS } from '../../src/cli/node-flags.ts';

const root = new URL('../../../../', import.meta.url);

test('npm start and the careline shebangs pass the server\'s Node flags', () => {
  const start = (JSON.parse(readFileSync(new URL('package.json', root), 'utf8')) as { scripts: { start: string } }).scripts.start;
  for (const f of NODE_FLAGS) assert.ok(start.split(/\s+/).includes(f), `npm start: ${start}`);
  for (const file of ['packages/server/src/cli/careline.ts', 'packages/server/bin/careline.mjs']) {
    const shebang = readFileSync(new URL(file, root), 'utf8').split('\n')[0]!;
    for (const f of NODE_FLAGS) assert.ok(shebang.split(/\s+/).includes(f), `${file}: ${shebang}`);
  }
});

test('the careline command and npm start run with Node\'s compile cache, in the directory NODE_COMPILE_CACHE names', () => {
  const dir = mkdtempSync(join(tmpdir(), 'careline-compile-cache-'));
  try {
    const out = execFileSync(process.execPath, [fileURLToPath(new URL('packages/server/bin/careline.mjs', root)), '--help'], {
      env: { ...process.env, NODE_COMPILE_CACHE: dir }, encoding: 'utf8',
    });
    assert.match(out, /careline/);
    // Node keeps a folder per version and CPU, holding the stripped and compiled files.
    const kept = readdirSync(dir, { recursive: true }).length;
    assert.ok(kept > 1, `the cache holds the command's files (${kept})`);
    const start = (JSON.parse(readFileSync(new URL('package.json', root), 'utf8')) as { scripts: { start: string } }).scripts.start;
    assert.match(start, /packages\/server\/bin\/start\.mjs$/);
    assert.equal((JSON.parse(readFileSync(new URL('packages/server/package.json', root), 'utf8')) as { bin: { careline: string } }).bin.careline, './bin/careline.mjs');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a flag given with another value stands; a missing one is added', () => {
  assert.deepEqual(missingNodeFlags(['--max-semi-space-size=16', '--heap-growing-percent=50', '--expose-gc']), []);
  assert.deepEqual(missingNodeFlags(['--max-semi-space-size=16']), ['--heap-growing-percent=100']);
  assert.deepEqual(missingNodeFlags(['--expose-gc']), [...NODE_FLAGS]);
});
