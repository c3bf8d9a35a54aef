/**
 * `npm run cluster` (scripts/cluster.ts) as a user runs it: it starts PostgreSQL, Redis, three
 * nodes and HAProxy, prints where to connect — the balancer, the demo users' tokens — serves
 * the web client and its demo sign-in through the balancer, and on SIGTERM stops every process
 * it started, by id, and removes its temp dir. Bad options are refused before anything starts.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';

const SCRIPT = fileURLToPath(new URL('../../../../scripts/cluster.ts', import.meta.url));

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('npm run cluster: options', () => {
  test('--help prints the usage; a bad option or count is refused with 64 and starts nothing', { timeout: 30_000 }, () => {
    const help = spawnSync(process.execPath, [SCRIPT, '--help'], { encoding: 'utf8' });
    assert.equal(help.status, 0);
    assert.match(help.stdout, /--nodes N/);
    assert.match(help.stdout, /--port P/);
    for (const args of [['--nodes', '0'], ['--nodes', 'three'], ['--port', '70000'], ['--color']]) {
      const r = spawnSync(process.execPath, [SCRIPT, ...args], { encoding: 'utf8' });
      assert.equal(r.status, 64, `${args.join(' ')}: ${r.stderr}`);
      assert.doesNotMatch(r.stderr, /starting/);
    }
  });
});

describe('npm run cluster: a running cluster', () => {
  test('prints the balancer and the demo users, serves the web client through it, and SIGTERM stops everything', { timeout: 180_000 }, async () => {
    const child = spawn(process.execPath, [SCRIPT, '--nodes', '3'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    try {
      const deadline = Date.now() + 150_000;
      while (!out.includes('Ctrl-C stops the cluster')) {
        if (child.exitCode !== null) assert.fail(`the runner exited (${child.exitCode}) before it was up:\n${err}\n${out}`);
        if (Date.now() > deadline) assert.fail(`not up after 150 s:\n${err}\n${out}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      const url = /Balancer\s+(http:\/\/127\.0\.0\.1:\d+)/.exec(out)?.[1];
      assert.ok(url, out);
      const pids = [...out.matchAll(/pid (\d+)/g)].map((m) => Number(m[1]));
      assert.equal(pids.length, 5, `three nodes, PostgreSQL and Redis: ${out}`);
      const dirs = [...out.matchAll(/log (\S+)\/node-\d\.log/g)].map((m) => m[1]!);
      assert.equal(new Set(dirs).size, 1);
      const patientToken = /patient\s+pt\.zhang\s+.*token (\S+)/.exec(out)?.[1];
      assert.ok(patientToken, out);
      assert.ok(out.includes(`Web client    ${url}/`), 'the web client is at the balancer');

      const page = await fetch(`${url}/`);
      assert.equal(page.status, 200);
      assert.match(page.headers.get('content-type') ?? '', /text\/html/);
      // The demo sign-in answers on every node (the balancer spreads these over them).
      for (let i = 0; i < 6; i++) {
        const demo: Response = await fetch(`${url}/api/v2/demo/users`);
        assert.equal(demo.status, 200, `attempt ${i}`);
        assert.equal(((await demo.json()) as { users: unknown[] }).users.length, 3);
      }
      const sessions = await fetch(`${url}/api/v2/sessions`, { headers: { authorization: `Bearer ${patientToken}` } });
      assert.equal(sessions.status, 200);

      child.kill('SIGTERM');
      assert.equal(await exited, 0, err);
      for (const pid of pids) assert.equal(alive(pid), false, `pid ${pid} is gone`);
      assert.equal(existsSync(dirs[0]!), false, 'the temp dir is removed');
    } finally {
      // A failed test still lets the runner stop what it started (SIGTERM), then makes sure it is gone.
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
        await exited;
        clearTimeout(timer);
      }
    }
  });
});
