/**
 * Webhook signatures (`docs/webhooks.md`): `Careline-Signature: t=<unix seconds>,v1=<hex>`,
 * where v1 is HMAC-SHA256 with the subscription's secret over `<t>.<body>` (the raw bytes of
 * the body as sent). A receiver recomputes it, compares in constant time, and refuses a `t`
 * outside its replay window (`REPLAY_WINDOW_SECONDS` recommended).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const SIGNATURE_HEADER = 'careline-signature';
/** How far a receiver should accept `t` from its own clock, either way. */
export const REPLAY_WINDOW_SECONDS = 300;

export function signature(secret: string, t: number, body: string): string {
  return createHmac('sha256', secret).update(`${t}.${body}`).digest('hex');
}

/** The header's value for a body sent at `t` (unix seconds). */
export function signatureHeader(secret: string, t: number, body: string): string {
  return `t=${t},v1=${signature(secret, t, body)}`;
}

/**
 * What a receiver does: parse the header, check the time is within `windowSeconds` of `nowSeconds`
 * and that one of its v1 values matches. Returns why not, or null when it verifies.
 */
export function verifySignature(
  secret: string, header: string | undefined, body: string, nowSeconds: number, windowSeconds = REPLAY_WINDOW_SECONDS,
): string | null {
  if (!header) return 'no signature header';
  let t = NaN;
  const v1: string[] = [];
  for (const part of header.split(',')) {
    const [k, v] = part.split('=', 2).map((x) => x.trim());
    if (k === 't') t = Number(v);
    else if (k === 'v1' && v) v1.push(v);
  }
  if (!Number.isSafeInteger(t)) return 'no timestamp';
  if (Math.abs(nowSeconds - t) > windowSeconds) return 'timestamp outside the replay window';
  const want = Buffer.from(signature(secret, t, body), 'hex');
  const ok = v1.some((v) => {
    const got = Buffer.from(v, 'hex');
    return got.length === want.length && timingSafeEqual(got, want);
  });
  return ok ? null : 'signature mismatch';
}
