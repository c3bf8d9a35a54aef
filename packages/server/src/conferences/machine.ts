/**
 * The conference status machine (docs/conferences.md), as pure functions: each takes the
 * conference as stored and returns the conference to write with the transition to record,
 * or null when the action was already done (a retry: nothing changes), or throws the
 * `conference.*` error of an action that does not apply. `ConferenceService` writes the
 * result over the version it read, and runs the function again on a newer version when
 * another node changed the conference first.
 *
 *             open                      join (first)
 *   scheduled ─────▶ open ───────────────────────────▶ started
 *       │ cancel       │ cancel / finish                 │ finish
 *       ▼              ▼                                 ▼
 *   cancelled     cancelled / finished               finished
 *   end of time (ends_at): scheduled, open, started ─▶ finished (reason `time`)
 */
import type { ConferenceAction, ConferenceStatus } from '@careline/protocol';
import { fail } from '../domain/errors.ts';
import type { Conference, ConferenceParticipant, NewTransition } from './store.ts';

/** Who acts: a participant (by user id), the booking system (`api`) or the server (`system`). */
export interface Actor {
  by: string;
  /** A participant's role; absent for `api` and `system`. */
  role?: ConferenceParticipant['role'];
}

export interface Change {
  next: Conference;
  transition: Omit<NewTransition, 'node'> | null;
  /** The info changed (`conference.info` event), with the names of what changed. */
  changed?: string[];
}

/** Which statuses each action leaves from (the table of docs/conferences.md). */
export const ALLOWED: Readonly<Record<Exclude<ConferenceAction, 'create'>, readonly ConferenceStatus[]>> = {
  open: ['scheduled'],
  join: ['open', 'started'],
  cancel: ['scheduled', 'open'],
  finish: ['open', 'started'],
  time: ['scheduled', 'open', 'started'],
};

export const FINAL: ReadonlySet<ConferenceStatus> = new Set(['finished', 'cancelled']);

function copy(c: Conference): Conference {
  return { ...c, participants: c.participants.map((p) => ({ ...p })) };
}

function refuse(c: Conference, action: string): never {
  throw fail('conference.invalid_state', `A ${c.status} conference cannot be ${action === 'open' ? 'opened' : action === 'join' ? 'joined' : `${action}ed`}.`, {
    status: c.status, action, allowed: (ALLOWED as Record<string, readonly string[] | undefined>)[action] ?? [],
  });
}

function specialistOnly(actor: Actor, what: string): void {
  if (actor.role === 'client') throw fail('conference.not_specialist', `Only a specialist may ${what} the conference.`);
}

function move(c: Conference, to: ConferenceStatus, action: ConferenceAction, actor: Actor, now: number, reason: string | null): Change {
  const next = copy(c);
  const from = c.status;
  next.status = to;
  return { next, transition: { from, to, action, by: actor.by, reason, at: now } };
}

export function open(c: Conference, actor: Actor, now: number, openEarlyMs: number, reason: string | null = null): Change | null {
  specialistOnly(actor, 'open');
  if (c.status === 'open' || c.status === 'started') return null;
  if (c.status !== 'scheduled') refuse(c, 'open');
  const opensAt = c.starts_at - openEarlyMs;
  if (now < opensAt) throw fail('conference.too_early', undefined, { opens_at: opensAt, starts_at: c.starts_at });
  const ch = move(c, 'open', 'open', actor, now, reason);
  ch.next.opened_at = now;
  return ch;
}

/**
 * A participant joins: recorded on them; the first join starts the conference. A waiting-room
 * client must have been admitted (`admitted`: the caller checked the room).
 */
export function join(c: Conference, userId: string, now: number, opts: { mustBeAdmitted: boolean }): Change | null {
  const me = c.participants.find((p) => p.user_id === userId);
  if (!me) throw fail('conference.participant_not_found');
  // A waiting-room client still waiting is told so, whatever the conference's status before it ends.
  if (opts.mustBeAdmitted && me.role === 'client' && c.admitted_at === null && !FINAL.has(c.status)) throw fail('conference.not_admitted');
  if (!ALLOWED.join.includes(c.status)) refuse(c, 'join');
  if (c.status === 'started' && me.joined_at !== null && me.left_at === null) return null;
  const next = copy(c);
  const p = next.participants.find((x) => x.user_id === userId)!;
  p.joined_at ??= now;
  p.left_at = null;
  next.info_version++;
  if (c.status === 'open') {
    next.status = 'started';
    next.started_at = now;
    return { next, transition: { from: 'open', to: 'started', action: 'join', by: userId, reason: null, at: now }, changed: ['participants'] };
  }
  return { next, transition: null, changed: ['participants'] };
}

/** A participant left the room: recorded on them (the status does not change). */
export function leave(c: Conference, userId: string, now: number): Change | null {
  const me = c.participants.find((p) => p.user_id === userId);
  if (!me) throw fail('conference.participant_not_found');
  if (me.joined_at === null || me.left_at !== null) return null;
  const next = copy(c);
  next.participants.find((x) => x.user_id === userId)!.left_at = now;
  next.info_version++;
  return { next, transition: null, changed: ['participants'] };
}

export function cancel(c: Conference, actor: Actor, now: number, reason: string | null = null): Change | null {
  if (c.status === 'cancelled') return null;
  if (!ALLOWED.cancel.includes(c.status)) refuse(c, 'cancel');
  const ch = move(c, 'cancelled', 'cancel', actor, now, reason);
  ch.next.ended_at = now;
  ch.next.end_reason = 'cancelled';
  return ch;
}

export function finish(c: Conference, actor: Actor, now: number, reason: string | null = null): Change | null {
  specialistOnly(actor, 'finish');
  if (c.status === 'finished') return null;
  if (!ALLOWED.finish.includes(c.status)) refuse(c, 'finish');
  return end(c, 'finish', actor, now, reason);
}

/** The scheduler at the end time: null when it is not due (the end moved) or the conference already ended. */
export function expire(c: Conference, now: number): Change | null {
  if (FINAL.has(c.status) || now < c.ends_at) return null;
  return end(c, 'time', { by: 'system' }, now, null);
}

function end(c: Conference, action: 'finish' | 'time', actor: Actor, now: number, reason: string | null): Change {
  const ch = move(c, 'finished', action, actor, now, reason);
  ch.next.ended_at = now;
  ch.next.end_reason = action === 'time' ? 'time' : 'finished';
  for (const p of ch.next.participants) if (p.joined_at !== null && p.left_at === null) p.left_at = now;
  return ch;
}

export interface InfoPatch {
  title?: string;
  starts_at?: number;
  duration_seconds?: number;
  vertical?: Conference['vertical'];
  language?: Conference['language'];
}

/** Changes the info of a conference not yet ended (an `info` event); null when nothing differs. */
export function update(c: Conference, patch: InfoPatch): Change | null {
  if (FINAL.has(c.status)) refuse(c, 'update');
  const next = copy(c);
  const changed: string[] = [];
  for (const k of ['title', 'starts_at', 'duration_seconds', 'vertical', 'language'] as const) {
    const v = patch[k];
    if (v !== undefined && v !== c[k]) {
      (next as unknown as Record<string, unknown>)[k] = v;
      changed.push(k);
    }
  }
  if (changed.length === 0) return null;
  next.ends_at = next.starts_at + next.duration_seconds * 1000;
  if (next.ends_at !== c.ends_at) changed.push('ends_at');
  next.info_version++;
  return { next, transition: null, changed };
}

/** Revokes a participant's access (their tokens stop working). */
export function revoke(c: Conference, userId: string, now: number): Change | null {
  const me = c.participants.find((p) => p.user_id === userId);
  if (!me) throw fail('conference.participant_not_found');
  if (me.revoked_at !== null) return null;
  const next = copy(c);
  next.participants.find((x) => x.user_id === userId)!.revoked_at = now;
  return { next, transition: null };
}

/** A new access token for a participant (the old ones revoked): the token number moves on. */
export function reissue(c: Conference, userId: string): Change {
  const me = c.participants.find((p) => p.user_id === userId);
  if (!me) throw fail('conference.participant_not_found');
  const next = copy(c);
  const p = next.participants.find((x) => x.user_id === userId)!;
  p.token_version++;
  p.revoked_at = null;
  return { next, transition: null };
}

/** A waiting-room client arrives (idempotent). */
export function arrive(c: Conference, now: number): Change | null {
  if (c.arrived_at !== null || c.admitted_at !== null) return null;
  if (FINAL.has(c.status)) refuse(c, 'arrive');
  const next = copy(c);
  next.arrived_at = now;
  return { next, transition: null };
}

/** The specialist admits the conference's client: it opens if it was still scheduled. */
export function admit(c: Conference, actor: Actor, now: number): Change {
  if (c.admitted_at !== null || !['scheduled', 'open'].includes(c.status)) refuse(c, 'admit');
  if (c.status === 'scheduled') {
    const ch = move(c, 'open', 'open', actor, now, 'admitted from the waiting room');
    ch.next.opened_at = now;
    ch.next.admitted_at = now;
    return ch;
  }
  const next = copy(c);
  next.admitted_at = now;
  return { next, transition: null };
}
