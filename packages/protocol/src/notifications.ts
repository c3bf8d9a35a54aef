/** The JSON shape of a notification, shared by REST, WebSocket and the SDK. */
import Type, { type Static } from 'typebox';

export const NotificationAudiences = ['user', 'users', 'team', 'tag', 'tenant'] as const;
export type NotificationAudience = (typeof NotificationAudiences)[number];

export const Notification = Type.Object({
  /** Server id: time-sortable (a ULID); the inbox and the catch-up cursor order by it. */
  id: Type.String(),
  /** `S2C_SIGNED_PUSH`, …, or a kind the integrator registered. */
  kind: Type.String(),
  title: Type.String(),
  body: Type.Union([Type.String(), Type.Null()]),
  /** The integrator's own data (ids to open, links…). */
  data: Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()]),
  /** A user of the tenant it is from (a doctor's push), if the integrator named one. */
  sender_id: Type.Union([Type.String(), Type.Null()]),
  /** Who it was sent to: one user, a list, a care team, a tag, or every user of the tenant. */
  audience: Type.Union([Type.Literal('user'), Type.Literal('users'), Type.Literal('team'), Type.Literal('tag'), Type.Literal('tenant')]),
  /** The team id or the tag, for `team` and `tag` audiences. */
  audience_id: Type.Union([Type.String(), Type.Null()]),
  /** Milliseconds since the epoch, server clock. */
  created_at: Type.Number(),
  /** When this user read it; `null`: unread (always `null` in a live push). */
  read_at: Type.Union([Type.Number(), Type.Null()]),
});
export type Notification = Static<typeof Notification>;

/** Unread notifications of a user: the total and per kind (kinds with none are left out). */
export const NotificationUnread = Type.Object({
  total: Type.Integer(),
  kinds: Type.Record(Type.String(), Type.Integer()),
});
export type NotificationUnread = Static<typeof NotificationUnread>;
