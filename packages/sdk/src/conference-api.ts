/**
 * Conferences over HTTP (docs/conferences.md), with seed 004's names:
 *
 * - `ConferenceModifyAPI` — the booking system's side (server to server, with the tenant's
 *   private API key): create, cancel, finish, open, info, update, revoke, reissue.
 * - `ConferenceAccessAPI` — a participant's page: `exchange(accessToken)` for a conference
 *   token, then info, open, join, leave, finish, arrive (waiting room), admit-next.
 * - `initHttpAPI(endpoint?)` makes one of each for the default endpoint (the page's origin in a
 *   browser) and keeps them in `conferenceModifyAPI` / `conferenceAccessAPI`.
 *
 * Every failure is an `APIError` with the server's `code` and HTTP `status` (a bad access or
 * conference token: 401).
 */
import type {
  ConferenceAccess,
  ConferenceInfo,
  ConferenceLanguage,
  ConferenceMedia,
  ConferenceParticipantView,
  ConferenceQueue,
  ConferenceRole,
  ConferenceTransition,
  ConferenceVertical,
} from '@careline/protocol';
import { CarelineError, type CarelineErrorCode, type CarelineErrorInit } from './errors.ts';

/** A failed conference request: the server's `code`, the HTTP `status`, and the answer's body. */
export class APIError extends CarelineError {
  override name = 'APIError';
  /** The HTTP answer, as the seed's `err.response` (status and body). */
  readonly response: { status: number; body: unknown };

  constructor(code: CarelineErrorCode, message: string, init: CarelineErrorInit & { body?: unknown } = {}) {
    super(code, message, init);
    this.response = { status: init.status ?? 0, body: init.body };
  }
}

export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

export interface ConferenceHttpOptions {
  /** Another `fetch` (tests, proxies). */
  fetch?: FetchLike;
  /** How long one request may take (default 15 s). */
  requestTimeoutMs?: number;
}

class Http {
  readonly endpoint: string;
  readonly #fetch: FetchLike;
  readonly #timeoutMs: number;

  constructor(endpoint: string, opts: ConferenceHttpOptions) {
    this.endpoint = endpoint.replace(/\/+$/, '');
    this.#fetch = opts.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.#timeoutMs = opts.requestTimeoutMs ?? 15_000;
  }

  async call<T>(method: string, path: string, opts: { body?: unknown; headers?: Record<string, string> } = {}): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json', ...opts.headers };
    if (opts.body !== undefined) headers['content-type'] = 'application/json';
    const signal = AbortSignal.timeout(this.#timeoutMs);
    let res: Response;
    try {
      res = await this.#fetch(`${this.endpoint}${path}`, {
        method,
        headers,
        ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}),
        signal,
      });
    } catch (err) {
      const timeout = signal.aborted;
      throw new APIError(timeout ? 'client.timeout' : 'client.network_error', timeout ? `${method} ${path} timed out` : `${method} ${path} did not reach the server`, { cause: err });
    }
    const text = await res.text();
    let body: unknown = undefined;
    if (text) {
      try {
        body = JSON.parse(text);
      } catch {
        body = text;
      }
    }
    if (!res.ok) {
      const b = body as { code?: string; message?: string; details?: unknown } | undefined;
      const code = (typeof b?.code === 'string' ? b.code : 'client.invalid_response') as CarelineErrorCode;
      throw new APIError(code, typeof b?.message === 'string' ? b.message : `${method} ${path} answered ${res.status}`, { status: res.status, details: b?.details, body });
    }
    if (typeof body !== 'object' || body === null) {
      throw new APIError('client.invalid_response', `${method} ${path} answered something that is not JSON`, { status: res.status, body });
    }
    return body as T;
  }
}

/** The conference info a booking system sends at create (docs/conferences.md). */
export interface ConferenceInfoInput {
  title: string;
  starts_at: number;
  duration_seconds: number;
  vertical?: ConferenceVertical;
  language?: ConferenceLanguage;
  participants: { user_id: string; name: string; role: ConferenceRole }[];
  conversation_id?: string;
  topic_id?: string;
}

/** A participant's link, as create and reissue give it. */
export interface ConferenceParticipantAccess {
  userId: string;
  name: string;
  role: ConferenceRole;
  accessToken: string;
  link: string;
}

/** What `create` answers: the conference, the creating user's access token, every participant's. */
export interface ConferenceCreated {
  conference: ConferenceInfo;
  accessToken: string;
  participants: ConferenceParticipantAccess[];
}

export interface ConferenceChange {
  conference: ConferenceInfo;
  changed: boolean;
}

interface WireParticipantAccess {
  user_id: string;
  name: string;
  role: ConferenceRole;
  access_token: string;
  link: string;
}

const participantAccess = (p: WireParticipantAccess): ConferenceParticipantAccess => ({
  userId: p.user_id, name: p.name, role: p.role, accessToken: p.access_token, link: p.link,
});

const id = (s: string) => encodeURIComponent(s);

/** The booking system's API (server side: it needs the tenant's private API key). */
export class ConferenceModifyAPI {
  readonly #http: Http;

  constructor(endpoint: string, opts: ConferenceHttpOptions = {}) {
    this.#http = new Http(endpoint, opts);
  }

  /** The seed's `ConferenceModifyAPI.createHttpAPI(CONFERENCE_ENDPOINT)`. */
  static createHttpAPI(endpoint: string, opts: ConferenceHttpOptions = {}): ConferenceModifyAPI {
    return new ConferenceModifyAPI(endpoint, opts);
  }

  get endpoint(): string {
    return this.#http.endpoint;
  }

  #key(apiKey: string) {
    return { 'x-api-key': apiKey };
  }

  /** Creates a conference; `userId` / `userRole`: the creating user, one of the participants. */
  async create(apiKey: string, userId: string, userRole: ConferenceRole, confInfo: ConferenceInfoInput): Promise<ConferenceCreated> {
    const r = await this.#http.call<{ conference: ConferenceInfo; access_token: string; participants: WireParticipantAccess[] }>(
      'POST', '/api/v2/conferences', { headers: this.#key(apiKey), body: { user_id: userId, user_role: userRole, info: confInfo } },
    );
    return { conference: r.conference, accessToken: r.access_token, participants: r.participants.map(participantAccess) };
  }

  async info(apiKey: string, conferenceId: string): Promise<ConferenceInfo> {
    return (await this.#http.call<{ conference: ConferenceInfo }>('GET', `/api/v2/conferences/${id(conferenceId)}`, { headers: this.#key(apiKey) })).conference;
  }

  update(apiKey: string, conferenceId: string, patch: Partial<Pick<ConferenceInfoInput, 'title' | 'starts_at' | 'duration_seconds' | 'language' | 'vertical'>>): Promise<ConferenceChange> {
    return this.#http.call('PATCH', `/api/v2/conferences/${id(conferenceId)}`, { headers: this.#key(apiKey), body: patch });
  }

  open(apiKey: string, conferenceId: string, reason?: string): Promise<ConferenceChange> {
    return this.#action(apiKey, conferenceId, 'open', reason);
  }

  cancel(apiKey: string, conferenceId: string, reason?: string): Promise<ConferenceChange> {
    return this.#action(apiKey, conferenceId, 'cancel', reason);
  }

  finish(apiKey: string, conferenceId: string, reason?: string): Promise<ConferenceChange> {
    return this.#action(apiKey, conferenceId, 'finish', reason);
  }

  async revoke(apiKey: string, conferenceId: string, userId: string): Promise<ConferenceInfo> {
    return (await this.#http.call<{ conference: ConferenceInfo }>('POST', `/api/v2/conferences/${id(conferenceId)}/participants/${id(userId)}/revoke`, { headers: this.#key(apiKey), body: {} })).conference;
  }

  /** A new access token for a participant (the old one stops working). */
  async reissue(apiKey: string, conferenceId: string, userId: string): Promise<ConferenceParticipantAccess> {
    return participantAccess(await this.#http.call<WireParticipantAccess>('POST', `/api/v2/conferences/${id(conferenceId)}/participants/${id(userId)}/token`, { headers: this.#key(apiKey), body: {} }));
  }

  async transitions(apiKey: string, conferenceId: string): Promise<ConferenceTransition[]> {
    return (await this.#http.call<{ transitions: ConferenceTransition[] }>('GET', `/api/v2/conferences/${id(conferenceId)}/transitions`, { headers: this.#key(apiKey) })).transitions;
  }

  #action(apiKey: string, conferenceId: string, action: string, reason?: string): Promise<ConferenceChange> {
    return this.#http.call('POST', `/api/v2/conferences/${id(conferenceId)}/${action}`, { headers: this.#key(apiKey), body: reason === undefined ? {} : { reason } });
  }
}

/** What a participant's page knows of its conference (exchange, info and every action answer it). */
export interface ConferenceAccessState {
  conference: ConferenceInfo;
  participant: ConferenceParticipantView;
  queue: ConferenceQueue | null;
  media: ConferenceMedia | null;
  /** The server's clock when it answered (ms): the countdown corrects the device's clock with it. */
  serverTime: number;
  /** `Date.now()` of this device when the answer arrived. */
  clientTime: number;
  /** Actions only: whether the status changed. */
  changed?: boolean;
}

/** What `exchange` answers: the conference token and the conference as this participant sees it. */
export interface ConferenceExchangeResult extends ConferenceAccessState {
  conferenceToken: string;
  expiresAt: number;
}

const accessState = (r: ConferenceAccess & { changed?: boolean }): ConferenceAccessState => ({
  conference: r.conference,
  participant: r.participant,
  queue: r.queue,
  media: r.media,
  serverTime: r.server_time,
  clientTime: Date.now(),
  ...(r.changed !== undefined ? { changed: r.changed } : {}),
});

/** A participant's API: no Careline account, only the access token from the link. */
export class ConferenceAccessAPI {
  readonly #http: Http;

  constructor(endpoint: string, opts: ConferenceHttpOptions = {}) {
    this.#http = new Http(endpoint, opts);
  }

  /** The seed's `ConferenceAccessAPI.createHttpAPI(CONFERENCE_ENDPOINT)`. */
  static createHttpAPI(endpoint: string, opts: ConferenceHttpOptions = {}): ConferenceAccessAPI {
    return new ConferenceAccessAPI(endpoint, opts);
  }

  get endpoint(): string {
    return this.#http.endpoint;
  }

  /** Checks an access token and gives a conference token; a wrong, expired or revoked one throws an `APIError` with status 401. */
  async exchange(accessToken: string): Promise<ConferenceExchangeResult> {
    const r = await this.#http.call<ConferenceAccess & { conference_token: string; expires_at: number }>(
      'POST', '/api/v2/conference-access/exchange', { body: { access_token: accessToken } },
    );
    return { ...accessState(r), conferenceToken: r.conference_token, expiresAt: r.expires_at };
  }

  /** The conference as this participant sees it now. */
  info(conferenceToken: string): Promise<ConferenceAccessState> {
    return this.#get(conferenceToken);
  }

  /** A specialist opens the conference (`scheduled → open`). */
  open(conferenceToken: string): Promise<ConferenceAccessState> {
    return this.#post(conferenceToken, 'open');
  }

  /** Joins (`open → started` on the first join); the answer's `media` says how to enter the room. */
  join(conferenceToken: string): Promise<ConferenceAccessState> {
    return this.#post(conferenceToken, 'join');
  }

  leave(conferenceToken: string): Promise<ConferenceAccessState> {
    return this.#post(conferenceToken, 'leave');
  }

  /** A specialist finishes the conference. */
  finish(conferenceToken: string): Promise<ConferenceAccessState> {
    return this.#post(conferenceToken, 'finish');
  }

  /** A waiting-room client enters the queue (idempotent); the answer's `queue` has the place. */
  arrive(conferenceToken: string): Promise<ConferenceAccessState> {
    return this.#post(conferenceToken, 'arrive');
  }

  /** A waiting-room specialist admits the first client waiting. */
  admitNext(conferenceToken: string): Promise<{ admitted: ConferenceInfo | null; queue_length: number }> {
    return this.#http.call('POST', '/api/v2/conference-access/admit-next', { headers: this.#auth(conferenceToken), body: {} });
  }

  #auth(conferenceToken: string) {
    return { authorization: `Bearer ${conferenceToken}` };
  }

  async #get(conferenceToken: string): Promise<ConferenceAccessState> {
    return accessState(await this.#http.call<ConferenceAccess>('GET', '/api/v2/conference-access/info', { headers: this.#auth(conferenceToken) }));
  }

  async #post(conferenceToken: string, action: string): Promise<ConferenceAccessState> {
    return accessState(await this.#http.call<ConferenceAccess & { changed?: boolean }>('POST', `/api/v2/conference-access/${action}`, { headers: this.#auth(conferenceToken), body: {} }));
  }
}

/** The default endpoint: the page's origin in a browser. */
export function defaultConferenceEndpoint(): string {
  const loc = (globalThis as { location?: { origin?: string } }).location;
  if (loc?.origin && loc.origin !== 'null') return loc.origin;
  throw new Error('No default conference endpoint outside a browser page: pass the endpoint.');
}

/** Made by `initHttpAPI`. */
export let conferenceModifyAPI: ConferenceModifyAPI | undefined;
export let conferenceAccessAPI: ConferenceAccessAPI | undefined;

/** The seed's `initHttpAPI()`: one API of each kind for `endpoint` (default: the page's origin). */
export function initHttpAPI(endpoint?: string, opts: ConferenceHttpOptions = {}): { conferenceModifyAPI: ConferenceModifyAPI; conferenceAccessAPI: ConferenceAccessAPI } {
  const e = endpoint ?? defaultConferenceEndpoint();
  conferenceModifyAPI = new ConferenceModifyAPI(e, opts);
  conferenceAccessAPI = new ConferenceAccessAPI(e, opts);
  return { conferenceModifyAPI, conferenceAccessAPI };
}
