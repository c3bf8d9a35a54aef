/**
 * What the server does with each client frame, as a table: one handler per frame type of the
 * protocol (`ClientFrames`). The table is typed by the frame types, so a frame type without
 * its handler does not compile. A handler gets a frame that passed its schema; what it throws
 * (an `AppError`) goes back to the client as an `error` frame with the frame's id.
 */
import type { ClientFrame, ClientFrameType } from '@careline/protocol';
import { fail } from '../domain/errors.ts';
import type { Connection } from './connection.ts';
import { handleCall, handleRtc } from './handlers-calls.ts';

export type FrameOf<K extends ClientFrameType> = Extract<ClientFrame, { type: K }>;
export type FrameHandler<K extends ClientFrameType> = (c: Connection, f: FrameOf<K>) => Promise<void>;
export type FrameHandlers = { readonly [K in ClientFrameType]: FrameHandler<K> };

export const handlers: FrameHandlers = {
  async send(c, f) {
    const core = c.ctx.core;
    // Check in arrival order, queue for commit in the same order.
    const prepared = c.inOrder(() => core.messages.prepare(c.principal, f.conversation_id, f.message, { origin: { connection: c.id, request: f.id } }));
    const r = await core.messages.commit(await prepared);
    // A fresh message's ack travels with the fan-out (in order with this connection's
    // other frames); a duplicate has no fan-out, so it is acked here.
    if (r.duplicate) {
      c.send({
        type: 'ack', id: f.id, conversation_id: r.message.conversation_id, message_id: r.message.id, seq: r.message.seq,
        created_at: r.message.created_at, duplicate: true,
      });
    }
  },

  async read(c, f) {
    // With an id, this connection's own receipt carries it (the answer to this frame).
    await c.ctx.core.messages.markRead(c.principal, f.conversation_id, f.seq, f.id !== undefined ? { origin: { connection: c.id, request: f.id } } : {});
  },

  async typing(c, f) {
    await c.ctx.core.messages.typing(c.principal, f.conversation_id, f.state ?? 'typing');
  },

  async ping(c, f) {
    c.send({ type: 'pong', ...(f.id !== undefined ? { id: f.id } : {}), server_time: Date.now() });
  },

  async presence(c, f) {
    const ctx = c.ctx;
    if (f.unsubscribe?.length) ctx.onPresenceSubscribe(c, f.unsubscribe, false);
    if (f.subscribe?.length) {
      const max = ctx.maxPresenceWatches;
      const watching = c.presence?.size ?? 0;
      let adding = 0;
      for (const u of new Set(f.subscribe)) if (!c.presence?.has(u)) adding++;
      if (watching + adding > max) throw fail('presence.too_many_watches', `A connection may watch at most ${max} users; it watches ${watching}.`, { max, watching });
      ctx.onPresenceSubscribe(c, f.subscribe, true);
      for (const userId of f.subscribe) {
        const s = await ctx.core.presence.status(c.principal.tenantId, userId);
        c.send({ type: 'presence', ...(f.id !== undefined ? { id: f.id } : {}), user_id: userId, online: s.online, last_seen: s.last_seen });
      }
    }
  },

  sync: (c, f) => c.sync(f),

  async refresh(c, f) {
    // A newer token of the same user: the connection goes on with it (and its expiry, session and role).
    const auth = await c.ctx.core.auth.authenticate(f.token);
    if (auth.principal.tenantId !== c.principal.tenantId || auth.principal.userId !== c.principal.userId) throw fail('auth.token_mismatch');
    if (c.closed) return;
    c.principal = auth.principal;
    c.expiresAt = auth.expiresAt;
    c.ctx.onRefreshed?.(c);
    c.send({ type: 'refreshed', id: f.id, token_expires_at: auth.expiresAt, server_time: Date.now(), user: auth.user });
  },

  call: handleCall,
  rtc: handleRtc,
};
