/**
 * The escalation ladder (`docs/push.md`, "Escalation"): a `push.escalate` job runs at each
 * rung's time (`after_seconds` after the message's commit). If the user has read the message
 * by then, the ladder stops (`dropped`, `read`). Otherwise the channels tried so far that were
 * `sent` become `escalated` (detail: the next channel), the rung's channel is tried — a WeChat
 * template message (through the WeChat worker, with its own checks) or an SMS to the user's
 * phone — its status recorded, and the next rung enqueued (dedupe key
 * `esc:<message>:<user>:<step>`, so a rung runs once however often the job is retried).
 * The SMS text is generic — `push.title` and `push.body` — or the preview where the tenant
 * turned previews on for the conversation's type: never a name.
 */
import type { Job, Storage } from '../domain/ports.ts';
import type { DeliveryStatus } from '../domain/escalation.ts';
import { ESCALATE_JOB, WECHAT_JOB, type EscalateJob, type WechatJob } from './planner.ts';
import type { WechatWorker } from './wechat.ts';
import type { SmsSender } from './sms.ts';
import { PushRetry, previewFor, type PushObserver } from './worker.ts';

export interface EscalationWorkerOptions {
  storage: Pick<Storage, 'devices' | 'conversations' | 'messages' | 'jobs'>;
  wechat: WechatWorker | null;
  sms: SmsSender | null;
  title: string;
  body: string;
  maxAttempts: number;
  observer?: PushObserver;
  /** A rung was enqueued (the runner looks when it is due). */
  onEnqueued?: () => void;
  now?: () => number;
}

export class EscalationWorker {
  readonly #o: EscalationWorkerOptions;
  readonly #now: () => number;

  constructor(o: EscalationWorkerOptions) {
    this.#o = o;
    this.#now = o.now ?? Date.now;
  }

  readonly handle = async (job: Job): Promise<void> => {
    const j = job.payload as EscalateJob;
    const t = job.tenant_id;
    const s = this.#o.storage;
    const step = j.steps[j.step];
    if (!step) return;
    const record = (status: DeliveryStatus, detail: string | null) =>
      s.devices.recordDelivery(t, { subject_id: j.message_id, user_id: j.user_id, channel: step.channel, status, detail }, this.#now());
    const [member] = await s.conversations.getParticipants(t, j.conversation_id, [j.user_id]);
    if (!member) return record('dropped', 'left');
    if (member.read_seq >= j.seq) {
      this.#o.observer?.dropped('read');
      return record('dropped', 'read');
    }
    // What was sent so far did not get the message read: escalated to this rung's channel.
    for (const d of await s.devices.deliveries(t, j.message_id)) {
      if (d.user_id === j.user_id && d.status === 'sent' && d.channel !== step.channel) {
        await s.devices.recordDelivery(t, { subject_id: j.message_id, user_id: j.user_id, channel: d.channel, status: 'escalated', detail: step.channel }, this.#now());
      }
    }
    if (step.channel === 'wechat') await this.#wechat(job, j, record);
    else await this.#sms(job, j, record);
    const next = j.step + 1;
    if (next < j.steps.length) {
      const payload: EscalateJob = { ...j, step: next };
      await s.jobs.enqueue([{
        tenant_id: t, kind: ESCALATE_JOB, payload, dedupe_key: `esc:${j.message_id}:${j.user_id}:${next}`,
        run_at: j.created_at + j.steps[next]!.after_seconds * 1000, max_attempts: this.#o.maxAttempts,
      }], this.#now());
      this.#o.onEnqueued?.();
    }
  };

  async #wechat(job: Job, j: EscalateJob, record: (status: DeliveryStatus, detail: string | null) => Promise<void>): Promise<void> {
    if (!this.#o.wechat) return record('failed', 'unconfigured');
    const payload: WechatJob = { user_id: j.user_id, conversation_id: j.conversation_id, message_id: j.message_id, seq: j.seq, created_at: j.created_at };
    try {
      const r = await this.#o.wechat.run({ ...job, kind: WECHAT_JOB, payload });
      return record(r.status, r.detail);
    } catch (err) {
      if (err instanceof PushRetry && job.attempts < job.max_attempts) throw err;
      return record('failed', (err as Error).message);
    }
  }

  async #sms(job: Job, j: EscalateJob, record: (status: DeliveryStatus, detail: string | null) => Promise<void>): Promise<void> {
    const t = job.tenant_id;
    const s = this.#o.storage;
    const obs = this.#o.observer;
    if (!this.#o.sms) return record('failed', 'unconfigured');
    const [phone, tenantPush] = await Promise.all([s.devices.getPhone(t, j.user_id), s.devices.getTenantPush(t)]);
    if (phone === null) {
      obs?.dropped('no_token');
      return record('dropped', 'no_phone');
    }
    const preview = await previewFor(s, t, j.conversation_id, j.message_id, tenantPush.preview_conversation_types);
    const text = `${this.#o.title}. ${preview ?? this.#o.body}`;
    const started = this.#now();
    const outcome = await this.#o.sms.send(phone, text);
    const ended = this.#now();
    switch (outcome.kind) {
      case 'sent':
        obs?.sent('sms', ended - started, ended - j.created_at);
        return record('sent', outcome.id);
      case 'gone':
        obs?.failed('sms', outcome.reason);
        if ((await s.devices.getPhone(t, j.user_id)) === phone) await s.devices.setPhone(t, j.user_id, null, ended);
        return record('failed', `number gone: ${outcome.reason}`);
      case 'failed':
        obs?.failed('sms', outcome.reason);
        return record('failed', outcome.reason);
      case 'retry':
        obs?.failed('sms', outcome.reason);
        if (job.attempts < job.max_attempts) {
          obs?.retried('sms');
          throw new PushRetry('sms', outcome.reason);
        }
        return record('failed', outcome.reason);
    }
  }
}
