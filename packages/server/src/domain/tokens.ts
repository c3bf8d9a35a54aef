/**
 * HS256 JSON Web Tokens (RFC 7519 with the compact JWS serialisation of RFC 7515), signed and
 * verified synchronously with `node:crypto`. The key is prepared once; a check is one HMAC
 * over the first two segments, a constant-time comparison and two small JSON parses — no
 * WebCrypto key import and no thread-pool job per call, which matters on the connect path.
 *
 * Only what Careline issues is accepted: the header must say `alg: "HS256"` (so `none` and
 * every other algorithm are refused before the signature is even looked at), carry no `crit`
 * extension and no `b64`, and the signature must be the 43-character base64url of the 32-byte
 * MAC. Claims: `exp` is required and must be in the future, `nbf` (if present) in the past,
 * and `iat` (if present) not in the future beyond a small clock skew.
 *
 * A verifier may remember the tokens it accepted (`remember`): a client sends the same token
 * with every request until it refreshes it, and its HMAC and JSON took about a twentieth of the
 * main thread's time per history read. A remembered token is taken again only if it is the same
 * text, character for character, and only while its `exp` is in the future (the other time
 * claims, once passed, stay passed); refused tokens are never remembered.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { setNewest } from './bounded.ts';

/** The claims of a verified token (registered claims checked; the rest is the caller's to check). */
export type TokenClaims = Record<string, unknown> & { exp: number };

/** Why a token was refused: `expired` (refresh it) or `invalid` (anything else). */
export class TokenError extends Error {
  override name = 'TokenError';
  readonly reason: 'invalid' | 'expired';
  constructor(reason: 'invalid' | 'expired', message: string) {
    super(message);
    this.reason = reason;
  }
}

/** Longest token looked at; ours are ~300 characters. Anything longer is refused unhashed. */
const MAX_TOKEN_CHARS = 8192;
/** How far in the future an `iat` may be (clocks of several nodes drift a little). */
const IAT_SKEW_SECONDS = 60;
const HEADER = Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'JWT' })).toString('base64url');
const B64URL = /^[A-Za-z0-9_-]+$/;
const SIG = /^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$/;

const invalid = (message: string) => new TokenError('invalid', message);

function parseSegment(seg: string, what: string): Record<string, unknown> {
  if (!B64URL.test(seg)) throw invalid(`${what} is not base64url`);
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(seg, 'base64url').toString('utf8'));
  } catch {
    throw invalid(`${what} is not JSON`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw invalid(`${what} is not a JSON object`);
  return v as Record<string, unknown>;
}

const isTime = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0;

export interface Hs256Options {
  /** How many accepted tokens to remember (the oldest go first); 0, the default: none. */
  remember?: number;
}

export class Hs256 {
  /** The key as bytes, encoded once (a Buffer key is faster in createHmac than a KeyObject). */
  readonly #key: Buffer;
  readonly #remember: number;
  /** Tokens accepted lately, with their claims (frozen: every caller gets the same object). */
  readonly #accepted = new Map<string, TokenClaims>();

  constructor(secret: string, opts: Hs256Options = {}) {
    if (secret.length === 0) throw new Error('HS256: empty secret');
    this.#key = Buffer.from(secret, 'utf8');
    this.#remember = opts.remember ?? 0;
  }

  /** Tokens remembered now. */
  get remembered(): number {
    return this.#accepted.size;
  }

  #mac(signingInput: string): Buffer {
    return createHmac('sha256', this.#key).update(signingInput).digest();
  }

  /** Signs `claims` (which must carry `exp`, in seconds) with the header `{alg:"HS256",typ:"JWT"}`. */
  sign(claims: Record<string, unknown> & { exp: number }): string {
    const input = `${HEADER}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
    return `${input}.${this.#mac(input).toString('base64url')}`;
  }

  /** The claims of a genuine, current token; throws `TokenError` otherwise. `nowMs` is the clock. */
  verify(token: string, nowMs: number): TokenClaims {
    if (typeof token !== 'string' || token.length > MAX_TOKEN_CHARS) throw invalid('malformed token');
    const known = this.#accepted.get(token);
    if (known !== undefined) {
      if (known.exp > Math.floor(nowMs / 1000)) return known;
      this.#accepted.delete(token);
      throw new TokenError('expired', '"exp" claim timestamp check failed');
    }
    const a = token.indexOf('.');
    const b = a < 0 ? -1 : token.indexOf('.', a + 1);
    if (a <= 0 || b <= a + 1 || token.indexOf('.', b + 1) !== -1) throw invalid('malformed token');
    // The header this class writes is known good; any other is read and checked.
    if (a !== HEADER.length || !token.startsWith(HEADER)) {
      const header = parseSegment(token.slice(0, a), 'header');
      if (header.alg !== 'HS256') throw invalid('unsupported algorithm');
      if (header.crit !== undefined || header.b64 !== undefined) throw invalid('unsupported header parameter');
    }
    const sig = token.slice(b + 1);
    if (!SIG.test(sig)) throw invalid('malformed signature');
    if (!timingSafeEqual(this.#mac(token.slice(0, b)), Buffer.from(sig, 'base64url'))) throw invalid('signature verification failed');
    const claims = parseSegment(token.slice(a + 1, b), 'payload');
    const now = Math.floor(nowMs / 1000);
    if (!isTime(claims.exp)) throw invalid('"exp" claim missing or not a number');
    if (claims.nbf !== undefined && (!isTime(claims.nbf) || claims.nbf > now)) throw invalid('"nbf" claim check failed');
    if (claims.iat !== undefined && (!isTime(claims.iat) || claims.iat > now + IAT_SKEW_SECONDS)) throw invalid('"iat" claim check failed');
    if (claims.exp <= now) throw new TokenError('expired', '"exp" claim timestamp check failed');
    if (this.#remember > 0) {
      Object.freeze(claims);
      setNewest(this.#accepted, token, claims as TokenClaims, this.#remember);
    }
    return claims as TokenClaims;
  }
}
