/** The MQTT listener driven by Debian's own command-line clients, mosquitto_pub and mosquitto_sub (MQTT 3.1.1 and 5). */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { startTestServer, type TestServer } from '../support/server.ts';

const run = promisify(execFile);

function requireClients(): void {
  for (const bin of ['mosquitto_pub', 'mosquitto_sub']) {
    const r = spawnSync(bin, ['--help']);
    if (r.error) throw new Error(`${bin} is missing: install Debian's mosquitto-clients with scripts/install-services (as root)`);
  }
}

describe('MQTT with mosquitto_pub / mosquitto_sub', () => {
  let s: TestServer;
  let port: number;
  let doc: { id: string; token: string };
  let pat: { id: string; token: string };
  let conv: string;

  before(async () => {
    requireClients();
    // A hold far longer than the tests' time limits: a publisher's PUBACK must not wait for it (it never syncs).
    s = await startTestServer({ config: { mqtt: { enabled: true, port: 0 }, ws: { syncHoldMs: 120_000 } } });
    port = s.server.mqttPort!;
    doc = await s.user('doc', 'doctor');
    pat = await s.user('pat', 'patient');
    conv = await s.conversation({ participants: ['doc', 'pat'] });
  });
  after(async () => {
    await s.stop();
  });

  const common = (u: { id: string; token: string }, version = 'mqttv311') => ['-h', '127.0.0.1', '-p', String(port), '-V', version, '-u', u.id, '-P', u.token, '-q', '1'];

  for (const version of ['mqttv311', 'mqttv5']) {
    it(`${version}: mosquitto_pub with a bad token is refused at CONNACK`, async () => {
      const r = await run('mosquitto_pub', [...common({ id: 'pat', token: 'bad' }, version), '-t', 'pat/send', '-m', '{}']).then(
        () => null,
        (e: { code: number; stderr: string }) => e,
      );
      assert.ok(r, 'mosquitto_pub must fail');
      assert.match(r.stderr, /bad user name or password/i);
    });
  }

  for (const version of ['mqttv311', 'mqttv5']) {
    it(`${version}: mosquitto_pub sends (exits after the PUBACK, by then stored); mosquitto_sub receives the envelope on its account topic`, async () => {
      const events = s.server.mqtt!.events;
      const subscribed = new Promise<void>((resolve) => events.on('subscribe', (topics: string[]) => topics.includes('doc') && resolve()));
      const sub = spawn('mosquitto_sub', [...common(doc, version), '-t', 'doc', '-C', '1', '-W', '15']);
      let out = '';
      sub.stdout.on('data', (d: Buffer) => (out += d.toString()));
      const exited = new Promise<number | null>((resolve) => sub.on('exit', (code) => resolve(code)));
      await subscribed;
      const id = `mosq-${version}`;
      const envelope = { id, from: 'pat', to: 'doc', tenantNo: s.tenantId, target: '', type: 'TEXT', content: { text: `from mosquitto_pub ${version}` }, timestamp: Date.now(), isBackground: false };
      // A publisher that never subscribes gets its PUBACK after the commit, not after the connection's catch-up hold.
      await run('mosquitto_pub', [...common(pat, version), '-t', 'pat/send', '-m', JSON.stringify(envelope)], { timeout: 15_000 });
      const read = await s.call('GET', `/api/v2/sessions/${conv}/messages?after=0`, { token: doc.token });
      assert.ok(JSON.stringify(read.body).includes(`from mosquitto_pub ${version}`), 'stored when mosquitto_pub got its PUBACK');
      assert.equal(await exited, 0);
      const got = JSON.parse(out.trim());
      assert.deepEqual([got.id, got.from, got.to, got.type, got.content.text], [id, 'pat', 'doc', 'TEXT', `from mosquitto_pub ${version}`]);
    });
  }

  for (const version of ['mqttv311', 'mqttv5']) {
    it(`${version}: mosquitto_sub may not subscribe to another account`, async () => {
      // mosquitto_sub says so and exits (the SUBACK came, refusing it).
      const r = await run('mosquitto_sub', [...common(pat, version), '-t', 'doc', '-C', '1', '-W', '3']).then((x) => x, (e: { stderr: string }) => e);
      assert.match(r.stderr, /All subscription requests were denied/);
    });
  }
});
