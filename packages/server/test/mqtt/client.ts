/** An MQTT test client (mqtt.js, MQTT 3.1.1 or 5): records what arrives on the account topic, waits for what a test expects. */
import mqtt, { type MqttClient } from 'mqtt';

export type Payload = { [k: string]: any };

export class MqttTestClient {
  readonly client: MqttClient;
  readonly got: Payload[] = [];

  private constructor(client: MqttClient) {
    this.client = client;
    client.on('message', (_topic, payload) => {
      this.got.push(JSON.parse(payload.toString('utf8')) as Payload);
    });
    client.on('error', () => {});
  }

  /** Connects with the user token as the password (no reconnect: a test reconnects by itself). */
  static async connect(port: number | string, userId: string, token: string, opts: { clientId?: string; subscribe?: boolean; protocolVersion?: 4 | 5 } = {}): Promise<MqttTestClient> {
    // A port: MQTT over TCP; a ws:// URL: MQTT over WebSocket.
    const client = await mqtt.connectAsync(typeof port === 'number' ? `mqtt://127.0.0.1:${port}` : port, {
      username: userId, password: token, protocolVersion: opts.protocolVersion ?? 4, reconnectPeriod: 0, connectTimeout: 5000,
      ...(opts.clientId ? { clientId: opts.clientId } : {}),
    });
    const c = new MqttTestClient(client);
    if (opts.subscribe !== false) await client.subscribeAsync(userId, { qos: 1 });
    return c;
  }

  /** Publishes an envelope on the send topic; resolves on its PUBACK. */
  send(userId: string, envelope: unknown): Promise<unknown> {
    return this.client.publishAsync(`${userId}/send`, typeof envelope === 'string' ? envelope : JSON.stringify(envelope), { qos: 1 });
  }

  sync(userId: string, body: unknown): Promise<unknown> {
    return this.client.publishAsync(`${userId}/sync`, JSON.stringify(body), { qos: 1 });
  }

  /** Waits until `n` payloads match `pred`. */
  async count(pred: (p: Payload) => boolean, n: number, timeoutMs = 5000): Promise<Payload[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const got = this.got.filter(pred);
      if (got.length >= n) return got;
      if (Date.now() > deadline) throw new Error(`expected ${n} payloads, got ${got.length}; last: ${JSON.stringify(this.got.slice(-3))}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  async next(pred: (p: Payload) => boolean, timeoutMs = 5000): Promise<Payload> {
    return (await this.count(pred, 1, timeoutMs))[0]!;
  }

  envelopes(): Payload[] {
    return this.got.filter((p) => typeof p.from === 'string');
  }

  async end(): Promise<void> {
    await this.client.endAsync(true);
  }
}
