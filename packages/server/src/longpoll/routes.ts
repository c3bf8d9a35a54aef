/**
 * The HTTP routes of long-polling and Server-Sent Events (`longpoll.ts`), and seed 002's
 * shapes over them (`/pull`, `/api/ping`). Each authenticates with the user token, as the
 * WebSocket does: `Authorization: Bearer <token>` or `?token=` (an `EventSource` cannot set
 * headers), with the failed-authentication limit of HTTP and the WebSocket, and the user's
 * request limit.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import Type from 'typebox';
import { MAX_POSTS_IN_FLIGHT, type Message } from '@careline/protocol';
import type { Api } from '../http/api.ts';
import type { Core } from '../core.ts';
import type { Authenticated } from '../domain/auth.ts';
import { fail, isAppError } from '../domain/errors.ts';
import { checkCursor, decodePollCursor, encodePollCursor, type Cursor } from './cursor.ts';
import { answerBody, type LongPoll } from './longpoll.ts';
import { errors } from '../http/schemas.ts';
import { CATCH_UP_MAX, type DeskService } from '../desk/service.ts';
import { seedMessage } from '../desk/wire.ts';

const PollQuery = Type.Object({
  token: Type.Optional(Type.String({ maxLength: 8192 })),
  /** The cursor of the previous answer (or of the SSE `id:`). */
  cursor: Type.Optional(Type.String({ maxLength: 4 * 1024 * 1024 })),
  /** Or the cursor in plain parts: a JSON object of conversation id → last seq… */
  cursors: Type.Optional(Type.String({ maxLength: 4 * 1024 * 1024 })),
  /** …the `server_time` of the last `sync_done`… */
  since: Type.Optional(Type.Number({ minimum: 0 })),
  /** …and the newest notification id. */
  notifications_after: Type.Optional(Type.String({ maxLength: 64 })),
  /** Hold at most this long (ms; at most `longpoll.timeoutMs`). */
  timeout: Type.Optional(Type.Integer({ minimum: 0 })),
  /** `1`: put the `hello` frame first (a client's first poll). */
  hello: Type.Optional(Type.String({ maxLength: 1 })),
  /** `0`: no notification catch-up (as a `sync` frame without `notifications_after`). */
  notifications: Type.Optional(Type.String({ maxLength: 1 })),
  /** The client's name for itself, the same on its POSTs: its own sends in a POST still open are not answered by its poll (the POST's ack is). */
  client: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
});
type PollQuery = { token?: string; cursor?: string; cursors?: string; since?: number; notifications_after?: string; timeout?: number; hello?: string; notifications?: string; client?: string };

/** The cursor a request names (`cursor`, or `cursors`/`since`/`notifications_after`; none: a fresh client). */
function cursorOf(q: PollQuery, lastEventId?: string): Cursor {
  if (q.cursor) return decodePollCursor(q.cursor);
  if (lastEventId) return decodePollCursor(lastEventId);
  let c: unknown = {};
  if (q.cursors) {
    try {
      c = JSON.parse(q.cursors);
    } catch {
      throw fail('longpoll.invalid_cursor', 'cursors is not JSON.');
    }
  }
  return checkCursor({ c, ...(q.since !== undefined ? { s: q.since } : {}), ...(q.notifications_after !== undefined ? { n: q.notifications_after } : {}) });
}

/** A POST's place among its client's (`n`, `from`), checked; none when it is not numbered. */
function postOrder(q: { client?: string; n?: number; from?: number }): { n: number; from: number } | undefined {
  if (q.n === undefined && q.from === undefined) return undefined;
  if (q.n === undefined || q.from === undefined || q.client === undefined) {
    throw fail('longpoll.invalid_order', 'A numbered POST gives n, from and client together.');
  }
  if (q.from > q.n || q.n - q.from > MAX_POSTS_IN_FLIGHT) {
    throw fail('longpoll.invalid_order', `from is at most n, and at most ${MAX_POSTS_IN_FLIGHT} below it.`, { n: q.n, from: q.from });
  }
  return { n: q.n, from: q.from };
}


export function longPollRoutes(app: Api, core: Core, lp: LongPoll, desk?: DeskService): void {
  const limits = app.limits;

  /** The caller of a request, as the WebSocket upgrade authenticates it. */
  async function authenticate(req: FastifyRequest, query: { token?: string }): Promise<Authenticated> {
    const ip = limits.ip(req);
    await limits.mayAuthenticate(ip);
    try {
      const h = req.headers.authorization;
      const token = query.token ?? (h ? /^Bearer\s+(\S+)$/i.exec(h)?.[1] : undefined);
      if (!token) throw fail('auth.missing', 'Poll with Authorization: Bearer <user token> or ?token=.');
      const auth = await lp.authenticate(token);
      await limits.principal(auth.principal);
      return auth;
    } catch (err) {
      if (isAppError(err)) await limits.refused(ip, err.code);
      throw err;
    }
  }

  /** An AbortSignal that fires when the client goes away before its answer (not when the answer is out: an abort is not free). */
  function gone(reply: FastifyReply): AbortSignal {
    const ac = new AbortController();
    reply.raw.once('close', () => {
      if (!reply.raw.writableFinished) ac.abort();
    });
    return ac.signal;
  }

  app.get('/api/v2/poll', {
    config: { auth: 'none', authenticatesItself: true },
    schema: {
      tags: ['realtime'], summary: 'Long-poll: the WebSocket frames after a cursor, at once or on the first live event (docs/transports.md)',
      querystring: PollQuery, response: { ...errors(400, 401, 403, 429) },
    },
  }, async (req, reply) => {
    const q = req.query as PollQuery;
    const cursor = cursorOf(q);
    const auth = await authenticate(req, q);
    const a = await lp.poll(auth, cursor, {
      ...(q.timeout !== undefined ? { timeoutMs: q.timeout } : {}), hello: q.hello === '1', notifications: q.notifications !== '0', ...(q.client !== undefined ? { client: q.client } : {}),
    }, gone(reply));
    return reply.type('application/json; charset=utf-8').send(answerBody(a) as never);
  });

  app.post('/api/v2/poll/send', {
    config: { auth: 'none', authenticatesItself: true },
    bodyLimit: Math.max(core.config.http.bodyLimitBytes, core.config.longpoll.maxFrames * core.config.ws.maxFrameBytes),
    schema: {
      tags: ['realtime'], summary: 'Long-poll and SSE: send WebSocket frames; the answer carries their answers (ack after commit)',
      querystring: Type.Object({
        token: Type.Optional(Type.String({ maxLength: 8192 })),
        client: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
        /** The POST's number among the client's (1, 2, 3…), when it keeps several in flight: its frames are handled after those of its earlier ones. */
        n: Type.Optional(Type.Integer({ minimum: 1 })),
        /** The client's oldest POST not answered yet (at most `n`). */
        from: Type.Optional(Type.Integer({ minimum: 1 })),
      }),
      body: Type.Array(Type.Unknown()),
      response: { ...errors(400, 401, 403, 413, 429) },
    },
  }, async (req, reply) => {
    const q = req.query as { token?: string; client?: string; n?: number; from?: number };
    const order = postOrder(q);
    const auth = await authenticate(req, q);
    const length = Number(req.headers['content-length']);
    const a = await lp.send(auth, req.body as unknown[], q.client, order, Number.isFinite(length) ? length : undefined);
    return reply.type('application/json; charset=utf-8').send(answerBody(a) as never);
  });

  app.get('/api/v2/poll/events', {
    config: { auth: 'none', authenticatesItself: true },
    schema: {
      tags: ['realtime'], summary: 'Server-Sent Events: the WebSocket frames as text/event-stream, id = cursor, resumed with Last-Event-ID',
      querystring: PollQuery, response: { ...errors(400, 401, 403, 429) },
    },
  }, async (req, reply) => {
    const q = req.query as PollQuery;
    const last = req.headers['last-event-id'];
    const cursor = cursorOf(q, typeof last === 'string' && last !== '' ? last : undefined);
    const auth = await authenticate(req, q);
    reply.hijack();
    lp.events(auth, cursor, req.raw, reply.raw);
  });

  // Seed 002's long-poll shapes.
  app.get('/pull', {
    config: { auth: 'none', authenticatesItself: true },
    schema: {
      tags: ['realtime'], summary: 'Seed 002 long-poll: {code, msg, data:[messages]}, and the cursor for the next pull',
      querystring: Type.Object({
        uid: Type.Optional(Type.String({ maxLength: 128 })), track_id: Type.Optional(Type.String({ maxLength: 256 })),
        token: Type.Optional(Type.String({ maxLength: 8192 })), cursor: Type.Optional(Type.String({ maxLength: 4 * 1024 * 1024 })),
        timeout: Type.Optional(Type.Integer({ minimum: 0 })),
        version: Type.Optional(Type.String({ maxLength: 64, description: 'The state version (a mid, docs/desk.md): front-desk events after it that this client missed come first, and items whose mid is not after it are left out' })),
      }),
      response: {
        200: Type.Object({ code: Type.Integer(), msg: Type.String(), data: Type.Array(Type.Unknown()), cursor: Type.String(), version: Type.Optional(Type.String()) }),
        ...errors(400, 401, 403, 429),
      },
    },
  }, async (req, reply) => {
    const q = req.query as { uid?: string; token?: string; cursor?: string; timeout?: number; version?: string };
    let cursor: Cursor = q.cursor ? decodePollCursor(q.cursor) : { c: {} };
    const auth = await authenticate(req, q);
    // A seed 002 client's first pull after state init: its chats from their start (what the
    // snapshot had, mid ≤ version, is left out below), so nothing sent in between is missed.
    if (!q.cursor && desk && q.version !== undefined) cursor = { c: Object.fromEntries((await desk.chatIdsOf(auth.principal)).map((id) => [id, 0])) };
    if (q.uid !== undefined && q.uid !== auth.principal.userId) throw fail('auth.forbidden', 'uid is not the token\'s user.');
    // Front-desk events stored after the client's version that it has not seen (it was between polls).
    const missed = desk && q.version !== undefined ? await desk.eventsAfter(auth.principal, q.version) : [];
    // A full page: more are stored; live events (newer) wait, so the version does not pass the ones still to read.
    const more = missed.length >= CATCH_UP_MAX;
    const a = missed.length > 0
      ? await lp.poll(auth, cursor, { timeoutMs: 0 }, gone(reply))
      : await lp.poll(auth, cursor, q.timeout !== undefined ? { timeoutMs: q.timeout } : {}, gone(reply));
    const data: Record<string, unknown>[] = [...missed];
    const messages: Message[] = [];
    for (const f of a.frames) {
      if (f.startsWith('{"type":"message"')) messages.push((JSON.parse(f) as { message: Message }).message);
      else if (f.startsWith('{"type":"desk"') && !more) data.push((JSON.parse(f) as { event: Record<string, unknown> }).event);
    }
    const senders = new Map((await core.storage.users.getUsers(auth.principal.tenantId, [...new Set(messages.map((m) => m.sender_id))])).map((u) => [u.id, u]));
    for (const m of messages) data.push(seedMessage(auth.principal.tenantId, m, senders.get(m.sender_id)));
    // Seed 002's rule: what is not newer than the version is ignored; each item once.
    const seen = new Set<string>();
    const out = data.filter((d) => {
      const mid = typeof d['mid'] === 'string' ? d['mid'] : '';
      if (q.version !== undefined && /^[0-9a-v]{20}$/.test(mid) && mid <= q.version) return false;
      if (mid === '' || seen.has(mid)) return mid === '';
      seen.add(mid);
      return true;
    });
    const mids = (more ? missed : out).map((d) => d['mid']).filter((m): m is string => typeof m === 'string' && /^[0-9a-v]{20}$/.test(m));
    const version = [q.version ?? '', ...mids].reduce((x, y) => (y > x ? y : x), '');
    return {
      code: 0, msg: a.close ? a.close.reason : '',
      data: out,
      cursor: encodePollCursor(a.cursor),
      ...(version !== '' ? { version } : {}),
    };
  });

  app.get('/api/ping', {
    config: { auth: 'none', authenticatesItself: true },
    schema: {
      tags: ['realtime'], summary: 'Seed 002 heartbeat: keeps the user online between polls; interval in seconds',
      querystring: Type.Object({
        uid: Type.Optional(Type.String({ maxLength: 128 })), fp: Type.Optional(Type.String({ maxLength: 256 })),
        track_id: Type.Optional(Type.String({ maxLength: 256 })), token: Type.Optional(Type.String({ maxLength: 8192 })),
      }),
      response: { 200: Type.Object({ code: Type.Integer(), msg: Type.String(), interval: Type.Integer() }), ...errors(400, 401, 403, 429) },
    },
  }, async (req) => {
    const q = req.query as { uid?: string; token?: string };
    const auth = await authenticate(req, q);
    if (q.uid !== undefined && q.uid !== auth.principal.userId) throw fail('auth.forbidden', 'uid is not the token\'s user.');
    lp.ping(auth);
    return { code: 0, msg: '', interval: Math.max(1, Math.round(core.config.ws.heartbeatMs / 1000)) };
  });
}
