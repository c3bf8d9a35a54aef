/**
 * Conferences over the real server (docs/conferences.md), with a real Janus (started by
 * scripts/lib/janus.ts from Debian's package; a missing one fails naming scripts/install-services):
 * every transition and every forbidden one, 401 for wrong, expired and revoked tokens, another
 * tenant's API key, events on every open page (two conference sockets and a Careline user's own
 * connection), the Janus room created on the first join and destroyed at the end, the end of time,
 * and the waiting room with its summary message.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { startTestServer, type TestServer } from '../support/server.ts';
import { startJanus, type JanusService } from '../support/janus.ts';
import { JanusClient } from '../../src/conferences/janus.ts';

const ADMIN = 'test-admin-token';

/** Polls `fn` until it returns something truthy (at most `ms`). */
async function until<T>(what: string, fn: () => Promise<T> | T, ms = 15_000): Promise<NonNullable<T>> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v as NonNullable<T>;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A WebSocket that keeps every JSON frame it got and its close code. */
class Page {
  readonly frames: any[] = [];
  closed: number | null = null;
  readonly ws: WebSocket;
  readonly opened: Promise<void>;
  constructor(url: string) {
    this.ws = new WebSocket(url);
    this.ws.on('message', (d) => this.frames.push(JSON.parse(d.toString())));
    this.ws.on('close', (code) => (this.closed = code));
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('error', reject);
    });
  }
  of(type: string): any[] {
    return this.frames.filter((f) => f.type === type);
  }
  async next(type: string, pred: (f: any) => boolean = () => true): Promise<any> {
    return until(`a ${type} frame`, () => this.frames.find((f) => f.type === type && pred(f)));
  }
  close(): void {
    this.ws.close();
  }
}

describe('conferences (REST, WebSocket, Janus)', () => {
  let janus: JanusService;
  let srv: TestServer;
  let media: JanusClient;
  let otherKey: string;
  const pages: Page[] = [];

  before(async () => {
    janus = await startJanus();
    srv = await startTestServer({
      config: {
        conferences: {
          janusUrl: janus.httpUrl, janusApiSecret: janus.apiSecret, janusAdminUrl: janus.adminUrl, janusAdminSecret: janus.adminSecret,
          janusPublicWsUrl: janus.wsUrl, iceServers: '[{"urls":"stun:stun.example.org:3478"}]', pollMs: 50,
        },
      },
    });
    media = new JanusClient({ url: janus.httpUrl, apiSecret: janus.apiSecret, adminUrl: janus.adminUrl, adminSecret: janus.adminSecret, timeoutMs: 5000 });
    await srv.call('POST', '/api/v2/admin/tenants', { apiKey: null, body: { id: `${srv.tenantId}x`, name: 'Other clinic' }, headers: { 'x-admin-token': ADMIN } });
    const r = await srv.call('POST', `/api/v2/admin/tenants/${srv.tenantId}x/apps`, { apiKey: null, body: { name: 'other' }, headers: { 'x-admin-token': ADMIN } });
    otherKey = r.body.api_key;
    await srv.user('doc-1', 'doctor', 'Anna Petrova');
  });
  after(async () => {
    for (const p of pages) p.close();
    await srv?.stop();
    await janus?.stop();
  });

  const page = (q: string) => {
    const p = new Page(`${srv.url.replace(/^http/, 'ws')}/api/v2/conference-access/ws?${q}`);
    pages.push(p);
    return p;
  };

  interface Made { id: string; doc: string; pat: string; body: any }
  async function create(over: { starts_at?: number; duration_seconds?: number; conversation_id?: string; topic_id?: string; pat?: string; doc?: string } = {}): Promise<Made> {
    const doc = over.doc ?? 'doc-1';
    const pat = over.pat ?? 'pat-1';
    const r = await srv.call('POST', '/api/v2/conferences', {
      body: {
        user_id: doc, user_role: 'specialist',
        info: {
          title: 'Консультация', starts_at: over.starts_at ?? Date.now(), duration_seconds: over.duration_seconds ?? 1800, vertical: 'medicine', language: 'ru',
          participants: [{ user_id: doc, name: 'Anna Petrova', role: 'specialist' }, { user_id: pat, name: 'Ivan Ivanov', role: 'client' }],
          ...(over.conversation_id ? { conversation_id: over.conversation_id } : {}), ...(over.topic_id ? { topic_id: over.topic_id } : {}),
        },
      },
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const tok = (u: string) => r.body.participants.find((x: any) => x.user_id === u).access_token as string;
    return { id: r.body.conference.id, doc: tok(doc), pat: tok(pat), body: r.body };
  }
  const exchange = (access_token: string) => srv.call('POST', '/api/v2/conference-access/exchange', { apiKey: null, body: { access_token } });
  const as = async (access: string, action: string) => {
    const x = await exchange(access);
    assert.equal(x.status, 200, JSON.stringify(x.body));
    return srv.call(action === 'info' ? 'GET' : 'POST', `/api/v2/conference-access/${action}`, { token: x.body.conference_token });
  };
  const api = (id: string, action: string, key?: string) => srv.call('POST', `/api/v2/conferences/${id}/${action}`, key ? { apiKey: key } : {});

  it('creates a conference with an access token and link per participant', async () => {
    const c = await create();
    const b = c.body;
    assert.equal(b.conference.status, 'scheduled');
    assert.equal(b.access_token, c.doc, 'the creating user\'s token');
    assert.match(c.doc, /^[A-Za-z0-9_-]{24}$/);
    assert.notEqual(c.doc, c.pat);
    assert.equal(b.participants[1].link, `${srv.url}/conf/${c.pat}`);
    assert.deepEqual(b.conference.participants.map((p: any) => [p.user_id, p.role, p.careline_user]), [['doc-1', 'specialist', true], ['pat-1', 'client', false]]);
    assert.equal(b.conference.ends_at, b.conference.starts_at + 1_800_000);
    const t = await srv.call('GET', `/api/v2/conferences/${c.id}/transitions`);
    assert.deepEqual(t.body.transitions.map((x: any) => [x.seq, x.from, x.to, x.action, x.by]), [[1, null, 'scheduled', 'create', 'api']]);
  });

  it('the OpenAPI document describes the conference routes and their credentials', async () => {
    const doc = (await srv.call('GET', '/docs/json', { apiKey: null })).body;
    assert.deepEqual(doc.paths['/api/v2/conferences'].post.security, [{ apiKey: [] }]);
    assert.deepEqual(doc.paths['/api/v2/conference-access/exchange'].post.security, []);
    assert.deepEqual(doc.paths['/api/v2/conference-access/join'].post.security, [{ conferenceToken: [] }]);
    assert.ok(doc.components.securitySchemes.conferenceToken);
    for (const p of ['/api/v2/conferences/{conference_id}', '/api/v2/conferences/{conference_id}/transitions', '/api/v2/conference-access/info', '/api/v2/conversations/{conversation_id}/waiting-room']) {
      assert.ok(doc.paths[p], p);
    }
  });

  it('refuses a malformed create with conference.invalid, and a user token', async () => {
    const base = { title: 'T', starts_at: Date.now(), duration_seconds: 60, vertical: 'general', language: 'en' };
    const bad = async (body: unknown) => (await srv.call('POST', '/api/v2/conferences', { body })).body.code;
    assert.equal(await bad({ user_id: 'a', user_role: 'specialist', info: { ...base, participants: [{ user_id: 'a', name: 'A', role: 'client' }] } }), 'conference.invalid');
    assert.equal(await bad({ user_id: 'x', user_role: 'specialist', info: { ...base, participants: [{ user_id: 'a', name: 'A', role: 'specialist' }] } }), 'conference.invalid');
    assert.equal(await bad({ user_id: 'a', user_role: 'specialist', info: { ...base, participants: [{ user_id: 'a', name: 'A', role: 'specialist' }, { user_id: 'a', name: 'B', role: 'client' }] } }), 'conference.invalid');
    assert.equal(await bad({ user_id: 'a', user_role: 'specialist', info: { ...base, participants: [{ user_id: 'a b', name: 'A', role: 'specialist' }] } }), 'conference.invalid');
    const { token } = await srv.user('doc-2', 'doctor');
    const r = await srv.call('POST', '/api/v2/conferences', { token, body: { user_id: 'a', user_role: 'specialist', info: { ...base, participants: [{ user_id: 'a', name: 'A', role: 'specialist' }] } } });
    assert.equal(r.status, 403);
  });

  describe('every transition and every forbidden one', () => {
    type Status = 'scheduled' | 'open' | 'started' | 'finished' | 'cancelled';
    /** A conference brought to `status` through the API. */
    async function inStatus(status: Status): Promise<Made> {
      const c = await create();
      if (status === 'cancelled') assert.equal((await api(c.id, 'cancel')).status, 200);
      if (status === 'open' || status === 'started' || status === 'finished') assert.equal((await as(c.doc, 'open')).status, 200);
      if (status === 'started' || status === 'finished') assert.equal((await as(c.pat, 'join')).status, 200);
      if (status === 'finished') assert.equal((await as(c.doc, 'finish')).status, 200);
      assert.equal((await srv.call('GET', `/api/v2/conferences/${c.id}`)).body.conference.status, status);
      return c;
    }
    // [from, action] → the status after, or the error; `same` = answered with changed: false.
    const table: [Status, 'open' | 'join' | 'cancel' | 'finish', Status | 'same' | string][] = [
      ['scheduled', 'open', 'open'], ['scheduled', 'join', 'conference.invalid_state'], ['scheduled', 'cancel', 'cancelled'], ['scheduled', 'finish', 'conference.invalid_state'],
      ['open', 'open', 'same'], ['open', 'join', 'started'], ['open', 'cancel', 'cancelled'], ['open', 'finish', 'finished'],
      ['started', 'open', 'same'], ['started', 'join', 'same'], ['started', 'cancel', 'conference.invalid_state'], ['started', 'finish', 'finished'],
      ['finished', 'open', 'conference.invalid_state'], ['finished', 'join', 'conference.invalid_state'], ['finished', 'cancel', 'conference.invalid_state'], ['finished', 'finish', 'same'],
      ['cancelled', 'open', 'conference.invalid_state'], ['cancelled', 'join', 'conference.invalid_state'], ['cancelled', 'cancel', 'same'], ['cancelled', 'finish', 'conference.invalid_state'],
    ];
    for (const [from, action, want] of table) {
      it(`${from} + ${action} → ${want}`, async () => {
        const c = await inStatus(from);
        const before = (await srv.call('GET', `/api/v2/conferences/${c.id}/transitions`)).body.transitions.length;
        // open and finish by the API key here (a specialist's token does the same: see the table's set-up); join with the client's token.
        const r = action === 'join' ? await as(c.pat, 'join') : await api(c.id, action);
        const after = (await srv.call('GET', `/api/v2/conferences/${c.id}/transitions`)).body.transitions;
        if (want.startsWith('conference.')) {
          assert.equal(r.status, 409, JSON.stringify(r.body));
          assert.equal(r.body.code, want);
          assert.equal(r.body.details.status, from);
          assert.equal(after.length, before, 'nothing recorded');
        } else if (want === 'same') {
          assert.equal(r.status, 200, JSON.stringify(r.body));
          assert.equal(r.body.changed, false);
          assert.equal(r.body.conference.status, from);
          assert.equal(after.length, before);
        } else {
          assert.equal(r.status, 200, JSON.stringify(r.body));
          assert.equal(r.body.changed, true);
          assert.equal(r.body.conference.status, want);
          assert.equal(after.length, before + 1);
          const last = after.at(-1);
          assert.deepEqual([last.from, last.to, last.action, last.by], [from, want, action, action === 'join' ? 'pat-1' : 'api']);
        }
      });
    }

    it('only a specialist opens or finishes (a client\'s token: conference.not_specialist)', async () => {
      const c = await create();
      const r = await as(c.pat, 'open');
      assert.deepEqual([r.status, r.body.code], [403, 'conference.not_specialist']);
      await as(c.doc, 'open');
      const f = await as(c.pat, 'finish');
      assert.deepEqual([f.status, f.body.code], [403, 'conference.not_specialist']);
      const ok = await as(c.doc, 'finish');
      assert.deepEqual([ok.status, ok.body.conference.status, ok.body.conference.end_reason], [200, 'finished', 'finished']);
    });

    it('a specialist opens no earlier than conferences.openEarlySeconds before the start', async () => {
      const c = await create({ starts_at: Date.now() + 3_600_000 });
      const r = await as(c.doc, 'open');
      assert.deepEqual([r.status, r.body.code], [409, 'conference.too_early']);
      assert.equal(r.body.details.opens_at, r.body.details.starts_at - 900_000);
    });

    it('PATCH changes the info of a running conference, not of an ended one', async () => {
      const c = await create();
      const r = await srv.call('PATCH', `/api/v2/conferences/${c.id}`, { body: { title: 'New title', duration_seconds: 60 } });
      assert.equal(r.status, 200);
      assert.equal(r.body.conference.title, 'New title');
      assert.equal(r.body.conference.ends_at, r.body.conference.starts_at + 60_000);
      assert.equal(r.body.conference.info_version, 2);
      await api(c.id, 'cancel');
      const e = await srv.call('PATCH', `/api/v2/conferences/${c.id}`, { body: { title: 'Too late' } });
      assert.deepEqual([e.status, e.body.code], [409, 'conference.invalid_state']);
    });
  });

  describe('tokens', () => {
    it('a wrong, malformed, revoked or expired access token answers 401', async () => {
      const c = await create();
      for (const [t, code] of [['A'.repeat(24), 'conference.access_denied'], ['short', 'conference.access_denied'], [`${c.pat}x`, 'conference.access_denied']] as const) {
        const r = await exchange(t);
        assert.deepEqual([r.status, r.body.code], [401, code], t);
      }
      assert.equal((await exchange(c.pat)).status, 200);
      const x = await exchange(c.pat);
      assert.equal((await srv.call('POST', `/api/v2/conferences/${c.id}/participants/pat-1/revoke`)).status, 200);
      assert.deepEqual([(await exchange(c.pat)).status, (await exchange(c.pat)).body.code], [401, 'conference.access_revoked']);
      // The conference token given before the revocation stops working too.
      const info = await srv.call('GET', '/api/v2/conference-access/info', { token: x.body.conference_token });
      assert.deepEqual([info.status, info.body.code], [401, 'conference.access_revoked']);
      // A new token works; the old one stays revoked.
      const re = await srv.call('POST', `/api/v2/conferences/${c.id}/participants/pat-1/token`);
      assert.equal(re.status, 200);
      assert.equal((await exchange(re.body.access_token)).status, 200);
      assert.equal((await exchange(c.pat)).body.code, 'conference.access_revoked');
      // Expired: its end (plus conferences.accessTtlAfterEndSeconds, a day) is in the past.
      const old = await create({ starts_at: Date.now() - 3 * 86_400_000, duration_seconds: 60 });
      const e = await exchange(old.pat);
      assert.deepEqual([e.status, e.body.code], [401, 'conference.access_expired']);
    });

    it('a wrong or tampered conference token answers 401', async () => {
      const c = await create();
      const x = await exchange(c.doc);
      const t: string = x.body.conference_token;
      assert.equal((await srv.call('GET', '/api/v2/conference-access/info', { token: t })).status, 200);
      const tampered = t.slice(0, -2) + (t.endsWith('AA') ? 'BB' : 'AA');
      for (const bad of [tampered, 'cft_abc.def', 'nonsense']) {
        const r = await srv.call('GET', '/api/v2/conference-access/info', { token: bad });
        assert.deepEqual([r.status, r.body.code], [401, 'conference.access_denied'], bad);
      }
      const none = await srv.call('POST', '/api/v2/conference-access/open', { apiKey: null });
      assert.equal(none.status, 401);
    });

    it('another tenant\'s API key does not see the conference', async () => {
      const c = await create();
      assert.equal((await srv.call('GET', `/api/v2/conferences/${c.id}`, { apiKey: otherKey })).body.code, 'conference.not_found');
      for (const action of ['open', 'cancel', 'finish']) {
        const r = await api(c.id, action, otherKey);
        assert.deepEqual([r.status, r.body.code], [404, 'conference.not_found'], action);
      }
      assert.equal((await srv.call('GET', `/api/v2/conferences/${c.id}`)).body.conference.status, 'scheduled');
    });
  });

  describe('events', () => {
    it('every open page gets each status and info change; a Careline participant\'s own connection too', async () => {
      const c = await create();
      const doc = page(`access_token=${c.doc}`);
      const pat = page(`access_token=${c.pat}`);
      const pat2 = page(`conference_token=${(await exchange(c.pat)).body.conference_token}`);
      const { token } = await srv.user('doc-1', 'doctor', 'Anna Petrova');
      const careline = new Page(`${srv.wsUrl}?token=${token}`);
      pages.push(careline);
      for (const p of [doc, pat, pat2]) {
        const hello = await p.next('conference.hello');
        assert.equal(hello.conference.id, c.id);
        assert.equal(hello.conference.status, 'scheduled');
      }
      assert.equal((await doc.next('conference.hello')).participant.role, 'specialist');
      assert.equal((await pat.next('conference.hello')).participant.user_id, 'pat-1');
      await careline.next('hello');

      await as(c.doc, 'open');
      for (const p of [doc, pat, pat2]) {
        const f = await p.next('conference.status', (x) => x.status === 'open');
        assert.deepEqual([f.previous, f.action, f.by, f.conference.status], ['scheduled', 'open', 'doc-1', 'open']);
      }
      assert.equal((await careline.next('conference', (x) => x.event === 'status')).conference.status, 'open');

      await srv.call('PATCH', `/api/v2/conferences/${c.id}`, { body: { starts_at: Date.now() + 60_000 } });
      for (const p of [doc, pat, pat2]) assert.deepEqual((await p.next('conference.info')).changed, ['starts_at', 'ends_at']);
      await careline.next('conference', (x) => x.event === 'info');

      await api(c.id, 'finish');
      for (const p of [doc, pat, pat2]) assert.equal((await p.next('conference.status', (x) => x.status === 'finished')).action, 'finish');
      // Statuses arrive in order, once each.
      assert.deepEqual(doc.of('conference.status').map((f) => f.status), ['open', 'finished']);
      doc.ws.send(JSON.stringify({ type: 'ping' }));
      await doc.next('pong');
    });

    it('a bad token gets an error frame and 4401; a revoked participant\'s page is closed with 4401', async () => {
      const bad = page('access_token=' + 'B'.repeat(24));
      await until('the close', () => bad.closed);
      assert.equal(bad.closed, 4401);
      assert.equal(bad.of('error')[0].code, 'conference.access_denied');
      const c = await create();
      const pat = page(`access_token=${c.pat}`);
      const doc = page(`access_token=${c.doc}`);
      await pat.next('conference.hello');
      await doc.next('conference.hello');
      await srv.call('POST', `/api/v2/conferences/${c.id}/participants/pat-1/revoke`);
      await until('the revoked page closed', () => pat.closed);
      assert.equal(pat.closed, 4401);
      assert.equal(pat.of('error')[0].code, 'conference.access_revoked');
      assert.equal(doc.closed, null, 'the specialist\'s page stays');
    });
  });

  describe('Janus', () => {
    it('the first join creates the room with the participants\' tokens; the end destroys it and removes them', async () => {
      const c = await create();
      const x = await exchange(c.doc);
      assert.equal(x.body.media, null, 'no media before the start');
      await as(c.doc, 'open');
      const j = await as(c.doc, 'join');
      assert.equal(j.status, 200, JSON.stringify(j.body));
      assert.equal(j.body.conference.status, 'started');
      const m = j.body.media;
      assert.ok(m, 'media once started');
      assert.equal(m.janus.ws_url, janus.wsUrl);
      assert.equal(m.janus.http_url, janus.httpUrl);
      assert.deepEqual(m.ice_servers, [{ urls: 'stun:stun.example.org:3478' }]);
      assert.equal(m.display, 'Anna Petrova');
      assert.equal(await media.roomExists(m.room), true);
      const patMedia = (await as(c.pat, 'join')).body.media;
      assert.equal(patMedia.room, m.room);
      assert.notEqual(patMedia.token, m.token);
      // The participant's token opens a Janus session (without it Janus refuses), and the room takes its join with the PIN.
      const post = async (url: string, body: object) => (await fetch(url, { method: 'POST', body: JSON.stringify({ ...body, transaction: 't' }) })).json() as Promise<any>;
      assert.equal((await post(janus.httpUrl, { janus: 'create' })).janus, 'error');
      const s = await post(janus.httpUrl, { janus: 'create', token: patMedia.token });
      assert.equal(s.janus, 'success');
      const h = await post(`${janus.httpUrl}/${s.data.id}`, { janus: 'attach', plugin: 'janus.plugin.videoroom', token: patMedia.token });
      assert.equal(h.janus, 'success');
      const joined = await post(`${janus.httpUrl}/${s.data.id}/${h.data.id}`, {
        janus: 'message', token: patMedia.token, body: { request: 'join', ptype: 'publisher', room: patMedia.room, pin: patMedia.pin, token: patMedia.token, display: patMedia.display },
      });
      assert.equal(joined.janus, 'ack', JSON.stringify(joined));
      const wrongPin = await post(`${janus.httpUrl}/${s.data.id}/${h.data.id}`, { janus: 'message', token: patMedia.token, body: { request: 'join', ptype: 'publisher', room: m.room, pin: 'nope', display: 'x' } });
      assert.ok(wrongPin.janus === 'ack' || wrongPin.janus === 'error');
      assert.ok((await media.tokens()).includes(patMedia.token));

      await as(c.doc, 'finish');
      await until('the room destroyed', async () => !(await media.roomExists(m.room)));
      await until('the tokens removed', async () => !(await media.tokens()).includes(patMedia.token));
      assert.equal((await post(janus.httpUrl, { janus: 'create', token: patMedia.token })).janus, 'error');
    });

    it('the scheduler ends a conference at its end time and tears its room down', async () => {
      const c = await create({ duration_seconds: 2 });
      const doc = page(`access_token=${c.doc}`);
      await as(c.doc, 'open');
      const m = (await as(c.pat, 'join')).body.media;
      const f = await doc.next('conference.status', (x) => x.status === 'finished');
      assert.deepEqual([f.action, f.by, f.conference.end_reason], ['time', 'system', 'time']);
      assert.ok(f.conference.ended_at >= f.conference.ends_at);
      const t = (await srv.call('GET', `/api/v2/conferences/${c.id}/transitions`)).body.transitions;
      assert.deepEqual(t.map((x: any) => x.action), ['create', 'open', 'join', 'time']);
      await until('the room destroyed', async () => !(await media.roomExists(m.room)));
    });
  });

  it('Janus down: the join answers 503 conference.media_unavailable and the conference stays open', async () => {
    const down = await startTestServer({ config: { conferences: { janusUrl: 'http://127.0.0.1:9/janus', janusApiSecret: 'x', janusTimeoutMs: 2000 } } });
    try {
      const r = await down.call('POST', '/api/v2/conferences', {
        body: {
          user_id: 'd', user_role: 'specialist',
          info: { title: 'T', starts_at: Date.now(), duration_seconds: 600, vertical: 'general', language: 'en', participants: [{ user_id: 'd', name: 'D', role: 'specialist' }, { user_id: 'p', name: 'P', role: 'client' }] },
        },
      });
      const tok = (u: string) => r.body.participants.find((x: any) => x.user_id === u).access_token;
      const ex = async (u: string) => (await down.call('POST', '/api/v2/conference-access/exchange', { apiKey: null, body: { access_token: tok(u) } })).body.conference_token;
      assert.equal((await down.call('POST', '/api/v2/conference-access/open', { token: await ex('d') })).status, 200);
      const j = await down.call('POST', '/api/v2/conference-access/join', { token: await ex('p') });
      assert.deepEqual([j.status, j.body.code], [503, 'conference.media_unavailable']);
      assert.equal((await down.call('GET', `/api/v2/conferences/${r.body.conference.id}`)).body.conference.status, 'open');
    } finally {
      await down.stop();
    }
  });

  describe('waiting room', () => {
    it('clients see their place; the specialist admits the next; the summary goes to the consultation', async () => {
      await srv.user('pat-a', 'patient', 'Alice');
      await srv.user('pat-b', 'patient', 'Boris');
      const room = await srv.conversation({ participants: ['doc-1', 'pat-a', 'pat-b'], type: 12, id: `wr-${Date.now()}`, name: 'Waiting room' });
      const topic = await srv.call('POST', `/api/v2/sessions/${encodeURIComponent(room)}/topics`, { body: { topic_id: `consult-${Date.now()}`, name: 'Video visit' } });
      assert.equal(topic.status, 200, JSON.stringify(topic.body));
      const topicId = topic.body.topic.id;
      const a = await create({ conversation_id: room, topic_id: topicId, pat: 'pat-a' });
      const b = await create({ conversation_id: room, pat: 'pat-b' });
      const pa = page(`access_token=${a.pat}`);
      const pb = page(`access_token=${b.pat}`);
      assert.equal((await pa.next('conference.hello')).queue.position, null);
      await pb.next('conference.hello');
      assert.equal((await as(a.pat, 'arrive')).body.queue.position, 1);
      const arrivedB = await as(b.pat, 'arrive');
      assert.deepEqual(arrivedB.body.queue, { position: 2, waiting: 2, admitted: false });
      assert.deepEqual((await pb.next('conference.queue', (f) => f.queue.position === 2)).queue, { position: 2, waiting: 2, admitted: false });
      // Not admitted yet: no join.
      const early = await as(a.pat, 'join');
      assert.deepEqual([early.status, early.body.code], [409, 'conference.not_admitted']);
      const list = await srv.call('GET', `/api/v2/conversations/${encodeURIComponent(room)}/waiting-room`, { token: (await srv.user('doc-1', 'doctor', 'Anna Petrova')).token });
      assert.deepEqual(list.body.waiting.map((w: any) => [w.conference_id, w.position, w.client.name]), [[a.id, 1, 'Ivan Ivanov'], [b.id, 2, 'Ivan Ivanov']]);
      // A patient may not admit.
      const { token: patToken } = await srv.user('pat-a', 'patient', 'Alice');
      assert.equal((await srv.call('POST', `/api/v2/conversations/${encodeURIComponent(room)}/waiting-room/admit`, { token: patToken })).status, 403);
      const { token: docToken } = await srv.user('doc-1', 'doctor', 'Anna Petrova');
      const adm = await srv.call('POST', `/api/v2/conversations/${encodeURIComponent(room)}/waiting-room/admit`, { token: docToken });
      assert.equal(adm.status, 200, JSON.stringify(adm.body));
      assert.deepEqual([adm.body.admitted.id, adm.body.admitted.status, adm.body.queue_length], [a.id, 'open', 1]);
      assert.equal((await pa.next('conference.status', (f) => f.status === 'open')).by, 'doc-1');
      assert.deepEqual((await pb.next('conference.queue', (f) => f.queue.position === 1)).queue, { position: 1, waiting: 1, admitted: false });
      assert.equal((await pa.next('conference.queue', (f) => f.queue.admitted)).queue.position, null);
      // Admitted: the client joins, the conference starts; the specialist finishes it.
      assert.equal((await as(a.pat, 'join')).body.conference.status, 'started');
      await as(a.doc, 'join');
      await as(a.doc, 'finish');
      const summary = await until('the summary message', async () => {
        const h = await srv.call('GET', `/api/v2/sessions/${encodeURIComponent(room)}/messages?limit=50`);
        return h.body.messages.find((msg: any) => msg.content?.event === 'conference.ended');
      });
      assert.equal(summary.type, 0);
      assert.equal(summary.sender_id, 'system');
      assert.equal(summary.content.data.conference_id, a.id);
      assert.equal(summary.content.data.topic_id, topicId);
      assert.deepEqual(summary.content.data.participants.map((p: any) => [p.user_id, p.joined]), [['doc-1', true], ['pat-a', true]]);
      assert.match(summary.content.text, /2 participants/);
      // In the consultation's messages.
      const tm = await srv.call('GET', `/api/v2/sessions/topic/${encodeURIComponent(topicId)}/messages`);
      assert.ok(tm.body.messages.some((msg: any) => msg.id === summary.id));
      // The next one is admitted; nobody is left.
      const adm2 = await srv.call('POST', `/api/v2/conversations/${encodeURIComponent(room)}/waiting-room/admit`, { token: docToken });
      assert.equal(adm2.body.admitted.id, b.id);
      const none = await srv.call('POST', `/api/v2/conversations/${encodeURIComponent(room)}/waiting-room/admit`, { token: docToken });
      assert.deepEqual([none.status, none.body.code], [409, 'conference.queue_empty']);
    });
  });
});
