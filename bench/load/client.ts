/** A bench WebSocket client: connect, get every frame (hello included) through one callback. */
import WebSocket from 'ws';

export interface ConnectOptions {
  /** Every frame, as raw data; the hello frame included. Attached before the socket opens so no frame is missed. */
  onData: (data: Buffer) => void;
  onOpen?: (ws: WebSocket) => void;
  onClose?: (code: number) => void;
  /** Local source address (127.0.0.x): each gives its own range of ephemeral ports. */
  localAddress?: string;
  timeoutMs?: number;
}

const HELLO = Buffer.from('"type":"hello"');

/** Resolves with the socket once the server's `hello` frame arrived; rejects on close, error or timeout. */
export function connect(url: string, o: ConnectOptions): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, {
      perMessageDeflate: false,
      skipUTF8Validation: true,
      handshakeTimeout: o.timeoutMs ?? 30_000,
      ...(o.localAddress ? { localAddress: o.localAddress } : {}),
    });
    let hello = false;
    const timer = setTimeout(() => {
      if (!hello) {
        ws.terminate();
        reject(new Error('no hello in time'));
      }
    }, o.timeoutMs ?? 30_000);
    ws.on('open', () => o.onOpen?.(ws));
    ws.on('message', (data: Buffer) => {
      if (!hello && data.indexOf(HELLO) >= 0) {
        hello = true;
        clearTimeout(timer);
        resolve(ws);
      }
      o.onData(data);
    });
    ws.on('error', (err) => {
      clearTimeout(timer);
      if (!hello) reject(err);
    });
    ws.on('close', (code) => {
      clearTimeout(timer);
      if (!hello) reject(new Error(`closed ${code} before hello`));
      o.onClose?.(code);
    });
  });
}
