/**
 * The reference web client (`apps/web`, built into `apps/web/dist` by `npm run build`),
 * served at `/`, and the dev-only demo sign-in it offers (`GET /api/v2/demo/users`).
 *
 * - Files under `dist/assets/` have content hashes in their names: cached for a year,
 *   immutable. `index.html` (and every other file) is revalidated (`no-cache` + ETag).
 * - Compressed (zstd, brotli or gzip) as the request's Accept-Encoding allows.
 * - Client routes (`/c/<id>`, `/consultations`, `/inbox`… any path without a file extension)
 *   get `index.html`, so a reload or a shared link opens the right screen.
 * - Never shadows the server's own paths: `/api`, `/ws`, `/docs`, `/sdk`, `/metrics`,
 *   `/healthz`, `/readyz`, `/monitor` keep their routes and their JSON 404.
 */
import { stat } from 'node:fs/promises';
import { extname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyCompressOptions } from '@fastify/compress';
import { errorCodes, type FastifyReply, type FastifyRequest } from 'fastify';
import Type from 'typebox';
import type { Api } from '../api.ts';
import type { Core } from '../../core.ts';
import { demoLogins } from '../../demo.ts';
import { fail } from '../../domain/errors.ts';
import { errors } from '../schemas.ts';

/**
 * How static assets (the web client, the SDK bundle) are compressed: as the request's
 * Accept-Encoding allows (zstd, brotli or gzip), on the fly (@fastify/compress, registered in
 * app.ts for the routes that ask), with `Vary: Accept-Encoding`. API replies are not compressed:
 * they carry tokens and patient content next to what a caller sent (BREACH).
 */
export const STATIC_COMPRESSION = { encodings: ['zstd', 'br', 'gzip'] } as const satisfies FastifyCompressOptions;

/** `apps/web/dist` of this repository. */
export const webDistDir = fileURLToPath(new URL('../../../../../apps/web/dist/', import.meta.url));

/** Path prefixes the web client never answers for. */
const RESERVED = ['/api', '/ws', '/docs', '/sdk', '/metrics', '/healthz', '/readyz', '/monitor'];

const isReserved = (path: string) => RESERVED.some((p) => path === p || path.startsWith(`${p}/`));

/**
 * The pages' security headers: scripts and styles from this server only; pictures, voice
 * and video of messages may come from any https host (the integrator's storage). Framed only
 * by this server's pages and the integrator's origins in `web.frameAncestors` (a host system
 * embeds the client with `#token=`); see `htmlHeaders`.
 */
const HTML_HEADERS: Record<string, string> = {
  'content-security-policy': [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' https: data: blob:",
    "media-src 'self' https: blob:",
    "connect-src 'self' ws: wss:",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
  ].join('; '),
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
};

/** `HTML_HEADERS` with `frame-ancestors 'self'` and the configured origins. */
export function htmlHeaders(frameAncestors: string): Record<string, string> {
  const origins = frameAncestors.split(/\s+/).filter(Boolean);
  const csp = `${HTML_HEADERS['content-security-policy']}; frame-ancestors ${["'self'", ...origins].join(' ')}`;
  return { ...HTML_HEADERS, 'content-security-policy': csp };
}

export async function webRoutes(app: Api, core: Core, distDir = webDistDir): Promise<void> {
  const pageHeaders = htmlHeaders(core.config.web.frameAncestors);
  app.get('/api/v2/demo/users', {
    schema: {
      tags: ['demo'],
      summary: 'Dev profile only (`demo: true`; 404 otherwise): the demo users with fresh tokens, for the web client\'s sign-in',
      response: {
        200: Type.Object({
          tenant_id: Type.String(),
          conversation_id: Type.String({ description: 'The demo doctor ↔ patient conversation' }),
          users: Type.Array(Type.Object({
            id: Type.String(), role: Type.String(), name: Type.String(), token: Type.String(), expires_at: Type.Number(),
          })),
        }),
        ...errors(404),
      },
    },
  }, async (req, reply) => {
    if (!core.config.demo) throw fail('request.route_not_found', `No route GET ${req.url.split('?')[0]}`);
    reply.header('cache-control', 'no-store');
    return demoLogins(core);
  });

  // An encapsulated scope: its own @fastify/static (sendFile only), apart from the one of /docs.
  await app.register(async (scope) => {
    await scope.register(fastifyStatic, { root: distDir, serve: false, suppressWarning: true, cacheControl: false, dotfiles: 'deny' });
    const root = normalize(distDir);
    const maxParamLength = (app.initialConfig as { routerOptions?: { maxParamLength?: number } }).routerOptions?.maxParamLength ?? 100;

    /** What the router answers for an unknown path of the server's own (as if this route were not there). */
    const notOurs = (reply: FastifyReply, path: string) => {
      const tooLong = path.split('/').some((segment) => segment.length > maxParamLength);
      if (tooLong) throw new errorCodes.FST_ERR_MAX_PARAM_LENGTH(path);
      return reply.callNotFound();
    };

    const serve = async (req: FastifyRequest, reply: FastifyReply) => {
      let path: string;
      try {
        path = decodeURIComponent(req.url.split('?')[0]!);
      } catch {
        return reply.callNotFound();
      }
      if (isReserved(path)) return notOurs(reply, path);
      if (path.includes('\0')) return reply.callNotFound();
      const file = normalize(join(root, path));
      if (file !== root && !file.startsWith(root.endsWith(sep) ? root : root + sep)) return reply.callNotFound();
      const rel = file.slice(root.length).replace(/^[\\/]+/, '');
      if (rel !== '' && rel !== 'index.html' && (await isFile(file))) {
        const immutable = rel.startsWith('assets/');
        reply.header('cache-control', immutable ? 'public, max-age=31536000, immutable' : 'no-cache');
        if (rel === WIDGET_SCRIPT || rel.startsWith('widget/')) reply.headers(widgetHeaders(rel));
        return reply.sendFile(rel);
      }
      // A client route (no file extension): the app's page. Anything else is not here.
      if (rel !== '' && rel !== 'index.html' && extname(rel) !== '') return reply.callNotFound();
      if (!(await isFile(join(root, 'index.html')))) {
        req.log.warn('web client missing: run `npm run build`');
        return reply.code(404).send(fail('request.route_not_found', 'The web client is not built: run `npm run build`.').toBody());
      }
      reply.headers({ ...pageHeaders, 'cache-control': 'no-cache' });
      return reply.sendFile('index.html');
    };

    scope.get('/', { schema: { hide: true }, compress: STATIC_COMPRESSION }, serve);
    scope.get('/*', { schema: { hide: true }, compress: STATIC_COMPRESSION }, serve);
  });
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

/**
 * The front-desk widget (apps/web/src/desk/widget): `/widget.js`, the script a clinic's website
 * includes (a stable path, revalidated), and `/widget/frame.html`, the chat it shows in an
 * iframe on this server's origin. The script may be loaded by any site; the frame may be
 * framed by any site (it holds only the visitor's own chat, created with the public widget
 * key), with the pages' other rules (scripts, styles and connections from this server only).
 */
export const WIDGET_SCRIPT = 'widget.js';

function widgetHeaders(rel: string): Record<string, string> {
  if (rel === WIDGET_SCRIPT) return { 'cross-origin-resource-policy': 'cross-origin', 'access-control-allow-origin': '*', 'x-content-type-options': 'nosniff' };
  if (!rel.endsWith('.html')) return {};
  return { ...HTML_HEADERS, 'content-security-policy': `${HTML_HEADERS['content-security-policy']}; frame-ancestors *` };
}

