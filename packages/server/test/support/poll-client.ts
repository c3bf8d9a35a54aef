/**
 * A raw long-poll test client with the interface of `WsClient` (frames, send, next, count,
 * messages, say, close): sends frames in POSTs to /api/v2/poll/send (in order, one POST at a
 * time), receives from a loop of GET /api/v2/poll polls from the cursor of each answer.
 */
import type { Frame } from './ws-client.ts';

export class PollClient {
  readonly frames: Frame[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  readonly #base: string;
  readonly #token: string;
  readonly #abort = new AbortController();
  #waiters: { pred: (f: Frame) => boolean; resolve: (f: Frame) => void }[] = [];
  #queue: unknown[] = [];
  #posting = false;
  #cursor = '';
  #close!: (c: { code: number; reason: string }) => void;

  private constructor(base: string, token: string) {
    this.#base = base;
    this.#token = token;
    this.closed = new Promise((r) => (this.#close = r));
  }

  /** Polls once for `hello` (and the cursor), then keeps polling. */
  static async open(baseUrl: string, token: string): Promise<PollClient> {
    const c = new PollClient(baseUrl, token);
    const a = await c.#get('hello=1&timeout=0');
    c.#cursor = a.cursor;
    for (const f of a.frames) if (f.type !== 'sync_done') c.#push(f);
    void c.#loop();
    return c;
  }

  async #get(q: string): Promise<{ frames: Frame[]; cursor: string; close?: { code: number; reason: string } }> {
    const res = await fetch(`${this.#base}/api/v2/poll?${q}`, { headers: { authorization: `Bearer ${this.#token}` }, signal: this.#abort.signal });
    if (!res.ok) throw new Error(`poll: ${res.status} ${await res.text()}`);
    return (await res.json()) as { frames: Frame[]; cursor: string };
  }

  async #loop(): Promise<void> {
    try {
      for (;;) {
        const a = await this.#get(`cursor=${this.#cursor}`);
        this.#cursor = a.cursor;
        for (const f of a.frames) if (f.type !== 'sync_done') this.#push(f);
        if (a.close) return this.#close(a.close);
      }
    } catch {
      this.#close({ code: 1006, reason: 'closed' });
    }
  }

  #push(f: Frame): void {
    this.frames.push(f);
    this.#waiters = this.#waiters.filter((w) => {
      if (!w.pred(f)) return true;
      w.resolve(f);
      return false;
    });
  }

  send(frame: unknown): void {
    this.#queue.push(frame);
    void this.#post();
  }

  async #post(): Promise<void> {
    if (this.#posting || this.#queue.length === 0) return;
    this.#posting = true;
    const frames = this.#queue.splice(0, 100);
    try {
      const res = await fetch(`${this.#base}/api/v2/poll/send`, {
        method: 'POST', headers: { authorization: `Bearer ${this.#token}`, 'content-type': 'application/json' },
        body: JSON.stringify(frames), signal: this.#abort.signal,
      });
      const body = (await res.json()) as { frames: Frame[] };
      for (const f of body.frames) this.#push(f);
    } catch {
      // Closed.
    } finally {
      this.#posting = false;
    }
    void this.#post();
  }

  /** The first frame (already received or coming) matching `pred`, searching from the start. */
  next(pred: (f: Frame) => boolean, timeoutMs = 5000): Promise<Frame> {
    const found = this.frames.find(pred);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for a frame; got: ${JSON.stringify(this.frames.slice(-5))}`)), timeoutMs);
      this.#waiters.push({ pred, resolve: (f) => (clearTimeout(timer), resolve(f)) });
    });
  }

  /** Waits until `n` frames match `pred`; returns them in arrival order. */
  async count(pred: (f: Frame) => boolean, n: number, timeoutMs = 5000): Promise<Frame[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const got = this.frames.filter(pred);
      if (got.length >= n) return got;
      if (Date.now() > deadline) throw new Error(`expected ${n} frames, got ${got.length}: ${JSON.stringify(got.slice(-3))}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  messages(conversationId?: string): Frame[] {
    return this.frames.filter((f) => f.type === 'message' && (conversationId === undefined || f.message.conversation_id === conversationId)).map((f) => f.message);
  }

  /** Sends a text message and waits for its ack. */
  async say(conversationId: string, text: string, clientId = `c-${Math.random().toString(36).slice(2)}`): Promise<Frame> {
    const id = `r-${Math.random().toString(36).slice(2)}`;
    this.send({ type: 'send', id, conversation_id: conversationId, message: { client_id: clientId, type: 1, content: { text } } });
    return this.next((f) => (f.type === 'ack' || f.type === 'error') && f.id === id);
  }

  close(): void {
    this.#abort.abort();
  }
}
