/** A raw WebSocket test client (the `ws` library): records frames, waits for the ones a test expects. */
import WebSocket from 'ws';

export type Frame = { type: string; [k: string]: any };

export class WsClient {
  readonly ws: WebSocket;
  readonly frames: Frame[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  #waiters: { pred: (f: Frame) => boolean; resolve: (f: Frame) => void; from: number }[] = [];
  #seen = 0;

  private constructor(ws: WebSocket) {
    this.ws = ws;
    this.closed = new Promise((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
    ws.on('message', (data) => {
      const f = JSON.parse(data.toString()) as Frame;
      this.frames.push(f);
      this.#waiters = this.#waiters.filter((w) => {
        if (!w.pred(f)) return true;
        w.resolve(f);
        return false;
      });
    });
    ws.on('error', () => {});
  }

  static async connect(url: string, token: string | null, opts: { sync?: boolean } = {}): Promise<WsClient> {
    const q = new URLSearchParams();
    if (token !== null) q.set('token', token);
    if (opts.sync) q.set('sync', '1');
    const ws = new WebSocket(`${url}?${q}`);
    const c = new WsClient(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return c;
  }

  /** Connects and waits for `hello`. */
  static async open(url: string, token: string, opts: { sync?: boolean } = {}): Promise<WsClient> {
    const c = await WsClient.connect(url, token, opts);
    await c.next((f) => f.type === 'hello');
    return c;
  }

  send(frame: unknown): void {
    this.ws.send(JSON.stringify(frame));
  }

  /** The first frame (already received or coming) matching `pred`, searching from the start. */
  next(pred: (f: Frame) => boolean, timeoutMs = 5000): Promise<Frame> {
    const found = this.frames.find(pred);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for a frame; got: ${JSON.stringify(this.frames.slice(-5))}`)), timeoutMs);
      this.#waiters.push({ pred, from: this.frames.length, resolve: (f) => (clearTimeout(timer), resolve(f)) });
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
    this.ws.close();
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
