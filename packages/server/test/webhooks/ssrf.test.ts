/**
 * The webhook target filter (SSRF, `webhooks/ssrf.ts`): subscriptions to loopback, private,
 * link-local and other internal addresses are refused with `webhook.url_forbidden` unless
 * `webhooks.allowedTargets` names them; the filter's lookup refuses a host name that resolves
 * to an internal address at connect time (a name that passed when subscribing but points
 * inside later); and a refused attempt is logged as failed, nothing sent.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { isForbiddenAddress, TargetFilter } from '../../src/webhooks/ssrf.ts';
import { AppError } from '../../src/domain/errors.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { assertError, eventually, ok } from '../rest/helpers.ts';
import { startReceiver, type Receiver } from './receiver.ts';

describe('webhook targets: no SSRF', () => {
  it('internal addresses are refused, public ones pass', () => {
    for (const a of ['127.0.0.1', '127.8.9.10', '10.1.2.3', '172.16.0.1', '172.31.255.255', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0',
      '::1', '::', 'fe80::1', 'fc00::1', 'fd12:3456::1', '::ffff:127.0.0.1', '::ffff:10.0.0.1', '224.0.0.1', '255.255.255.255']) {
      assert.equal(isForbiddenAddress(a), true, a);
    }
    for (const a of ['8.8.8.8', '93.184.216.34', '172.32.0.1', '2606:4700:4700::1111', '::ffff:8.8.8.8']) assert.equal(isForbiddenAddress(a), false, a);
  });

  it('the allow-list admits names, addresses and ranges', async () => {
    const f = new TargetFilter('hooks.internal, 10.1.2.0/24, 127.0.0.1');
    assert.equal(f.allows('hooks.internal', '10.9.9.9'), true);
    assert.equal(f.allows('x', '10.1.2.77'), true);
    assert.equal(f.allows('x', '10.1.3.1'), false);
    assert.equal(f.allows('x', '127.0.0.1'), true);
    await f.check('http://10.1.2.5/hook');
    await assert.rejects(f.check('http://[::1]:8080/hook'), (e) => e instanceof AppError && e.code === 'webhook.url_forbidden');
    await assert.rejects(new TargetFilter('').check('http://169.254.169.254/latest/meta-data/'), (e) => e instanceof AppError && e.code === 'webhook.url_forbidden');
  });

  it('at connect time, a name resolving to an internal address is refused', async () => {
    const f = new TargetFilter('');
    const err = await new Promise<NodeJS.ErrnoException | null>((resolve) => f.lookup('localhost', { all: true }, (e) => resolve(e)));
    assert.equal(err?.code, 'EFORBIDDEN');
    const allowed = new TargetFilter('localhost');
    const ok2 = await new Promise<unknown>((resolve) => allowed.lookup('localhost', { all: true }, (e, a) => resolve(e ?? a)));
    assert.ok(Array.isArray(ok2));
  });

  describe('over HTTP', () => {
    let s: TestServer;
    let receiver: Receiver;
    before(async () => {
      receiver = await startReceiver();
      // Only 127.0.0.1 itself is allowed (the local receiver); "localhost" is a name that is not.
      s = await startTestServer({ config: { webhooks: { pollMs: 20, retryBaseMs: 20, retryMaxMs: 50, maxAttempts: 2, cacheMs: 0, allowedTargets: '127.0.0.1' } } });
    });
    after(async () => {
      await s?.stop();
      await receiver?.close();
    });

    it('subscribing to an internal target is a coded error; the allowed local receiver works', async () => {
      for (const url of ['http://10.0.0.5/hook', 'http://169.254.169.254/latest/meta-data/', 'http://[::1]/hook', 'http://192.168.0.10:8080/x', 'http://0.0.0.0:80/']) {
        const r = await s.call('POST', '/api/v2/management/webhooks', { apiKey: s.apiKey, body: { url, events: ['*'] } });
        assertError(r, 'webhook.url_forbidden');
        assert.ok(r.body.details?.address, 'the refused address is named');
      }
      const sub = ok(await s.call('POST', '/api/v2/management/webhooks', { apiKey: s.apiKey, body: { url: receiver.url, events: ['message.created'] } }));
      assertError(await s.call('PATCH', `/api/v2/management/webhooks/${sub.webhook.id}`, { apiKey: s.apiKey, body: { url: 'http://10.0.0.5/x' } }), 'webhook.url_forbidden');
      const pat = await s.user('pat-ssrf', 'patient');
      const doc = await s.user('doc-ssrf', 'doctor');
      const conv = await s.conversation({ participants: [pat.id, doc.id] });
      const m = await s.sendAs(doc.id, conv, 'hello');
      await eventually(async () => receiver.got.some((d) => d.body.data?.message?.id === m.id), 10_000);
    });
  });
});
