/** Maps every error to `{ code, message, details? }` with the code's HTTP status. */
import type { FastifyError, FastifyInstance } from 'fastify';
import { isAppError, fail, type AppError } from '../domain/errors.ts';

export function toAppError(err: FastifyError | Error): AppError {
  if (isAppError(err)) return err;
  const fe = err as FastifyError & { validation?: { instancePath?: string; message?: string }[]; validationContext?: string };
  if (fe.validation) {
    const details = fe.validation.slice(0, 10).map((v) => ({ in: fe.validationContext, path: v.instancePath || '/', message: v.message }));
    return fail('request.invalid', `Invalid ${fe.validationContext ?? 'request'}: ${details.map((d) => `${d.path} ${d.message}`).join('; ')}`, details);
  }
  switch (fe.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return fail('request.body_too_large');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return fail('request.unsupported_media_type');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return fail('request.invalid_json');
  }
  if (err instanceof SyntaxError && fe.statusCode === 400) return fail('request.invalid_json');
  if (fe.statusCode === 413) return fail('request.body_too_large');
  if (fe.statusCode === 415) return fail('request.unsupported_media_type');
  if (fe.statusCode && fe.statusCode >= 400 && fe.statusCode < 500) return fail('request.invalid', err.message);
  return fail('server.internal');
}

export function installErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError, req, reply) => {
    const e = toAppError(err);
    if (e.status >= 500) req.log.error({ err }, 'request failed');
    else req.log.debug({ code: e.code }, 'request rejected');
    const retry = (e.details as { retry_after?: unknown } | undefined)?.retry_after;
    if ((e.code === 'request.rate_limited' || e.code === 'desk.rate_limited') && typeof retry === 'number') reply.header('retry-after', String(retry));
    void reply.code(e.status).send(e.toBody());
  });
  app.setNotFoundHandler((req, reply) => {
    const e = fail('request.route_not_found', `No route ${req.method} ${req.url.split('?')[0]}`);
    void reply.code(404).send(e.toBody());
  });
}
