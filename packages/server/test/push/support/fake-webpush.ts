/**
 * A local Web Push service (RFC 8030) over HTTPS (a self-signed certificate the server under
 * test is told to trust). It makes subscriptions as a browser's push service and user agent
 * would — an endpoint here, and a P-256 key pair and auth secret whose private half it keeps —
 * and checks every push as a push service and the browser do:
 * - `POST /push/<id>` of a subscription it made (unknown: 404; unsubscribed: 410 Gone);
 * - VAPID (RFC 8292): `Authorization: vapid t=<JWT>, k=<key>`; `k` the application server
 *   key the subscription was made with; the JWT `{typ: JWT, alg: ES256}`, `aud` this origin,
 *   `exp` in the future and at most 24 h ahead, `sub` a mailto: or https: URL, and its ES256
 *   signature verified with `k`;
 * - `TTL` (required), `Urgency` (very-low, low, normal, high), `Topic` (at most 32 base64url);
 * - `Content-Encoding: aes128gcm` and a body it decrypts with the subscription's private key
 *   and auth secret (RFC 8291 key derivation, RFC 8188 record; written here from the RFCs,
 *   not with the library the server uses), padding delimiter checked; at most 4096 bytes.
 * A push that fails a check is answered as a push service would (401, 400, 413…) and recorded
 * in `rejected`. Accepted pushes are kept with their decrypted text; `failNext(n)` answers 503.
 */
import https from 'node:https';
import { createECDH, createDecipheriv, createPublicKey, hkdfSync, randomBytes, verify, type KeyObject } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { selfSigned } from './tls.ts';

export interface WebPushSubscriptionJson {
  endpoint: string;
  expirationTime: null;
  keys: { p256dh: string; auth: string };
}

export interface WebPushDelivery {
  id: string;
  headers: Record<string, string | string[] | undefined>;
  /** The encrypted body as received. */
  encrypted: Buffer;
  /** The decrypted payload text. */
  text: string;
  claims: { aud: string; exp: number; sub: string };
}

export interface FakeWebPush {
  url: string;
  ca: string;
  delivered: WebPushDelivery[];
  rejected: { id: string; reason: string }[];
  refused: { id: string; status: number }[];
  /** A new subscription for a browser that subscribed with `applicationServerKey` (base64url). */
  subscribe(applicationServerKey: string): WebPushSubscriptionJson;
  unsubscribe(endpoint: string): void;
  failNext(n: number): void;
  stop(): Promise<void>;
}

const b64 = (s: string) => Buffer.from(s, 'base64url');

/** A P-256 public key (uncompressed point, base64url) as a KeyObject. */
export function p256PublicKey(point: Buffer): KeyObject {
  if (point.length !== 65 || point[0] !== 4) throw new Error('not an uncompressed P-256 point');
  return createPublicKey({ key: { kty: 'EC', crv: 'P-256', x: point.subarray(1, 33).toString('base64url'), y: point.subarray(33).toString('base64url') }, format: 'jwk' });
}

/** RFC 8291 + RFC 8188 (one record): the plaintext, or throws saying what is wrong. */
export function decryptAes128gcm(body: Buffer, uaPrivate: ReturnType<typeof createECDH>, authSecret: Buffer): Buffer {
  if (body.length < 21) throw new Error('short header');
  const salt = body.subarray(0, 16);
  const rs = body.readUInt32BE(16);
  const idlen = body[20]!;
  if (idlen !== 65) throw new Error('keyid is not the sender\'s P-256 public key');
  const asPublic = body.subarray(21, 21 + idlen);
  const record = body.subarray(21 + idlen);
  if (rs < 18 || record.length > rs) throw new Error('more than one record');
  const uaPublic = uaPrivate.getPublicKey();
  const ecdhSecret = uaPrivate.computeSecret(asPublic);
  const keyInfo = Buffer.concat([Buffer.from('WebPush: info\0'), uaPublic, asPublic]);
  const ikm = Buffer.from(hkdfSync('sha256', ecdhSecret, authSecret, keyInfo, 32));
  const cek = Buffer.from(hkdfSync('sha256', ikm, salt, Buffer.from('Content-Encoding: aes128gcm\0'), 16));
  const nonce = Buffer.from(hkdfSync('sha256', ikm, salt, Buffer.from('Content-Encoding: nonce\0'), 12));
  const decipher = createDecipheriv('aes-128-gcm', cek, nonce);
  decipher.setAuthTag(record.subarray(record.length - 16));
  const padded = Buffer.concat([decipher.update(record.subarray(0, record.length - 16)), decipher.final()]);
  let end = padded.length - 1;
  while (end >= 0 && padded[end] === 0) end--;
  if (end < 0 || padded[end] !== 2) throw new Error('no last-record padding delimiter (0x02)');
  return padded.subarray(0, end);
}

export async function startFakeWebPush(): Promise<FakeWebPush> {
  const tls = selfSigned();
  const subs = new Map<string, { ecdh: ReturnType<typeof createECDH>; auth: Buffer; serverKey: string; gone: boolean }>();
  let failing = 0;
  const state = { url: '', delivered: [] as WebPushDelivery[], rejected: [] as FakeWebPush['rejected'], refused: [] as FakeWebPush['refused'] };
  const server = https.createServer({ key: tls.key, cert: tls.cert }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const m = /^\/push\/([A-Za-z0-9_-]+)$/.exec(req.url ?? '');
      const id = m?.[1] ?? '';
      const answer = (status: number, headers: Record<string, string> = {}) => {
        res.writeHead(status, headers);
        res.end();
      };
      const reject = (status: number, reason: string) => {
        state.rejected.push({ id, reason });
        answer(status);
      };
      if (req.method !== 'POST') return reject(405, 'method');
      const sub = subs.get(id);
      if (!m || !sub) return reject(404, 'unknown subscription');
      // VAPID (RFC 8292).
      const auth = /^vapid t=([^,\s]+),\s*k=([A-Za-z0-9_-]+)$/.exec(req.headers.authorization ?? '');
      if (!auth) return reject(401, 'vapid: no "vapid t=…, k=…" authorization');
      if (auth[2] !== sub.serverKey) return reject(403, 'vapid: k is not the key the subscription was made with');
      const parts = auth[1]!.split('.');
      let head: any;
      let claims: any;
      try {
        head = JSON.parse(b64(parts[0]!).toString());
        claims = JSON.parse(b64(parts[1]!).toString());
      } catch {
        return reject(401, 'vapid: JWT not JSON');
      }
      if (parts.length !== 3 || head.alg !== 'ES256' || head.typ !== 'JWT') return reject(401, 'vapid: JWT header');
      let key: KeyObject;
      try {
        key = p256PublicKey(b64(auth[2]!));
      } catch {
        return reject(401, 'vapid: k is not a P-256 public key');
      }
      if (!verify('sha256', Buffer.from(`${parts[0]}.${parts[1]}`), { key, dsaEncoding: 'ieee-p1363' }, b64(parts[2]!))) return reject(401, 'vapid: signature');
      if (claims.aud !== state.url) return reject(401, 'vapid: aud is not this push service\'s origin');
      const now = Date.now() / 1000;
      if (typeof claims.exp !== 'number' || claims.exp <= now || claims.exp > now + 86_400) return reject(401, 'vapid: exp');
      if (typeof claims.sub !== 'string' || !/^(mailto:|https:)/.test(claims.sub)) return reject(401, 'vapid: sub');
      // Headers (RFC 8030).
      const ttl = req.headers.ttl;
      if (typeof ttl !== 'string' || !/^\d+$/.test(ttl)) return reject(400, 'TTL missing');
      const urgency = req.headers.urgency;
      if (urgency !== undefined && !['very-low', 'low', 'normal', 'high'].includes(urgency as string)) return reject(400, 'Urgency');
      const topic = req.headers.topic;
      if (topic !== undefined && !/^[A-Za-z0-9_-]{1,32}$/.test(topic as string)) return reject(400, 'Topic');
      // The encrypted payload (RFC 8291).
      if (req.headers['content-encoding'] !== 'aes128gcm') return reject(415, 'Content-Encoding is not aes128gcm');
      if (body.length > 4096) return reject(413, 'payload too large');
      let text: string;
      try {
        text = decryptAes128gcm(body, sub.ecdh, sub.auth).toString('utf8');
      } catch (err) {
        return reject(400, `decrypt: ${(err as Error).message}`);
      }
      if (failing > 0) {
        failing--;
        state.refused.push({ id, status: 503 });
        return answer(503);
      }
      if (sub.gone) {
        state.refused.push({ id, status: 410 });
        return answer(410);
      }
      const msgId = randomBytes(8).toString('hex');
      state.delivered.push({ id, headers: req.headers, encrypted: body, text, claims });
      answer(201, { location: `${state.url}/message/${msgId}` });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  state.url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    get url() {
      return state.url;
    },
    ca: tls.cert,
    delivered: state.delivered,
    rejected: state.rejected,
    refused: state.refused,
    subscribe(serverKey) {
      const ecdh = createECDH('prime256v1');
      ecdh.generateKeys();
      const auth = randomBytes(16);
      const id = randomBytes(12).toString('base64url');
      subs.set(id, { ecdh, auth, serverKey, gone: false });
      return { endpoint: `${state.url}/push/${id}`, expirationTime: null, keys: { p256dh: ecdh.getPublicKey().toString('base64url'), auth: auth.toString('base64url') } };
    },
    unsubscribe(endpoint) {
      const s = subs.get(endpoint.split('/').pop()!);
      if (s) s.gone = true;
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
