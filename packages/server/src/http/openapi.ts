/**
 * What the OpenAPI document (`/docs/json`, built by @fastify/swagger) says of every operation,
 * decided here once rather than in each route, so that every route — those added later too —
 * is described the same way (clean under Redocly's `recommended` rules; client generators
 * need operation ids):
 *
 * - `operationId`: the route's own if it gives one, else derived from method and path —
 *   `GET /api/v2/sessions/:session_id/messages` → `getSessionsBySessionIdMessages`. Stable:
 *   it changes only if the path does.
 * - `security`: from the route's `config.auth`; a public route (`none`) declares `[]`.
 * - errors: a `4XX` response with the common error body, next to the codes a route lists
 *   (every error of every route has that body); a route that names no success reply gets a
 *   plain `200`.
 */
import type { AuthMode } from './auth.ts';
import { ErrorReply } from './schemas.ts';

/** The security requirement of each auth mode, as the OpenAPI document states it (a new mode must be added here). */
const SECURITY: Record<AuthMode, Record<string, string[]>[]> = {
  none: [],
  user: [{ bearer: [] }],
  app: [{ apiKey: [] }],
  any: [{ bearer: [] }, { apiKey: [] }],
  admin: [{ admin: [] }],
};

export const securityOf = (auth: AuthMode | undefined): Record<string, string[]>[] => SECURITY[auth ?? 'none'];

const pascal = (word: string) => word.charAt(0).toUpperCase() + word.slice(1);

/** `get` + `/api/v2/sessions/{session_id}/messages` (or `:session_id`) → `getSessionsBySessionIdMessages`. */
export function operationIdOf(method: string, url: string): string {
  const path = url.replace(/^\/api\/v2(?=\/|$)/, '');
  const parts = path.split('/').filter(Boolean).map((segment) => {
    const param = /^(:|\{.*\}$)/.test(segment);
    const words = segment.split(/[^A-Za-z0-9]+/).filter(Boolean).map(pascal).join('');
    return param ? `By${words}` : words;
  });
  return method.toLowerCase() + parts.join('');
}

/** The swagger `transform`: a route's schema as the document shows it (security and errors). */
export function describeRoute({ schema, url, route }: { schema: Record<string, any> | undefined; url: string; route: { config?: unknown } }): { schema: Record<string, any>; url: string } {
  const s: Record<string, any> = { ...schema };
  s.security ??= securityOf((route.config as { auth?: AuthMode } | undefined)?.auth);
  const response: Record<string, unknown> = { ...s.response };
  if (!('4xx' in response) && !('4XX' in response)) response['4xx'] = { ...ErrorReply, description: 'An error: `{ code, message, details? }` (codes in docs/errors.md)' };
  // A route that names no success reply still has one (swagger would add it, were there no 4XX).
  if (!Object.keys(response).some((code) => /^[23]/.test(code))) response['200'] = { description: 'Success', type: 'null' };
  s.response = response;
  return { schema: s, url };
}

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

/**
 * The swagger `transformObject`: an `operationId` for every operation without one, from its
 * method and path (per method: a route with several methods gets one id each).
 */
export function nameOperations<T extends object>(doc: T): T {
  const paths = (doc as { paths?: Record<string, Record<string, any>> }).paths ?? {};
  for (const [path, item] of Object.entries(paths)) {
    for (const method of METHODS) {
      const op = item[method];
      // A copy: the operations of one route's methods are one shared object.
      if (op && !op.operationId) item[method] = { ...op, operationId: operationIdOf(method, path) };
    }
  }
  return doc;
}
