/**
 * The front desk's REST calls for staff (docs/desk.md), made with the signed-in user's token
 * through the SDK's `client.api` (its auth, time-out and error handling). The desk's paths
 * (seed 002's `/api/…` and `/api/desk/…`) sit beside `/api/v2`, hence the `/../..` prefix (`/api/v2/../../api/desk/…` is `/api/desk/…`).
 */
import type { CarelineClient } from '@careline/sdk';

export interface SeedMsg {
  cid?: string;
  mid?: string;
  type: string;
  t?: { t0: number; t1: number };
  from?: { id: string; name?: string; role?: string };
  chat?: { id: string };
  text?: string;
  event?: Record<string, unknown> & { outcome?: string; staff_id?: string };
}

export interface QueueItem {
  chat_id: string;
  creator: string;
  team_id: string;
  state: string;
  created_at: number;
  waiting_ms: number;
  position: number;
  acked_by: { uid: string; at: number }[];
  escalated_at: number | null;
}

export interface DeskChat {
  id: string;
  chat_id: string;
  creator: string;
  staff_id: string;
  state: 'request' | 'active' | 'closed' | string;
  created_at: string;
  ended_at: string;
  team_id?: string;
  position?: number;
  outcome?: string;
  note?: string;
  acked_by?: { uid: string; at: number }[];
  msgs: SeedMsg[];
}

export interface OnlineVisitor {
  uid: string;
  track_id: string;
  url: string;
  title: string;
  referer: string;
  os: string;
  browser: string;
  last_seen: number;
  first_seen: number;
  chat_id: string;
  chat_state: string;
  patient_id: string;
}

export interface OnlineStaff {
  uid: string;
  staff_id: string;
  name: string;
  active_chats: number;
}

export interface StaffInit {
  uid: string;
  cid: string;
  version: string;
  state: { chats: DeskChat[]; version: string };
}

export const OUTCOMES = ['resolved', 'booked', 'referred', 'no_response', 'spam'] as const;

const enc = encodeURIComponent;

export class DeskApi {
  readonly #client: CarelineClient;
  cid = '';
  uid = '';

  constructor(client: CarelineClient) {
    this.#client = client;
  }

  #req<T>(method: string, path: string, opts: { query?: Record<string, string | undefined>; body?: unknown } = {}): Promise<T> {
    return this.#client.api.request<T>(method, `/../..${path}`, opts);
  }

  /** The staff member's state (`GET /api/state/init`): their organisation and active chats. */
  async init(): Promise<StaffInit> {
    const a = await this.#req<StaffInit>('GET', '/api/state/init');
    this.cid = a.cid;
    this.uid = a.uid;
    return a;
  }

  async queue(): Promise<QueueItem[]> {
    return (await this.#req<{ data: QueueItem[] }>('GET', '/api/desk/queue', { query: { cid: this.cid } })).data;
  }

  async visitors(): Promise<OnlineVisitor[]> {
    return (await this.#req<{ data: OnlineVisitor[] }>('GET', '/api/users/online', { query: { cid: this.cid } })).data;
  }

  async staff(): Promise<OnlineStaff[]> {
    return (await this.#req<{ data: OnlineStaff[] }>('GET', '/api/staff/online', { query: { cid: this.cid } })).data;
  }

  async chat(chatId: string): Promise<DeskChat> {
    return (await this.#req<{ chat: DeskChat }>('GET', `/api/desk/chats/${enc(chatId)}`)).chat;
  }

  async claim(chatId: string): Promise<void> {
    await this.#req('POST', `/api/desk/chats/${enc(chatId)}/claim`);
  }

  async ack(chatId: string): Promise<void> {
    await this.#req('POST', `/api/desk/chats/${enc(chatId)}/ack`);
  }

  async transfer(chatId: string, to: { to_staff?: string; to_team?: string; note?: string }): Promise<void> {
    await this.#req('POST', `/api/desk/chats/${enc(chatId)}/transfer`, { body: to });
  }

  async close(chatId: string, outcome: string, note?: string): Promise<void> {
    await this.#req('POST', `/api/desk/chats/${enc(chatId)}/close`, { body: { outcome, ...(note ? { note } : {}) } });
  }

  /** A text message to the visitor (`POST /api/message`, seed 002's body). */
  async say(chatId: string, text: string, name: string): Promise<string> {
    const body = { cid: this.cid, type: 'text', from: { id: this.uid, name, role: 'staff' }, chat: { id: chatId }, text };
    return (await this.#req<{ mid: string }>('POST', '/api/message', { body })).mid;
  }
}
