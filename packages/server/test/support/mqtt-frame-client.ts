/**
 * A raw MQTT test client (mqtt.js, MQTT 3.1.1) on the user's frames topic, with the interface
 * of `WsClient` (frames, send, next, count, messages, say, close, closed): it publishes client
 * frames on `<user>/frames` and records the server frames published there — Careline's frames
 * exactly as on the WebSocket. The server's close (`{type: "close", code, reason}`) resolves
 * `closed`; a connection that ends without one resolves it with 1006.
 */
import mqtt, { type MqttClient } from 'mqtt';
import { FrameClient, type Frame } from './frame-client.ts';

export class MqttFrameClient extends FrameClient {
  readonly client: MqttClient;
  readonly topic: string;
  readonly closed: Promise<{ code: number; reason: string }>;
  #close!: (c: { code: number; reason: string }) => void;
  #said: { code: number; reason: string } | null = null;

  private constructor(client: MqttClient, userId: string) {
    super();
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
      this.receive(f);
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

  override send(frame: unknown): void {
    this.client.publish(this.topic, typeof frame === 'string' ? frame : JSON.stringify(frame), { qos: 1 });
  }

  /** Publishes raw bytes on the frames topic; resolves on the PUBACK. */
  publish(payload: string | Buffer): Promise<unknown> {
    return this.client.publishAsync(this.topic, payload, { qos: 1 });
  }

  override close(): void {
    this.client.end(true);
  }
}
