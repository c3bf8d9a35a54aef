/**
 * `/api/v2/sessions/:session_id/participant(s)`: list, add, change the role of, remove
 * participants, and their avatars (ids separated by commas in the path).
 */
import Type from 'typebox';
import type { Api } from '../api.ts';
import type { Core } from '../../core.ts';
import { fail } from '../../domain/errors.ts';
import { Participant, ParticipantEntry, ParticipantParams, SessionIdParams, commaIds, emptyBody, errors } from '../schemas.ts';

const Participants = Type.Object({ participants: Type.Array(Participant) });
const Avatars = Type.Object({ avatars: Type.Array(Type.Object({ user_id: Type.String(), avatar: Type.Union([Type.String(), Type.Null()]) })) });

export function participantRoutes(app: Api, core: Core): void {
  const c = core.conversations;

  app.post('/api/v2/sessions/:session_id/participant/update', {
    config: { auth: 'any' },
    schema: {
      tags: ['participants'], summary: 'Replace participants: `participants` is the new full list; or `add` / `remove` some',
      params: SessionIdParams,
      body: Type.Object({
        participants: Type.Optional(Type.Array(ParticipantEntry, { maxItems: 5000 })),
        add: Type.Optional(Type.Array(ParticipantEntry, { maxItems: 5000 })),
        remove: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 128 }), { maxItems: 5000 })),
      }, { additionalProperties: false }),
      response: { 200: Participants, ...errors(400, 401, 403, 404) },
    },
  }, async (req) => ({ participants: await c.changeParticipants(req.principal, req.params.session_id, req.body) }));

  app.get('/api/v2/sessions/:session_id/participants', {
    config: { auth: 'any' },
    schema: { tags: ['participants'], summary: 'All participants', params: SessionIdParams, response: { 200: Participants, ...errors(401, 403, 404) } },
  }, async (req) => ({ participants: await c.participants(req.principal, req.params.session_id) }));

  app.post('/api/v2/sessions/:session_id/participants', {
    config: { auth: 'any' },
    schema: {
      tags: ['participants'], summary: 'Add participants', params: SessionIdParams,
      body: Type.Object({ participants: Type.Array(ParticipantEntry, { minItems: 1, maxItems: 5000 }) }, { additionalProperties: false }),
      response: { 200: Participants, ...errors(400, 401, 403, 404) },
    },
  }, async (req) => ({ participants: await c.changeParticipants(req.principal, req.params.session_id, { add: req.body.participants }) }));

  app.get('/api/v2/sessions/:session_id/participants/avatars', {
    config: { auth: 'any' },
    schema: { tags: ['participants'], summary: 'Avatars of all participants', params: SessionIdParams, response: { 200: Avatars, ...errors(401, 403, 404) } },
  }, async (req) => ({ avatars: (await c.participants(req.principal, req.params.session_id)).map((p) => ({ user_id: p.user_id, avatar: p.avatar })) }));

  app.get('/api/v2/sessions/:session_id/participants/:participant_id', {
    config: { auth: 'any' },
    schema: { tags: ['participants'], summary: 'Some participants (ids separated by commas)', params: ParticipantParams, response: { 200: Participants, ...errors(401, 403, 404) } },
  }, async (req) => ({ participants: await c.participants(req.principal, req.params.session_id, commaIds(req.params.participant_id)) }));

  app.put('/api/v2/sessions/:session_id/participants/:participant_id', {
    config: { auth: 'any' },
    preValidation: emptyBody,
    schema: {
      tags: ['participants'], summary: 'Add these users (ids separated by commas), or change their role', params: ParticipantParams,
      body: Type.Optional(Type.Object({ role: Type.Optional(Type.String({ minLength: 1, maxLength: 32 })) }, { additionalProperties: false })),
      response: { 200: Participants, ...errors(400, 401, 403, 404) },
    },
  }, async (req) => ({
    participants: await c.changeParticipants(req.principal, req.params.session_id, {
      add: commaIds(req.params.participant_id).map((id) => ({ id, ...(req.body?.role ? { role: req.body.role } : {}) })),
    }),
  }));

  app.delete('/api/v2/sessions/:session_id/participants/:participant_id', {
    config: { auth: 'any' },
    schema: { tags: ['participants'], summary: 'Remove participants (ids separated by commas)', params: ParticipantParams, response: { 200: Participants, ...errors(400, 401, 403, 404) } },
  }, async (req) => {
    const list = commaIds(req.params.participant_id);
    const present = await c.participants(req.principal, req.params.session_id);
    const missing = list.filter((id) => !present.some((p) => p.user_id === id));
    if (missing.length) throw fail('participant.not_found', undefined, { missing });
    return { participants: await c.changeParticipants(req.principal, req.params.session_id, { remove: list }) };
  });

  app.get('/api/v2/sessions/:session_id/participants/:participant_id/avatars', {
    config: { auth: 'any' },
    schema: { tags: ['participants'], summary: 'Avatars of some participants (ids separated by commas)', params: ParticipantParams, response: { 200: Avatars, ...errors(401, 403, 404) } },
  }, async (req) => ({
    avatars: (await c.participants(req.principal, req.params.session_id, commaIds(req.params.participant_id))).map((p) => ({ user_id: p.user_id, avatar: p.avatar })),
  }));
}
