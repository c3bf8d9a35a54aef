/**
 * Notifications: `/api/v2/management/notifications` and `/api/v2/management/notification-kinds`
 * (integrators, API key: send, register kinds) and `/api/v2/notifications` (a user's inbox:
 * list, latest per kind, unread counts, mark read).
 */
import Type from 'typebox';
import type { FastifyError } from 'fastify';
import {
  LANGUAGE_TAG_PATTERN, MAX_KIND_DISPLAY_NAME, MAX_KIND_DISPLAY_NAMES, NOTIFICATION_KIND_PATTERN, Notification, NotificationUnread,
} from '@careline/protocol';
import type { Api } from '../api.ts';
import type { Core } from '../../core.ts';
import { fail } from '../../domain/errors.ts';
import { MAX_LISTED_USERS, wireNotification } from '../../domain/notifications.ts';
import { toAppError } from '../errors.ts';
import { Limit, errors } from '../schemas.ts';

const KindName = Type.String({ minLength: 1, maxLength: 64, description: 'S2C_SIGNED_PUSH, … or a registered kind' });
const Mode = Type.Union([Type.Literal('each'), Type.Literal('latest')], {
  description: '`each`: every notification is an inbox item; `latest`: only the newest of the kind is shown (and counted unread).',
});
const DisplayName = Type.String({ minLength: 1, maxLength: MAX_KIND_DISPLAY_NAME, description: 'A name for people: 1–64 characters, no control characters' });
const DisplayNames = Type.Record(Type.String({ pattern: LANGUAGE_TAG_PATTERN }), DisplayName, {
  maxProperties: MAX_KIND_DISPLAY_NAMES,
  description: 'Names per language tag (BCP 47, kept in canonical form: `zh-cn` → `zh-CN`), e.g. `{ "en": "Lab result", "zh-CN": "化验结果" }`',
});
const KindNames = {
  display_name: Type.Union([Type.String(), Type.Null()], { description: 'The name for any language without its own; null: none' }),
  display_names: DisplayNames,
};
const NotificationKind = Type.Object({
  kind: Type.String(), mode: Mode, builtin: Type.Boolean(), created_at: Type.Union([Type.Number(), Type.Null()]), ...KindNames,
});
const UserNotificationKind = Type.Object({ kind: Type.String(), mode: Mode, builtin: Type.Boolean(), ...KindNames });
const UserRef = Type.String({ minLength: 1, maxLength: 128 });

const Target = Type.Object(
  {
    user: Type.Optional(UserRef),
    users: Type.Optional(Type.Array(UserRef, { minItems: 1, maxItems: MAX_LISTED_USERS })),
    team: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
    tag: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    tenant: Type.Optional(Type.Literal(true)),
  },
  {
    additionalProperties: false,
    minProperties: 1,
    maxProperties: 1,
    description: 'Exactly one of: `{ "user": id }`, `{ "users": [ids] }`, `{ "team": team id }`, `{ "tag": tag }`, `{ "tenant": true }` (every user of the tenant).',
  },
);

const Unread = NotificationUnread;

export function notificationRoutes(app: Api, core: Core): void {
  const n = core.notifications;

  // ---- integrators ---------------------------------------------------------------------------
  app.post('/api/v2/management/notifications', {
    config: { auth: 'app' },
    attachValidation: true,
    schema: {
      tags: ['notifications'],
      summary: 'Send a notification (stored first, then pushed to online recipients as a `notification` frame; the others find it in their inbox)',
      body: Type.Object({
        kind: KindName,
        target: Target,
        title: Type.String({ minLength: 1, maxLength: 256 }),
        body: Type.Optional(Type.Union([Type.String({ maxLength: 4096 }), Type.Null()])),
        data: Type.Optional(Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()])),
        sender_id: Type.Optional(Type.Union([UserRef, Type.Null()])),
      }, { additionalProperties: false }),
      response: {
        200: Type.Object({
          notification: Notification,
          recipients: Type.Integer({ description: 'Users addressed (for a tenant broadcast: the users of the tenant now; nothing is stored per user).' }),
        }),
        ...errors(400, 401, 403, 404),
      },
    },
  }, async (req) => {
    if (req.validationError) {
      const e = toAppError(req.validationError as FastifyError);
      const details = e.details as { path?: string }[] | undefined;
      if (Array.isArray(details) && details.some((d) => d.path?.startsWith('/target'))) {
        throw fail('notification.target_invalid', e.message.replace(/^Invalid body:/, 'Invalid target:'), details);
      }
      throw e;
    }
    const sent = await n.send(req.principal, req.body);
    return { notification: wireNotification(sent.notification), recipients: sent.recipients };
  });

  app.put('/api/v2/management/notification-kinds/:kind', {
    config: { auth: 'app' },
    schema: {
      tags: ['notifications'],
      summary: 'Register a custom notification kind with its names (idempotent; the same mode again updates the names given; another mode is notification.kind_exists)',
      params: Type.Object({ kind: Type.String({ pattern: NOTIFICATION_KIND_PATTERN }) }),
      body: Type.Object({
        mode: Mode,
        display_name: Type.Optional(Type.Union([DisplayName, Type.Null()], { description: 'The name for any language without its own; null clears it; left out: kept' })),
        display_names: Type.Optional(Type.Union([DisplayNames, Type.Null()], { description: 'Names per language tag; replaces the stored ones; null clears them; left out: kept' })),
      }, { additionalProperties: false }),
      response: { 200: Type.Object({ kind: NotificationKind, created: Type.Boolean() }), ...errors(400, 401, 403, 409) },
    },
  }, async (req) => n.registerKind(req.principal, req.params.kind, req.body.mode, req.body));

  app.get('/api/v2/management/notification-kinds', {
    config: { auth: 'app' },
    schema: {
      tags: ['notifications'], summary: 'The kinds the tenant can send: built in, then registered',
      response: { 200: Type.Object({ kinds: Type.Array(NotificationKind) }), ...errors(401, 403) },
    },
  }, async (req) => ({ kinds: await n.kinds(req.principal) }));

  // ---- the user's inbox ----------------------------------------------------------------------
  app.get('/api/v2/notifications/kinds', {
    config: { auth: 'any' },
    schema: {
      tags: ['notifications'], summary: 'The notification kinds of the caller\'s tenant with their names for people: built in, then registered',
      response: { 200: Type.Object({ kinds: Type.Array(UserNotificationKind) }), ...errors(400, 401) },
    },
  }, async (req) => ({ kinds: await n.kindsForUser(req.principal) }));

  app.get('/api/v2/notifications', {
    config: { auth: 'any' },
    schema: {
      tags: ['notifications'], summary: 'The caller\'s inbox, newest first (cursor-paged); of a `latest`-mode kind only the newest',
      querystring: Type.Object({
        kind: Type.Optional(KindName),
        unread: Type.Optional(Type.Boolean({ description: 'Only unread items' })),
        limit: Limit(50, 200),
        cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'next_cursor of the previous page' })),
      }),
      response: { 200: Type.Object({ notifications: Type.Array(Notification), next_cursor: Type.Union([Type.String(), Type.Null()]) }), ...errors(400, 401) },
    },
  }, async (req) => {
    const page = await n.list(req.principal, {
      limit: req.query.limit ?? 50, kind: req.query.kind, unread: req.query.unread, ...(req.query.cursor !== undefined ? { before: req.query.cursor } : {}),
    });
    return { notifications: page.notifications.map(wireNotification), next_cursor: page.next_cursor };
  });

  app.get('/api/v2/notifications/latest', {
    config: { auth: 'any' },
    schema: {
      tags: ['notifications'], summary: 'The newest notification of each kind in the caller\'s inbox, newest first',
      response: { 200: Type.Object({ notifications: Type.Array(Notification) }), ...errors(400, 401) },
    },
  }, async (req) => ({ notifications: (await n.latest(req.principal)).map(wireNotification) }));

  app.get('/api/v2/notifications/unread_count', {
    config: { auth: 'any' },
    schema: {
      tags: ['notifications'], summary: 'Unread notifications of the caller: the total and per kind',
      response: { 200: Unread, ...errors(400, 401) },
    },
  }, async (req) => n.unread(req.principal));

  app.post('/api/v2/notifications/read', {
    config: { auth: 'any' },
    schema: {
      tags: ['notifications'], summary: 'Mark notifications read: `{ ids }`, `{ kind }` or `{ all: true }` (exactly one)',
      body: Type.Object({
        ids: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { minItems: 1, maxItems: 1000 })),
        kind: Type.Optional(KindName),
        all: Type.Optional(Type.Literal(true)),
      }, { additionalProperties: false }),
      response: { 200: Type.Object({ marked: Type.Integer({ description: 'How many became read' }), unread: Unread }), ...errors(400, 401, 404) },
    },
  }, async (req) => n.markRead(req.principal, req.body as { ids: string[] } | { kind: string } | { all: true }));
}
