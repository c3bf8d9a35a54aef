/**
 * Test harness: a real Careline server (in-process, port 0, SQLite in a temp dir) and SDK
 * clients connected to it over real WebSockets — or over the transport the suite runs on
 * (`transport`: long-polling, or MQTT over WebSocket at `/mqtt`; the server then has its MQTT
 * listener on). Everything started is stopped by `close()`.
 */
import { after, before } from 'node:test';
import { startTestServer, type TestServer } from '@careline/server/testing';
import { CarelineClient, longPollFactory, mqttFactory, mqttUrl, type CarelineClientOptions, type CarelineEvents, type Message, type WebSocketFactory } from '../../src/index.ts';
import { FaultyNetwork } from './faulty-network.ts';

/** The carriers of the protocol: a suite that takes a transport runs once over each. */
export type TransportName = 'websocket' | 'longpoll' | 'mqtt';
export const TRANSPORTS: readonly TransportName[] = ['websocket', 'longpoll', 'mqtt'];

export class Harness {
  readonly server: TestServer;
  /** The transport this harness's clients use unless told otherwise. */
  readonly transport: TransportName;
  readonly #clients: CarelineClient[] = [];

  private constructor(server: TestServer, transport: TransportName) {
    this.server = server;
    this.transport = transport;
  }

  static async start(config?: Record<string, unknown>, opts: { transport?: TransportName } = {}): Promise<Harness> {
    const transport = opts.transport ?? 'websocket';
    const full = transport === 'mqtt' ? { ...config, mqtt: { enabled: true, port: 0, ...(config?.mqtt as object | undefined) } } : config;
    return new Harness(await startTestServer(full ? { config: full } : {}), transport);
  }

  /**
   * One harness for the enclosing `describe`: started before its first test, closed after
   * its last. What it returns stands for that harness (it forwards to it once started).
   */
  static forSuite(config?: Record<string, unknown>, opts: { transport?: TransportName } = {}): Harness {
    let h: Harness | undefined;
    before(async () => {
      h = await Harness.start(config, opts);
    }, { timeout: 60_000 });
    after(async () => {
      await h?.close();
    }, { timeout: 60_000 });
    return new Proxy({} as Harness, {
      get(_target, key) {
        if (!h) throw new Error('the harness is used before its suite started');
        const value = Reflect.get(h, key, h) as unknown;
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(h) : value;
      },
    });
  }

  /**
   * A client for `token` with fast reconnects, on the harness's transport (a client given its
   * own `createWebSocket` — a `network()`'s — uses that); closed by `close()`.
   */
  client(token: string, opts: Partial<CarelineClientOptions> = {}): CarelineClient {
    const transport = opts.createWebSocket === undefined && this.transport !== 'websocket' ? { transport: this.transport } : {};
    const c = new CarelineClient({ url: this.server.url, token, reconnect: { baseMs: 50, maxMs: 400 }, ...transport, ...opts });
    this.#clients.push(c);
    return c;
  }

  /** The sockets of the harness's transport (`undefined`: the global WebSocket). */
  socketFactory(): WebSocketFactory | undefined {
    if (this.transport === 'longpoll') return longPollFactory(this.server.url);
    if (this.transport === 'mqtt') return mqttFactory(mqttUrl(this.server.url), this.server.url);
    return undefined;
  }

  /** A bad network over the harness's transport: give its `factory` as `createWebSocket`. */
  network(): FaultyNetwork {
    return new FaultyNetwork(this.socketFactory());
  }

  /** A patient and a doctor in one p2p conversation. */
  async pair(): Promise<{ patient: { id: string; token: string }; doctor: { id: string; token: string }; conv: string }> {
    const tag = Math.random().toString(36).slice(2, 8);
    const patient = await this.server.user(`patient-${tag}`, 'patient');
    const doctor = await this.server.user(`doctor-${tag}`, 'doctor');
    const conv = await this.server.conversation({ participants: [patient.id, doctor.id] });
    return { patient, doctor, conv };
  }

  async close(): Promise<void> {
    await Promise.allSettled(this.#clients.map((c) => c.close()));
    await this.server.stop();
  }
}

/** Records every `message` event of a client. */
export class Inbox {
  readonly all: Message[] = [];

  constructor(client: CarelineClient) {
    client.on('message', (m) => this.all.push(m));
  }

  of(conversationId: string): Message[] {
    return this.all.filter((m) => m.conversation_id === conversationId);
  }

  texts(conversationId: string): string[] {
    return this.of(conversationId).map((m) => String((m.content as { text?: unknown } | null)?.text));
  }

  /** Waits until `n` messages of a conversation arrived. */
  async wait(conversationId: string, n: number, timeoutMs = 5000): Promise<Message[]> {
    await waitFor(() => this.of(conversationId).length >= n, { timeoutMs, what: () => `${n} messages (got ${this.of(conversationId).length})` });
    return this.of(conversationId);
  }
}

/** Polls `cond` until it is truthy; fails after `timeoutMs`. */
export async function waitFor<T>(cond: () => T | Promise<T>, opts: { timeoutMs?: number; what?: string | (() => string); everyMs?: number } = {}): Promise<NonNullable<T>> {
  const deadline = Date.now() + (opts.timeoutMs ?? 5000);
  for (;;) {
    const v = await cond();
    if (v) return v as NonNullable<T>;
    if (Date.now() > deadline) {
      const what = typeof opts.what === 'function' ? opts.what() : (opts.what ?? 'condition');
      throw new Error(`timed out waiting for ${what}`);
    }
    await sleep(opts.everyMs ?? 10);
  }
}

/** The next event of `type` (matching `pred`), or a timeout error. */
export function nextEvent<K extends keyof CarelineEvents>(
  client: CarelineClient,
  type: K,
  pred: (e: CarelineEvents[K]) => boolean = () => true,
  timeoutMs = 5000,
): Promise<CarelineEvents[K]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`timed out waiting for a "${String(type)}" event`));
    }, timeoutMs);
    const off = client.on(type, (e) => {
      if (!pred(e)) return;
      clearTimeout(timer);
      off();
      resolve(e);
    });
  });
}

/** Rejects if `p` takes longer than `ms`. */
export function within<T>(p: Promise<T>, ms: number, what = 'operation'): Promise<T> {
  let timer: ReturnType<typeof setTimeout>;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
    }),
  ]);
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export const text = (t: string) => ({ type: 1, content: { text: t } });
