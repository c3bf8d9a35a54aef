/**
 * Files: upload a photo, voice note, video or document to a conversation with progress events,
 * send it as a message, and get a short-lived signed link for `<img src>` / `<audio src>`.
 *
 * Works in browsers and in Node. In a browser an upload goes through `XMLHttpRequest`, whose
 * upload events give the progress (fetch has none); in Node (or wherever there is no
 * `XMLHttpRequest`) through `fetch` with a streamed body, the progress counted as the body is
 * read by the HTTP client. A `Blob`/`File`, a `Uint8Array`/`ArrayBuffer`, a web
 * `ReadableStream` or an async iterable of bytes (a Node `Readable`) are accepted; a stream is
 * never read whole into memory in Node (in a browser it is gathered into a `Blob` first:
 * browsers stream request bodies only over HTTP/2, and not with progress).
 */
import { MessageTypes } from '@careline/protocol/constants';
import { CarelineError } from './errors.ts';
import type { CarelineApi } from './rest.ts';

/** What the server stored (seed 003's content fields), as `POST /sessions/{id}/files` answers. */
export interface StoredFile {
  /** Put it in a message's content (`storageId`) to attach the file. */
  storageId: string;
  fileName: string;
  /** Bytes as stored (an image without its metadata). */
  fileSize: number;
  /** Sniffed from the bytes by the server. */
  mimeType: string;
  kind: 'image' | 'audio' | 'video' | 'file';
  width?: number;
  height?: number;
  /** Seconds (audio, video), when the file says. */
  duration?: number;
  /** Path of the thumbnail (images): read it with the token, or through `url(id, {variant: 'thumbnail'})`. */
  thumbnail?: string;
  thumbnailWidth?: number;
  thumbnailHeight?: number;
}

export interface UploadProgress {
  /** Bytes sent so far. */
  loaded: number;
  /** The whole size, when known (a stream without `size`: null). */
  total: number | null;
}

/** A file to upload: browser `Blob`/`File`, bytes, a web `ReadableStream`, or an async iterable of bytes (a Node `Readable`). */
export type UploadBody = Blob | Uint8Array | ArrayBuffer | ReadableStream<Uint8Array> | AsyncIterable<Uint8Array>;

export interface UploadOptions {
  /** The conversation the file belongs to (only its members will read it). */
  conversationId: string;
  /** The file's name (a plain name, no path). Default: a `File`'s `name`, else `file`. */
  name?: string;
  /** Called as bytes go out (per piece of at most 64 KiB in Node; as the browser reports in a browser), and once at the end. */
  onProgress?: (p: UploadProgress) => void;
  /** The body's size, for a stream (shown as `total`; sent as the request's length). */
  size?: number;
  /** The declared MIME type (the server sniffs the bytes and refuses one that disagrees). Default: a `Blob`'s `type`. */
  mimeType?: string;
  /** Cancels the upload (`client.aborted`). */
  signal?: AbortSignal;
}

export interface SendFileOptions extends Omit<UploadOptions, 'conversationId'> {
  /**
   * The message type: default by the stored kind — image 2 (`IMAGE`), audio 3 (`VOICE`), video
   * 12 (`VIDEO`), anything else 1000 (`FILE`). Pass `MessageTypes.FILE` to send a recording as a document.
   */
  type?: number;
  /** The idempotency key of the message (default: a random UUID). */
  clientId?: string;
}

/** What the client gives this API (the constructor is internal: use `client.files`). */
export interface FilesDeps {
  api: CarelineApi;
  url: string;
  token: () => string;
  fetch?: typeof fetch;
  send: (conversationId: string, message: { type: number; content: Record<string, unknown> }, opts: { clientId?: string }) => Promise<{ message_id: string; seq: number; conversation_id: string; client_id: string; created_at: number; duplicate: boolean }>;
}

/** The content fields each file message type takes (the server fills them from what it stored). */
const FIELDS: Record<number, readonly string[]> = {
  [MessageTypes.IMAGE]: ['storageId', 'thumbnail', 'thumbnailWidth', 'thumbnailHeight', 'width', 'height', 'mimeType'],
  [MessageTypes.VOICE]: ['storageId', 'duration', 'mimeType'],
  [MessageTypes.VIDEO]: ['storageId', 'fileName', 'fileSize', 'duration', 'thumbnail', 'thumbnailWidth', 'thumbnailHeight', 'mimeType'],
  [MessageTypes.FILE]: ['storageId', 'fileName', 'fileSize', 'duration', 'mimeType'],
};

const KIND_TYPE: Record<StoredFile['kind'], number> = { image: MessageTypes.IMAGE, audio: MessageTypes.VOICE, video: MessageTypes.VIDEO, file: MessageTypes.FILE };

const CHUNK = 64 * 1024;

/** `client.files`. */
export class FilesApi {
  readonly #d: FilesDeps;
  readonly #base: string;

  constructor(d: FilesDeps) {
    this.#d = d;
    this.#base = d.url.replace(/\/+$/, '');
  }

  /**
   * Uploads a file to a conversation; resolves with what the server stored (seed 003's
   * fields). Until a message refers to it only the uploader reads it, and an upload never
   * sent is deleted after a while (the server's `files.orphanTtlSeconds`).
   *
   * ```ts
   * const file = await client.files.upload(input.files[0], { conversationId, onProgress: (p) => bar(p.loaded / (p.total ?? 1)) });
   * ```
   * @throws CarelineError: the server's `file.*` codes (`file.too_large`, `file.type_not_allowed`,
   *   `file.infected`, …), `client.network_error`, `client.aborted`.
   */
  async upload(file: UploadBody, opts: UploadOptions): Promise<StoredFile> {
    if (typeof opts?.conversationId !== 'string' || opts.conversationId === '') throw new CarelineError('request.invalid', 'conversationId must be a non-empty string.');
    const fileName = isBlob(file) ? (file as { name?: unknown }).name : undefined;
    const name = opts.name ?? (typeof fileName === 'string' && fileName ? fileName : 'file');
    const url = `${this.#base}/api/v2/sessions/${encodeURIComponent(opts.conversationId)}/files?name=${encodeURIComponent(name)}`;
    const declared = opts.mimeType ?? (isBlob(file) && file.type ? file.type : 'application/octet-stream');
    if (opts.signal?.aborted) throw aborted();
    const XHR = (globalThis as { XMLHttpRequest?: typeof XMLHttpRequest }).XMLHttpRequest;
    const answer = XHR && !this.#d.fetch
      ? await this.#xhr(XHR, url, declared, await asBlob(file, declared), opts)
      : await this.#fetch(url, declared, file, opts);
    return answer.file;
  }

  /**
   * Uploads a file and sends it as a message (image, voice note, video or document, by the
   * stored kind unless `type` says); resolves with the message's ack and the stored file.
   */
  async send(conversationId: string, file: UploadBody, opts: SendFileOptions = {}): Promise<{ ack: Awaited<ReturnType<FilesDeps['send']>>; file: StoredFile }> {
    const { type, clientId, ...up } = opts;
    const stored = await this.upload(file, { ...up, conversationId });
    const ack = await this.sendStored(conversationId, stored, { ...(type !== undefined ? { type } : {}), ...(clientId ? { clientId } : {}) });
    return { ack, file: stored };
  }

  /** Sends a message referring to a file already uploaded to the conversation (`upload`). */
  sendStored(conversationId: string, file: StoredFile, opts: { type?: number; clientId?: string } = {}): ReturnType<FilesDeps['send']> {
    const type = opts.type ?? KIND_TYPE[file.kind] ?? MessageTypes.FILE;
    return this.#d.send(conversationId, { type, content: fileContent(type, file) }, opts.clientId ? { clientId: opts.clientId } : {});
  }

  /**
   * A short-lived signed URL of the file (or of its thumbnail) that works without the token,
   * for `<img src>`, `<audio src>` or a download link; it reads as this user and stops working
   * after the server's `files.signedUrlTtlSeconds`, or when the message is recalled.
   */
  async url(storageId: string, opts: { variant?: 'original' | 'thumbnail' } = {}): Promise<{ url: string; expires_at: number }> {
    const r = await this.#d.api.request<{ url: string; expires_at: number }>('POST', `/files/${encodeURIComponent(storageId)}/link`, { query: { variant: opts.variant } });
    return { url: new URL(r.url, `${this.#base}/`).href, expires_at: r.expires_at };
  }

  /** Downloads a file (or its thumbnail) with the token; the answer's body is a stream. */
  async download(storageId: string, opts: { variant?: 'original' | 'thumbnail' } = {}): Promise<Response> {
    const path = `/api/v2/files/${encodeURIComponent(storageId)}${opts.variant === 'thumbnail' ? '/thumbnail' : ''}`;
    const res = await this.#call(`${this.#base}${path}`, { headers: { authorization: `Bearer ${this.#d.token()}` } });
    if (!res.ok) throw await errorOf(res, `GET ${path}`);
    return res;
  }

  async #call(url: string, init: RequestInit): Promise<Response> {
    const f = this.#d.fetch ?? ((i: string, o: RequestInit) => globalThis.fetch(i, o));
    try {
      return await f(url, init);
    } catch (err) {
      if ((err as { name?: string }).name === 'AbortError') throw aborted(err);
      if (err instanceof CarelineError) throw err;
      throw new CarelineError('client.network_error', `upload failed: ${(err as Error).message}`, { cause: err });
    }
  }

  async #fetch(url: string, declared: string, file: UploadBody, opts: UploadOptions): Promise<{ file: StoredFile }> {
    const total = sizeOf(file) ?? opts.size ?? null;
    let loaded = 0;
    const progress = opts.onProgress;
    const source = chunks(file);
    let failure: unknown = null;
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        try {
          const next = await source.next();
          if (next.done) return controller.close();
          loaded += next.value.byteLength;
          progress?.({ loaded, total });
          controller.enqueue(next.value);
        } catch (err) {
          failure = err;
          controller.error(err);
        }
      },
      async cancel() {
        await source.return?.(undefined);
      },
    }, { highWaterMark: 0 });
    const headers: Record<string, string> = { authorization: `Bearer ${this.#d.token()}`, accept: 'application/json', 'content-type': declared };
    if (total !== null) headers['content-length'] = String(total);
    let res: Response;
    try {
      res = await this.#call(url, { method: 'POST', headers, body, duplex: 'half', ...(opts.signal ? { signal: opts.signal } : {}) } as RequestInit);
    } catch (err) {
      if (failure) throw new CarelineError('client.network_error', `reading the file failed: ${(failure as Error).message}`, { cause: failure });
      throw err;
    }
    if (!res.ok) throw await errorOf(res, 'upload');
    const json = (await res.json().catch(() => null)) as { file?: StoredFile } | null;
    if (!json?.file?.storageId) throw new CarelineError('client.invalid_response', 'upload: the answer has no file', { status: res.status });
    progress?.({ loaded, total: total ?? loaded });
    return { file: json.file };
  }

  #xhr(XHR: typeof XMLHttpRequest, url: string, declared: string, blob: Blob, opts: UploadOptions): Promise<{ file: StoredFile }> {
    return new Promise((resolve, reject) => {
      const xhr = new XHR();
      xhr.open('POST', url);
      xhr.setRequestHeader('authorization', `Bearer ${this.#d.token()}`);
      xhr.setRequestHeader('accept', 'application/json');
      xhr.setRequestHeader('content-type', declared);
      const total = blob.size;
      if (opts.onProgress) xhr.upload.onprogress = (e) => opts.onProgress!({ loaded: e.loaded, total: e.lengthComputable ? e.total : total });
      const onAbort = () => xhr.abort();
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      const done = () => opts.signal?.removeEventListener('abort', onAbort);
      xhr.onerror = () => {
        done();
        reject(new CarelineError('client.network_error', 'upload failed: network error'));
      };
      xhr.onabort = () => {
        done();
        reject(aborted());
      };
      xhr.onload = () => {
        done();
        const body = parseJson(xhr.responseText) as { file?: StoredFile; code?: unknown; message?: unknown; details?: unknown } | null;
        if (xhr.status < 200 || xhr.status >= 300) {
          const code = typeof body?.code === 'string' ? body.code : 'client.invalid_response';
          reject(new CarelineError(code as CarelineError['code'], typeof body?.message === 'string' ? body.message : `upload: HTTP ${xhr.status}`, { status: xhr.status, details: body?.details }));
          return;
        }
        if (!body?.file?.storageId) return reject(new CarelineError('client.invalid_response', 'upload: the answer has no file', { status: xhr.status }));
        opts.onProgress?.({ loaded: total, total });
        resolve({ file: body.file });
      };
      xhr.send(blob);
    });
  }
}

/** The content of a message of `type` referring to `file` (the fields that type takes). */
export function fileContent(type: number, file: StoredFile): Record<string, unknown> {
  const keys = FIELDS[type] ?? FIELDS[MessageTypes.FILE]!;
  const content: Record<string, unknown> = {};
  for (const k of keys) {
    const v = (file as unknown as Record<string, unknown>)[k];
    if (v !== undefined) content[k] = v;
  }
  // Voice and video need a duration; a file whose length could not be read says 0.
  if ((type === MessageTypes.VOICE || type === MessageTypes.VIDEO) && content.duration === undefined) content.duration = 0;
  return content;
}

function isBlob(x: unknown): x is Blob {
  return typeof Blob !== 'undefined' && x instanceof Blob;
}

function sizeOf(file: UploadBody): number | null {
  if (isBlob(file)) return file.size;
  if (file instanceof Uint8Array) return file.byteLength;
  if (file instanceof ArrayBuffer) return file.byteLength;
  return null;
}

/** The body in pieces of at most 64 KiB, read as they are asked for. */
async function* chunks(file: UploadBody): AsyncGenerator<Uint8Array> {
  if (file instanceof ArrayBuffer) file = new Uint8Array(file);
  if (file instanceof Uint8Array) {
    for (let i = 0; i < file.byteLength; i += CHUNK) yield file.subarray(i, Math.min(i + CHUNK, file.byteLength));
    return;
  }
  const stream: AsyncIterable<Uint8Array> | ReadableStream<Uint8Array> = isBlob(file) ? file.stream() : file;
  if (Symbol.asyncIterator in stream) {
    for await (const c of stream as AsyncIterable<Uint8Array>) yield* split(c);
    return;
  }
  const reader = (stream as ReadableStream<Uint8Array>).getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      yield* split(value);
    }
  } finally {
    reader.releaseLock();
  }
}

function* split(c: Uint8Array | string): Generator<Uint8Array> {
  const bytes = typeof c === 'string' ? new TextEncoder().encode(c) : c;
  for (let i = 0; i < bytes.byteLength; i += CHUNK) yield bytes.subarray(i, Math.min(i + CHUNK, bytes.byteLength));
}

async function asBlob(file: UploadBody, type: string): Promise<Blob> {
  if (isBlob(file)) return file;
  if (file instanceof Uint8Array || file instanceof ArrayBuffer) return new Blob([file as BlobPart], { type });
  const parts: Uint8Array[] = [];
  for await (const c of chunks(file)) parts.push(c);
  return new Blob(parts as BlobPart[], { type });
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return null;
  }
}

function aborted(cause?: unknown): CarelineError {
  return new CarelineError('client.aborted', 'The upload was cancelled.', cause === undefined ? {} : { cause });
}

async function errorOf(res: Response, what: string): Promise<CarelineError> {
  const e = (await res.json().catch(() => ({}))) as { code?: unknown; message?: unknown; details?: unknown };
  const code = typeof e.code === 'string' ? e.code : 'client.invalid_response';
  return new CarelineError(code as CarelineError['code'], typeof e.message === 'string' ? e.message : `${what}: HTTP ${res.status}`, { status: res.status, details: e.details });
}
