/**
 * The baseline with `--store` (the floor with storage): a message is acked and delivered once
 * committed, `sync` and the history read the file, a history read is audited, and the
 * file goes with the process.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { test } from 'node:test';
import WebSocket from 'ws';
import { Proc } from '../lib/proc.ts';

const here = (p: string) => new URL(p, import.meta.url).pathname;

function client(url: string): { ws: WebSocket; frames: any[]; next: (pred: (f: any) => boolean) => Promise<any> } {
  const ws = new WebSocket(url);
  const frames: any[] = [];
  const waiters: { pred: (f: any) => boolean; resolve: (f: any) => void }[] = [];
  ws.on('message', (d) => {
    const f = JSON.parse(String(d));
    frames.push(f);
    for (const w of [...waiters]) if (w.pred(f)) (waiters.splice(waiters.indexOf(w), 1), w.resolve(f));
  });
  const next = (pred: (f: any) => boolean) => {
    const seen = frames.find(pred);
    return seen ? Promise.resolve(seen) : new Promise<any>((resolve) => waiters.push({ pred, resolve }));
  };
  return { ws, frames, next };
}

test('stored baseline: acks after commit, sync and history from the file, audited reads', { timeout: 60_000 }, async () => {
  const proc = new Proc(here('../baseline.ts'), { name: 'baseline-store', args: ['--store'] });
  try {
    const { url } = (await proc.ready) as { url: string };
    const ws = url.replace(/^http/, 'ws') + '/ws';
    const a = client(`${ws}?user=a&c=conv1`);
    const b = client(`${ws}?user=b&c=conv1`);
    await Promise.all([a.next((f) => f.type === 'hello'), b.next((f) => f.type === 'hello')]);
    for (let i = 1; i <= 3; i++) a.ws.send(JSON.stringify({ type: 'send', id: `s${i}`, conversation_id: 'conv1', message: { type: 1, content: { text: `m${i}` }, client_id: `c${i}` } }));
    const acks = await Promise.all([1, 2, 3].map((i) => a.next((f) => f.type === 'ack' && f.id === `s${i}`)));
    assert.deepEqual(acks.map((x) => x.seq), [1, 2, 3]);
    const got = await Promise.all([1, 2, 3].map((s) => b.next((f) => f.type === 'message' && f.message.seq === s)));
    assert.deepEqual(got.map((f) => f.message.content.text), ['m1', 'm2', 'm3']);
    assert.equal(got[0].message.client_id, 'c1');

    // A late client catches up from the file, then hears what comes after.
    const c = client(`${ws}?user=c&c=conv1&sync=1`);
    await c.next((f) => f.type === 'hello');
    c.ws.send(JSON.stringify({ type: 'sync', id: 'y1', cursors: { conv1: 1 } }));
    const done = await c.next((f) => f.type === 'sync_done');
    assert.equal(done.sent, 2);
    assert.deepEqual(c.frames.filter((f) => f.type === 'message').map((f) => f.message.seq), [2, 3]);
    a.ws.send(JSON.stringify({ type: 'send', id: 's4', conversation_id: 'conv1', message: { type: 1, content: { text: 'm4' } } }));
    assert.equal((await c.next((f) => f.type === 'message' && f.message.seq === 4)).message.content.text, 'm4');

    const page = async (q: string) => (await fetch(`${url}/api/v2/sessions/conv1/messages${q}`)).json() as Promise<{ messages: { seq: number }[]; has_more: boolean }>;
    const latest = await page('?limit=2');
    assert.deepEqual([latest.messages.map((m) => m.seq), latest.has_more], [[3, 4], true]);
    const back = await page('?before=3&limit=5');
    assert.deepEqual([back.messages.map((m) => m.seq), back.has_more], [[1, 2], false]);
    const since = await page('?after=2&limit=1');
    assert.deepEqual([since.messages.map((m) => m.seq), since.has_more], [[3], true]);
    assert.deepEqual(await proc.call('stats'), { connections: 3, pending: 0, stored: 4, audited: 3 });
    for (const x of [a, b, c]) x.ws.close();
  } finally {
    await proc.stop();
  }
  const { store } = (await proc.ready) as { store: string };
  assert.equal(existsSync(store), false, 'the file goes with the process');
});

test('stored baseline: seeds into the file and pages it', { timeout: 60_000 }, async () => {
  const proc = new Proc(here('../baseline.ts'), { name: 'baseline-store-seed', args: ['--store'] });
  try {
    const { url } = (await proc.ready) as { url: string };
    const seeded = await proc.call<{ rows: number }>('seed', { sender: 'reader', conversations: [['big', 12_000], ['small', 3]] });
    assert.equal(seeded.rows, 12_003);
    const r = await (await fetch(`${url}/api/v2/sessions/big/messages?before=11000&limit=50`)).json() as { messages: { seq: number }[]; has_more: boolean };
    assert.equal(r.messages.length, 50);
    assert.deepEqual([r.messages[0]!.seq, r.messages.at(-1)!.seq, r.has_more], [10_950, 10_999, true]);
  } finally {
    await proc.stop();
  }
});
