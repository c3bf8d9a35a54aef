/**
 * In-order, exactly-once delivery per conversation. Messages (from live traffic, catch-up
 * or gap fills) and the client's own acknowledged sends are placed by seq; everything up to
 * the first hole is delivered and moves the cursor. A hole is a gap to be filled.
 */
import type { Message } from '@careline/protocol';

/** Where the cursors live (a `CursorStore`). */
export interface CursorView {
  get(conversationId: string): number | undefined;
  set(conversationId: string, seq: number): void;
}

interface Stream {
  /** seq → message to deliver, or `null` for the client's own acknowledged message. */
  pending: Map<number, Message | null>;
  /** The newest seq known to exist (from messages, acks and `sync_done` heads). */
  head: number;
}

export class Sequencer {
  readonly #cursors: CursorView;
  readonly #deliver: (message: Message) => void;
  readonly #streams = new Map<string, Stream>();

  constructor(cursors: CursorView, deliver: (message: Message) => void) {
    this.#cursors = cursors;
    this.#deliver = deliver;
  }

  /** A message from the server. Returns false if it was a duplicate. */
  message(message: Message): boolean {
    return this.#put(message.conversation_id, message.seq, message);
  }

  /** The client's own message, acknowledged with `seq`: moves the cursor without delivering. */
  own(conversationId: string, seq: number): boolean {
    return this.#put(conversationId, seq, null);
  }

  /** The server reported `lastSeq` as the newest seq of a conversation. */
  expect(conversationId: string, lastSeq: number): void {
    const stream = this.#stream(conversationId);
    if (lastSeq > stream.head) stream.head = lastSeq;
  }

  /** Whether messages are known to be missing after the cursor. */
  hasGap(conversationId: string): boolean {
    const stream = this.#streams.get(conversationId);
    if (!stream) return false;
    const cursor = this.#cursors.get(conversationId) ?? 0;
    return stream.pending.size > 0 || stream.head > cursor;
  }

  /** Every conversation with a gap. */
  gaps(): string[] {
    return [...this.#streams.keys()].filter((id) => this.hasGap(id));
  }

  /** The newest seq known to exist in a conversation (0 if none). */
  target(conversationId: string): number {
    const stream = this.#streams.get(conversationId);
    if (!stream) return 0;
    return Math.max(stream.head, ...stream.pending.keys());
  }

  /** Number of messages held back behind a gap. */
  held(conversationId: string): number {
    return this.#streams.get(conversationId)?.pending.size ?? 0;
  }

  /**
   * Gives up on the missing messages: the cursor jumps to just before the first held message
   * (or to the known head if nothing is held) and delivery resumes. Returns the skipped range.
   */
  skip(conversationId: string): { from: number; to: number } | null {
    const stream = this.#streams.get(conversationId);
    const cursor = this.#cursors.get(conversationId) ?? 0;
    if (!stream || !this.hasGap(conversationId)) return null;
    const to = stream.pending.size ? Math.min(...stream.pending.keys()) - 1 : stream.head;
    this.#cursors.set(conversationId, to);
    this.#drain(conversationId, stream);
    return { from: cursor + 1, to };
  }

  /** Forgets a conversation's held messages (e.g. the user left it). */
  forget(conversationId: string): void {
    this.#streams.delete(conversationId);
  }

  #stream(conversationId: string): Stream {
    let stream = this.#streams.get(conversationId);
    if (!stream) this.#streams.set(conversationId, (stream = { pending: new Map(), head: 0 }));
    return stream;
  }

  #put(conversationId: string, seq: number, item: Message | null): boolean {
    let cursor = this.#cursors.get(conversationId);
    if (cursor === undefined) {
      // First sight of this conversation: what came before is history, not a gap.
      cursor = seq - 1;
      this.#cursors.set(conversationId, cursor);
    }
    const stream = this.#stream(conversationId);
    if (seq <= cursor || stream.pending.has(seq)) return false;
    stream.pending.set(seq, item);
    if (seq > stream.head) stream.head = seq;
    this.#drain(conversationId, stream);
    return true;
  }

  #drain(conversationId: string, stream: Stream): void {
    let cursor = this.#cursors.get(conversationId) ?? 0;
    for (const seq of stream.pending.keys()) if (seq <= cursor) stream.pending.delete(seq);
    while (stream.pending.has(cursor + 1)) {
      const item = stream.pending.get(cursor + 1)!;
      stream.pending.delete(cursor + 1);
      cursor += 1;
      this.#cursors.set(conversationId, cursor);
      if (item) this.#deliver(item);
    }
    if (stream.pending.size === 0 && stream.head <= cursor) this.#streams.delete(conversationId);
  }
}
