/**
 * MQTT across nodes: a message a seed 003 client publishes over MQTT on one node reaches the
 * other participant on another node, over WebSocket and over MQTT (live, through the bus).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startCluster, type ClusterNode, type TestCluster } from '../support/cluster.ts';
import { WsClient } from '../support/ws-client.ts';
import { MqttTestClient } from '../mqtt/client.ts';

const T = { timeout: 120_000 };

/** The MQTT port a node logged at start (`CARELINE_MQTT_PORT=0`: a free one). */
async function mqttPortOf(node: ClusterNode): Promise<number> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const m = /"mqtt":\{"host":"[^"]*","port":(\d+)\}/.exec(node.log());
    if (m) return Number(m[1]);
    if (Date.now() > deadline) throw new Error(`${node.name} did not log its MQTT port: ${node.log().slice(-500)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('MQTT on a cluster', () => {
  let c: TestCluster;
  const closers: (() => unknown)[] = [];

  before(async () => {
    c = await startCluster({ nodes: 2, env: { CARELINE_MQTT_ENABLED: 'true', CARELINE_MQTT_PORT: '0', CARELINE_LOG_LEVEL: 'info' } });
  }, T);
  after(async () => {
    for (const close of closers) await close();
    await c?.stop();
  }, T);

  test('published over MQTT on node A, received over WebSocket and MQTT on node B', T, async () => {
    const t = await c.tenant();
    const pat = await t.user('pat');
    const doc = await t.user('doc', 'doctor');
    const conv = await t.conversation({ participants: ['pat', 'doc'] });
    const [a, b] = c.nodes as [ClusterNode, ClusterNode];
    const docWs = await WsClient.open(`${b.url.replace(/^http/, 'ws')}/ws`, doc.token);
    closers.push(() => docWs.close());
    const docMqtt = await MqttTestClient.connect(await mqttPortOf(b), 'doc', doc.token);
    closers.push(() => docMqtt.end());
    const patMqtt = await MqttTestClient.connect(await mqttPortOf(a), 'pat', pat.token);
    closers.push(() => patMqtt.end());
    await patMqtt.send('pat', { id: 'x-node-1', from: 'pat', to: 'doc', tenantNo: t.tenantId, target: '', type: 'TEXT', content: { text: 'across nodes' }, timestamp: Date.now(), isBackground: false });
    const f = await docWs.next((x) => x.type === 'message' && x.message.client_id === 'x-node-1', 15_000);
    assert.deepEqual([f.message.conversation_id, f.message.sender_id, f.message.content.text], [conv, 'pat', 'across nodes']);
    const env = await docMqtt.next((p) => p.id === 'x-node-1', 15_000);
    assert.deepEqual([env.from, env.to, env.type, env.content.text], ['pat', 'doc', 'TEXT', 'across nodes']);
  });

  test('kill -9 of the node holding an MQTT subscriber: it reconnects to the other node, syncs its cursors, and gets every message once, in order', T, async () => {
    const t = await c.tenant();
    const pat = await t.user('pat2');
    const doc = await t.user('doc2', 'doctor');
    const conv = await t.conversation({ participants: ['pat2', 'doc2'] });
    const [a, b] = c.nodes as [ClusterNode, ClusterNode];
    const portA = await mqttPortOf(a);
    const patMqtt = await MqttTestClient.connect(portA, 'pat2', pat.token);
    closers.push(() => patMqtt.end());
    const docOnB = await MqttTestClient.connect(await mqttPortOf(b), 'doc2', doc.token);
    const send = (i: number) => patMqtt.send('pat2', { id: `k-${i}`, to: 'doc2', type: 'TEXT', content: { text: `m${i}` } });
    for (let i = 0; i < 10; i++) await send(i);
    await docOnB.count((p) => typeof p.from === 'string', 10, 15_000);
    const have = Math.max(...docOnB.envelopes().map((p) => p.seq as number));
    await b.kill9();
    await docOnB.end().catch(() => {});
    // Sent while the receiver has no connection: each PUBACK means stored.
    for (let i = 10; i < 30; i++) await send(i);
    const docOnA = await MqttTestClient.connect(portA, 'doc2', doc.token);
    closers.push(() => docOnA.end());
    await docOnA.sync('doc2', { id: 'after-kill', cursors: { [conv]: have } });
    await docOnA.next((p) => p.type === 'sync_done' && p.id === 'after-kill', 15_000);
    for (let i = 30; i < 35; i++) await send(i);
    const got = await docOnA.count((p) => typeof p.from === 'string', 25, 15_000);
    const all = [...docOnB.envelopes(), ...got];
    assert.deepEqual(all.map((p) => p.content.text), Array.from({ length: 35 }, (_, i) => `m${i}`));
    assert.deepEqual(all.map((p) => p.seq), Array.from({ length: 35 }, (_, i) => i + 1));
    await b.restart();
  });
});
