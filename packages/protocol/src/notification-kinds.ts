/**
 * Notification kinds and event kinds, as constants only (no schema library), for small
 * client bundles. The names are those of the family-doctor server's push catalogue (seed 001).
 */

/**
 * How an inbox keeps a kind:
 * - `each`: every notification is an inbox item of its own.
 * - `latest`: only the newest of the kind is shown (the family-doctor server upserted one row
 *   per user and kind for these); older ones stay stored but are superseded.
 */
export type NotificationMode = 'each' | 'latest';

/** The built-in kinds of every tenant, with their mode. */
export const BuiltinNotificationKinds = {
  /** A care contract was signed (签约消息推送). */
  S2C_SIGNED_PUSH: 'each',
  /** A care contract was ended (解除签约). */
  S2C_UNSIGNED_PUSH: 'each',
  /** A reservation was made or answered (预约). */
  S2C_RESERVATION_PUSH: 'each',
  /** A platform (system) announcement (平台推送): one per user, the newest wins. */
  S2C_SYSTEM_PUSH: 'latest',
  /** A doctor's push to patients (医生推送消息): the newest wins. */
  S2C_DOCTORMSG_PUSH: 'latest',
  /** A friend request (好友请求). */
  S2C_FRIENDAPPLY_PUSH: 'each',
  /** A reminder for the doctor on duty (值班提醒). */
  S2C_REMIND_PUSH: 'each',
  /** A community (social) push (社区推送): the newest wins. */
  S2C_SOCIAL_PUSH: 'latest',
} as const satisfies Record<string, NotificationMode>;

export type BuiltinNotificationKind = keyof typeof BuiltinNotificationKinds;

/** The names a custom kind may take: upper-case letters, digits and `_`, 3–64 characters, starting with a letter. */
export const NOTIFICATION_KIND_PATTERN = '^[A-Z][A-Z0-9_]{2,63}$';

/** Kinds of `event` frames (not stored, not in the inbox). Their names cannot be registered as notification kinds. */
export const EventKinds = {
  /** Users joined a conversation (讨论组加入成员). */
  TEAMMEMBER_ENTER: 'S2C_TEAMMEMBER_ENTER',
  /** Users left a conversation (讨论组成员离开). */
  TEAMMEMBER_LEAVE: 'S2C_TEAMMEMBER_LEAVE',
  /** The same user connected from another device of the same platform class; this connection is closed (4503). */
  DIFFERENT_CONNECTION: 'S2C_DIFFERENT_CONNECTION',
} as const;

export type EventKind = (typeof EventKinds)[keyof typeof EventKinds];

/** Whether `kind` is a built-in notification kind. */
export function isBuiltinNotificationKind(kind: string): kind is BuiltinNotificationKind {
  return Object.hasOwn(BuiltinNotificationKinds, kind);
}

/**
 * The class of a login session's `platform` for the "connected elsewhere" policy: `ios` and
 * `android` are `mobile`, `web` is `web`, `windows`, `mac`/`macos` and `linux` are `desktop`;
 * any other value is a class of its own; no platform is `unknown`.
 */
export function platformClass(platform: string | null | undefined): string {
  const p = (platform ?? '').trim().toLowerCase();
  if (p === '') return 'unknown';
  if (p === 'ios' || p === 'android') return 'mobile';
  if (p === 'web') return 'web';
  if (p === 'windows' || p === 'mac' || p === 'macos' || p === 'linux') return 'desktop';
  return p;
}
