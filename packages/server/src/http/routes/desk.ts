/**
 * The front desk over REST (docs/desk.md): seed 002's paths (`/api/state/init`,
 * `/api/message`, `/api/user/track`, `/api/users/online`, `/api/staff/online`,
 * `/api/staff/info`; `/pull` and `/api/ping` are the long-poll routes') and the triage paths
 * under `/api/desk/`. Visitors and staff call with their Careline user token; a new visitor is
 * made by `/api/state/init` with the organisation's widget key; the integrator manages keys and
 * SLAs with its API key.
 */
import Type from 'typebox';
import type { FastifyRequest } from 'fastify';
import type { Api } from '../api.ts';
import type { Core } from '../../core.ts';
import type { Principal } from '../../domain/types.ts';
import { fail, isAppError } from '../../domain/errors.ts';
import type { Caller, DeskService, SeedBody, TrackBody } from '../../desk/service.ts';
import { OUTCOMES } from '../../desk/types.ts';
import { errors, Nullable } from '../schemas.ts';

type UserPrincipal = Principal & { kind: 'user' };

const Str = (max: number) => Type.String({ maxLength: max });
const Code0 = { code: Type.Integer({ description: '0: success' }), msg: Type.String() };
const SeedObject = Type.Object({}, { additionalProperties: true });
const ChatParams = Type.Object({ chat_id: Type.String({ minLength: 1, maxLength: 64 }) });
const From = Type.Object({ id: Type.Optional(Str(128)), name: Type.Optional(Str(256)), role: Type.Optional(Str(16)) });

const MessageBody = Type.Object({
  cid: Type.Optional(Str(128)),
  mid: Type.Optional(Str(64)),
  type: Type.String({ maxLength: 32, description: 'text | file | image | request_chat | join_chat' }),
  from: Type.Optional(From),
  chat: Type.Optional(Type.Object({ id: Type.Optional(Str(64)) })),
  text: Type.Optional(Str(16_000)),
  file: Type.Optional(Type.Object({ name: Type.Optional(Str(512)), src: Type.Optional(Str(2048)), size: Type.Optional(Type.Integer({ minimum: 0 })) })),
  image: Type.Optional(Type.Object({
    src: Type.Optional(Str(2048)), width: Type.Optional(Type.Integer({ minimum: 0, maximum: 100_000 })),
    height: Type.Optional(Type.Integer({ minimum: 0, maximum: 100_000 })), size: Type.Optional(Type.Integer({ minimum: 0 })),
  })),
  event: Type.Optional(Type.Object({
    chat: Type.Optional(Type.Object({ id: Type.Optional(Str(64)) })),
    uids: Type.Optional(Type.Array(Str(128), { maxItems: 10 })),
    team_id: Type.Optional(Str(128)),
  })),
});
const MessageAnswer = Type.Object({ ...Code0, mid: Type.String(), chat: Type.Optional(Type.Object({ id: Type.String() })) });

/** Generous schema bounds: the desk's own limits (`desk.track_too_large`) come first. */
const TrackField = Type.Optional(Str(64 * 1024));
const TrackBodySchema = Type.Object({
  uid: TrackField, fp: TrackField, cid: TrackField, url: TrackField, title: TrackField, referer: TrackField, os: TrackField, browser: TrackField,
});

const Visitor = Type.Object({
  uid: Type.String(), fp: Type.String(), track_id: Type.String(), url: Type.String(), title: Type.String(), referer: Type.String(), os: Type.String(), browser: Type.String(),
  online: Type.Boolean(), last_seen: Type.Number(), first_seen: Type.Number(), chat_id: Type.String(), chat_state: Type.String(), patient_id: Type.String(),
});
const Staff = Type.Object({ uid: Type.String(), staff_id: Type.String(), name: Type.String(), online: Type.Boolean(), active_chats: Type.Optional(Type.Integer()) });
const QueueItem = Type.Object({
  chat_id: Type.String(), creator: Type.String(), team_id: Type.String(), state: Type.String(), created_at: Type.Number(), waiting_ms: Type.Number(),
  position: Type.Integer(), acked_by: Type.Array(Type.Object({ uid: Type.String(), at: Type.Number() })), escalated_at: Nullable(Type.Number()),
});
const Percentiles = Type.Object({ count: Type.Integer(), p50_ms: Nullable(Type.Number()), p90_ms: Nullable(Type.Number()) });
const Stats = Type.Object({
  chats: Type.Integer(), claimed: Type.Integer(), closed: Type.Integer(), abandoned: Type.Integer(), waiting: Percentiles, first_response: Percentiles,
  per_staff: Type.Array(Type.Object({ uid: Type.String(), claimed: Type.Integer(), closed: Type.Integer(), first_response_p50_ms: Nullable(Type.Number()) })),
  queue_now: Type.Integer(),
});
const KeyInfo = Type.Object({ id: Type.String(), name: Type.String(), origins: Type.Array(Type.String()), created_at: Type.Number(), revoked_at: Nullable(Type.Number()) });
const Mid = Type.Object({ ...Code0, mid: Type.String() });

export function deskRoutes(app: Api, core: Core, desk: DeskService): void {
  const tags = ['desk'];

  async function caller(p: Principal): Promise<Caller> {
    if (p.kind !== 'user') throw fail('desk.not_staff', 'This call needs a visitor\'s or staff member\'s own token.');
    const u = await core.storage.users.getUser(p.tenantId, p.userId);
    return desk.caller(p, u?.name ?? '');
  }
  async function staff(p: Principal) {
    if (p.kind !== 'user') throw fail('desk.not_staff', 'This call needs a staff member\'s own token.');
    const u = await core.storage.users.getUser(p.tenantId, p.userId);
    return desk.staffCaller(p, u?.name ?? '');
  }

  /** The signed-in user of a request with a Bearer token, as the HTTP auth hook does (with its failed-authentication limit). */
  async function bearer(req: FastifyRequest, token: string): Promise<UserPrincipal> {
    const ip = app.limits.ip(req);
    await app.limits.mayAuthenticate(ip);
    try {
      const p = await core.auth.authenticateToken(token);
      await app.limits.principal(p);
      return p;
    } catch (err) {
      if (isAppError(err)) await app.limits.refused(ip, err.code);
      throw err;
    }
  }

  app.get('/api/state/init', {
    config: { auth: 'none' },
    schema: {
      tags, summary: 'Seed 002 state init: the caller\'s chats with their messages, the state version, the push node; with the widget key and no uid, a new visitor',
      querystring: Type.Object({
        uid: Type.Optional(Str(128)), fp: Type.Optional(Type.String({ maxLength: 256 })), track_id: Type.Optional(Str(64)), cid: Type.Optional(Str(128)),
        key: Type.Optional(Str(128)),
      }),
      response: {
        200: Type.Object({
          code: Type.Integer(), uid: Type.String(), addr: Type.String(), track_id: Type.String(), role: Type.String(), cid: Type.String(),
          token: Type.Optional(Type.String()), token_expires_at: Type.Optional(Type.Number()),
          state: Type.Object({ chats: Type.Array(SeedObject), version: Type.String() }),
        }),
        ...errors(400, 401, 403, 429),
      },
    },
  }, async (req) => {
    const q = req.query;
    const auth = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '')?.[1];
    if (auth !== undefined) {
      const p = await bearer(req, auth);
      if (q.uid !== undefined && q.uid !== p.userId) throw fail('desk.uid_mismatch', undefined, { uid: q.uid });
      desk.checkOrganisation(p.tenantId, q.cid);
      const c = await caller(p);
      if (c.kind === 'visitor') await desk.store.touchVisitor(p.tenantId, p.userId, Date.now());
      return desk.stateInit(c, q.track_id) as never;
    }
    const key = (req.headers['x-desk-key'] as string | undefined) ?? q.key;
    if (key === undefined) throw fail('auth.missing', 'A new visitor needs the widget key (X-Desk-Key); a known user its token (Authorization: Bearer).');
    if (q.uid !== undefined) throw fail('desk.uid_mismatch', 'A uid is shown with its token (Authorization: Bearer), not with the widget key.', { uid: q.uid });
    const k = await desk.keyTenant(key, req.headers.origin);
    desk.checkOrganisation(k.tenant_id, q.cid);
    if (q.fp === undefined || q.fp === '') throw fail('desk.invalid_message', 'fp (the browser fingerprint) is required for a new visitor.');
    const v = await desk.createVisitor(k, q.fp, app.limits.ip(req));
    const c: Caller = { kind: 'visitor', p: v.p, visitor: v.visitor, name: '' };
    const state = await desk.stateInit(c, undefined);
    return { ...state, token: v.token, token_expires_at: v.expiresAt } as never;
  });

  app.post('/api/message', {
    config: { auth: 'user' },
    schema: { tags, summary: 'Seed 002 message: text, file, image, request_chat (creates the chat), join_chat (claims it)', body: MessageBody, response: { 200: MessageAnswer, ...errors(400, 401, 403, 404, 409) } },
  }, async (req) => desk.message(await caller(req.principal), req.body as SeedBody));

  app.post('/api/user/track', {
    config: { auth: 'user' },
    schema: { tags, summary: 'Seed 002 visit tracking: the visitor\'s current page; every staff member of the organisation is told the visitor list changed', body: TrackBodySchema, response: { 200: Type.Object({ ...Code0, track_id: Type.String() }), ...errors(400, 401, 403, 413) } },
  }, async (req) => desk.track(await caller(req.principal), req.body as TrackBody, Buffer.byteLength(JSON.stringify(req.body))));

  app.get('/api/users/online', {
    config: { auth: 'user' },
    schema: { tags, summary: 'Seed 002 visitor list: the organisation\'s visitors online now, with their current page (staff)', querystring: Type.Object({ cid: Type.Optional(Str(128)) }), response: { 200: Type.Object({ ...Code0, data: Type.Array(Visitor) }), ...errors(400, 401, 403) } },
  }, async (req) => {
    const c = await staff(req.principal);
    desk.checkOrganisation(c.p.tenantId, req.query.cid);
    return { code: 0, msg: '', data: await desk.usersOnline(c) as never };
  });

  app.get('/api/staff/online', {
    config: { auth: 'user' },
    schema: { tags, summary: 'Seed 002 staff list: the organisation\'s staff online now', querystring: Type.Object({ cid: Type.Optional(Str(128)) }), response: { 200: Type.Object({ ...Code0, data: Type.Array(Staff) }), ...errors(400, 401, 403) } },
  }, async (req) => {
    const c = await caller(req.principal);
    desk.checkOrganisation(c.p.tenantId, req.query.cid);
    return { code: 0, msg: '', data: await desk.staffOnline(c) as never };
  });

  app.get('/api/staff/info', {
    config: { auth: 'user' },
    schema: {
      tags, summary: 'Seed 002 staff info (signed-in staff only)', querystring: Type.Object({ track_id: Type.Optional(Str(64)) }),
      response: { 200: Type.Object({ ...Code0, cid: Type.String(), staff_id: Type.String(), track_id: Type.String(), staff: Type.Object({ name: Type.String(), gender: Type.String() }) }), ...errors(401, 403) },
    },
  }, async (req) => desk.staffInfo(await staff(req.principal), req.query.track_id) as never);

  // ---- triage ----

  app.get('/api/desk/queue', {
    config: { auth: 'user' },
    schema: { tags, summary: 'The queue: waiting chats, oldest first, with position, wait and acknowledgements', querystring: Type.Object({ cid: Type.Optional(Str(128)), team_id: Type.Optional(Str(128)) }), response: { 200: Type.Object({ ...Code0, data: Type.Array(QueueItem) }), ...errors(400, 401, 403) } },
  }, async (req) => {
    const c = await staff(req.principal);
    desk.checkOrganisation(c.p.tenantId, req.query.cid);
    return { code: 0, msg: '', data: await desk.queue(c, req.query.team_id) as never };
  });

  app.get('/api/desk/chats/:chat_id', {
    config: { auth: 'user' },
    schema: { tags, summary: 'One chat with its messages (staff of the organisation, or its visitor)', params: ChatParams, response: { 200: Type.Object({ ...Code0, chat: SeedObject }), ...errors(401, 403, 404) } },
  }, async (req) => ({ code: 0, msg: '', chat: await desk.chat(await caller(req.principal), req.params.chat_id) }));

  app.get('/api/desk/chats/:chat_id/position', {
    config: { auth: 'user' },
    schema: { tags, summary: 'A queued chat\'s place in its queue (1 = next; 0: not queued)', params: ChatParams, response: { 200: Type.Object({ ...Code0, position: Type.Integer(), state: Type.String() }), ...errors(401, 403, 404) } },
  }, async (req) => ({ code: 0, msg: '', ...(await desk.position(await caller(req.principal), req.params.chat_id)) }));

  app.post('/api/desk/chats/:chat_id/claim', {
    config: { auth: 'user' },
    schema: { tags, summary: 'Claim a queued chat (as join_chat): exactly one staff member wins; the others get desk.already_claimed', params: ChatParams, response: { 200: Type.Object({ ...Code0, mid: Type.String(), chat: Type.Object({ id: Type.String() }) }), ...errors(401, 403, 404, 409) } },
  }, async (req) => {
    const r = await desk.claim(await staff(req.principal), req.params.chat_id);
    return { code: 0, msg: 'ok', mid: r.mid, chat: { id: r.chat.id } };
  });

  app.post('/api/desk/chats/:chat_id/transfer', {
    config: { auth: 'user' },
    schema: {
      tags, summary: 'Hand a held chat to a colleague (to_staff) or back to a team\'s queue (to_team), with a note', params: ChatParams,
      body: Type.Object({ to_staff: Type.Optional(Str(128)), to_team: Type.Optional(Str(128)), note: Type.Optional(Str(4000)) }, { additionalProperties: false }),
      response: { 200: Mid, ...errors(400, 401, 403, 404, 409) },
    },
  }, async (req) => ({ code: 0, msg: 'ok', mid: (await desk.transfer(await staff(req.principal), req.params.chat_id, req.body)).mid }));

  app.post('/api/desk/chats/:chat_id/close', {
    config: { auth: 'user' },
    schema: {
      tags, summary: 'Close a chat with an outcome (its holder; any staff member for a queued one; or its visitor)', params: ChatParams,
      body: Type.Union([Type.Object({ outcome: Type.Optional(Type.String({ maxLength: 32, description: OUTCOMES.join(' | ') })), note: Type.Optional(Str(4000)) }, { additionalProperties: false }), Type.Null()]),
      response: { 200: Mid, ...errors(400, 401, 403, 404, 409) },
    },
  }, async (req) => ({ code: 0, msg: 'ok', mid: (await desk.close(await caller(req.principal), req.params.chat_id, req.body ?? {})).mid }));

  app.post('/api/desk/chats/:chat_id/ack', {
    config: { auth: 'user' },
    schema: { tags, summary: 'Acknowledge a chat ("seen, will handle"): shown in the queue; not a read, not a claim', params: ChatParams, response: { 200: Type.Object({ ...Code0, mid: Type.String(), at: Type.Number() }), ...errors(401, 403, 404, 409) } },
  }, async (req) => {
    const r = await desk.ack(await staff(req.principal), req.params.chat_id);
    return { code: 0, msg: 'ok', mid: r.mid, at: r.ack.at };
  });

  app.get('/api/desk/stats', {
    config: { auth: 'any' },
    schema: {
      tags, summary: 'Queue statistics: waiting time p50/p90, first response, chats per staff member, abandoned chats (staff, or the API key)',
      querystring: Type.Object({ cid: Type.Optional(Str(128)), since: Type.Optional(Type.Number({ minimum: 0 })), until: Type.Optional(Type.Number({ minimum: 0 })), team_id: Type.Optional(Str(128)) }),
      response: { 200: Type.Object({ ...Code0, stats: Stats }), ...errors(400, 401, 403) },
    },
  }, async (req) => {
    const p = req.principal;
    if (p.kind === 'user') await staff(p);
    desk.checkOrganisation(p.tenantId, req.query.cid);
    const { since, until, team_id } = req.query;
    return { code: 0, msg: '', stats: await desk.stats(p.tenantId, { ...(since !== undefined ? { since } : {}), ...(until !== undefined ? { until } : {}), ...(team_id !== undefined ? { team_id } : {}) }) };
  });

  app.post('/api/desk/identify', {
    config: { auth: 'user' },
    schema: { tags, summary: 'A visitor identifies with the host\'s Careline token of the patient: the visitor is linked to the patient', body: Type.Object({ token: Type.String({ minLength: 1, maxLength: 8192 }) }), response: { 200: Type.Object({ ...Code0, patient_id: Type.String() }), ...errors(400, 401, 403) } },
  }, async (req) => ({ code: 0, msg: 'ok', ...(await desk.identify(await caller(req.principal), req.body.token)) }));

  app.post('/api/desk/chats/:chat_id/consultation', {
    config: { auth: 'user' },
    schema: {
      tags, summary: 'Continue an identified visitor\'s chat as a consultation topic in the patient\'s session (the transcript copied in; the chat closes)', params: ChatParams,
      body: Type.Object({ session_id: Type.String({ minLength: 1, maxLength: 128 }), topic_id: Type.String({ minLength: 1, maxLength: 128 }) }),
      response: { 200: Type.Object({ ...Code0, session_id: Type.String(), topic_id: Type.String(), copied: Type.Integer() }), ...errors(400, 401, 403, 404, 409) },
    },
  }, async (req) => ({ code: 0, msg: 'ok', ...(await desk.continueAsConsultation(await staff(req.principal), req.params.chat_id, req.body)) }));

  // ---- the integrator ----

  app.post('/api/desk/widget-keys', {
    config: { auth: 'app' },
    schema: {
      tags, summary: 'Create a widget key: public, it can only create visitors of this organisation (rate-limited per address and fingerprint)',
      body: Type.Union([Type.Object({ name: Type.Optional(Str(128)), origins: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 256 }), { maxItems: 50 })) }, { additionalProperties: false }), Type.Null()]),
      response: { 200: Type.Object({ ...KeyInfo.properties, key: Type.String() }), ...errors(400, 401, 403) },
    },
  }, async (req) => {
    const { key, record } = await desk.createKey(req.principal.tenantId, req.body ?? {});
    return { id: record.id, key, name: record.name, origins: record.origins, created_at: record.created_at, revoked_at: null };
  });

  app.get('/api/desk/widget-keys', {
    config: { auth: 'app' },
    schema: { tags, summary: 'The organisation\'s widget keys (without their secrets)', response: { 200: Type.Object({ keys: Type.Array(KeyInfo) }), ...errors(401, 403) } },
  }, async (req) => ({ keys: (await desk.store.listKeys(req.principal.tenantId)).map(({ id, name, origins, created_at, revoked_at }) => ({ id, name, origins, created_at, revoked_at })) }));

  app.delete('/api/desk/widget-keys/:id', {
    config: { auth: 'app' },
    schema: { tags, summary: 'Revoke a widget key', params: Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) }), response: { 204: Type.Null(), ...errors(401, 403, 404) } },
  }, async (req, reply) => {
    await desk.revokeKey(req.principal.tenantId, req.params.id);
    return reply.code(204).send(null);
  });

  app.put('/api/desk/sla', {
    config: { auth: 'app' },
    schema: {
      tags, summary: 'Set the SLA of a team\'s queue ("" or none: the organisation\'s default) and its lead, who is notified of chats waiting past it',
      body: Type.Object({ team_id: Type.Optional(Str(128)), sla_seconds: Type.Integer({ minimum: 1, maximum: 86_400 }), lead_id: Type.String({ minLength: 1, maxLength: 128 }) }, { additionalProperties: false }),
      response: { 200: Type.Object({ team_id: Type.String(), sla_seconds: Type.Integer(), lead_id: Type.String() }), ...errors(400, 401, 403, 404) },
    },
  }, async (req) => desk.putSla(req.principal.tenantId, req.body));
}
