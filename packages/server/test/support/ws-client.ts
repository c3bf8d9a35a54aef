/** A raw WebSocket test client (the `ws` library): records frames, waits for the ones a test expects. */
import WebSocket from 'ws';
import { FrameClient, type Frame } from './frame-client.ts';

export type { Frame } from './frame-client.ts';

export class WsClient extends FrameClient {
  readonly ws: WebSocket;
  readonly closed: Promise<{ code: number; reason: string }>;

  private constructor(ws: WebSocket) {
    super();
    this.ws = ws;
    this.closed = new Promise((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
    ws.on('message', (data) => {
      this.receive(JSON.parse(data.toString()) as Frame);
    });
    ws.on('error', () => {});
  }

  static async connect(url: string, token: string | null, opts: { sync?: boolean } = {}): Promise<WsClient> {
    const q = new URLSearchParams();
    if (token !== null) q.set('token', token);
    if (opts.sync) q.set('sync', '1');
    const ws = new WebSocket(`${url}?${q}`);
    const c = new WsClient(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return c;
  }

  /** Connects and waits for `hello`. */
  static async open(url: string, token: string, opts: { sync?: boolean } = {}): Promise<WsClient> {
    const c = await WsClient.connect(url, token, opts);
    await c.next((f) => f.type === 'hello');
    return c;
  }

  override send(frame: unknown): void {
    this.ws.send(JSON.stringify(frame));
  }

  override close(): void {
    this.ws.close();
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
