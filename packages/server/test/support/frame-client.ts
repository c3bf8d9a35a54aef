/**
 * What every raw test client shares, whatever carries its frames (WebSocket, long-poll, MQTT):
 * the frames received in order, waiting for the ones a test expects, counting, the messages
 * of a conversation, and sending a text message to wait for its ack. A carrier's client hands
 * each frame it receives to `receive` and implements `send` and `close`.
 */
export type Frame = { type: string; [k: string]: any };

/** The carriers a frame client can use. */
export type Carrier = 'websocket' | 'longpoll' | 'mqtt';
export const CARRIERS: readonly Carrier[] = ['websocket', 'longpoll', 'mqtt'];

export class FrameClient {
  readonly frames: Frame[] = [];
  #waiters: { pred: (f: Frame) => boolean; resolve: (f: Frame) => void }[] = [];

  /** Records a frame from the server and wakes the waiters it satisfies. */
  protected receive(f: Frame): void {
    this.frames.push(f);
    this.#waiters = this.#waiters.filter((w) => {
      if (!w.pred(f)) return true;
      w.resolve(f);
      return false;
    });
  }

  send(_frame: unknown): void {
    throw new Error('a frame client of a carrier implements send');
  }

  close(): void {
    throw new Error('a frame client of a carrier implements close');
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

  /** Sends a text message and waits for its ack (or error). */
  async say(conversationId: string, text: string, clientId = `c-${Math.random().toString(36).slice(2)}`): Promise<Frame> {
    const id = `r-${Math.random().toString(36).slice(2)}`;
    this.send({ type: 'send', id, conversation_id: conversationId, message: { client_id: clientId, type: 1, content: { text } } });
    return this.next((f) => (f.type === 'ack' || f.type === 'error') && f.id === id);
  }
}
