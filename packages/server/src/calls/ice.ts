/**
 * The STUN/TURN servers handed to a call's participants (docs/calls.md, "TURN"): seed 003's
 * vendor key field becomes `iceServers`. TURN credentials follow the TURN REST API scheme that
 * coturn checks with `use-auth-secret` / `static-auth-secret`: the username is
 * `<expiry, unix seconds>:<user id>` and the credential is base64(HMAC-SHA1(secret, username)),
 * so the TURN server needs no user list and a credential stops working at its expiry.
 */
import { createHmac } from 'node:crypto';
import type { IceServer } from '@careline/protocol';

export interface IceSettings {
  /** Comma-separated STUN URLs. */
  stun: string;
  turn: {
    /** Comma-separated TURN URLs. */
    urls: string;
    /** The shared secret (empty: TURN URLs are handed out without credentials). */
    secret: string;
    /** Seconds a credential is valid. */
    ttl: number;
  };
}

export interface TurnCredential {
  username: string;
  credential: string;
  /** Unix seconds. */
  expires_at: number;
}

const list = (s: string): string[] => s.split(',').map((x) => x.trim()).filter((x) => x.length > 0);

/** A TURN REST API credential for a user, valid for `ttlSeconds` from `nowMs`. */
export function turnCredential(secret: string, userId: string, ttlSeconds: number, nowMs = Date.now()): TurnCredential {
  const expires = Math.floor(nowMs / 1000) + ttlSeconds;
  const username = `${expires}:${userId}`;
  const credential = createHmac('sha1', secret).update(username).digest('base64');
  return { username, credential, expires_at: expires };
}

/** The servers for one user's media: the STUN URLs, then the TURN URLs with that user's credential. */
export function iceServers(s: IceSettings | undefined, userId: string, nowMs = Date.now()): IceServer[] {
  if (!s) return [];
  const out: IceServer[] = [];
  const stun = list(s.stun);
  if (stun.length > 0) out.push({ urls: stun });
  const turn = list(s.turn.urls);
  if (turn.length > 0) {
    if (s.turn.secret) {
      const c = turnCredential(s.turn.secret, userId, s.turn.ttl, nowMs);
      out.push({ urls: turn, username: c.username, credential: c.credential });
    } else {
      out.push({ urls: turn });
    }
  }
  return out;
}
