import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, Running } from './run.ts';

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

async function healthy(url: string): Promise<boolean> {
  try {
    return (await fetch(`${url}/healthz`)).status === 200;
  } catch {
    return false;
  }
}

async function waitHealthy(url: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!(await healthy(url))) {
    if (Date.now() > deadline) throw new Error(`${url}/healthz never answered`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('careline start --supervise', () => {
  it('restarts a killed server with backoff, logs why, and stops both on SIGTERM', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'careline-sup-'));
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const sup = new Running(['start', '--supervise', '--backoff-ms', '50', '--backoff-max-ms', '200', '--healthy-ms', '60000'], {
      IM_PROFILE: 'dev', CARELINE_DEMO: 'false', CARELINE_HTTP_PORT: String(port), CARELINE_STORAGE_SQLITE_PATH: join(dir, 'careline.db'), CARELINE_LOG_LEVEL: 'info',
    });
    try {
      const started = (n: number) => sup.logs().filter((l) => l.msg === 'server started' && typeof l.child_pid === 'number')[n];
      const first = await sup.waitFor(() => started(0), 'the first server');
      await waitHealthy(url);

      process.kill(first.child_pid, 'SIGKILL');
      const crash = await sup.waitFor(() => sup.logs().find((l) => l.msg === 'server exited' && l.child_pid === first.child_pid), 'the crash logged');
      assert.equal(crash.signal, 'SIGKILL');
      assert.equal(crash.code, null);
      assert.equal(crash.level, 50, 'logged as an error');
      assert.equal(typeof crash.restart_in_ms, 'number');
      assert.ok(crash.restart_in_ms >= 50 && crash.restart_in_ms <= 200);

      const second = await sup.waitFor(() => started(1), 'the restarted server');
      assert.notEqual(second.child_pid, first.child_pid);
      assert.equal(alive(first.child_pid), false);
      await waitHealthy(url);
      assert.ok(alive(second.child_pid), 'the new process answers /healthz');

      // SIGTERM to the supervisor: forwarded; both exit.
      sup.child.kill('SIGTERM');
      const { code } = await sup.exited;
      assert.equal(code, 0);
      assert.ok(sup.logs().some((l) => l.msg === 'forwarding signal' && l.signal === 'SIGTERM'));
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(alive(second.child_pid), false, 'the server is gone too');
      assert.equal(await healthy(url), false);
      assert.equal(sup.logs().filter((l) => l.msg === 'server started').length, 2, 'no restart after a forwarded signal');
    } finally {
      await sup.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a server that fails again and again is restarted with a growing, capped delay', async () => {
    // Port taken: the server cannot listen and exits 1 each time.
    const { createServer } = await import('node:net');
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as { port: number }).port;
    const dir = mkdtempSync(join(tmpdir(), 'careline-sup-'));
    const sup = new Running(['start', '--supervise', '--backoff-ms', '20', '--backoff-max-ms', '40'], {
      IM_PROFILE: 'dev', CARELINE_DEMO: 'false', CARELINE_HTTP_PORT: String(port), CARELINE_STORAGE_SQLITE_PATH: join(dir, 'careline.db'), CARELINE_LOG_LEVEL: 'warn',
    });
    try {
      const exits = () => sup.logs().filter((l) => l.msg === 'server exited');
      await sup.waitFor(() => exits().length >= 3, 'three failed starts', 60_000);
      const delays = exits().slice(0, 3).map((l) => l.restart_in_ms as number);
      assert.deepEqual(delays, [20, 40, 40]);
      assert.ok(exits().every((l) => l.code === 1 && l.reason === 'exit code 1'));
      const { code } = await sup.stop();
      assert.equal(code, 0, 'a requested stop is a clean exit, whatever state the server was in');
    } finally {
      await sup.stop();
      blocker.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a configuration error is not retried: the supervisor exits 78', async () => {
    const sup = new Running(['start', '--supervise', '--backoff-ms', '20'], { CARELINE_HTTP_PORT: 'abc' });
    const { code } = await sup.exited;
    assert.equal(code, 78);
    assert.match(sup.stderr, /CARELINE_HTTP_PORT/);
  });

  it('rejects a bad backoff value', async () => {
    const sup = new Running(['start', '--supervise', '--backoff-ms', 'soon'], {});
    const { code } = await sup.exited;
    assert.equal(code, 64);
    assert.match(sup.stderr, /--backoff-ms/);
  });
});
