/**
 * The WebSocket `Transport`: one socket under a real-time `Connection`. The one place where a
 * `DisconnectReason` becomes a WebSocket close frame (its `code`, and the reason text).
 */
import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';
import type { DisconnectReason } from '@careline/protocol';
import type { Connection } from '../realtime/connection.ts';
import type { Transport } from '../realtime/transport.ts';

/** Bytes held in a corked socket before they are sent without waiting for the next tick. */
const FLUSH_BYTES = 64 * 1024;

const flushTransport = (t: WsTransport) => t.flush();

/** A client that does not answer the close handshake is cut off. */
const terminate = (ws: WebSocket) => ws.terminate();

/**
 * The `Transport` of one socket, and its link to the connection. One small object per
 * connection: the socket's listeners are shared functions (`this` is the socket, which points
 * back here), so nothing of the upgrade request — headers, URL, token — stays reachable once
 * the connection is open.
 */
export class WsTransport implements Transport {
  readonly ws: WebSocket;
  /** The TCP socket under `ws`: its byte counts are the heartbeat's sign of life and of output flowing. */
  readonly socket: Duplex & { bytesRead?: number; bytesWritten?: number };
  /** Set by `listen` (the connection is made with this transport); unset for a refused client. */
  conn!: Connection;
  /** Bytes written since the socket was corked, or -1 when it is not. */
  #corked = -1;

  constructor(ws: WebSocket, socket: Duplex) {
    this.ws = ws;
    this.socket = socket;
  }

  /** Hands the socket's frames and its close to `conn`. */
  listen(conn: Connection): void {
    this.conn = conn;
    (this.ws as Socket)[kTransport] = this;
    this.ws.on('message', onMessage);
    this.ws.on('error', onSocketError);
    this.ws.on('close', onClose);
  }

  /**
   * Frames written in one turn of the event loop leave in one socket write: the socket is
   * corked at the first and uncorked on the next tick (or once `FLUSH_BYTES` are waiting), so
   * a catch-up page, or the acks and messages of one group commit, cost one syscall, not one each.
   */
  write(data: string): void {
    if (this.#corked < 0) {
      this.#corked = 0;
      this.socket.cork();
      process.nextTick(flushTransport, this);
    }
    this.ws.send(data);
    this.#corked += data.length;
    if (this.#corked >= FLUSH_BYTES) this.flush();
  }

  /** Sends what `write` holds back (a no-op when nothing is). */
  flush(): void {
    if (this.#corked < 0) return;
    this.#corked = -1;
    this.socket.uncork();
  }

  buffered(): number {
    return this.ws.bufferedAmount;
  }

  drained(bytes: number): Promise<void> {
    const ws = this.ws;
    return new Promise((resolve) => {
      const check = () => {
        if (ws.readyState !== ws.OPEN || ws.bufferedAmount <= bytes) return resolve();
        setTimeout(check, 5);
      };
      check();
    });
  }

  sent(): number {
    // `bytesWritten` counts what is still buffered too.
    return (this.socket.bytesWritten ?? 0) - this.socket.writableLength;
  }

  /** The disconnect reason's code is the WebSocket close code; the client that does not answer the close in time is cut off. */
  close(why: DisconnectReason, reason: string): void {
    this.ws.close(why.code, reason);
    setTimeout(terminate, 2000, this.ws).unref();
  }

  ping(): void {
    this.ws.ping();
  }

  received(): number {
    return this.socket.bytesRead ?? 0;
  }

  terminate(): void {
    this.ws.terminate();
  }
}

const kTransport = Symbol('careline.transport');
type Socket = WebSocket & { [kTransport]: WsTransport };
const transportOf = (ws: WebSocket): WsTransport => (ws as Socket)[kTransport];

function onMessage(this: WebSocket, data: Buffer, isBinary: boolean): void {
  const conn = transportOf(this).conn;
  if (isBinary) conn.onBinaryFrame();
  else conn.onFrame(data.toString('utf8'));
}

/**
 * A protocol error on the socket (invalid UTF-8, a frame over the limit…): `ws` has already
 * sent the close frame with its code (1007, 1009, 1002…), which must not be cut off — it can
 * still be waiting behind output in the socket. The socket is cut only if the client does not
 * answer the close in time.
 */
export function onSocketError(this: WebSocket): void {
  setTimeout(terminate, 2000, this).unref();
}

function onClose(this: WebSocket): void {
  transportOf(this).conn.onClose();
}
