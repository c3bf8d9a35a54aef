/** A transport with no network (as long-polling or MQTT would be, to the real-time layer), for tests. */
import type { DisconnectReason } from '@careline/protocol';
import type { Transport } from '../../src/realtime/transport.ts';
import type { Connection } from '../../src/realtime/connection.ts';
import { sleep, type Frame } from './ws-client.ts';

/** A transport with no network: frames written are kept, closes recorded. */
export class MemoryTransport implements Transport {
  readonly frames: Frame[] = [];
  closedWith: { why: DisconnectReason; reason: string } | undefined;
  conn: Connection | undefined;
  #in = 0;
  #out = 0;
  write(data: string): void {
    this.#out += data.length;
    this.frames.push(JSON.parse(data) as Frame);
  }
  buffered(): number {
    return 0;
  }
  async drained(): Promise<void> {}
  sent(): number {
    return this.#out;
  }
  close(why: DisconnectReason, reason: string): void {
    this.closedWith = { why, reason };
    queueMicrotask(() => this.conn?.onClose());
  }
  ping(): void {}
  received(): number {
    return this.#in;
  }
  terminate(): void {
    queueMicrotask(() => this.conn?.onClose());
  }
  /** The client sends a text frame. */
  input(text: string): void {
    this.#in += text.length;
    this.conn!.onFrame(text);
  }
  async next(pred: (f: Frame) => boolean, ms = 5000): Promise<Frame> {
    const end = Date.now() + ms;
    for (;;) {
      const f = this.frames.find(pred);
      if (f) return f;
      if (Date.now() > end) throw new Error(`no such frame; got ${JSON.stringify(this.frames.slice(-5))}`);
      await sleep(5);
    }
  }
}

