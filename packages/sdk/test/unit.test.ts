/** Unit tests of the SDK's own pure parts (no server): sequencing, backoff, persistence, emitter, URLs. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Message } from '@careline/protocol';
import { backoffDelay, Emitter, MemoryStorage, webSocketUrl, CarelineError } from '../src/index.ts';
import { Sequencer } from '../src/sequencer.ts';
import { Outbox } from '../src/outbox.ts';
import { CursorStore } from '../src/cursors.ts';
import { closeError } from '../src/errors.ts';

const noError = (err: unknown): void => assert.fail(`storage error: ${String(err)}`);

const msg = (seq: number, conv = 'c1'): Message => ({
  id: `m${seq}`, conversation_id: conv, seq, sender_id: 'u', type: 1, content: { text: String(seq) },
  client_id: null, created_at: seq, recalled_at: null, forward: null,
});

function sequencer(initial: Record<string, number> = {}) {
  const cursors = new Map(Object.entries(initial));
  const out: number[] = [];
  const seq = new Sequencer({ get: (c) => cursors.get(c), set: (c, s) => void cursors.set(c, s) }, (m) => out.push(m.seq));
  return { seq, out, cursors };
}

describe('Sequencer', () => {
  test('delivers in order, drops duplicates and old messages', () => {
    const { seq, out, cursors } = sequencer({ c1: 2 });
    for (const s of [1, 2, 3, 3, 4, 2]) seq.message(msg(s));
    assert.deepEqual(out, [3, 4]);
    assert.equal(cursors.get('c1'), 4);
    assert.equal(seq.hasGap('c1'), false);
  });

  test('holds messages behind a gap and releases them in order once it is filled', () => {
    const { seq, out } = sequencer({ c1: 0 });
    seq.message(msg(1));
    seq.message(msg(4));
    seq.message(msg(5));
    assert.deepEqual(out, [1]);
    assert.equal(seq.hasGap('c1'), true);
    assert.equal(seq.target('c1'), 5);
    seq.message(msg(3));
    seq.message(msg(2));
    assert.deepEqual(out, [1, 2, 3, 4, 5]);
    assert.equal(seq.hasGap('c1'), false);
  });

  test('own acknowledged messages move the cursor without being delivered', () => {
    const { seq, out, cursors } = sequencer({ c1: 0 });
    seq.own('c1', 2);
    seq.message(msg(3));
    assert.deepEqual(out, []);
    seq.message(msg(1));
    assert.deepEqual(out, [1, 3]);
    assert.equal(cursors.get('c1'), 3);
    seq.message(msg(2)); // the own message arriving again: a duplicate
    assert.deepEqual(out, [1, 3]);
  });

  test('a conversation seen for the first time starts at its first message', () => {
    const { seq, out, cursors } = sequencer();
    seq.message(msg(7, 'new'));
    assert.deepEqual(out, [7]);
    assert.equal(cursors.get('new'), 7);
    assert.equal(seq.hasGap('new'), false);
  });

  test('a head beyond the cursor is a gap; skip gives up on it', () => {
    const { seq, out, cursors } = sequencer({ c1: 1 });
    seq.expect('c1', 3);
    assert.deepEqual(seq.gaps(), ['c1']);
    seq.message(msg(5));
    assert.deepEqual(seq.skip('c1'), { from: 2, to: 4 });
    assert.deepEqual(out, [5]);
    assert.equal(cursors.get('c1'), 5);
    assert.equal(seq.hasGap('c1'), false);
  });
});

describe('backoffDelay', () => {
  test('full jitter, exponential, capped', () => {
    assert.equal(backoffDelay(0, { baseMs: 100, maxMs: 1000 }, () => 0.999_999), 99);
    assert.equal(backoffDelay(3, { baseMs: 100, maxMs: 1000 }, () => 0.999_999), 799);
    assert.equal(backoffDelay(10, { baseMs: 100, maxMs: 1000 }, () => 0.999_999), 999);
    assert.equal(backoffDelay(100, { baseMs: 100, maxMs: 1000 }, () => 0), 0);
    for (let i = 0; i < 100; i++) {
      const d = backoffDelay(i % 8);
      assert.ok(d >= 0 && d < 30_000);
    }
  });
});

describe('persistence', () => {
  test('the outbox survives a reload, in order', async () => {
    const storage = new MemoryStorage();
    const a = new Outbox(storage, 'k:outbox', noError);
    await a.load();
    for (const id of ['x', 'y', 'z']) a.add({ client_id: id, conversation_id: 'c', type: 1, content: { text: id }, queued_at: 1, user_id: null });
    a.remove('y');
    await a.flush();
    const b = new Outbox(storage, 'k:outbox', noError);
    b.add({ client_id: 'w', conversation_id: 'c', type: 1, content: { text: 'w' }, queued_at: 2, user_id: null });
    await b.load();
    assert.deepEqual(b.list().map((e) => e.client_id), ['x', 'z', 'w']);
  });

  test('cursors persist; another user\'s cursors are discarded', async () => {
    const storage = new MemoryStorage();
    const a = new CursorStore(storage, 'k:sync', noError, 5);
    await a.load();
    a.bindUser('alice');
    a.set('c1', 4);
    a.since = 123;
    await a.flush();
    const b = new CursorStore(storage, 'k:sync', noError, 5);
    await b.load();
    assert.equal(b.get('c1'), 4);
    assert.equal(b.since, 123);
    assert.equal(b.bindUser('alice'), false);
    assert.equal(b.bindUser('bob'), true);
    assert.equal(b.get('c1'), undefined);
    assert.equal(b.since, null);
    await b.flush();
  });

  test('asynchronous storages are written in order, newest value last', async () => {
    const writes: string[] = [];
    const storage = {
      getItem: async () => null,
      setItem: async (_k: string, v: string) => {
        await new Promise((r) => setTimeout(r, 5));
        writes.push(v);
      },
    };
    const box = new Outbox(storage, 'k', noError);
    await box.load();
    for (const id of ['a', 'b', 'c']) box.add({ client_id: id, conversation_id: 'c', type: 1, content: {}, queued_at: 0, user_id: null });
    await box.flush();
    const last = JSON.parse(writes.at(-1)!) as { client_id: string }[];
    assert.deepEqual(last.map((e) => e.client_id), ['a', 'b', 'c']);
    assert.ok(writes.length <= 2, 'intermediate values are coalesced');
  });
});

describe('Emitter', () => {
  test('on, once, off; a throwing listener does not stop the others', async () => {
    class E extends Emitter<{ n: number }> {
      fire(n: number) {
        this.emit('n', n);
      }
    }
    const e = new E();
    const got: number[] = [];
    const rethrown: unknown[] = [];
    const original = globalThis.queueMicrotask;
    globalThis.queueMicrotask = (fn) => {
      try {
        fn();
      } catch (err) {
        rethrown.push(err);
      }
    };
    try {
      e.on('n', () => {
        throw new Error('boom');
      });
      const off = e.on('n', (n) => got.push(n));
      e.once('n', (n) => got.push(n * 10));
      e.fire(1);
      e.fire(2);
      off();
      e.fire(3);
    } finally {
      globalThis.queueMicrotask = original;
    }
    assert.deepEqual(got, [1, 10, 2]);
    assert.equal(rethrown.length, 3, 'each listener error is re-thrown asynchronously');
  });
});

describe('errors and URLs', () => {
  test('webSocketUrl', () => {
    assert.equal(webSocketUrl('http://127.0.0.1:3000'), 'ws://127.0.0.1:3000/ws');
    assert.equal(webSocketUrl('https://im.example.com/careline/'), 'wss://im.example.com/careline/ws');
  });

  test('terminal close codes map to error codes', () => {
    assert.equal(closeError(4502, 'token revoked').code, 'auth.token_revoked');
    assert.equal(closeError(4501, 'auth.token_expired').code, 'auth.token_expired');
    assert.equal(closeError(4503, '').code, 'connection.replaced');
    assert.equal(closeError(4999, '').code, 'connection.terminated');
    assert.equal(closeError(4502, '').closeCode, 4502);
  });

  test('retryable', () => {
    assert.equal(new CarelineError('server.unavailable', '').retryable, true);
    assert.equal(new CarelineError('request.rate_limited', '').retryable, true);
    assert.equal(new CarelineError('message.content_invalid', '').retryable, false);
    assert.equal(new CarelineError('client.network_error', '').retryable, true);
  });
});

describe('client ids', () => {
  test('uuidv7: RFC 9562 version 7 and variant bits, the time in its first 48 bits, later ids sort after earlier ones', async () => {
    const { uuidv7 } = await import('../src/ids.ts');
    const re = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
    const t = 1_796_000_000_123;
    const id = uuidv7(t);
    assert.match(id, re);
    assert.equal(parseInt(id.replace(/-/g, '').slice(0, 12), 16), t);
    const ids = Array.from({ length: 200 }, (_, i) => uuidv7(t + i));
    assert.deepEqual([...ids].sort(), ids);
    assert.equal(new Set(Array.from({ length: 1000 }, () => uuidv7(t))).size, 1000, 'random bits keep ids of one millisecond apart');
  });
});
