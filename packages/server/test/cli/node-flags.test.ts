/**
 * The Node flags the server runs with (`cli/node-flags.ts`) are written out where no import
 * reaches: `npm start`'s script and the `careline` command's shebang. They say the same.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { missingNodeFlags, NODE_FLAGS } from '../../src/cli/node-flags.ts';

const root = new URL('../../../../', import.meta.url);

test('npm start and the careline shebang pass the server\'s Node flags', () => {
  const start = (JSON.parse(readFileSync(new URL('package.json', root), 'utf8')) as { scripts: { start: string } }).scripts.start;
  for (const f of NODE_FLAGS) assert.ok(start.split(/\s+/).includes(f), `npm start: ${start}`);
  const shebang = readFileSync(new URL('packages/server/src/cli/careline.ts', root), 'utf8').split('\n')[0]!;
  for (const f of NODE_FLAGS) assert.ok(shebang.split(/\s+/).includes(f), `shebang: ${shebang}`);
});

test('a flag given with another value stands; a missing one is added', () => {
  assert.deepEqual(missingNodeFlags(['--max-semi-space-size=16', '--heap-growing-percent=50', '--expose-gc']), []);
  assert.deepEqual(missingNodeFlags(['--max-semi-space-size=16']), ['--heap-growing-percent=30']);
  assert.deepEqual(missingNodeFlags(['--expose-gc']), [...NODE_FLAGS]);
});
