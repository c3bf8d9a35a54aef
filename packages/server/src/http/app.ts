/**
 * The HTTP adapter: a Fastify instance over the core, not yet listening (tests use `inject`
 * or listen on port 0). Every route declares its schema (validation + OpenAPI) and who may
 * call it (`config.auth`).
 */
import type { Redis } from 'ioredis';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyReply, type FastifyRequest, type FastifySchemaCompiler, type FastifyInstance } from 'fastify';
import type { TSchema } from 'typebox';
import compress from '@fastify/compress';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { TypeBoxValidatorCompiler, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Api } from './api.ts';
import type { Core } from '../core.ts';
import type { Metrics } from '../ops/metrics.ts';
import { resolvePrincipal, type AuthMode } from './auth.ts';
import { installErrorHandling, toAppError } from './errors.ts';
import { describeRoute, nameOperations } from './openapi.ts';
import { RateLimits } from './rate-limit.ts';
import { fail, isAppError, type AppError } from '../domain/errors.ts';
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { adminRoutes } from './routes/admin.ts';
import { audienceRoutes } from './routes/audiences.ts';
import { notificationRoutes } from './routes/notifications.ts';
import { settingsRoutes } from './routes/settings.ts';
import { opsRoutes, type OpsState } from './routes/ops.ts';
import { conversationRoutes } from './routes/conversations.ts';
import { messageRoutes } from './routes/messages.ts';
import { readRoutes } from './routes/read.ts';
import { participantRoutes } from './routes/participants.ts';
import { topicRoutes } from './routes/topics.ts';
import { topicMessageRoutes } from './routes/topic-messages.ts';
import { topicStatisticsRoutes } from './routes/topic-statistics.ts';
import { userRoutes } from './routes/users.ts';
import { auditRoutes } from './routes/audit.ts';
import { webRoutes } from './routes/web.ts';
import { fileRoutes } from './routes/files.ts';
import { deviceRoutes } from './routes/devices.ts';
import { webhookRoutes } from './routes/webhooks.ts';
import { oauthRoutes } from './routes/oauth.ts';
import { callRoutes } from './routes/calls.ts';
import { searchRoutes } from './routes/search.ts';
import { conferenceRoutes } from './routes/conferences.ts';


declare module 'fastify' {
  interface FastifyInstance {
    /** The request limits, shared with the WebSocket upgrade (`http/rate-limit.ts`). */
    limits: RateLimits;
  }
}

export interface HttpOptions {
  core: Core;
  metrics: Metrics;
  logger: FastifyBaseLogger;
  state: OpsState;
  /** A Redis client shared by the nodes: the rate-limit counters live there (absent: in this process). */
  redis?: Redis;
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

/**
 * The docs viewer's Content-Security-Policy: @fastify/swagger-ui's own (this server only, with
 * the hashes of its inline scripts; `frame-ancestors 'self'`), with inline styles allowed (the
 * viewer sets some at run time) and without `upgrade-insecure-requests`, which would break the
 * viewer served over plain HTTP on a private network.
 */
const docsCsp = {
  staticCSP: true,
  transformStaticCSP: (header: string) => header.replace(/\s*upgrade-insecure-requests;?/, '').replace(/style-src ([^;]*)/, "style-src $1 'unsafe-inline'"),
};

/** Why Node's HTTP server refused a request, as an error code. */
const parserRefusal = (code: string | undefined): AppError =>
  code === 'HPE_HEADER_OVERFLOW' ? fail('request.headers_too_large') : code === 'ERR_HTTP_REQUEST_TIMEOUT' ? fail('request.timeout') : fail('request.malformed');

/**
 * Answers a request the HTTP parser refused (never reached Fastify) with the usual
 * `{ code, message }` body, then closes the connection, as Node's own answer does.
 */
function answerClientError(this: FastifyInstance, err: Error & { code?: string }, socket: Duplex): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const e = parserRefusal(err.code);
  const body = JSON.stringify(e.toBody());
  this.log.debug({ err, code: e.code }, 'HTTP parser refused a request');
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${e.status} ${STATUS_CODES[e.status]}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
        `Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy(err);
}

export async function buildHttp({ core, metrics, logger, state, redis }: HttpOptions): Promise<Api> {
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
    // Requests Node's HTTP parser refuses (headers too large, not HTTP) get the same body too.
    clientErrorHandler: answerClientError,
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
          conferenceToken: { type: 'http', scheme: 'bearer', description: 'Conference token from POST /api/v2/conference-access/exchange' },
        },
      },
    },
    // Each operation's security (from `config.auth`), 4XX reply and operationId: http/openapi.ts.
    transform: describeRoute,
    transformObject: (doc) => nameOperations('openapiObject' in doc ? doc.openapiObject : doc.swaggerObject),
  });
  await app.register(swaggerUi, { routePrefix: '/docs', ...docsCsp });

  const limits = await RateLimits.install(app, core.config, redis);
  app.decorate('limits', limits);
  app.decorateRequest('principal', undefined as never);
  // Authenticate before the body is read: an unauthenticated request costs no parsing.
  // An address that guessed wrong too often is refused before its credentials are checked.
  // The global hooks take callbacks, not promises: each runs on every request, and an async
  // hook costs a promise and its resolution even when it has nothing to wait for.
  const authenticateRequest = async (req: FastifyRequest, mode: AuthMode, ip: string): Promise<void> => {
    await limits.mayAuthenticate(ip);
    let p;
    try {
      p = await resolvePrincipal(core, req, mode);
    } catch (err) {
      if (isAppError(err)) await limits.refused(ip, err.code);
      throw err;
    }
    if (p) {
      req.principal = p;
      await limits.principal(p);
    }
  };
  app.addHook('onRequest', (req, _reply, done) => {
    const config = req.routeOptions.config;
    const mode = config.auth ?? 'none';
    if (mode === 'none' && config.authenticatesItself) return done();
    const ip = limits.ip(req);
    (mode === 'none' ? limits.publicRequest(ip) : authenticateRequest(req, mode, ip)).then(() => done(), done);
  });
  app.addHook('preHandler', (req, _reply, done) => {
    const userId = (req.body as { user_id?: unknown } | undefined)?.user_id;
    if (!req.routeOptions.config.login || typeof userId !== 'string') return done();
    limits.login(req.principal.tenantId, userId).then(() => done(), done);
  });
  app.addHook('onResponse', (req, reply, done) => {
    metrics.httpRequests.observe(
      { method: req.method, route: req.routeOptions.url ?? 'unmatched', status: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
    done();
  });
  // API answers carry patient content: never stored by a cache, never sniffed as another type.
  // Files that may be cached (web assets, the SDK bundle, the docs viewer's) set their own
  // Cache-Control. An error answer counts its code.
  app.addHook('onSend', (_req, reply, payload, done) => {
    if (!reply.hasHeader('cache-control')) reply.header('cache-control', 'no-store');
    reply.header('x-content-type-options', 'nosniff');
    if (reply.statusCode >= 400 && typeof payload === 'string' && payload.startsWith('{"code":')) {
      const code = /^\{"code":"([^"]+)"/.exec(payload)?.[1];
      if (code) metrics.errors.inc({ code });
    }
    done(null, payload);
  });

  userRoutes(app, core);
  auditRoutes(app, core);
  // /api/v2/sessions: conversations, their messages, read state, participants, then topics.
  conversationRoutes(app, core);
  messageRoutes(app, core);
  readRoutes(app, core);
  participantRoutes(app, core);
  topicRoutes(app, core);
  topicMessageRoutes(app, core);
  topicStatisticsRoutes(app, core);
  notificationRoutes(app, core);
  audienceRoutes(app, core);
  settingsRoutes(app, core);
  deviceRoutes(app, core);
  callRoutes(app, core);
  searchRoutes(app, core);
  adminRoutes(app, core);
  opsRoutes(app, core, metrics, state);
  await fileRoutes(app, core);
  await webRoutes(app, core);
  webhookRoutes(app, core);
  await oauthRoutes(app, core);
  conferenceRoutes(app, core);
  return app;
}
