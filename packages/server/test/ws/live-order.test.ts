/**
 * With several nodes, a conversation's live frames come from the nodes that committed them and
 * can arrive a little out of seq order. A connection still gets each message once: what its
 * catch-up sent is not sent again live, even after a newer live frame went out first.
 * The other node is played by storage writes made without an event, and events published on
 * the server's real bus in the order another node's would arrive.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { newId } from '../../src/domain/ids.ts';
import type { Message } from '../../src/domain/types.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { sleep } from '../support/ws-client.ts';
import type { FrameClient } from '../support/frame-client.ts';
import { openOver } from '../support/carriers.ts';

// Over the carriers with sync frames (long-poll's catch-up is its poll cursor, which reads committed seqs, not live frames).
for (const carrier of ['websocket', 'mqtt'] as const) {
describe(`live frames out of seq order (several nodes), over ${carrier}`, () => {
  let s: TestServer;
  let pat: { token: string };
  let conv: string;
  const open: FrameClient[] = [];

  /** Appends a message as another node would: committed, its event not (yet) here. */
  const commitElsewhere = async (text: string): Promise<Message> => {
    const content = { text };
    const [r] = await s.server.core.storage.messages.append([{
      tenant_id: s.tenantId, conversation_id: conv, id: newId(), sender_id: 'doc', type: 1,
      content, content_json: JSON.stringify(content), client_id: null, created_at: Date.now(), forward: null,
    }]);
    assert.ok(r && r.ok);
    return (await s.server.core.storage.messages.getById(s.tenantId, conv, r.message.id))!;
  };
  const publish = (message: Message) =>
    s.server.core.bus.publish({ kind: 'message.created', tenant_id: s.tenantId, message, recipients: ['doc', 'pat'] });

  before(async () => {
    s = await startTestServer({ config: { mqtt: { enabled: true, port: 0 } } });
    await s.user('doc', 'doctor');
    pat = await s.user('pat', 'patient');
    conv = await s.conversation({ participants: ['doc', 'pat'] });
  });
  after(async () => {
    for (const c of open) c.close();
    await s.stop();
  });

  it('a message the catch-up sent, whose event comes after a newer one, is not sent again', async () => {
    await s.sendAs('doc', conv, 'before');
    const ten = await commitElsewhere('committed on another node; its event still on the way');
    const b = await openOver(carrier, s, pat.token, { sync: true });
    open.push(b);
    b.send({ type: 'sync', id: 's1', cursors: { [conv]: ten.seq - 1 } });
    await b.next((f) => f.type === 'sync_done' && f.id === 's1');
    assert.deepEqual(b.messages(conv).map((m) => m.seq), [ten.seq], 'the catch-up sent it');
    const eleven = await commitElsewhere('committed on a third node, its event here first');
    publish(eleven);
    await b.next((f) => f.type === 'message' && f.message.seq === eleven.seq);
    publish(ten);
    await s.sendAs('doc', conv, 'after');
    await b.next((f) => f.type === 'message' && f.message.content?.text === 'after');
    await sleep(50);
    assert.deepEqual(b.messages(conv).map((m) => m.seq), [ten.seq, eleven.seq, eleven.seq + 1], 'each once');
  });

  // Live frames before any sync are the WebSocket's without ?sync=1 (the MQTT frames topic holds them until the first sync).
  if (carrier === 'websocket') it('live frames before the first sync, out of order, are not sent again by it', async () => {
    const b = await openOver(carrier, s, pat.token);
    open.push(b);
    const base = (await s.call('GET', `/api/v2/sessions/${conv}/session`, { token: pat.token })).body.session.last_seq as number;
    const m1 = await commitElsewhere('one');
    const m2 = await commitElsewhere('two');
    publish(m2);
    publish(m1);
    await b.next((f) => f.type === 'message' && f.message.seq === m1.seq);
    b.send({ type: 'sync', id: 's2', cursors: { [conv]: base } });
    await b.next((f) => f.type === 'sync_done' && f.id === 's2');
    await sleep(50);
    assert.deepEqual(b.messages(conv).map((m) => m.seq).sort((x, y) => x - y), [m1.seq, m2.seq], 'each once');
  });
});
}
