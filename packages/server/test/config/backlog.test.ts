/**
 * The listen backlog (`http.backlog`): the kernel's accept queue of the server's socket, so a
 * burst of connections (a reconnect storm) queues instead of being dropped. Read back from
 * the kernel with `ss` (Linux), which reports a listener's backlog as its Send-Q.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { loadConfig } from '../../src/config/load.ts';
import { startTestServer } from '../support/server.ts';

const ss = process.platform === 'linux' && spawnSync('ss', ['-V']).status === 0;
const somaxconn = (() => {
  try {
    return Number(readFileSync('/proc/sys/net/core/somaxconn', 'utf8').trim());
  } catch {
    return NaN;
  }
})();

function kernelBacklog(port: number): number {
  const r = spawnSync('ss', ['-ltnH', `sport = :${port}`], { encoding: 'utf8' });
  const line = r.stdout.trim().split('\n')[0] ?? '';
  return Number(line.split(/\s+/)[2]);
}

describe('listen backlog', () => {
  it('defaults to 4096, is set by CARELINE_HTTP_BACKLOG, and refuses 0 and non-numbers', () => {
    assert.equal(loadConfig({ env: { IM_PROFILE: 'test' } }).config.http.backlog, 4096);
    assert.equal(loadConfig({ env: { IM_PROFILE: 'test', CARELINE_HTTP_BACKLOG: '1024' } }).config.http.backlog, 1024);
    assert.throws(() => loadConfig({ env: { CARELINE_HTTP_BACKLOG: '0' } }), /invalid configuration/);
    assert.throws(() => loadConfig({ env: { CARELINE_HTTP_BACKLOG: 'deep' } }), /expected a number/);
  });

  it('is the listening socket\'s accept queue (capped by net.core.somaxconn)', async () => {
    assert.ok(ss, 'reading the kernel\'s backlog needs `ss` (Debian\'s iproute2): run scripts/install-services as root');
    for (const backlog of [100, 4096]) {
      const s = await startTestServer({ config: { http: { backlog } } });
      try {
        assert.equal(kernelBacklog(s.server.port), Number.isNaN(somaxconn) ? backlog : Math.min(backlog, somaxconn));
      } finally {
        await s.stop();
      }
    }
  });
});
