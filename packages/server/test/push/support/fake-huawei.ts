/**
 * A local Huawei Push Kit and its OAuth2 endpoint, over HTTPS (a self-signed certificate the
 * server under test is told to trust), checking what it receives as Huawei does:
 * - `POST /oauth2/v3/token`: form `grant_type=client_credentials`, `client_id` the app id and
 *   `client_secret` the app secret (else 400 `{error: 1101, error_description}`); answers an
 *   access token valid an hour.
 * - `POST /v1/<app id>/messages:send`: `Authorization: Bearer <a token it issued>` (unknown:
 *   401 code 80200001; expired by `expireTokens()`: 401 code 80200003), the app id of the
 *   credentials, a JSON `message` with `token` an array of one string, `data` a string,
 *   `android.notification` with a title, a body and a `click_action.type` 1–4, `urgency` HIGH
 *   or NORMAL, `ttl` like "86400s", `collapse_key` (if any) an integer -1…100 (else 400
 *   code 80100001/80100003). Tokens marked invalid get 400 code 80300007; `failNext(n)` 503
 *   (Huawei's flow control).
 */
import https from 'node:https';
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { selfSigned } from './tls.ts';

export interface HuaweiRequest {
  message: any;
  raw: string;
  headers: Record<string, string | string[] | undefined>;
}

export interface FakeHuawei {
  url: string;
  tokenUrl: string;
  ca: string;
  delivered: HuaweiRequest[];
  rejected: { path: string; reason: string }[];
  refused: { token: string; code: string }[];
  exchanges: number;
  invalidate(token: string): void;
  /** Every access token issued so far is expired from now on. */
  expireTokens(): void;
  failNext(n: number): void;
  stop(): Promise<void>;
}

export async function startFakeHuawei(opts: { appId: string; appSecret: string }): Promise<FakeHuawei> {
  const tls = selfSigned();
  const issued = new Map<string, { expired: boolean }>();
  const invalid = new Set<string>();
  let failing = 0;
  const state = { url: '', delivered: [] as HuaweiRequest[], rejected: [] as FakeHuawei['rejected'], refused: [] as FakeHuawei['refused'], exchanges: 0 };
  const server = https.createServer({ key: tls.key, cert: tls.cert }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const path = req.url ?? '';
      const reply = (status: number, body: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json;charset=UTF-8' });
        res.end(JSON.stringify(body));
      };
      const requestId = randomBytes(8).toString('hex');
      const fail = (status: number, code: string, msg: string) => {
        state.rejected.push({ path, reason: `${code} ${msg}` });
        reply(status, { code, msg, requestId });
      };
      if (req.method !== 'POST') return fail(405, '80100001', 'method');
      if (path === '/oauth2/v3/token') {
        if (!/^application\/x-www-form-urlencoded/.test(req.headers['content-type'] ?? '')) {
          state.rejected.push({ path, reason: 'content-type' });
          return reply(400, { error: 1102, error_description: 'missing required parameter' });
        }
        const form = new URLSearchParams(raw);
        if (form.get('grant_type') !== 'client_credentials') {
          state.rejected.push({ path, reason: 'grant_type' });
          return reply(400, { error: 1102, error_description: 'unsupported grant_type' });
        }
        if (form.get('client_id') !== opts.appId || form.get('client_secret') !== opts.appSecret) {
          state.rejected.push({ path, reason: 'invalid client' });
          return reply(400, { error: 1101, error_description: 'invalid client' });
        }
        state.exchanges++;
        const token = `CgB6e3x9${randomBytes(24).toString('base64url')}`;
        issued.set(token, { expired: false });
        return reply(200, { access_token: token, expires_in: 3600, token_type: 'Bearer' });
      }
      const m = /^\/v1\/([^/]+)\/messages:send$/.exec(path);
      if (!m) return fail(404, '80100001', 'no such path');
      const auth = /^Bearer (.+)$/.exec(req.headers.authorization ?? '');
      const t = auth ? issued.get(auth[1]!) : undefined;
      if (!t) return fail(401, '80200001', 'Oauth authentication error');
      if (t.expired) {
        state.refused.push({ token: '', code: '80200003' });
        return reply(401, { code: '80200003', msg: 'Oauth Token expired', requestId });
      }
      if (m[1] !== opts.appId) return fail(403, '80300002', 'No permission to send message to these tokens');
      let body: any;
      try {
        body = JSON.parse(raw);
      } catch {
        return fail(400, '80100003', 'Incorrect message structure');
      }
      const msg = body?.message;
      if (!msg || !Array.isArray(msg.token) || msg.token.length !== 1 || typeof msg.token[0] !== 'string') return fail(400, '80100001', 'token');
      if (msg.data !== undefined && typeof msg.data !== 'string') return fail(400, '80100003', 'data must be a string');
      const a = msg.android;
      const n = a?.notification;
      if (!n || typeof n.title !== 'string' || !n.title || typeof n.body !== 'string' || !n.body) return fail(400, '80100003', 'notification title and body');
      if (![1, 2, 3, 4].includes(n.click_action?.type)) return fail(400, '80100003', 'click_action');
      if (a.urgency !== undefined && !['HIGH', 'NORMAL'].includes(a.urgency)) return fail(400, '80100001', 'urgency');
      if (a.ttl !== undefined && !/^\d+(\.\d+)?s$/.test(a.ttl)) return fail(400, '80100004', 'ttl');
      if (a.collapse_key !== undefined && !(Number.isInteger(a.collapse_key) && a.collapse_key >= -1 && a.collapse_key <= 100)) return fail(400, '80100001', 'collapse_key');
      if (n.badge !== undefined && (typeof n.badge.class !== 'string' || !Number.isInteger(n.badge.set_num))) return fail(400, '80100001', 'badge');
      if (Buffer.byteLength(raw) > 4096) return fail(400, '80300008', 'The message body size exceeds the default value');
      const token = msg.token[0] as string;
      if (failing > 0) {
        failing--;
        state.refused.push({ token, code: '503' });
        res.writeHead(503);
        return res.end();
      }
      if (invalid.has(token)) {
        state.refused.push({ token, code: '80300007' });
        return reply(400, { code: '80300007', msg: 'All the tokens are invalid', requestId });
      }
      state.delivered.push({ message: msg, raw, headers: req.headers });
      reply(200, { code: '80000000', msg: 'Success', requestId });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  state.url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    get url() {
      return state.url;
    },
    get tokenUrl() {
      return `${state.url}/oauth2/v3/token`;
    },
    ca: tls.cert,
    delivered: state.delivered,
    rejected: state.rejected,
    refused: state.refused,
    get exchanges() {
      return state.exchanges;
    },
    invalidate: (t) => invalid.add(t),
    expireTokens() {
      for (const v of issued.values()) v.expired = true;
    },
    failNext(n) {
      failing = n;
    },
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
