import { it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { configDoc, errorsDoc } from '../../../scripts/gen-docs.ts';

it('docs/errors.md and docs/config.md are up to date (npm run docs)', () => {
  assert.equal(readFileSync(new URL('../../../docs/errors.md', import.meta.url), 'utf8'), errorsDoc());
  assert.equal(readFileSync(new URL('../../../docs/config.md', import.meta.url), 'utf8'), configDoc());
});
