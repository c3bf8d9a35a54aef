/**
 * The search bench at a tiny scale, on both backends: it seeds, times every query in both
 * scopes, and both backends find the same number of hits in the same history.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { QUERIES, messageText, searchBench, searchTable } from '../search.ts';

test('search bench: tiny history on SQLite and PostgreSQL, same hits on both', { timeout: 180_000 }, async () => {
  const o = { messages: 3000, conversations: 20, samples: 3 };
  const sqlite = await searchBench({ backend: 'sqlite', ...o });
  const postgres = await searchBench({ backend: 'postgres', ...o });
  for (const run of [sqlite, postgres]) {
    assert.equal(run.messages, 3000);
    assert.equal(run.results.length, QUERIES.length * 2);
    for (const r of run.results) {
      assert.equal(r.samples, 3);
      assert.ok(r.p50 > 0 && r.p50 <= r.p99 && r.p99 <= r.max, JSON.stringify(r));
      assert.equal(r.partial, false, 'a tiny history fits in one bounded page');
    }
    const hits = (q: string, scope: string) => run.results.find((r) => r.query === q && r.scope === scope)!.hits;
    assert.equal(hits('医生', 'tenant'), 20);
    assert.equal(hits('骨折', 'tenant'), 0);
    assert.equal(hits('荨麻疹', 'tenant'), 0);
    assert.equal(hits('皮疹', 'tenant'), 3, 'messages 7, 1007 and 2007');
    assert.equal(hits('urticaria', 'tenant'), 1, 'message 11');
  }
  assert.deepEqual(postgres.results.map((r) => [r.query, r.scope, r.hits]), sqlite.results.map((r) => [r.query, r.scope, r.hits]));
  assert.match(searchTable([sqlite, postgres]), /\| postgres \| 皮疹 \| zh 2 chars, 0\.1 % \| user \|/);
});

test('search bench: the history is the same every run, rare words at their rates', () => {
  const gen = () => {
    let a = 7;
    const r = () => ((a = (a * 16807) % 2147483647) / 2147483647);
    return Array.from({ length: 20_000 }, (_, i) => messageText(i, r));
  };
  const texts = gen();
  assert.deepEqual(texts.slice(0, 50), gen().slice(0, 50));
  assert.equal(texts.filter((t) => t.includes('皮疹')).length, 20);
  assert.equal(texts.filter((t) => t.includes('urticaria')).length, 2);
  assert.equal(texts.filter((t) => t.includes('骨折') || t.includes('荨麻疹')).length, 0);
});
