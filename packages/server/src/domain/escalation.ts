/**
 * The escalation ladder's policy and the per-channel status of pushes (`docs/push.md`,
 * "Escalation"). A policy says, for the conversation types it covers, which channels follow
 * the app push and after how long: if the message is still unread then, the next channel
 * (a WeChat template message, then an SMS) is tried; reading the message stops the ladder.
 * A tenant has one policy (user id `''`); a user may have their own, which replaces it.
 */
import { fail } from './errors.ts';

export const ESCALATION_CHANNELS = ['wechat', 'sms'] as const;
export type EscalationChannel = (typeof ESCALATION_CHANNELS)[number];

export interface EscalationStep {
  channel: EscalationChannel;
  /** Seconds after the message's commit. */
  after_seconds: number;
}

export interface EscalationPolicy {
  enabled: boolean;
  /** Conversation types it covers; null: all. */
  conversation_types: number[] | null;
  /** In order of `after_seconds`. */
  steps: EscalationStep[];
}

/** A channel's status for one push subject (a message, a notification, a call) to one user. */
export type DeliveryStatus = 'queued' | 'sent' | 'failed' | 'delivered' | 'escalated' | 'dropped';
export const DELIVERY_STATUSES: readonly DeliveryStatus[] = ['queued', 'sent', 'failed', 'delivered', 'escalated', 'dropped'];

export interface PushDelivery {
  subject_id: string;
  user_id: string;
  /** A device vendor (`apns`, `fcm`, …), `wechat` or `sms`. */
  channel: string;
  status: DeliveryStatus;
  /** The vendor's reason (failed, dropped), or the next channel (escalated). */
  detail: string | null;
  created_at: number;
  updated_at: number;
}

/** Most steps of one policy; longest wait of one step (a week). */
export const MAX_STEPS = 4;
export const MAX_AFTER_SECONDS = 7 * 86_400;

/** Checks a policy given over the API (`push.escalation_invalid` otherwise). */
export function checkPolicy(input: unknown): EscalationPolicy {
  const bad = (why: string): never => {
    throw fail('push.escalation_invalid', why);
  };
  if (typeof input !== 'object' || input === null || Array.isArray(input)) bad('The policy is an object {enabled, conversation_types, steps}.');
  const p = input as Record<string, unknown>;
  for (const k of Object.keys(p)) if (!['enabled', 'conversation_types', 'steps'].includes(k)) bad(`Unknown field ${k}.`);
  const enabled = p.enabled ?? true;
  if (typeof enabled !== 'boolean') bad('enabled is a boolean.');
  const types = p.conversation_types ?? null;
  if (types !== null && (!Array.isArray(types) || types.length > 32 || !types.every((t) => Number.isSafeInteger(t)))) bad('conversation_types is null or a list of conversation types.');
  if (!Array.isArray(p.steps) || p.steps.length === 0 || p.steps.length > MAX_STEPS) bad(`steps is a list of 1 to ${MAX_STEPS} steps.`);
  let last = 0;
  const steps = (p.steps as unknown[]).map((s): EscalationStep => {
    const step = (typeof s === 'object' && s !== null ? s : {}) as Record<string, unknown>;
    if (!ESCALATION_CHANNELS.includes(step.channel as EscalationChannel)) bad(`A step's channel is one of ${ESCALATION_CHANNELS.join(', ')}.`);
    const after = step.after_seconds;
    if (!Number.isSafeInteger(after) || (after as number) < 1 || (after as number) > MAX_AFTER_SECONDS) bad(`A step's after_seconds is 1 to ${MAX_AFTER_SECONDS}.`);
    if ((after as number) <= last) bad('Steps are in increasing order of after_seconds.');
    last = after as number;
    return { channel: step.channel as EscalationChannel, after_seconds: after as number };
  });
  if (new Set(steps.map((s) => s.channel)).size !== steps.length) bad('A channel appears once.');
  return { enabled: enabled as boolean, conversation_types: types as number[] | null, steps };
}

/** E.164: `+`, then 8 to 15 digits. */
export const PHONE_RE = /^\+[1-9][0-9]{7,14}$/;
