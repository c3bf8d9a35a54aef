/**
 * A small client of the Janus HTTP API (the videoroom plugin) and of its admin API, for the
 * conference rooms: create a room with a secret, a PIN and an ACL of tokens, destroy it, and add
 * or remove the participants' Janus tokens (janus.jcfg `token_auth`).
 *
 * Plain `fetch`, not an npm client: the well-kept Node client (Meetecho's `janode`) speaks
 * Janus over WebSocket or Unix sockets and keeps a long-lived session per process, while the
 * server makes a few independent calls from whichever node acts; over HTTP each operation is
 * a short session (create, attach, one message, destroy) that any node can make and that
 * leaves nothing behind. Every call has a timeout; a failure throws
 * `conference.media_unavailable`.
 */
import { randomBytes } from 'node:crypto';
import { fail } from '../domain/errors.ts';

export interface JanusOptions {
  /** The Janus API: `http://host:port/janus`. */
  url: string;
  apiSecret: string;
  /** The admin API: `http://host:port/admin` (empty: no token management). */
  adminUrl: string;
  adminSecret: string;
  timeoutMs: number;
}

export interface RoomSpec {
  room: number;
  secret: string;
  pin: string;
  description: string;
  /** The Janus tokens that may join (the room's ACL). */
  allowed: string[];
  publishers: number;
}

interface JanusAnswer {
  janus: string;
  data?: { id?: number };
  error?: { code: number; reason: string };
  plugindata?: { data?: Record<string, unknown> & { error_code?: number; error?: string } };
}

/** Janus videoroom error codes the client treats as done: the room already exists / no such room. */
const ROOM_EXISTS = 427;
const NO_SUCH_ROOM = 426;
/** Admin API: the token already exists / no such token (an earlier attempt did it). */
const TOKEN_DONE = new Set([475, 476, 490]);

export class JanusClient {
  readonly #o: JanusOptions;

  constructor(o: JanusOptions) {
    this.#o = o;
  }

  async #post(url: string, body: Record<string, unknown>): Promise<JanusAnswer> {
    let res: Response;
    try {
      res = await fetch(url, {
        method: 'POST', headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ ...body, transaction: randomBytes(8).toString('hex') }),
        signal: AbortSignal.timeout(this.#o.timeoutMs),
      });
    } catch (err) {
      throw fail('conference.media_unavailable', `Janus did not answer at ${new URL(url).origin}: ${(err as Error).message}`);
    }
    if (!res.ok) throw fail('conference.media_unavailable', `Janus answered HTTP ${res.status}.`);
    return (await res.json()) as JanusAnswer;
  }

  /** One videoroom request in a short session of its own. */
  async #videoroom(body: Record<string, unknown>): Promise<Record<string, unknown> & { error_code?: number; error?: string }> {
    const auth = { apisecret: this.#o.apiSecret };
    const s = await this.#post(this.#o.url, { janus: 'create', ...auth });
    if (s.janus !== 'success' || s.data?.id === undefined) throw fail('conference.media_unavailable', `Janus refused a session: ${s.error?.reason ?? s.janus}`);
    const session = `${this.#o.url}/${s.data.id}`;
    try {
      const h = await this.#post(session, { janus: 'attach', plugin: 'janus.plugin.videoroom', ...auth });
      if (h.janus !== 'success' || h.data?.id === undefined) throw fail('conference.media_unavailable', `Janus refused the videoroom plugin: ${h.error?.reason ?? h.janus}`);
      const r = await this.#post(`${session}/${h.data.id}`, { janus: 'message', body: { ...body, admin_key: this.#o.apiSecret }, ...auth });
      const data = r.plugindata?.data;
      if (r.janus !== 'success' || !data) throw fail('conference.media_unavailable', `Janus refused the request: ${r.error?.reason ?? r.janus}`);
      return data;
    } finally {
      await this.#post(session, { janus: 'destroy', ...auth }).catch(() => {});
    }
  }

  /** Creates the room; a room that exists already (an earlier attempt, another node) is fine. */
  async createRoom(spec: RoomSpec): Promise<void> {
    const d = await this.#videoroom({
      request: 'create', room: spec.room, secret: spec.secret, pin: spec.pin, description: spec.description.slice(0, 100), is_private: true,
      allowed: spec.allowed, publishers: spec.publishers, permanent: false,
    });
    if (d.error_code !== undefined && d.error_code !== ROOM_EXISTS) throw fail('conference.media_unavailable', `Janus did not create the room: ${d.error}`);
  }

  /** Destroys the room (everyone in it is kicked out); a room that does not exist is fine. */
  async destroyRoom(room: number, secret: string): Promise<void> {
    const d = await this.#videoroom({ request: 'destroy', room, secret, permanent: false });
    if (d.error_code !== undefined && d.error_code !== NO_SUCH_ROOM) throw fail('conference.media_unavailable', `Janus did not destroy the room: ${d.error}`);
  }

  /** Whether the room exists now. */
  async roomExists(room: number): Promise<boolean> {
    const d = await this.#videoroom({ request: 'exists', room });
    return d.exists === true;
  }

  /** Lets the token in: the Janus API (videoroom only) and the room's ACL. */
  async allow(room: number, secret: string, tokens: string[]): Promise<void> {
    if (tokens.length === 0) return;
    for (const t of tokens) await this.#admin({ janus: 'add_token', token: t, plugins: ['janus.plugin.videoroom'] });
    const d = await this.#videoroom({ request: 'allowed', room, secret, action: 'add', allowed: tokens });
    if (d.error_code !== undefined && d.error_code !== NO_SUCH_ROOM) throw fail('conference.media_unavailable', `Janus did not allow the tokens: ${d.error}`);
  }

  /** Takes the tokens away from the Janus API (and from the room's ACL while it exists). */
  async disallow(tokens: string[], room?: { room: number; secret: string }): Promise<void> {
    for (const t of tokens) await this.#admin({ janus: 'remove_token', token: t });
    if (room && tokens.length) {
      const d = await this.#videoroom({ request: 'allowed', room: room.room, secret: room.secret, action: 'remove', allowed: tokens });
      if (d.error_code !== undefined && d.error_code !== NO_SUCH_ROOM) throw fail('conference.media_unavailable', `Janus did not remove the tokens: ${d.error}`);
    }
  }

  /** The tokens Janus knows now (tests, operators). */
  async tokens(): Promise<string[]> {
    const r = await this.#admin({ janus: 'list_tokens' }) as JanusAnswer & { data?: { tokens?: { token: string }[] } };
    return (r.data?.tokens ?? []).map((t) => t.token);
  }

  async #admin(body: Record<string, unknown>): Promise<JanusAnswer> {
    if (!this.#o.adminUrl) return { janus: 'success' };
    const r = await this.#post(this.#o.adminUrl, { ...body, admin_secret: this.#o.adminSecret });
    if (r.janus !== 'success' && !(r.error && TOKEN_DONE.has(r.error.code))) {
      throw fail('conference.media_unavailable', `Janus' admin API refused ${String(body.janus)}: ${r.error?.reason ?? r.janus}`);
    }
    return r;
  }
}
