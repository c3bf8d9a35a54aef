/**
 * One writer per conversation across the cluster: a send is appended by the node that owns
 * its conversation, and the other nodes forward it there.
 *
 * Appends to one conversation from several nodes take turns on its row lock in PostgreSQL
 * (that lock keeps seqs gap-free), each waiting through the other nodes' commits; and events
 * of one conversation published by several nodes reach the others out of seq order, which
 * clients then hold back for order. With one writer per conversation neither happens.
 *
 * - **The owner**: rendezvous hashing of the conversation over the live nodes
 *   (`NodeLink.nodes()`): each node scores every live node and the highest score owns it, so a
 *   node joining or leaving moves only the conversations it wins or held.
 * - **A forward** goes to the owner over the link (`{t:"a"}`: the message as prepared and
 *   checked here — membership, content, files — with its recipients and the sending
 *   connection); the owner puts it in its own group commit as if it were its own, publishes
 *   its `message.created` (so the sending connection's ack travels with the fan-out, as on one
 *   node) and answers with the append's result (`{t:"r"}`), which settles the send here.
 * - **No answer** within `timeoutMs` (the owner died, the link lost the message or the answer)
 *   or a failed append there: the message is appended here. The client id makes that safe —
 *   if the owner did store it, this append finds it and answers it as a duplicate — so only
 *   sends with a client id are forwarded; the others are appended here, which is correct too
 *   (the row lock), only slower.
 * - **Order**: a node's sends to one conversation keep their order. They go to one owner in
 *   order over one connection; when the owner changes (a node joined or left), later sends to
 *   the conversation wait until the ones on their way to the old owner are settled.
 *
 * Storage stays the truth: nothing here is needed for correctness, only for speed — the
 * append still locks the conversation, so two nodes that disagree about the owner for a while
 * (one has not heard of a new node yet) append correctly, as before.
 */
import type { GroupCommitter } from './committer.ts';
import type { NodeLink } from './ports.ts';
import type { AppendResult, NewMessage } from './types.ts';

/** What the owner needs of a send's commit context. */
export interface AppendCtx {
  recipients: readonly string[];
  origin?: { connection: string; request: string } | undefined;
}

/** A send forwarded to its conversation's owner: the message without `content` (`content_json` is the same). */
interface Forward {
  t: 'a';
  i: number;
  m: Omit<NewMessage, 'content'>;
  r: readonly string[];
  o?: { connection: string; request: string };
}

/** The owner's answer: the append's result, or that it failed (`e`). */
interface Answer {
  t: 'r';
  i: number;
  r?: AppendResult;
  e?: string;
}

interface Waiting {
  resolve: (r: AppendResult | null) => void;
  deadline: number;
}

/** The sends to one conversation on their way: where they went, how many, and the sends waiting for them. */
interface Lane {
  to: string;
  inflight: number;
  waiting: (() => void)[];
}

export interface AppendCounts {
  /** Appended here as the owner (or unforwardable: no client id). */
  here: number;
  /** Sent to another node. */
  forwarded: number;
  /** Appended here for another node. */
  received: number;
  /** Forwarded, not answered in time or failed there, and appended here. */
  fallback: number;
}

export interface AppendRouterOptions<C extends AppendCtx> {
  link: NodeLink;
  committer: GroupCommitter<C>;
  /** How long a forward waits for the owner's answer before appending here. */
  timeoutMs: number;
  /** A forwarded send could not be read, or a message on the link was not one of ours. */
  onError?: (err: unknown) => void;
}

export class AppendRouter<C extends AppendCtx> {
  readonly #link: NodeLink;
  readonly #committer: GroupCommitter<C>;
  readonly #timeoutMs: number;
  readonly #onError: (err: unknown) => void;
  readonly #waiting = new Map<number, Waiting>();
  readonly #lanes = new Map<string, Lane>();
  readonly #sweep: NodeJS.Timeout;
  readonly #off: () => void;
  #next = 0;
  #closed = false;
  /** Resolves `close()` once no send is on its way. */
  #idle: (() => void) | null = null;
  /** The live nodes' hashes, for the list `#nodes` was (`nodes()` returns a new array only when it changes). */
  #nodes: readonly string[] = [];
  #hashes: number[] = [];
  readonly counts: AppendCounts = { here: 0, forwarded: 0, received: 0, fallback: 0 };

  constructor(o: AppendRouterOptions<C>) {
    this.#link = o.link;
    this.#committer = o.committer;
    this.#timeoutMs = o.timeoutMs;
    this.#onError = o.onError ?? (() => {});
    this.#off = o.link.onMessage((from, m) => this.#received(from, m));
    // Forwards not answered in time: checked a few times per timeout, oldest first.
    this.#sweep = setInterval(() => this.#expire(), Math.max(1, Math.min(250, this.#timeoutMs / 4)));
    this.#sweep.unref();
  }

  /** The node that appends to this conversation. */
  owner(tenantId: string, conversationId: string): string {
    const nodes = this.#link.nodes();
    if (nodes.length === 1) return nodes[0]!;
    if (nodes !== this.#nodes) {
      this.#nodes = nodes;
      this.#hashes = nodes.map((n) => hash32(n, 0x811c9dc5));
    }
    const h = hash32(conversationId, hash32(tenantId, 0x811c9dc5));
    let best = 0;
    let bestScore = -1;
    for (let i = 0; i < nodes.length; i++) {
      const score = mix32(h ^ this.#hashes[i]!);
      if (score > bestScore) {
        bestScore = score;
        best = i;
      }
    }
    return nodes[best]!;
  }

  /** Appends `msg` on its conversation's owner (this node or another); resolves with the append's result. */
  write(msg: NewMessage, ctx: C): Promise<AppendResult> {
    if (msg.client_id === null || this.#closed) {
      this.counts.here++;
      return this.#committer.write(msg, ctx);
    }
    const key = `${msg.tenant_id}\u0000${msg.conversation_id}`;
    const to = this.owner(msg.tenant_id, msg.conversation_id);
    const lane = this.#lanes.get(key);
    if (lane && (lane.to !== to || lane.waiting.length)) {
      // The owner changed while sends were on their way to the old one: after them.
      return new Promise((resolve, reject) => lane.waiting.push(() => this.write(msg, ctx).then(resolve, reject)));
    }
    const l = lane ?? { to, inflight: 0, waiting: [] };
    if (!lane) this.#lanes.set(key, l);
    l.inflight++;
    const done = () => {
      if (--l.inflight > 0) return;
      this.#lanes.delete(key);
      for (const w of l.waiting) w();
      if (this.#lanes.size === 0) this.#idle?.();
    };
    const written = to === this.#link.nodeId ? this.#here(msg, ctx) : this.#forward(to, msg, ctx);
    written.then(done, done);
    return written;
  }

  /**
   * Stops forwarding: sends on their way to other nodes are appended here instead (a copy an
   * owner stored is found by its client id), later sends too. Resolves when every send is
   * settled or queued in this node's committer, which the caller drains next.
   */
  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#sweep);
    this.#off();
    for (const [id, w] of this.#waiting) {
      this.#waiting.delete(id);
      w.resolve(null);
    }
    if (this.#lanes.size) await new Promise<void>((r) => (this.#idle = r));
  }

  #here(msg: NewMessage, ctx: C): Promise<AppendResult> {
    this.counts.here++;
    return this.#committer.write(msg, ctx);
  }

  #forward(to: string, msg: NewMessage, ctx: C): Promise<AppendResult> {
    this.counts.forwarded++;
    const i = ++this.#next;
    const { content: _content, ...m } = msg;
    const f: Forward = { t: 'a', i, m, r: ctx.recipients, ...(ctx.origin ? { o: ctx.origin } : {}) };
    const answered = new Promise<AppendResult | null>((resolve) => this.#waiting.set(i, { resolve, deadline: performance.now() + this.#timeoutMs }));
    this.#link.send(to, f);
    return answered.then((r) => {
      if (r) return r;
      // Not answered, or failed there: here (a copy the owner stored is found by its client id).
      this.counts.fallback++;
      return this.#committer.write(msg, ctx);
    });
  }

  #expire(): void {
    const now = performance.now();
    for (const [id, w] of this.#waiting) {
      if (w.deadline > now) break;
      this.#waiting.delete(id);
      w.resolve(null);
    }
  }

  #received(from: string, raw: unknown): void {
    const m = raw as Forward | Answer;
    if (m?.t === 'r') {
      const w = this.#waiting.get(m.i);
      if (!w) return; // answered after its timeout: the send went on here
      this.#waiting.delete(m.i);
      w.resolve(m.r ?? null);
      return;
    }
    if (m?.t !== 'a') {
      this.#onError(new Error(`appends: an unknown message from node ${from}`));
      return;
    }
    let msg: NewMessage;
    try {
      msg = { ...m.m, content: JSON.parse(m.m.content_json) as Record<string, unknown> };
    } catch (err) {
      this.#onError(new Error(`appends: an unreadable send from node ${from}`, { cause: err }));
      return;
    }
    this.counts.received++;
    const ctx = { recipients: m.r, ...(m.o ? { origin: m.o } : {}) } as C;
    this.#committer.write(msg, ctx).then(
      (r) => this.#link.send(from, { t: 'r', i: m.i, r } satisfies Answer),
      (err: unknown) => this.#link.send(from, { t: 'r', i: m.i, e: String((err as { code?: string })?.code ?? err) } satisfies Answer),
    );
  }
}

/** FNV-1a over the string's UTF-16 code units, from `seed`. */
function hash32(s: string, seed: number): number {
  let h = seed;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** MurmurHash3's finaliser: every input bit moves about half the output bits. */
function mix32(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}
