/**
 * A local FCM HTTP v1 and its OAuth2 token endpoint, over HTTPS (a self-signed certificate
 * the server under test is told to trust), checking what it receives as Google does:
 * - `POST /token`: form body `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer` and an
 *   `assertion` JWT with header `{alg: RS256}`, claims `iss` the service account's email,
 *   `scope` firebase.messaging, `aud` this token URL, `exp - iat` at most an hour, and an RS256
 *   signature verified with the public half of the account's key; answers an access token.
 * - `POST /v1/projects/<project>/messages:send`: `authorization: Bearer <a token it issued>`,
 *   the project of the account, a `message` with a `token`, `data` values all strings,
 *   `android.collapse_key`. Unregistered tokens get 404 UNREGISTERED; `failNext(n)` 503
 *   UNAVAILABLE.
 */
import https from 'node:https';
import { randomBytes, verify, type KeyObject } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { selfSigned } from './tls.ts';

export interface FcmRequest {
  message: any;
  raw: string;
  headers: Record<string, string | string[] | undefined>;
}

export interface FakeFcm {
  url: string;
  tokenUrl: string;
  ca: string;
  delivered: FcmRequest[];
  rejected: { path: string; reason: string }[];
  refused: { token: string; status: number }[];
  /** Token exchanges (the access token is cached: few). */
  exchanges: number;
  unregister(token: string): void;
  failNext(n: number): void;
  stop(): Promise<void>;
}

export async function startFakeFcm(opts: { publicKey: KeyObject; clientEmail: string; projectId: string }): Promise<FakeFcm> {
  const tls = selfSigned();
  const issued = new Set<string>();
  const unregistered = new Set<string>();
  let failing = 0;
  const state = { url: '', tokenUrl: '', ca: tls.cert, delivered: [] as FcmRequest[], rejected: [] as FakeFcm['rejected'], refused: [] as FakeFcm['refused'], exchanges: 0 };
  const error = (status: number, code: string, errorCode?: string) => JSON.stringify({
    error: { code: status, message: code, status: code, ...(errorCode ? { details: [{ '@type': 'type.googleapis.com/google.firebase.fcm.v1.FcmError', errorCode }] } : {}) },
  });
  const server = https.createServer({ key: tls.key, cert: tls.cert }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const path = req.url ?? '';
      const reply = (status: number, body: string) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(body);
      };
      const reject = (status: number, reason: string) => {
        state.rejected.push({ path, reason });
        reply(status, error(status, reason));
      };
      if (req.method !== 'POST') return reject(405, 'METHOD_NOT_ALLOWED');
      if (path === '/token') {
        if (!/^application\/x-www-form-urlencoded/.test(req.headers['content-type'] ?? '')) return reject(400, 'invalid_request');
        const form = new URLSearchParams(raw);
        if (form.get('grant_type') !== 'urn:ietf:params:oauth:grant-type:jwt-bearer') return reject(400, 'unsupported_grant_type');
        const parts = (form.get('assertion') ?? '').split('.');
        if (parts.length !== 3) return reject(400, 'invalid_grant');
        let head: any;
        let claims: any;
        try {
          head = JSON.parse(Buffer.from(parts[0]!, 'base64url').toString());
          claims = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString());
        } catch {
          return reject(400, 'invalid_grant');
        }
        if (head.alg !== 'RS256') return reject(400, 'invalid_grant');
        if (!verify('sha256', Buffer.from(`${parts[0]}.${parts[1]}`), opts.publicKey, Buffer.from(parts[2]!, 'base64url'))) return reject(400, 'invalid_grant: signature');
        if (claims.iss !== opts.clientEmail) return reject(400, 'invalid_grant: iss');
        if (!String(claims.scope).split(' ').includes('https://www.googleapis.com/auth/firebase.messaging')) return reject(400, 'invalid_scope');
        if (claims.aud !== state.tokenUrl) return reject(400, 'invalid_grant: aud');
        const now = Date.now() / 1000;
        if (!(claims.exp > now && claims.exp - claims.iat <= 3600 && claims.iat <= now + 60)) return reject(400, 'invalid_grant: time');
        state.exchanges++;
        const token = `ya29.${randomBytes(24).toString('base64url')}`;
        issued.add(token);
        return reply(200, JSON.stringify({ access_token: token, expires_in: 3599, token_type: 'Bearer' }));
      }
      const m = /^\/v1\/projects\/([^/]+)\/messages:send$/.exec(path);
      if (!m) return reject(404, 'NOT_FOUND');
      if (m[1] !== opts.projectId) return reject(403, 'PERMISSION_DENIED');
      const auth = /^Bearer (.+)$/.exec(req.headers.authorization ?? '');
      if (!auth || !issued.has(auth[1]!)) return reject(401, 'UNAUTHENTICATED');
      let body: any;
      try {
        body = JSON.parse(raw);
      } catch {
        return reject(400, 'INVALID_ARGUMENT');
      }
      const msg = body?.message;
      if (!msg || typeof msg.token !== 'string' || msg.token === '') return reject(400, 'INVALID_ARGUMENT');
      if (msg.data && !Object.values(msg.data).every((v) => typeof v === 'string')) return reject(400, 'INVALID_ARGUMENT: data values must be strings');
      if (msg.android && msg.android.collapse_key !== undefined && typeof msg.android.collapse_key !== 'string') return reject(400, 'INVALID_ARGUMENT');
      // AndroidConfig: priority NORMAL | HIGH, ttl a duration in seconds ("45s").
      if (msg.android?.priority !== undefined && !['NORMAL', 'HIGH'].includes(msg.android.priority)) return reject(400, 'INVALID_ARGUMENT: android.priority');
      if (msg.android?.ttl !== undefined && !/^\d+(\.\d{1,9})?s$/.test(String(msg.android.ttl))) return reject(400, 'INVALID_ARGUMENT: android.ttl');
      if (failing > 0) {
        failing--;
        state.refused.push({ token: msg.token, status: 503 });
        return reply(503, error(503, 'UNAVAILABLE'));
      }
      if (unregistered.has(msg.token)) {
        state.refused.push({ token: msg.token, status: 404 });
        return reply(404, error(404, 'NOT_FOUND', 'UNREGISTERED'));
      }
      state.delivered.push({ message: msg, raw, headers: req.headers });
      reply(200, JSON.stringify({ name: `projects/${opts.projectId}/messages/${randomBytes(8).toString('hex')}` }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  state.url = base;
  state.tokenUrl = `${base}/token`;
  return {
    get url() {
      return state.url;
    },
    get tokenUrl() {
      return state.tokenUrl;
    },
    ca: state.ca,
    delivered: state.delivered,
    rejected: state.rejected,
    refused: state.refused,
    get exchanges() {
      return state.exchanges;
    },
    unregister: (t) => unregistered.add(t),
    failNext: (n) => {
      failing = n;
    },
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
