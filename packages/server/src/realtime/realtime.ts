/**
 * The real-time layer of one node, over every transport: it opens connections for
 * authenticated users (presence, the per-user cap, `hello`, the "connected elsewhere" policy),
 * forgets them when their transport closes, fans bus events out to them (`Hub`), and runs one
 * heartbeat over all of them — silent clients, output that stopped moving, tokens that expire.
 * It knows no socket: a transport (the WebSocket endpoint in `ws/`; long-polling or MQTT later)
 * authenticates the client its own way, then calls `admit`, `open` or `refuse` with a
 * `Transport`.
 */
import { Disconnect, platformClass, type ClientFrameType, type DisconnectReason, type ErrorCode } from '@careline/protocol';
import type { Core } from '../core.ts';
import type { Authenticated } from '../domain/auth.ts';
import { newId } from '../domain/ids.ts';
import type { NodeRegistry } from '../domain/ports.ts';
import type { Metrics } from '../ops/metrics.ts';
import { MemoryNodeRegistry } from '../presence/registry-memory.ts';
import { Connection, type ConnectionContext } from './connection.ts';
import { handlers, type FrameHandler } from './handlers.ts';
import { Hub } from './hub.ts';
import type { Transport } from './transport.ts';

export interface RealtimeOptions {
  core: Core;
  metrics: Metrics;
  log: { warn: (obj: object, msg: string) => void; error: (obj: object, msg: string) => void };
  /**
   * Where this node says which users it holds (seed 002's push-node registry). Absent: a
   * registry of this process alone.
   */
  registry?: NodeRegistry;
}

/** Why a client may not connect: the `error` frame it gets before the close. */
export interface Refusal {
  code: ErrorCode;
  message: string;
  details?: unknown;
}

export interface OpenOptions {
  /** Hold live frames until the first `sync` (the client asked for it: `?sync=1` on the WebSocket). */
  holdUntilSync: boolean;
  /**
   * A short-lived connection of a client that another connection already stands for (one
   * long-poll request, under the poll session's connection): it gets live frames and answers
   * frames, but takes no part in presence, the push-node registry, `hello` or the "connected
   * elsewhere" policy.
   */
  secondary?: boolean;
}

/** How a refused connection is closed, by the error that refused it (any other: `AUTH_FAILED`). */
const refusedWith: Partial<Record<ErrorCode, DisconnectReason>> = {
  'auth.token_expired': Disconnect.TOKEN_EXPIRED,
  'auth.token_revoked': Disconnect.TOKEN_REVOKED,
  'user.disabled': Disconnect.USER_DISABLED,
  'request.rate_limited': Disconnect.RATE_LIMITED,
  'connection.too_many': Disconnect.TOO_MANY_CONNECTIONS,
};

/** The connection's token expired: an `auth.token_expired` error, then 4501. */
const expire = (c: Connection) => c.closeWithError('auth.token_expired', Disconnect.TOKEN_EXPIRED);

export class Realtime {
  readonly hub: Hub;
  readonly #o: RealtimeOptions;
  readonly #heartbeat: NodeJS.Timeout;
  readonly #beatMs: number;
  readonly #unsubscribe: () => void;
  readonly #unwatchPresence: () => void;
  readonly #ctx: ConnectionContext;
  readonly registry: NodeRegistry;
  /**
   * Per user (`tenant\0user`), the tail of the presence and registry updates of this node, run
   * one after another: a user who connects and disconnects quickly is counted in before being
   * counted out, and the online event is published before the offline one.
   */
  readonly #pending = new Map<string, Promise<void>>();
  #accepting = true;
  /** The open connections opened `secondary` (no presence, no registry). */
  readonly #secondary = new WeakSet<Connection>();
  /**
   * The connections whose token expires before the next heartbeat, and one timer for the
   * soonest of them: a connection costs no timer of its own, and still closes when its token
   * expires (each beat finds the ones due before the next).
   */
  #expiring: Connection[] = [];
  #expiryTimer: NodeJS.Timeout | undefined;

  constructor(o: RealtimeOptions) {
    this.#o = o;
    const cfg = o.core.config.ws;
    this.hub = new Hub({
      broadcastChunk: cfg.broadcastChunk, reorderMs: cfg.notificationReorderMs,
      since: (tenantId, afterSeq, limit) => o.core.storage.notifications.since(tenantId, afterSeq, limit),
      onError: (err) => o.log.error({ err }, 'notification fan-out failed'),
      iceServers: (userId) => o.core.calls.iceServers(userId),
    });
    this.#unsubscribe = o.core.bus.subscribe((e) => this.hub.onEvent(e));
    this.registry = o.registry ?? new MemoryNodeRegistry({ address: 'local' });
    // What the presence store found by itself (the users of a node that died): every node hears of it.
    this.#unwatchPresence = o.core.presence.onChange((c) =>
      o.core.bus.publish({ kind: 'presence.changed', tenant_id: c.tenantId, user_id: c.userId, online: c.online, last_seen: c.lastSeen }));
    this.#beatMs = Math.max(250, Math.floor(cfg.heartbeatMs / 2));
    this.#heartbeat = setInterval(() => this.#beat(), this.#beatMs);
    this.#heartbeat.unref();
    this.#ctx = {
      dispatch: (c, f) => (handlers[f.type] as FrameHandler<ClientFrameType>)(c, f),
      core: o.core, metrics: o.metrics,
      maxBufferedBytes: cfg.maxBufferedBytes, syncBufferFrames: cfg.syncBufferFrames, syncPageSize: cfg.syncPageSize, syncHoldMs: cfg.syncHoldMs,
      maxContentBytes: o.core.config.messages.maxContentBytes, maxPresenceWatches: cfg.maxPresenceWatches,
      onPresenceSubscribe: (c, ids, on) => ids.forEach((id) => this.hub.watch(c, id, on)),
      log: (obj, msg) => o.log.error(obj, msg),
      onRefreshed: (c) => this.#watchExpiry(c, Date.now()),
      onClosed: (c) => this.#closed(c),
    };
  }

  /** False once shutting down: transports refuse new clients. */
  get accepting(): boolean {
    return this.#accepting;
  }

  /**
   * Whether `auth`'s user may open one more connection on this node (`ws.maxConnectionsPerUser`):
   * null, or the refusal. Call it in the same turn as `open`, so that concurrent connects
   * cannot pass the cap together.
   */
  admit(auth: Authenticated): Refusal | null {
    const max = this.#o.core.config.ws.maxConnectionsPerUser;
    if (this.hub.count(auth.principal.tenantId, auth.principal.userId) < max) return null;
    return { code: 'connection.too_many', message: `This user has ${max} connections open, the most allowed; close one or reconnect later.` };
  }

  /**
   * A client that may not connect (its credentials, the rate limit, the per-user cap): an `error`
   * frame with the refusal, then the close that goes with its code.
   */
  refuse(t: Transport, { code, message, details }: Refusal): void {
    const why = refusedWith[code] ?? Disconnect.AUTH_FAILED;
    t.write(JSON.stringify(details === undefined ? { type: 'error', code, message } : { type: 'error', code, message, details }));
    t.close(why, code);
    this.#o.metrics.wsClosed.inc({ code: String(why.code) });
  }

  /**
   * Opens the connection of an authenticated client over `t`: it joins the hub, counts in
   * presence, gets `hello`, and the tenant's "connected elsewhere" policy runs. The transport
   * then hands it the client's frames (`onFrame`) and tells it when it closed (`onClose`).
   */
  open(t: Transport, auth: Authenticated, opts: OpenOptions): Connection {
    const { core, metrics } = this.#o;
    const { principal, user, platform } = auth;
    const cfg = core.config.ws;
    const conn = new Connection(this.#ctx, {
      id: newId(), principal, transport: t, holdUntilSync: opts.holdUntilSync, platformClass: platformClass(platform), expiresAt: auth.expiresAt,
    });
    metrics.wsConnections.inc();
    const first = this.hub.add(conn);
    const now = Date.now();
    if (opts.secondary) {
      this.#secondary.add(conn);
      this.#watchExpiry(conn, now);
      return conn;
    }
    const { tenantId, userId } = principal;
    this.#serially(tenantId, userId, async () => {
      if (await core.presence.connected(tenantId, userId, now)) {
        core.bus.publish({ kind: 'presence.changed', tenant_id: tenantId, user_id: userId, online: true, last_seen: now });
      }
      if (first) await this.registry.register(tenantId, userId);
    });
    conn.send({
      type: 'hello', connection_id: conn.id, user, server_time: now, heartbeat_ms: cfg.heartbeatMs, max_frame_bytes: cfg.maxFrameBytes,
      token_expires_at: auth.expiresAt,
    });
    this.#watchExpiry(conn, now);
    // Under the tenant's `kick` policy, the user's older connections of this platform class go (on every node).
    core.settings.connected(principal, conn.id, platform).catch((err: unknown) => this.#o.log.error({ err }, 'connection policy failed'));
    return conn;
  }

  /** A connection's transport closed: it leaves the hub, and presence counts it out. */
  #closed(conn: Connection): void {
    const { core, metrics } = this.#o;
    metrics.wsConnections.dec();
    if (this.#secondary.delete(conn)) {
      this.hub.remove(conn);
      return;
    }
    // Presence counts connections: every one that leaves is subtracted.
    if (this.hub.remove(conn)) {
      const { tenantId, userId } = conn.principal;
      const now = Date.now();
      const last = this.hub.count(tenantId, userId) === 0;
      this.#serially(tenantId, userId, async () => {
        if (await core.presence.disconnected(tenantId, userId, now)) {
          core.bus.publish({ kind: 'presence.changed', tenant_id: tenantId, user_id: userId, online: false, last_seen: now });
        }
        if (last) await this.registry.unregister(tenantId, userId);
      });
    }
  }

  /** Runs `task` after the user's earlier presence updates on this node; a failure is logged. */
  #serially(tenantId: string, userId: string, task: () => Promise<void>): void {
    const key = `${tenantId}\u0000${userId}`;
    const run = (this.#pending.get(key) ?? Promise.resolve())
      .then(task)
      .catch((err: unknown) => this.#o.log.error({ err, tenantId, userId }, 'presence update failed'))
      .finally(() => {
        if (this.#pending.get(key) === run) this.#pending.delete(key);
      });
    this.#pending.set(key, run);
  }

  /** Resolves when the presence and registry updates queued so far are done (a shutdown awaits it before closing the stores). */
  async settled(): Promise<void> {
    while (this.#pending.size > 0) await Promise.all(this.#pending.values());
  }

  /**
   * Every half heartbeat interval: drops the connections from which nothing (no frame, no
   * pong) came for two heartbeat intervals, and pings those that were silent since the last
   * beat, so that a live client answers. Any byte received is a sign of life, read from the
   * transport's counter, so a connection needs no pong listener and no clock reading per frame,
   * and a client that talks (the SDK sends a `ping` frame every heartbeat) is not pinged. It
   * also closes as slow consumers (4001) the connections whose unsent output has not moved for
   * `ws.drainTimeoutMs` (a client that talks but stopped reading: live, or in a catch-up that
   * waits for the output to drain), which releases what they hold.
   */
  #beat(): void {
    const limit = Math.ceil((2 * this.#o.core.config.ws.heartbeatMs) / this.#beatMs);
    const now = Date.now();
    const horizon = now + this.#beatMs;
    const expiring: Connection[] = [];
    const drainMs = this.#o.core.config.ws.drainTimeoutMs;
    for (const c of this.hub.connections()) {
      if (c.expiresAt <= horizon) {
        if (c.expiresAt <= now) {
          expire(c);
          continue;
        }
        expiring.push(c);
      }
      const silent = c.silentBeats();
      if (silent >= limit) c.close(Disconnect.HEARTBEAT_TIMEOUT);
      else if (c.stalledFor(now) >= drainMs) c.close(Disconnect.SLOW_CONSUMER, 'slow consumer: output not read');
      else if (silent > 0) c.ping();
    }
    this.#expiring = expiring;
    this.#armExpiry(now);
  }

  /** A connection opened or took a new token: if it expires before the next beat, the expiry timer covers it. */
  #watchExpiry(c: Connection, now: number): void {
    if (c.expiresAt > now + this.#beatMs) return;
    this.#expiring.push(c);
    this.#armExpiry(now);
  }

  /** Closes the due connections of `#expiring` and sets the timer for the soonest of the rest. */
  #expire(): void {
    this.#expiryTimer = undefined;
    const now = Date.now();
    this.#expiring = this.#expiring.filter((c) => {
      // Gone, or refreshed to a token that outlives the next beat (which finds it if need be).
      if (c.closed || c.expiresAt > now + this.#beatMs) return false;
      if (c.expiresAt > now) return true;
      expire(c);
      return false;
    });
    this.#armExpiry(now);
  }

  #armExpiry(now: number): void {
    if (this.#expiryTimer !== undefined) clearTimeout(this.#expiryTimer);
    this.#expiryTimer = undefined;
    if (!this.#accepting || this.#expiring.length === 0) return;
    let soonest = Infinity;
    for (const c of this.#expiring) if (c.expiresAt < soonest) soonest = c.expiresAt;
    this.#expiryTimer = setTimeout(() => this.#expire(), Math.min(this.#beatMs, Math.max(0, soonest - now)));
    this.#expiryTimer.unref();
  }

  /** Stops accepting connections and closes the open ones with 4000 (clients reconnect elsewhere or later). */
  shutdown(): void {
    this.#accepting = false;
    clearInterval(this.#heartbeat);
    if (this.#expiryTimer !== undefined) clearTimeout(this.#expiryTimer);
    this.#expiring = [];
    this.#unsubscribe();
    this.#unwatchPresence();
    for (const c of [...this.hub.connections()]) c.close(Disconnect.SHUTDOWN);
  }

  /** Cuts every connection without a close handshake (tests: a network drop). */
  terminateAll(): void {
    for (const c of [...this.hub.connections()]) c.terminate();
  }
}
