/**
 * Devices and their push settings as the REST API gives them (seed 003): shared by the server
 * and the SDK.
 */

/** A device's operating system: 1 iOS, 2 Android, 3 Web, 4 Windows, -1 unknown (seed 003's `OsType`). */
export type OsType = 1 | 2 | 3 | 4 | -1;

/** The push service a device's token belongs to (`none`: the device takes no vendor push). */
export type PushVendor = 'apns' | 'fcm' | 'huawei' | 'xiaomi' | 'webpush' | 'none';

/** One install of the app (its unique code), and the one push token it has now. */
export interface Device {
  /** The unique code the SDK generated for this install. */
  device_id: string;
  user_id: string;
  os_type: OsType;
  vendor: PushVendor;
  /** The install's one current token; null when it has none (or after the vendor said it is gone, or after de-registration). */
  push_token: string | null;
  /** What the SDK gathered (model, OS version, app version…): kept as given, never pushed. */
  device_info: Record<string, unknown>;
  /** Push to this install (its own switch; the user's switch is `PushSettings.push_enabled`). */
  push_enabled: boolean;
  /** When the unique code was de-registered; it never gets a push again. */
  deregistered_at: number | null;
  created_at: number;
  updated_at: number;
}

/** Hours in which pushes arrive without sound: `start`–`end` (HH:MM, may wrap midnight) in an IANA time zone. */
export interface QuietHours {
  start: string;
  end: string;
  time_zone: string;
}

/** A user's push switch and quiet hours (every device of the user). */
export interface PushSettings {
  push_enabled: boolean;
  quiet_hours: QuietHours | null;
  updated_at: number | null;
}

/** A conversation the user muted: no push for it until `until` (ms; null: until unmuted). */
export interface PushMute {
  conversation_id: string;
  until: number | null;
  created_at: number;
}
