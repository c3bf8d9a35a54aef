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
import type { Device, PushVendor } from '../domain/types.ts';
import type { DeliveryStatus } from '../domain/escalation.ts';
import type { MessageService } from '../domain/messages.ts';
import type { NotificationService } from '../domain/notifications.ts';
import type { PushJob } from './planner.ts';
import type { PushNotification, PushSender, SendOutcome } from './vendor.ts';
import { previewOf } from './preview.ts';

/** A push channel: a device vendor, or WeChat template messages. */
export type PushChannel = PushVendor | 'wechat' | 'sms';

export interface PushObserver {
  sent(vendor: PushChannel, requestMs: number, delayMs: number): void;
  failed(vendor: PushChannel, reason: string): void;
  retried(vendor: PushChannel): void;
  dropped(reason: string): void;
}

export interface PushWorkerOptions {
  storage: Pick<Storage, 'devices' | 'conversations' | 'users' | 'messages' | 'calls'>;
  messages: Pick<MessageService, 'unreadTotal'>;
  notifications: Pick<NotificationService, 'unread'>;
  senders: ReadonlyMap<PushVendor, PushSender>;
  title: string;
  /** The title of a notification's push and of a call invite's (never the notification's own title: it may name a diagnosis). */
  notificationTitle?: string;
  callTitle?: string;
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
    const record = (status: DeliveryStatus, detail: string | null) =>
      this.#o.storage.devices.recordDelivery(t, { subject_id: j.message_id, user_id: j.user_id, channel: j.vendor, status, detail }, this.#now()).catch(() => {});
    const drop = async (reason: string) => {
      obs?.dropped(reason);
      await record('dropped', reason);
    };
    if (j.subject === 'notification' || j.subject === 'call') return this.#other(job, j, drop, record);
    const device = await this.#o.storage.devices.get(t, j.device_id);
    if (!device || device.user_id !== j.user_id || device.deregistered_at !== null) return drop('deregistered');
    if (!device.push_enabled) return drop('push_off');
    if (device.push_token === null) return drop('no_token');
    const sender = this.#o.senders.get(device.vendor);
    if (!sender) return drop('unconfigured');
    const pushToken = device.push_token;
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
    return this.#send(job, j, device, sender, pushToken, n, drop, record);
  };

  async #send(
    job: Job, j: PushJob, device: Device, sender: PushSender, token: string, n: PushNotification,
    drop: (reason: string) => Promise<void>, record: (status: DeliveryStatus, detail: string | null) => Promise<void>, tokenKind: 'push' | 'voip' = 'push',
  ): Promise<void> {
    const t = job.tenant_id;
    const obs = this.#o.observer;
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
        await record('sent', outcome.id);
        return;
      case 'gone':
        obs?.failed(device.vendor, outcome.reason);
        if (tokenKind === 'voip') {
          if ((await this.#o.storage.devices.getVoipToken(t, device.device_id)) === token) await this.#o.storage.devices.setVoipToken(t, device.device_id, null, ended);
        } else await this.#o.storage.devices.dropToken(t, device.device_id, token, ended);
        return drop('token_gone');
      case 'failed':
        obs?.failed(device.vendor, outcome.reason);
        await record('failed', outcome.reason);
        return;
      case 'retry':
        obs?.failed(device.vendor, outcome.reason);
        if (job.attempts < job.max_attempts) obs?.retried(device.vendor);
        else await record('failed', outcome.reason);
        throw new PushRetry(device.vendor, outcome.reason);
    }
  }

  /** A notification's push, or a call invite's (VoIP / high priority). */
  async #other(
    job: Job, j: PushJob, drop: (reason: string) => Promise<void>, record: (status: DeliveryStatus, detail: string | null) => Promise<void>,
  ): Promise<void> {
    const t = job.tenant_id;
    const s = this.#o.storage;
    const device = await s.devices.get(t, j.device_id);
    if (!device || device.user_id !== j.user_id || device.deregistered_at !== null) return drop('deregistered');
    if (!device.push_enabled) return drop('push_off');
    if (device.push_token === null) return drop('no_token');
    const sender = this.#o.senders.get(device.vendor);
    if (!sender) return drop('unconfigured');
    const [settings, user] = await Promise.all([s.devices.getSettings(t, j.user_id), s.users.getUser(t, j.user_id)]);
    if (!settings.push_enabled) return drop('push_off');
    if (!user) return drop('left');
    const principal = { kind: 'user' as const, tenantId: t, userId: j.user_id, role: user.role, sessionId: 'push' };
    if (j.subject === 'call') {
      const call = await s.calls.get(t, j.message_id);
      const me = call?.participants.find((p) => p.user_id === j.user_id);
      // Answered, refused, cancelled or timed out meanwhile: nothing rings any more.
      if (!call || call.state !== 'ringing' || me?.state !== 'ringing') return drop('call_over');
      const voip = device.vendor === 'apns' ? await s.devices.getVoipToken(t, device.device_id) : null;
      const ttl = Math.max(1, Math.round((j.ttl_seconds ?? 45) - (this.#now() - j.created_at) / 1000));
      const n: PushNotification = {
        collapse_id: j.message_id, title: this.#o.callTitle ?? 'Incoming call from your care team', badge: 0, quiet: false, thread: j.conversation_id,
        data: { tenant_id: t, subject: 'call', call_id: j.message_id, conversation_id: j.conversation_id, av_type: j.av_type ?? 'audio', caller_id: j.caller_id ?? '' },
      };
      // APNs: a VoIP push to the PushKit token; without one, an ordinary alert to the push token.
      // FCM: a high-priority data message. Others: an ordinary push.
      if (device.vendor !== 'apns' || voip !== null) n.voip = { ttl_seconds: ttl };
      return this.#send(job, j, device, sender, voip ?? device.push_token, n, drop, record, voip !== null ? 'voip' : 'push');
    }
    const [unread, notes] = await Promise.all([this.#o.messages.unreadTotal(principal), this.#o.notifications.unread(principal)]);
    // Nothing unread in the inbox: the notification was read before its push went out.
    if (notes.total === 0) return drop('read');
    const n: PushNotification = {
      collapse_id: j.message_id, title: this.#o.notificationTitle ?? this.#o.title, badge: unread.count + notes.total, quiet: j.quiet, thread: 'notifications',
      data: { tenant_id: t, subject: 'notification', notification_id: j.message_id, kind: j.kind ?? '', seq: j.seq },
    };
    return this.#send(job, j, device, sender, device.push_token, n, drop, record);
  }
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
