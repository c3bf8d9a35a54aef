/** `/api/v2/management/audit`: who read which patient conversation, for the integrator; and its export with the hash chain. */
import { Readable } from 'node:stream';
import Type from 'typebox';
import type { Api } from '../api.ts';
import type { Core } from '../../core.ts';
import { errors } from '../schemas.ts';

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()]);
const Hash = Type.String({ pattern: '^[0-9a-f]{64}$', description: 'SHA-256, hex' });

const fields = {
  seq: Type.Integer({ minimum: 1, description: 'Position in the tenant\'s chain: 1, 2, 3… with no gaps' }),
  at: Type.Number({ description: 'When the read was answered, ms since the epoch' }),
  actor_kind: Type.Union([Type.Literal('user'), Type.Literal('app')], { description: 'user: a user read (own token, or an API key on their behalf); app: the integrator itself' }),
  actor_id: Type.String({ description: 'The user id, or app:<app id> for the integrator itself' }),
  app_id: Nullable(Type.String({ description: 'The app whose API key made the call (as itself, or on behalf of actor_id); null for a user\'s own token' })),
  action: Type.String({ description: 'messages.history, messages.get, messages.unread, topic.messages, sessions.get, sessions.list, sessions.recent' }),
  conversation_id: Type.String(),
  detail: Nullable(Type.Record(Type.String(), Type.Unknown())),
  prev_hash: Hash,
  hash: Hash,
};

const AuditRecord = Type.Object({ id: Type.Integer(), ...fields });

const AuditExportLine = Type.Object({ tenant_id: Type.String(), ...fields }, {
  description: 'One line of the export. hash = SHA-256 (hex) of the RFC 8785 (JCS) serialisation of the object of this line\'s '
    + 'tenant_id, seq, at, actor_kind, actor_id, app_id, action, conversation_id, detail and prev_hash; prev_hash = the hash of the line '
    + 'before (64 zeros for seq 1).',
});

const PAGE = 1000;

export function auditRoutes(app: Api, core: Core): void {
  app.get('/api/v2/management/audit', {
    config: { auth: 'app' },
    schema: {
      tags: ['management'], summary: 'Reads of conversations with a patient (messages, conversations, lists), oldest first; page with after_id',
      querystring: Type.Object({
        conversation_id: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
        actor_id: Type.Optional(Type.String({ minLength: 1, maxLength: 160 })),
        app_id: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
        since: Type.Optional(Type.Integer({ minimum: 0 })),
        until: Type.Optional(Type.Integer({ minimum: 0 })),
        after_id: Type.Optional(Type.Integer({ minimum: 0 })),
        limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
      }),
      response: { 200: Type.Object({ records: Type.Array(AuditRecord), next_after_id: Type.Union([Type.Integer(), Type.Null()]) }), ...errors(400, 401, 403) },
    },
  }, async (req) => {
    await core.audit.flush();
    const limit = req.query.limit ?? 100;
    const records = (await core.storage.audit.query(req.principal.tenantId, { ...req.query, limit })).map(({ tenant_id: _t, ...r }) => r);
    return { records, next_after_id: records.length === limit ? records[records.length - 1]!.id : null };
  });

  app.get('/api/v2/management/audit/export', {
    config: { auth: 'app' },
    schema: {
      tags: ['management'],
      summary: 'The tenant\'s audit chain as NDJSON (one record a line, ascending by seq, with prev_hash and hash), up to the head at the start',
      description: 'Headers X-Audit-Head-Seq and X-Audit-Head-Hash give the head when the export began: keep them, and a later change of '
        + 'anything up to that head shows as a hash that no longer matches. Resume with after_seq.',
      querystring: Type.Object({ after_seq: Type.Optional(Type.Integer({ minimum: 0, description: 'Only records after this seq' })) }),
      response: {
        200: { description: 'NDJSON, one record a line', content: { 'application/x-ndjson': { schema: AuditExportLine } } },
        ...errors(400, 401, 403),
      },
    },
  }, async (req, reply) => {
    const tenantId = req.principal.tenantId;
    await core.audit.flush();
    const head = await core.storage.audit.head(tenantId);
    const store = core.storage.audit;
    async function* lines(): AsyncGenerator<string> {
      if (!head) return;
      for (let after = req.query.after_seq ?? 0; after < head.seq; ) {
        const page = await store.chain(tenantId, { after_seq: after, limit: Math.min(PAGE, head.seq - after) });
        if (page.length === 0) return;
        let out = '';
        for (const { id: _id, ...r } of page) out += JSON.stringify(r) + '\n';
        yield out;
        after = page[page.length - 1]!.seq;
      }
    }
    reply.header('content-type', 'application/x-ndjson; charset=utf-8');
    reply.header('x-audit-head-seq', String(head?.seq ?? 0));
    reply.header('x-audit-head-hash', head?.hash ?? '');
    // A stream is sent as it is (no serialisation): the schema above documents its lines.
    return reply.send(Readable.from(lines()) as never);
  });
}
