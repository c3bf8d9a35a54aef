/**
 * The rules that derive a conversation's id from its parts, in one place. Node-only (md5):
 * imported by the server as `@careline/protocol/ids`; the browser SDK does not need it.
 */
import { createHash } from 'node:crypto';
import type { ConversationType } from './conversation.ts';

/** The parts an id may be derived from; which ones a type needs is in `deriveConversationId`. */
export interface IdParts {
  patient?: string;
  team?: string;
  consult?: string;
  consult_type?: string | number;
  room?: string;
  participants?: readonly string[];
}

export type DeriveResult =
  | { ok: true; id: string }
  | { ok: false; missing: string[] }
  | { ok: 'generate' }
  | { ok: 'given' };

/** Hash of participant ids, order-free: md5 hex of the sorted, de-duplicated ids joined by ','. */
export function participantsHash(ids: readonly string[]): string {
  const sorted = [...new Set(ids)].sort();
  return createHash('md5').update(sorted.join(',')).digest('hex');
}

/**
 * Derives the id of a conversation of `type` from its parts, by the rule of that type.
 * Returns `generate` for types whose id the server makes, `given` for types with no rule
 * (the caller must give the id), or the names of missing parts.
 */
export function deriveConversationId(type: ConversationType, parts: IdParts): DeriveResult {
  const need = (names: (keyof IdParts)[]): string[] => names.filter((n) => parts[n] === undefined || parts[n] === '');
  switch (type) {
    case 0:
    case 2: {
      if (!parts.participants || parts.participants.length === 0) return { ok: false, missing: ['participants'] };
      return { ok: true, id: participantsHash(parts.participants) };
    }
    case 1:
    case 5: {
      const missing = need(type === 1 ? ['patient', 'team', 'consult_type'] : ['patient', 'team']);
      if (missing.length) return { ok: false, missing };
      return { ok: true, id: type === 1 ? `${parts.patient}_${parts.team}_${parts.consult_type}` : `${parts.patient}_${parts.team}` };
    }
    case 3: {
      const missing = need(['team']);
      if (missing.length) return { ok: false, missing };
      return { ok: true, id: String(parts.team) };
    }
    case 4:
      return { ok: 'generate' };
    case 8:
    case 9:
    case 10:
    case 11: {
      const missing = need(['patient', 'consult', 'consult_type']);
      if (missing.length) return { ok: false, missing };
      return { ok: true, id: `${parts.patient}_${parts.consult}_${parts.consult_type}` };
    }
    case 12: {
      const missing = need(['room', 'consult', 'consult_type']);
      if (missing.length) return { ok: false, missing };
      return { ok: true, id: `${parts.room}_${parts.consult}_${parts.consult_type}` };
    }
    case 6:
    case 7:
      return { ok: 'given' };
  }
}
