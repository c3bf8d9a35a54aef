/**
 * Decides, for each new message committed on this node, which installs get a vendor push, and
 * enqueues one job per (message, install) in the outbox (`Storage.jobs`, kind `push.send`,
 * dedupe key `<message id>:<device id>`, so a second enqueue adds nothing).
 *
 * A recipient gets a push when: they are not the sender; they have no live connection on any
 * node (`PresenceStore.status`, shared across nodes); their push switch is on; the
 * conversation is not muted for them (or the mute ended); and then on each install that is not
 * de-registered, has push on and a token of a vendor this server is configured for. System
 * messages (type 0) get none. Where this server has WeChat credentials and the tenant enabled
 * the channel, such a recipient with a WeChat openid also gets one `push.wechat` job (dedupe
 * key `<message id>:wechat:<user id>`, `wechat.ts`).
 *
 * No window: the planning runs from the after-commit outbox (`domain/outbox.ts`), a job
 * written in the same transaction as the message; if a node dies before or while planning,
 * another node runs the job again (the dedupe keys keep it from enqueuing anything twice).
 * Presence is looked at when the plan runs, a few milliseconds after the commit.
 */
import { MessageTypes } from '@careline/protocol';
import type { PresenceStore, Storage, NewJob } from '../domain/ports.ts';
import type { Message, PushVendor } from '../domain/types.ts';
import { inQuietHours } from '../domain/devices.ts';
import type { EscalationPolicy, EscalationStep } from '../domain/escalation.ts';

export const PUSH_JOB = 'push.send';
/** WeChat template messages (`wechat.ts`). */
export const WECHAT_JOB = 'push.wechat';
/** The escalation ladder's next rung (`escalation.ts`). */
export const ESCALATE_JOB = 'push.escalate';
/** Messages planned at once. */
const MAX_PLANS = 16;

/** A push job's payload: ids only (the token is read when sending, so a rotated token is used). */
export interface PushJob {
  user_id: string;
  device_id: string;
  vendor: PushVendor;
  conversation_id: string;
  message_id: string;
  seq: number;
  /** When the message was committed (ms), for the commit-to-push delay. */
  created_at: number;
  quiet: boolean;
  /**
   * What is pushed: a message (absent, the default), a notification (`message_id` is its id,
   * `seq` its tenant seq, `conversation_id` empty) or a call invite (`message_id` is the call
   * id, `conversation_id` the call's conversation, `seq` 0; sent as VoIP / high priority).
   */
  subject?: 'message' | 'notification' | 'call';
  /** A notification's kind (seed 001 name). */
  kind?: string;
  /** A call's audio/video and caller (ids only), and how long it rings (s). */
  av_type?: string;
  caller_id?: string;
  ttl_seconds?: number;
}

/** A `push.escalate` job: the next rung of the ladder for one message and user. */
export interface EscalateJob {
  user_id: string;
  conversation_id: string;
  message_id: string;
  seq: number;
  created_at: number;
  /** The step of the policy to run (0-based), and the policy's steps as planned. */
  step: number;
  steps: EscalationStep[];
}

/** A `push.wechat` job's payload: ids only (the openid and the template are read when sending). */
export interface WechatJob {
  user_id: string;
  conversation_id: string;
  message_id: string;
  seq: number;
  created_at: number;
}

export interface PushPlannerOptions {
  storage: Pick<Storage, 'devices' | 'jobs' | 'conversations'>;
  presence: PresenceStore;
  /** Vendors this server can send to; installs of other vendors are skipped. */
  vendors: ReadonlySet<PushVendor>;
  /** This server can send WeChat template messages (`push.wechat.*`): a tenant that enabled them gets one per offline user with an openid. */
  wechat?: boolean;
  /** WeChat template messages were enqueued. */
  onWechatEnqueued?: (count: number) => void;
  maxAttempts: number;
  now?: () => number;
  /** Jobs were enqueued (a local runner looks at once). */
  onEnqueued?: (jobs: readonly PushJob[]) => void;
  onError?: (err: unknown) => void;
  /** The channels the escalation ladder can use on this server (WeChat, SMS configured). */
  escalation?: ReadonlySet<'wechat' | 'sms'>;
  /** Resolves when every fact committed so far has been planned (the outbox is empty); `drain` waits for it too. */
  settled?: () => Promise<void>;
}

export class PushPlanner {
  readonly #o: PushPlannerOptions;
  readonly #now: () => number;
  readonly #waiting: { tenantId: string; message: Message; users: readonly string[] }[] = [];
  readonly #idle: (() => void)[] = [];
  #running = 0;

  constructor(o: PushPlannerOptions) {
    this.#o = o;
    this.#now = o.now ?? Date.now;
  }

  /**
   * Plans the pushes of a message just committed, in the background (`drain` waits): at most
   * `MAX_PLANS` messages at once, the others waiting their turn in commit order, so a burst of
   * messages to large groups does not flood storage and presence with look-ups.
   */
  consider(tenantId: string, message: Message, recipients: readonly string[]): void {
    if (message.type === MessageTypes.SYSTEM) return;
    const users = recipients.filter((u) => u !== message.sender_id && u !== 'system');
    if (users.length === 0) return;
    this.#waiting.push({ tenantId, message, users });
    this.#next();
  }

  /** The pushes of one committed message (the after-commit consumer): the same filters as `consider`, awaited. */
  async planMessage(tenantId: string, message: Message, recipients: readonly string[]): Promise<PushJob[]> {
    if (message.type === MessageTypes.SYSTEM) return [];
    const users = recipients.filter((u) => u !== message.sender_id && u !== 'system');
    return users.length ? this.plan(tenantId, message, users) : [];
  }

  /**
   * The pushes of a notification (seed 001 kinds) to its recipients without a live
   * connection: one per install, never with its title or body (they may name a diagnosis);
   * the app fetches the notification. A tenant-wide broadcast gets no push.
   */
  async planNotification(tenantId: string, n: { id: string; seq: number; kind: string; sender_id: string | null; created_at: number }, recipients: readonly string[] | null): Promise<PushJob[]> {
    if (recipients === null) return [];
    const now = this.#now();
    const users = recipients.filter((u) => u !== n.sender_id && u !== 'system');
    const jobs = (await Promise.all(users.map((u) => this.#installs(tenantId, u, now)))).flatMap(({ devices, quiet }) =>
      devices.map((d): PushJob => ({
        subject: 'notification', kind: n.kind, user_id: d.user_id, device_id: d.device_id, vendor: d.vendor, conversation_id: '', message_id: n.id,
        seq: n.seq, created_at: n.created_at, quiet,
      })));
    return this.#enqueue(tenantId, jobs, []);
  }

  /**
   * The VoIP / high-priority pushes of a call invite to the callees still ringing who have no
   * live connection: one per install (APNs to its VoIP token where it has one), expiring with
   * the ring time. Mutes and quiet hours do not apply to a ringing call; the push switches do.
   */
  async planCall(tenantId: string, call: { id: string; conversation_id: string; caller_id: string; av_type: string; created_at: number }, callees: readonly string[], ttlSeconds: number): Promise<PushJob[]> {
    const now = this.#now();
    const jobs = (await Promise.all(callees.filter((u) => u !== call.caller_id).map((u) => this.#installs(tenantId, u, now)))).flatMap(({ devices }) =>
      devices.map((d): PushJob => ({
        subject: 'call', user_id: d.user_id, device_id: d.device_id, vendor: d.vendor, conversation_id: call.conversation_id, message_id: call.id,
        seq: 0, created_at: call.created_at, quiet: false, av_type: call.av_type, caller_id: call.caller_id, ttl_seconds: ttlSeconds,
      })));
    return this.#enqueue(tenantId, jobs, []);
  }

  /** An offline user's installs that get a push (the user's and the install's push on), and whether it is their quiet hours. */
  async #installs(t: string, userId: string, now: number) {
    const none = { devices: [] as { user_id: string; device_id: string; vendor: PushVendor }[], quiet: false };
    const { online } = await this.#o.presence.status(t, userId);
    if (online) return none;
    const [settings, devices] = await Promise.all([this.#o.storage.devices.getSettings(t, userId), this.#o.storage.devices.listForUser(t, userId)]);
    if (!settings.push_enabled) return none;
    return {
      devices: devices.filter((d) => d.deregistered_at === null && d.push_enabled && d.push_token !== null && this.#o.vendors.has(d.vendor)),
      quiet: inQuietHours(settings.quiet_hours, now),
    };
  }

  async #enqueue(t: string, jobs: PushJob[], extra: NewJob[]): Promise<PushJob[]> {
    if (jobs.length === 0 && extra.length === 0) return [];
    const key = (j: PushJob) => (j.subject === 'notification' ? `n:${j.message_id}:${j.device_id}` : j.subject === 'call' ? `call:${j.message_id}:${j.device_id}` : `${j.message_id}:${j.device_id}`);
    const stored = await this.#o.storage.jobs.enqueue([
      ...jobs.map((j) => ({ tenant_id: t, kind: PUSH_JOB, payload: j, dedupe_key: key(j), max_attempts: j.subject === 'call' ? 3 : this.#o.maxAttempts })),
      ...extra,
    ], this.#now());
    const created = jobs.filter((_, i) => stored[i]!.created);
    await this.#queued(t, created);
    return created;
  }

  /** Records `queued` for each (subject, user, vendor) that got a job. */
  async #queued(t: string, jobs: readonly PushJob[]): Promise<void> {
    const seen = new Set<string>();
    const now = this.#now();
    for (const j of jobs) {
      const k = `${j.message_id}\u0000${j.user_id}\u0000${j.vendor}`;
      if (seen.has(k)) continue;
      seen.add(k);
      await this.#o.storage.devices.recordDelivery(t, { subject_id: j.message_id, user_id: j.user_id, channel: j.vendor, status: 'queued', detail: null }, now);
    }
  }

  /** The first rung of a user's escalation ladder for a message, if a policy covers it (the user's, else the tenant's). */
  async #escalation(t: string, userId: string, message: Message, conversationType: () => Promise<number | null>): Promise<NewJob | null> {
    const channels = this.#o.escalation;
    if (!channels || channels.size === 0) return null;
    const policy: EscalationPolicy | null = (await this.#o.storage.devices.getEscalation(t, userId)) ?? (await this.#o.storage.devices.getEscalation(t, ''));
    if (!policy || !policy.enabled) return null;
    const steps = policy.steps.filter((s) => channels.has(s.channel));
    if (!steps.length) return null;
    if (policy.conversation_types !== null) {
      const type = await conversationType();
      if (type === null || !policy.conversation_types.includes(type)) return null;
    }
    const payload: EscalateJob = { user_id: userId, conversation_id: message.conversation_id, message_id: message.id, seq: message.seq, created_at: message.created_at, step: 0, steps };
    return {
      tenant_id: t, kind: ESCALATE_JOB, payload, dedupe_key: `esc:${message.id}:${userId}:0`, run_at: message.created_at + steps[0]!.after_seconds * 1000, max_attempts: this.#o.maxAttempts,
    };
  }

  /** Device pushes were enqueued (metrics, a local runner looks at once). */
  enqueued(jobs: readonly PushJob[]): void {
    this.#o.onEnqueued?.(jobs);
  }

  #next(): void {
    while (this.#running < MAX_PLANS && this.#waiting.length) {
      const { tenantId, message, users } = this.#waiting.shift()!;
      this.#running++;
      this.#launch(tenantId, message, users);
    }
    if (this.#running === 0 && this.#waiting.length === 0) for (const r of this.#idle.splice(0)) r();
  }

  #launch(tenantId: string, message: Message, users: readonly string[]): void {
    void this.plan(tenantId, message, users)
      .then((jobs) => {
        if (jobs.length) this.#o.onEnqueued?.(jobs);
      })
      .catch((err) => this.#o.onError?.(err))
      .finally(() => {
        this.#running--;
        this.#next();
      });
  }

  /** The jobs for `users` (recipients other than the sender), enqueued; returns the device pushes enqueued. */
  async plan(tenantId: string, message: Message, users: readonly string[]): Promise<PushJob[]> {
    const t = tenantId;
    const now = this.#now();
    const wechatOn = this.#o.wechat === true
      && await this.#o.storage.devices.getTenantPush(t).then((s) => s.wechat.enabled && s.wechat.templates.message !== undefined);
    const perUser = await Promise.all(users.map(async (userId): Promise<{ jobs: PushJob[]; wechat: WechatJob | null }> => {
      const none = { jobs: [], wechat: null };
      const { online } = await this.#o.presence.status(t, userId);
      if (online) return none;
      const [settings, mutes, devices, openid] = await Promise.all([
        this.#o.storage.devices.getSettings(t, userId),
        this.#o.storage.devices.mutes(t, userId),
        this.#o.storage.devices.listForUser(t, userId),
        wechatOn ? this.#o.storage.devices.getWechatOpenid(t, userId) : null,
      ]);
      if (!settings.push_enabled) return none;
      const mute = mutes.find((m) => m.conversation_id === message.conversation_id);
      if (mute && (mute.until === null || mute.until > now)) return none;
      const quiet = inQuietHours(settings.quiet_hours, now);
      const jobs = devices
        .filter((d) => d.deregistered_at === null && d.push_enabled && d.push_token !== null && this.#o.vendors.has(d.vendor))
        .map((d): PushJob => ({
          user_id: userId, device_id: d.device_id, vendor: d.vendor, conversation_id: message.conversation_id, message_id: message.id,
          seq: message.seq, created_at: message.created_at, quiet,
        }));
      const wechat = openid === null ? null : { user_id: userId, conversation_id: message.conversation_id, message_id: message.id, seq: message.seq, created_at: message.created_at };
      return { jobs, wechat };
    }));
    const jobs = perUser.flatMap((u) => u.jobs);
    // The escalation ladder starts for each user who gets a push now (offline, push on, not muted).
    let convType: Promise<number | null> | null = null;
    const conversationType = () => (convType ??= this.#o.storage.conversations.getConversation(t, message.conversation_id).then((c) => c?.type ?? null));
    const pushed = perUser.flatMap((u, i) => (u.jobs.length || u.wechat ? [users[i]!] : []));
    const ladders = (await Promise.all(pushed.map((u) => this.#escalation(t, u, message, conversationType)))).flatMap((x) => (x ? [x] : []));
    // A user whose ladder has a WeChat rung gets the template message then, not now.
    const laterWechat = new Set(ladders.filter((l) => (l.payload as EscalateJob).steps.some((x) => x.channel === 'wechat')).map((l) => (l.payload as EscalateJob).user_id));
    const wechat = perUser.flatMap((u) => (u.wechat && !laterWechat.has(u.wechat.user_id) ? [u.wechat] : []));
    if (jobs.length === 0 && wechat.length === 0 && ladders.length === 0) return [];
    const list: NewJob[] = [
      ...jobs.map((j) => ({ tenant_id: t, kind: PUSH_JOB, payload: j, dedupe_key: `${j.message_id}:${j.device_id}`, max_attempts: this.#o.maxAttempts })),
      ...wechat.map((w) => ({ tenant_id: t, kind: WECHAT_JOB, payload: w, dedupe_key: `${w.message_id}:wechat:${w.user_id}`, max_attempts: this.#o.maxAttempts })),
      ...ladders,
    ];
    const stored = await this.#o.storage.jobs.enqueue(list, now);
    const wechatNew = stored.slice(jobs.length, jobs.length + wechat.length).filter((x) => x.created).length;
    if (wechatNew > 0) this.#o.onWechatEnqueued?.(wechatNew);
    const created = jobs.filter((_, i) => stored[i]!.created);
    await this.#queued(t, created);
    return created;
  }

  /** Waits until the outbox has run everywhere (`settled`) and no plan is running or waiting here (tests). */
  async drain(): Promise<void> {
    await this.#o.settled?.();
    await this.idle();
  }

  /**
   * Waits until no plan is running or waiting on this node. What is still in the outbox stays
   * there (durable) for this or another node: a shutdown waits for this, not for `drain`.
   */
  async idle(): Promise<void> {
    if (this.#running === 0 && this.#waiting.length === 0) return;
    await new Promise<void>((r) => this.#idle.push(r));
  }
}
