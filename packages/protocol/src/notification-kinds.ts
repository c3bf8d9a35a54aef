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

/** A kind's name for people, per language (BCP 47 tags: `en`, `zh-CN`, …). */
export type NotificationKindNames = Record<string, string>;

/** The names the inbox shows for the built-in kinds, in English and Chinese (seed 001's meanings). */
export const BuiltinNotificationKindNames = {
  S2C_SIGNED_PUSH: { en: 'Care contract signed', 'zh-CN': '签约成功' },
  S2C_UNSIGNED_PUSH: { en: 'Care contract ended', 'zh-CN': '解除签约' },
  S2C_RESERVATION_PUSH: { en: 'Appointment', 'zh-CN': '预约' },
  S2C_SYSTEM_PUSH: { en: 'Announcement', 'zh-CN': '平台公告' },
  S2C_DOCTORMSG_PUSH: { en: 'From your doctor', 'zh-CN': '医生消息' },
  S2C_FRIENDAPPLY_PUSH: { en: 'Contact request', 'zh-CN': '好友请求' },
  S2C_REMIND_PUSH: { en: 'Reminder', 'zh-CN': '值班提醒' },
  S2C_SOCIAL_PUSH: { en: 'Community', 'zh-CN': '社区推送' },
} as const satisfies Record<BuiltinNotificationKind, { en: string; 'zh-CN': string }>;

/** Longest display name of a kind, in characters. */
export const MAX_KIND_DISPLAY_NAME = 64;
/** Most languages a kind may be named in. */
export const MAX_KIND_DISPLAY_NAMES = 32;
/**
 * The language tags a kind's `display_names` may use as keys: a BCP 47 tag of 2–3 letters
 * and up to three subtags (`en`, `zh-CN`, `zh-Hant-TW`, `pt-BR`). The server also checks the
 * tag with `Intl` and keeps its canonical form (`zh-cn` → `zh-CN`).
 */
export const LANGUAGE_TAG_PATTERN = '^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8}){0,3}$';

/**
 * The name to show for a kind in a language: the exact tag, then the same language with
 * another region or script (`zh-TW` finds `zh-CN` only after `zh`), then `display_name`;
 * null when the kind has no name.
 */
export function kindDisplayName(
  kind: { display_name?: string | null; display_names?: NotificationKindNames | null },
  lang: string,
): string | null {
  const names = kind.display_names ?? {};
  const want = lang.toLowerCase();
  const base = want.split('-')[0]!;
  const entries = Object.entries(names);
  const exact = entries.find(([tag]) => tag.toLowerCase() === want);
  if (exact) return exact[1];
  const plain = entries.find(([tag]) => tag.toLowerCase() === base);
  if (plain) return plain[1];
  const sameLanguage = entries.find(([tag]) => tag.toLowerCase().split('-')[0] === base);
  if (sameLanguage) return sameLanguage[1];
  return kind.display_name ?? null;
}

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
  /** A call rings on this device (发起视频聊天邀请推送消息); sent with the `call` frame of the invite. */
  VIDEOCALL_INVITE: 'S2C_VIDEOCALL_INVITE',
  /** A call this user is in ended, by another participant or by the server (视频退出); sent with the `call` frame of the end. */
  VIDEOCALL_END: 'S2C_VIDEOCALL_END',
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

/** A kind as users see it (`GET /api/v2/notifications/kinds`): its code, mode and names. */
export interface NotificationKindInfo {
  kind: string;
  mode: NotificationMode;
  /** Built in (seed 001) or registered by the integrator. */
  builtin: boolean;
  /** The name for any language without its own; null when the kind has none. */
  display_name: string | null;
  /** Names per language tag (`{ "en": "Lab result", "zh-CN": "化验结果" }`); `{}` when none. */
  display_names: NotificationKindNames;
}
