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

export const PUSH_JOB = 'push.send';
/** WeChat template messages (`wechat.ts`). */
export const WECHAT_JOB = 'push.wechat';
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
  storage: Pick<Storage, 'devices' | 'jobs'>;
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
    const wechat = perUser.flatMap((u) => (u.wechat ? [u.wechat] : []));
    if (jobs.length === 0 && wechat.length === 0) return [];
    const list: NewJob[] = [
      ...jobs.map((j) => ({ tenant_id: t, kind: PUSH_JOB, payload: j, dedupe_key: `${j.message_id}:${j.device_id}`, max_attempts: this.#o.maxAttempts })),
      ...wechat.map((w) => ({ tenant_id: t, kind: WECHAT_JOB, payload: w, dedupe_key: `${w.message_id}:wechat:${w.user_id}`, max_attempts: this.#o.maxAttempts })),
    ];
    const stored = await this.#o.storage.jobs.enqueue(list, now);
    const wechatNew = stored.slice(jobs.length).filter((x) => x.created).length;
    if (wechatNew > 0) this.#o.onWechatEnqueued?.(wechatNew);
    return jobs.filter((_, i) => stored[i]!.created);
  }

  /** Waits until no plan is running or waiting. */
  async drain(): Promise<void> {
    await this.#o.settled?.();
    if (this.#running === 0 && this.#waiting.length === 0) return;
    await new Promise<void>((r) => this.#idle.push(r));
  }
}
