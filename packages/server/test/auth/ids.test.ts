/** Server-made ids: ULIDs from a pooled CSPRNG, monotonic within a millisecond, time-sortable. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decodeTime } from 'ulid';
import { newId, nextIdAfter, pooledRandom, randomToken } from '../../src/domain/ids.ts';

const ULID = /^[0-7][0-9A-HJKMNP-TV-Z]{25}$/;

describe('ids', () => {
  it('nextIdAfter: the next ULID (last character up, with carry), always sorting right after', () => {
    assert.equal(nextIdAfter('01J0000000000000000000000A'), '01J0000000000000000000000B');
    assert.equal(nextIdAfter('01J0000000000000000000000H'), '01J0000000000000000000000J', 'I is not Crockford base32');
    assert.equal(nextIdAfter('01J000000000000000000000ZZ'), '01J00000000000000000000100');
    assert.equal(nextIdAfter('ZZ'), 'ZZ0');
    assert.equal(nextIdAfter('ab'), 'ab0');
    for (let i = 0; i < 1000; i++) {
      const id = newId();
      const next = nextIdAfter(id);
      assert.match(next, ULID);
      assert.ok(next > id);
    }
  });

  it('newId: 26 Crockford base32 characters carrying the current time', () => {
    const t0 = Date.now();
    const id = newId();
    const t1 = Date.now();
    assert.match(id, ULID);
    const t = decodeTime(id);
    assert.ok(t >= t0 && t <= t1, `${t} within [${t0}, ${t1}]`);
  });

  it('newId: strictly increasing within one millisecond, and when the clock steps back', (t) => {
    let clock = Date.now() + 1000;
    t.mock.method(Date, 'now', () => clock);
    const ids: string[] = [];
    for (let i = 0; i < 5_000; i++) ids.push(newId());
    clock -= 500; // NTP stepped the clock back: ids keep sorting after the ones given out
    for (let i = 0; i < 1_000; i++) ids.push(newId());
    clock += 10_000;
    ids.push(newId());
    for (let i = 1; i < ids.length; i++) assert.ok(ids[i - 1]! < ids[i]!, `${ids[i - 1]} < ${ids[i]}`);
    assert.equal(decodeTime(ids[0]!), clock - 10_000 + 500);
    assert.equal(decodeTime(ids[5_999]!), clock - 10_000 + 500, 'the time part does not go back');
    assert.equal(decodeTime(ids.at(-1)!), clock);
  });

  it('newId: a new millisecond draws a fresh random part (not a counter carried on)', (t) => {
    let clock = Date.now() + 100_000;
    t.mock.method(Date, 'now', () => clock);
    const firsts: string[] = [];
    for (let ms = 0; ms < 20; ms++, clock++) {
      firsts.push(newId().slice(10));
      newId();
    }
    // Consecutive milliseconds' random parts are unrelated: they share no long prefix.
    const prefixes = firsts.slice(1).map((r, i) => {
      let n = 0;
      while (n < r.length && r[n] === firsts[i]![n]) n++;
      return n;
    });
    assert.ok(prefixes.every((n) => n < 8), `shared prefixes ${prefixes}`);
    assert.equal(new Set(firsts).size, firsts.length);
  });

  it('pooledRandom: fractions in [0, 1) covering every 5-bit value evenly (across several pool refills)', () => {
    const counts = new Array<number>(32).fill(0);
    const N = 64_000;
    for (let i = 0; i < N; i++) {
      const x = pooledRandom();
      assert.ok(x >= 0 && x < 1);
      counts[Math.floor(x * 32)]!++;
    }
    // Expected 2,000 each; a bound this loose fails only for a broken generator.
    for (const c of counts) assert.ok(c > 1500 && c < 2500, `bucket count ${c}`);
  });

  it('randomToken: url-safe, of the asked size, never repeated', () => {
    const a = randomToken(24);
    assert.match(a, /^[A-Za-z0-9_-]{32}$/);
    assert.notEqual(a, randomToken(24));
  });
});
