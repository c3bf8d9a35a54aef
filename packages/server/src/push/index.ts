/**
 * Offline push on one node: the vendor adapters the config names (`push.apns.*`, `push.fcm.*`,
 * `push.webpush.*`, `push.huawei.*`, `push.xiaomi.*`; WeChat template messages `push.wechat.*`), the planner
 * that enqueues push jobs for each committed message (a consumer of the after-commit outbox,
 * `webhooks/after-commit.ts`: the planning runs from a job written in the append's own
 * transaction), and a
 * `JobRunner` that sends the cluster's push jobs (`push.workers` at a time; any node may send
 * any job). Metrics per vendor go to `ops/metrics.ts`.
 */
import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import type { Core } from '../core.ts';
import type { PushVendor } from '../domain/types.ts';
import type { Metrics } from '../ops/metrics.ts';
import { JobRunner } from '../domain/jobs.ts';
import { ApnsSender } from './apns.ts';
import { FcmSender, type ServiceAccount } from './fcm.ts';
import { ESCALATE_JOB, PushPlanner, PUSH_JOB } from './planner.ts';
import { MessageTypes } from '@careline/protocol';
import { SmsSender } from './sms.ts';
import { EscalationWorker } from './escalation.ts';
import { missedCalls } from './missed-calls.ts';
import { WebPushSender } from './webpush.ts';
import { HuaweiSender } from './huawei.ts';
import { XiaomiSender } from './xiaomi.ts';
import { WECHAT_JOB, WechatSender, WechatWorker } from './wechat.ts';
import { PushWorker, type PushObserver } from './worker.ts';
import type { PushSender } from './vendor.ts';
import type { AfterCommit } from '../webhooks/after-commit.ts';

export interface Push {
  planner: PushPlanner;
  /** Null when `push.workers` is 0. */
  runner: JobRunner | null;
  senders: ReadonlyMap<PushVendor, PushSender>;
  /** WeChat template messages (`push.wechat.appId` set), or null. */
  wechat: WechatSender | null;
  close(): Promise<void>;
}

/** Backoff for a push's retries: doubling from `base`, at most `max`, with jitter (half to all of it). */
export function jitterBackoff(base: number, max: number, random: () => number = Math.random): (attempts: number) => number {
  return (attempts) => {
    const d = Math.min(max, base * 2 ** Math.max(0, attempts - 1));
    return Math.round(d / 2 + random() * (d / 2));
  };
}

/** The senders the config names: APNs when `push.apns.keyFile` is set, FCM when `push.fcm.serviceAccountFile` is, Web Push when `push.webpush.publicKey` is, Huawei when `push.huawei.appId` is, Xiaomi when `push.xiaomi.appSecret` is. */
export function configuredSenders(config: Core['config']): Map<PushVendor, PushSender> {
  const senders = new Map<PushVendor, PushSender>();
  const a = config.push.apns;
  if (a.keyFile) {
    if (!a.keyId || !a.teamId || !a.topic) throw new Error('push.apns.keyFile is set: push.apns.keyId, push.apns.teamId and push.apns.topic are needed too');
    senders.set('apns', new ApnsSender({
      url: a.url, key: readFileSync(a.keyFile, 'utf8'), keyId: a.keyId, teamId: a.teamId, topic: a.topic,
      ...(a.caFile ? { ca: readFileSync(a.caFile) } : {}),
    }));
  }
  const f = config.push.fcm;
  if (f.serviceAccountFile) {
    const account = JSON.parse(readFileSync(f.serviceAccountFile, 'utf8')) as ServiceAccount;
    senders.set('fcm', new FcmSender({
      account, url: f.url, ...(f.tokenUrl ? { tokenUrl: f.tokenUrl } : {}), ...(f.projectId ? { projectId: f.projectId } : {}),
      ...(f.caFile ? { ca: readFileSync(f.caFile) } : {}),
    }));
  }
  const w = config.push.webpush;
  if (w.publicKey || w.privateKey) {
    senders.set('webpush', new WebPushSender({
      publicKey: w.publicKey, privateKey: w.privateKey, subject: w.subject, ...(w.caFile ? { ca: readFileSync(w.caFile) } : {}),
    }));
  }
  const h = config.push.huawei;
  if (h.appId) {
    senders.set('huawei', new HuaweiSender({
      appId: h.appId, appSecret: h.appSecret, url: h.url, tokenUrl: h.tokenUrl, body: config.push.body,
      ...(h.badgeClass ? { badgeClass: h.badgeClass } : {}), ...(h.caFile ? { ca: readFileSync(h.caFile) } : {}),
    }));
  }
  const x = config.push.xiaomi;
  if (x.appSecret) {
    senders.set('xiaomi', new XiaomiSender({
      appSecret: x.appSecret, packageName: x.packageName, url: x.url, body: config.push.body,
      ...(x.channelId ? { channelId: x.channelId } : {}), ...(x.caFile ? { ca: readFileSync(x.caFile) } : {}),
    }));
  }
  return senders;
}

export function startPush(core: Core, metrics: Metrics, log: Logger, afterCommit: AfterCommit): Push {
  const c = core.config.push;
  const senders = configuredSenders(core.config);
  const w = c.wechat;
  const wechat = w.appId
    ? new WechatSender({ appId: w.appId, appSecret: w.appSecret, url: w.url, ...(w.caFile ? { ca: readFileSync(w.caFile) } : {}) })
    : null;
  const sm = core.config.sms;
  const sms = sm.url
    ? new SmsSender({ url: sm.url, accountSid: sm.accountSid, authToken: sm.authToken, from: sm.from, ...(sm.caFile ? { ca: readFileSync(sm.caFile) } : {}) })
    : null;
  const escalation = new Set<'wechat' | 'sms'>([...(wechat ? ['wechat' as const] : []), ...(sms ? ['sms' as const] : [])]);
  const channels = senders.size + (wechat ? 1 : 0) + (sms ? 1 : 0);
  let runner: JobRunner | null = null;
  const planner = new PushPlanner({
    storage: core.storage, presence: core.presence, vendors: new Set(senders.keys()), maxAttempts: c.maxAttempts, wechat: wechat !== null,
    onWechatEnqueued: (count) => {
      metrics.pushEnqueued.inc({ vendor: 'wechat' }, count);
      runner?.poke();
    },
    onEnqueued: (jobs) => {
      for (const j of jobs) metrics.pushEnqueued.inc({ vendor: j.vendor });
      runner?.poke();
    },
    onError: (err) => log.error({ err }, 'push: could not enqueue the pushes of a message'),
    settled: () => afterCommit.drain(),
    escalation,
  });
  if (c.workers > 0 && channels > 0) {
    const observer: PushObserver = {
      sent: (vendor, requestMs, delayMs) => {
        metrics.pushSent.inc({ vendor });
        metrics.pushLatency.observe({ vendor }, requestMs / 1000);
        metrics.pushDelay.observe({ vendor }, Math.max(0, delayMs) / 1000);
      },
      failed: (vendor, reason) => metrics.pushFailed.inc({ vendor, reason }),
      retried: (vendor) => metrics.pushRetried.inc({ vendor }),
      dropped: (reason) => metrics.pushDropped.inc({ reason }),
    };
    const worker = new PushWorker({ storage: core.storage, messages: core.messages, notifications: core.notifications, senders, title: c.title, observer });
    runner = new JobRunner({
      jobs: core.storage.jobs, worker: `${core.nodeId}:${process.pid}:push`, concurrency: c.workers, pollMs: c.pollMs,
      backoff: jitterBackoff(c.retryBaseMs, c.retryMaxMs),
      onError: (err, job) => {
        if (job) log.warn({ err: (err as Error).message, job: job.id, attempt: job.attempts }, 'push: attempt failed');
        else log.error({ err }, 'push: the job queue failed');
      },
    });
    if (senders.size > 0) runner.register(PUSH_JOB, worker.handle);
    const wechatWorker = wechat
      ? new WechatWorker({
        storage: core.storage, messages: core.messages, notifications: core.notifications, sender: wechat, title: c.title, body: c.body, timeZone: w.timeZone, observer,
      })
      : null;
    if (wechatWorker) runner.register(WECHAT_JOB, wechatWorker.handle);
    if (escalation.size > 0) {
      runner.register(ESCALATE_JOB, new EscalationWorker({
        storage: core.storage, wechat: wechatWorker, sms, title: c.title, body: c.body, maxAttempts: c.maxAttempts, observer, onEnqueued: () => runner?.poke(),
      }).handle);
    }
    runner.start();
  }
  // Missed calls become notifications whether or not this server pushes.
  afterCommit.add({ name: 'missed-calls', messages: (tenantId, messages) => missedCalls(core, tenantId, messages), wants: (_t, type) => type === MessageTypes.CALL });
  if (channels > 0) {
    const ringSeconds = Math.ceil(core.config.calls.ringTimeoutMs / 1000);
    afterCommit.add({
      name: 'push',
      // A call's record is not pushed (below).
      wants: (_t, type) => type !== MessageTypes.CALL,
      messages: async (tenantId, messages, recipients) => {
        // A call's record is not pushed: its invite rang (VoIP), and a missed call is a notification.
        const jobs = (await Promise.all(messages.filter((m) => m.type !== MessageTypes.CALL).map((m) => planner.planMessage(tenantId, m, recipients)))).flat();
        if (jobs.length) planner.enqueued(jobs);
      },
      notification: async (tenantId, n, recipients) => {
        const jobs = await planner.planNotification(tenantId, n, recipients);
        if (jobs.length) planner.enqueued(jobs);
      },
      event: (e) => {
        // A call invite: VoIP / high-priority pushes to the ringing callees without a live connection.
        if (e.kind !== 'call.changed' || e.status !== 'invite') return;
        const call = e.call;
        const ringing = call.participants.filter((p) => p.state === 'ringing').map((p) => p.user_id);
        void planner.planCall(e.tenant_id, { id: call.id, conversation_id: call.conversation_id, caller_id: call.caller_id, av_type: call.av_type, created_at: call.created_at }, ringing, ringSeconds)
          .then((jobs) => jobs.length && planner.enqueued(jobs))
          .catch((err) => log.error({ err }, 'push: could not enqueue the pushes of a call invite'));
      },
    });
  }
  return {
    planner, runner, senders, wechat,
    async close() {
      // The plans running here end; outbox jobs not run yet stay for the next node to run them.
      await planner.idle();
      await runner?.close();
      await Promise.all([...senders.values()].map((s) => s.close()));
      await wechat?.close();
      await sms?.close();
    },
  };
}
