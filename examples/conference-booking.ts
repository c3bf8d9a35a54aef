/**
 * A booking system books a video consultation (seed 004): when an appointment is confirmed, its
 * backend creates a conference with the clinic's private API key, the booking user and the
 * appointment (title, start, duration, the specialist and the client, vertical, language), and
 * sends each participant their link (here: prints them).
 *
 * Run: `node examples/conference-booking.ts` (starts a Careline server in-process on a free
 * port; the links then point at it while it runs), or against a running server:
 * `CARELINE_URL=http://127.0.0.1:3000 CARELINE_API_KEY=… node examples/conference-booking.ts`.
 * Options: `--in <minutes>` (start, default 10), `--minutes <n>` (duration, default 30),
 * `--language ru|en|he|zh` (default ru), `--vertical medicine|general` (default medicine).
 */
import { parseArgs } from 'node:util';

interface Backend {
  url: string;
  apiKey: string;
  stop(): Promise<void>;
  mode: string;
}

async function backend(): Promise<Backend> {
  const url = process.env.CARELINE_URL;
  const apiKey = process.env.CARELINE_API_KEY;
  if (url && apiKey) return { url: url.replace(/\/+$/, ''), apiKey, stop: async () => {}, mode: `server at ${url}` };
  const { startTestServer } = await import('@careline/server/testing');
  const server = await startTestServer();
  return { url: server.url, apiKey: server.apiKey, stop: () => server.stop(), mode: `in-process server at ${server.url}` };
}

const { values } = parseArgs({
  options: {
    in: { type: 'string', default: '10' },
    minutes: { type: 'string', default: '30' },
    language: { type: 'string', default: 'ru' },
    vertical: { type: 'string', default: 'medicine' },
  },
});

const b = await backend();
try {
  // The appointment as the booking system has it.
  const booking = {
    id: `bk-${Date.now().toString(36)}`,
    specialist: { id: 'spec-petrova', name: 'Анна Петрова' },
    client: { id: `client-${Date.now().toString(36)}`, name: 'Иван Иванов' },
    startsAt: Date.now() + Number(values.in) * 60_000,
    minutes: Number(values.minutes),
  };
  // The seed's create(apiKey, user_id, user_role, conf_info), over REST.
  const res = await fetch(`${b.url}/api/v2/conferences`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': b.apiKey },
    body: JSON.stringify({
      user_id: booking.specialist.id,
      user_role: 'specialist',
      info: {
        title: `Video consultation ${booking.id}`,
        starts_at: booking.startsAt,
        duration_seconds: booking.minutes * 60,
        vertical: values.vertical,
        language: values.language,
        participants: [
          { user_id: booking.specialist.id, name: booking.specialist.name, role: 'specialist' },
          { user_id: booking.client.id, name: booking.client.name, role: 'client' },
        ],
      },
    }),
  });
  const body = (await res.json()) as any;
  if (res.status !== 201) {
    console.error(`create failed: HTTP ${res.status} ${body.code}: ${body.message}`);
    process.exitCode = 1;
  } else {
    const c = body.conference;
    console.log(`Careline: ${b.mode}`);
    console.log(`conference ${c.id}: "${c.title}", ${c.status}, ${new Date(c.starts_at).toISOString()} for ${c.duration_seconds / 60} min (${c.vertical}, ${c.language})`);
    for (const p of body.participants) console.log(`  ${p.role.padEnd(10)} ${p.name.padEnd(14)} ${p.link}`);
    console.log(`creator's access token (confRes.accessToken): ${body.access_token}`);
  }
} finally {
  await b.stop();
}
