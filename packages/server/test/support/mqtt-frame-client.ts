/**
 * A raw MQTT test client (mqtt.js, MQTT 3.1.1) on the user's frames topic, with the interface
 * of `WsClient` (frames, send, next, count, messages, say, close, closed): it publishes client
 * frames on `<user>/frames` and records the server frames published there — Careline's frames
 * exactly as on the WebSocket. The server's close (`{type: "close", code, reason}`) resolves
 * `closed`; a connection that ends without one resolves it with 1006.
 */
import mqtt, { type MqttClient } from 'mqtt';
import type { Frame } from './ws-client.ts';

export class MqttFrameClient {
  readonly client: MqttClient;
  readonly topic: string;
  readonly frames: Frame[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  #waiters: { pred: (f: Frame) => boolean; resolve: (f: Frame) => void }[] = [];
  #close!: (c: { code: number; reason: string }) => void;
  #said: { code: number; reason: string } | null = null;

  private constructor(client: MqttClient, userId: string) {
    this.client = client;
    this.topic = `${userId}/frames`;
    this.closed = new Promise((r) => (this.#close = r));
    client.on('message', (topic, payload) => {
      if (topic !== this.topic) return;
      const f = JSON.parse(payload.toString('utf8')) as Frame;
      if (f.type === 'close') {
        this.#said = { code: f.code as number, reason: String(f.reason ?? '') };
        return;
      }
      this.frames.push(f);
      this.#waiters = this.#waiters.filter((w) => {
        if (!w.pred(f)) return true;
        w.resolve(f);
        return false;
      });
    });
    client.on('close', () => this.#close(this.#said ?? { code: 1006, reason: '' }));
    client.on('error', () => {});
  }

  /** The user id a Careline token is for (its `sub`): the account of the topics. */
  static userOf(token: string): string {
    return JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')).sub as string;
  }

  /**
   * Connects to `url` (`mqtt://127.0.0.1:port` or `ws://host/mqtt`) with the token as the
   * password, subscribes to the frames topic and waits for `hello`. The frames topic holds live
   * frames until the client's first sync (as a WebSocket with `?sync=1`): unless `sync` is
   * false (the test sends its own), an empty one (`cursors: {}`: nothing to catch up) goes
   * first and its `sync_done` is awaited, so live frames flow from then on.
   */
  static async open(url: string, token: string, opts: { sync?: boolean } = {}): Promise<MqttFrameClient> {
    const userId = MqttFrameClient.userOf(token);
    const client = await mqtt.connectAsync(url, { username: userId, password: token, protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 10_000 });
    const c = new MqttFrameClient(client, userId);
    await client.subscribeAsync(c.topic, { qos: 1 });
    await c.next((f) => f.type === 'hello', 10_000);
    if (opts.sync !== false) {
      c.send({ type: 'sync', id: 'open', cursors: {} });
      await c.next((f) => f.type === 'sync_done' && f.id === 'open', 10_000);
    }
    return c;
  }

  send(frame: unknown): void {
    this.client.publish(this.topic, typeof frame === 'string' ? frame : JSON.stringify(frame), { qos: 1 });
  }

  /** Publishes raw bytes on the frames topic; resolves on the PUBACK. */
  publish(payload: string | Buffer): Promise<unknown> {
    return this.client.publishAsync(this.topic, payload, { qos: 1 });
  }

  next(pred: (f: Frame) => boolean, timeoutMs = 5000): Promise<Frame> {
    const found = this.frames.find(pred);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for a frame; got: ${JSON.stringify(this.frames.slice(-5))}`)), timeoutMs);
      this.#waiters.push({ pred, resolve: (f) => (clearTimeout(timer), resolve(f)) });
    });
  }

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

  async say(conversationId: string, text: string, clientId = `c-${Math.random().toString(36).slice(2)}`): Promise<Frame> {
    const id = `r-${Math.random().toString(36).slice(2)}`;
    this.send({ type: 'send', id, conversation_id: conversationId, message: { client_id: clientId, type: 1, content: { text } } });
    return this.next((f) => (f.type === 'ack' || f.type === 'error') && f.id === id);
  }

  close(): void {
    this.client.end(true);
  }
}
