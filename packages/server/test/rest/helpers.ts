/**
 * Small helpers shared by the REST tests: error assertions, raw HTTP calls (for bodies the
 * JSON helper cannot send), operator calls, a second tenant on the same server, hand-signed
 * tokens and a real WebSocket.
 */
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { ErrorCodes, type ErrorCode } from '@careline/protocol';
import type { TestServer } from '../support/server.ts';

export const ADMIN_TOKEN = 'test-admin-token';

export interface Reply {
  status: number;
  body: any;
}

/** Asserts an error reply: the code's HTTP status and exactly `{ code, message, details? }`. */
export function assertError(r: Reply, code: ErrorCode, label = ''): void {
  const where = `${label ? label + ': ' : ''}${JSON.stringify(r.body)}`;
  assert.equal(r.body?.code, code, where);
  assert.equal(r.status, ErrorCodes[code].status, where);
  assert.equal(typeof r.body.message, 'string', where);
  assert.ok(r.body.message.length > 0, where);
  for (const k of Object.keys(r.body)) assert.ok(['code', 'message', 'details'].includes(k), `unexpected key ${k} in ${where}`);
}

/** Asserts a 200 reply and returns its body. */
export function ok(r: Reply, label = ''): any {
  assert.equal(r.status, 200, `${label ? label + ': ' : ''}${JSON.stringify(r.body)}`);
  return r.body;
}

/** An HTTP call with a raw string body and exact headers (no JSON encoding, no default credentials). */
export async function raw(s: TestServer, method: string, path: string, o: { body?: BodyInit; headers?: Record<string, string> } = {}): Promise<Reply> {
  const res = await fetch(s.url + path, { method, headers: o.headers ?? {}, body: o.body });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: res.status, body };
}

/** An operator call (X-Admin-Token). */
export function admin(s: TestServer, method: string, path: string, body?: unknown, token = ADMIN_TOKEN): Promise<Reply> {
  return s.call(method, path, { apiKey: null, body, headers: { 'x-admin-token': token } });
}

export interface Tenant {
  tenantId: string;
  apiKey: string;
  appId: string;
  /** Upserts a user in this tenant and logs them in. */
  user(id: string, role?: 'patient' | 'doctor' | 'staff' | 'admin', name?: string): Promise<{ id: string; token: string }>;
  /** Creates a conversation in this tenant with its API key. */
  conversation(input: { participants: string[]; type?: number; id?: string }): Promise<string>;
}

let tenantSeq = 0;

/** Creates another tenant with its own app key on the same server, through the admin API. */
export async function secondTenant(s: TestServer): Promise<Tenant> {
  const tenantId = `other${++tenantSeq}${Math.random().toString(36).slice(2, 8)}`;
  ok(await admin(s, 'POST', '/api/v2/admin/tenants', { id: tenantId, name: 'Other clinic' }), 'create tenant');
  const made = ok(await admin(s, 'POST', `/api/v2/admin/tenants/${tenantId}/apps`, { name: 'other app' }), 'create app');
  const apiKey: string = made.api_key;
  return {
    tenantId,
    apiKey,
    appId: made.app.id,
    async user(id, role = 'patient', name = id) {
      ok(await s.call('PUT', `/api/v2/management/users/${encodeURIComponent(id)}`, { apiKey, body: { role, name } }), 'upsert');
      const { token } = ok(await s.call('POST', '/api/v2/users/login', { apiKey, body: { user_id: id } }), 'login');
      return { id, token };
    },
    async conversation({ participants, type = 2, id }) {
      const body = { session_type: type, participants, ...(id ? { session_id: id } : {}) };
      return ok(await s.call('POST', '/api/v2/sessions', { apiKey, body }), 'create conversation').session.id;
    },
  };
}

const b64url = (x: string | Buffer) => Buffer.from(x).toString('base64url');

/** Signs an HS256 JWT by hand (to forge tokens with a wrong secret or a past expiry). */
export function signJwt(payload: Record<string, unknown>, secret: string, header: Record<string, unknown> = { alg: 'HS256', typ: 'JWT' }): string {
  const head = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}`;
  return `${head}.${createHmac('sha256', secret).update(head).digest('base64url')}`;
}

/** The claims of a JWT (no verification). */
export function jwtClaims(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')) as Record<string, unknown>;
}

/** Opens a WebSocket with the global client and resolves once the server's first frame (`hello`) arrived. */
export function openWs(s: TestServer, token: string, timeoutMs = 5000): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${s.wsUrl}?token=${encodeURIComponent(token)}`);
    const timer = setTimeout(() => {
      ws.close();
      reject(new Error('WebSocket: no hello in time'));
    }, timeoutMs);
    ws.addEventListener('message', () => {
      clearTimeout(timer);
      resolve(ws);
    }, { once: true });
    ws.addEventListener('error', () => {
      clearTimeout(timer);
      reject(new Error('WebSocket error'));
    }, { once: true });
  });
}

/** Closes a WebSocket and waits for the close to complete. */
export function closeWs(ws: WebSocket, timeoutMs = 3000): Promise<void> {
  if (ws.readyState === WebSocket.CLOSED) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, timeoutMs);
    ws.addEventListener('close', () => {
      clearTimeout(timer);
      resolve();
    }, { once: true });
    ws.close();
  });
}

/** Polls `check` until it returns true (bounded). */
export async function eventually(check: () => Promise<boolean>, timeoutMs = 3000, stepMs = 20): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

export const enc = encodeURIComponent;
