/**
 * A webhook receiver for tests: a real HTTP server on a free port that verifies every
 * delivery's signature (`Careline-Signature`, the replay window) with the subscription's
 * secret, as an integrator's receiver would, and records what it got. What it answers is up
 * to the test (`respond`): a status, or `hang` (no answer until the sender gives up).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { verifySignature } from '../../src/webhooks/sign.ts';

export interface Delivery {
  eventId: string;
  type: string;
  deliveryId: string;
  attempt: number;
  body: { id: string; type: string; tenant_id: string; created_at: number; data: any };
  /** null: the signature verified; else why not. */
  signatureError: string | null;
  answered: number | 'hang';
}

export interface Receiver {
  url: string;
  /** Every request received, in order. */
  got: Delivery[];
  /** Those answered 2xx. */
  accepted(): Delivery[];
  /** The secret the signatures are checked with (set it once the subscription exists). */
  secret: string;
  respond: (d: Delivery) => number | 'hang';
  /** Answer this long after the request arrived (ms). */
  delayMs: number;
  close(): Promise<void>;
}

export async function startReceiver(port = 0): Promise<Receiver> {
  const hanging = new Set<ServerResponse>();
  const r: Receiver = {
    url: '',
    got: [],
    accepted: () => r.got.filter((d) => d.answered !== 'hang' && d.answered >= 200 && d.answered < 300),
    secret: '',
    respond: () => 200,
    delayMs: 0,
    close: async () => {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((done) => server.close(() => done()));
    },
  };
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const h = (n: string) => String(req.headers[n] ?? '');
      const d: Delivery = {
        eventId: h('careline-event-id'), type: h('careline-event-type'), deliveryId: h('careline-delivery-id'), attempt: Number(h('careline-delivery-attempt')),
        body: JSON.parse(text), signatureError: verifySignature(r.secret, h('careline-signature'), text, Math.floor(Date.now() / 1000)),
        answered: 200,
      };
      // A receiver refuses what it cannot verify.
      d.answered = d.signatureError !== null ? 400 : r.respond(d);
      r.got.push(d);
      if (d.answered === 'hang') {
        hanging.add(res);
        res.on('close', () => hanging.delete(res));
        return;
      }
      const status = d.answered;
      const answer = () => res.writeHead(status, { 'content-type': 'text/plain' }).end('ok');
      if (r.delayMs > 0) setTimeout(answer, r.delayMs);
      else answer();
    });
  });
  await new Promise<void>((done) => server.listen(port, '127.0.0.1', () => done()));
  r.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`;
  return r;
}
