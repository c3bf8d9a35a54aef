/**
 * Call signalling over REST (docs/calls.md), the same actions as the `call` frame: start a
 * call in a conversation, accept, refuse, cancel, hang up, heartbeat, read one, list the
 * user's live calls. A user's own token (or an API key acting for a user, X-On-Behalf-Of).
 * `connection_id` (the `hello`'s) names the caller's own real-time connection: it gets no
 * `call` frame for its own action (the answer here is that), and the user's other devices get
 * `other_answer` / `other_refuse`.
 */
import Type from 'typebox';
import type { Api } from '../api.ts';
import type { Core } from '../../core.ts';
import type { CallResult } from '../../calls/service.ts';
import { errors, Id, Nullable } from '../schemas.ts';

const AvType = Type.Union([Type.Literal('audio'), Type.Literal('video')], { description: 'Seed 003\'s avType' });
const ConnectionId = Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'The caller\'s own real-time connection (hello.connection_id), which then gets no frame for this action' }));
const Participant = Type.Object({
  user_id: Type.String(),
  state: Type.String({ description: 'ringing | joined | refused | busy | missed | left' }),
  joined_at: Nullable(Type.Number()), left_at: Nullable(Type.Number()),
});
const Call = Type.Object({
  id: Type.String({ description: 'The call id (seed 003\'s roomId)' }), conversation_id: Type.String(), caller_id: Type.String(), av_type: Type.String(),
  state: Type.String({ description: 'ringing | active | ended' }), participants: Type.Array(Participant),
  created_at: Type.Number(), ring_until: Type.Number(), answered_at: Nullable(Type.Number()), ended_at: Nullable(Type.Number()),
  end_reason: Nullable(Type.String({ description: 'cancel | timeout | refuse | busy | hangup | lost' })),
  record: Nullable(Type.Object({ message_id: Type.String(), seq: Type.Number() })),
  heartbeat_ms: Type.Number(),
});
const IceServer = Type.Object({
  urls: Type.Array(Type.String()), username: Type.Optional(Type.String()), credential: Type.Optional(Type.String()),
}, { description: 'An RTCIceServer: STUN, or TURN with a time-limited credential (docs/calls.md, "TURN")' });
const Answer = Type.Object({
  call: Call,
  status: Nullable(Type.String({ description: 'What the action did (seed 003 status); null: nothing changed, it was done before' })),
  ice_servers: Type.Optional(Type.Array(IceServer, { description: 'On invite and accept: this user\'s STUN/TURN servers for the call\'s media' })),
});
const Candidate = Type.Object({
  candidate: Type.String({ maxLength: 2048 }),
  sdpMid: Type.Optional(Nullable(Type.String({ maxLength: 64 }))),
  sdpMLineIndex: Type.Optional(Nullable(Type.Integer({ minimum: 0, maximum: 1024 }))),
  usernameFragment: Type.Optional(Nullable(Type.String({ maxLength: 256 }))),
}, { additionalProperties: false });
const RtcBody = Type.Object({
  to: Type.String({ minLength: 1, maxLength: 128, description: 'The joined participant to send it to' }),
  to_connection: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'Only that connection of theirs (the from_connection of a signal they sent)' })),
  kind: Type.Union([Type.Literal('offer'), Type.Literal('answer'), Type.Literal('candidate')]),
  sdp: Type.Optional(Type.String({ minLength: 1, maxLength: 65_536 })),
  candidate: Type.Optional(Candidate),
  connection_id: ConnectionId,
}, { additionalProperties: false });
const CallParams = Type.Object({ call_id: Type.String({ minLength: 1, maxLength: 64 }) });
const ActionBody = Type.Union([Type.Object({ connection_id: ConnectionId }, { additionalProperties: false }), Type.Null()]);

const answer = (r: CallResult) => ({ call: r.call, status: r.status, ...(r.ice_servers?.length ? { ice_servers: r.ice_servers } : {}) });

export function callRoutes(app: Api, core: Core): void {
  const calls = core.calls;

  app.post('/api/v2/calls', {
    config: { auth: 'any' },
    schema: {
      tags: ['calls'],
      summary: 'Call the other members of a conversation (invite: it rings on every device of every callee)',
      body: Type.Object({ conversation_id: Id, av_type: AvType, connection_id: ConnectionId }, { additionalProperties: false }),
      response: { 200: Answer, ...errors(400, 401, 403, 404, 409) },
    },
  }, async (req) => answer(await calls.invite(req.principal, req.body.conversation_id, req.body.av_type, req.body.connection_id)));

  app.get('/api/v2/calls', {
    config: { auth: 'any' },
    schema: { tags: ['calls'], summary: 'The user\'s live calls: ringing for them, or joined', response: { 200: Type.Object({ calls: Type.Array(Call) }), ...errors(400, 401) } },
  }, async (req) => ({ calls: await calls.live(req.principal) }));

  app.get('/api/v2/calls/:call_id', {
    config: { auth: 'any' },
    schema: { tags: ['calls'], summary: 'One call of the user\'s conversations', params: CallParams, response: { 200: Type.Object({ call: Call }), ...errors(400, 401, 403, 404) } },
  }, async (req) => ({ call: await calls.get(req.principal, req.params.call_id) }));

  app.get('/api/v2/calls/:call_id/ice', {
    config: { auth: 'any' },
    schema: {
      tags: ['calls'], summary: 'This participant\'s STUN/TURN servers for the call\'s media, with a fresh TURN credential', params: CallParams,
      response: { 200: Type.Object({ ice_servers: Type.Array(IceServer) }), ...errors(400, 401, 403, 404) },
    },
  }, async (req) => ({ ice_servers: await calls.ice(req.principal, req.params.call_id) }));

  app.post('/api/v2/calls/:call_id/rtc', {
    config: { auth: 'any' },
    schema: {
      tags: ['calls'], summary: 'Relay a WebRTC signal (SDP offer/answer, ICE candidate) to another joined participant (the rtc frame over REST)',
      params: CallParams, body: RtcBody, response: { 200: Type.Object({ sent: Type.Boolean() }), ...errors(400, 401, 403, 404, 409) },
    },
  }, async (req) => {
    const { connection_id, ...signal } = req.body;
    await calls.relay(req.principal, req.params.call_id, signal, connection_id ?? null);
    return { sent: true };
  });

  for (const action of ['accept', 'refuse', 'cancel', 'hangup', 'heartbeat'] as const) {
    app.post(`/api/v2/calls/:call_id/${action}`, {
      config: { auth: 'any' },
      schema: {
        tags: ['calls'], summary: `${action[0]!.toUpperCase()}${action.slice(1)} (docs/calls.md)`, params: CallParams,
        body: Type.Optional(ActionBody), response: { 200: Answer, ...errors(400, 401, 403, 404, 409) },
      },
    }, async (req) => {
      const origin = req.body?.connection_id;
      const id = req.params.call_id;
      switch (action) {
        case 'accept': return answer(await calls.accept(req.principal, id, origin));
        case 'refuse': return answer(await calls.refuse(req.principal, id, origin));
        case 'cancel': return answer(await calls.cancel(req.principal, id, origin));
        case 'hangup': return answer(await calls.hangup(req.principal, id, origin));
        case 'heartbeat': return answer(await calls.heartbeat(req.principal, id));
      }
    });
  }
}
