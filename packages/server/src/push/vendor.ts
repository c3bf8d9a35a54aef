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
  /** Custom data for the app: ids only. */
  data: { tenant_id: string; conversation_id: string; message_id: string; seq: number };
}

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
