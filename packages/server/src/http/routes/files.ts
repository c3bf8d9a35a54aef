/**
 * Files: `POST /api/v2/sessions/:session_id/files` (upload, the raw bytes as the body),
 * `GET /api/v2/files/:file_id` (download, byte ranges), `…/thumbnail`, `POST …/link` (a
 * short-lived signed URL) and `GET /api/v2/signed-files/:token` (no credentials: for `<img>`).
 * Registered in a scope of its own, where request bodies are not parsed: an upload streams
 * from the socket to a temp file (`files/service.ts`), never whole in memory.
 */
import Type from 'typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Api } from '../api.ts';
import type { Core } from '../../core.ts';
import type { Download } from '../../files/service.ts';
import { TUS_EXTENSIONS, TUS_VERSION, parseMetadata } from '../../files/tus.ts';
import { fail } from '../../domain/errors.ts';
import { SessionIdParams, errors } from '../schemas.ts';

const FileInfo = Type.Object({
  storageId: Type.String({ description: 'Seed 003\'s storageId: put it in a message\'s content to attach the file.' }),
  fileName: Type.String(),
  fileSize: Type.Integer({ description: 'Bytes as served (an image without its metadata).' }),
  mimeType: Type.String({ description: 'Sniffed from the bytes.' }),
  kind: Type.Union([Type.Literal('image'), Type.Literal('audio'), Type.Literal('video'), Type.Literal('file')]),
  width: Type.Optional(Type.Integer()),
  height: Type.Optional(Type.Integer()),
  duration: Type.Optional(Type.Number({ description: 'Seconds (audio, video), when the file says.' })),
  thumbnail: Type.Optional(Type.String({ description: 'Path of the thumbnail (a JPEG), images only.' })),
  thumbnailWidth: Type.Optional(Type.Integer()),
  thumbnailHeight: Type.Optional(Type.Integer()),
});

const FileIdParams = Type.Object({ file_id: Type.String({ minLength: 1, maxLength: 128 }) });

/** A single `bytes=a-b` or `bytes=a-` range; anything else is ignored (the whole file is sent). */
function range(req: FastifyRequest): { start: number; end: number | null } | undefined {
  const h = req.headers.range;
  const m = typeof h === 'string' ? /^bytes=(\d+)-(\d*)$/.exec(h.trim()) : null;
  if (!m) return undefined;
  return { start: Number(m[1]), end: m[2] ? Number(m[2]) : null };
}

function send(reply: FastifyReply, d: Download): FastifyReply {
  const inline = d.variant === 'thumbnail' || /^(image|audio|video)\//.test(d.mimeType) || d.mimeType === 'application/pdf';
  const name = d.variant === 'thumbnail' ? `${d.file.file_name}.thumb.jpg` : d.file.file_name;
  reply
    .type(d.mimeType)
    .header('accept-ranges', 'bytes')
    .header('content-disposition', `${inline ? 'inline' : 'attachment'}; filename*=UTF-8''${encodeURIComponent(name)}`)
    .header('content-security-policy', "default-src 'none'; sandbox");
  if (d.range) {
    reply.code(206).header('content-range', `bytes ${d.range.start}-${d.range.end}/${d.size}`).header('content-length', d.range.end - d.range.start + 1);
  } else {
    reply.header('content-length', d.size);
  }
  return reply.send(d.body);
}

const Policy = Type.Object({ tenant_id: Type.String(), conversation_type: Type.Integer(), days: Type.Integer(), updated_at: Type.Integer() });
const Hold = Type.Object({ tenant_id: Type.String(), conversation_id: Type.String(), reason: Type.Union([Type.String(), Type.Null()]), set_by: Type.String(), set_at: Type.Integer() });

/** Retention policies and legal holds: the integrator's API key, or a user with the admin role. */
function retentionRoutes(app: Api, core: Core): void {
  const r = core.files.retention;
  app.get('/api/v2/management/retention', {
    config: { auth: 'any' },
    schema: { tags: ['management'], summary: 'The tenant\'s retention policies (days kept per conversation type)', response: { 200: Type.Object({ policies: Type.Array(Policy) }), ...errors(401, 403) } },
  }, async (req) => ({ policies: await r.policies(req.principal) }));

  app.put('/api/v2/management/retention/:conversation_type', {
    config: { auth: 'any' },
    schema: {
      tags: ['management'], summary: 'Set how many days messages and files of a conversation type are kept (null: forever)',
      description: 'Older messages become tombstones (content null, seq kept) and their files are deleted, by the periodic retention job; conversations under legal hold are skipped. '
        + 'The integrator\'s API key, or a user with the admin role.',
      params: Type.Object({ conversation_type: Type.Integer({ minimum: 0, maximum: 1000 }) }),
      body: Type.Object({ days: Type.Union([Type.Integer({ minimum: 1, maximum: 36_500 }), Type.Null()]) }, { additionalProperties: false }),
      response: { 200: Type.Object({ policies: Type.Array(Policy) }), ...errors(400, 401, 403) },
    },
  }, async (req) => ({ policies: await r.setPolicy(req.principal, req.params.conversation_type, req.body.days) }));

  app.get('/api/v2/management/legal-holds', {
    config: { auth: 'any' },
    schema: { tags: ['management'], summary: 'The tenant\'s conversations under legal hold', response: { 200: Type.Object({ holds: Type.Array(Hold) }), ...errors(401, 403) } },
  }, async (req) => ({ holds: await r.holds(req.principal) }));

  app.put('/api/v2/sessions/:session_id/legal-hold', {
    config: { auth: 'any' },
    schema: {
      tags: ['management'], summary: 'Put a conversation under legal hold: retention deletes nothing of it until the hold is lifted',
      params: SessionIdParams,
      body: Type.Object({ reason: Type.Optional(Type.String({ maxLength: 1000 })) }, { additionalProperties: false }),
      response: { 200: Type.Object({ hold: Hold }), ...errors(400, 401, 403, 404) },
    },
  }, async (req) => ({ hold: (await r.setHold(req.principal, req.params.session_id, { reason: req.body.reason ?? null }))! }));

  app.delete('/api/v2/sessions/:session_id/legal-hold', {
    config: { auth: 'any' },
    schema: { tags: ['management'], summary: 'Lift a conversation\'s legal hold', params: SessionIdParams, response: { 200: Type.Object({ hold: Type.Null() }), ...errors(401, 403, 404) } },
  }, async (req) => ({ hold: (await r.setHold(req.principal, req.params.session_id, null)) as null }));
}

export async function fileRoutes(app: Api, core: Core): Promise<void> {
  retentionRoutes(app, core);
  await app.register(async (scope: Api) => {
    // Uploads are read by the handler as a stream; nothing else in this scope has a body to parse.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', (_req, _payload, done) => done(null, undefined));

    scope.post('/api/v2/sessions/:session_id/files', {
      config: { auth: 'any' },
      schema: {
        tags: ['files'], summary: 'Upload a file to a conversation (the raw bytes as the body)',
        description: 'The body is the file itself, streamed (any Content-Type; a specific one must agree with the bytes). '
          + 'The type is sniffed from the bytes; per-kind size limits are `files.max*Bytes`. Images are stored without their '
          + 'metadata (EXIF, GPS) and get a thumbnail. The answer is seed 003\'s content fields: send a message with its '
          + '`storageId` to attach the file (until then only the uploader reads it; unattached uploads are deleted after `files.orphanTtlSeconds`). '
          + 'A user\'s token, or the API key with X-On-Behalf-Of.',
        params: SessionIdParams,
        querystring: Type.Object({ name: Type.String({ minLength: 1, maxLength: 255, description: 'The file name (a plain name, no path).' }) }),
        response: { 200: Type.Object({ file: FileInfo }), ...errors(400, 401, 403, 404, 413, 415) },
      },
    }, async (req) => {
      const len = req.headers['content-length'];
      const file = await core.files.upload(req.principal, req.params.session_id, {
        name: req.query.name,
        ...(req.headers['content-type'] ? { declaredType: req.headers['content-type'] } : {}),
        ...(len !== undefined && /^\d+$/.test(len) ? { declaredSize: Number(len) } : {}),
        body: req.raw,
      });
      return { file };
    });

    scope.get('/api/v2/files/:file_id', {
      config: { auth: 'any' },
      schema: {
        tags: ['files'], summary: 'Download a file (Range: bytes=a-b supported)',
        description: 'Members of the file\'s conversation and the tenant\'s API key. Reads of files in conversations with a patient are audit-logged.',
        params: FileIdParams, response: errors(401, 403, 404, 416),
      },
    }, async (req, reply) => send(reply, await core.files.open(req.principal, req.params.file_id, 'original', range(req))));

    scope.get('/api/v2/files/:file_id/thumbnail', {
      config: { auth: 'any' },
      schema: { tags: ['files'], summary: 'An image\'s thumbnail (JPEG)', params: FileIdParams, response: errors(401, 403, 404, 416) },
    }, async (req, reply) => send(reply, await core.files.open(req.principal, req.params.file_id, 'thumbnail', range(req))));

    scope.post('/api/v2/files/:file_id/link', {
      config: { auth: 'any' },
      schema: {
        tags: ['files'], summary: 'A short-lived signed URL for the file or its thumbnail (for <img src>, without the token)',
        description: 'Valid `files.signedUrlTtlSeconds`; it reads as the caller, and access is checked again when it is used.',
        params: FileIdParams,
        querystring: Type.Object({ variant: Type.Optional(Type.Union([Type.Literal('original'), Type.Literal('thumbnail')])) }),
        response: { 200: Type.Object({ url: Type.String(), expires_at: Type.Integer() }), ...errors(401, 403, 404) },
      },
    }, async (req) => {
      const { path, expires_at } = await core.files.link(req.principal, req.params.file_id, req.query.variant ?? 'original');
      return { url: path, expires_at };
    });

    await scope.register(async (tus: Api) => tusRoutes(tus, core));

    scope.get('/api/v2/signed-files/:token', {
      config: { auth: 'none' },
      schema: {
        tags: ['files'], summary: 'Download through a signed URL (no credentials)',
        params: Type.Object({ token: Type.String({ minLength: 1, maxLength: 2048 }) }), response: errors(403, 404, 416),
      },
    }, async (req, reply) => send(reply, await core.files.openSigned(req.params.token, range(req))));
  });
}

const UploadIdParams = Type.Object({ upload_id: Type.String({ minLength: 1, maxLength: 64 }) });
const UploadStatus = Type.Object({
  id: Type.String(), conversation_id: Type.String(), file_name: Type.String(), length: Type.Integer(), offset: Type.Integer(),
  state: Type.Union([Type.Literal('uploading'), Type.Literal('completing'), Type.Literal('done'), Type.Literal('failed')]),
  file: Type.Optional(FileInfo), error: Type.Optional(Type.String()),
});

/**
 * Resumable uploads, tus 1.0 (core, creation, termination): `POST /api/v2/sessions/:id/uploads`
 * creates, `HEAD`/`PATCH`/`DELETE /api/v2/uploads/:upload_id`; `GET` of it (not tus) answers the
 * upload's state and, once complete, the stored file. Every answer carries Tus-Resumable.
 */
async function tusRoutes(app: Api, core: Core): Promise<void> {
  const tus = core.files.tus;
  app.addHook('onRequest', async (req, reply) => {
    reply.header('tus-resumable', TUS_VERSION);
    // Every request but OPTIONS (and our own GET) names the protocol version it speaks.
    if (req.method !== 'OPTIONS' && req.method !== 'GET' && req.headers['tus-resumable'] !== TUS_VERSION) {
      reply.header('tus-version', TUS_VERSION);
      throw fail('file.tus_version', undefined, { supported: TUS_VERSION });
    }
  });
  const describe = (reply: FastifyReply) =>
    reply.header('tus-version', TUS_VERSION).header('tus-extension', TUS_EXTENSIONS).header('tus-max-size', String(tus.maxSize));
  const headers = (reply: FastifyReply, s: { offset: number; length: number }) =>
    reply.header('upload-offset', String(s.offset)).header('upload-length', String(s.length)).header('cache-control', 'no-store');

  for (const url of ['/api/v2/sessions/:session_id/uploads', '/api/v2/uploads/:upload_id']) {
    app.options(url, { config: { auth: 'none' }, schema: { tags: ['files'], summary: 'tus: the protocol versions, extensions and largest size this server takes' } }, async (_req, reply) =>
      describe(reply).code(204).send());
  }

  app.post('/api/v2/sessions/:session_id/uploads', {
    config: { auth: 'any' },
    schema: {
      tags: ['files'], summary: 'tus creation: start a resumable upload to a conversation',
      description: 'Headers: Tus-Resumable: 1.0.0, Upload-Length (bytes), Upload-Metadata with `filename` (and optionally `filetype`), base64 as tus says. '
        + 'Answers 201 with Location: /api/v2/uploads/{upload_id}. Then PATCH the bytes (Content-Type: application/offset+octet-stream, Upload-Offset), '
        + 'HEAD to learn the offset after an interruption, DELETE to give up. The PATCH that completes it runs every check of a one-request upload '
        + '(type, size limits, virus scan, EXIF stripping) and answers the stored file in `Careline-Storage-Id`; GET the upload for its fields.',
      params: SessionIdParams, response: errors(400, 401, 403, 404, 412, 413),
    },
  }, async (req, reply) => {
    const len = req.headers['upload-length'];
    const u = await tus.create(req.principal, req.params.session_id, {
      length: typeof len === 'string' && /^\d{1,16}$/.test(len) ? Number(len) : undefined,
      metadata: parseMetadata(typeof req.headers['upload-metadata'] === 'string' ? req.headers['upload-metadata'] : undefined),
    });
    return describe(reply).code(201).header('location', `/api/v2/uploads/${u.id}`).header('upload-offset', '0').send();
  });

  app.head('/api/v2/uploads/:upload_id', {
    config: { auth: 'any' },
    schema: { tags: ['files'], summary: 'tus: the upload\'s offset (how much the server has)', params: UploadIdParams, response: errors(401, 404, 412) },
  }, async (req, reply) => {
    const s = await tus.status(req.principal, req.params.upload_id);
    if (s.state === 'failed') throw fail('file.upload_failed', undefined, { error: s.error });
    return headers(reply, s).code(200).send();
  });

  app.get('/api/v2/uploads/:upload_id', {
    exposeHeadRoute: false,
    config: { auth: 'any' },
    schema: { tags: ['files'], summary: 'The state of a resumable upload, and its stored file once complete', params: UploadIdParams, response: { 200: Type.Object({ upload: UploadStatus }), ...errors(401, 404) } },
  }, async (req) => ({ upload: await tus.status(req.principal, req.params.upload_id) }));

  app.patch('/api/v2/uploads/:upload_id', {
    config: { auth: 'any' },
    schema: {
      tags: ['files'], summary: 'tus: append bytes at Upload-Offset',
      params: UploadIdParams, response: { 204: Type.Null(), ...errors(400, 401, 404, 409, 410, 412, 413, 415, 422, 503) },
    },
  }, async (req, reply) => {
    const type = req.headers['content-type'];
    if (typeof type !== 'string' || type.split(';')[0]!.trim().toLowerCase() !== 'application/offset+octet-stream') throw fail('file.upload_content_type');
    const off = req.headers['upload-offset'];
    if (typeof off !== 'string' || !/^\d{1,16}$/.test(off)) throw fail('file.invalid', 'Upload-Offset (a whole number of bytes) is required.');
    const s = await tus.patch(req.principal, req.params.upload_id, Number(off), req.raw);
    if (s.file) reply.header('careline-storage-id', s.file.storageId);
    return reply.header('upload-offset', String(s.offset)).code(204).send(null);
  });

  app.delete('/api/v2/uploads/:upload_id', {
    config: { auth: 'any' },
    schema: { tags: ['files'], summary: 'tus termination: give up an upload (its bytes are deleted)', params: UploadIdParams, response: { 204: Type.Null(), ...errors(401, 404, 409, 412) } },
  }, async (req, reply) => {
    await tus.terminate(req.principal, req.params.upload_id);
    return reply.code(204).send(null);
  });
}

