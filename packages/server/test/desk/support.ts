/** Helpers of the front-desk tests: a widget key, visitors made with it, seed 002 calls. */
import type { TestServer } from '../support/server.ts';

export interface DeskVisitor {
  uid: string;
  token: string;
  init: any;
}

/** Any server of the tests' shape: a call with JSON in and out. */
export type Caller = Pick<TestServer, 'call'>;

export async function widgetKey(s: Caller, body: Record<string, unknown> = { name: 'website' }): Promise<string> {
  const r = await s.call('POST', '/api/desk/widget-keys', { body });
  if (r.status !== 200) throw new Error(`widget key: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body.key as string;
}

/** A new visitor through state init with the widget key. */
export async function visitor(s: Caller, key: string, fp = `fp-${Math.random().toString(36).slice(2)}`, headers: Record<string, string> = {}): Promise<DeskVisitor> {
  const r = await s.call('GET', `/api/state/init?fp=${encodeURIComponent(fp)}`, { apiKey: null, headers: { 'x-desk-key': key, ...headers } });
  if (r.status !== 200) throw new Error(`state init: ${r.status} ${JSON.stringify(r.body)}`);
  return { uid: r.body.uid, token: r.body.token, init: r.body };
}

export function seedText(cid: string, from: { id: string; role: 'user' | 'staff'; name?: string }, chatId: string, text: string) {
  return { cid, type: 'text', from: { name: '', ...from }, chat: { id: chatId }, text };
}

export async function requestChat(s: Caller, cid: string, v: DeskVisitor, extra: Record<string, unknown> = {}): Promise<{ chatId: string; mid: string }> {
  const r = await s.call('POST', '/api/message', {
    token: v.token, body: { cid, type: 'request_chat', from: { id: v.uid, name: '', role: 'user' }, event: { uids: [v.uid], ...extra } },
  });
  if (r.status !== 200) throw new Error(`request_chat: ${r.status} ${JSON.stringify(r.body)}`);
  return { chatId: r.body.chat.id, mid: r.body.mid };
}

/** Pulls until `pred` holds for the data gathered (bounded: `tries` pulls). */
export async function pullUntil(s: Caller, token: string, pred: (data: any[]) => boolean, opts: { version?: string; tries?: number } = {}): Promise<any[]> {
  const data: any[] = [];
  let cursor: string | undefined;
  let version = opts.version;
  for (let i = 0; i < (opts.tries ?? 10); i++) {
    const q = new URLSearchParams({ timeout: '1500', ...(cursor ? { cursor } : {}), ...(version ? { version } : {}) });
    const r = await s.call('GET', `/pull?${q}`, { token });
    if (r.status !== 200) throw new Error(`pull: ${r.status} ${JSON.stringify(r.body)}`);
    cursor = r.body.cursor;
    if (version !== undefined) version = r.body.version ?? version;
    data.push(...r.body.data);
    if (pred(data)) return data;
  }
  throw new Error(`pull: not seen in ${opts.tries ?? 10} pulls: ${JSON.stringify(data).slice(0, 2000)}`);
}
