/**
 * The closed list of error codes. Every error the server reports, over HTTP or as a
 * WebSocket `error` frame, carries one of these codes. Codes are stable: clients switch on
 * them, so a code is never renamed or reused. `docs/errors.md` lists them with their meaning.
 */
export const ErrorCodes = {
  // Requests that cannot be understood.
  'request.invalid_json': { status: 400, message: 'The body is not valid JSON.' },
  'request.invalid': { status: 400, message: 'The request does not match the schema.' },
  'request.body_too_large': { status: 413, message: 'The body is larger than the configured limit.' },
  'request.unsupported_media_type': { status: 415, message: 'The content type is not supported; send application/json.' },
  'request.route_not_found': { status: 404, message: 'No such route.' },
  /** `details.retry_after`: seconds until the limit resets (also the Retry-After header). */
  'request.rate_limited': { status: 429, message: 'Too many requests; slow down.' },
  'request.headers_too_large': { status: 431, message: 'The request headers are larger than the server accepts.' },
  'request.malformed': { status: 400, message: 'The request is not valid HTTP.' },
  'request.timeout': { status: 408, message: 'The request did not arrive completely in time.' },

  // Who is calling.
  'auth.missing': { status: 401, message: 'No credentials were given.' },
  'auth.invalid_token': { status: 401, message: 'The token is malformed or its signature is wrong.' },
  'auth.token_expired': { status: 401, message: 'The token has expired.' },
  'auth.token_revoked': { status: 401, message: 'The token was revoked (logged out).' },
  'auth.invalid_api_key': { status: 401, message: 'The API key is unknown or revoked.' },
  'auth.invalid_admin_token': { status: 401, message: 'The operator token is wrong.' },
  'auth.invalid_metrics_token': { status: 401, message: 'The metrics token is wrong (or missing where one is required).' },
  'auth.forbidden': { status: 403, message: 'This principal may not do that.' },
  'auth.token_mismatch': { status: 403, message: 'The new token is of another user than the connection\'s; the connection keeps its token.' },

  // Tenants, apps and users.
  'tenant.not_found': { status: 404, message: 'No such tenant.' },
  'tenant.exists': { status: 409, message: 'A tenant with this id exists.' },
  'app.not_found': { status: 404, message: 'No such active app in this tenant.' },
  'user.not_found': { status: 404, message: 'No such user in this tenant.' },
  'user.disabled': { status: 403, message: 'The user is disabled.' },

  // Conversations ("sessions") and participants.
  'conversation.not_found': { status: 404, message: 'No such conversation in this tenant.' },
  'conversation.not_participant': { status: 403, message: 'The user is not a participant of this conversation.' },
  'conversation.type_unknown': { status: 400, message: 'Unknown conversation type code.' },
  'conversation.id_required': { status: 400, message: 'This conversation type needs an id or the parts its id is derived from.' },
  'conversation.id_mismatch': { status: 409, message: 'The given id does not match the id derived from the parts.' },
  'conversation.conflict': { status: 409, message: 'A conversation with this id exists with a different type.' },
  'participant.not_found': { status: 404, message: 'No such participant in this conversation.' },
  'participant.invalid': { status: 400, message: 'A participant entry is malformed (expected "userId" or "userId:role").' },

  // Messages.
  'message.type_unknown': { status: 400, message: 'Unknown message type code.' },
  'message.type_reserved': { status: 400, message: 'This message type code is reserved and cannot be sent.' },
  'message.type_forbidden': { status: 403, message: 'Only the system or an integrator may send this message type.' },
  'message.content_invalid': { status: 400, message: 'The content does not match the schema of its message type.' },
  'message.content_too_large': { status: 413, message: 'The content is larger than the configured limit.' },
  'message.not_found': { status: 404, message: 'No such message in this conversation.' },
  'message.recall_forbidden': { status: 403, message: 'Only the sender (or an integrator) may recall this message.' },
  'message.recall_expired': { status: 409, message: 'The recall window for this message has passed.' },
  'message.already_recalled': { status: 409, message: 'The message was already recalled.' },
  'message.client_id_conflict': { status: 409, message: 'This client id was already used for a different conversation.' },

  // Consultations (topics).
  'topic.not_found': { status: 404, message: 'No such topic in this tenant (or in this session).' },
  'topic.session_mismatch': { status: 409, message: 'This topic id belongs to another session.' },
  'topic.already_open': { status: 409, message: 'The session already has an open topic; end it first.' },
  'topic.already_ended': { status: 409, message: 'The topic has already ended.' },
  'topic.not_patient': { status: 403, message: 'Only the patient of the session may enter its topic.' },

  // Notifications, care teams and tags.
  'notification.kind_unknown': { status: 400, message: 'Unknown notification kind: use a built-in kind or register it first.' },
  'notification.kind_exists': { status: 409, message: 'A notification kind with this name is registered with other settings.' },
  'notification.target_invalid': { status: 400, message: 'The notification target is malformed or names nobody.' },
  'notification.not_found': { status: 404, message: 'No such notification for this user.' },
  'team.not_found': { status: 404, message: 'No such care team in this tenant.' },

  // Devices and push.
  'device.os_type_unknown': { status: 400, message: 'Unknown OS type: 1 iOS, 2 Android, 3 Web, 4 Windows, -1 unknown.' },
  'device.vendor_unknown': { status: 400, message: 'Unknown push vendor: apns, fcm, huawei, xiaomi, webpush or none.' },
  'device.token_invalid': { status: 400, message: 'The push token is malformed for its vendor (or missing where the vendor needs one).' },
  'device.id_invalid': { status: 400, message: 'A device\'s unique code is 1 to 128 characters of letters, digits and . _ : -.' },
  'device.not_found': { status: 404, message: 'No such device of this user in this tenant.' },
  'device.deregistered': { status: 409, message: 'This unique code was de-registered; a new install registers with a new code.' },
  'push.quiet_hours_invalid': { status: 400, message: 'Quiet hours are {start, end} as HH:MM (24 h) and an IANA time zone.' },
  'push.mute_invalid': { status: 400, message: 'A mute ends at a time in the future (ms), or never (null).' },
  'push.webpush_unconfigured': { status: 404, message: 'This server has no Web Push (VAPID) key configured.' },
  'push.settings_invalid': { status: 400, message: 'Invalid push settings: preview conversation types are conversation type codes; a WeChat template needs a template id and data whose values use only the documented placeholders.' },
  'push.openid_invalid': { status: 400, message: 'A WeChat openid is 1 to 64 characters of letters, digits, _ and -.' },

  // WebSocket frames.
  'frame.invalid_json': { status: 400, message: 'The frame is not valid JSON.' },
  'frame.unknown_type': { status: 400, message: 'Unknown frame type.' },
  'frame.invalid': { status: 400, message: 'The frame does not match the schema of its type.' },
  'frame.binary_unsupported': { status: 400, message: 'Binary frames are not supported; send JSON text.' },

  // Limits of one connection.
  'connection.too_many': { status: 429, message: 'This user has the most WebSocket connections allowed open; close one, or reconnect later.' },
  'presence.too_many_watches': { status: 400, message: 'This connection would watch the presence of more users than allowed; unsubscribe some first.' },
  'sync.too_many_pending': { status: 429, message: 'Too many catch-ups are waiting on this connection; wait for their sync_done before sending more.' },

  // MQTT (seed 003 envelopes), reported on the client's account topic as an `error` frame.
  'mqtt.envelope_invalid': { status: 400, message: 'The MQTT payload is not a seed 003 envelope: a JSON object with a string id (1-64 chars), to, type and an object content.' },
  'mqtt.type_unknown': { status: 400, message: 'Unknown envelope type: use TEXT, IMAGE, VOICE, VIDEO, FILE, LINK, CALL, CUSTOM or a Careline message type code.' },
  'mqtt.sender_mismatch': { status: 403, message: 'The envelope names another sender or tenant than the connected user.' },
  'mqtt.topic_forbidden': { status: 403, message: 'A client subscribes only to its account topic and publishes only to its send and sync topics.' },

  // The server itself.
  'server.internal': { status: 500, message: 'Internal error.' },
  'server.unavailable': { status: 503, message: 'The server is shutting down or not ready.' },

  // Files (uploads, downloads, blob storage).
  'file.invalid': { status: 400, message: 'The file name, storage key or upload request is not valid.' },
  'file.empty': { status: 400, message: 'The upload has no bytes.' },
  'file.too_large': { status: 413, message: 'The file is larger than allowed for its type.' },
  'file.type_not_allowed': { status: 415, message: 'The file\'s bytes are of a type that is not accepted.' },
  'file.type_mismatch': { status: 415, message: 'The file\'s bytes are not of the type the upload declares.' },
  'file.size_mismatch': { status: 400, message: 'The stored body does not have the size announced.' },
  'file.range_invalid': { status: 416, message: 'The requested byte range is outside the file.' },
  'file.not_found': { status: 404, message: 'No such file, or not one this caller may read.' },
  'file.link_invalid': { status: 403, message: 'The signed link is malformed, forged or expired.' },
  'file.not_attachable': { status: 409, message: 'The file cannot be attached here: not the sender\'s, another conversation\'s, or already attached.' },
  'file.storage_failed': { status: 503, message: 'The file storage did not answer.' },
  'file.infected': { status: 422, message: 'The virus scanner found malware in the file; it was not stored.' },
  'file.scan_failed': { status: 503, message: 'The virus scanner did not answer or could not scan the file; it was not stored. Try again later.' },
  'file.tus_version': { status: 412, message: 'Resumable uploads speak tus 1.0.0: send Tus-Resumable: 1.0.0.' },
  'file.upload_conflict': { status: 409, message: 'The upload is not at the Upload-Offset sent (or another request moved it first): HEAD it for its offset and go on from there.' },
  'file.upload_content_type': { status: 415, message: 'A PATCH of a resumable upload has Content-Type: application/offset+octet-stream.' },
  'file.upload_failed': { status: 410, message: 'The resumable upload ended refused (details.error says why); start a new one.' },
  // Long-polling and Server-Sent Events (`/api/v2/poll`).
  'longpoll.too_many_frames': { status: 413, message: 'Too many frames in one POST; send fewer at a time (longpoll.maxFrames).' },
  'longpoll.frame_too_large': { status: 413, message: 'A frame is larger than ws.maxFrameBytes; it was not handled.' },
  'longpoll.invalid_cursor': { status: 400, message: 'The cursor is not one the server gave, nor a JSON object of conversation id to seq.' },
  'longpoll.invalid_order': { status: 400, message: 'The POST\'s n and from are not a place among the client\'s POSTs: give n, from (at most n) and client together.' },
  // Webhooks (`/api/v2/management/webhooks`).
  'webhook.url_invalid': { status: 400, message: 'The webhook URL is not an absolute http(s) URL without credentials (at most 2048 characters).' },
  'webhook.event_unknown': { status: 400, message: 'Unknown webhook event type; see docs/webhooks.md for the list.' },
  'webhook.not_found': { status: 404, message: 'No such webhook subscription in this tenant.' },
  'webhook.delivery_not_found': { status: 404, message: 'No such delivery of this subscription (or it was pruned).' },
  'webhook.disabled': { status: 409, message: 'The subscription is disabled; enable it (status "active") first.' },
  'webhook.too_many': { status: 409, message: 'The tenant has the most webhook subscriptions allowed (webhooks.maxPerTenant).' },
  // Third-party apps (OAuth2 client credentials, `/api/v2/oauth/token`).
  'app.invalid_client': { status: 401, message: 'Unknown client_id or wrong client_secret.' },
  'app.revoked': { status: 401, message: 'The app was revoked; its tokens are refused.' },
  'app.grant_unsupported': { status: 400, message: 'Only grant_type=client_credentials is supported.' },
  'app.token_invalid': { status: 401, message: 'The app access token is malformed or its signature is wrong.' },
  'app.token_expired': { status: 401, message: 'The app access token has expired; ask for a new one.' },
  // Calls (signalling): `call` frames and `/api/v2/calls`.
  'call.invalid': { status: 400, message: 'The call request is malformed: invite needs conversation_id and av_type (audio or video); every other action needs call_id.' },
  'call.not_found': { status: 404, message: 'No such call in this tenant, or not one of the caller\'s conversations.' },
  'call.not_participant': { status: 403, message: 'The user is not a participant of this call.' },
  'call.no_callee': { status: 400, message: 'The conversation has nobody else to call.' },
  'call.too_many_participants': { status: 400, message: 'The conversation has more members than a call may have (calls.maxParticipants).' },
  'call.in_progress': { status: 409, message: 'The conversation already has a call ringing or in progress (details.call_id): answer or join it.' },
  'call.busy': { status: 409, message: 'The user is already in another call.' },
  'call.invalid_state': { status: 409, message: 'The call is not in a state where this action applies (details.state).' },
  'call.not_caller': { status: 403, message: 'Only the caller may cancel the call.' },
  // Message search (`/api/v2/search/messages`).
  'search.query_empty': { status: 400, message: 'The search query is empty: give at least one word.' },
  'search.query_too_short': { status: 400, message: 'Every word of the query is shorter than 2 characters; search for at least 2 characters.' },
  'search.query_too_long': { status: 400, message: 'The search query is too long (at most 200 characters and 8 words).' },
  'search.cursor_invalid': { status: 400, message: 'The cursor is not one this search returned: pass next_cursor from the previous page of the same search.' },
  'search.date_invalid': { status: 400, message: 'A date is not valid: give ms since the epoch or an ISO 8601 date, with from before to.' },
  // Scheduled video conferences (docs/conferences.md).
  'conference.invalid': { status: 400, message: 'The conference request is malformed (details.field): see docs/conferences.md for the rules of create and update.' },
  'conference.not_found': { status: 404, message: 'No such conference in this tenant.' },
  'conference.participant_not_found': { status: 404, message: 'No such participant in this conference.' },
  'conference.access_denied': { status: 401, message: 'The access token or conference token is wrong, unknown or malformed.' },
  'conference.access_expired': { status: 401, message: 'The access token or conference token has expired.' },
  'conference.access_revoked': { status: 401, message: 'The participant\'s access was revoked or reissued.' },
  'conference.invalid_state': { status: 409, message: 'The action does not apply to the conference in its status (details.status, details.action).' },
  'conference.not_specialist': { status: 403, message: 'Only a specialist of the conference may open or finish it.' },
  'conference.too_early': { status: 409, message: 'The conference may be opened from details.opens_at (conferences.openEarlySeconds before its start).' },
  'conference.not_admitted': { status: 409, message: 'The client waits in the waiting room until the specialist admits them.' },
  'conference.not_waiting_room': { status: 409, message: 'The conference is not in a waiting room (a conversation of type 12).' },
  'conference.queue_empty': { status: 409, message: 'Nobody is waiting in this waiting room.' },
  'conference.media_unavailable': { status: 503, message: 'The media server (Janus) did not answer; try again.' },
  // The front desk (docs/desk.md): website visitors, staff, the triage queue.
  'desk.key_invalid': { status: 401, message: 'The widget key is unknown or revoked.' },
  'desk.key_forbidden': { status: 403, message: 'The widget key does not allow this page\'s origin.' },
  'desk.rate_limited': { status: 429, message: 'Too many visitors created from this address or fingerprint; retry after details.retry_after seconds.' },
  'desk.uid_mismatch': { status: 403, message: 'uid (or from.id) is not the user of the token.' },
  'desk.wrong_organisation': { status: 403, message: 'cid is not the caller\'s organisation.' },
  'desk.not_staff': { status: 403, message: 'Only staff of the organisation (role staff, doctor or admin) may do this.' },
  'desk.chat_not_found': { status: 404, message: 'No such chat in this organisation.' },
  'desk.not_in_chat': { status: 403, message: 'The caller is not a member of this chat.' },
  'desk.already_claimed': { status: 409, message: 'Another staff member claimed this chat first (details.staff_id).' },
  'desk.chat_closed': { status: 409, message: 'The chat is closed.' },
  'desk.not_holder': { status: 409, message: 'The chat is held by another staff member (or by nobody): only its holder may do this.' },
  'desk.invalid_message': { status: 400, message: 'The message body is malformed for its type (docs/desk.md).' },
  'desk.invalid_transfer': { status: 400, message: 'A transfer names exactly one of to_staff and to_team, not the holder.' },
  'desk.track_too_large': { status: 413, message: 'The visit data is too large (each field at most 2048 characters, 8 KiB in all).' },
  'desk.staff_not_found': { status: 404, message: 'The transfer target is not staff of the organisation.' },
  'desk.team_not_found': { status: 404, message: 'No such team in this organisation.' },
  'desk.identify_failed': { status: 401, message: 'The host\'s user token is not valid for a patient of this organisation.' },
  'desk.not_identified': { status: 409, message: 'The visitor has not identified as a patient yet.' },
  // WebRTC signalling relayed between a call's participants (docs/calls.md, "WebRTC").
  'call.rtc_invalid': { status: 400, message: 'The WebRTC signal is malformed: an offer or answer needs sdp, a candidate needs candidate, and it goes to another participant (to).' },
  'call.rtc_not_joined': { status: 409, message: 'The sender or the receiver (details.user_id) is not joined in the call, or the call is not in progress: signals go only between joined participants.' },
  // Push, round two: escalation, SMS, VoIP tokens; webhook targets.
  'push.escalation_invalid': { status: 400, message: 'Invalid escalation policy: {enabled, conversation_types (null or types), steps: 1 to 4 of {channel: wechat|sms, after_seconds 1..604800} in increasing order, each channel once}.' },
  'push.phone_invalid': { status: 400, message: 'A phone number is in E.164 form: + then 8 to 15 digits.' },
  'push.voip_token_invalid': { status: 400, message: 'A VoIP token is the APNs PushKit device token in hex (64 to 200 digits), for an install registered with vendor apns.' },
  'webhook.url_forbidden': { status: 400, message: 'The webhook URL points at a loopback, private, link-local or otherwise internal address (details.address); only hosts in webhooks.allowedTargets may.' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof ErrorCodes;

export function isErrorCode(code: string): code is ErrorCode {
  return Object.hasOwn(ErrorCodes, code);
}

/** The body of every error reply and error frame. */
export interface ErrorBody {
  code: ErrorCode;
  message: string;
  /** Machine-readable detail, e.g. the failing schema paths. */
  details?: unknown;
}

/** Why the server ends a connection: the code on the wire, its default reason text, and whether the client should reconnect. */
export interface DisconnectReason {
  readonly code: number;
  readonly reason: string;
  readonly reconnect: boolean;
}

/**
 * The closed list of reasons the server ends a connection for, on any transport. `code` is the
 * WebSocket close code (the WebSocket transport maps a reason to its close frame in one place);
 * `reason` the close reason text the server sends unless it names the error code of an `error`
 * frame sent just before; `reconnect` what a client should do:
 * - 4000–4499: transient; reconnect with backoff (and the same token).
 * - 4500–4999: terminal for these credentials; do not reconnect until the app gets a new token
 *   or the user acts.
 * Standard codes also used: 1001 (going away: server shutdown, reconnect), 1009 (frame too large),
 * 1013 (try again later: rate limited, reconnect after a backoff).
 */
export const Disconnect = {
  SHUTDOWN: { code: 4000, reason: 'server shutting down', reconnect: true },
  SLOW_CONSUMER: { code: 4001, reason: 'slow consumer', reconnect: true },
  HEARTBEAT_TIMEOUT: { code: 4002, reason: 'heartbeat timeout', reconnect: true },
  SYNC_OVERFLOW: { code: 4003, reason: 'too much traffic during catch-up; reconnect', reconnect: true },
  INTERNAL: { code: 4004, reason: 'internal error', reconnect: true },
  AUTH_FAILED: { code: 4500, reason: 'auth.invalid_token', reconnect: false },
  TOKEN_EXPIRED: { code: 4501, reason: 'auth.token_expired', reconnect: false },
  TOKEN_REVOKED: { code: 4502, reason: 'token revoked', reconnect: false },
  /** The same user connected from another device of the same platform class, and the tenant's policy is `kick`. */
  CONNECTED_ELSEWHERE: { code: 4503, reason: 'connected elsewhere', reconnect: false },
  /** The user's role changed: reconnect (the same token carries the new role). */
  USER_CHANGED: { code: 4010, reason: 'user changed', reconnect: true },
  /** The integrator disabled the user; an `error` frame `user.disabled` comes first. */
  USER_DISABLED: { code: 4504, reason: 'user.disabled', reconnect: false },
  /** Standard 1013 (try again later): too many failed authentications from this address; reconnect after a backoff. */
  RATE_LIMITED: { code: 1013, reason: 'request.rate_limited', reconnect: true },
  /** The user has `ws.maxConnectionsPerUser` connections open on the node: reconnect later, with backoff. */
  TOO_MANY_CONNECTIONS: { code: 4005, reason: 'connection.too_many', reconnect: true },
} as const satisfies Record<string, DisconnectReason>;

export type DisconnectName = keyof typeof Disconnect;

/** The close codes of `Disconnect`, by name (kept for clients that switch on the number). */
export const CloseCodes = Object.fromEntries(Object.entries(Disconnect).map(([name, d]) => [name, d.code])) as {
  readonly [K in DisconnectName]: (typeof Disconnect)[K]['code'];
};

export type CloseCode = (typeof CloseCodes)[keyof typeof CloseCodes];

const byCode = new Map<number, DisconnectReason>(Object.values(Disconnect).map((d) => [d.code, d]));

/** The listed reason with close code `code`, if any. */
export function disconnectOf(code: number): DisconnectReason | undefined {
  return byCode.get(code);
}

/** Whether a client should reconnect after the server closed with `code`: the listed reason's flag, else by range. */
export function shouldReconnect(code: number): boolean {
  const d = byCode.get(code);
  if (d) return d.reconnect;
  if (code >= 4500 && code <= 4999) return false;
  return true;
}
