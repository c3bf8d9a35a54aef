/**
 * A bad network between an SDK client and the real server: wraps the real global WebSocket
 * (or the sockets of another transport: `new FaultyNetwork(longPollFactory(url))`, MQTT's)
 * and can lose incoming frames, go silent (a half-open connection), cut connections, or
 * refuse new ones. Nothing of Careline is imitated: frames are the server's own.
 */
import type { SocketCloseEvent, SocketMessageEvent, WebSocketFactory, WebSocketLike } from '../../src/index.ts';

type Frame = { type: string; [k: string]: any };

export class FaultyNetwork {
  /** New connections fail at once while offline. */
  offline = false;
  /** Incoming frames for which this returns true are lost. */
  lose: ((frame: Frame) => boolean) | null = null;
  readonly sockets = new Set<FaultySocket>();
  /** Every frame the client sent, parsed. */
  readonly sent: Frame[] = [];
  /** How many connections were attempted. */
  opened = 0;
  /** Makes the real sockets (default: the global WebSocket). */
  readonly inner: WebSocketFactory | undefined;

  constructor(inner?: WebSocketFactory) {
    this.inner = inner;
  }

  readonly factory: WebSocketFactory = (url) => {
    this.opened += 1;
    const s = new FaultySocket(url, this);
    this.sockets.add(s);
    return s;
  };

  /** Cuts every open connection: the client sees 1006 at once. */
  cut(): void {
    for (const s of this.sockets) s.cut();
  }

  /** Current connections go silent both ways, with no close (a dead link). */
  freeze(): void {
    for (const s of this.sockets) s.frozen = true;
  }

  goOffline(): void {
    this.offline = true;
    this.cut();
  }

  goOnline(): void {
    this.offline = false;
  }
}

export class FaultySocket implements WebSocketLike {
  onopen: ((event: unknown) => void) | null = null;
  onmessage: ((event: SocketMessageEvent) => void) | null = null;
  onclose: ((event: SocketCloseEvent) => void) | null = null;
  onerror: ((event: unknown) => void) | null = null;
  frozen = false;
  readonly #net: FaultyNetwork;
  readonly #real: WebSocketLike | null;
  #dead = false;

  constructor(url: string, net: FaultyNetwork) {
    this.#net = net;
    if (net.offline) {
      this.#real = null;
      this.#die(1006);
      return;
    }
    const real: WebSocketLike = net.inner ? net.inner(url) : (new WebSocket(url) as unknown as WebSocketLike);
    this.#real = real;
    real.onopen = (ev) => !this.frozen && this.onopen?.(ev);
    real.onerror = (ev) => !this.frozen && this.onerror?.(ev);
    real.onmessage = (ev) => {
      if (this.frozen || this.#dead) return;
      const frame = JSON.parse(String(ev.data)) as Frame;
      if (net.lose?.(frame)) return;
      this.onmessage?.({ data: ev.data });
    };
    real.onclose = (ev) => {
      net.sockets.delete(this);
      if (this.frozen || this.#dead) return;
      this.#dead = true;
      this.onclose?.({ code: ev.code, reason: ev.reason });
    };
  }

  get readyState(): number {
    if (this.#dead) return 3;
    return this.#real?.readyState ?? 3;
  }

  send(data: string): void {
    if (this.#dead) throw new Error('socket is closed');
    this.#net.sent.push(JSON.parse(data) as Frame);
    if (this.frozen) return;
    this.#real?.send(data);
  }

  close(code?: number, reason?: string): void {
    if (!this.#real) return;
    try {
      this.#real.close(code, reason);
    } catch {
      this.#real.close();
    }
  }

  cut(): void {
    if (this.#dead) return;
    try {
      this.#real?.close();
    } catch {
      // Already closing.
    }
    this.#die(1006);
  }

  #die(code: number): void {
    this.#dead = true;
    this.#net.sockets.delete(this);
    setTimeout(() => {
      this.onerror?.(new Event('error'));
      this.onclose?.({ code, reason: '' });
    }, 0);
  }
}
