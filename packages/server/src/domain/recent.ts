/**
 * The newest messages of the conversations read lately, kept per node, so that the most common
 * history read — a conversation's latest page, as an app opening a conversation asks for it, or
 * a page after a cursor near the head — is answered without a storage read.
 *
 * An entry is a run of a conversation's newest messages with no gap (seqs have none: a message
 * is never deleted, a recall keeps its seq): the rows of the second latest page of the
 * conversation read within `ttlMs` (`admit`: a conversation read once costs no more than
 * before), then extended by every `message.created` event for the conversation — this node's
 * own commits and, through the bus, every other node's — and trimmed at its oldest end. A
 * request is answered from an entry only if the entry holds every seq the request covers;
 * otherwise from storage, as before.
 *
 * What drops an entry: an event that does not follow its newest seq (a gap: an event missed or
 * out of order), a recall's notice (the recalled message changed in place), the bus coming back
 * after a loss (`clear()`), and age: an entry is loaded again `ttlMs` after its load began, so a
 * change that sends no event (file retention's tombstones) or an event a node died before
 * publishing is served for at most that long — the same bound as the member directory's. A load
 * that an event for its conversation overtook is not kept (it may predate the event).
 *
 * Each message is held as its JSON text (what the REST answer and the catch-up send; `page`
 * parses it for the callers that want objects). Bounded by the bytes of the texts held; the
 * conversations read least recently go first.
 */
import { MessageTypes } from '@careline/protocol/constants';
import { conversationKey, setNewest } from './bounded.ts';
import type { HistoryQuery, Message, MessageText } from './types.ts';

export interface RecentOptions {
  /** Most bytes of messages held, all conversations together (0: nothing is kept). */
  maxBytes: number;
  /** Most messages kept per conversation (its newest). */
  perConversation?: number;
  /** An entry is loaded again once this old (ms, from the start of its load). */
  ttlMs: number;
  now?: () => number;
}

/** Messages kept per conversation by default: a latest page of the default size many times over, and pages after cursors near the head. */
export const RECENT_PER_CONVERSATION = 256;
/** Conversations remembered as read once (`admit`): about 100 bytes each. */
const SEEN_MAX = 20_000;
/** What a message costs besides its text's characters: the text's header, its id, three array slots. */
const MESSAGE_OVERHEAD = 80;

/** A load in flight (`begin`): when it began. */
export interface LoadSlot {
  readonly at: number;
}

interface Entry {
  /**
   * The messages as JSON text, ascending and gap-free: `texts[i]` is seq `first + i`. Text is
   * what most pages are sent as, and it is smaller than the message's object.
   */
  texts: string[];
  /** The id of each, in the same order (to tell an event delivered twice). */
  ids: string[];
  /** `sizeOf` each of `texts`, in the same order (what trimming the oldest gives back). */
  sizes: number[];
  /** The conversation's newest seq as this node knows it (0: no message yet). */
  head: number;
  bytes: number;
  /** When its load began (what it holds is at least that fresh). */
  at: number;
}

/** An event's message as JSON text: the `Message` schema's fields, in its order (`created` copies them so). */
const textOf = (m: Message) => JSON.stringify(m);
/**
 * `s` as one run of characters. A text made by joining pieces (`messageJson`) is a tree of
 * them in V8 until something reads it whole; converting it to a number does, in place. Kept
 * for long, it is then one object for the collector to trace, not one per piece, and joining
 * it into a page is a copy, not a walk of the tree.
 */
const flat = (s: string): string => (Number(s) === 0 ? s : s);
/** A message's bytes in the bound: its text, and what holding it costs. */
const sizeOf = (text: string) => MESSAGE_OVERHEAD + text.length;

/** The notice a recall appends: the message it names changed in place. */
const isRecallNotice = (m: Message) =>
  m.type === MessageTypes.SYSTEM && m.content !== null && (m.content as { event?: unknown }).event === 'message.recalled';

export class RecentMessages {
  readonly #maxBytes: number;
  readonly #per: number;
  readonly #ttlMs: number;
  readonly #now: () => number;
  readonly #entries = new Map<string, Entry>();
  /** Loads in flight, by conversation: a load keeps its result only if its slot is still here. */
  readonly #loading = new Map<string, LoadSlot>();
  #bytes = 0;
  /** The conversation whose copy the last `page` call found expired but covering, and its length (`wasKept`). */
  #expired: { key: string; length: number } | null = null;
  /** Conversations whose latest page missed once lately, and when (`admit`). */
  readonly #seen = new Map<string, number>();
  /** Reads answered from memory, and reads that went to storage (for the metrics and tests). */
  hits = 0;
  misses = 0;

  constructor(o: RecentOptions) {
    this.#maxBytes = Math.max(0, o.maxBytes);
    this.#per = Math.max(1, o.perConversation ?? RECENT_PER_CONVERSATION);
    this.#ttlMs = o.ttlMs;
    this.#now = o.now ?? Date.now;
  }

  get enabled(): boolean {
    return this.#maxBytes > 0;
  }

  /** Most messages kept per conversation (a copy grows to it as messages are committed). */
  get perConversation(): number {
    return this.#per;
  }

  /** Bytes held now (an estimate: see `sizeOf`). */
  get bytes(): number {
    return this.#bytes;
  }

  /**
   * The messages `q` asks for, ascending — exactly what `MessageStore.history` would return —
   * or null if this node does not hold all of them. A null for a copy that would have answered
   * but had expired is remembered: `wasKept` then says to load the conversation again.
   */
  page(tenantId: string, conversationId: string, q: HistoryQuery): Message[] | null {
    return this.pageText(tenantId, conversationId, q)?.map((m) => JSON.parse(m.json) as Message) ?? null;
  }

  /** What `page` answers, as JSON text (`MessageStore.historyText`'s answer): each message's text is made once, when it is kept. */
  pageText(tenantId: string, conversationId: string, q: HistoryQuery): MessageText[] | null {
    const r = this.#range(tenantId, conversationId, q);
    if (r === null) return null;
    const out: MessageText[] = [];
    for (let seq = r.from; seq <= r.to; seq++) out.push({ seq, id: r.e.ids[seq - r.first]!, json: r.e.texts[seq - r.first]! });
    return out;
  }

  /** The seqs [from, to] of the entry that `q` asks for (none when to < from), or null if the entry does not hold them all. */
  #range(tenantId: string, conversationId: string, q: HistoryQuery): { e: Entry; first: number; from: number; to: number } | null {
    const key = conversationKey(tenantId, conversationId);
    this.#expired = null;
    const e = this.#entries.get(key);
    if (!e) {
      this.misses++;
      return null;
    }
    const first = e.head - e.texts.length + 1;
    let from: number;
    let to: number;
    if (q.after !== undefined) {
      from = q.after + 1;
      to = Math.min(q.after + q.limit, e.head, q.before !== undefined ? q.before - 1 : Infinity);
    } else {
      to = Math.min(e.head, q.before !== undefined ? q.before - 1 : Infinity);
      from = Math.max(1, to - q.limit + 1);
    }
    const covers = from >= first && q.limit >= 1;
    if (this.#now() - e.at >= this.#ttlMs) {
      this.#drop(key, e);
      if (covers) this.#expired = { key, length: e.texts.length };
      this.misses++;
      return null;
    }
    if (!covers) {
      this.misses++;
      return null;
    }
    this.hits++;
    // Read lately: the last to go.
    setNewest(this.#entries, key, e, Infinity);
    return { e, first, from, to };
  }

  /**
   * How many messages the copy held if the last `page` call missed on this conversation only
   * because its copy had expired (a page the copy held, of a conversation read lately: worth
   * loading again, as many); else 0. Asked once.
   */
  wasKept(tenantId: string, conversationId: string): number {
    const key = conversationKey(tenantId, conversationId);
    const was = this.#expired?.key === key ? this.#expired.length : 0;
    this.#expired = null;
    return was;
  }

  /**
   * Whether a latest page of this conversation that missed should load a copy: yes for the
   * second such read within `ttlMs`, so that a conversation read once costs no more than a
   * storage read (its rows are not measured and kept for nothing).
   */
  admit(tenantId: string, conversationId: string): boolean {
    const key = conversationKey(tenantId, conversationId);
    const now = this.#now();
    const seen = this.#seen.get(key);
    if (seen !== undefined && now - seen < this.#ttlMs) {
      this.#seen.delete(key);
      return true;
    }
    setNewest(this.#seen, key, now, SEEN_MAX);
    return false;
  }

  /** Begins a load of the conversation's newest messages (before reading them): pass the slot to `store`. */
  begin(tenantId: string, conversationId: string): LoadSlot {
    const slot = { at: this.#now() };
    this.#loading.set(conversationKey(tenantId, conversationId), slot);
    return slot;
  }

  /**
   * Keeps `newest` — the conversation's newest `asked` messages at most, ascending, read from
   * storage after `begin` gave `slot` — unless an event for the conversation came meanwhile,
   * or the rows are not what a latest page is (a gap, or fewer than asked without seq 1).
   */
  store(tenantId: string, conversationId: string, slot: LoadSlot, newest: readonly MessageText[], asked: number): void {
    const key = conversationKey(tenantId, conversationId);
    if (this.#loading.get(key) !== slot) return;
    this.#loading.delete(key);
    if (!this.enabled) return;
    const n = newest.length;
    if (n > 0) {
      for (let i = 1; i < n; i++) if (newest[i]!.seq !== newest[0]!.seq + i) return;
      if (n < asked && newest[0]!.seq !== 1) return;
    }
    const kept = n > this.#per ? newest.slice(n - this.#per) : newest;
    const texts = kept.map((m) => flat(m.json));
    const ids = kept.map((m) => m.id);
    const sizes = texts.map(sizeOf);
    let bytes = 0;
    for (const size of sizes) bytes += size;
    const old = this.#entries.get(key);
    if (old) this.#drop(key, old);
    const e: Entry = { texts, ids, sizes, head: n > 0 ? newest[n - 1]!.seq : 0, bytes, at: slot.at };
    this.#entries.set(key, e);
    this.#bytes += bytes;
    this.#evict();
  }

  /** A message was committed (here or on another node): the conversation's entry grows, or goes. */
  created(tenantId: string, m: Message): void {
    // On every commit's path: nothing to do while no conversation is kept or loading.
    if (this.#entries.size === 0 && this.#loading.size === 0) return;
    const key = conversationKey(tenantId, m.conversation_id);
    this.#loading.delete(key);
    const e = this.#entries.get(key);
    if (!e) return;
    if (m.seq === e.head + 1 && !isRecallNotice(m)) {
      const kept: Message = {
        id: m.id, conversation_id: m.conversation_id, seq: m.seq, sender_id: m.sender_id, type: m.type, content: m.content,
        client_id: m.client_id, created_at: m.created_at, recalled_at: m.recalled_at, forward: m.forward,
      };
      const text = textOf(kept);
      const size = sizeOf(text);
      e.texts.push(text);
      e.ids.push(m.id);
      e.sizes.push(size);
      e.head = m.seq;
      e.bytes += size;
      this.#bytes += size;
      while (e.texts.length > this.#per) {
        e.texts.shift();
        e.ids.shift();
        const gone = e.sizes.shift()!;
        e.bytes -= gone;
        this.#bytes -= gone;
      }
      this.#evict();
      return;
    }
    // The same message again (an event delivered twice) changes nothing; anything else does.
    const first = e.head - e.texts.length + 1;
    if (m.seq <= e.head && m.seq >= first && e.ids[m.seq - first] === m.id && !isRecallNotice(m)) return;
    this.#drop(key, e);
  }

  /** Drops everything (events may have been missed: the bus resumed after a loss). */
  clear(): void {
    this.#entries.clear();
    this.#loading.clear();
    this.#seen.clear();
    this.#bytes = 0;
  }

  #drop(key: string, e: Entry): void {
    if (this.#entries.get(key) !== e) return;
    this.#entries.delete(key);
    this.#bytes -= e.bytes;
  }

  #evict(): void {
    for (const [key, e] of this.#entries) {
      if (this.#bytes <= this.#maxBytes) return;
      this.#drop(key, e);
    }
  }
}
