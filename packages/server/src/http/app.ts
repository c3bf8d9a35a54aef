/**
 * The HTTP adapter: a Fastify instance over the core, not yet listening (tests use `inject`
 * or listen on port 0). Every route declares its schema (validation + OpenAPI) and who may
 * call it (`config.auth`).
 */
import Fastify, { LogController, type FastifyBaseLogger, type FastifyReply, type FastifySchemaCompiler, type FastifyInstance, type RawReplyDefaultExpression, type RawRequestDefaultExpression, type RawServerDefault } from 'fastify';
import type { TSchema } from 'typebox';
import compress from '@fastify/compress';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { TypeBoxValidatorCompiler, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Core } from '../core.ts';
import type { Metrics } from '../ops/metrics.ts';
import { resolvePrincipal } from './auth.ts';
import { installErrorHandling, toAppError } from './errors.ts';
import { describeRoute, nameOperations } from './openapi.ts';
import { adminRoutes } from './routes/admin.ts';
import { audienceRoutes } from './routes/audiences.ts';
import { notificationRoutes } from './routes/notifications.ts';
import { settingsRoutes } from './routes/settings.ts';
import { opsRoutes, type OpsState } from './routes/ops.ts';
import { sessionRoutes } from './routes/sessions.ts';
import { topicRoutes } from './routes/topics.ts';
import { userRoutes } from './routes/users.ts';
import { auditRoutes } from './routes/audit.ts';
import { webRoutes } from './routes/web.ts';

export type Api = FastifyInstance<RawServerDefault, RawRequestDefaultExpression, RawReplyDefaultExpression, FastifyBaseLogger, TypeBoxTypeProvider>;

export interface HttpOptions {
  core: Core;
  metrics: Metrics;
  logger: FastifyBaseLogger;
  state: OpsState;
}

/**
 * TypeBox's validator, with strict integers in the query string: its conversion turns "" into 0
 * and "1.5" into 1, so `?type=` would list type-0 conversations. Such values are refused.
 */
const strictValidatorCompiler: FastifySchemaCompiler<TSchema> = (route) => {
  const validate = TypeBoxValidatorCompiler(route);
  if (route.httpPart !== 'querystring') return validate;
  const props = (route.schema as { properties?: Record<string, { type?: unknown }> }).properties ?? {};
  const ints = Object.keys(props).filter((k) => props[k]!.type === 'integer');
  if (ints.length === 0) return validate;
  return (value: Record<string, unknown> | undefined) => {
    const bad = ints.filter((k) => typeof value?.[k] === 'string' && !/^-?[0-9]+$/.test(value[k] as string));
    if (bad.length) return { error: bad.map((k) => ({ keyword: 'type', instancePath: `/${k}`, schemaPath: `#/properties/${k}/type`, params: { type: 'integer' }, message: 'must be integer' })) };
    return validate(value);
  };
};

export async function buildHttp({ core, metrics, logger, state }: HttpOptions): Promise<Api> {
  const app = Fastify({
    loggerInstance: logger,
    bodyLimit: core.config.http.bodyLimitBytes,
    trustProxy: core.config.http.trustProxy,
    logController: new LogController({ disableRequestLogging: true }),
    ajv: undefined,
    return503OnClosing: true,
    // Params are bounded by each route's schema (up to 4096 for comma-separated ids), not by the router's default 100.
    routerOptions: { maxParamLength: 4096 },
    // Errors the router raises before any route runs (bad URL encoding…) get the same `{ code, message }` body.
    frameworkErrors: (err, _req, reply) => {
      const e = toAppError(err);
      void (reply as FastifyReply).code(e.status).send(e.toBody());
    },
  })
    .setValidatorCompiler(strictValidatorCompiler)
    .withTypeProvider<TypeBoxTypeProvider>();

  installErrorHandling(app);
  // JSON only: a text/plain body is refused as an unsupported media type, not parsed as a string.
  app.removeContentTypeParser('text/plain');
  // Compression only where a route asks for it (`compress: STATIC_COMPRESSION`): static assets.
  await app.register(compress, { global: false });

  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'Careline API',
        version: '2.0.0',
        description: 'Messaging for patients and care teams. Errors: `{ code, message, details? }` (codes in docs/errors.md). WebSocket protocol at /ws: see packages/protocol.',
        license: { name: 'Apache-2.0', url: 'https://www.apache.org/licenses/LICENSE-2.0' },
      },
      servers: [{ url: '/', description: 'The server that serves this document' }],
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer', description: 'User token from /api/v2/users/login' },
          apiKey: { type: 'apiKey', in: 'header', name: 'X-Api-Key', description: 'Integrator API key' },
          admin: { type: 'apiKey', in: 'header', name: 'X-Admin-Token', description: 'Operator token' },
        },
      },
    },
    // Each operation's security (from `config.auth`), 4XX reply and operationId: http/openapi.ts.
    transform: describeRoute,
    transformObject: (doc) => nameOperations('openapiObject' in doc ? doc.openapiObject : doc.swaggerObject),
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });

  app.decorateRequest('principal', undefined as never);
  // Authenticate before the body is read: an unauthenticated request costs no parsing.
  app.addHook('onRequest', async (req) => {
    const mode = req.routeOptions.config.auth ?? 'none';
    const p = await resolvePrincipal(core, req, mode);
    if (p) req.principal = p;
  });
  app.addHook('onResponse', async (req, reply) => {
    metrics.httpRequests.observe(
      { method: req.method, route: req.routeOptions.url ?? 'unmatched', status: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
  });
  app.addHook('onSend', async (_req, reply, payload) => {
    if (reply.statusCode >= 400 && typeof payload === 'string' && payload.startsWith('{"code":')) {
      const code = /^\{"code":"([^"]+)"/.exec(payload)?.[1];
      if (code) metrics.errors.inc({ code });
    }
    return payload;
  });

  userRoutes(app, core);
  auditRoutes(app, core);
  sessionRoutes(app, core);
  topicRoutes(app, core);
  notificationRoutes(app, core);
  audienceRoutes(app, core);
  settingsRoutes(app, core);
  adminRoutes(app, core);
  opsRoutes(app, core, metrics, state);
  await webRoutes(app, core);
  return app;
}
