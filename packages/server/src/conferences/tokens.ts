/**
 * The conference's tokens (docs/conferences.md):
 * - access token: 24 characters of base64url (144 random bits), short-link friendly; stored as
 *   its SHA-256 only;
 * - conference token: `cft_<payload>.<mac>`, the payload base64url JSON {t tenant, c conference,
 *   u participant, v token number, e expiry}, the MAC an HMAC-SHA256 under the server's token
 *   secret; storage is read again on every use (revocation);
 * - Janus token: derived from the same secret, the conference, the participant and the token
 *   number, so every node computes the same one and a new access token makes a new one.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { fail } from '../domain/errors.ts';

export const ACCESS_TOKEN_RE = /^[A-Za-z0-9_-]{24}$/;
const PREFIX = 'cft_';

export function newAccessToken(): string {
  return randomBytes(18).toString('base64url');
}

export function hashAccessToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

export interface ConferenceClaims {
  t: string;
  c: string;
  u: string;
  v: number;
  e: number;
}

const mac = (secret: string, payload: string) => createHmac('sha256', `conference-token:${secret}`).update(payload).digest('base64url');

export function signConferenceToken(secret: string, claims: ConferenceClaims): string {
  const payload = Buffer.from(JSON.stringify(claims)).toString('base64url');
  return `${PREFIX}${payload}.${mac(secret, payload)}`;
}

/** The claims of a conference token this server signed (not yet checked against storage); 401 otherwise. */
export function verifyConferenceToken(secret: string, token: string, now: number): ConferenceClaims {
  const denied = () => fail('conference.access_denied');
  if (!token.startsWith(PREFIX) || token.length > 1024) throw denied();
  const [payload, sig] = token.slice(PREFIX.length).split('.');
  if (!payload || !sig) throw denied();
  const want = Buffer.from(mac(secret, payload));
  const got = Buffer.from(sig);
  if (want.length !== got.length || !timingSafeEqual(want, got)) throw denied();
  let claims: ConferenceClaims;
  try {
    claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as ConferenceClaims;
  } catch {
    throw denied();
  }
  if (typeof claims?.t !== 'string' || typeof claims.c !== 'string' || typeof claims.u !== 'string' || typeof claims.v !== 'number' || typeof claims.e !== 'number') throw denied();
  if (now >= claims.e) throw fail('conference.access_expired', 'The conference token has expired: exchange the access token again.');
  return claims;
}

export function janusToken(secret: string, tenantId: string, conferenceId: string, userId: string, version: number): string {
  return createHmac('sha256', `janus-token:${secret}`).update(`${tenantId}\n${conferenceId}\n${userId}\n${version}`).digest('base64url').slice(0, 32);
}
