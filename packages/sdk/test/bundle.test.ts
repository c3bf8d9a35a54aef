/** The browser bundles: the IIFE defines the `Careline` global; the ESM bundle works against the real server. */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, test } from 'node:test';
import vm from 'node:vm';
import { buildSdk, type BuildResult } from '../build.ts';
import { Harness, within } from './support/harness.ts';

describe('bundles', () => {
  let dir: string;
  let out: BuildResult;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'careline-sdk-build-'));
    out = await buildSdk(dir);
  }, { timeout: 15_000 });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('the IIFE defines window.Careline with the client and the protocol constants, without Node APIs', { timeout: 20_000 }, () => {
    const code = readFileSync(out.iife, 'utf8');
    assert.doesNotMatch(code, /node:crypto|require\(/, 'no Node-only imports');
    // A bare context: only what a browser page would have that the SDK touches at load.
    const context = vm.createContext({ TextEncoder, URL, queueMicrotask, setTimeout, clearTimeout, console });
    vm.runInContext(code, context);
    const g = (context as { Careline?: Record<string, any> }).Careline;
    assert.ok(g, 'global Careline');
    assert.equal(typeof g.CarelineClient, 'function');
    assert.equal(typeof g.CarelineError, 'function');
    assert.equal(typeof g.MemoryStorage, 'function');
    assert.equal(g.MessageTypes.TEXT, 1);
    assert.equal(g.ConversationTypes.P2P, 2);
    assert.equal(g.CloseCodes.TOKEN_REVOKED, 4502);
    assert.equal(g.ErrorCodes['message.content_invalid'].status, 400);
    assert.equal(g.shouldReconnect(4001), true);
    assert.equal(g.shouldReconnect(4502), false);
  });

  test('the ESM bundle connects, sends and receives against a real server', { timeout: 20_000 }, async () => {
    const sdk = (await import(pathToFileURL(out.esm).href)) as typeof import('../src/index.ts');
    const h = await Harness.start();
    try {
      const { patient, doctor, conv } = await h.pair();
      const p = new sdk.CarelineClient({ url: h.server.url, token: patient.token });
      const d = new sdk.CarelineClient({ url: h.server.url, token: doctor.token });
      try {
        await Promise.all([p.connect(), d.connect()]);
        const got = new Promise<string>((resolve) => d.on('message', (m) => resolve(String((m.content as { text: string }).text))));
        const ack = await p.send(conv, { type: sdk.MessageTypes.TEXT, content: { text: 'from the bundle' } });
        assert.equal(ack.seq, 1);
        assert.equal(await within(got, 3000, 'message'), 'from the bundle');
      } finally {
        await Promise.all([p.close(), d.close()]);
      }
    } finally {
      await h.close();
    }
  });
});
