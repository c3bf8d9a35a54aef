/**
 * A local WeChat Official Account API over HTTPS (a self-signed certificate the server under
 * test is told to trust), checking what it receives as WeChat does:
 * - `GET /cgi-bin/token?grant_type=client_credential&appid=…&secret=…`: the account's AppID
 *   (else errcode 40013) and AppSecret (else 40125); answers an access_token for 7200 s.
 * - `POST /cgi-bin/message/template/send?access_token=…`: a token it issued (else 40001;
 *   expired by `expireTokens()`: 42001); JSON `{touser, template_id, data, url?, miniprogram?,
 *   client_msg_id?}`: `touser` a follower of the account (else 40003; unfollowed: 43004),
 *   `template_id` the account's template (else 40037), `data` exactly the template's keywords
 *   each `{value: string}` of at most 20 characters for `thing*` keywords (else 47003), `url`
 *   http(s). One message per (touser, client_msg_id): a repeat answers errcode 0 and the
 *   same msgid without sending again. `failNext(n)`: errcode -1 (system busy).
 */
import https from 'node:https';
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { selfSigned } from './tls.ts';

export interface WechatMessage {
  body: any;
  raw: string;
}

export interface FakeWechat {
  url: string;
  ca: string;
  delivered: WechatMessage[];
  rejected: { errcode: number; reason: string }[];
  refused: { touser: string; errcode: number }[];
  /** Repeated (touser, client_msg_id) pairs answered without sending. */
  repeats: number;
  tokenFetches: number;
  follow(openid: string): void;
  unfollow(openid: string): void;
  expireTokens(): void;
  failNext(n: number): void;
  stop(): Promise<void>;
}

export async function startFakeWechat(opts: { appId: string; appSecret: string; templateId: string; keywords: readonly string[] }): Promise<FakeWechat> {
  const tls = selfSigned();
  const tokens = new Map<string, { expired: boolean }>();
  const followers = new Map<string, boolean>();
  const sent = new Map<string, number>();
  let failing = 0;
  const state = { url: '', delivered: [] as WechatMessage[], rejected: [] as FakeWechat['rejected'], refused: [] as FakeWechat['refused'], repeats: 0, tokenFetches: 0 };
  const server = https.createServer({ key: tls.key, cert: tls.cert }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const u = new URL(req.url ?? '/', 'https://x');
      const reply = (body: unknown) => {
        res.writeHead(200, { 'content-type': 'application/json; encoding=utf-8' });
        res.end(JSON.stringify(body));
      };
      const err = (errcode: number, reason: string) => {
        state.rejected.push({ errcode, reason });
        reply({ errcode, errmsg: `${reason} rid: ${randomBytes(4).toString('hex')}` });
      };
      if (u.pathname === '/cgi-bin/token' && req.method === 'GET') {
        if (u.searchParams.get('grant_type') !== 'client_credential') return err(40002, 'invalid grant_type');
        if (u.searchParams.get('appid') !== opts.appId) return err(40013, 'invalid appid');
        if (u.searchParams.get('secret') !== opts.appSecret) return err(40125, 'invalid appsecret');
        state.tokenFetches++;
        const token = `78_${randomBytes(40).toString('base64url')}`;
        tokens.set(token, { expired: false });
        return reply({ access_token: token, expires_in: 7200 });
      }
      if (u.pathname !== '/cgi-bin/message/template/send' || req.method !== 'POST') return err(40066, 'invalid url');
      const t = tokens.get(u.searchParams.get('access_token') ?? '');
      if (!t) return err(40001, 'invalid credential, access_token is invalid or not latest');
      if (t.expired) {
        state.refused.push({ touser: '', errcode: 42001 });
        return reply({ errcode: 42001, errmsg: 'access_token expired' });
      }
      let body: any;
      try {
        body = JSON.parse(raw);
      } catch {
        return err(47001, 'data format error');
      }
      if (typeof body?.touser !== 'string') return err(40003, 'invalid openid');
      if (body.template_id !== opts.templateId) return err(40037, 'invalid template_id');
      const data = body.data;
      if (!data || typeof data !== 'object') return err(47003, 'argument invalid! data');
      const keys = Object.keys(data).sort();
      if (keys.join() !== [...opts.keywords].sort().join()) return err(47003, `argument invalid! data keys ${keys.join()}`);
      for (const k of keys) {
        const v = data[k]?.value;
        if (typeof v !== 'string' || v === '') return err(47003, `argument invalid! data.${k}.value`);
        if (k.startsWith('thing') && [...v].length > 20) return err(47003, `argument invalid! data.${k}.value longer than 20`);
      }
      if (body.url !== undefined && !/^https?:\/\//.test(body.url)) return err(47003, 'argument invalid! url');
      if (failing > 0) {
        failing--;
        state.refused.push({ touser: body.touser, errcode: -1 });
        return reply({ errcode: -1, errmsg: 'system error' });
      }
      const follows = followers.get(body.touser);
      if (follows === undefined) {
        state.refused.push({ touser: body.touser, errcode: 40003 });
        return reply({ errcode: 40003, errmsg: 'invalid openid' });
      }
      if (!follows) {
        state.refused.push({ touser: body.touser, errcode: 43004 });
        return reply({ errcode: 43004, errmsg: 'require subscribe' });
      }
      const key = typeof body.client_msg_id === 'string' ? `${body.touser}\n${body.client_msg_id}` : null;
      if (key && sent.has(key)) {
        state.repeats++;
        return reply({ errcode: 0, errmsg: 'ok', msgid: sent.get(key) });
      }
      const msgid = Math.floor(Math.random() * 2 ** 40);
      if (key) sent.set(key, msgid);
      state.delivered.push({ body, raw });
      reply({ errcode: 0, errmsg: 'ok', msgid });
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
    get repeats() {
      return state.repeats;
    },
    get tokenFetches() {
      return state.tokenFetches;
    },
    follow: (o) => followers.set(o, true),
    unfollow: (o) => followers.set(o, false),
    expireTokens() {
      for (const v of tokens.values()) v.expired = true;
    },
    failNext(n) {
      failing = n;
    },
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
