/** Runs `examples/chat.ts` as a user would, with its own in-process server and against a running one. */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { startTestServer } from '@careline/server/testing';

const script = join(dirname(fileURLToPath(import.meta.url)), '..', 'chat.ts');

function run(env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [script], { env, timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : null) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

function cleanEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.CARELINE_URL;
  delete env.CARELINE_API_KEY;
  delete env.NODE_TEST_CONTEXT; // the child is a script, not a test file
  return env;
}

describe('examples/chat.ts', () => {
  test('with an in-process server: nothing lost, nothing doubled', { timeout: 70_000 }, async () => {
    const r = await run(cleanEnv());
    assert.equal(r.code, 0, `exit code ${r.code}\n${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /^OK: 10 messages, none lost, none doubled/m);
    assert.match(r.stdout, /caught up: 5 message\(s\) missed while offline/);
    assert.match(r.stdout, /read by the doctor up to #3/);
  });

  test('against an already running server (CARELINE_URL, CARELINE_API_KEY)', { timeout: 70_000 }, async () => {
    const server = await startTestServer();
    try {
      const r = await run({ ...cleanEnv(), CARELINE_URL: server.url, CARELINE_API_KEY: server.apiKey });
      assert.equal(r.code, 0, `exit code ${r.code}\n${r.stdout}\n${r.stderr}`);
      assert.match(r.stdout, new RegExp(`server at ${server.url.replace(/[.]/g, '\\.')}`));
      assert.match(r.stdout, /^OK: /m);
    } finally {
      await server.stop();
    }
  });
});
