/**
 * Sends one push job (`push.send`, from `planner.ts`), run by a `JobRunner` on any node. At
 * send time it reads the install again — a de-registered code, push switched off (device or
 * user), a muted conversation, or a message the user has read meanwhile drops the job — and
 * the install's current token (so a token rotated since the enqueue is the one used). Then
 * the vendor's outcome: sent (done); token gone (the token is removed, if it is still the one
 * sent to; done); retry (the handler throws: the runner retries after a backoff with jitter,
 * the collapse id keeps a repeated send from showing twice); failed (done, counted).
 */
import type { Job, Storage } from '../domain/ports.ts';
import type { PushVendor } from '../domain/types.ts';
import type { MessageService } from '../domain/messages.ts';
import type { NotificationService } from '../domain/notifications.ts';
import type { PushJob } from './planner.ts';
import type { PushNotification, PushSender, SendOutcome } from './vendor.ts';
import { previewOf } from './preview.ts';

/** A push channel: a device vendor, or WeChat template messages. */
export type PushChannel = PushVendor | 'wechat';

export interface PushObserver {
  sent(vendor: PushChannel, requestMs: number, delayMs: number): void;
  failed(vendor: PushChannel, reason: string): void;
  retried(vendor: PushChannel): void;
  dropped(reason: string): void;
}

export interface PushWorkerOptions {
  storage: Pick<Storage, 'devices' | 'conversations' | 'users' | 'messages'>;
  messages: Pick<MessageService, 'unreadTotal'>;
  notifications: Pick<NotificationService, 'unread'>;
  senders: ReadonlyMap<PushVendor, PushSender>;
  title: string;
  observer?: PushObserver;
  now?: () => number;
}

/** A retry the runner schedules (the handler threw it). */
export class PushRetry extends Error {
  constructor(vendor: string, reason: string) {
    super(`${vendor}: ${reason}`);
    this.name = 'PushRetry';
  }
}

export class PushWorker {
  readonly #o: PushWorkerOptions;
  readonly #now: () => number;

  constructor(o: PushWorkerOptions) {
    this.#o = o;
    this.#now = o.now ?? Date.now;
  }

  /** The `JobRunner` handler of `push.send`. */
  readonly handle = async (job: Job): Promise<void> => {
    const j = job.payload as PushJob;
    const t = job.tenant_id;
    const obs = this.#o.observer;
    const drop = (reason: string) => obs?.dropped(reason);
    const device = await this.#o.storage.devices.get(t, j.device_id);
    if (!device || device.user_id !== j.user_id || device.deregistered_at !== null) return drop('deregistered');
    if (!device.push_enabled) return drop('push_off');
    if (device.push_token === null) return drop('no_token');
    const sender = this.#o.senders.get(device.vendor);
    if (!sender) return drop('unconfigured');
    const [settings, mutes, participants, user, tenantPush] = await Promise.all([
      this.#o.storage.devices.getSettings(t, j.user_id),
      this.#o.storage.devices.mutes(t, j.user_id),
      this.#o.storage.conversations.getParticipants(t, j.conversation_id, [j.user_id]),
      this.#o.storage.users.getUser(t, j.user_id),
      this.#o.storage.devices.getTenantPush(t),
    ]);
    if (!settings.push_enabled) return drop('push_off');
    const mute = mutes.find((m) => m.conversation_id === j.conversation_id);
    if (mute && (mute.until === null || mute.until > this.#now())) return drop('muted');
    const member = participants[0];
    if (!member || !user) return drop('left');
    if (member.read_seq >= j.seq) return drop('read');

    const principal = { kind: 'user' as const, tenantId: t, userId: j.user_id, role: user.role, sessionId: 'push' };
    const [unread, notes] = await Promise.all([this.#o.messages.unreadTotal(principal), this.#o.notifications.unread(principal)]);
    const n: PushNotification = {
      collapse_id: j.message_id,
      title: this.#o.title,
      badge: unread.count + notes.total,
      quiet: j.quiet,
      data: { tenant_id: t, conversation_id: j.conversation_id, message_id: j.message_id, seq: j.seq },
    };
    const preview = await previewFor(this.#o.storage, t, j.conversation_id, j.message_id, tenantPush.preview_conversation_types);
    if (preview !== null) n.body = preview;
    const token = device.push_token;
    const started = this.#now();
    let outcome: SendOutcome;
    try {
      outcome = await sender.send(token, n);
    } catch (err) {
      outcome = { kind: 'retry', reason: `error: ${(err as Error).message}` };
    }
    const ended = this.#now();
    switch (outcome.kind) {
      case 'sent':
        obs?.sent(device.vendor, ended - started, ended - j.created_at);
        return;
      case 'gone':
        obs?.failed(device.vendor, outcome.reason);
        await this.#o.storage.devices.dropToken(t, device.device_id, token, ended);
        return drop('token_gone');
      case 'failed':
        obs?.failed(device.vendor, outcome.reason);
        return;
      case 'retry':
        obs?.failed(device.vendor, outcome.reason);
        if (job.attempts < job.max_attempts) obs?.retried(device.vendor);
        throw new PushRetry(device.vendor, outcome.reason);
    }
  };
}

/**
 * The preview line of a message where the tenant turned previews on for the conversation's
 * type; null otherwise (the default: no patient data in a push).
 */
export async function previewFor(
  storage: Pick<Storage, 'conversations' | 'messages'>, tenantId: string, conversationId: string, messageId: string, types: readonly number[],
): Promise<string | null> {
  if (types.length === 0) return null;
  const conv = await storage.conversations.getConversation(tenantId, conversationId);
  if (!conv || !types.includes(conv.type)) return null;
  const m = await storage.messages.getById(tenantId, conversationId, messageId);
  return m ? previewOf(m) : null;
}
