/**
 * Every example of README.md runs as written against a fresh server with the demo data that
 * `npm start` seeds: the ```sh blocks with `curl` in them, in order, through the real `curl`
 * and `bash`, and the ```ts SDK snippet through the real SDK.
 *
 * Rule for the ```sh blocks: a block with `curl` in it is an API example and must run; a block
 * without `curl` installs, starts, tests or benchmarks (npm ci, npm start, npm test, npm run
 * bench, crashtest, install-chromium, install-services) and is not run here — the test fails if
 * a skipped block is anything else, so an example cannot be left out by accident.
 */
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { CarelineClient } from '@careline/sdk';
import { seedDemo, type Demo } from '../../src/demo.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

const readme = readFileSync(fileURLToPath(new URL('../../../../README.md', import.meta.url)), 'utf8');

/** The fenced blocks of a language, in order. */
const blocks = (lang: string) => [...readme.matchAll(new RegExp('^```' + lang + '\\n([\\s\\S]*?)^```$', 'gm'))].map((m) => m[1]!);

/** Blocks that are not API examples: they install, start, test or benchmark. */
const NOT_AN_EXAMPLE = /\bnpm (ci|start|test|run (bench|crashtest|screenshots))\b|scripts\/install-(chromium|services)/;

const hasCurl = (block: string) => /^\s*curl\b/m.test(block);

function haveCurl(): boolean {
  try {
    execFileSync('curl', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

describe('README.md examples', () => {
  let server: TestServer;
  let demo: Demo;
  let dir: string;

  before(async () => {
    server = await startTestServer();
    demo = await seedDemo(server.server.core); // what `npm start` does in the dev profile
    dir = mkdtempSync(join(tmpdir(), 'careline-readme-'));
  });
  after(async () => {
    await server?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('every ```sh block either has curl examples or only installs, starts, tests or benchmarks', () => {
    const sh = blocks('sh');
    assert.ok(sh.length > 0, 'README.md has ```sh blocks');
    for (const b of sh) {
      if (hasCurl(b)) continue;
      assert.match(b, NOT_AN_EXAMPLE, `a \`\`\`sh block without curl that is not an install/start/test/bench command:\n${b}`);
    }
    assert.ok(sh.filter(hasCurl).length >= 2, 'README.md has curl examples');
  });

  test('the curl examples, in order, against a fresh server with the demo data: every call answers 2xx', { timeout: 60_000 }, async (t) => {
    if (!haveCurl()) assert.fail('curl is missing: install it (Debian: apt-get install curl)');
    const examples = blocks('sh').filter(hasCurl);
    const host = new URL(server.url).host;
    let script = examples.join('\n');
    assert.match(script, /^KEY=<[^>\n]*>$/m, 'the examples set KEY to the demo API key');
    script = script.replace(/^KEY=<[^>\n]*>$/m, `KEY='${demo.apiKey}'`).replaceAll('localhost:3000', host);
    const calls = (script.match(/^\s*curl\b/gm) ?? []).length;

    const log = join(dir, 'calls.log');
    writeFileSync(log, '');
    // `curl` as a function: the real curl, its status written to the log; a non-2xx stops the script.
    const prelude = `set -euo pipefail
curl() {
  local out code
  out=$(command curl -sS -w '\\n%{http_code}' "$@")
  code=\${out##*$'\\n'}
  printf '%s\\n' "\${out%$'\\n'*}"
  printf '%s %s\\n' "$code" "$*" >> ${JSON.stringify(log)}
  [[ $code == 2* ]] || { echo "HTTP $code from: curl $*" >&2; return 1; }
}
`;
    const { code, stdout, stderr } = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile('bash', ['-c', prelude + script], { timeout: 50_000 }, (err, stdout, stderr) => {
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
      });
    });
    const ran = readFileSync(log, 'utf8').trim().split('\n').filter(Boolean);
    t.diagnostic(ran.join('\n'));
    assert.equal(code, 0, `the README examples failed:\n${stderr}\n--- output ---\n${stdout}\n--- calls ---\n${ran.join('\n')}`);
    assert.equal(ran.length, calls, `every curl of the README ran (${ran.length} of ${calls})`);
    for (const line of ran) assert.match(line, /^2\d\d /, line);
  });

  test('the SDK snippet runs as written for the demo patient', { timeout: 30_000 }, async () => {
    const [snippet] = blocks('ts').filter((b) => b.includes('client.notifications'));
    assert.ok(snippet, 'README.md has the notifications SDK snippet');
    // The curl examples above sent the demo patient a notification; send one here too, so this test stands alone.
    const sent = await server.call('POST', '/api/v2/management/notifications', {
      apiKey: demo.apiKey, body: { kind: 'S2C_REMIND_PUSH', target: { user: demo.patient.id }, title: 'Take your pills' },
    });
    assert.equal(sent.status, 200, JSON.stringify(sent.body));
    const client = new CarelineClient({ url: server.url, token: demo.patient.token });
    const shown: [string, string][] = [];
    try {
      const run = new Function('client', 'show', `return (async () => {\n${snippet}\n})();`) as (c: CarelineClient, s: (kind: string, title: string) => void) => Promise<void>;
      await run(client, (kind, title) => shown.push([kind, title]));
      const unread = await client.notifications.list({ unread: true });
      assert.ok(!unread.notifications.some((n) => n.id === sent.body.notification.id), 'the snippet marked the newest unread notification read');
    } finally {
      await client.close();
    }
  });
});
