/**
 * Message type codes and the schema of each type's content.
 *
 * The codes 0–26 and 2102–2104 are the ones the family-doctor IM server used (its
 * `*_messages.type` column); they keep their meaning so its clients can switch. Content
 * shapes follow that server where it defined one, else the IM protocol's content shapes
 * (text, image with thumbnail, voice, video, file, link card). Codes from 1000 up are
 * Careline's own, for shapes the original code list had no number for.
 */
import Type, { type Static, type TSchema } from 'typebox';
import { MessageTypes } from './message-types.ts';

export { MessageTypes, type MessageType } from './message-types.ts';

const Str = (max: number, min = 0) => Type.String({ minLength: min, maxLength: max });
const Dim = () => Type.Integer({ minimum: 0, maximum: 100_000 });
const Closed = { additionalProperties: false } as const;

/** Free-form data attached to system messages and cards: any JSON object. */
const Data = Type.Record(Type.String({ maxLength: 128 }), Type.Unknown());

export const SystemContent = Type.Object(
  {
    text: Type.Optional(Str(4000)),
    /** What happened, e.g. `message.recalled`, `topic.started`. */
    event: Type.Optional(Str(64, 1)),
    data: Type.Optional(Data),
  },
  Closed,
);

export const TextContent = Type.Object(
  {
    text: Str(16_000, 1),
    /** Ids of mentioned users. */
    mentions: Type.Optional(Type.Array(Str(128, 1), { maxItems: 100 })),
  },
  Closed,
);

export const ImageContent = Type.Object(
  {
    storageId: Str(1024, 1),
    url: Type.Optional(Str(2048)),
    thumbnail: Type.Optional(Str(2048)),
    thumbnailWidth: Type.Optional(Dim()),
    thumbnailHeight: Type.Optional(Dim()),
    width: Type.Optional(Dim()),
    height: Type.Optional(Dim()),
    mimeType: Type.Optional(Str(128)),
  },
  Closed,
);

export const VoiceContent = Type.Object(
  {
    storageId: Str(1024, 1),
    url: Type.Optional(Str(2048)),
    /** Seconds. */
    duration: Type.Number({ minimum: 0, maximum: 86_400 }),
    mimeType: Type.Optional(Str(128)),
  },
  Closed,
);

export const VideoContent = Type.Object(
  {
    storageId: Str(1024, 1),
    url: Type.Optional(Str(2048)),
    fileName: Type.Optional(Str(512)),
    /** Bytes (a number, or the decimal string the original protocol used). */
    fileSize: Type.Optional(Type.Union([Type.Integer({ minimum: 0 }), Type.String({ pattern: '^[0-9]{1,15}$' })])),
    duration: Type.Number({ minimum: 0, maximum: 86_400 }),
    thumbnail: Type.Optional(Str(2048)),
    thumbnailWidth: Type.Optional(Dim()),
    thumbnailHeight: Type.Optional(Dim()),
    mimeType: Type.Optional(Str(128)),
  },
  Closed,
);

export const FileContent = Type.Object(
  {
    storageId: Str(1024, 1),
    url: Type.Optional(Str(2048)),
    fileName: Str(512, 1),
    fileSize: Type.Union([Type.Integer({ minimum: 0 }), Type.String({ pattern: '^[0-9]{1,15}$' })]),
    /** Seconds, for a recording sent as a file (seed 003's file shape carries it). */
    duration: Type.Optional(Type.Number({ minimum: 0, maximum: 86_400 })),
    mimeType: Type.Optional(Str(128)),
  },
  Closed,
);

/** The link card of the IM protocol; also articles, jump messages and business cards. */
export const LinkContent = Type.Object(
  {
    title: Str(512, 1),
    content: Type.Optional(Str(4000)),
    action: Type.Optional(Str(512)),
    appid: Type.Optional(Str(128)),
    appName: Type.Optional(Str(256)),
    appLogo: Type.Optional(Str(2048)),
    url: Type.Optional(Str(2048)),
    /** Structured fields of a business card (prescription, referral, diagnosis…). */
    data: Type.Optional(Data),
  },
  Closed,
);

export const PersonalCardContent = Type.Object(
  {
    user_id: Str(128, 1),
    name: Str(256, 1),
    avatar: Type.Optional(Str(2048)),
    role: Type.Optional(Str(32)),
    title: Type.Optional(Str(256)),
  },
  Closed,
);

/** A forwarded message of any type, wrapped whole. */
export const ForwardContent = Type.Object(
  {
    type: Type.Integer(),
    content: Data,
  },
  Closed,
);

/**
 * Free-form: any JSON object (seed 003's custom content is `{}`, "for messages not defined
 * yet"). `kind` and `data`, when given, are checked.
 */
export const CustomContent = Type.Object(
  {
    /** The integrator's own name for this kind of message. */
    kind: Type.Optional(Str(64, 1)),
    data: Type.Optional(Data),
  },
);

/**
 * A call's record in the conversation's history (written by the server when the call ends;
 * its sender is the caller). Seed 003's call content — `status, avType, uid, roomId,
 * timestamp, useTime` — with `answered` and `duration`.
 */
export const CallContent = Type.Object(
  {
    /** How the call ended: `hangup` (answered, then ended), `cancel`, `timeout`, `refuse`, `busy`, `lost` (no sign of life from the participants). */
    status: Type.Union([Type.Literal('hangup'), Type.Literal('cancel'), Type.Literal('timeout'), Type.Literal('refuse'), Type.Literal('busy'), Type.Literal('lost')]),
    avType: Type.Union([Type.Literal('audio'), Type.Literal('video')]),
    /** The caller. */
    uid: Str(128, 1),
    /** The call's id. */
    roomId: Str(64, 1),
    /** When the call began (ms). */
    timestamp: Type.Integer({ minimum: 0 }),
    /** Seconds from the answer to the end (0 when nobody answered). */
    useTime: Type.Integer({ minimum: 0 }),
    answered: Type.Boolean(),
    /** Seconds, the same as `useTime`. */
    duration: Type.Integer({ minimum: 0 }),
  },
  Closed,
);

export type CallContent = Static<typeof CallContent>;
export type SystemContent = Static<typeof SystemContent>;
export type TextContent = Static<typeof TextContent>;
export type ImageContent = Static<typeof ImageContent>;
export type VoiceContent = Static<typeof VoiceContent>;
export type VideoContent = Static<typeof VideoContent>;
export type FileContent = Static<typeof FileContent>;
export type LinkContent = Static<typeof LinkContent>;
export type PersonalCardContent = Static<typeof PersonalCardContent>;
export type ForwardContent = Static<typeof ForwardContent>;
export type CustomContent = Static<typeof CustomContent>;

/** Who may send a type: anyone in the conversation, or only the system / an integrator's key. */
export type Sender = 'any' | 'system';

export interface MessageTypeInfo {
  code: number;
  name: string;
  schema: TSchema;
  sender: Sender;
  /** Reserved codes exist in the table but cannot be sent. */
  reserved?: boolean;
}

const t = (code: number, name: string, schema: TSchema, sender: Sender = 'any', reserved = false): MessageTypeInfo =>
  ({ code, name, schema, sender, ...(reserved ? { reserved } : {}) });

/** Every message type, with its content schema and who may send it. */
export const MessageTypeTable: readonly MessageTypeInfo[] = [
  t(0, 'system', SystemContent, 'system'),
  t(1, 'text', TextContent),
  t(2, 'image', ImageContent),
  t(3, 'voice', VoiceContent),
  t(4, 'article', LinkContent),
  t(5, 'jump', LinkContent),
  t(6, 'topic_start', SystemContent, 'system'),
  t(7, 'topic_end', SystemContent, 'system'),
  t(8, 'forwarded_text', TextContent),
  t(9, 'forwarded_image', ImageContent),
  t(10, 'topic_end_notice', SystemContent, 'system'),
  t(11, 'reserved', SystemContent, 'system', true),
  t(12, 'video', VideoContent),
  t(13, 'reserved', SystemContent, 'system', true),
  t(14, 'topic_enter', SystemContent, 'system'),
  t(15, 'renewal_review', LinkContent),
  t(16, 'renewal_vitals', LinkContent),
  t(17, 'renewal_followup', LinkContent),
  t(18, 'personal_card', PersonalCardContent),
  t(19, 'forward', ForwardContent),
  t(20, 'rehab_plan', LinkContent),
  t(21, 'referral_pending', LinkContent),
  t(22, 'acknowledged', LinkContent),
  t(23, 'revisit_note', LinkContent),
  t(24, 'diagnosis', LinkContent),
  t(25, 'condition', LinkContent),
  t(26, 'expert_advice', LinkContent),
  t(2102, 'home_care_order_card', LinkContent),
  t(2103, 'home_care_order_doctor', LinkContent),
  t(2104, 'home_care_order_items', LinkContent),
  t(1000, 'file', FileContent),
  t(1001, 'link', LinkContent),
  t(1002, 'call', CallContent, 'system'),
  t(1100, 'custom', CustomContent),
];

export const MessageTypeByCode: ReadonlyMap<number, MessageTypeInfo> = new Map(
  MessageTypeTable.map((info) => [info.code, info]),
);

// ---- Nesting depth (content-depth.ts: no schema library behind it) -----------------------

export { MAX_CONTENT_DEPTH, UNAVAILABLE_EVENT, jsonNestsDeeperThan, nestsDeeperThan, unavailableContent } from './content-depth.ts';
