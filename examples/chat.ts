/**
 * A patient and a doctor chat through Careline, each with an SDK client:
 *
 *   1. they exchange messages; the doctor reads them (the patient sees the receipt);
 *   2. the patient's network drops while the doctor keeps writing, and the patient writes
 *      one message while offline (it waits in the outbox);
 *   3. the patient's network comes back: the client reconnects by itself, catches up, and
 *      its queued message goes out;
 *   4. the script prints the transcript (from the server's history) and checks that each
 *      side received every message of the other exactly once, in order — exit code 1 if not.
 *
 * Run: `node examples/chat.ts` (starts a Careline server in-process on a free port), or
 * against a running server: `CARELINE_URL=http://127.0.0.1:3000 CARELINE_API_KEY=… node examples/chat.ts`.
 */
import { CarelineClient, MessageTypes, type Message, type SendAck } from '@careline/sdk';
import { Link } from './lib/link.ts';

const TIMEOUT_MS = 30_000;

interface Backend {
  url: string;
  apiKey: string;
  stop(): Promise<void>;
  mode: string;
}

/** The server: the one given by env vars, or one started in-process. */
async function backend(): Promise<Backend> {
  const url = process.env.CARELINE_URL;
  const apiKey = process.env.CARELINE_API_KEY;
  if (url && apiKey) return { url: url.replace(/\/+$/, ''), apiKey, stop: async () => {}, mode: `server at ${url}` };
  const { startTestServer } = await import('@careline/server/testing');
  const server = await startTestServer();
  return { url: server.url, apiKey: server.apiKey, stop: () => server.stop(), mode: `in-process server at ${server.url}` };
}

/** What the integrator's backend does with its API key: users, tokens, a conversation. */
async function integrator(b: Backend, path: string, method: string, body: unknown): Promise<any> {
  const res = await fetch(`${b.url}/api/v2${path}`, {
    method,
    headers: { 'x-api-key': b.apiKey, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const json = await res.json();
  if (!res.ok) throw new Error(`${method} ${path} → ${res.status} ${JSON.stringify(json)}`);
  return json;
}

async function userToken(b: Backend, id: string, role: 'patient' | 'doctor', name: string): Promise<string> {
  await integrator(b, `/management/users/${encodeURIComponent(id)}`, 'PUT', { role, name });
  return (await integrator(b, '/users/login', 'POST', { user_id: id })).token as string;
}

function until<T>(what: string, check: () => T | undefined | false, ms = 10_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const tick = () => {
      const v = check();
      if (v) return resolve(v);
      if (Date.now() - started > ms) return reject(new Error(`timed out waiting for ${what}`));
      setTimeout(tick, 10);
    };
    tick();
  });
}

const textOf = (m: Message) => String((m.content as { text?: unknown } | null)?.text ?? '');
const log = (line: string) => console.log(line);

async function main(): Promise<boolean> {
  const b = await backend();
  log(`Careline chat example — ${b.mode}`);
  const tag = Math.random().toString(36).slice(2, 8);
  const patientId = `patient-${tag}`;
  const doctorId = `doctor-${tag}`;
  const names: Record<string, string> = { [patientId]: 'Ms. Patel (patient)', [doctorId]: 'Dr. Osei (doctor)' };
  const patientToken = await userToken(b, patientId, 'patient', 'Ms. Patel');
  const doctorToken = await userToken(b, doctorId, 'doctor', 'Dr. Osei');
  const conv = (await integrator(b, '/sessions', 'POST', { session_type: 2, participants: [patientId, doctorId] })).session.id as string;

  const link = new Link();
  const patient = new CarelineClient({ url: b.url, token: patientToken, createWebSocket: link.connect, reconnect: { baseMs: 100, maxMs: 1000 } });
  const doctor = new CarelineClient({ url: b.url, token: doctorToken });
  const patientGot: Message[] = [];
  const doctorGot: Message[] = [];
  const patientAcks: SendAck[] = [];
  const doctorAcks: SendAck[] = [];
  let readByDoctor = 0;
  patient.on('message', (m) => {
    patientGot.push(m);
    log(`  [patient] received #${m.seq}: ${textOf(m)}`);
  });
  doctor.on('message', (m) => {
    doctorGot.push(m);
    log(`  [doctor] received #${m.seq}: ${textOf(m)}`);
  });
  patient.on('synced', (s) => s.sent > 0 && log(`  [patient] caught up: ${s.sent} message(s) missed while offline`));
  patient.on('read', (r) => {
    if (r.user_id !== doctorId) return;
    readByDoctor = r.seq;
    log(`  [patient] ✓✓ read by the doctor up to #${r.seq}`);
  });
  patient.on('state', (s) => log(`  [patient] connection: ${s.previous} → ${s.state}`));
  for (const c of [patient, doctor]) c.on('error', (e) => log(`  [${c === patient ? 'patient' : 'doctor'}] error ${e.code}: ${e.message}`));

  const say = async (who: 'patient' | 'doctor', text: string) => {
    const client = who === 'patient' ? patient : doctor;
    const ack = await client.send(conv, { type: MessageTypes.TEXT, content: { text } });
    (who === 'patient' ? patientAcks : doctorAcks).push(ack);
    log(`  [${who}] sent #${ack.seq}: ${text}`);
    return ack;
  };

  try {
    await Promise.all([patient.connect(), doctor.connect()]);
    log('1. Both connected. They talk.');
    await say('patient', 'Good morning doctor, my blood pressure was 150/95 three days in a row.');
    await until('doctor receives it', () => doctorGot.length === 1);
    await say('doctor', 'Thank you. Are you taking the amlodipine every morning?');
    await until('patient receives it', () => patientGot.length === 1);
    await say('patient', 'Yes, 5 mg every morning, with breakfast.');
    await until('doctor receives it', () => doctorGot.length === 2);

    log('2. The doctor reads the conversation.');
    doctor.markRead(conv);
    await until('the read receipt', () => readByDoctor >= 3);

    log('3. The patient\'s network drops; the doctor keeps writing.');
    link.down();
    await until('patient offline', () => patient.state === 'reconnecting');
    const doctorWhileAway = [
      'I would like to increase the dose to 10 mg.',
      'Please take it in the morning as before.',
      'Measure your blood pressure twice a day this week.',
      'Write the readings down, or send them here.',
      'If you feel dizzy, call the clinic.',
    ];
    for (const t of doctorWhileAway) await say('doctor', t);
    const queued = patient.send(conv, { type: MessageTypes.TEXT, content: { text: 'Sorry, I am on the train, the network is bad.' } });
    log(`  [patient] wrote while offline: waiting in the outbox (${patient.pendingSends().length} pending)`);
    if (patientGot.length !== 1) throw new Error('the patient received messages while offline?');

    log('4. The network comes back: the patient reconnects and catches up.');
    link.up();
    const queuedAck = await queued;
    patientAcks.push(queuedAck);
    log(`  [patient] queued message acknowledged as #${queuedAck.seq}`);
    await until('patient caught up', () => patientGot.length === 1 + doctorWhileAway.length);
    await until('doctor got the queued message', () => doctorGot.length === 3);
    await say('doctor', 'No problem. Talk tomorrow.');
    await until('patient receives the last one', () => patientGot.length === 2 + doctorWhileAway.length);

    // The transcript, from the server.
    const history: Message[] = [];
    for (let after = 0; ; ) {
      const page = await doctor.history(conv, { after, limit: 100 });
      history.push(...page.messages);
      if (!page.has_more || page.messages.length === 0) break;
      after = page.messages[page.messages.length - 1]!.seq;
    }
    log('\nTranscript:');
    for (const m of history) {
      const time = new Date(m.created_at).toISOString().slice(11, 19);
      log(`  #${String(m.seq).padStart(2)} ${time} ${names[m.sender_id]?.padEnd(20) ?? m.sender_id}  ${textOf(m)}`);
    }

    // Checks: each message stored once; each side received the other's messages once, in order.
    const problems: string[] = [];
    const seqs = history.map((m) => m.seq);
    if (seqs.some((s, i) => s !== i + 1)) problems.push(`history seqs are not 1..${history.length}: ${seqs.join(',')}`);
    const expectedCount = 3 + doctorWhileAway.length + 1 + 1;
    if (history.length !== expectedCount) problems.push(`expected ${expectedCount} stored messages, found ${history.length}`);
    const texts = history.map(textOf);
    if (new Set(texts).size !== texts.length) problems.push('a message was stored twice');
    const ids = (ms: Message[]) => ms.map((m) => m.id).join(',');
    const fromDoctor = history.filter((m) => m.sender_id === doctorId);
    const fromPatient = history.filter((m) => m.sender_id === patientId);
    if (ids(patientGot) !== ids(fromDoctor)) problems.push(`the patient received [${patientGot.map((m) => m.seq)}], expected [${fromDoctor.map((m) => m.seq)}]`);
    if (ids(doctorGot) !== ids(fromPatient)) problems.push(`the doctor received [${doctorGot.map((m) => m.seq)}], expected [${fromPatient.map((m) => m.seq)}]`);
    const acked = new Map([...patientAcks, ...doctorAcks].map((a) => [a.message_id, a.seq]));
    if (acked.size !== history.length || history.some((m) => acked.get(m.id) !== m.seq)) problems.push('acks do not match the stored messages');
    if (readByDoctor < 3) problems.push('the patient never saw the read receipt');

    if (problems.length) {
      log('\nFAILED:');
      for (const p of problems) log(`  - ${p}`);
      return false;
    }
    log(`\nOK: ${history.length} messages, none lost, none doubled; each side received the other's messages once, in order.`);
    return true;
  } finally {
    await Promise.allSettled([patient.close(), doctor.close()]);
    await b.stop();
  }
}

const watchdog = setTimeout(() => {
  console.error(`FAILED: the example did not finish within ${TIMEOUT_MS / 1000} s`);
  process.exit(1);
}, TIMEOUT_MS);
watchdog.unref();

main().then(
  (ok) => {
    process.exitCode = ok ? 0 : 1;
  },
  (err: unknown) => {
    console.error('FAILED:', err);
    process.exitCode = 1;
  },
);
