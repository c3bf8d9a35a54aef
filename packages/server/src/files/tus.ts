/**
 * Resumable uploads: the tus 1.0 protocol's core (HEAD, PATCH) with its creation and
 * termination extensions, for large videos over bad networks.
 *
 * Any node answers any request of an upload: its state (length, offset, the parts received,
 * completion) is a row of `Storage.uploads`, and the bytes of each PATCH are a part in the
 * blob store (`u/<upload>/<offset>-<random>`), so nothing lives in a node's memory or disk
 * beyond one request. A PATCH spools its body to a temp file and, when the body ends — or the
 * client goes away mid-way: the bytes received are kept, and the client resumes from the
 * offset a HEAD gives — stores it as a part and moves the offset with one conditional update
 * (`appendPart`): of two PATCHes at one offset, on any nodes, one wins and the other answers
 * `file.upload_conflict`. The PATCH that reaches the length completes the upload: the parts,
 * read back in order, go through the same checks as a one-request upload (`FileService.upload`:
 * name, size limits, sniffed type, virus scan, EXIF stripping), so a resumable upload is
 * never held to less. A refusal there ends the upload (`failed`, with the code); uploads left
 * unfinished are deleted with their parts after `files.orphanTtlSeconds` without a change.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { randomBytes } from 'node:crypto';
import { ulid } from 'ulid';
import type { Config } from '../config/schema.ts';
import type { BlobStore, FileUpload, Storage } from '../domain/ports.ts';
import type { Principal } from '../domain/types.ts';
import type { MemberDirectory } from '../domain/directory.ts';
import { requireAccess } from '../domain/access.ts';
import { fail, isAppError } from '../domain/errors.ts';
import { checkFileName } from './sniff.ts';

export const TUS_VERSION = '1.0.0';
export const TUS_EXTENSIONS = 'creation,termination';

/** What a completed upload became (`FileService.upload`'s answer). */
export interface Stored {
  storageId: string;
}

export interface TusDeps<F extends Stored> {
  config: Readonly<Config>;
  storage: Storage;
  blobs: BlobStore;
  directory: MemberDirectory;
  /** The largest upload of any kind. */
  maxBytes: number;
  /** Runs the checks of an upload over the completed bytes and stores the file. */
  upload: (p: Principal, conversationId: string, input: { name: string; declaredType?: string; declaredSize: number; body: AsyncIterable<Uint8Array> }) => Promise<F>;
  /** The stored file of a completed upload, for its status. */
  info: (tenantId: string, fileId: string) => Promise<F | null>;
  now: () => number;
}

/** An upload's state as its owner sees it. */
export interface UploadStatus<F extends Stored> {
  id: string;
  conversation_id: string;
  file_name: string;
  length: number;
  offset: number;
  state: FileUpload['state'];
  file?: F;
  error?: string;
}

/** Parses tus' `Upload-Metadata`: `key base64value` pairs separated by commas. */
export function parseMetadata(header: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!header) return out;
  for (const pair of header.split(',')) {
    const [key, value] = pair.trim().split(' ');
    if (!key) continue;
    if (!/^[A-Za-z0-9_.-]{1,64}$/.test(key)) throw fail('file.invalid', 'Upload-Metadata is malformed.');
    out[key] = value ? Buffer.from(value, 'base64').toString('utf8') : '';
  }
  return out;
}

export class TusService<F extends Stored> {
  readonly #d: TusDeps<F>;

  constructor(d: TusDeps<F>) {
    this.#d = d;
  }

  get maxSize(): number {
    return this.#d.maxBytes;
  }

  /** Creation: a new upload of `length` bytes to `conversationId` by the user `p`. */
  async create(p: Principal, conversationId: string, input: { length: number | undefined; metadata: Record<string, string> }): Promise<FileUpload> {
    if (p.kind !== 'user') throw fail('auth.forbidden', 'An upload is a user\'s: use their token, or X-On-Behalf-Of with the API key.');
    const name = checkFileName(input.metadata.filename ?? input.metadata.name);
    await requireAccess(this.#d.directory, p, conversationId);
    const length = input.length;
    if (length === undefined || !Number.isSafeInteger(length) || length < 0) throw fail('file.invalid', 'Upload-Length (a whole number of bytes) is required; deferred lengths are not supported.');
    if (length === 0) throw fail('file.empty');
    if (length > this.#d.maxBytes) throw fail('file.too_large', undefined, { limit: this.#d.maxBytes });
    const now = this.#d.now();
    const type = input.metadata.filetype ?? input.metadata.type;
    const u: FileUpload = {
      tenant_id: p.tenantId, id: `${ulid()}${randomBytes(8).toString('hex')}`, conversation_id: conversationId, uploader_id: p.userId, file_name: name,
      declared_type: type ? type.slice(0, 255) : null, length, upload_offset: 0, parts: [], state: 'uploading', file_id: null, error: null, created_at: now, updated_at: now,
    };
    await this.#d.storage.uploads.create(u);
    return u;
  }

  /** The upload, if `p` is its uploader; `file.not_found` otherwise (another user's, another tenant's, or gone). */
  async #own(p: Principal, id: string): Promise<FileUpload> {
    const u = p.kind === 'user' && id.length <= 64 ? await this.#d.storage.uploads.get(p.tenantId, id) : null;
    if (!u || p.kind !== 'user' || u.uploader_id !== p.userId) throw fail('file.not_found', 'No such upload.');
    return u;
  }

  async status(p: Principal, id: string): Promise<UploadStatus<F>> {
    const u = await this.#own(p, id);
    const file = u.file_id ? await this.#d.info(u.tenant_id, u.file_id) : null;
    return {
      id: u.id, conversation_id: u.conversation_id, file_name: u.file_name, length: u.length, offset: u.upload_offset, state: u.state,
      ...(file ? { file } : {}), ...(u.error ? { error: u.error } : {}),
    };
  }

  /**
   * PATCH: appends the body at `offset`. Resolves with the upload after it (and the stored
   * file when this PATCH completed it). The bytes received before the client went away are
   * kept; then the error that ended the body is thrown.
   */
  async patch(p: Principal, id: string, offset: number, body: AsyncIterable<Uint8Array>): Promise<UploadStatus<F>> {
    const u = await this.#own(p, id);
    if (u.state === 'failed') throw fail('file.upload_failed', undefined, { error: u.error });
    if (u.state !== 'uploading' || offset !== u.upload_offset) throw fail('file.upload_conflict', undefined, { offset: u.upload_offset, state: u.state });
    const remaining = u.length - offset;
    const dir = await mkdtemp(join(this.#d.config.files.tmpDir || tmpdir(), 'careline-tus-'));
    let received = 0;
    let bodyError: unknown = null;
    try {
      const spool = join(dir, 'part');
      const cap = new Transform({
        transform(chunk: Buffer, _enc, done) {
          received += chunk.length;
          if (received > remaining) return done(fail('file.size_mismatch', `The upload is ${u.length} bytes; this PATCH goes past it.`));
          done(null, chunk);
        },
      });
      try {
        await pipeline(body, cap, createWriteStream(spool));
      } catch (err) {
        if (isAppError(err) && err.code === 'file.size_mismatch') throw err;
        // The client went away (or the network broke): keep what arrived, then say why.
        bodyError = err;
        received = Math.min(received, remaining);
      }
      if (received > 0) {
        const part = { key: `u/${u.id.slice(0, 2)}/${u.id}/${offset}-${randomBytes(4).toString('hex')}`, size: received };
        await this.#d.blobs.put(part.key, createReadStream(spool, { start: 0, end: received - 1 }), received);
        if (!(await this.#d.storage.uploads.appendPart(u.tenant_id, u.id, offset, part, this.#d.now()))) {
          await this.#d.blobs.delete(part.key).catch(() => {});
          const now = await this.#d.storage.uploads.get(u.tenant_id, u.id);
          throw fail('file.upload_conflict', undefined, { offset: now?.upload_offset ?? null, state: now?.state ?? null });
        }
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    if (bodyError) throw bodyError;
    if (offset + received === u.length) return this.#complete(p, u.id);
    return this.status(p, id);
  }

  /** The last PATCH arrived: one node (the one that moves `uploading` → `completing`) stores the file. */
  async #complete(p: Principal, id: string): Promise<UploadStatus<F>> {
    const now = this.#d.now();
    const u = await this.#d.storage.uploads.get(p.tenantId, id);
    if (!u || !(await this.#d.storage.uploads.setState(u.tenant_id, id, 'uploading', 'completing', {}, now))) return this.status(p, id);
    const blobs = this.#d.blobs;
    async function* parts(): AsyncGenerator<Uint8Array> {
      for (const part of u!.parts) {
        const body = await blobs.get(part.key);
        if (!body) throw fail('file.storage_failed', 'A part of the upload is missing.');
        for await (const chunk of body) yield chunk as Uint8Array;
      }
    }
    try {
      const file = await this.#d.upload(p, u.conversation_id, {
        name: u.file_name, declaredSize: u.length, body: parts(), ...(u.declared_type ? { declaredType: u.declared_type } : {}),
      });
      await this.#d.storage.uploads.setState(u.tenant_id, id, 'completing', 'done', { file_id: file.storageId }, this.#d.now());
      return this.status(p, id);
    } catch (err) {
      await this.#d.storage.uploads.setState(u.tenant_id, id, 'completing', 'failed', { error: isAppError(err) ? err.code : 'server.internal' }, this.#d.now());
      throw err;
    } finally {
      await this.#dropParts(u);
    }
  }

  /** Termination: the upload and its parts are deleted (a completed upload's file stays). */
  async terminate(p: Principal, id: string): Promise<void> {
    const u = await this.#own(p, id);
    if (u.state === 'completing') throw fail('file.upload_conflict', 'The upload is being completed.', { state: u.state });
    await this.#d.storage.uploads.delete(u.tenant_id, u.id);
    await this.#dropParts(u);
  }

  /** Deletes uploads (and their parts) unchanged since before `before`, at most `limit`; returns how many. */
  async expire(before: number, limit = 500): Promise<number> {
    let n = 0;
    for (const u of await this.#d.storage.uploads.stale(before, limit)) {
      if (await this.#d.storage.uploads.delete(u.tenant_id, u.id)) n++;
      await this.#dropParts(u);
    }
    return n;
  }

  async #dropParts(u: FileUpload): Promise<void> {
    for (const part of u.parts) await this.#d.blobs.delete(part.key).catch(() => {});
  }
}
