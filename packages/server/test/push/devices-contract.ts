/**
 * The device store (`DeviceStore`) contract: every backend runs these same tests. A backend's
 * test file calls `devicesContract(name, open)` with a function that opens a fresh, empty,
 * migrated storage.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Storage } from '../../src/domain/ports.ts';
import type { DeviceRegistration } from '../../src/domain/types.ts';
import { AppError } from '../../src/domain/errors.ts';

export type OpenDeviceStorage = () => Promise<{ storage: Storage; cleanup: () => Promise<void> }>;

const T = 'tenant-a';
const T2 = 'tenant-b';
const NOW = 1_800_000_000_000;
const hex = (c: string) => c.repeat(64);

let n = 0;
/** A registration with a code of its own per call. */
function reg(over: Partial<DeviceRegistration> = {}): DeviceRegistration {
  return { tenant_id: T, device_id: `dev-${++n}`, user_id: 'pat', os_type: 1, vendor: 'apns', push_token: null, device_info: { model: 'iPhone15,2' }, ...over };
}

export function devicesContract(name: string, open: OpenDeviceStorage): void {
  describe(`devices contract: ${name}`, () => {
    let s: Storage;
    let cleanup: () => Promise<void>;

    before(async () => {
      ({ storage: s, cleanup } = await open());
    });
    after(async () => {
      await s.close();
      await cleanup();
    });

    it('registers a unique code with its token and info; registering it again replaces the token (one per code)', async () => {
      const r = reg({ push_token: hex('a') });
      const first = await s.devices.register(r, NOW);
      assert.equal(first.created, true);
      assert.deepEqual(first.device, {
        device_id: r.device_id, user_id: 'pat', os_type: 1, vendor: 'apns', push_token: hex('a'), device_info: { model: 'iPhone15,2' },
        push_enabled: true, deregistered_at: null, created_at: NOW, updated_at: NOW,
      });
      const again = await s.devices.register({ ...r, push_token: hex('b'), device_info: { model: 'iPhone16,1' } }, NOW + 1);
      assert.equal(again.created, false);
      assert.equal(again.device.push_token, hex('b'));
      assert.deepEqual(again.device.device_info, { model: 'iPhone16,1' });
      assert.equal(again.device.created_at, NOW);
      assert.equal(again.device.updated_at, NOW + 1);
      assert.deepEqual(await s.devices.get(T, r.device_id), again.device);
    });

    it('a token registered under a new code leaves the old code without it (the old code stays, for de-registration)', async () => {
      const old = reg({ user_id: 'u-move', push_token: hex('c') });
      await s.devices.register(old, NOW);
      const fresh = reg({ user_id: 'u-move', push_token: hex('c') });
      await s.devices.register(fresh, NOW + 5);
      const list = await s.devices.listForUser(T, 'u-move');
      assert.deepEqual(list.map((d) => [d.device_id, d.push_token]), [[old.device_id, null], [fresh.device_id, hex('c')]].sort((a, b) => (a[0]! < b[0]! ? -1 : 1)));
      // The same token of another vendor, or in another tenant, is another token.
      await s.devices.register(reg({ tenant_id: T2, user_id: 'u-move', push_token: hex('c') }), NOW + 6);
      await s.devices.register(reg({ user_id: 'u-move', vendor: 'fcm', push_token: hex('c') }), NOW + 7);
      assert.equal((await s.devices.get(T, fresh.device_id))!.push_token, hex('c'));
    });

    it('codes are per tenant: the same code in two tenants is two devices', async () => {
      const r = reg({ push_token: hex('d') });
      await s.devices.register(r, NOW);
      assert.equal(await s.devices.get(T2, r.device_id), null);
      const other = await s.devices.register({ ...r, tenant_id: T2, user_id: 'someone' }, NOW);
      assert.equal(other.created, true);
      assert.equal((await s.devices.get(T, r.device_id))!.user_id, 'pat');
    });

    it('push on/off per device; a code registered by another user moves to them with push on', async () => {
      const r = reg({ user_id: 'u-a' });
      await s.devices.register(r, NOW);
      assert.equal((await s.devices.setPush(T, r.device_id, false, NOW + 1))!.push_enabled, false);
      assert.equal((await s.devices.register(r, NOW + 2)).device.push_enabled, false, 'the same user keeps the switch');
      const moved = (await s.devices.register({ ...r, user_id: 'u-b' }, NOW + 3)).device;
      assert.equal(moved.user_id, 'u-b');
      assert.equal(moved.push_enabled, true);
      assert.deepEqual(await s.devices.listForUser(T, 'u-a'), []);
      assert.equal(await s.devices.setPush(T, 'no-such-code', true, NOW), null);
    });

    it('de-registration keeps the code without a token; registering it again is refused; repeating it changes nothing', async () => {
      const r = reg({ push_token: hex('e') });
      await s.devices.register(r, NOW);
      const gone = (await s.devices.deregister(T, r.device_id, NOW + 10))!;
      assert.equal(gone.deregistered_at, NOW + 10);
      assert.equal(gone.push_token, null);
      await assert.rejects(s.devices.register({ ...r, push_token: hex('f') }, NOW + 11), (e: unknown) => e instanceof AppError && e.code === 'device.deregistered');
      assert.equal((await s.devices.deregister(T, r.device_id, NOW + 12))!.deregistered_at, NOW + 10);
      assert.equal((await s.devices.get(T, r.device_id))!.push_token, null);
      assert.equal(await s.devices.deregister(T, 'no-such-code', NOW), null);
      // Its old token is free for another install.
      assert.equal((await s.devices.register(reg({ push_token: hex('e') }), NOW + 13)).device.push_token, hex('e'));
    });

    it('dropToken clears the token only while it is still the one given', async () => {
      const r = reg({ push_token: hex('1') });
      await s.devices.register(r, NOW);
      await s.devices.register({ ...r, push_token: hex('2') }, NOW + 1);
      assert.equal(await s.devices.dropToken(T, r.device_id, hex('1'), NOW + 2), false, 'an old token: the new one stays');
      assert.equal((await s.devices.get(T, r.device_id))!.push_token, hex('2'));
      assert.equal(await s.devices.dropToken(T, r.device_id, hex('2'), NOW + 3), true);
      assert.equal((await s.devices.get(T, r.device_id))!.push_token, null);
    });

    it('push settings: defaults, then a patch changes only what it names', async () => {
      assert.deepEqual(await s.devices.getSettings(T, 'u-set'), { push_enabled: true, quiet_hours: null, updated_at: null });
      const q = { start: '22:00', end: '07:00', time_zone: 'Asia/Shanghai' };
      assert.deepEqual(await s.devices.updateSettings(T, 'u-set', { quiet_hours: q }, NOW), { push_enabled: true, quiet_hours: q, updated_at: NOW });
      assert.deepEqual(await s.devices.updateSettings(T, 'u-set', { push_enabled: false }, NOW + 1), { push_enabled: false, quiet_hours: q, updated_at: NOW + 1 });
      assert.deepEqual(await s.devices.updateSettings(T, 'u-set', { quiet_hours: null }, NOW + 2), { push_enabled: false, quiet_hours: null, updated_at: NOW + 2 });
      assert.deepEqual(await s.devices.getSettings(T, 'u-set'), { push_enabled: false, quiet_hours: null, updated_at: NOW + 2 });
      assert.deepEqual(await s.devices.getSettings(T2, 'u-set'), { push_enabled: true, quiet_hours: null, updated_at: null });
    });

    it('mutes per conversation, with an optional end; muting again moves the end; unmute removes it', async () => {
      assert.deepEqual(await s.devices.mute(T, 'u-mute', 'c2', NOW + 1000, NOW), { conversation_id: 'c2', until: NOW + 1000, created_at: NOW });
      assert.deepEqual(await s.devices.mute(T, 'u-mute', 'c1', null, NOW), { conversation_id: 'c1', until: null, created_at: NOW });
      assert.deepEqual(await s.devices.mute(T, 'u-mute', 'c2', null, NOW + 1), { conversation_id: 'c2', until: null, created_at: NOW });
      assert.deepEqual((await s.devices.mutes(T, 'u-mute')).map((m) => m.conversation_id), ['c1', 'c2']);
      assert.deepEqual(await s.devices.mutes(T2, 'u-mute'), []);
      assert.equal(await s.devices.unmute(T, 'u-mute', 'c1'), true);
      assert.equal(await s.devices.unmute(T, 'u-mute', 'c1'), false);
      assert.deepEqual((await s.devices.mutes(T, 'u-mute')).map((m) => m.conversation_id), ['c2']);
    });

    it('a WeChat openid per user: set, replaced, cleared; one openid names one user of the tenant', async () => {
      assert.equal(await s.devices.getWechatOpenid(T, 'w1'), null);
      await s.devices.setWechatOpenid(T, 'w1', 'oUpF8uMuAJO_M2pxb1Q9zNjWeS6o', NOW);
      assert.equal(await s.devices.getWechatOpenid(T, 'w1'), 'oUpF8uMuAJO_M2pxb1Q9zNjWeS6o');
      await s.devices.setWechatOpenid(T, 'w1', 'oUpF8uNewOpenid000000000000', NOW + 1);
      assert.equal(await s.devices.getWechatOpenid(T, 'w1'), 'oUpF8uNewOpenid000000000000');
      // The same openid for another user moves it; another tenant keeps its own.
      await s.devices.setWechatOpenid(T2, 'w1', 'oUpF8uNewOpenid000000000000', NOW + 1);
      await s.devices.setWechatOpenid(T, 'w2', 'oUpF8uNewOpenid000000000000', NOW + 2);
      assert.equal(await s.devices.getWechatOpenid(T, 'w1'), null);
      assert.equal(await s.devices.getWechatOpenid(T, 'w2'), 'oUpF8uNewOpenid000000000000');
      assert.equal(await s.devices.getWechatOpenid(T2, 'w1'), 'oUpF8uNewOpenid000000000000');
      await s.devices.setWechatOpenid(T, 'w2', null, NOW + 3);
      assert.equal(await s.devices.getWechatOpenid(T, 'w2'), null);
    });

    it('a tenant\'s push choices: none by default; previews and the WeChat channel changed apart', async () => {
      assert.deepEqual(await s.devices.getTenantPush(T), { preview_conversation_types: [], wechat: { enabled: false, templates: {} }, updated_at: null });
      assert.deepEqual(await s.devices.updateTenantPush(T, { preview_conversation_types: [2, 5] }, NOW),
        { preview_conversation_types: [2, 5], wechat: { enabled: false, templates: {} }, updated_at: NOW });
      const wechat = { enabled: true, templates: { message: { template_id: 'tpl-1', url: null, miniprogram: null, data: { thing1: '{title}', time2: '{time}' } } } };
      assert.deepEqual(await s.devices.updateTenantPush(T, { wechat }, NOW + 1), { preview_conversation_types: [2, 5], wechat, updated_at: NOW + 1 });
      assert.deepEqual(await s.devices.getTenantPush(T), { preview_conversation_types: [2, 5], wechat, updated_at: NOW + 1 });
      assert.deepEqual((await s.devices.getTenantPush(T2)).preview_conversation_types, []);
    });
  });
}
