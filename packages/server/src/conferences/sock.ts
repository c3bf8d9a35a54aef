/**
 * The conference WebSocket (seed 004's `ConferenceSock.connect(accessToken)`):
 * `GET /api/v2/conference-access/ws?access_token=…` (or `?conference_token=…`), for the pages of
 * participants who hold a token, not a Careline login. It is not a Careline connection (no
 * messages, no catch-up): it pushes the conference's status and info changes, and a
 * waiting-room client's place, as JSON frames (`ConferenceSockFrame`, docs/conferences.md).
 *
 * The token is checked after the handshake (browsers cannot read a refused upgrade's status):
 * a bad one gets an `error` frame and the close code 4401. Events come from the bus
 * (`conference.changed`, `conference.queue`), so a change made on any node reaches every page
 * on every node. A socket registers before its `conference.hello` is read, and events that
 * arrive meanwhile wait and are sent after it unless the hello is newer. The server pings every
 * `ws.heartbeatMs`; a socket that did not answer the previous ping is cut.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { CONFERENCE_SOCK_UNAUTHORIZED, type ConferenceSockFrame } from '@careline/protocol';
import type { Core } from '../core.ts';
import type { DomainEvent } from '../domain/events.ts';
import { isAppError } from '../domain/errors.ts';
import type { UpgradeGuard } from '../ws/server.ts';

export const CONFERENCE_SOCK_PATH = '/api/v2/conference-access/ws';

interface Sock {
  ws: WebSocket;
  tenantId: string;
  conferenceId: string;
  userId: string;
  role: 'client' | 'specialist';
  /** The waiting room's key, for a client of a conference in one. */
  room: string | null;
  admitted: boolean;
  alive: boolean;
  /** Frames that arrived before the hello went out, with the conference version they carry. */
  pending: { version: number; frame: ConferenceSockFrame }[] | null;
}

export interface ConferenceSockOptions {
  core: Core;
  guard?: UpgradeGuard;
  log: { warn: (obj: object, msg: string) => void };
}

const key = (tenantId: string, id: string) => `${tenantId}\n${id}`;

export class ConferenceSockEndpoint {
  readonly #o: ConferenceSockOptions;
  readonly #wss: WebSocketServer;
  readonly #byConference = new Map<string, Set<Sock>>();
  readonly #byRoom = new Map<string, Set<Sock>>();
  readonly #unsubscribe: () => void;
  readonly #timer: NodeJS.Timeout;
  #closed = false;

  constructor(o: ConferenceSockOptions) {
    this.#o = o;
    this.#wss = new WebSocketServer({ noServer: true, maxPayload: 4096, perMessageDeflate: false, clientTracking: false });
    this.#unsubscribe = o.core.bus.subscribe((e) => this.#onEvent(e));
    this.#timer = setInterval(() => this.#heartbeat(), o.core.config.ws.heartbeatMs);
    this.#timer.unref();
  }

  /** Open sockets on this node. */
  get size(): number {
    let n = 0;
    for (const s of this.#byConference.values()) n += s.size;
    return n;
  }

  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const accessToken = url.searchParams.get('access_token');
    const conferenceToken = url.searchParams.get('conference_token');
    const guard = this.#o.guard;
    const ip = guard?.ipOf(req);
    socket.on('error', () => socket.destroy());
    this.#wss.handleUpgrade(req, socket, head, (ws) => {
      ws.on('error', () => ws.terminate());
      void this.#admit(ws, accessToken, conferenceToken, ip).catch((err: unknown) => {
        this.#o.log.warn({ err }, 'conference socket: opening failed');
        ws.terminate();
      });
    });
  }

  async #admit(ws: WebSocket, accessToken: string | null, conferenceToken: string | null, ip: string | undefined): Promise<void> {
    const svc = this.#o.core.conferences;
    const guard = this.#o.guard;
    let holder;
    try {
      if (guard && ip !== undefined) await guard.mayAuthenticate(ip);
      holder = accessToken ? await svc.byAccessToken(accessToken) : await svc.byConferenceToken(conferenceToken ?? undefined);
    } catch (err) {
      const code = isAppError(err) ? err.code : 'conference.access_denied';
      const message = isAppError(err) ? err.message : 'Connect with ?access_token=<access token>.';
      if (guard && ip !== undefined) await guard.refused(ip, code as never).catch(() => {});
      this.#send(ws, { type: 'error', code, message });
      ws.close(CONFERENCE_SOCK_UNAUTHORIZED, code);
      return;
    }
    if (this.#closed || ws.readyState !== ws.OPEN) {
      ws.terminate();
      return;
    }
    const c = holder.conference;
    const waiting = holder.participant.role === 'client' && (await svc.isWaitingRoom(c));
    const sock: Sock = {
      ws, tenantId: c.tenant_id, conferenceId: c.id, userId: holder.participant.user_id, role: holder.participant.role,
      room: waiting ? key(c.tenant_id, c.conversation_id!) : null, admitted: c.admitted_at !== null, alive: true, pending: [],
    };
    this.#add(this.#byConference, key(c.tenant_id, c.id), sock);
    if (sock.room) this.#add(this.#byRoom, sock.room, sock);
    ws.on('pong', () => (sock.alive = true));
    ws.on('close', () => this.#remove(sock));
    ws.on('message', (data, isBinary) => this.#onMessage(sock, isBinary ? null : data.toString()));
    // Read after registering: no change is missed between the read and the first event.
    let view;
    try {
      const fresh = await svc.byAccessToken(accessToken ?? '').catch(() => svc.byConferenceToken(conferenceToken ?? undefined));
      view = await svc.view(fresh);
      sock.admitted = fresh.conference.admitted_at !== null;
    } catch (err) {
      const code = isAppError(err) ? err.code : 'conference.access_denied';
      this.#send(ws, { type: 'error', code, message: isAppError(err) ? err.message : 'The access is no longer valid.' });
      ws.close(CONFERENCE_SOCK_UNAUTHORIZED, code);
      return;
    }
    this.#send(ws, { type: 'conference.hello', conference: view.conference, participant: view.participant, queue: view.queue, server_time: view.server_time });
    const pending = sock.pending ?? [];
    sock.pending = null;
    for (const p of pending) if (p.version > view.conference.version || p.frame.type === 'conference.queue') this.#send(ws, p.frame);
  }

  #onMessage(sock: Sock, text: string | null): void {
    sock.alive = true;
    let type: unknown;
    try {
      type = text === null ? undefined : (JSON.parse(text) as { type?: unknown })?.type;
    } catch {
      type = undefined;
    }
    if (type === 'ping') this.#send(sock.ws, { type: 'pong' });
    else this.#send(sock.ws, { type: 'error', code: 'conference.invalid', message: 'The conference socket takes {"type":"ping"} only.' });
  }

  #onEvent(e: DomainEvent): void {
    if (e.kind === 'conference.changed') {
      const set = this.#byConference.get(key(e.tenant_id, e.conference.id));
      if (!set) return;
      if (e.event === 'revoked') {
        for (const s of [...set]) {
          if (s.userId !== e.user_id) continue;
          this.#send(s.ws, { type: 'error', code: 'conference.access_revoked', message: 'The access to this conference was revoked.' });
          s.ws.close(CONFERENCE_SOCK_UNAUTHORIZED, 'conference.access_revoked');
          this.#remove(s);
        }
        return;
      }
      const frame: ConferenceSockFrame = e.event === 'status'
        ? { type: 'conference.status', conference_id: e.conference.id, status: e.conference.status, previous: e.previous ?? null, action: e.action!, by: e.by!, at: e.at, conference: e.conference }
        : { type: 'conference.info', conference_id: e.conference.id, changed: [...(e.changed ?? [])], conference: e.conference };
      for (const s of set) this.#deliver(s, frame, e.conference.version);
      return;
    }
    if (e.kind === 'conference.queue') {
      const set = this.#byRoom.get(key(e.tenant_id, e.conversation_id));
      if (!set) return;
      for (const s of set) {
        if (e.admitted === s.conferenceId) s.admitted = true;
        const i = e.waiting.indexOf(s.conferenceId);
        const frame: ConferenceSockFrame = {
          type: 'conference.queue', conference_id: s.conferenceId, queue: { position: i < 0 ? null : i + 1, waiting: e.waiting.length, admitted: s.admitted },
        };
        this.#deliver(s, frame, 0);
      }
    }
  }

  #deliver(s: Sock, frame: ConferenceSockFrame, version: number): void {
    if (s.pending) s.pending.push({ version, frame });
    else this.#send(s.ws, frame);
  }

  #send(ws: WebSocket, frame: ConferenceSockFrame): void {
    if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(frame));
  }

  #add(map: Map<string, Set<Sock>>, k: string, s: Sock): void {
    let set = map.get(k);
    if (!set) map.set(k, (set = new Set()));
    set.add(s);
  }

  #remove(s: Sock): void {
    const drop = (map: Map<string, Set<Sock>>, k: string) => {
      const set = map.get(k);
      set?.delete(s);
      if (set && set.size === 0) map.delete(k);
    };
    drop(this.#byConference, key(s.tenantId, s.conferenceId));
    if (s.room) drop(this.#byRoom, s.room);
  }

  #heartbeat(): void {
    for (const set of this.#byConference.values()) {
      for (const s of [...set]) {
        if (!s.alive) {
          s.ws.terminate();
          this.#remove(s);
          continue;
        }
        s.alive = false;
        try {
          s.ws.ping();
        } catch {
          // closing
        }
      }
    }
  }

  /** Closes every socket (1001, going away) and stops listening to the bus. */
  close(): void {
    this.#closed = true;
    clearInterval(this.#timer);
    this.#unsubscribe();
    for (const set of this.#byConference.values()) for (const s of set) s.ws.close(1001, 'server shutting down');
    this.#byConference.clear();
    this.#byRoom.clear();
  }
}
