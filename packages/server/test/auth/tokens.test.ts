/**
 * HS256 tokens (`domain/tokens.ts`): what is accepted and what is refused, and interop with
 * an independent JWT implementation (`jose`, a dev dependency kept for exactly this): tokens
 * it signs verify here, tokens signed here verify there.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { SignJWT, jwtVerify } from 'jose';
import { Hs256, TokenError } from '../../src/domain/tokens.ts';

const SECRET = 'tokens-test-secret-0123456789abcdef';
const jwt = new Hs256(SECRET);
const NOW = 1_800_000_000_000; // ms
const now = Math.floor(NOW / 1000);
const b64 = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');
/** Signs any header and payload (HS256 MAC over them, whatever the header says). */
const forge = (header: unknown, payload: unknown, secret = SECRET) => {
  const input = `${b64(header)}.${b64(payload)}`;
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
};
const claims = { sub: 'pat', tid: 't1', role: 'patient', jti: 'S1', iat: now - 10, exp: now + 3600 };

const refused = (token: string, reason: 'invalid' | 'expired' = 'invalid') =>
  assert.throws(() => jwt.verify(token, NOW), (e: unknown) => e instanceof TokenError && e.reason === reason, String(token).slice(0, 80));

describe('HS256 tokens', () => {
  it('signs and verifies; the claims come back as signed', () => {
    const t = jwt.sign(claims);
    assert.equal(t.split('.').length, 3);
    assert.deepEqual(jwt.verify(t, NOW), claims);
    assert.deepEqual(JSON.parse(Buffer.from(t.split('.')[0]!, 'base64url').toString()), { alg: 'HS256', typ: 'JWT' });
  });

  it('interop: a token signed by jose verifies here, and one signed here verifies with jose', async () => {
    const key = new TextEncoder().encode(SECRET);
    const theirs = await new SignJWT({ tid: 't1', role: 'doctor' }).setProtectedHeader({ alg: 'HS256' }).setSubject('doc').setJti('S2')
      .setIssuedAt(now).setExpirationTime(now + 60).sign(key);
    assert.equal(jwt.verify(theirs, NOW).sub, 'doc');
    const { payload } = await jwtVerify(jwt.sign(claims), key, { algorithms: ['HS256'], currentDate: new Date(NOW) });
    assert.deepEqual(payload, claims);
  });

  it('refuses another secret, and a tampered header, payload or signature', () => {
    refused(forge({ alg: 'HS256', typ: 'JWT' }, claims, 'another-secret-another-secret-0123'));
    const [h, p, s] = jwt.sign(claims).split('.') as [string, string, string];
    refused(`${h}.${b64({ ...claims, sub: 'doc' })}.${s}`);
    refused(`${b64({ alg: 'HS256' })}.${p}.${s}`);
    refused(`${h}.${p}.${s.slice(0, -2)}${s.at(-2) === 'A' ? 'B' : 'A'}${s.at(-1)}`);
    refused(`${h}.${p}.${s}${s.at(-1)}`, 'invalid');
    refused(`${h}.${p}.${s.slice(0, -1)}`, 'invalid');
  });

  it('refuses a non-canonical signature encoding (the same bytes spelt differently)', () => {
    const [h, p, s] = jwt.sign(claims).split('.') as [string, string, string];
    // The last character carries 4 bits; changing its 2 unused bits decodes to the same MAC.
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const twin = alphabet[alphabet.indexOf(s.at(-1)!) + 1]!;
    assert.deepEqual(Buffer.from(`${s.slice(0, -1)}${twin}`, 'base64url'), Buffer.from(s, 'base64url'));
    refused(`${h}.${p}.${s.slice(0, -1)}${twin}`);
  });

  it('refuses every algorithm but HS256, `none` included, even with a valid MAC; and crit / b64 headers', () => {
    for (const alg of ['none', 'HS384', 'HS512', 'RS256', 'ES256', 'hs256', undefined]) refused(forge({ alg, typ: 'JWT' }, claims));
    const [, p] = jwt.sign(claims).split('.');
    refused(`${b64({ alg: 'none', typ: 'JWT' })}.${p}.`);
    refused(forge({ alg: 'HS256', crit: ['exp'], exp: 1 }, claims));
    refused(forge({ alg: 'HS256', b64: false }, claims));
  });

  it('refuses malformed tokens', () => {
    const good = jwt.sign(claims);
    for (const t of ['', 'x', 'a.b', 'a.b.c', 'a.b.c.d', '..', `${good}.`, `.${good}`, `${good}.x`, 'eyJhbGciOiJIUzI1NiJ9.e30.', good.replace('.', '..'),
      forge({ alg: 'HS256' }, [1, 2]), forge({ alg: 'HS256' }, 'not an object'), forge({ alg: 'HS256' }, null), forge('not json', claims), forge([{ alg: 'HS256' }], claims),
      `${b64({ alg: 'HS256' })}.${b64(claims)}.${'A'.repeat(43)}`, good.replace(/\.([^.]+)\./, '.$1=.'), good.replace(/\.([^.]+)\./, '.$1+.'),
      `${b64({ alg: 'HS256', pad: 'x'.repeat(9000) })}.${b64(claims)}.${'A'.repeat(43)}`]) {
      refused(t);
    }
    refused(undefined as unknown as string);
  });

  it('exp is required and must be in the future: past → expired; missing or not a number → invalid', () => {
    refused(jwt.sign({ ...claims, exp: now - 1 }), 'expired');
    refused(jwt.sign({ ...claims, exp: now }), 'expired');
    assert.equal(jwt.verify(jwt.sign({ ...claims, exp: now + 1 }), NOW).exp, now + 1);
    const { exp: _exp, ...noExp } = claims;
    refused(forge({ alg: 'HS256' }, noExp));
    for (const exp of ['9999999999', null, -1, Number.MAX_VALUE * 10]) refused(forge({ alg: 'HS256' }, { ...claims, exp }));
  });

  it('a forged token is invalid, not expired: the signature is checked before the claims', () => {
    refused(forge({ alg: 'HS256' }, { ...claims, exp: now - 100 }, 'another-secret-another-secret-0123'), 'invalid');
  });

  it('nbf in the future and iat beyond the clock skew are refused; non-numbers too', () => {
    assert.ok(jwt.verify(jwt.sign({ ...claims, nbf: now }), NOW));
    refused(jwt.sign({ ...claims, nbf: now + 5 }));
    assert.ok(jwt.verify(jwt.sign({ ...claims, iat: now + 30 }), NOW), 'a little clock skew is tolerated');
    refused(jwt.sign({ ...claims, iat: now + 3600 }));
    refused(forge({ alg: 'HS256' }, { ...claims, iat: 'yesterday' }));
    refused(forge({ alg: 'HS256' }, { ...claims, nbf: '0' }));
  });

  it('an empty secret is refused at construction', () => {
    assert.throws(() => new Hs256(''), /empty secret/);
  });

  it('a verifier that remembers accepted tokens: the same text again passes, with its expiry checked every time', () => {
    const mem = new Hs256(SECRET, { remember: 3 });
    const t = mem.sign(claims);
    const first = mem.verify(t, NOW);
    assert.equal(mem.remembered, 1);
    assert.equal(mem.verify(t, NOW), first, 'the remembered claims');
    assert.ok(Object.isFrozen(first), 'shared by every caller: not to be changed by one');
    assert.deepEqual(first, claims);
    // Past its exp, a remembered token is refused as expired, and forgotten.
    assert.throws(() => mem.verify(t, (claims.exp + 1) * 1000), (e: unknown) => e instanceof TokenError && e.reason === 'expired');
    assert.equal(mem.remembered, 0);
    assert.throws(() => mem.verify(t, (claims.exp + 1) * 1000), (e: unknown) => e instanceof TokenError && e.reason === 'expired');
  });

  it('a remembering verifier refuses what the plain one refuses, and remembers no refusal', () => {
    const mem = new Hs256(SECRET, { remember: 3 });
    const t = mem.sign(claims);
    mem.verify(t, NOW);
    const [h, p, s] = t.split('.') as [string, string, string];
    const bad = [
      `${h}.${b64({ ...claims, sub: 'doc' })}.${s}`, // another payload under the remembered signature
      `${h}.${p}.${s.slice(0, -2)}${s.at(-2) === 'A' ? 'B' : 'A'}${s.at(-1)}`,
      `${t}.`, ` ${t}`, `${t} `, t.slice(0, -1),
      forge({ alg: 'HS256', typ: 'JWT' }, claims, 'another-secret-another-secret-0123'),
      mem.sign({ ...claims, exp: now - 1 }),
    ];
    for (const x of bad) {
      assert.throws(() => mem.verify(x, NOW), TokenError, x.slice(0, 80));
      assert.throws(() => mem.verify(x, NOW), TokenError, `${x.slice(0, 80)} (twice)`);
    }
    assert.equal(mem.remembered, 1, 'only the genuine token is remembered');
    assert.deepEqual(mem.verify(t, NOW), claims);
  });

  it('a remembering verifier keeps at most its bound, the oldest going first; each forgotten token still verifies', () => {
    const mem = new Hs256(SECRET, { remember: 3 });
    const tokens = Array.from({ length: 5 }, (_, i) => mem.sign({ ...claims, jti: `S${i}` }));
    for (const t of tokens) mem.verify(t, NOW);
    assert.equal(mem.remembered, 3);
    for (const [i, t] of tokens.entries()) assert.equal(mem.verify(t, NOW).jti, `S${i}`);
    assert.equal(mem.remembered, 3);
    assert.equal(new Hs256(SECRET).verify(tokens[0]!, NOW).jti, 'S0');
    const plain = new Hs256(SECRET);
    plain.verify(tokens[1]!, NOW);
    assert.equal(plain.remembered, 0, 'remembering is asked for, not the default');
  });
});
