/**
 * Generates docs/errors.md (from the protocol's error and close codes) and docs/config.md
 * (from the config schema). `npm run docs` writes them; a test fails when they are stale.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Disconnect, ErrorCodes, type DisconnectName } from '../packages/protocol/src/index.ts';
import { leaves } from '../packages/server/src/config/schema.ts';

export function errorsDoc(): string {
  const groups = new Map<string, string[]>();
  for (const [code, { status, message }] of Object.entries(ErrorCodes)) {
    const g = code.split('.')[0]!;
    if (!groups.has(g)) groups.set(g, []);
    const more = code === 'request.rate_limited' ? ' `details.retry_after`: seconds until it resets (also the Retry-After header).' : '';
    groups.get(g)!.push(`| \`${code}\` | ${status} | ${message}${more} |`);
  }
  // Typed by the list: a reason added to `Disconnect` without its meaning here does not compile.
  const closeMeaning: Record<DisconnectName, string> = {
    SHUTDOWN: 'The server is shutting down. Reconnect (with backoff).',
    SLOW_CONSUMER: 'The client did not read fast enough: its output buffer passed `ws.maxBufferedBytes`, or nothing of it went out for `ws.drainTimeoutMs` (live or during a catch-up). Reconnect and catch up.',
    HEARTBEAT_TIMEOUT: 'Nothing came from the client for two heartbeat intervals. Reconnect.',
    SYNC_OVERFLOW: 'Too much live traffic arrived while a catch-up ran (`ws.syncBufferFrames` frames, or `ws.maxBufferedBytes` bytes of them). Reconnect and catch up.',
    INTERNAL: 'The server dropped the connection. Reconnect.',
    AUTH_FAILED: 'No token, or a malformed, forged or unknown one. Do not reconnect with it.',
    TOKEN_EXPIRED: 'The token expired (at connect, or on an open connection at `hello.token_expires_at`; a `refresh` frame before then avoids it). Get a new one, then connect.',
    TOKEN_REVOKED: 'The token was revoked (logout). Do not reconnect with it.',
    RATE_LIMITED: 'Too many failed authentications came from this address (`rateLimit.failedAuthPerIp`); an error frame `request.rate_limited` with `details.retry_after` comes first. Reconnect after that long.',
    USER_CHANGED: 'The integrator changed the user\'s role. Reconnect with the same token: the new connection has the new role.',
    USER_DISABLED: 'The integrator disabled the user (at connect, or while the connection was open); an `error` frame `user.disabled` comes first. Do not reconnect.',
    TOO_MANY_CONNECTIONS: 'The user already has `ws.maxConnectionsPerUser` connections open on this node (an `error` frame `connection.too_many` comes first). Reconnect later, with backoff.',
    CONNECTED_ELSEWHERE: 'The same user connected from another device of the same platform class (mobile, web, desktop…) and the tenant\'s `connection_policy` is `kick`; an `S2C_DIFFERENT_CONNECTION` event comes first (under `notify`, the default, only the event comes and the connection stays open). Do not reconnect by yourself: ask the user.',
  };
  const closes = (Object.entries(Disconnect) as [DisconnectName, (typeof Disconnect)[DisconnectName]][])
    .sort((a, b) => a[1].code - b[1].code)
    .map(([name, d]) => `| ${d.code} | \`${name}\` | ${d.reconnect ? 'yes' : 'no'} | ${closeMeaning[name]} |`);
  return `# Error codes

Generated from \`packages/protocol/src/errors.ts\` (\`ErrorCodes\`, and \`Disconnect\` for the close codes) by \`npm run docs\`; do not edit by hand.

Every error has a stable string code. Over HTTP it comes with the code's status and the body
\`{ "code": "…", "message": "…", "details": … }\`; over the WebSocket as a frame
\`{ "type": "error", "id": "<your request id, if any>", "code": "…", "message": "…", "details": … }\`.
\`details\` (optional) is machine-readable: schema errors, missing ids, limits. Codes are never renamed or reused.
After any error, nothing has changed on the server and the connection stays open (unless a close code below says otherwise).

${[...groups].map(([g, rows]) => `## ${g}\n\n| code | HTTP | meaning |\n| --- | --- | --- |\n${rows.join('\n')}\n`).join('\n')}
## WebSocket close codes

4000–4499: transient, reconnect with backoff and the same token. 4500–4999: do not reconnect with these credentials.
Standard codes also used: 1001 (going away), 1007 (a text frame that is not valid UTF-8), 1009 (a frame over \`ws.maxFrameBytes\`), 1006 (the network dropped).

| code | name | reconnect | meaning |
| --- | --- | --- | --- |
${closes.join('\n')}
`;
}

export function configDoc(): string {
  const rows = leaves().map((l) => {
    const def = l.schema.default === undefined ? '' : JSON.stringify(l.schema.default);
    const any = (l.schema as { anyOf?: { const: unknown }[] }).anyOf;
    const type = any ? any.map((s) => JSON.stringify(s.const)).join(' \\| ') : ((l.schema as { type?: string }).type ?? '');
    return `| \`${l.path}\` | \`${l.env}\` | ${type} | \`${def}\` | ${l.schema.description ?? ''} |`;
  });
  return `# Configuration reference

Generated from \`packages/server/src/config/schema.ts\` by \`npm run docs\`; do not edit by hand.

Precedence, lowest first: schema default ← profile file \`packages/server/config/<IM_PROFILE>.json\` ← environment variable.
\`IM_PROFILE\` is one of \`dev\` (default), \`test\`, \`prod\`; any other value refuses to start (exit code 78). The \`prod\` profile
refuses to start while \`auth.tokenSecret\`, \`auth.adminToken\` or \`metrics.token\` keep their defaults, and refuses an admin or
metrics token that is short (under 32 characters), a repeated pattern or low in character variety. Unknown settings are refused too.

| setting | env var | type | default | meaning |
| --- | --- | --- | --- | --- |
${rows.join('\n')}
`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  writeFileSync(new URL('../docs/errors.md', import.meta.url), errorsDoc());
  writeFileSync(new URL('../docs/config.md', import.meta.url), configDoc());
  process.stdout.write('wrote docs/errors.md and docs/config.md\n');
}
