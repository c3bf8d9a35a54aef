/**
 * A whole video consultation over the conference API (seed 004), as the two pages and the
 * booking system see it: the booking system creates it; each page exchanges its access token
 * for a conference token (the seed's `exchange`) and listens on the conference socket (the
 * seed's `ConferenceSock.connect(accessToken)`); the specialist opens it, both join (the media
 * room is created: its details are printed when a Janus is configured), the specialist
 * finishes it. It prints the screen each page would show (the seed's `UX.ScreenEnum`) at every
 * status the socket pushed, and exits 1 if a page missed one.
 *
 * Run: `node examples/conference-visit.ts` (an in-process server), or against a running one:
 * `CARELINE_URL=… CARELINE_API_KEY=… node examples/conference-visit.ts`.
 */
interface Backend {
  url: string;
  apiKey: string;
  stop(): Promise<void>;
}

async function backend(): Promise<Backend> {
  const url = process.env.CARELINE_URL;
  const apiKey = process.env.CARELINE_API_KEY;
  if (url && apiKey) return { url: url.replace(/\/+$/, ''), apiKey, stop: async () => {} };
  const { startTestServer } = await import('@careline/server/testing');
  const server = await startTestServer();
  return { url: server.url, apiKey: server.apiKey, stop: () => server.stop() };
}

/** The screen the seed's UX.createScreen chooses, by status and role. */
function screen(status: string, role: string): string {
  switch (status) {
    case 'scheduled': return role === 'specialist' ? 'PendingSpecialist' : 'PendingClient';
    case 'open': return role === 'specialist' ? 'JoinSpecialist' : 'JoinClient';
    case 'started': return 'Started';
    case 'cancelled': return 'Cancelled';
    case 'finished': return 'Finish';
    default: return '_4xx';
  }
}

const b = await backend();
const sockets: WebSocket[] = [];
try {
  const call = async (method: string, path: string, o: { body?: unknown; apiKey?: boolean; token?: string } = {}) => {
    const headers: Record<string, string> = {};
    if (o.body !== undefined) headers['content-type'] = 'application/json';
    if (o.apiKey) headers['x-api-key'] = b.apiKey;
    if (o.token) headers.authorization = `Bearer ${o.token}`;
    const r = await fetch(`${b.url}${path}`, { method, headers, body: o.body === undefined ? undefined : JSON.stringify(o.body) });
    const body = (await r.json()) as any;
    if (!r.ok) throw new Error(`${method} ${path}: HTTP ${r.status} ${body.code}: ${body.message}`);
    return body;
  };
  const created = await call('POST', '/api/v2/conferences', {
    apiKey: true,
    body: {
      user_id: 'spec-1', user_role: 'specialist',
      info: {
        title: 'Follow-up visit', starts_at: Date.now(), duration_seconds: 900, vertical: 'medicine', language: 'en',
        participants: [{ user_id: 'spec-1', name: 'Dr. Anna Petrova', role: 'specialist' }, { user_id: `client-${Date.now().toString(36)}`, name: 'Ivan Ivanov', role: 'client' }],
      },
    },
  });
  console.log(`conference ${created.conference.id} created`);
  const pages = await Promise.all(created.participants.map(async (p: any) => {
    const x = await call('POST', '/api/v2/conference-access/exchange', { body: { access_token: p.access_token } });
    const seen: string[] = [screen(x.conference.status, x.participant.role)];
    const ws = new WebSocket(`${b.url.replace(/^http/, 'ws')}/api/v2/conference-access/ws?access_token=${p.access_token}`);
    sockets.push(ws);
    const hello = new Promise<void>((resolve) => {
      ws.addEventListener('message', (ev) => {
        const f = JSON.parse(String(ev.data));
        if (f.type === 'conference.hello') resolve();
        if (f.type === 'conference.status') {
          seen.push(screen(f.status, x.participant.role));
          console.log(`  ${x.participant.role.padEnd(10)} page: ${f.previous} → ${f.status} (${f.action} by ${f.by}) → screen ${screen(f.status, x.participant.role)}`);
        }
      });
    });
    await hello;
    console.log(`  ${x.participant.role.padEnd(10)} page: screen ${seen[0]}`);
    return { role: x.participant.role as string, token: x.conference_token as string, seen };
  }));
  const spec = pages.find((p) => p.role === 'specialist')!;
  const client = pages.find((p) => p.role === 'client')!;
  await call('POST', '/api/v2/conference-access/open', { token: spec.token });
  const joined = await call('POST', '/api/v2/conference-access/join', { token: client.token });
  await call('POST', '/api/v2/conference-access/join', { token: spec.token });
  console.log(joined.media
    ? `media: Janus ${joined.media.janus.ws_url || joined.media.janus.http_url}, room ${joined.media.room} (PIN and the participant's token given to the page)`
    : 'media: none configured (conferences.janusUrl is empty)');
  await call('POST', '/api/v2/conference-access/finish', { token: spec.token });
  const want = ['open', 'started', 'finished'].length + 1;
  const deadline = Date.now() + 10_000;
  while (pages.some((p) => p.seen.length < want) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  const ok = pages.every((p) => p.seen.length === want && p.seen.at(-1) === 'Finish');
  const transitions = await call('GET', `/api/v2/conferences/${created.conference.id}/transitions`, { apiKey: true });
  console.log(`transitions: ${transitions.transitions.map((t: any) => `${t.from ?? '∅'}→${t.to} (${t.action} by ${t.by})`).join(', ')}`);
  for (const p of pages) console.log(`${p.role} screens: ${p.seen.join(' → ')}`);
  console.log(ok ? 'OK: both pages saw every status' : 'FAILED: a page missed a status');
  if (!ok) process.exitCode = 1;
} finally {
  for (const ws of sockets) ws.close();
  await b.stop();
}
