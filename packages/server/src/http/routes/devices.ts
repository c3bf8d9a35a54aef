/**
 * Devices and push preferences (seed 003): `/api/v2/devices` (register an install's unique
 * code with its push token, list, push on/off, de-register) and `/api/v2/push` (the user's
 * push switch and quiet hours, mutes per conversation). A user's own token, or an API key
 * acting for the user (X-On-Behalf-Of).
 */
import Type from 'typebox';
import type { FastifyRequest } from 'fastify';
import type { Api } from '../api.ts';
import type { Core } from '../../core.ts';
import { errors, Id, Nullable } from '../schemas.ts';
import { fail } from '../../domain/errors.ts';

const DeviceId = Type.String({ minLength: 1, maxLength: 256, description: 'The unique code the SDK generated for this install: 1–128 of letters, digits and . _ : -' });
const OsType = Type.Integer({ description: '1 iOS, 2 Android, 3 Web, 4 Windows, -1 unknown (`device.os_type_unknown` otherwise)' });
const Vendor = Type.String({ maxLength: 32, description: 'The push service of the token: `apns`, `fcm`, `huawei`, `xiaomi`, `webpush`, or `none` (no vendor push)' });
const PushToken = Nullable(Type.String({
  maxLength: 8192,
  description: 'The vendor\'s token for this install: APNs device token (hex), FCM registration token, Huawei token, MiPush regId, or the browser\'s PushSubscription as JSON (Web Push). A new token replaces the old one.',
}));
const DeviceInfo = Type.Record(Type.String(), Type.Unknown(), { description: 'What the SDK gathered (model, OS version, app version…), at most 4 KiB as JSON; stored, never pushed' });

const Device = Type.Object({
  device_id: Type.String(), user_id: Type.String(), os_type: Type.Integer(), vendor: Type.String(), push_token: Nullable(Type.String()),
  device_info: Type.Record(Type.String(), Type.Unknown()), push_enabled: Type.Boolean(),
  deregistered_at: Nullable(Type.Number({ description: 'When the code was de-registered: it never gets a push again' })),
  created_at: Type.Number(), updated_at: Type.Number(),
});
const QuietHours = Type.Object({
  start: Type.String({ description: 'HH:MM (24 h)' }), end: Type.String({ description: 'HH:MM (24 h); before start: the hours wrap midnight' }),
  time_zone: Type.String({ description: 'IANA time zone, e.g. Asia/Shanghai' }),
}, { additionalProperties: false, description: 'Pushes in these hours arrive without sound' });
const PushSettings = Type.Object({ push_enabled: Type.Boolean(), quiet_hours: Nullable(QuietHours), updated_at: Nullable(Type.Number()) });
const Mute = Type.Object({ conversation_id: Type.String(), until: Nullable(Type.Number()), created_at: Type.Number() });
const DeviceParams = Type.Object({ device_id: DeviceId });
const Placeholders = 'Placeholders: {title}, {body} (the generic line, or the preview where previews are on), {time}, {badge}, {conversation_id}, {message_id}';
const WechatTemplate = Type.Object({
  template_id: Type.String({ maxLength: 128, description: 'The template id from the Official Account console' }),
  url: Type.Optional(Nullable(Type.String({ maxLength: 1024, description: `Opened on a tap (http/https). ${Placeholders}` }))),
  miniprogram: Type.Optional(Nullable(Type.Object({ appid: Type.String({ maxLength: 64 }), pagepath: Type.String({ maxLength: 1024 }) }, { additionalProperties: false }))),
  data: Type.Record(Type.String(), Type.String(), { description: `Each template keyword (thing1, time2…) → its text. ${Placeholders}` }),
}, { additionalProperties: false });
const TenantPush = Type.Object({
  preview_conversation_types: Type.Array(Type.Integer(), { description: 'Conversation types whose pushes carry a preview of the message text (default none: no patient data in a push)' }),
  wechat: Type.Object({ enabled: Type.Boolean(), templates: Type.Object({ message: Type.Optional(WechatTemplate) }) }),
  updated_at: Nullable(Type.Number()),
});
const Openid = Type.Object({ user_id: Type.String(), openid: Nullable(Type.String()) });
const MuteParams = Type.Object({ session_id: Id });

/** Where the registering SDK connects: the configured URL, or this server's `/ws` as the request reached it. */
function websocketUrl(core: Core, req: FastifyRequest): string {
  if (core.config.push.websocketUrl) return core.config.push.websocketUrl;
  const fwd = req.headers['x-forwarded-proto'];
  const proto = (Array.isArray(fwd) ? fwd[0] : fwd)?.split(',')[0]?.trim() === 'https' || req.protocol === 'https' ? 'wss' : 'ws';
  return `${proto}://${req.headers.host ?? 'localhost'}/ws`;
}

export function deviceRoutes(app: Api, core: Core): void {
  const d = core.devices;

  app.post('/api/v2/devices', {
    config: { auth: 'any' },
    schema: {
      tags: ['devices'],
      summary: 'Register this install (its unique code and push token) for the signed-in user',
      description: 'Seed 003\'s registration: one push token per unique code (a new one replaces the old; a token moving to a new code leaves the old code without it). Answers with the account and where to connect. A de-registered code is refused (`device.deregistered`).',
      body: Type.Object({
        device_id: DeviceId, os_type: OsType, vendor: Vendor, push_token: Type.Optional(PushToken), device_info: Type.Optional(DeviceInfo),
        voip_token: Type.Optional(Nullable(Type.String({ maxLength: 256, description: 'APNs only: the PushKit VoIP token (hex), for call invites; null clears it' }))),
        user_id: Type.Optional(Type.String({ maxLength: 128, description: 'The user the SDK was started with; must be the caller' })),
      }, { additionalProperties: false }),
      response: {
        200: Type.Object({
          device: Device, created: Type.Boolean(),
          account: Type.Object({ tenant_id: Type.String(), user_id: Type.String() }),
          connection: Type.Object({ websocket_url: Type.String() }),
        }),
        ...errors(400, 401, 403, 409),
      },
    },
  }, async (req) => {
    const { device, created } = await d.register(req.principal, req.body);
    return { device, created, account: { tenant_id: req.principal.tenantId, user_id: device.user_id }, connection: { websocket_url: websocketUrl(core, req) } };
  });

  app.get('/api/v2/devices', {
    config: { auth: 'any' },
    schema: { tags: ['devices'], summary: 'The user\'s devices (de-registered ones included)', response: { 200: Type.Object({ devices: Type.Array(Device) }), ...errors(400, 401) } },
  }, async (req) => ({ devices: await d.list(req.principal) }));

  app.get('/api/v2/devices/:device_id', {
    config: { auth: 'any' },
    schema: { tags: ['devices'], summary: 'One of the user\'s devices', params: DeviceParams, response: { 200: Type.Object({ device: Device }), ...errors(400, 401, 404) } },
  }, async (req) => ({ device: await d.get(req.principal, req.params.device_id) }));

  app.put('/api/v2/devices/:device_id/push', {
    config: { auth: 'any' },
    schema: {
      tags: ['devices'], summary: 'Turn push on or off for this install', params: DeviceParams,
      body: Type.Object({ enabled: Type.Boolean() }, { additionalProperties: false }),
      response: { 200: Type.Object({ device: Device }), ...errors(400, 401, 404) },
    },
  }, async (req) => ({ device: await d.setPush(req.principal, req.params.device_id, req.body.enabled) }));

  app.delete('/api/v2/devices/:device_id', {
    config: { auth: 'any' },
    schema: {
      tags: ['devices'], summary: 'De-register this unique code: it loses its token and never gets a push again', params: DeviceParams,
      response: { 200: Type.Object({ device: Device }), ...errors(400, 401, 404) },
    },
  }, async (req) => ({ device: await d.deregister(req.principal, req.params.device_id) }));

  app.get('/api/v2/push/settings', {
    config: { auth: 'any' },
    schema: { tags: ['devices'], summary: 'The user\'s push switch and quiet hours', response: { 200: Type.Object({ settings: PushSettings }), ...errors(400, 401) } },
  }, async (req) => ({ settings: await d.settings(req.principal) }));

  app.put('/api/v2/push/settings', {
    config: { auth: 'any' },
    schema: {
      tags: ['devices'], summary: 'Change the user\'s push switch (every device) or quiet hours (the fields given; quiet_hours null: none)',
      body: Type.Object({ push_enabled: Type.Optional(Type.Boolean()), quiet_hours: Type.Optional(Nullable(QuietHours)) }, { additionalProperties: false }),
      response: { 200: Type.Object({ settings: PushSettings }), ...errors(400, 401) },
    },
  }, async (req) => ({ settings: await d.updateSettings(req.principal, req.body) }));

  app.get('/api/v2/push/mutes', {
    config: { auth: 'any' },
    schema: { tags: ['devices'], summary: 'The conversations the user muted', response: { 200: Type.Object({ mutes: Type.Array(Mute) }), ...errors(400, 401) } },
  }, async (req) => ({ mutes: await d.mutes(req.principal) }));

  app.put('/api/v2/push/mutes/:session_id', {
    config: { auth: 'any' },
    schema: {
      tags: ['devices'], summary: 'Mute a conversation\'s pushes, until a time or until unmuted', params: MuteParams,
      body: Type.Object({ until: Type.Optional(Nullable(Type.Integer({ description: 'ms since the epoch, in the future; null or absent: until unmuted' }))) }, { additionalProperties: false }),
      response: { 200: Type.Object({ mute: Mute }), ...errors(400, 401, 403, 404) },
    },
  }, async (req) => ({ mute: await d.mute(req.principal, req.params.session_id, req.body.until ?? null) }));

  app.delete('/api/v2/push/mutes/:session_id', {
    config: { auth: 'any' },
    schema: {
      tags: ['devices'], summary: 'Unmute a conversation', params: MuteParams,
      response: { 200: Type.Object({ unmuted: Type.Boolean() }), ...errors(400, 401) },
    },
  }, async (req) => ({ unmuted: await d.unmute(req.principal, req.params.session_id) }));

  app.get('/api/v2/push/webpush', {
    config: { auth: 'none' },
    schema: {
      tags: ['devices'], summary: 'The server\'s VAPID public key, for the browser\'s pushManager.subscribe (applicationServerKey)',
      description: 'Public, no credentials. `push.webpush_unconfigured` (404) when this server sends no Web Push.',
      response: { 200: Type.Object({ public_key: Type.String({ description: 'base64url, the uncompressed P-256 point (65 bytes)' }) }), ...errors(404) },
    },
  }, async () => {
    const key = core.config.push.webpush.publicKey;
    if (!key) throw fail('push.webpush_unconfigured');
    return { public_key: key };
  });

  app.get('/api/v2/management/push/settings', {
    config: { auth: 'app' },
    schema: { tags: ['devices'], summary: 'The tenant\'s push choices: previews per conversation type, the WeChat template channel', response: { 200: Type.Object({ settings: TenantPush }), ...errors(401, 403) } },
  }, async (req) => ({ settings: await d.tenantPush(req.principal) }));

  app.put('/api/v2/management/push/settings', {
    config: { auth: 'app' },
    schema: {
      tags: ['devices'], summary: 'Change the tenant\'s push choices (the fields given)',
      description: 'Previews put the message text (of text messages; a type label otherwise) in pushes of the listed conversation types; off by default. WeChat: a template message to a user with an openid and no live connection, when enabled (see docs/push.md).',
      body: Type.Object({
        preview_conversation_types: Type.Optional(Type.Array(Type.Integer(), { maxItems: 13 })),
        wechat: Type.Optional(Type.Object({ enabled: Type.Boolean(), templates: Type.Optional(Type.Object({ message: Type.Optional(WechatTemplate) }, { additionalProperties: false })) }, { additionalProperties: false })),
      }, { additionalProperties: false }),
      response: { 200: Type.Object({ settings: TenantPush }), ...errors(400, 401, 403) },
    },
  }, async (req) => ({ settings: await d.updateTenantPush(req.principal, req.body) }));

  app.get('/api/v2/management/users/:user_id/wechat', {
    config: { auth: 'app' },
    schema: { tags: ['devices'], summary: 'A user\'s WeChat openid (for template messages)', params: Type.Object({ user_id: Id }), response: { 200: Openid, ...errors(401, 403, 404) } },
  }, async (req) => d.wechatOpenid(req.principal, req.params.user_id));

  app.put('/api/v2/management/users/:user_id/wechat', {
    config: { auth: 'app' },
    schema: {
      tags: ['devices'], summary: 'Set (or with null clear) a user\'s WeChat openid: the user of the tenant\'s Official Account who gets template messages',
      description: 'An openid names one user of the tenant: setting it for another user moves it.',
      params: Type.Object({ user_id: Id }),
      body: Type.Object({ openid: Nullable(Type.String({ maxLength: 64 })) }, { additionalProperties: false }),
      response: { 200: Openid, ...errors(400, 401, 403, 404) },
    },
  }, async (req) => d.setWechatOpenid(req.principal, req.params.user_id, req.body.openid));
  // Push, round two: phones for SMS, escalation policies, per-channel delivery status.
  const Phone = Type.Object({ user_id: Type.String(), phone: Nullable(Type.String()) });
  const Step = Type.Object({ channel: Type.Union([Type.Literal('wechat'), Type.Literal('sms')]), after_seconds: Type.Integer({ minimum: 1 }) });
  const Policy = Type.Object({ enabled: Type.Boolean(), conversation_types: Nullable(Type.Array(Type.Integer())), steps: Type.Array(Step) });
  const PolicyIn = Type.Object({
    enabled: Type.Optional(Type.Boolean()), conversation_types: Type.Optional(Nullable(Type.Array(Type.Integer()))), steps: Type.Array(Type.Unknown()),
  });
  const Escalation = Type.Object({ user_id: Nullable(Type.String()), policy: Nullable(Policy) });
  const Delivery = Type.Object({
    subject_id: Type.String(), user_id: Type.String(), channel: Type.String(),
    status: Type.Union([Type.Literal('queued'), Type.Literal('sent'), Type.Literal('failed'), Type.Literal('delivered'), Type.Literal('escalated'), Type.Literal('dropped')]),
    detail: Nullable(Type.String()), created_at: Type.Integer(), updated_at: Type.Integer(),
  });
  const UserParams = Type.Object({ user_id: Id });

  app.get('/api/v2/management/users/:user_id/phone', {
    config: { auth: 'app' },
    schema: { tags: ['devices'], summary: 'A user\'s phone number (for the SMS rung of the escalation ladder)', params: UserParams, response: { 200: Phone, ...errors(401, 403, 404) } },
  }, async (req) => d.phone(req.principal, req.params.user_id));

  app.put('/api/v2/management/users/:user_id/phone', {
    config: { auth: 'app' },
    schema: {
      tags: ['devices'], summary: 'Set (or with null clear) a user\'s phone number, E.164', params: UserParams,
      body: Type.Object({ phone: Nullable(Type.String({ maxLength: 32 })) }, { additionalProperties: false }),
      response: { 200: Phone, ...errors(400, 401, 403, 404) },
    },
  }, async (req) => d.setPhone(req.principal, req.params.user_id, req.body.phone));

  app.get('/api/v2/management/push/escalation', {
    config: { auth: 'app' },
    schema: { tags: ['devices'], summary: 'The tenant\'s escalation policy (null: none)', response: { 200: Escalation, ...errors(401, 403) } },
  }, async (req) => d.escalation(req.principal, null));

  app.put('/api/v2/management/push/escalation', {
    config: { auth: 'app' },
    schema: {
      tags: ['devices'], summary: 'Set (or with null remove) the tenant\'s escalation policy',
      description: 'If a message stays unread after_seconds after its commit, the step\'s channel is tried (WeChat template message, SMS), in order, stopping once read. See docs/push.md.',
      body: Type.Object({ policy: Nullable(PolicyIn) }, { additionalProperties: false }),
      response: { 200: Escalation, ...errors(400, 401, 403) },
    },
  }, async (req) => d.setEscalation(req.principal, null, req.body.policy));

  app.get('/api/v2/management/users/:user_id/push/escalation', {
    config: { auth: 'app' },
    schema: { tags: ['devices'], summary: 'A user\'s own escalation policy (null: the tenant\'s applies)', params: UserParams, response: { 200: Escalation, ...errors(401, 403, 404) } },
  }, async (req) => d.escalation(req.principal, req.params.user_id));

  app.put('/api/v2/management/users/:user_id/push/escalation', {
    config: { auth: 'app' },
    schema: {
      tags: ['devices'], summary: 'Set (or with null remove) a user\'s own escalation policy, which replaces the tenant\'s for them', params: UserParams,
      body: Type.Object({ policy: Nullable(PolicyIn) }, { additionalProperties: false }),
      response: { 200: Escalation, ...errors(400, 401, 403, 404) },
    },
  }, async (req) => d.setEscalation(req.principal, req.params.user_id, req.body.policy));

  app.get('/api/v2/management/push/deliveries/:subject_id', {
    config: { auth: 'app' },
    schema: {
      tags: ['devices'], summary: 'Per-channel status of the pushes of a message, notification or call',
      description: 'One row per user and channel (apns, fcm, webpush, huawei, xiaomi, wechat, sms): queued, sent (accepted by the vendor), failed, dropped (read first, push off…), escalated (unread: the next channel was tried).',
      params: Type.Object({ subject_id: Type.String({ maxLength: 128 }) }),
      response: { 200: Type.Object({ deliveries: Type.Array(Delivery) }), ...errors(401, 403) },
    },
  }, async (req) => ({ deliveries: await d.deliveries(req.principal, req.params.subject_id) }));
}
