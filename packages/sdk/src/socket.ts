/**
 * The part of the WebSocket API the SDK uses. The global `WebSocket` (browsers, Node 22+)
 * fits; `createWebSocket` lets an app supply another implementation (or wrap the real one).
 */

export interface SocketMessageEvent {
  data: unknown;
}

export interface SocketCloseEvent {
  code: number;
  reason: string;
}

/** A WebSocket as the SDK uses it: `on*` handlers, `send`, `close` and `readyState`. */
export interface WebSocketLike {
  readonly readyState: number;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: SocketMessageEvent) => void) | null;
  onclose: ((event: SocketCloseEvent) => void) | null;
  onerror: ((event: unknown) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

/** Creates a WebSocket connecting to `url`. */
export type WebSocketFactory = (url: string) => WebSocketLike;

/** `readyState` of an open socket. */
export const OPEN = 1;

/** The default factory: the global `WebSocket`. */
export const defaultWebSocket: WebSocketFactory = (url) => {
  if (typeof globalThis.WebSocket !== 'function') {
    throw new Error('No global WebSocket: use Node 22+ or pass `createWebSocket`.');
  }
  return new globalThis.WebSocket(url) as unknown as WebSocketLike;
};

/** The WebSocket URL of a server: `http(s)://host/prefix` → `ws(s)://host/prefix/ws`. */
export function webSocketUrl(baseUrl: string): string {
  const u = new URL(baseUrl);
  if (u.protocol === 'http:') u.protocol = 'ws:';
  else if (u.protocol === 'https:') u.protocol = 'wss:';
  u.pathname = `${u.pathname.replace(/\/+$/, '')}/ws`;
  u.search = '';
  u.hash = '';
  return u.toString();
}
