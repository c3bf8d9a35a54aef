/**
 * What a push vendor adapter (`apns.ts`, …) is: it sends one notification to one token and
 * says what happened, in the vendor's terms mapped to four outcomes. The worker decides what
 * each outcome does to the job (done, token removed, retried).
 */
import type { PushVendor } from '../domain/types.ts';

/**
 * One push, free of patient data: ids, a generic title and the badge. The app fetches the
 * message itself on receipt.
 */
export interface PushNotification {
  /** The vendor's collapse id (APNs `apns-collapse-id`, FCM `collapse_key`): the message id, so a repeated send replaces, never adds. */
  collapse_id: string;
  title: string;
  /**
   * A preview of the message (its text), only when the tenant turned previews on for the
   * conversation's type (`PushPreviews`); absent by default: no patient data in a push.
   */
  body?: string;
  badge: number;
  /** In the user's quiet hours: no sound. */
  quiet: boolean;
  /** Custom data for the app: ids only (a message's, a notification's or a call's; see `PushData`). */
  data: PushData;
  /** What groups the push on the phone (APNs `thread-id`, Android `tag`, Xiaomi `notify_id`): the conversation id, `notifications`, or the call's conversation. */
  thread?: string;
  /**
   * A call invite (`voip`): APNs gets it as a VoIP push (`apns-push-type: voip`, to the
   * install's VoIP token, topic `<bundle id>.voip`), FCM as a high-priority data-only message,
   * both expiring with the ring time (`ttl_seconds`); other vendors as an ordinary push.
   */
  voip?: { ttl_seconds: number };
}

/**
 * The ids a push carries, by subject: a message (`conversation_id`, `message_id`, `seq`), a
 * notification (`notification_id`, `kind`: the seed 001 kind name), a call invite
 * (`call_id`, `conversation_id`, `av_type`, `caller_id`). `subject` says which.
 */
export interface PushData {
  tenant_id: string;
  subject?: 'message' | 'notification' | 'call';
  [key: string]: string | number | undefined;
}

/** The push's thread: `thread`, else the conversation of its data. */
export const threadOf = (n: PushNotification): string => n.thread ?? String(n.data.conversation_id ?? 'careline');

export type SendOutcome =
  /** The vendor accepted it. */
  | { kind: 'sent'; id: string | null }
  /** The token is no longer valid (uninstalled, expired): it is removed. */
  | { kind: 'gone'; reason: string }
  /** Try again later (rate limited, vendor down, network). */
  | { kind: 'retry'; reason: string }
  /** Refused for good (a malformed request): not retried. */
  | { kind: 'failed'; reason: string };

export interface PushSender {
  readonly vendor: PushVendor;
  send(token: string, n: PushNotification): Promise<SendOutcome>;
  close(): Promise<void>;
}
