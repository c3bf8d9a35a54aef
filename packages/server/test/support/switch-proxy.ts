/**
 * A TCP forwarder on a loopback port in front of one node at a time, for tests that put a
 * client on a given node and later move it: every connection the client opens (WebSocket,
 * HTTP polls, MQTT over WebSocket) goes to the current target; `moveTo` sends the next ones
 * to another node (those open stay where they are — a node that dies cuts them, and its
 * connections here are cut with it, as the network would).
 *
 *   const p = await SwitchProxy.start(node.port);   // p.url: http://127.0.0.1:<its port>
 *   p.moveTo(other.port);
 *   await p.close();
 */
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';

export class SwitchProxy {
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  #target: number;
  /** Connections forwarded, per target port. */
  readonly forwarded = new Map<number, number>();

  private constructor(server: Server, target: number) {
    this.#server = server;
    this.#target = target;
  }

  static async start(targetPort: number): Promise<SwitchProxy> {
    let self!: SwitchProxy;
    const server = createServer((down) => {
      const port = self.#target;
      self.forwarded.set(port, (self.forwarded.get(port) ?? 0) + 1);
      const up = connect(port, '127.0.0.1');
      for (const s of [down, up]) {
        self.#sockets.add(s);
        s.once('close', () => self.#sockets.delete(s));
        s.on('error', () => {});
      }
      down.pipe(up);
      up.pipe(down);
      // Either side gone: the other goes too (a dead node's connections drop at once).
      down.once('close', () => up.destroy());
      up.once('close', () => down.destroy());
    });
    self = new SwitchProxy(server, targetPort);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return self;
  }

  get port(): number {
    return (this.#server.address() as AddressInfo).port;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** The node new connections go to. */
  get target(): number {
    return this.#target;
  }

  moveTo(port: number): void {
    this.#target = port;
  }

  /** Cuts every connection open through it. */
  cut(): void {
    for (const s of this.#sockets) s.destroy();
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
