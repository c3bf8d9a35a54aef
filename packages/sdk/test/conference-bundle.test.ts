/** The conference API is in the browser bundle with the seed's names (`Careline.UX.createScreen`, …). */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import vm from 'node:vm';
import { buildSdk, type BuildResult } from '../build.ts';

describe('conferences in the browser bundle', () => {
  let dir: string;
  let out: BuildResult;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'careline-sdk-conf-build-'));
    out = await buildSdk(dir);
  }, { timeout: 20_000 });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('window.Careline has the seed 004 API', { timeout: 20_000 }, () => {
    const code = readFileSync(out.iife, 'utf8');
    const context = vm.createContext({ TextEncoder, URL, queueMicrotask, setTimeout, clearTimeout, console, location: { origin: 'https://care.example.org' } });
    vm.runInContext(code, context);
    const g = (context as { Careline?: Record<string, any> }).Careline!;
    for (const name of ['createScreen', 'timer', 'initConfConfigL10n', 'openConference']) assert.equal(typeof g.UX[name], 'function', `UX.${name}`);
    assert.equal(g.UX.ScreenEnum.PendingSpecialist, 'pending-specialist');
    assert.equal(typeof g.ConferenceModifyAPI.createHttpAPI, 'function');
    assert.equal(typeof g.ConferenceAccessAPI.createHttpAPI, 'function');
    assert.equal(typeof g.ConferenceSock, 'function');
    assert.equal(typeof g.APIError, 'function');
    assert.equal(typeof g.JanusVideoRoom.join, 'function');
    // initHttpAPI() with no endpoint: the page's origin; the instances are then on the global too.
    assert.equal(g.conferenceAccessAPI, undefined);
    const made = g.initHttpAPI();
    assert.equal(made.conferenceAccessAPI.endpoint, 'https://care.example.org');
    assert.equal(g.conferenceAccessAPI, made.conferenceAccessAPI);
    assert.equal(g.conferenceModifyAPI, made.conferenceModifyAPI);
    assert.equal(g.initWebSocketAPI().endpoint, 'https://care.example.org');
    assert.equal(g.conferenceWebSocketAPI.endpoint, 'https://care.example.org');
    const config = g.UX.initConfConfigL10n({ lang: 'he' }, 'general');
    assert.equal(config.dir, 'rtl');
    assert.equal(config.l10n.cancelled, 'הפגישה בוטלה.');
  });
});
