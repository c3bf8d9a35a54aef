/**
 * This install and its vendor push (seed 003): register the install's unique code with its
 * push token for the signed-in user, turn push off and on (this device, or every device of
 * the user), mute a conversation, set quiet hours, de-register. Over REST (`/api/v2/devices`,
 * `/api/v2/push`).
 *
 * The unique code is generated once per install and kept in the client's storage (key
 * `careline:device_id`, shared by every account on the install); pass `device_id` to use your
 * own. A de-registered code is never used again: `deregister()` forgets it, and the next
 * `register()` makes a new one.
 */
import type { Device, OsType, PushMute, PushSettings, PushVendor, QuietHours } from '@careline/protocol';
import type { CarelineApi } from './rest.ts';
import type { CarelineStorage } from './storage.ts';
import { uuid } from './ids.ts';

export type { Device, OsType, PushMute, PushSettings, PushVendor, QuietHours };
export const OsTypes = { IOS: 1, ANDROID: 2, WEB: 3, WINDOWS: 4, UNKNOWN: -1 } as const;

export interface RegisterDevice {
  os_type: OsType;
  vendor: PushVendor;
  /** The vendor's token (APNs hex, FCM token, …; Web Push: the PushSubscription as JSON). Register again when it changes. */
  push_token?: string | null;
  /** APNs only: the PushKit VoIP token (hex) for call invites (VoIP pushes); null clears it. */
  voip_token?: string | null;
  /** Model, OS version, app version…: stored, never pushed. */
  device_info?: Record<string, unknown>;
  /** This install's unique code (default: generated once and kept in the client's storage). */
  device_id?: string;
}

export interface Registration {
  device: Device;
  created: boolean;
  account: { tenant_id: string; user_id: string };
  connection: { websocket_url: string };
}

const KEY = 'careline:device_id';
const enc = encodeURIComponent;

export class DevicesApi {
  readonly #api: CarelineApi;
  readonly #storage: CarelineStorage;

  constructor(api: CarelineApi, storage: CarelineStorage) {
    this.#api = api;
    this.#storage = storage;
  }

  /** This install's unique code: the stored one, or a new one (stored). */
  async deviceId(): Promise<string> {
    const stored = await this.#storage.getItem(KEY);
    if (stored) return stored;
    const id = uuid();
    await this.#storage.setItem(KEY, id);
    return id;
  }

  /** Registers this install for the signed-in user: the account and where to connect come back. */
  async register(input: RegisterDevice): Promise<Registration> {
    const device_id = input.device_id ?? (await this.deviceId());
    const body: Record<string, unknown> = { device_id, os_type: input.os_type, vendor: input.vendor };
    if (input.push_token !== undefined) body.push_token = input.push_token;
    if (input.voip_token !== undefined) body.voip_token = input.voip_token;
    if (input.device_info !== undefined) body.device_info = input.device_info;
    return this.#api.request<Registration>('POST', '/devices', { body });
  }

  /** The user's devices (de-registered ones included). */
  async list(): Promise<Device[]> {
    return (await this.#api.request<{ devices: Device[] }>('GET', '/devices')).devices;
  }

  /** Turns vendor push on or off for one install (default: this one). */
  async setPush(enabled: boolean, deviceId?: string): Promise<Device> {
    const id = deviceId ?? (await this.deviceId());
    return (await this.#api.request<{ device: Device }>('PUT', `/devices/${enc(id)}/push`, { body: { enabled } })).device;
  }

  /** De-registers an install (default: this one, whose code is then forgotten): it never gets a push again. */
  async deregister(deviceId?: string): Promise<Device> {
    const own = deviceId === undefined;
    const id = deviceId ?? (await this.deviceId());
    const device = (await this.#api.request<{ device: Device }>('DELETE', `/devices/${enc(id)}`)).device;
    if (own) await this.#storage.setItem(KEY, '');
    return device;
  }

  /** The user's push switch (every device) and quiet hours. */
  async settings(): Promise<PushSettings> {
    return (await this.#api.request<{ settings: PushSettings }>('GET', '/push/settings')).settings;
  }

  /** Changes the user's push switch and/or quiet hours (null: none). */
  async updateSettings(patch: { push_enabled?: boolean; quiet_hours?: QuietHours | null }): Promise<PushSettings> {
    return (await this.#api.request<{ settings: PushSettings }>('PUT', '/push/settings', { body: patch })).settings;
  }

  /** Mutes a conversation's pushes until `until` (ms) or until unmuted. */
  async mute(conversationId: string, until: number | null = null): Promise<PushMute> {
    return (await this.#api.request<{ mute: PushMute }>('PUT', `/push/mutes/${enc(conversationId)}`, { body: { until } })).mute;
  }

  async unmute(conversationId: string): Promise<boolean> {
    return (await this.#api.request<{ unmuted: boolean }>('DELETE', `/push/mutes/${enc(conversationId)}`)).unmuted;
  }

  async mutes(): Promise<PushMute[]> {
    return (await this.#api.request<{ mutes: PushMute[] }>('GET', '/push/mutes')).mutes;
  }

  /**
   * The server's VAPID public key (base64url) for a browser's `pushManager.subscribe({
   * userVisibleOnly: true, applicationServerKey })`; register the subscription's JSON as the
   * push token with `vendor: 'webpush'`. Fails with `push.webpush_unconfigured` when the server
   * sends no Web Push.
   */
  async webPushKey(): Promise<{ public_key: string }> {
    return this.#api.request<{ public_key: string }>('GET', '/push/webpush');
  }
}
