/**
 * Webhook subscriptions (`docs/webhooks.md`): `/api/v2/management/webhooks` — create, list,
 * read, change (URL, event types, status, secret), delete; the delivery log of a subscription
 * (every attempt: status code, latency, error) and replay of a delivery. The tenant's
 * integrator (API key or app token) or one of its `admin` users.
 */
import Type from 'typebox';
import type { Api } from '../api.ts';
import type { Core } from '../../core.ts';
import { RESERVED_EVENT_TYPES, WEBHOOK_EVENT_TYPES } from '../../domain/webhooks.ts';
import { errors, Id, Limit, Nullable } from '../schemas.ts';

const EVENTS_DOC = `Event types: ${[...WEBHOOK_EVENT_TYPES, ...RESERVED_EVENT_TYPES].map((t) => `\`${t}\``).join(', ')} (the call events are reserved: accepted, not sent yet), or \`*\` for all.`;
const Events = Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { minItems: 1, maxItems: 32, description: EVENTS_DOC });
const Url = Type.String({ minLength: 1, maxLength: 4096, description: 'Where deliveries are POSTed: an absolute http(s) URL without credentials' });
const Secret = Type.String({ minLength: 1, maxLength: 256, description: 'The signing secret (16 to 256 characters); default: a new random one' });

const Webhook = Type.Object({
  id: Type.String(), tenant_id: Type.String(), url: Type.String(), events: Type.Array(Type.String()), description: Nullable(Type.String()),
  status: Type.Union([Type.Literal('active'), Type.Literal('disabled')]),
  disabled_reason: Nullable(Type.String({ description: '`failing` (disabled by the server after persistent failure) or `manual`' })),
  disabled_at: Nullable(Type.Number()),
  failures: Type.Integer({ description: 'Failed attempts in a row (a success resets it); at webhooks.disableAfterFailures the subscription is disabled' }),
  created_at: Type.Number(), updated_at: Type.Number(),
});
const Attempt = Type.Object({
  id: Type.String(), subscription_id: Type.String(),
  delivery_id: Type.String({ description: 'The delivery (one event to this subscription) this attempt belongs to: what replay names' }),
  event_id: Type.String(), event_type: Type.String(), attempt: Type.Integer({ description: '1 for the first attempt of the delivery' }),
  ok: Type.Boolean(), status_code: Nullable(Type.Integer({ description: 'The receiver\'s status; null when it did not answer' })),
  latency_ms: Type.Integer(), error: Nullable(Type.String()), at: Type.Number(),
});
const Params = Type.Object({ webhook_id: Id });

export function webhookRoutes(app: Api, core: Core): void {
  const w = core.webhooks;
  const tags = ['webhooks'];

  app.post('/api/v2/management/webhooks', {
    config: { auth: 'any' },
    schema: {
      tags, summary: 'Subscribe a URL to event types',
      description: `Deliveries are signed: \`Careline-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" with the secret>\`. The secret is in this answer only (and in the answer of a rotation). ${EVENTS_DOC}`,
      body: Type.Object({ url: Url, events: Events, description: Type.Optional(Nullable(Type.String({ maxLength: 512 }))), secret: Type.Optional(Secret) }, { additionalProperties: false }),
      response: { 200: Type.Object({ webhook: Webhook, secret: Type.String() }), ...errors(400, 401, 403, 409) },
    },
  }, async (req) => w.create(req.principal, req.body));

  app.get('/api/v2/management/webhooks', {
    config: { auth: 'any' },
    schema: { tags, summary: 'The tenant\'s webhook subscriptions', response: { 200: Type.Object({ webhooks: Type.Array(Webhook) }), ...errors(401, 403) } },
  }, async (req) => ({ webhooks: await w.list(req.principal) }));

  app.get('/api/v2/management/webhooks/:webhook_id', {
    config: { auth: 'any' },
    schema: { tags, summary: 'One webhook subscription', params: Params, response: { 200: Type.Object({ webhook: Webhook }), ...errors(401, 403, 404) } },
  }, async (req) => ({ webhook: await w.get(req.principal, req.params.webhook_id) }));

  app.patch('/api/v2/management/webhooks/:webhook_id', {
    config: { auth: 'any' },
    schema: {
      tags, summary: 'Change a webhook subscription',
      description: '`status: "active"` enables a disabled subscription again and resets its failure streak; `rotate_secret: true` makes a new secret, returned in this answer only.',
      params: Params,
      body: Type.Object({
        url: Type.Optional(Url), events: Type.Optional(Events), description: Type.Optional(Nullable(Type.String({ maxLength: 512 }))),
        status: Type.Optional(Type.Union([Type.Literal('active'), Type.Literal('disabled')])), secret: Type.Optional(Secret), rotate_secret: Type.Optional(Type.Boolean()),
      }, { additionalProperties: false }),
      response: { 200: Type.Object({ webhook: Webhook, secret: Type.Optional(Type.String()) }), ...errors(400, 401, 403, 404) },
    },
  }, async (req) => w.update(req.principal, req.params.webhook_id, req.body));

  app.delete('/api/v2/management/webhooks/:webhook_id', {
    config: { auth: 'any' },
    schema: { tags, summary: 'Delete a webhook subscription and its delivery log', params: Params, response: { 200: Type.Object({ deleted: Type.Boolean() }), ...errors(401, 403, 404) } },
  }, async (req) => {
    await w.delete(req.principal, req.params.webhook_id);
    return { deleted: true };
  });

  app.get('/api/v2/management/webhooks/:webhook_id/attempts', {
    config: { auth: 'any' },
    schema: {
      tags, summary: 'The delivery log: every attempt, newest first',
      params: Params,
      querystring: Type.Object({
        delivery_id: Type.Optional(Id), before: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'An attempt id: the page after it (older)' })), limit: Limit(50, 500),
      }, { additionalProperties: false }),
      response: { 200: Type.Object({ attempts: Type.Array(Attempt), next_before: Nullable(Type.String()) }), ...errors(400, 401, 403, 404) },
    },
  }, async (req) => {
    const limit = req.query.limit ?? 50;
    const attempts = (await w.attempts(req.principal, req.params.webhook_id, { ...req.query, limit })).map(({ tenant_id: _t, ...a }) => a);
    return { attempts, next_before: attempts.length === limit ? attempts[attempts.length - 1]!.id : null };
  });

  app.post('/api/v2/management/webhooks/:webhook_id/deliveries/:delivery_id/replay', {
    config: { auth: 'any' },
    schema: {
      tags, summary: 'Send a delivery again, as a new delivery with the same event and body',
      params: Type.Object({ webhook_id: Id, delivery_id: Id }),
      response: { 200: Type.Object({ delivery_id: Type.String() }), ...errors(401, 403, 404, 409) },
    },
  }, async (req) => w.replay(req.principal, req.params.webhook_id, req.params.delivery_id));
}
