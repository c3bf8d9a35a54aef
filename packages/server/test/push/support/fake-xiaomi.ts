/**
 * A local Xiaomi MiPush server API over HTTPS (a self-signed certificate the server under
 * test is told to trust), checking what it receives as MiPush does:
 * `POST /v3/message/regid` with `Authorization: key=<the AppSecret>` (else code 21301,
 * authentication failed), a form body (`application/x-www-form-urlencoded`) with
 * `registration_id`, `restricted_package_name` the app's package (else 22002), a notification
 * message (`pass_through=0`) with non-empty `title` and `description`, `notify_type` an
 * integer (-1 or a sum of 1, 2, 4), `notify_id` and `time_to_live` non-negative integers,
 * `payload` at most 4 KB (else code 10017, invalid parameter). Answers `{result: "ok", code: 0,
 * data: {id}}`; a regId marked invalid comes back in `data.bad_regids`; `failNext(n)` answers
 * HTTP 503.
 */
import https from 'node:https';
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { selfSigned } from './tls.ts';

export interface XiaomiRequest {
  form: Record<string, string>;
  raw: string;
  headers: Record<string, string | string[] | undefined>;
}

export interface FakeXiaomi {
  url: string;
  ca: string;
  delivered: XiaomiRequest[];
  rejected: { reason: string; code: number }[];
  refused: { token: string; status: number }[];
  invalidate(regId: string): void;
  failNext(n: number): void;
  stop(): Promise<void>;
}

export async function startFakeXiaomi(opts: { appSecret: string; packageName: string }): Promise<FakeXiaomi> {
  const tls = selfSigned();
  const invalid = new Set<string>();
  let failing = 0;
  const state = { url: '', delivered: [] as XiaomiRequest[], rejected: [] as FakeXiaomi['rejected'], refused: [] as FakeXiaomi['refused'] };
  const server = https.createServer({ key: tls.key, cert: tls.cert }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const reply = (status: number, body: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json;charset=UTF-8' });
        res.end(JSON.stringify(body));
      };
      const traceId = randomBytes(8).toString('hex');
      const fail = (code: number, reason: string) => {
        state.rejected.push({ code, reason });
        reply(200, { result: 'error', code, reason, description: reason, trace_id: traceId });
      };
      if (req.method !== 'POST' || req.url !== '/v3/message/regid') return fail(10001, `no such API: ${req.method} ${req.url}`);
      if (req.headers.authorization !== `key=${opts.appSecret}`) return fail(21301, 'Authentication failed');
      if (!/^application\/x-www-form-urlencoded/.test(req.headers['content-type'] ?? '')) return fail(10017, 'content type');
      const form = Object.fromEntries(new URLSearchParams(raw));
      const regIds = (form.registration_id ?? '').split(',').filter(Boolean);
      if (regIds.length === 0) return fail(10017, 'registration_id is required');
      if (form.restricted_package_name !== opts.packageName) return fail(22002, 'restricted_package_name does not match the app');
      if (form.pass_through !== '0' && form.pass_through !== '1') return fail(10017, 'pass_through');
      if (form.pass_through === '0' && (!form.title || !form.description)) return fail(10017, 'title and description are required for a notification');
      if (form.notify_type !== undefined && !['-1', '1', '2', '3', '4', '5', '6', '7'].includes(form.notify_type)) return fail(10017, 'notify_type');
      for (const k of ['notify_id', 'time_to_live']) if (form[k] !== undefined && !/^\d+$/.test(form[k])) return fail(10017, k);
      if (Buffer.byteLength(form.payload ?? '') > 4096) return fail(10017, 'payload too long');
      if (failing > 0) {
        failing--;
        state.refused.push({ token: regIds[0]!, status: 503 });
        res.writeHead(503);
        return res.end();
      }
      const bad = regIds.filter((r) => invalid.has(r));
      for (const b of bad) state.refused.push({ token: b, status: 200 });
      if (bad.length < regIds.length) state.delivered.push({ form, raw, headers: req.headers });
      const id = `scm${randomBytes(10).toString('hex')}`;
      reply(200, {
        result: 'ok', trace_id: traceId, code: 0, description: '成功', info: `Received push messages for ${regIds.length - bad.length} REGID`,
        data: { id, ...(bad.length ? { bad_regids: bad.join(',') } : {}) },
      });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  state.url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    get url() {
      return state.url;
    },
    ca: tls.cert,
    delivered: state.delivered,
    rejected: state.rejected,
    refused: state.refused,
    invalidate: (r) => invalid.add(r),
    failNext(n) {
      failing = n;
    },
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
