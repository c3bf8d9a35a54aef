/**
 * The protocol's shared suite (`support/frames-suite.ts`) over WebSocket, long-poll and MQTT
 * (over WebSocket at /mqtt) on a cluster: 3 nodes on PostgreSQL + Redis. Each connection a test
 * opens goes to the next node, so a sender and its recipients, a user's two devices, a watcher
 * and the user it watches, a logout and the connection it ends sit on different nodes.
 */
import { after, before, describe } from 'node:test';
import { loadConfig } from '../../src/config/load.ts';
import { startCluster, type ClusterTenant, type TestCluster } from '../support/cluster.ts';
import { framesSuite, type FramesEnv } from '../support/frames-suite.ts';

describe('the protocol on a cluster (3 nodes, PostgreSQL + Redis)', { timeout: 600_000 }, () => {
  let c: TestCluster;
  let t: ClusterTenant;
  let fx: FramesEnv;

  before(async () => {
    // Every test opens connections of the same users over three carriers: a cap that they do not reach.
    c = await startCluster({ nodes: 3, env: { CARELINE_MQTT_ENABLED: 'true', CARELINE_MQTT_PORT: '0', CARELINE_WS_MAX_CONNECTIONS_PER_USER: '500' } });
    t = await c.tenant();
    const doc = await t.user('doc', 'doctor');
    const doc2 = { id: 'doc', token: await t.login('doc') }; // a second login: another device of the same user
    const pat = await t.user('pat', 'patient');
    await t.user('outsider', 'patient');
    const conv = await t.conversation({ participants: ['doc', 'pat'] });
    const ws = (url: string) => url.replace(/^http/, 'ws');
    fx = {
      at: (i) => {
        const n = c.nodes[i % c.nodes.length]!;
        return { url: n.url, wsUrl: `${ws(n.url)}/ws`, mqttUrl: `${ws(n.url)}/mqtt` };
      },
      tenantId: t.tenantId,
      tokenSecret: c.env['CARELINE_AUTH_TOKEN_SECRET']!,
      maxFrameBytes: loadConfig({ env: c.env }).config.ws.maxFrameBytes,
      user: (id, role) => t.user(id, role),
      call: (method, path, opts) => t.call(method, path, opts),
      doc, doc2, pat, conv,
    };
  }, { timeout: 240_000 });

  after(async () => {
    await c?.stop();
  }, { timeout: 120_000 });

  for (const transport of ['websocket', 'longpoll', 'mqtt'] as const) framesSuite(() => fx, transport);
});
