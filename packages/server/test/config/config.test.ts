import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { ConfigError, loadConfig } from '../../src/config/load.ts';
import { leaves } from '../../src/config/schema.ts';
import { backends } from '../../src/config/backends.ts';

const startScript = fileURLToPath(new URL('../../src/cli/start.ts', import.meta.url));

/** The env of a prod start with strong secrets; `over` replaces (or, with undefined, removes) some. */
function prodEnv(over: Record<string, string | undefined> = {}): Record<string, string> {
  const env: Record<string, string | undefined> = {
    IM_PROFILE: 'prod',
    CARELINE_AUTH_TOKEN_SECRET: randomBytes(32).toString('hex'),
    CARELINE_AUTH_ADMIN_TOKEN: randomBytes(32).toString('hex'),
    CARELINE_METRICS_TOKEN: randomBytes(32).toString('hex'),
    ...over,
  };
  return Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined));
}

describe('configuration', () => {
  it('uses the dev profile when IM_PROFILE is unset', () => {
    const { profile, config } = loadConfig({ env: {} });
    assert.equal(profile, 'dev');
    assert.equal(config.demo, true);
    assert.equal(config.http.port, 3000);
  });

  it('loads the test profile', () => {
    const { profile, config } = loadConfig({ env: { IM_PROFILE: 'test' } });
    assert.equal(profile, 'test');
    assert.equal(config.http.port, 0);
    assert.equal(config.storage.sqlitePath, ':memory:');
  });

  it('refuses an unknown profile with a clear message', () => {
    assert.throws(() => loadConfig({ env: { IM_PROFILE: 'staging' } }), (e: unknown) => e instanceof ConfigError && /IM_PROFILE="staging" is not a known profile; use one of: dev, test, prod/.test(e.message));
  });

  it('the server refuses to start with an unknown profile (exit 78, message on stderr)', () => {
    const r = spawnSync(process.execPath, [startScript], { env: { ...process.env, IM_PROFILE: 'staging' }, encoding: 'utf8', timeout: 20_000 });
    assert.equal(r.status, 78);
    assert.match(r.stderr, /not a known profile/);
  });

  it('env vars override the profile, typed', () => {
    const { config } = loadConfig({ env: { IM_PROFILE: 'test', CARELINE_HTTP_PORT: '4321', CARELINE_WS_HEARTBEAT_MS: '5000', CARELINE_DEMO: 'yes', CARELINE_LOG_LEVEL: 'debug' } });
    assert.equal(config.http.port, 4321);
    assert.equal(config.ws.heartbeatMs, 5000);
    assert.equal(config.demo, true);
    assert.equal(config.log.level, 'debug');
  });

  it('rejects bad env values and out-of-range settings', () => {
    assert.throws(() => loadConfig({ env: { CARELINE_HTTP_PORT: 'eighty' } }), /CARELINE_HTTP_PORT=eighty: expected a number/);
    assert.throws(() => loadConfig({ env: { CARELINE_HTTP_PORT: '70000' } }), /invalid configuration/);
    assert.throws(() => loadConfig({ env: { CARELINE_DEMO: 'maybe' } }), /expected true or false/);
    assert.throws(() => loadConfig({ env: { CARELINE_LOG_LEVEL: 'loud' } }), /invalid configuration/);
    assert.throws(() => loadConfig({ env: {}, overrides: { http: { colour: 'blue' } } }), /invalid configuration/);
  });

  it('SQLite writes run in a writer thread unless set inline', () => {
    assert.equal(loadConfig({ env: prodEnv() }).config.storage.sqliteWriter, 'worker');
    assert.equal(loadConfig({ env: { CARELINE_STORAGE_SQLITE_WRITER: 'inline' } }).config.storage.sqliteWriter, 'inline');
    assert.throws(() => loadConfig({ env: { CARELINE_STORAGE_SQLITE_WRITER: 'thread' } }), /invalid configuration/);
    assert.equal(loadConfig({ env: {} }).config.storage.sqliteWalAutocheckpoint, 16_000);
    assert.equal(loadConfig({ env: { CARELINE_STORAGE_SQLITE_WAL_AUTOCHECKPOINT: '2000' } }).config.storage.sqliteWalAutocheckpoint, 2000);
    assert.throws(() => loadConfig({ env: { CARELINE_STORAGE_SQLITE_WAL_AUTOCHECKPOINT: '10' } }), /invalid configuration/);
    assert.equal(loadConfig({ env: {} }).config.storage.sqliteCacheMb, 32);
    const cache = loadConfig({ env: { CARELINE_STORAGE_SQLITE_CACHE_MB: '128' } }).config;
    assert.equal(cache.storage.sqliteCacheMb, 128);
    assert.deepEqual(backends(cache).storage, { driver: 'sqlite', path: cache.storage.sqlitePath, synchronous: cache.storage.sqliteSynchronous, writer: 'worker', walAutocheckpoint: 16_000, cacheMiB: 128 });
    assert.throws(() => loadConfig({ env: { CARELINE_STORAGE_SQLITE_CACHE_MB: '1' } }), /invalid configuration/);
  });

  it('prod refuses default secrets, and accepts real ones', () => {
    assert.throws(() => loadConfig({ env: { IM_PROFILE: 'prod' } }), /refuses default secrets: set CARELINE_AUTH_TOKEN_SECRET, CARELINE_AUTH_ADMIN_TOKEN, CARELINE_METRICS_TOKEN/);
    assert.throws(
      () => loadConfig({ env: prodEnv({ CARELINE_AUTH_TOKEN_SECRET: 'short' }) }),
      /at least 32 characters/,
    );
    const { config } = loadConfig({ env: prodEnv() });
    assert.equal(config.storage.sqliteSynchronous, 'FULL');
    assert.equal(config.demo, false);
  });

  it('prod refuses a weak admin token and names the setting: short, a repeated pattern, too little variety', () => {
    const weak = (admin: string) => () => loadConfig({ env: prodEnv({ CARELINE_AUTH_ADMIN_TOKEN: admin }) });
    assert.throws(weak('a'.repeat(40)), /CARELINE_AUTH_ADMIN_TOKEN is too weak for prod: it is a repeated pattern/);
    assert.throws(weak('correct-horse-battery'), /CARELINE_AUTH_ADMIN_TOKEN is too weak for prod: it has 21 characters, needs at least 32/);
    assert.throws(weak('ab'.repeat(15) + 'abc'), /CARELINE_AUTH_ADMIN_TOKEN is too weak for prod: its characters vary too little/);
    assert.throws(weak('0000000000000000000000000000000000000001'), /CARELINE_AUTH_ADMIN_TOKEN is too weak/);
    assert.doesNotThrow(weak(randomBytes(32).toString('hex')));
    assert.doesNotThrow(weak(randomBytes(24).toString('base64')));
    // Outside prod a short admin token is allowed (dev and tests).
    assert.equal(loadConfig({ env: { IM_PROFILE: 'test', CARELINE_AUTH_ADMIN_TOKEN: 'dev' } }).config.auth.adminToken, 'dev');
  });

  it('prod needs a strong metrics token and names the setting', () => {
    assert.throws(() => loadConfig({ env: prodEnv({ CARELINE_METRICS_TOKEN: undefined }) }), /refuses default secrets: set CARELINE_METRICS_TOKEN$/);
    assert.throws(() => loadConfig({ env: prodEnv({ CARELINE_METRICS_TOKEN: 'metrics' }) }), /CARELINE_METRICS_TOKEN is too weak for prod/);
    assert.equal(loadConfig({ env: { IM_PROFILE: 'dev' } }).config.metrics.token, '', 'dev: /metrics is open');
  });

  it('rate limits: defaults, env vars, and bounds', () => {
    const { config } = loadConfig({ env: {} });
    assert.equal(config.rateLimit.enabled, true);
    assert.equal(config.rateLimit.windowSeconds, 60);
    assert.equal(config.rateLimit.failedAuthPerIp, 30);
    assert.equal(loadConfig({ env: { CARELINE_RATE_LIMIT_FAILED_AUTH_PER_IP: '5' } }).config.rateLimit.failedAuthPerIp, 5);
    assert.throws(() => loadConfig({ env: { CARELINE_RATE_LIMIT_FAILED_AUTH_PER_IP: '0' } }), /invalid configuration/);
    assert.throws(() => loadConfig({ env: { CARELINE_RATE_LIMIT_WINDOW_SECONDS: '-1' } }), /invalid configuration/);
  });

  it('web.frameAncestors takes space-separated origins, nothing that would break out of the directive', () => {
    assert.equal(loadConfig({ env: { CARELINE_WEB_FRAME_ANCESTORS: 'https://portal.example.com https://*.clinic.example' } }).config.web.frameAncestors, 'https://portal.example.com https://*.clinic.example');
    assert.throws(() => loadConfig({ env: { CARELINE_WEB_FRAME_ANCESTORS: "https://a.example; script-src 'unsafe-inline'" } }), /invalid configuration/);
  });

  it('is frozen after loading', () => {
    const { config } = loadConfig({ env: {} });
    assert.throws(() => {
      (config.http as { port: number }).port = 1;
    }, TypeError);
  });

  it('every setting has an env var name, a default and a description', () => {
    for (const l of leaves()) {
      assert.match(l.env, /^CARELINE_[A-Z0-9_]+$/);
      assert.notEqual(l.schema.default, undefined, l.path);
      assert.ok(l.schema.description, l.path);
    }
  });
});
