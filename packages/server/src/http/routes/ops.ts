/** Operations: health, readiness, metrics, the monitoring ping, and the SDK bundle. */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import Type from 'typebox';
import type { Api } from '../api.ts';
import type { Core } from '../../core.ts';
import type { Metrics } from '../../ops/metrics.ts';
import { STATIC_COMPRESSION } from './web.ts';
import { fail } from '../../domain/errors.ts';

export interface OpsState {
  /** False once shutdown has begun. */
  accepting: boolean;
  connections: () => number;
  startedAt: number;
  /** More `stats` of /monitor/api/ping (the front desk's queue); a failure leaves them out. */
  monitorStats?: () => Promise<{ name: string; value: number }[]>;
}

export function opsRoutes(app: Api, core: Core, metrics: Metrics, state: OpsState): void {
  app.get('/healthz', { schema: { tags: ['operations'], summary: 'Liveness: the process answers' } }, async () => ({ status: 'ok' }));

  app.get('/readyz', { schema: { tags: ['operations'], summary: 'Readiness: storage answers and the server is not shutting down' } }, async (_req, reply) => {
    const db = await core.storage.ping();
    const ready = db && state.accepting;
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not_ready', storage: db, accepting: state.accepting });
  });

  const metricsToken = core.config.metrics.token === '' ? null : createHash('sha256').update(core.config.metrics.token).digest();
  app.get('/metrics', { schema: { tags: ['operations'], summary: 'Prometheus metrics (with `metrics.token` set: `Authorization: Bearer <token>`)', hide: false } }, async (req, reply) => {
    if (metricsToken) {
      const ip = app.limits.ip(req);
      await app.limits.mayAuthenticate(ip);
      const given = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '')?.[1] ?? '';
      if (!timingSafeEqual(createHash('sha256').update(given).digest(), metricsToken)) {
        await app.limits.refused(ip, 'auth.invalid_metrics_token');
        throw fail('auth.invalid_metrics_token');
      }
    }
    reply.header('content-type', metrics.registry.contentType);
    return metrics.registry.metrics();
  });

  app.get('/monitor/api/ping', {
    schema: {
      tags: ['operations'], summary: 'Monitoring ping (service id and type, suggested interval, stats)',
      response: {
        200: Type.Object({
          service_id: Type.String(), service_type: Type.String(), code: Type.Integer(), interval: Type.Integer(), msg: Type.String(),
          stats: Type.Array(Type.Object({ name: Type.String(), value: Type.Number() })),
        }),
      },
    },
  }, async () => {
    const ok = state.accepting && (await core.storage.ping());
    return {
      service_id: core.config.service.id,
      service_type: core.config.service.type,
      code: ok ? 0 : 1,
      interval: 5,
      msg: ok ? 'ok' : 'unavailable',
      stats: [
        { name: 'connections', value: state.connections() },
        { name: 'uptime_seconds', value: Math.round((Date.now() - state.startedAt) / 1000) },
        { name: 'pending_writes', value: core.messages.committer.pending },
        { name: 'rss_bytes', value: process.memoryUsage.rss() },
        ...(state.monitorStats ? await state.monitorStats().catch(() => []) : []),
      ],
    };
  });

  let bundle: Promise<Buffer> | null = null;
  app.get('/sdk/im.client.js', { schema: { tags: ['operations'], summary: 'The SDK for browsers (global `Careline`)' }, compress: STATIC_COMPRESSION }, async (req, reply) => {
    bundle ??= readFile(sdkBundlePath()).catch((err: unknown) => {
      bundle = null;
      throw err;
    });
    try {
      const body = await bundle;
      return reply.type('application/javascript; charset=utf-8').header('cache-control', 'public, max-age=300').send(body);
    } catch {
      req.log.warn('SDK bundle missing: run `npm run build`');
      return reply.code(404).send({ code: 'request.route_not_found', message: 'The SDK bundle is not built: run `npm run build`.' });
    }
  });
}

/** packages/sdk/dist/im.client.js, built by `npm run build`. */
function sdkBundlePath(): string {
  return fileURLToPath(new URL('../../../../sdk/dist/im.client.js', import.meta.url));
}
