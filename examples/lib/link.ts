/**
 * A network link for the demo: the patient's connection can be pulled down (like a phone
 * entering a tunnel) and brought back. It wraps the real WebSocket; while the link is down,
 * the open connection is cut and new ones fail, so the SDK's reconnect logic does the rest.
 */
import type { SocketCloseEvent, SocketMessageEvent, WebSocketFactory, WebSocketLike } from '@careline/sdk';

export class Link {
  #up = true;
  readonly #sockets = new Set<LinkSocket>();

  /** Pass as `createWebSocket` to a `CarelineClient`. */
  readonly connect: WebSocketFactory = (url) => {
    const socket = new LinkSocket(url, this.#up, () => this.#sockets.delete(socket));
    if (this.#up) this.#sockets.add(socket);
    return socket;
  };

  down(): void {
    this.#up = false;
    for (const s of this.#sockets) s.cut();
    this.#sockets.clear();
  }

  up(): void {
    this.#up = true;
  }
}

class LinkSocket implements WebSocketLike {
  onopen: ((event: unknown) => void) | null = null;
  onmessage: ((event: SocketMessageEvent) => void) | null = null;
  onclose: ((event: SocketCloseEvent) => void) | null = null;
  onerror: ((event: unknown) => void) | null = null;
  readonly #real: WebSocket | null;
  readonly #gone: () => void;
  #cut = false;

  constructor(url: string, up: boolean, gone: () => void) {
    this.#gone = gone;
    if (!up) {
      this.#real = null;
      this.cut();
      return;
    }
    const real = new WebSocket(url);
    this.#real = real;
    real.onopen = (ev) => this.onopen?.(ev);
    real.onerror = (ev) => !this.#cut && this.onerror?.(ev);
    real.onmessage = (ev) => !this.#cut && this.onmessage?.({ data: ev.data });
    real.onclose = (ev) => {
      this.#gone();
      if (!this.#cut) this.onclose?.({ code: ev.code, reason: ev.reason });
    };
  }

  get readyState(): number {
    return this.#cut ? 3 : (this.#real?.readyState ?? 3);
  }

  send(data: string): void {
    if (this.#cut) throw new Error('link down');
    this.#real?.send(data);
  }

  close(code?: number, reason?: string): void {
    this.#real?.close(code, reason);
  }

  /** The link fails: the client sees an abnormal close (1006) right away. */
  cut(): void {
    if (this.#cut) return;
    this.#cut = true;
    this.#real?.close();
    setTimeout(() => this.onclose?.({ code: 1006, reason: 'link down' }), 0);
  }
}
