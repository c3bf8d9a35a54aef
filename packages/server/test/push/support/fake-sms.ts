/**
 * A local SMS gateway speaking the Twilio Programmable Messaging API (what `push/sms.ts`
 * sends), over plain HTTP on loopback. It verifies what it receives: `POST
 * /2010-04-01/Accounts/<sid>/Messages.json`, `Authorization: Basic <sid:token>`, a form body
 * with `To` (E.164), `From` and `Body` (at most 1600 characters). It answers as Twilio does:
 * 201 `{sid, status: "queued", to, from, body}`; 401 `{code: 20003}` for bad credentials; 400
 * `{code: 21211}` for an invalid To or a number marked invalid (`invalid(number)`), 400 `{code:
 * 21602}` without a Body; `failNext(n)` answers 503 n times.
 */
import http from 'node:http';
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';

export interface SmsReceived {
  to: string;
  from: string;
  body: string;
  at: number;
}

export interface FakeSms {
  url: string;
  received: SmsReceived[];
  rejected: { status: number; code: number }[];
  invalid(number: string): void;
  failNext(n: number): void;
  stop(): Promise<void>;
}

export async function startFakeSms(opts: { accountSid: string; authToken: string }): Promise<FakeSms> {
  const received: SmsReceived[] = [];
  const rejected: { status: number; code: number }[] = [];
  const invalid = new Set<string>();
  let failing = 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const reply = (status: number, body: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      const refuse = (status: number, code: number, message: string) => {
        rejected.push({ status, code });
        reply(status, { code, message, more_info: `https://www.twilio.com/docs/errors/${code}`, status });
      };
      if (req.method !== 'POST' || req.url !== `/2010-04-01/Accounts/${opts.accountSid}/Messages.json`) return refuse(404, 20404, 'The requested resource was not found');
      const want = `Basic ${Buffer.from(`${opts.accountSid}:${opts.authToken}`).toString('base64')}`;
      if (req.headers.authorization !== want) return refuse(401, 20003, 'Authenticate');
      if (!String(req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded')) return refuse(400, 21600, 'Bad content type');
      const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
      const to = form.get('To') ?? '';
      const from = form.get('From') ?? '';
      const body = form.get('Body') ?? '';
      if (!from) return refuse(400, 21603, 'A \'From\' phone number is required.');
      if (!body) return refuse(400, 21602, 'Message body is required.');
      if (body.length > 1600) return refuse(400, 21617, 'The concatenated message body exceeds the 1600 character limit.');
      if (!/^\+[1-9]\d{7,14}$/.test(to) || invalid.has(to)) return refuse(400, 21211, `The 'To' number ${to} is not a valid phone number.`);
      if (failing > 0) {
        failing--;
        return refuse(503, 20500, 'Service unavailable');
      }
      received.push({ to, from, body, at: Date.now() });
      reply(201, { sid: `SM${randomBytes(16).toString('hex')}`, status: 'queued', to, from, body });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    received, rejected,
    invalid: (number) => invalid.add(number),
    failNext: (n) => (failing = n),
    stop: () => new Promise((r) => {
      server.closeAllConnections();
      server.close(() => r());
    }),
  };
}
