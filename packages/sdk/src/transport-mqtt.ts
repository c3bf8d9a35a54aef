/**
 * Careline's MQTT transport (Node), seen by the client as a WebSocket (`WebSocketLike`): the
 * same frames both ways, carried by MQTT 3.1.1 on the user's frames topic `<user id>/frames`
 * (docs/transports.md). The client connects with the user token as the password, subscribes
 * to its frames topic — the server then publishes its `hello` and every frame for the
 * connection there, as the WebSocket writes them — and publishes its own frames there (QoS 1;
 * the server's PUBACK of a `send` comes after commit, and its `ack` frame says so). The
 * server's close comes as a last payload `{type: "close", code, reason}`. Catch-up is the
 * client's `sync` frames, answered from the same cursors on any node.
 *
 * The `mqtt` package (mqtt.js) is an optional peer dependency, loaded when the first MQTT
 * connection opens, so that browser bundles of the SDK do not carry it.
 */
import type { SocketCloseEvent, SocketMessageEvent, WebSocketFactory, WebSocketLike } from './socket.ts';

/** What the transport uses of an mqtt.js client. */
interface MqttClientLike {
  on(event: 'connect', cb: () => void): unknown;
  on(event: 'message', cb: (topic: string, payload: Uint8Array) => void): unknown;
  on(event: 'close', cb: () => void): unknown;
  on(event: 'error', cb: (err: Error & { code?: number }) => void): unknown;
  subscribe(topic: string, opts: { qos: 0 | 1 }, cb: (err?: Error | null, granted?: { qos: number }[]) => void): unknown;
  publish(topic: string, payload: string, opts: { qos: 0 | 1 }, cb?: (err?: Error) => void): unknown;
  end(force?: boolean, cb?: () => void): unknown;
}

interface MqttModule {
  connect(url: string, opts: Record<string, unknown>): MqttClientLike;
}

let loaded: Promise<MqttModule> | null = null;

/** mqtt.js, imported once, by a name bundlers do not follow (the SDK's browser bundle has no MQTT). */
function loadMqtt(): Promise<MqttModule> {
  const name = 'mqtt';
  loaded ??= (import(/* @vite-ignore */ name) as Promise<MqttModule & { default?: MqttModule }>).then((m) => (typeof m.connect === 'function' ? m : m.default!));
  return loaded;
}

/** The close code of a refused connection, by the error code the REST API gives for the same token (the WebSocket's codes). */
const refusedWith: Record<string, number> = {
  'auth.token_expired': 4501,
  'auth.token_revoked': 4502,
  'user.disabled': 4504,
  'request.rate_limited': 1013,
  'connection.too_many': 4005,
};

/** The server's close payload (`{type: "close", code, reason}`), or null for any other payload. */
function closeOf(text: string): { code?: unknown; reason?: unknown } | null {
  if (!text.includes('"close"')) return null;
  try {
    const f = JSON.parse(text) as { type?: unknown; code?: unknown; reason?: unknown } | null;
    return f !== null && typeof f === 'object' && f.type === 'close' ? f : null;
  } catch {
    return null;
  }
}

/** The MQTT account of a token: its subject (`sub`), for a Careline token (a JWT); null if it is not one. */
export function userIdOfToken(token: string): string | null {
  const part = token.split('.')[1];
  if (!part) return null;
  try {
    const b64 = part.replace(/-/g, '+').replace(/_/g, '/');
    const bin = atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4));
    const claims = JSON.parse(new TextDecoder().decode(Uint8Array.from(bin, (ch) => ch.charCodeAt(0)))) as { sub?: unknown };
    return typeof claims.sub === 'string' && claims.sub !== '' ? claims.sub : null;
  } catch {
    return null;
  }
}

/** The MQTT-over-WebSocket URL of a server: `http(s)://host/prefix` → `ws(s)://host/prefix/mqtt`. */
export function mqttUrl(baseUrl: string): string {
  const u = new URL(baseUrl);
  if (u.protocol === 'http:') u.protocol = 'ws:';
  else if (u.protocol === 'https:') u.protocol = 'wss:';
  u.pathname = `${u.pathname.replace(/\/+$/, '')}/mqtt`;
  u.search = '';
  u.hash = '';
  return u.toString();
}

export interface MqttSocketOptions {
  /** The MQTT endpoint: `ws(s)://host/mqtt` (MQTT over WebSocket on the HTTP port) or `mqtt(s)://host:port` (the TCP listener). */
  url: string;
  /** The server's HTTP base URL: asked why a connection was refused (MQTT 3.1.1's CONNACK cannot say). */
  baseUrl: string;
  token: string;
  fetch?: typeof fetch;
  /** How long to wait for the CONNACK, in ms (default 15 000). */
  connectTimeoutMs?: number;
  /** MQTT keepalive in seconds (default 30); the broker drops a client silent for 1.5× it. */
  keepaliveSeconds?: number;
}

export class MqttSocket implements WebSocketLike {
  readyState = 0;
  onopen: ((event: unknown) => void) | null = null;
  onmessage: ((event: SocketMessageEvent) => void) | null = null;
  onclose: ((event: SocketCloseEvent) => void) | null = null;
  onerror: ((event: unknown) => void) | null = null;
  readonly #o: MqttSocketOptions;
  #client: MqttClientLike | null = null;
  #topic = '';
  /** Why the broker refused the CONNECT (its CONNACK return code), if it did. */
  #refused: number | null = null;

  constructor(o: MqttSocketOptions) {
    this.#o = o;
    setTimeout(() => void this.#start(), 0);
  }

  send(data: string): void {
    if (this.readyState !== 1 || !this.#client) throw new Error('The MQTT connection is not open.');
    this.#client.publish(this.#topic, data, { qos: 1 });
  }

  close(code = 1000, reason = ''): void {
    this.#end(code, reason);
  }

  async #start(): Promise<void> {
    if (this.readyState !== 0) return;
    const userId = userIdOfToken(this.#o.token);
    if (userId === null) return this.#refuse('auth.invalid_token', 'The token is not a Careline token.');
    this.#topic = `${userId}/frames`;
    let mqtt: MqttModule;
    try {
      mqtt = await loadMqtt();
    } catch (err) {
      this.onerror?.(err);
      return this.#end(1006, 'the mqtt package is not installed');
    }
    if (this.readyState !== 0) return;
    const client = mqtt.connect(this.#o.url, {
      username: userId,
      password: this.#o.token,
      protocolVersion: 4,
      clean: true,
      reconnectPeriod: 0,
      connectTimeout: this.#o.connectTimeoutMs ?? 15_000,
      keepalive: this.#o.keepaliveSeconds ?? 30,
      clientId: `careline-${userId.slice(0, 32)}-${Math.random().toString(36).slice(2, 10)}`,
    });
    this.#client = client;
    client.on('connect', () => {
      if (this.readyState !== 0) return;
      this.readyState = 1;
      this.onopen?.({});
      // The server answers the subscription with `hello`, then every frame for this connection.
      client.subscribe(this.#topic, { qos: 1 }, (err, granted) => {
        if (err || !granted || granted.some((g) => g.qos === 128)) this.#end(1011, 'subscription refused');
      });
    });
    client.on('message', (topic, payload) => {
      if (topic !== this.#topic || this.readyState !== 1) return;
      const text = new TextDecoder().decode(payload);
      const f = closeOf(text);
      if (f) return this.#end(typeof f.code === 'number' ? f.code : 1006, typeof f.reason === 'string' ? f.reason : '');
      this.onmessage?.({ data: text });
    });
    client.on('error', (err) => {
      // A CONNACK refusal (MQTT 3.1.1 return codes); anything else ends in a close.
      if (typeof err.code === 'number' && err.code >= 1 && err.code <= 5) this.#refused = err.code;
    });
    client.on('close', () => {
      if (this.readyState === 3) return;
      if (this.#refused !== null && this.readyState === 0) return void this.#explainRefusal(this.#refused);
      this.#end(1006, 'connection lost');
    });
  }

  /**
   * The CONNACK refused the token or the user (4, 5): the REST API says why, with the same
   * code a WebSocket would get in its error frame; then the close the WebSocket would have.
   * 3 (server unavailable: too many connections, too many failed logins, shutting down): a
   * close to retry later.
   */
  async #explainRefusal(returnCode: number): Promise<void> {
    if (returnCode !== 4 && returnCode !== 5) return this.#end(1013, 'server unavailable');
    const base = this.#o.baseUrl.replace(/\/+$/, '');
    const f = this.#o.fetch ?? globalThis.fetch.bind(globalThis);
    try {
      const res = await f(`${base}/api/v2/application/badge_no`, { headers: { authorization: `Bearer ${this.#o.token}` }, signal: AbortSignal.timeout(15_000) });
      const body = (await res.json().catch(() => ({}))) as { code?: unknown; message?: unknown };
      if (!res.ok && typeof body.code === 'string') return this.#refuse(body.code, typeof body.message === 'string' ? body.message : body.code);
    } catch {
      return this.#end(1006, 'connection refused');
    }
    this.#refuse('auth.invalid_token', 'The MQTT listener refused the token.');
  }

  /** A refusal as a refused WebSocket says it: an `error` frame, then the close of its code. */
  #refuse(code: string, message: string): void {
    if (this.readyState === 3) return;
    if (this.readyState === 0) {
      this.readyState = 1;
      this.onopen?.({});
    }
    this.onmessage?.({ data: JSON.stringify({ type: 'error', code, message }) });
    this.#end(refusedWith[code] ?? (code.startsWith('auth.') ? 4500 : 1011), code);
  }

  #end(code: number, reason: string): void {
    if (this.readyState === 3) return;
    this.readyState = 3;
    const client = this.#client;
    this.#client = null;
    try {
      client?.end(true);
    } catch {
      // Already gone.
    }
    setTimeout(() => this.onclose?.({ code, reason }), 0);
  }
}

/** The WebSocket URL the client made (with its `token`) → an MQTT socket on `url`; `baseUrl` is the server's HTTP base. */
export function mqttFactory(url: string, baseUrl: string, opts: { fetch?: typeof fetch } = {}): WebSocketFactory {
  return (wsUrl) => {
    const token = new URL(wsUrl).searchParams.get('token') ?? '';
    return new MqttSocket({ url, baseUrl, token, ...opts });
  };
}
