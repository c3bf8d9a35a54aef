/**
 * Seed 000's fetch when it moves the reader's cursor: a patient sends a message, then the
 * doctor fetches the newest page (`GET /sessions/:id/messages`, no paging cursor), which is the
 * doctor's read — the cursor's write and the read's audit record (a patient conversation) are
 * both committed before the page is answered. One at a time, on a real server over a SQLite
 * file with `synchronous=FULL`; p50 / p90 / mean of the fetch's latency as the client sees it.
 *
 *   node bench/fetch-cursor.ts [--fetches 500]
 */
import { parseArgs } from 'node:util';
import { startTestServer } from '../packages/server/test/support/server.ts';

const { values } = parseArgs({ options: { fetches: { type: 'string', default: '500' } } });
const N = Number(values.fetches);
const WARMUP = 100;

const s = await startTestServer({ config: { storage: { sqliteSynchronous: 'FULL' }, rateLimit: { enabled: false } } });
try {
  const patient = await s.user('pt', 'patient');
  const doctor = await s.user('dr', 'doctor');
  const conv = await s.conversation({ participants: [patient.id, doctor.id] });
  const times: number[] = [];
  for (let i = 0; i < N + WARMUP; i++) {
    const sent = await s.call('POST', `/api/v2/sessions/${conv}/messages`, { token: patient.token, body: { type: 1, content: { text: `message ${i}` } } });
    if (sent.status !== 200) throw new Error(`send: ${JSON.stringify(sent.body)}`);
    const a = performance.now();
    const res = await fetch(`${s.url}/api/v2/sessions/${conv}/messages?limit=20`, { headers: { authorization: `Bearer ${doctor.token}` } });
    const page = (await res.json()) as { messages: { seq: number }[] };
    if (res.status !== 200 || page.messages.at(-1)?.seq !== sent.body.message.seq) throw new Error(`fetch: ${res.status}`);
    if (i >= WARMUP) times.push(performance.now() - a);
  }
  times.sort((a, b) => a - b);
  const at = (q: number) => times[Math.min(times.length - 1, Math.floor(times.length * q))]!.toFixed(2);
  console.log(`${N} fetches, each moving the reader's cursor: p50 ${at(0.5)} ms, p90 ${at(0.9)} ms, mean ${(times.reduce((a, b) => a + b, 0) / times.length).toFixed(2)} ms`);
} finally {
  await s.stop();
}
