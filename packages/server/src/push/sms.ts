/**
 * SMS through an HTTP gateway speaking the Twilio Programmable Messaging API — the shape most
 * SMS gateways and their self-hosted stand-ins accept:
 *
 *   POST <sms.url>/2010-04-01/Accounts/<account SID>/Messages.json
 *   Authorization: Basic base64(<account SID>:<auth token>)
 *   Content-Type: application/x-www-form-urlencoded
 *   To=<E.164>&From=<sms.from>&Body=<text>
 *
 * Answers: 201 (or 200) with `{"sid": "SM…", "status": "queued"}` sent; 400 with `code` 21211
 * (invalid To), 21614 (not a mobile number) or 21610 (the recipient replied STOP) — the
 * number is gone; 401/403 (credentials) and other 4xx failed; 429 and 5xx retried.
 */
import http from 'node:http';
import https from 'node:https';
import type { SendOutcome } from './vendor.ts';
import { parseJson } from './https.ts';

export interface SmsOptions {
  /** https://api.twilio.com, or the gateway's base URL. */
  url: string;
  accountSid: string;
  authToken: string;
  /** The sender number (E.164) or alphanumeric sender id. */
  from: string;
  ca?: string | Buffer;
  timeoutMs?: number;
}

const GONE = new Set([21211, 21614, 21610]);

export class SmsSender {
  readonly #o: SmsOptions;
  readonly #agent: http.Agent;
  readonly #https: boolean;

  constructor(o: SmsOptions) {
    this.#o = o;
    this.#https = o.url.startsWith('https:');
    this.#agent = this.#https ? new https.Agent({ keepAlive: true, maxSockets: 16, ...(o.ca ? { ca: o.ca } : {}) }) : new http.Agent({ keepAlive: true, maxSockets: 16 });
  }

  /** The form body of one SMS. */
  static form(to: string, from: string, text: string): string {
    return new URLSearchParams({ To: to, From: from, Body: text }).toString();
  }

  async send(to: string, text: string): Promise<SendOutcome> {
    const url = `${this.#o.url.replace(/\/+$/, '')}/2010-04-01/Accounts/${encodeURIComponent(this.#o.accountSid)}/Messages.json`;
    const body = SmsSender.form(to, this.#o.from, text);
    let r: { status: number; text: string };
    try {
      r = await new Promise((resolve, reject) => {
        const lib = this.#https ? https : http;
        const req = lib.request(url, {
          method: 'POST', agent: this.#agent,
          headers: {
            authorization: `Basic ${Buffer.from(`${this.#o.accountSid}:${this.#o.authToken}`).toString('base64')}`,
            'content-type': 'application/x-www-form-urlencoded', accept: 'application/json', 'content-length': Buffer.byteLength(body),
          },
        }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
          res.on('error', reject);
        });
        req.setTimeout(this.#o.timeoutMs ?? 10_000, () => req.destroy(new Error('timeout')));
        req.on('error', reject);
        req.end(body);
      });
    } catch (err) {
      return { kind: 'retry', reason: `network: ${(err as Error).message}` };
    }
    const j = parseJson<{ sid?: unknown; code?: unknown; message?: unknown }>(r.text);
    if (r.status === 200 || r.status === 201) return { kind: 'sent', id: typeof j?.sid === 'string' ? j.sid : null };
    if (r.status === 429 || r.status >= 500) return { kind: 'retry', reason: `http ${r.status}` };
    const code = typeof j?.code === 'number' ? j.code : null;
    if (code !== null && GONE.has(code)) return { kind: 'gone', reason: String(code) };
    return { kind: 'failed', reason: code !== null ? String(code) : `http ${r.status}` };
  }

  async close(): Promise<void> {
    this.#agent.destroy();
  }
}
