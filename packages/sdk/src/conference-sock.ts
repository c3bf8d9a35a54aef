/**
 * The conference WebSocket (seed 004's `ConferenceSock`): status and info changes of one
 * conference, pushed to every open page of it (docs/conferences.md).
 *
 * ```ts
 * const sock = new ConferenceSock(location.origin);
 * sock.changeConferenceStatusCallback(function (status) { location.reload(); });
 * sock.changeConferenceInfoCallback(function () { showNotice(); });
 * await sock.connect(accessToken);
 * ```
 *
 * The socket reconnects by itself (backoff with jitter) until `close()`, except when the server
 * refused the token (close 4401: `onError` gets an `APIError` with status 401).
 */
import type { ConferenceInfo, ConferenceParticipantView, ConferenceQueue, ConferenceSockFrame, ConferenceStatus } from '@careline/protocol';
import { APIError } from './conference-api.ts';
import { backoffDelay } from './backoff.ts';
import type { CarelineErrorCode } from './errors.ts';

/**
 * The close code of a refused or revoked token (`CONFERENCE_SOCK_UNAUTHORIZED` of the protocol
 * package; repeated here so that the browser bundle takes only types from the package's root).
 */
const CONFERENCE_SOCK_UNAUTHORIZED = 4401;

type StatusFrame = Extract<ConferenceSockFrame, { type: 'conference.status' }>;
type InfoFrame = Extract<ConferenceSockFrame, { type: 'conference.info' }>;
type HelloFrame = Extract<ConferenceSockFrame, { type: 'conference.hello' }>;

export type ConferenceStatusCallback = (this: ConferenceSock, status: ConferenceStatus, frame: StatusFrame) => void;
export type ConferenceInfoCallback = (this: ConferenceSock, conference: ConferenceInfo, frame: InfoFrame) => void;
export type ConferenceQueueCallback = (this: ConferenceSock, queue: ConferenceQueue) => void;

/** `http(s)://host` or `ws(s)://host` (a path prefix kept) → the conference socket's URL. */
export function conferenceSockUrl(endpoint: string): string {
  const u = new URL(endpoint);
  if (u.protocol === 'http:') u.protocol = 'ws:';
  else if (u.protocol === 'https:') u.protocol = 'wss:';
  u.pathname = `${u.pathname.replace(/\/+$/, '')}/api/v2/conference-access/ws`;
  u.search = '';
  u.hash = '';
  return u.toString();
}

export class ConferenceSock {
  readonly endpoint: string;
  /** The access token of the last `connect` (the seed's `this.at_`). */
  at_: string | undefined;
  /** What the server said at the last (re)connect, kept up to date by the frames. */
  conference: ConferenceInfo | undefined;
  participant: ConferenceParticipantView | undefined;
  queue: ConferenceQueue | null = null;
  /** The server's clock minus this device's, from the hello frame. */
  clockOffsetMs = 0;
  /** A refused token or another failure that stopped the socket. */
  onError: ((error: Error) => void) | undefined;

  #ws: WebSocket | undefined;
  #status: ConferenceStatusCallback[] = [];
  #info: ConferenceInfoCallback[] = [];
  #queue: ConferenceQueueCallback[] = [];
  #closed = true;
  #attempt = 0;
  #retry: ReturnType<typeof setTimeout> | undefined;
  #ping: ReturnType<typeof setInterval> | undefined;

  /** `endpoint`: the server (`https://…` or `wss://…`), as for the HTTP APIs. */
  constructor(endpoint: string) {
    this.endpoint = endpoint;
  }

  /** Called with the new status on every status change of the conference. */
  changeConferenceStatusCallback(cb: ConferenceStatusCallback): this {
    this.#status.push(cb);
    return this;
  }

  /** Called when the conference's info changed (title, times, participants). */
  changeConferenceInfoCallback(cb: ConferenceInfoCallback): this {
    this.#info.push(cb);
    return this;
  }

  /** Called when a waiting-room client's place in the queue changed. */
  changeQueueCallback(cb: ConferenceQueueCallback): this {
    this.#queue.push(cb);
    return this;
  }

  get connected(): boolean {
    return this.#ws?.readyState === WebSocket.OPEN;
  }

  /**
   * Connects with the participant's access token; resolves on the server's hello (the
   * conference as it is now), rejects with an `APIError` (status 401) for a refused token.
   */
  connect(accessToken: string): Promise<HelloFrame> {
    this.close();
    this.at_ = accessToken;
    this.#closed = false;
    this.#attempt = 0;
    return this.#open();
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#retry);
    clearInterval(this.#ping);
    const ws = this.#ws;
    this.#ws = undefined;
    if (ws) {
      ws.onclose = null;
      ws.onmessage = null;
      ws.close(1000);
    }
  }

  #open(): Promise<HelloFrame> {
    return new Promise((resolve, reject) => {
      const url = `${conferenceSockUrl(this.endpoint)}?access_token=${encodeURIComponent(this.at_ ?? '')}`;
      const ws = new WebSocket(url);
      this.#ws = ws;
      let settled = false;
      ws.onmessage = (e) => {
        let frame: ConferenceSockFrame;
        try {
          frame = JSON.parse(String(e.data)) as ConferenceSockFrame;
        } catch {
          return;
        }
        if (frame.type === 'conference.hello') {
          this.#attempt = 0;
          this.conference = frame.conference;
          this.participant = frame.participant;
          this.queue = frame.queue;
          this.clockOffsetMs = frame.server_time - Date.now();
          if (!settled) {
            settled = true;
            resolve(frame);
          }
          return;
        }
        if (frame.type === 'error') {
          const err = new APIError(frame.code as CarelineErrorCode, frame.message, { status: frame.code.startsWith('conference.access') ? 401 : 400 });
          if (!settled) {
            settled = true;
            reject(err);
          } else if (frame.code.startsWith('conference.access')) {
            this.onError?.(err);
          }
          return;
        }
        this.#dispatch(frame);
      };
      ws.onclose = (e) => {
        clearInterval(this.#ping);
        if (this.#ws !== ws) return;
        this.#ws = undefined;
        if (e.code === CONFERENCE_SOCK_UNAUTHORIZED) {
          this.#closed = true;
          const err = new APIError('conference.access_denied', 'The conference socket refused the access token.', { status: 401, closeCode: e.code });
          if (!settled) {
            settled = true;
            reject(err);
          } else {
            this.onError?.(err);
          }
          return;
        }
        if (!settled) {
          settled = true;
          reject(new APIError('client.network_error', 'The conference socket closed before the server answered.', { closeCode: e.code }));
        }
        if (!this.#closed) this.#scheduleReconnect();
      };
      // Keeps proxies from closing an idle connection; the server answers `pong`.
      clearInterval(this.#ping);
      this.#ping = setInterval(() => {
        if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: 'ping' }));
      }, 25_000);
    });
  }

  #scheduleReconnect(): void {
    const delay = backoffDelay(this.#attempt++, { baseMs: 500, maxMs: 15_000 });
    this.#retry = setTimeout(() => {
      if (this.#closed) return;
      this.#open().then((hello) => {
        // Changes missed while disconnected: tell the page once with the status now.
        const before = this.conference;
        if (before && hello.conference.status !== before.status) this.#callStatus(hello.conference.status, {
          type: 'conference.status', conference_id: hello.conference.id, status: hello.conference.status, previous: before.status,
          action: actionTo(hello.conference), by: 'system', at: hello.server_time, conference: hello.conference,
        });
      }, () => {});
    }, delay);
  }

  #dispatch(frame: ConferenceSockFrame): void {
    if (frame.type === 'conference.status') {
      this.conference = frame.conference;
      this.#callStatus(frame.status, frame);
    } else if (frame.type === 'conference.info') {
      this.conference = frame.conference;
      for (const cb of this.#info) cb.call(this, frame.conference, frame);
    } else if (frame.type === 'conference.queue') {
      this.queue = frame.queue;
      for (const cb of this.#queue) cb.call(this, frame.queue);
    }
  }

  #callStatus(status: ConferenceStatus, frame: StatusFrame): void {
    for (const cb of this.#status) cb.call(this, status, frame);
  }
}

/** The action that most likely led to a conference's status (for a change seen only after a reconnect). */
function actionTo(c: ConferenceInfo): StatusFrame['action'] {
  switch (c.status) {
    case 'open':
      return 'open';
    case 'started':
      return 'join';
    case 'cancelled':
      return 'cancel';
    case 'finished':
      return c.end_reason === 'time' ? 'time' : 'finish';
    default:
      return 'create';
  }
}

/** Made by `initWebSocketAPI`. */
export let conferenceWebSocketAPI: ConferenceSock | undefined;

/** The seed's `initWebSocketAPI()`: a `ConferenceSock` for `endpoint` (default: the page's origin). */
export function initWebSocketAPI(endpoint?: string): ConferenceSock {
  const loc = (globalThis as { location?: { origin?: string } }).location;
  const e = endpoint ?? loc?.origin;
  if (!e || e === 'null') throw new Error('No default conference endpoint outside a browser page: pass the endpoint.');
  conferenceWebSocketAPI = new ConferenceSock(e);
  return conferenceWebSocketAPI;
}
