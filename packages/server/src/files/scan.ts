/**
 * The virus-scan hook of uploads, and its provided scanner: ClamAV's clamd, spoken to over its
 * Unix or TCP socket with the INSTREAM command (`files.scan.*`).
 *
 * INSTREAM: `zINSTREAM\0`, then the bytes as chunks each preceded by its length (4 bytes, big
 * endian), then a zero length; clamd answers one line ending in `\0`: `stream: OK`,
 * `stream: <signature> FOUND`, or `<reason> ERROR` (e.g. `INSTREAM size limit exceeded`, past
 * clamd's StreamMaxLength). The client is these few lines rather than an npm package: `clamscan`
 * is built around running the clamscan/clamdscan binaries and files, with its socket mode a
 * side path, and `clamdjs` is unmaintained; what is needed here is exactly one command with
 * its errors told apart (infected, refused, not reachable, too slow) so that each becomes its
 * coded error, and backpressure while streaming a large video from the spool file.
 */
import { connect, type Socket } from 'node:net';
import { fail } from '../domain/errors.ts';

export type ScanVerdict = { infected: false } | { infected: true; signature: string };

/** A virus scanner: reads the whole body, answers a verdict, or fails (`file.scan_failed`). */
export interface VirusScanner {
  scan(body: AsyncIterable<Uint8Array>): Promise<ScanVerdict>;
}

export interface ClamdOptions {
  /** Unix socket path (used when `host` is empty). */
  socket: string;
  host: string;
  port: number;
  timeoutMs: number;
}

const CHUNK = 64 * 1024;

export class ClamdScanner implements VirusScanner {
  readonly #o: ClamdOptions;

  constructor(o: ClamdOptions) {
    this.#o = o;
  }

  /** Where clamd is, for messages. */
  get address(): string {
    return this.#o.host ? `${this.#o.host}:${this.#o.port}` : this.#o.socket;
  }

  async scan(body: AsyncIterable<Uint8Array>): Promise<ScanVerdict> {
    const reply = await this.#instream(body);
    const line = reply.replace(/\0+$/, '').trim();
    if (/^stream: OK$/.test(line)) return { infected: false };
    const found = /^stream: (.+) FOUND$/.exec(line);
    if (found) return { infected: true, signature: found[1]! };
    throw fail('file.scan_failed', `clamd at ${this.address} could not scan the file: ${line || 'no answer'}`, { scanner: 'clamd', reply: line });
  }

  /** Sends the body with INSTREAM; resolves with clamd's answer line. */
  #instream(body: AsyncIterable<Uint8Array>): Promise<string> {
    return new Promise<string>((resolve, reject) => {
      const sock: Socket = this.#o.host ? connect({ host: this.#o.host, port: this.#o.port }) : connect({ path: this.#o.socket });
      let reply = '';
      let settled = false;
      const finish = (err: unknown, value?: string) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        sock.destroy();
        if (err) reject(err);
        else resolve(value!);
      };
      const down = (why: string) => fail('file.scan_failed', `clamd at ${this.address} is not available: ${why}`, { scanner: 'clamd' });
      const timer = setTimeout(() => finish(down(`no verdict within ${this.#o.timeoutMs} ms`)), this.#o.timeoutMs);
      sock.setEncoding('utf8');
      sock.on('data', (d: string) => {
        reply += d;
        // One answer per connection: it ends with \0 (z-prefixed command).
        if (reply.includes('\0')) finish(null, reply.slice(0, reply.indexOf('\0')));
      });
      sock.on('end', () => (reply ? finish(null, reply) : finish(down('the connection closed without an answer'))));
      sock.on('error', (err: NodeJS.ErrnoException) => {
        // clamd may answer (e.g. size limit exceeded) and close while we are still writing: its answer wins.
        if (reply) finish(null, reply);
        else finish(down(err.code ?? err.message));
      });
      sock.once('connect', () => {
        void (async () => {
          try {
            await write(sock, Buffer.from('zINSTREAM\0'));
            for await (const chunk of body) {
              for (let i = 0; i < chunk.byteLength && !settled; i += CHUNK) {
                const part = chunk.subarray(i, Math.min(i + CHUNK, chunk.byteLength));
                const len = Buffer.alloc(4);
                len.writeUInt32BE(part.byteLength, 0);
                await write(sock, len);
                await write(sock, part);
              }
              if (settled) return;
            }
            await write(sock, Buffer.alloc(4));
          } catch (err) {
            // A write error is reported by the socket's 'error' (with clamd's answer if any).
            if (!sock.destroyed && !settled) finish(down(err instanceof Error ? err.message : String(err)));
          }
        })();
      });
    });
  }
}

/** Writes `buf`, waiting for the socket to drain when its buffer is full. */
function write(sock: Socket, buf: Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => {
    if (sock.destroyed) return reject(new Error('socket closed'));
    if (sock.write(buf)) return resolve();
    const onDrain = () => {
      sock.off('close', onClose);
      resolve();
    };
    const onClose = () => {
      sock.off('drain', onDrain);
      reject(new Error('socket closed'));
    };
    sock.once('drain', onDrain);
    sock.once('close', onClose);
  });
}
