/**
 * Devices and push preferences over REST and through the SDK (seed 003): registration answers
 * the account and where to connect, one token per unique code, push on/off per device and per
 * user, mutes, quiet hours, de-registration; every bad input gets its coded error.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CarelineClient, CarelineError, MemoryStorage } from '@careline/sdk';
import { startTestServer, type TestServer } from '../support/server.ts';
import { assertError, ok, secondTenant } from '../rest/helpers.ts';

const HEX = (c: string) => c.repeat(64);

describe('devices (REST, SDK)', () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer();
  });
  after(() => s?.stop());

  const client = (token: string, storage = new MemoryStorage()) => new CarelineClient({ url: s.url, token, storage });
  const sdkError = async (p: Promise<unknown>, code: string) =>
    assert.rejects(p, (e: unknown) => e instanceof CarelineError && e.code === code ? true : assert.fail(`expected ${code}, got ${String(e)}`));

  it('the SDK registers its install: a unique code kept in storage, the account and the WebSocket URL come back', async () => {
    const p = await s.user('pat-reg');
    const storage = new MemoryStorage();
    const c = client(p.token, storage);
    const r = await c.devices.register({ os_type: 1, vendor: 'apns', push_token: HEX('A'), device_info: { model: 'iPhone15,2', os: '17.4' } });
    assert.equal(r.created, true);
    assert.deepEqual(r.account, { tenant_id: s.tenantId, user_id: 'pat-reg' });
    assert.equal(r.connection.websocket_url, s.wsUrl);
    assert.equal(r.device.push_token, HEX('a'), 'APNs tokens are kept in lower case');
    assert.equal(r.device.device_id, storage.getItem('careline:device_id'));
    // Again, with a rotated token: the same code, one token.
    const again = await client(p.token, storage).devices.register({ os_type: 1, vendor: 'apns', push_token: HEX('b') });
    assert.equal(again.created, false);
    assert.equal(again.device.device_id, r.device.device_id);
    const list = await c.devices.list();
    assert.deepEqual(list.map((d) => [d.device_id, d.push_token]), [[r.device.device_id, HEX('b')]]);
  });

  it('a configured WebSocket URL is what registration answers', async () => {
    const t = await startTestServer({ config: { push: { websocketUrl: 'wss://im.example.org/ws' } } });
    try {
      const p = await t.user('pat-url');
      const r = await new CarelineClient({ url: t.url, token: p.token }).devices.register({ os_type: 2, vendor: 'fcm', push_token: 'f'.repeat(40) });
      assert.equal(r.connection.websocket_url, 'wss://im.example.org/ws');
    } finally {
      await t.stop();
    }
  });

  it('an integrator registers for a user with X-On-Behalf-Of; user_id must be the caller', async () => {
    await s.user('pat-obo');
    const body = { device_id: 'obo-1', os_type: 2, vendor: 'fcm', push_token: 'x'.repeat(50) };
    const r = ok(await s.call('POST', '/api/v2/devices', { body, headers: { 'x-on-behalf-of': 'pat-obo' } }));
    assert.equal(r.device.user_id, 'pat-obo');
    assertError(await s.call('POST', '/api/v2/devices', { body }), 'request.invalid', 'an app for itself');
    assertError(await s.call('POST', '/api/v2/devices', { body: { ...body, user_id: 'someone-else' }, headers: { 'x-on-behalf-of': 'pat-obo' } }), 'auth.forbidden');
  });

  it('bad input gets coded errors: OS type, vendor, token, code', async () => {
    const p = await s.user('pat-bad');
    const reg = (body: Record<string, unknown>) => s.call('POST', '/api/v2/devices', { token: p.token, body: { device_id: 'bad-1', os_type: 1, vendor: 'apns', ...body } });
    assertError(await reg({ os_type: 7 }), 'device.os_type_unknown');
    assertError(await reg({ os_type: 0 }), 'device.os_type_unknown');
    assertError(await reg({ vendor: 'blackberry' }), 'device.vendor_unknown');
    assertError(await reg({ push_token: 'not-hex' }), 'device.token_invalid');
    assertError(await reg({ push_token: 'ab'.repeat(10) }), 'device.token_invalid', 'too short for APNs');
    assertError(await reg({ vendor: 'fcm', push_token: 'has spaces in it and is long enough to pass the length' }), 'device.token_invalid');
    assertError(await reg({ vendor: 'webpush', os_type: 3, push_token: '{"endpoint":"http://insecure"}' }), 'device.token_invalid');
    assertError(await reg({ vendor: 'none', push_token: 'x'.repeat(40) }), 'device.token_invalid');
    assertError(await reg({ device_id: 'has space' }), 'device.id_invalid');
    assertError(await reg({ device_id: 'x'.repeat(129) }), 'device.id_invalid');
    assertError(await reg({ device_info: { blob: 'x'.repeat(5000) } }), 'request.invalid');
    ok(await reg({ vendor: 'webpush', os_type: 3, push_token: JSON.stringify({ endpoint: 'https://push.example/abc', keys: { p256dh: 'B'.repeat(87), auth: 'a'.repeat(22) } }) }));
    ok(await reg({ os_type: -1, vendor: 'none', push_token: null }));
    // Through the SDK, the same codes.
    await sdkError(client(p.token).devices.register({ os_type: 9 as 1, vendor: 'apns' }), 'device.os_type_unknown');
  });

  it('another user\'s or another tenant\'s device is not found; a de-registered code is refused', async () => {
    const a = await s.user('pat-own-a');
    const b = await s.user('pat-own-b');
    const ca = client(a.token);
    const { device } = await ca.devices.register({ device_id: 'own-a-1', os_type: 2, vendor: 'fcm', push_token: 'a'.repeat(64) });
    assertError(await s.call('GET', `/api/v2/devices/${device.device_id}`, { token: b.token }), 'device.not_found');
    assertError(await s.call('PUT', `/api/v2/devices/${device.device_id}/push`, { token: b.token, body: { enabled: false } }), 'device.not_found');
    assertError(await s.call('DELETE', `/api/v2/devices/${device.device_id}`, { token: b.token }), 'device.not_found');
    const other = await secondTenant(s);
    const o = await other.user('pat-own-a');
    assertError(await s.call('GET', `/api/v2/devices/${device.device_id}`, { token: o.token }), 'device.not_found', 'the same user id in another tenant');
    assertError(await s.call('DELETE', `/api/v2/devices/${device.device_id}`, { token: o.token }), 'device.not_found');
    assert.equal(ok(await s.call('GET', `/api/v2/devices/${device.device_id}`, { token: a.token })).device.push_token, 'a'.repeat(64), 'untouched');

    const gone = await ca.devices.deregister('own-a-1');
    assert.ok(gone.deregistered_at);
    assert.equal(gone.push_token, null);
    await sdkError(ca.devices.register({ device_id: 'own-a-1', os_type: 2, vendor: 'fcm', push_token: 'b'.repeat(64) }), 'device.deregistered');
  });

  it('the SDK\'s own code is forgotten on de-registration: the next registration is a new install', async () => {
    const p = await s.user('pat-dereg');
    const storage = new MemoryStorage();
    const c = client(p.token, storage);
    const first = await c.devices.register({ os_type: 1, vendor: 'apns', push_token: HEX('c') });
    await c.devices.deregister();
    const second = await c.devices.register({ os_type: 1, vendor: 'apns', push_token: HEX('c') });
    assert.notEqual(second.device.device_id, first.device.device_id);
    const list = await c.devices.list();
    assert.deepEqual(list.map((d) => d.deregistered_at !== null).sort(), [false, true]);
  });

  it('push on/off per device and per user, quiet hours, mutes with an end', async () => {
    const p = await s.user('pat-pref');
    const doc = await s.user('doc-pref', 'doctor');
    const conv = await s.conversation({ participants: [p.id, doc.id] });
    const c = client(p.token);
    await c.devices.register({ os_type: 2, vendor: 'fcm', push_token: 'p'.repeat(64) });
    assert.equal((await c.devices.setPush(false)).push_enabled, false);
    assert.equal((await c.devices.setPush(true)).push_enabled, true);
    assert.deepEqual(await c.devices.settings(), { push_enabled: true, quiet_hours: null, updated_at: null });
    const q = { start: '22:30', end: '07:00', time_zone: 'Asia/Shanghai' };
    const set = await c.devices.updateSettings({ push_enabled: false, quiet_hours: q });
    assert.equal(set.push_enabled, false);
    assert.deepEqual(set.quiet_hours, q);
    await sdkError(c.devices.updateSettings({ quiet_hours: { start: '25:00', end: '07:00', time_zone: 'UTC' } }), 'push.quiet_hours_invalid');
    await sdkError(c.devices.updateSettings({ quiet_hours: { start: '07:00', end: '07:00', time_zone: 'UTC' } }), 'push.quiet_hours_invalid');
    await sdkError(c.devices.updateSettings({ quiet_hours: { start: '22:00', end: '07:00', time_zone: 'Mars/Olympus' } }), 'push.quiet_hours_invalid');
    assert.equal((await c.devices.updateSettings({ quiet_hours: null })).quiet_hours, null);

    const until = Date.now() + 3_600_000;
    assert.equal((await c.devices.mute(conv, until)).until, until);
    assert.deepEqual((await c.devices.mutes()).map((m) => [m.conversation_id, m.until]), [[conv, until]]);
    await sdkError(c.devices.mute(conv, Date.now() - 1000), 'push.mute_invalid');
    const stranger = await s.user('pat-stranger');
    await sdkError(client(stranger.token).devices.mute(conv), 'conversation.not_participant');
    await sdkError(c.devices.mute('no-such-conversation'), 'conversation.not_found');
    assert.equal(await c.devices.unmute(conv), true);
    assert.deepEqual(await c.devices.mutes(), []);
  });
});
