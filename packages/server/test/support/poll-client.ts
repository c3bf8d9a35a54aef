/**
 * A raw long-poll test client with the interface of `WsClient` (frames, send, next, count,
 * messages, say, close): sends frames in POSTs to /api/v2/poll/send (in order, one POST at a
 * time), receives from a loop of GET /api/v2/poll polls from the cursor of each answer.
 */
import { FrameClient, type Frame } from './frame-client.ts';

export class PollClient extends FrameClient {
  readonly closed: Promise<{ code: number; reason: string }>;
  readonly #base: string;
  readonly #token: string;
  readonly #abort = new AbortController();
  #queue: unknown[] = [];
  #posting = false;
  #cursor = '';
  #close!: (c: { code: number; reason: string }) => void;

  private constructor(base: string, token: string) {
    super();
    this.#base = base;
    this.#token = token;
    this.closed = new Promise((r) => (this.#close = r));
  }

  /** Polls once for `hello` (and the cursor), then keeps polling. */
  static async open(baseUrl: string, token: string): Promise<PollClient> {
    const c = new PollClient(baseUrl, token);
    const a = await c.#get('hello=1&timeout=0');
    c.#cursor = a.cursor;
    for (const f of a.frames) if (f.type !== 'sync_done') c.receive(f);
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
        for (const f of a.frames) if (f.type !== 'sync_done') this.receive(f);
        if (a.close) return this.#close(a.close);
      }
    } catch {
      this.#close({ code: 1006, reason: 'closed' });
    }
  }

  override send(frame: unknown): void {
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
      for (const f of body.frames) this.receive(f);
    } catch {
      // Closed.
    } finally {
      this.#posting = false;
    }
    void this.#post();
  }

  override close(): void {
    this.#abort.abort();
  }
}
