/**
 * A local APNs: HTTP/2 over TLS (a self-signed certificate the server under test is told to
 * trust), speaking Apple's protocol and checking what it receives as APNs does:
 * - `POST /3/device/<hex token>`; the provider token in `authorization: bearer <JWT>`: header
 *   `{alg: ES256, kid}` with the key id, claims `{iss: team id, iat}` not older than an hour,
 *   and the ES256 signature verified with the public half of the .p8 key;
 * - `apns-topic` the app's bundle id, `apns-push-type` alert, `apns-priority` 10 or 5,
 *   `apns-collapse-id` at most 64 bytes, `apns-expiration` a time in seconds;
 * - a JSON body of at most 4096 bytes with an `aps` dictionary.
 * A request that fails a check gets APNs' answer (403 InvalidProviderToken, 400 MissingTopic,
 * BadCollapseId, PayloadTooLarge…) and is recorded as rejected. Tokens marked unregistered get
 * 410 Unregistered; `failNext(n)` answers the next n requests with 503 ServiceUnavailable.
 */
import http2 from 'node:http2';
import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { selfSigned } from './tls.ts';

export interface ApnsRequest {
  token: string;
  headers: Record<string, string>;
  body: any;
  /** The raw body text, for checks that nothing private is in it. */
  raw: string;
  /** The JWT's claims. */
  claims: { iss: string; iat: number };
}

export interface FakeApns {
  url: string;
  /** The certificate (PEM) to trust. */
  ca: string;
  /** Accepted pushes, in arrival order. */
  delivered: ApnsRequest[];
  /** Requests refused by a check (should stay empty), with the reason. */
  rejected: { reason: string; headers: Record<string, string> }[];
  /** Requests answered 503 by `failNext`, and 410 for unregistered tokens. */
  refused: { token: string; status: number }[];
  /** TLS connections opened to it. */
  connections: number;
  unregister(token: string): void;
  failNext(n: number): void;
  stop(): Promise<void>;
}

const b64json = (s: string) => JSON.parse(Buffer.from(s, 'base64url').toString('utf8'));

export async function startFakeApns(opts: { publicKey: KeyObject | string; keyId: string; teamId: string; topic: string }): Promise<FakeApns> {
  const tls = selfSigned();
  const pub = typeof opts.publicKey === 'string' ? createPublicKey(opts.publicKey) : opts.publicKey;
  const unregistered = new Set<string>();
  let failing = 0;
  const fake: Omit<FakeApns, 'url' | 'stop'> & { url: string } = {
    url: '', ca: tls.cert, delivered: [], rejected: [], refused: [], connections: 0,
    unregister: (t) => unregistered.add(t),
    failNext: (n) => {
      failing = n;
    },
  };
  const server = http2.createSecureServer({ key: tls.key, cert: tls.cert, allowHTTP1: false });
  server.on('secureConnection', () => fake.connections++);
  server.on('stream', (stream, h) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(h)) if (typeof v === 'string') headers[k] = v;
      const answer = (status: number, reason?: string) => {
        stream.respond({ ':status': status, 'apns-id': crypto.randomUUID(), ...(reason ? { 'content-type': 'application/json' } : {}) });
        stream.end(reason ? JSON.stringify(status === 410 ? { reason, timestamp: Date.now() } : { reason }) : undefined);
      };
      const reject = (status: number, reason: string) => {
        fake.rejected.push({ reason, headers });
        answer(status, reason);
      };
      const m = /^\/3\/device\/([0-9a-f]+)$/.exec(headers[':path'] ?? '');
      if (headers[':method'] !== 'POST') return reject(405, 'MethodNotAllowed');
      if (!m || m[1]!.length < 64) return reject(400, 'BadDeviceToken');
      const token = m[1]!;
      // The provider token.
      const auth = /^bearer (.+)$/.exec(headers.authorization ?? '');
      if (!auth) return reject(403, 'MissingProviderToken');
      const parts = auth[1]!.split('.');
      if (parts.length !== 3) return reject(403, 'InvalidProviderToken');
      let head: any;
      let claims: any;
      try {
        head = b64json(parts[0]!);
        claims = b64json(parts[1]!);
      } catch {
        return reject(403, 'InvalidProviderToken');
      }
      if (head.alg !== 'ES256' || head.kid !== opts.keyId || claims.iss !== opts.teamId || typeof claims.iat !== 'number') return reject(403, 'InvalidProviderToken');
      const sigOk = verify('sha256', Buffer.from(`${parts[0]}.${parts[1]}`), { key: pub, dsaEncoding: 'ieee-p1363' }, Buffer.from(parts[2]!, 'base64url'));
      if (!sigOk) return reject(403, 'InvalidProviderToken');
      if (Date.now() / 1000 - claims.iat > 3600) return reject(403, 'ExpiredProviderToken');
      // The headers.
      if (!headers['apns-topic']) return reject(400, 'MissingTopic');
      if (!['alert', 'background', 'voip'].includes(headers['apns-push-type'] ?? '')) return reject(400, 'InvalidPushType');
      // A VoIP push goes to the app's VoIP topic (<bundle id>.voip), every other type to the bundle id.
      if (headers['apns-topic'] !== (headers['apns-push-type'] === 'voip' ? `${opts.topic}.voip` : opts.topic)) return reject(400, 'TopicDisallowed');
      if (!['10', '5', '1'].includes(headers['apns-priority'] ?? '10')) return reject(400, 'BadPriority');
      if (headers['apns-collapse-id'] !== undefined && Buffer.byteLength(headers['apns-collapse-id']) > 64) return reject(400, 'BadCollapseId');
      if (headers['apns-expiration'] !== undefined && !/^\d+$/.test(headers['apns-expiration'])) return reject(400, 'BadExpirationDate');
      // The body.
      if (Buffer.byteLength(raw) > 4096) return reject(413, 'PayloadTooLarge');
      let body: any;
      try {
        body = JSON.parse(raw);
      } catch {
        return reject(400, 'BadPayload');
      }
      if (!body || typeof body.aps !== 'object') return reject(400, 'PayloadEmpty');
      // Outcomes for the token.
      if (failing > 0) {
        failing--;
        fake.refused.push({ token, status: 503 });
        return answer(503, 'ServiceUnavailable');
      }
      if (unregistered.has(token)) {
        fake.refused.push({ token, status: 410 });
        return answer(410, 'Unregistered');
      }
      fake.delivered.push({ token, headers, body, raw, claims });
      answer(200);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  fake.url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on('session', (s) => {
    sessions.add(s);
    s.on('close', () => sessions.delete(s));
  });
  return {
    ...fake,
    get url() {
      return fake.url;
    },
    get connections() {
      return fake.connections;
    },
    failNext: fake.failNext,
    unregister: fake.unregister,
    async stop() {
      for (const s of sessions) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  } as FakeApns;
}
