/**
 * Scheduled video conferences over REST (docs/conferences.md):
 * - the booking system, with the tenant's API key: `/api/v2/conferences/…` (seed 004's
 *   `ConferenceModifyAPI`: create, info, update, open, cancel, finish, revoke, reissue, transitions);
 * - a participant's page, with a token: `/api/v2/conference-access/…` (the seed's
 *   `ConferenceAccessAPI`: exchange with the access token, then the conference token as
 *   `Authorization: Bearer`), its WebSocket being `conferences/sock.ts`;
 * - the waiting room for Careline users: `/api/v2/conversations/:conversation_id/waiting-room`.
 */
import Type from 'typebox';
import type { FastifyRequest } from 'fastify';
import type { Api } from '../api.ts';
import type { Core } from '../../core.ts';
import { bearer } from '../auth.ts';
import { Id, Nullable, errors } from '../schemas.ts';

const Role = Type.Union([Type.Literal('client'), Type.Literal('specialist')], { description: 'client | specialist' });
const Vertical = Type.Union([Type.Literal('medicine'), Type.Literal('general')], { description: 'medicine | general' });
const Language = Type.Union([Type.Literal('ru'), Type.Literal('en'), Type.Literal('he'), Type.Literal('zh')], { description: 'ru | en | he | zh' });
const Status = Type.Union([Type.Literal('scheduled'), Type.Literal('open'), Type.Literal('started'), Type.Literal('finished'), Type.Literal('cancelled')], {
  description: 'scheduled | open | started | finished | cancelled',
});
const UserId = Type.String({ minLength: 1, maxLength: 64, description: 'The booking system\'s user id (1–64 of A–Z a–z 0–9 _ . @ : -); a Careline user of the tenant with this id also gets the events' });

const Participant = Type.Object({
  user_id: Type.String(), name: Type.String(), role: Role, careline_user: Type.Boolean(),
  joined_at: Nullable(Type.Number()), left_at: Nullable(Type.Number()),
});
const Conference = Type.Object({
  id: Type.String(), status: Status, title: Type.String(),
  starts_at: Type.Number({ description: 'ms since the epoch' }), duration_seconds: Type.Integer(), ends_at: Type.Number(),
  vertical: Vertical, language: Language, participants: Type.Array(Participant),
  created_by: Type.Object({ user_id: Type.String(), role: Role }), created_at: Type.Number(),
  opened_at: Nullable(Type.Number()), started_at: Nullable(Type.Number()), ended_at: Nullable(Type.Number()),
  end_reason: Nullable(Type.String({ description: 'finished | time | cancelled' })),
  conversation_id: Nullable(Type.String()), topic_id: Nullable(Type.String()),
  version: Type.Integer(), info_version: Type.Integer(),
});
const Issued = Type.Object({
  user_id: Type.String(), name: Type.String(), role: Role,
  access_token: Type.String({ description: 'The participant\'s access token (24 characters, URL-safe); shown only here' }),
  link: Type.String({ description: '<conferences.linkBaseUrl or the request\'s origin>/conf/<access_token>' }),
});
const ParticipantIn = Type.Object({ user_id: UserId, name: Type.String({ minLength: 1, maxLength: 100 }), role: Role }, { additionalProperties: false });
const CreateBody = Type.Object({
  user_id: UserId,
  user_role: Role,
  info: Type.Object({
    title: Type.String({ minLength: 1, maxLength: 200 }),
    starts_at: Type.Integer({ minimum: 1, description: 'Scheduled start, ms since the epoch' }),
    duration_seconds: Type.Integer({ minimum: 1, maximum: 86_400 }),
    vertical: Vertical,
    language: Language,
    participants: Type.Array(ParticipantIn, { minItems: 1, maxItems: 64 }),
    conversation_id: Type.Optional(Id),
    topic_id: Type.Optional(Id),
  }, { additionalProperties: false }),
}, { additionalProperties: false });
const Patch = Type.Object({
  title: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
  starts_at: Type.Optional(Type.Integer({ minimum: 1 })),
  duration_seconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 86_400 })),
  vertical: Type.Optional(Vertical),
  language: Type.Optional(Language),
}, { additionalProperties: false });
const ReasonBody = Type.Union([Type.Object({ reason: Type.Optional(Type.String({ maxLength: 500 })) }, { additionalProperties: false }), Type.Null()]);
const Params = Type.Object({ conference_id: Type.String({ minLength: 1, maxLength: 64 }) });
const PartParams = Type.Object({ conference_id: Type.String({ minLength: 1, maxLength: 64 }), user_id: Type.String({ minLength: 1, maxLength: 64 }) });
const Changed = Type.Object({ conference: Conference, changed: Type.Boolean({ description: 'false: the conference was in that state already (a retry)' }) });

const Queue = Type.Object({ position: Nullable(Type.Integer({ minimum: 1 })), waiting: Type.Integer(), admitted: Type.Boolean() });
const Media = Type.Object({
  janus: Type.Object({ http_url: Type.String(), ws_url: Type.String() }),
  token: Type.String({ description: 'This participant\'s Janus token: the Janus API token and the room\'s ACL token' }),
  room: Type.Integer({ description: 'The Janus videoroom id' }),
  pin: Type.String({ description: 'The room\'s PIN' }),
  display: Type.String(),
  ice_servers: Type.Array(Type.Object({
    urls: Type.Union([Type.String(), Type.Array(Type.String())]), username: Type.Optional(Type.String()), credential: Type.Optional(Type.String()),
  })),
});
const AccessFields = {
  conference: Conference,
  participant: Type.Object({ user_id: Type.String(), name: Type.String(), role: Role }),
  queue: Nullable(Queue),
  media: Nullable(Media),
  server_time: Type.Number({ description: 'The server\'s clock (ms), for the countdown' }),
};
const Access = Type.Object(AccessFields);
const AccessChanged = Type.Object({ ...AccessFields, changed: Type.Boolean() });
const Exchange = Type.Object({ conference_token: Type.String(), expires_at: Type.Number(), ...AccessFields });
const Admitted = Type.Object({ admitted: Conference, queue_length: Type.Integer() });
const Transition = Type.Object({
  seq: Type.Integer(), from: Nullable(Status), to: Status, action: Type.String({ description: 'create | open | join | cancel | finish | time' }),
  by: Type.String({ description: 'A participant\'s user id, api or system' }), reason: Nullable(Type.String()), at: Type.Number(), node: Type.String(),
});
const WaitingList = Type.Object({
  waiting: Type.Array(Type.Object({
    conference_id: Type.String(), client: Nullable(Type.Object({ user_id: Type.String(), name: Type.String() })), arrived_at: Type.Number(), position: Type.Integer(),
  })),
});

const TOKEN_SECURITY = [{ conferenceToken: [] }];

/** The origin the request reached, for the participants' links. */
function originOf(req: FastifyRequest): string {
  const fwd = req.headers['x-forwarded-proto'];
  const proto = (Array.isArray(fwd) ? fwd[0] : fwd)?.split(',')[0]?.trim() === 'https' || req.protocol === 'https' ? 'https' : 'http';
  return `${proto}://${req.headers.host ?? 'localhost'}`;
}

export function conferenceRoutes(app: Api, core: Core): void {
  const svc = core.conferences;
  const tags = ['conferences'];

  app.post('/api/v2/conferences', {
    config: { auth: 'app' },
    schema: {
      tags, summary: 'Create a conference (seed 004 create): an access token and link per participant',
      description: 'Server to server, with the tenant\'s private API key, e.g. when a booking is confirmed. The creating user is one of the participants with the role `user_role`.',
      body: CreateBody,
      response: { 201: Type.Object({ conference: Conference, access_token: Type.String({ description: 'The creating user\'s access token' }), participants: Type.Array(Issued) }), ...errors(400, 401, 403, 404) },
    },
  }, async (req, reply) => {
    reply.code(201);
    return svc.create(req.principal, req.body, originOf(req));
  });

  app.get('/api/v2/conferences/:conference_id', {
    config: { auth: 'app' },
    schema: { tags, summary: 'A conference (seed 004 info)', params: Params, response: { 200: Type.Object({ conference: Conference }), ...errors(401, 403, 404) } },
  }, async (req) => ({ conference: await svc.get(req.principal, req.params.conference_id) }));

  app.patch('/api/v2/conferences/:conference_id', {
    config: { auth: 'app' },
    schema: {
      tags, summary: 'Change a conference\'s info (pages get a conference.info event)', params: Params, body: Patch,
      response: { 200: Changed, ...errors(400, 401, 403, 404, 409) },
    },
  }, async (req) => svc.update(req.principal, req.params.conference_id, req.body));

  for (const action of ['open', 'cancel', 'finish'] as const) {
    app.post(`/api/v2/conferences/:conference_id/${action}`, {
      config: { auth: 'app' },
      schema: {
        tags, summary: `${action[0]!.toUpperCase()}${action.slice(1)} the conference (docs/conferences.md, Transitions)`, params: Params,
        body: Type.Optional(ReasonBody), response: { 200: Changed, ...errors(400, 401, 403, 404, 409) },
      },
    }, async (req) => {
      const reason = req.body?.reason;
      const id = req.params.conference_id;
      if (action === 'open') return svc.openByApi(req.principal, id, reason);
      if (action === 'cancel') return svc.cancel(req.principal, id, reason);
      return svc.finishByApi(req.principal, id, reason);
    });
  }

  app.post('/api/v2/conferences/:conference_id/participants/:user_id/revoke', {
    config: { auth: 'app' },
    schema: {
      tags, summary: 'Revoke a participant\'s access: their tokens answer 401, their pages are closed (4401)', params: PartParams,
      response: { 200: Type.Object({ conference: Conference }), ...errors(401, 403, 404) },
    },
  }, async (req) => ({ conference: await svc.revoke(req.principal, req.params.conference_id, req.params.user_id) }));

  app.post('/api/v2/conferences/:conference_id/participants/:user_id/token', {
    config: { auth: 'app' },
    schema: {
      tags, summary: 'A new access token and link for a participant (the old one revoked)', params: PartParams,
      response: { 200: Issued, ...errors(401, 403, 404) },
    },
  }, async (req) => svc.reissue(req.principal, req.params.conference_id, req.params.user_id, originOf(req)));

  app.get('/api/v2/conferences/:conference_id/transitions', {
    config: { auth: 'app' },
    schema: { tags, summary: 'Every status transition of a conference, in order', params: Params, response: { 200: Type.Object({ transitions: Type.Array(Transition) }), ...errors(401, 403, 404) } },
  }, async (req) => ({ transitions: await svc.transitions(req.principal, req.params.conference_id) }));

  // ---- the participant's page ------------------------------------------------------------------

  app.post('/api/v2/conference-access/exchange', {
    config: { auth: 'none' },
    schema: {
      tags, summary: 'Exchange an access token for a conference token (seed 004 exchange); 401 when wrong, expired or revoked',
      body: Type.Object({ access_token: Type.String({ minLength: 1, maxLength: 256 }) }, { additionalProperties: false }),
      response: { 200: Exchange, ...errors(400, 401) },
    },
  }, async (req) => svc.exchange(req.body.access_token));

  app.get('/api/v2/conference-access/info', {
    config: { auth: 'none' },
    schema: { tags, security: TOKEN_SECURITY, summary: 'The conference as this participant sees it (conference token)', response: { 200: Access, ...errors(401) } },
  }, async (req) => svc.accessInfo(bearer(req)));

  const actions = {
    open: { summary: 'A specialist opens the conference: scheduled → open', run: (t?: string) => svc.accessOpen(t) },
    join: { summary: 'Join: the first join starts the conference (the Janus room is created); answers with the media', run: (t?: string) => svc.accessJoin(t) },
    leave: { summary: 'Leave the room (recorded; the status does not change)', run: (t?: string) => svc.accessLeave(t) },
    finish: { summary: 'A specialist finishes the conference', run: (t?: string) => svc.accessFinish(t) },
    arrive: { summary: 'A waiting-room client arrives: joins the queue', run: (t?: string) => svc.accessArrive(t) },
  } as const;
  for (const [name, a] of Object.entries(actions)) {
    app.post(`/api/v2/conference-access/${name}`, {
      config: { auth: 'none' },
      schema: { tags, security: TOKEN_SECURITY, summary: a.summary, response: { 200: AccessChanged, ...errors(400, 401, 403, 404, 409, 503) } },
    }, async (req) => a.run(bearer(req)));
  }

  app.post('/api/v2/conference-access/admit-next', {
    config: { auth: 'none' },
    schema: { tags, security: TOKEN_SECURITY, summary: 'A specialist admits the first client waiting in the waiting room', response: { 200: Admitted, ...errors(401, 403, 409) } },
  }, async (req) => svc.accessAdmitNext(bearer(req)));

  // ---- the waiting room for Careline users -----------------------------------------------------

  app.get('/api/v2/conversations/:conversation_id/waiting-room', {
    config: { auth: 'any' },
    schema: {
      tags, summary: 'The clients waiting in a waiting-room conversation (type 12), in order', params: Type.Object({ conversation_id: Id }),
      response: { 200: WaitingList, ...errors(401, 403, 404, 409) },
    },
  }, async (req) => svc.waitingRoom(req.principal, req.params.conversation_id));

  app.post('/api/v2/conversations/:conversation_id/waiting-room/admit', {
    config: { auth: 'any' },
    schema: {
      tags, summary: 'Admit the next client waiting (the care team of the waiting room)', params: Type.Object({ conversation_id: Id }),
      response: { 200: Admitted, ...errors(401, 403, 404, 409) },
    },
  }, async (req) => svc.admitNextAsUser(req.principal, req.params.conversation_id));
}
