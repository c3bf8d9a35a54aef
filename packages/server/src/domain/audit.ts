/**
 * The audit trail of reads of patient conversations (business_type 2).
 *
 * - **An acked read is an audited read.** `read`/`shown` resolve once the records are
 *   committed, and the callers await them before answering: a read whose record is not
 *   stored is not answered with its content (it fails with the storage's error). The records
 *   of the reads of one turn of the event loop go to the store as one append, and the SQLite
 *   writer thread commits it together with whatever else arrived meanwhile: no transaction
 *   of its own per read.
 * - **Both identities.** A read through an API key on behalf of a user names the user
 *   (`actor_id`) and the app (`app_id`).
 * - **Tamper-evident.** The store chains each tenant's records by hash (`auditHash`), and
 *   `verifyAuditChain` walks a chain and reports its first broken link.
 */
import { createHash } from 'node:crypto';
import canonicalize from 'canonicalize';
import { BusinessTypes } from '@careline/protocol/constants';
import type { AuditStore } from './ports.ts';
import type { AuditEntry, AuditRecord, Conversation, ConversationView, Principal } from './types.ts';

/** The `prev_hash` of a chain's first record. */
export const GENESIS_HASH = '0'.repeat(64);

/** The fields of a record that its hash covers (all but its storage id and the hash itself). */
export type ChainedFields = Omit<AuditRecord, 'id' | 'hash'>;

/**
 * The canonical form of a record: the RFC 8785 (JCS) serialisation of `{tenant_id, seq, at,
 * actor_kind, actor_id, app_id, action, conversation_id, detail, prev_hash}` — sorted keys,
 * no whitespace — so that anyone can recompute it from an export line in any language.
 */
export function canonicalRecord(r: ChainedFields): string {
  const { tenant_id, seq, at, actor_kind, actor_id, app_id, action, conversation_id, detail, prev_hash } = r;
  return canonicalize({ tenant_id, seq, at, actor_kind, actor_id, app_id, action, conversation_id, detail, prev_hash })!;
}

/** SHA-256 (hex) of the record's canonical form; `prev_hash` is part of it, which makes the chain. */
export function auditHash(r: ChainedFields): string {
  return createHash('sha256').update(canonicalRecord(r)).digest('hex');
}

/** The canonical JSON of a detail object, as stored (null stays null). */
export const canonicalDetail = (detail: Record<string, unknown> | null): string | null => (detail === null ? null : canonicalize(detail)!);

/** Who made a call, for the record: the user (and the app, when an API key acts for them), or the app itself. */
export function auditActor(p: Principal): Pick<AuditEntry, 'actor_kind' | 'actor_id' | 'app_id'> {
  if (p.kind === 'app') return { actor_kind: 'app', actor_id: `app:${p.appId}`, app_id: p.appId };
  // An API key with X-On-Behalf-Of becomes the user with the session id `app:<app id>` (http/auth.ts).
  const app = p.sessionId.startsWith('app:') ? p.sessionId.slice('app:'.length) : null;
  return { actor_kind: 'user', actor_id: p.userId, app_id: app };
}

interface Batch {
  entries: AuditEntry[];
  written: Promise<void>;
  resolve: () => void;
  reject: (err: unknown) => void;
}

export class AuditLog {
  readonly #store: AuditStore;
  readonly #now: () => number;
  #batch: Batch | null = null;
  readonly #inFlight = new Set<Promise<void>>();

  constructor(store: AuditStore, opts: { now?: () => number } = {}) {
    this.#store = store;
    this.#now = opts.now ?? Date.now;
  }

  /** Records a read of `conversation` by `p` if the conversation holds a patient; resolves once committed. */
  read(p: Principal, conversation: Conversation, action: string, detail: Record<string, unknown> | null = null): Promise<void> {
    if (conversation.business_type !== BusinessTypes.WITH_PATIENT) return Promise.resolve();
    return this.#add([{ tenant_id: p.tenantId, at: this.#now(), ...auditActor(p), action, conversation_id: conversation.id, detail }]);
  }

  /**
   * Records the conversations an answer shows (one, or a page of a list): one record per
   * conversation with a patient, naming the last message shown; resolves once committed.
   */
  shown(p: Principal, action: string, views: readonly ConversationView[]): Promise<void> {
    const at = this.#now();
    const actor = auditActor(p);
    const entries: AuditEntry[] = [];
    for (const v of views) {
      if (v.business_type !== BusinessTypes.WITH_PATIENT) continue;
      entries.push({ tenant_id: p.tenantId, at, ...actor, action, conversation_id: v.id, detail: { last_message_id: v.last_message?.id ?? null } });
    }
    return entries.length ? this.#add(entries) : Promise.resolve();
  }

  /** Hands what is waiting to the store now; resolves when everything handed so far is stored (or failed). */
  async flush(): Promise<void> {
    const b = this.#batch;
    if (b) {
      this.#batch = null;
      const p = this.#store.append(b.entries).then(b.resolve, b.reject);
      this.#inFlight.add(p);
      void p.finally(() => this.#inFlight.delete(p));
    }
    await Promise.all(this.#inFlight);
  }

  /** Joins the batch of this turn (one append at the end of the turn); resolves when it is committed. */
  #add(entries: AuditEntry[]): Promise<void> {
    let b = this.#batch;
    if (!b) {
      let resolve!: () => void;
      let reject!: (err: unknown) => void;
      const written = new Promise<void>((res, rej) => ((resolve = res), (reject = rej)));
      b = this.#batch = { entries: [], written, resolve, reject };
      setImmediate(() => void this.flush());
    }
    b.entries.push(...entries);
    return b.written;
  }
}

export interface ChainBreak {
  /** The seq of the first record that does not fit (null: a record outside the chain). */
  seq: number | null;
  /** Its storage id. */
  id: number | null;
  reason: 'seq' | 'prev_hash' | 'hash' | 'unchained';
  message: string;
}

export interface ChainReport {
  tenant_id: string;
  ok: boolean;
  /** Records checked in the chain. */
  records: number;
  /** The last record checked (the head, when the chain is whole). */
  head: { seq: number; hash: string } | null;
  broken: ChainBreak | null;
}

/**
 * Walks a tenant's chain from seq 1 and reports the first broken link: a seq out of order (a
 * record removed or inserted), a `prev_hash` that is not the previous record's hash, or a hash
 * that does not recompute (a record changed); then records outside the chain. A chain cut at
 * its end cannot show here: compare the head with one kept elsewhere (the export's).
 */
export async function verifyAuditChain(store: AuditStore, tenantId: string, pageSize = 1000): Promise<ChainReport> {
  let prev = GENESIS_HASH;
  let expected = 1;
  let head: ChainReport['head'] = null;
  const broken = (r: AuditRecord, reason: ChainBreak['reason'], message: string): ChainReport => ({
    tenant_id: tenantId, ok: false, records: expected - 1, head, broken: { seq: r.seq, id: r.id, reason, message },
  });
  for (;;) {
    const page = await store.chain(tenantId, { after_seq: expected - 1, limit: pageSize });
    for (const r of page) {
      if (r.seq !== expected) return broken(r, 'seq', `expected seq ${expected}, found ${r.seq}: seq ${expected} is missing`);
      if (r.prev_hash !== prev) return broken(r, 'prev_hash', `prev_hash ${r.prev_hash} is not the hash of seq ${expected - 1} (${prev})`);
      const hash = auditHash(r);
      if (hash !== r.hash) return broken(r, 'hash', `hash ${r.hash} does not match the record (recomputed ${hash}): the record was changed`);
      prev = r.hash;
      head = { seq: r.seq, hash: r.hash };
      expected++;
    }
    if (page.length < pageSize) break;
  }
  const outside = await store.unchained(tenantId);
  if (outside > 0) {
    return {
      tenant_id: tenantId, ok: false, records: expected - 1, head,
      broken: { seq: null, id: null, reason: 'unchained', message: `${outside} record${outside === 1 ? '' : 's'} outside the chain (no seq or hash)` },
    };
  }
  return { tenant_id: tenantId, ok: true, records: expected - 1, head, broken: null };
}
