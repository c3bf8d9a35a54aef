/**
 * Uploads and downloads of files in conversations: the one place their rules live.
 *
 * An upload is spooled to a temp file as it arrives (never held in memory), counted against
 * the largest limit while it streams, then checked: not empty, a type sniffed from the bytes
 * that Careline accepts and that agrees with what the client declared, within its kind's
 * limit. Images are rewritten by sharp without their metadata (EXIF, GPS, XMP: a patient's
 * home location must not reach the others) and get a thumbnail; audio and video get their
 * duration. Only then are the bytes put in the blob store and the metadata stored; any
 * refusal stores nothing.
 *
 * Reading: a file of another tenant is not found; a user reads a file of a conversation they
 * are in (an upload not yet attached: only its uploader); an API key reads its tenant's. A
 * file whose message was recalled is not served. Every read of a file in a conversation with
 * a patient is audit-logged (`files.read`), like message reads. Signed links (HMAC over the
 * file, the variant, the reader and the expiry) let `<img src>` work without the token; a link
 * is checked again when used.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable, Transform } from 'node:stream';
// sharp, file-type and music-metadata load on the first upload, not at start (together they
// take about a second to import): a node that serves no upload never pays for them.
type Sharp = typeof import('sharp');
let sharpModule: Promise<Sharp['default']> | null = null;
const loadSharp = () => (sharpModule ??= import('sharp').then((m) => m.default));
import { ulid } from 'ulid';
import type { Config } from '../config/schema.ts';
import type { BlobStore, FileKind, FileRecord, Storage } from '../domain/ports.ts';
import type { Principal } from '../domain/types.ts';
import type { MemberDirectory } from '../domain/directory.ts';
import type { AuditLog } from '../domain/audit.ts';
import { requireAccess } from '../domain/access.ts';
import { fail, isAppError } from '../domain/errors.ts';
import { ACCEPTED, STRIPPED_IMAGES, checkFileName, declaredMatches } from './sniff.ts';
import { ClamdScanner, type VirusScanner } from './scan.ts';
import { TusService } from './tus.ts';
import { RetentionService } from './retention.ts';

export interface FileServiceDeps {
  config: Readonly<Config>;
  storage: Storage;
  blobs: BlobStore;
  directory: MemberDirectory;
  audit: AuditLog;
  now?: () => number;
  /** The virus-scan hook; default: clamd when `files.scan.enabled`, else none. */
  scanner?: VirusScanner | null;
}

/** Seed 003's content fields of a file, filled from what was stored. */
export interface FileInfo {
  storageId: string;
  fileName: string;
  fileSize: number;
  mimeType: string;
  kind: FileKind;
  width?: number;
  height?: number;
  duration?: number;
  thumbnail?: string;
  thumbnailWidth?: number;
  thumbnailHeight?: number;
}

export type Variant = 'original' | 'thumbnail';

export interface Download {
  file: FileRecord;
  variant: Variant;
  mimeType: string;
  size: number;
  body: AsyncIterable<Uint8Array> & NodeJS.ReadableStream;
  range: { start: number; end: number } | null;
}

const THUMB_MAX = 320;
const STORAGE_ID = /^[0-9A-HJKMNP-TV-Z]{26}[0-9a-f]{16}$/;

export class FileService {
  readonly #d: FileServiceDeps;
  readonly #now: () => number;
  readonly #secret: Buffer;
  readonly #scanner: VirusScanner | null;
  readonly limits: Readonly<Record<FileKind, number>>;
  /** Resumable (tus) uploads, completed through `upload`. */
  readonly tus: TusService<FileInfo>;
  /** Retention policies, legal holds, and the periodic deletion. */
  readonly retention: RetentionService;

  constructor(d: FileServiceDeps) {
    this.#d = d;
    this.#now = d.now ?? Date.now;
    const f = d.config.files;
    this.#secret = createHmac('sha256', f.signingSecret || d.config.auth.tokenSecret).update('careline file links').digest();
    this.#scanner = d.scanner !== undefined ? d.scanner : (f.scan.enabled ? new ClamdScanner(f.scan) : null);
    this.limits = { image: f.maxImageBytes, audio: f.maxAudioBytes, video: f.maxVideoBytes, file: f.maxFileBytes };
    this.retention = new RetentionService({ config: d.config, storage: d.storage, blobs: d.blobs, now: this.#now });
    this.tus = new TusService<FileInfo>({
      config: d.config, storage: d.storage, blobs: d.blobs, directory: d.directory, maxBytes: this.maxBytes, now: this.#now,
      upload: (p, conversationId, input) => this.upload(p, conversationId, input),
      info: async (tenantId, fileId) => {
        const rec = await d.storage.files.get(tenantId, fileId);
        return rec ? info(rec) : null;
      },
    });
  }

  get blobs(): BlobStore {
    return this.#d.blobs;
  }

  /** The largest upload of any kind: what a stream is cut at before its type is known. */
  get maxBytes(): number {
    return Math.max(...Object.values(this.limits));
  }

  /**
   * Stores an upload to `conversationId` by a user (or an API key on behalf of one).
   * `declaredType`: the request's Content-Type; `declaredSize`: its Content-Length, if any.
   */
  async upload(p: Principal, conversationId: string, input: { name: string | undefined; declaredType?: string; declaredSize?: number; body: AsyncIterable<Uint8Array> }): Promise<FileInfo> {
    if (p.kind !== 'user') throw fail('auth.forbidden', 'An upload is a user\'s: use their token, or X-On-Behalf-Of with the API key.');
    const fileName = checkFileName(input.name);
    await requireAccess(this.#d.directory, p, conversationId);
    const max = this.maxBytes;
    if (input.declaredSize !== undefined && input.declaredSize > max) throw fail('file.too_large', undefined, { limit: max });
    const dir = await mkdtemp(join(this.#d.config.files.tmpDir || tmpdir(), 'careline-upload-'));
    try {
      const spool = join(dir, 'upload');
      let size = 0;
      const cap = new Transform({
        transform(chunk: Buffer, _enc, done) {
          size += chunk.length;
          if (size > max) return done(fail('file.too_large', undefined, { limit: max }));
          done(null, chunk);
        },
      });
      await pipeline(input.body, cap, createWriteStream(spool));
      if (size === 0) throw fail('file.empty');
      const { fileTypeFromFile } = await import('file-type');
      const sniffed = (await fileTypeFromFile(spool))?.mime;
      const kind = sniffed ? ACCEPTED[sniffed] : undefined;
      if (!sniffed || !kind) throw fail('file.type_not_allowed', undefined, { detected: sniffed ?? null });
      if (!declaredMatches(input.declaredType, sniffed)) throw fail('file.type_mismatch', undefined, { declared: input.declaredType, detected: sniffed });
      if (size > this.limits[kind]) throw fail('file.too_large', undefined, { limit: this.limits[kind], kind });
      // The bytes as sent are scanned before anything parses them further (sharp, music-metadata).
      await this.scan(createReadStream(spool));

      const id = `${ulid()}${randomBytes(8).toString('hex')}`;
      const rec: FileRecord = {
        id, tenant_id: p.tenantId, conversation_id: conversationId, uploader_id: p.userId, kind, mime_type: sniffed, file_name: fileName, size,
        blob_key: `f/${id.slice(0, 2)}/${id}`, thumb_key: null, width: null, height: null, thumb_width: null, thumb_height: null, duration: null,
        state: 'uploaded', message_id: null, created_at: this.#now(), attached_at: null,
      };
      let served = spool;
      let thumb: Buffer | null = null;
      if (kind === 'image') {
        const out = await this.#image(spool, dir, sniffed);
        served = out.path;
        rec.size = out.size;
        rec.width = out.width;
        rec.height = out.height;
        thumb = out.thumb.data;
        rec.thumb_width = out.thumb.width;
        rec.thumb_height = out.thumb.height;
        rec.thumb_key = `${rec.blob_key}.thumb`;
      } else if (kind === 'audio' || kind === 'video') {
        rec.duration = await duration(spool);
      }
      try {
        await this.#d.blobs.put(rec.blob_key, createReadStream(served), rec.size);
        if (thumb && rec.thumb_key) await this.#d.blobs.put(rec.thumb_key, Readable.from([thumb]), thumb.length);
        await this.#d.storage.files.create(rec);
      } catch (err) {
        await this.#d.blobs.delete(rec.blob_key).catch(() => {});
        if (rec.thumb_key) await this.#d.blobs.delete(rec.thumb_key).catch(() => {});
        throw err;
      }
      return info(rec);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  /** Runs the virus-scan hook (if any) over `body`: `file.infected`, or `file.scan_failed` when the scanner cannot say. */
  async scan(body: AsyncIterable<Uint8Array>): Promise<void> {
    if (!this.#scanner) return;
    const v = await this.#scanner.scan(body);
    if (v.infected) throw fail('file.infected', undefined, { signature: v.signature });
  }

  /** Rewrites the image without metadata (orientation applied first), and makes a JPEG thumbnail. */
  async #image(path: string, dir: string, mime: string) {
    try {
      const sharp = await loadSharp();
      const meta = await sharp(path).metadata();
      let out = path;
      if (STRIPPED_IMAGES.has(mime)) {
        out = join(dir, 'clean');
        // sharp writes no metadata unless told to: EXIF, GPS, XMP and IPTC are gone; rotate()
        // bakes the EXIF orientation into the pixels first.
        await sharp(path).rotate().toFile(out);
      }
      const s = await stat(out);
      const dims = await sharp(out).metadata();
      const thumb = await sharp(out, { animated: false }).rotate().resize(THUMB_MAX, THUMB_MAX, { fit: 'inside', withoutEnlargement: true }).jpeg({ quality: 75 }).toBuffer({ resolveWithObject: true });
      return {
        path: out, size: s.size, width: dims.autoOrient?.width ?? dims.width ?? meta.width ?? null, height: dims.autoOrient?.height ?? dims.height ?? meta.height ?? null,
        thumb: { data: thumb.data, width: thumb.info.width, height: thumb.info.height },
      };
    } catch (err) {
      if (isAppError(err)) throw err;
      throw fail('file.type_not_allowed', 'The image could not be read.', { reason: err instanceof Error ? err.message : String(err) });
    }
  }

  /** The file as `p` may read it (see the class comment); not found otherwise. Audited. */
  async #readable(p: Principal, tenantId: string, id: string): Promise<FileRecord> {
    const { file, entry } = await this.#access(p, tenantId, id);
    await this.#d.audit.read(p, entry.conversation, 'files.read', { file_id: file.id });
    return file;
  }

  /** The checks of `#readable` without the audit record (nothing is shown yet). */
  async #access(p: Principal, tenantId: string, id: string) {
    const file = await this.#d.storage.files.get(tenantId, id);
    if (!file) throw fail('file.not_found');
    let entry;
    try {
      entry = await requireAccess(this.#d.directory, p, file.conversation_id);
    } catch (err) {
      if (isAppError(err)) throw fail('file.not_found');
      throw err;
    }
    if (file.state === 'uploaded' && p.kind === 'user' && file.uploader_id !== p.userId) throw fail('file.not_found');
    if (file.message_id) {
      // Recalled (a tombstone with recalled_at) or deleted (a tombstone without content): the
      // file is not served. Claimed by a message not stored (yet), it is still the sender's
      // upload: the sender's own client shows it (and asks for its link) while the message
      // is being committed; nobody else has seen the message.
      const m = await this.#d.storage.messages.getById(tenantId, file.conversation_id, file.message_id);
      if (!m) {
        if (p.kind === 'user' && file.uploader_id !== p.userId) throw fail('file.not_found');
      } else if (m.recalled_at !== null || m.content === null) throw fail('file.not_found', 'The message of this file was recalled or deleted.');
    }
    return { file, entry };
  }

  /** Opens a file (or its thumbnail) for `p`, or a byte range of it. */
  async open(p: Principal, id: string, variant: Variant = 'original', range?: { start: number; end: number | null }): Promise<Download> {
    const file = await this.#readable(p, p.tenantId, id);
    const key = variant === 'thumbnail' ? file.thumb_key : file.blob_key;
    if (!key) throw fail('file.not_found', 'This file has no thumbnail.');
    const size = variant === 'thumbnail' ? ((await this.#d.blobs.stat(key))?.size ?? 0) : file.size;
    const r = range ? { start: range.start, end: range.end ?? size - 1 } : null;
    if (r && (r.start > r.end || r.end >= size)) throw fail('file.range_invalid', undefined, { size });
    const body = await this.#d.blobs.get(key, r ?? undefined);
    if (!body) throw fail('file.not_found');
    return { file, variant, mimeType: variant === 'thumbnail' ? 'image/jpeg' : file.mime_type, size, body, range: r };
  }

  /** A signed link to the file for `p`, valid `files.signedUrlTtlSeconds`. Checks access now; the link checks it again when used. */
  async link(p: Principal, id: string, variant: Variant = 'original'): Promise<{ path: string; expires_at: number }> {
    const { file } = await this.#access(p, p.tenantId, id);
    if (variant === 'thumbnail' && !file.thumb_key) throw fail('file.not_found', 'This file has no thumbnail.');
    const expires = this.#now() + this.#d.config.files.signedUrlTtlSeconds * 1000;
    const claims: LinkClaims = p.kind === 'user'
      ? { t: p.tenantId, f: id, v: variant, e: expires, k: 'u', a: p.userId, r: p.role, s: p.sessionId }
      : { t: p.tenantId, f: id, v: variant, e: expires, k: 'a', a: p.appId };
    const body = Buffer.from(JSON.stringify(claims)).toString('base64url');
    return { path: `/api/v2/signed-files/${body}.${this.#sign(body)}`, expires_at: expires };
  }

  /** Opens the file a signed link names, as the reader it was made for. */
  async openSigned(token: string, range?: { start: number; end: number | null }): Promise<Download> {
    const [body, sig] = token.split('.');
    if (!body || !sig || !safeEqual(sig, this.#sign(body))) throw fail('file.link_invalid');
    let c: LinkClaims;
    try {
      c = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as LinkClaims;
    } catch {
      throw fail('file.link_invalid');
    }
    if (typeof c.e !== 'number' || c.e < this.#now()) throw fail('file.link_invalid', 'The link has expired.');
    const p: Principal = c.k === 'u'
      ? { kind: 'user', tenantId: c.t, userId: c.a, role: c.r as Extract<Principal, { kind: 'user' }>['role'], sessionId: c.s ?? 'link' }
      : { kind: 'app', tenantId: c.t, appId: c.a };
    return this.open(p, c.f, c.v, range);
  }

  #sign(body: string): string {
    return createHmac('sha256', this.#secret).update(body).digest('base64url');
  }

  /**
   * `MessageFiles.claim`: attaches the sender's upload to `conversationId` to the message
   * `messageId` that is about to be stored (one conditional update: of two messages, or a
   * message and the orphan cleanup, one wins). A file already attached passes only for a
   * resend of that same message (its sender and `clientId`), unclaimed. Returns the stored
   * facts, which overwrite the client's.
   */
  async claim(tenantId: string, storageId: string, conversationId: string, senderId: string, messageId: string, clientId: string | null): Promise<{ facts: Record<string, unknown>; claimed: boolean }> {
    const facts = (f: FileRecord) => {
      const { kind: _kind, ...fields } = info(f);
      return fields;
    };
    const before = await this.#d.storage.files.get(tenantId, storageId);
    if (!before) throw fail('file.not_found');
    if (before.conversation_id !== conversationId || before.uploader_id !== senderId) throw fail('file.not_attachable', undefined, { storageId });
    if (await this.#d.storage.files.attach(tenantId, storageId, conversationId, senderId, messageId, this.#now())) return { facts: facts(before), claimed: true };
    const now = await this.#d.storage.files.get(tenantId, storageId);
    if (!now) throw fail('file.not_found');
    if (clientId !== null && now.state === 'attached' && now.message_id) {
      const m = await this.#d.storage.messages.getById(tenantId, conversationId, now.message_id);
      if (m && m.client_id === clientId && m.sender_id === senderId) return { facts: facts(now), claimed: false };
    }
    throw fail('file.not_attachable', undefined, { storageId });
  }

  /** `MessageFiles.release`: the message that claimed the file was not stored; it is an upload again. */
  async release(tenantId: string, storageId: string, messageId: string): Promise<boolean> {
    return this.#d.storage.files.release(tenantId, storageId, messageId);
  }

  /** Whether `id` has the form of a storage id made here (a ULID and 16 hex digits). */
  isStored(id: string): boolean {
    return STORAGE_ID.test(id);
  }

  /**
   * Deletes uploads never attached that are older than `files.orphanTtlSeconds` at `now`, at
   * most `limit`, and resumable uploads unchanged that long (with their parts); returns how
   * many files were deleted.
   */
  async cleanupOrphans(limit = 500, now = this.#now()): Promise<number> {
    const before = now - this.#d.config.files.orphanTtlSeconds * 1000;
    await this.tus.expire(before, limit);
    let n = 0;
    for (const f of await this.#d.storage.files.orphans(before, limit)) {
      // The row first, and only if still an orphan: a message that attached the file since it
      // was listed keeps it (and one that comes after finds no file: file.not_found).
      if (!(await this.#d.storage.files.deleteOrphan(f.tenant_id, f.id, before))) continue;
      await this.#d.blobs.delete(f.blob_key);
      if (f.thumb_key) await this.#d.blobs.delete(f.thumb_key);
      n++;
    }
    return n;
  }
}

interface LinkClaims {
  t: string;
  f: string;
  v: Variant;
  e: number;
  k: 'u' | 'a';
  a: string;
  r?: string;
  s?: string;
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

async function duration(path: string): Promise<number | null> {
  try {
    const { parseFile } = await import('music-metadata');
    const meta = await parseFile(path, { duration: true, skipCovers: true });
    const d = meta.format.duration;
    return typeof d === 'number' && Number.isFinite(d) ? Math.round(d * 1000) / 1000 : null;
  } catch {
    return null;
  }
}

/** Seed 003's content fields for a stored file. */
export function info(f: FileRecord): FileInfo {
  return {
    storageId: f.id, fileName: f.file_name, fileSize: f.size, mimeType: f.mime_type, kind: f.kind,
    ...(f.width !== null ? { width: f.width } : {}),
    ...(f.height !== null ? { height: f.height } : {}),
    ...(f.duration !== null ? { duration: f.duration } : {}),
    ...(f.thumb_key ? { thumbnail: `/api/v2/files/${f.id}/thumbnail`, thumbnailWidth: f.thumb_width ?? 0, thumbnailHeight: f.thumb_height ?? 0 } : {}),
  };
}
