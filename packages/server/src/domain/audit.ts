/**
 * The audit trail of reads of patient conversations (business_type 2). Entries are buffered
 * and appended in batches (every `flushMs`, or at `maxBatch` entries) so that a read costs no
 * transaction of its own; `close` flushes what is left.
 */
import { BusinessTypes } from '@careline/protocol';
import type { AuditStore } from './ports.ts';
import type { AuditEntry, Conversation, Principal } from './types.ts';

export class AuditLog {
  readonly #store: AuditStore;
  readonly #flushMs: number;
  readonly #maxBatch: number;
  readonly #onError: (err: unknown) => void;
  #buffer: AuditEntry[] = [];
  #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> = Promise.resolve();

  constructor(store: AuditStore, opts: { flushMs?: number; maxBatch?: number; onError?: (err: unknown) => void } = {}) {
    this.#store = store;
    this.#flushMs = opts.flushMs ?? 250;
    this.#maxBatch = opts.maxBatch ?? 500;
    this.#onError = opts.onError ?? (() => {});
  }

  /** Records a read of `conversation` by `p` if the conversation holds a patient. */
  read(p: Principal, conversation: Conversation, action: string, detail: Record<string, unknown> | null = null): void {
    if (conversation.business_type !== BusinessTypes.WITH_PATIENT) return;
    this.#buffer.push({
      tenant_id: p.tenantId, at: Date.now(), actor_kind: p.kind,
      actor_id: p.kind === 'user' ? p.userId : `app:${p.appId}`,
      action, conversation_id: conversation.id, detail,
    });
    if (this.#buffer.length >= this.#maxBatch) void this.flush();
    else if (!this.#timer) {
      this.#timer = setTimeout(() => void this.flush(), this.#flushMs);
      this.#timer.unref();
    }
  }

  /** Writes everything buffered so far; resolves when it is stored. */
  flush(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const batch = this.#buffer;
    this.#buffer = [];
    this.#flushing = this.#flushing.then(async () => {
      if (batch.length === 0) return;
      try {
        await this.#store.append(batch);
      } catch (err) {
        this.#onError(err);
      }
    });
    return this.#flushing;
  }
}
