/**
 * What travels between the main thread and the SQLite writer thread: requests, replies,
 * errors (an `AppError` arrives as the same `AppError`), and the compact form of a message
 * batch (the content object stays on the main thread; only its JSON crosses).
 */
import { AppError } from '../../domain/errors.ts';
import type { MessagePort } from 'node:worker_threads';
import type { AppendResult, NewMessage } from '../../domain/types.ts';
import type { ErrorCode } from '@careline/protocol';
import type { StoreName } from './stores.ts';
import type { OpenOptions } from './db.ts';

/** How the writer thread opens the database: the connection's own options (they cross to the worker as data). */
export type WriterOptions = Pick<OpenOptions, 'path' | 'synchronous' | 'walAutocheckpoint' | 'cacheMiB'>;

/** A call of a store's write method, or the request to finish and close. */
export type WriteRequest = { id: number; s: StoreName; m: string; a: unknown[] } | { id: number; close: true };

/**
 * Told without an answer: the port to the search indexer's thread (at its start and restart),
 * and the last edit it applied (the edits up to it are deleted from `message_search_changes`).
 */
export type WriterNotice = { feed: MessagePort } | { prune: number };

/** `[id, result]` or `[id, undefined, error]`; the writer sends one array per transaction. */
export type WriteReply = [id: number, result: unknown, error?: WireError];

export type WireError =
  | { app: true; code: ErrorCode; message: string; details: unknown }
  | { app: false; name: string; message: string; code: unknown; stack: string | undefined };

export function toWire(err: unknown): WireError {
  if (err instanceof AppError) return { app: true, code: err.code, message: err.message, details: err.details };
  const e = err instanceof Error ? err : new Error(String(err));
  return { app: false, name: e.name, message: e.message, code: (e as { code?: unknown }).code, stack: e.stack };
}

export function fromWire(w: WireError): Error {
  if (w.app) return new AppError(w.code, w.message, w.details);
  const e = new Error(w.message);
  e.name = w.name;
  if (w.code !== undefined) (e as { code?: unknown }).code = w.code;
  if (w.stack) e.stack = `${w.stack}\n    --- in the SQLite writer thread, called from ---\n${new Error().stack?.split('\n').slice(1).join('\n') ?? ''}`;
  return e;
}

/** A message as sent to the writer: without its content object (its JSON is enough to store it). */
export type SlimMessage = Omit<NewMessage, 'content'>;

export function slim(batch: readonly NewMessage[]): SlimMessage[] {
  return batch.map(({ content: _content, ...rest }) => rest);
}

/** Per message: the seq it was stored at, or the full result (a duplicate or a failure). */
export type CompactResult = number | AppendResult;

export function compact(results: readonly AppendResult[]): CompactResult[] {
  return results.map((r) => (r.ok && !r.duplicate ? r.message.seq : r));
}
