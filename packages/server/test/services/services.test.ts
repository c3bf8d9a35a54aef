/**
 * The test services the PostgreSQL and Redis backends run on (test/support/services.ts):
 * real PostgreSQL and Redis processes from Debian's packages, each on loopback on a free port
 * in its own temp dir, used with the real clients (`pg`, `ioredis`), then stopped by process
 * id with nothing left behind. Two of each side by side, as test files run two at a time.
 */
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import pg from 'pg';
import { Redis } from 'ioredis';
import { locatePostgres, locateRedis, startPostgres, startRedis, INSTALL_SCRIPT, type Service } from '../support/services.ts';

/** True while a process with this id exists (signal 0 only checks). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw err;
  }
}

async function assertGone(s: Service): Promise<void> {
  assert.equal(alive(s.pid), false, `process ${s.pid} is gone`);
  assert.equal(existsSync(s.dir), false, `${s.dir} is removed`);
}

const started: Service[] = [];
after(async () => {
  for (const s of started) await s.stop();
});

describe('PostgreSQL for tests', () => {
  test('two servers side by side answer real queries on loopback, then stop by pid and leave nothing', { timeout: 60_000 }, async () => {
    const [a, b] = await Promise.all([startPostgres(), startPostgres()]);
    started.push(a, b);
    assert.notEqual(a.port, b.port);
    assert.notEqual(a.dir, b.dir);
    for (const s of [a, b]) {
      assert.match(s.url, /^postgres:\/\/[^@]+@127\.0\.0\.1:\d+\/\w+$/);
      assert.ok(alive(s.pid), 'the postmaster runs');
    }

    const clients = [new pg.Client({ connectionString: a.url }), new pg.Client({ connectionString: b.url })];
    try {
      await Promise.all(clients.map((c) => c.connect()));
      const one = await clients[0]!.query<{ one: number }>('SELECT 1 AS one');
      assert.deepEqual(one.rows, [{ one: 1 }]);
      const addr = await clients[0]!.query<{ addr: string; fsync: string }>(`SELECT host(inet_server_addr()) AS addr, current_setting('fsync') AS fsync`);
      assert.deepEqual(addr.rows, [{ addr: '127.0.0.1', fsync: 'off' }]);

      // The two are separate databases: a table made in one is not in the other.
      await clients[0]!.query('CREATE TABLE notes (id serial PRIMARY KEY, body text NOT NULL)');
      await clients[0]!.query('INSERT INTO notes (body) VALUES ($1), ($2)', ['first', 'второй 第二']);
      const rows = await clients[0]!.query<{ id: number; body: string }>('SELECT id, body FROM notes ORDER BY id');
      assert.deepEqual(rows.rows, [{ id: 1, body: 'first' }, { id: 2, body: 'второй 第二' }]);
      await assert.rejects(clients[1]!.query('SELECT * FROM notes'), /relation "notes" does not exist/);
    } finally {
      await Promise.all(clients.map((c) => c.end().catch(() => {})));
    }

    await a.stop();
    await assertGone(a);
    assert.ok(alive(b.pid), 'stopping one leaves the other running');
    await b.stop();
    await assertGone(b);
    await b.stop(); // a second stop is harmless
  });

  test('a server stops by pid even with a client still connected', { timeout: 30_000 }, async () => {
    const s = await startPostgres();
    started.push(s);
    const client = new pg.Client({ connectionString: s.url });
    client.on('error', () => {}); // the server going away ends the connection
    await client.connect();
    await client.query('SELECT 1');
    await s.stop();
    await assertGone(s);
    await client.end().catch(() => {});
  });
  test('restart(): the same URL and data in a new process, the old one gone', { timeout: 30_000 }, async () => {
    const s = await startPostgres();
    started.push(s);
    const first = new pg.Client({ connectionString: s.url });
    first.on('error', () => {}); // the restart ends this connection
    await first.connect();
    await first.query('CREATE TABLE kept (n int)');
    await first.query('INSERT INTO kept VALUES (7)');
    const before = s.pid;
    await s.restart();
    assert.notEqual(s.pid, before);
    assert.equal(alive(before), false, 'the first process is gone');
    assert.ok(alive(s.pid));
    await assert.rejects(first.query('SELECT 1'), 'the old connection ended with the old process');
    await first.end().catch(() => {});
    const again = new pg.Client({ connectionString: s.url });
    try {
      await again.connect();
      assert.deepEqual((await again.query('SELECT n FROM kept')).rows, [{ n: 7 }]);
    } finally {
      await again.end();
    }
    await s.stop();
    await assertGone(s);
    await assert.rejects(s.restart(), /restart\(\) after stop\(\)/);
  });

  test('a server that cannot start rejects with its own message and leaves no process or dir', { timeout: 30_000 }, async () => {
    const own = mkdtempSync(join(tmpdir(), 'careline-tmp-'));
    chmodSync(own, 0o1777); // like /tmp: PostgreSQL, run as its own user when we are root, reaches it
    const before = process.env.TMPDIR;
    process.env.TMPDIR = own; // the server's temp dir goes here, to see that it is removed
    try {
      await assert.rejects(startPostgres({ settings: { no_such_setting: 1 } }), /unrecognized configuration parameter "no_such_setting"/);
      await assert.rejects(startPostgres({ settings: { shared_buffers: 'lots' } }), /invalid value for parameter "shared_buffers"/);
      assert.deepEqual(readdirSync(own), []);
    } finally {
      if (before === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = before;
      rmSync(own, { recursive: true, force: true });
    }
  });
});

describe('Redis for tests', () => {
  test('two servers side by side: SET/GET and PUBLISH/SUBSCRIBE, then stop by pid and leave nothing', { timeout: 30_000 }, async () => {
    const [a, b] = await Promise.all([startRedis(), startRedis()]);
    started.push(a, b);
    assert.notEqual(a.port, b.port);
    for (const s of [a, b]) {
      assert.match(s.url, /^redis:\/\/127\.0\.0\.1:\d+$/);
      assert.ok(alive(s.pid), 'redis-server runs');
    }

    const ra = new Redis(a.url, { lazyConnect: true, maxRetriesPerRequest: 0 });
    const rb = new Redis(b.url, { lazyConnect: true, maxRetriesPerRequest: 0 });
    const sub = new Redis(a.url, { lazyConnect: true, maxRetriesPerRequest: 0 });
    try {
      await Promise.all([ra.connect(), rb.connect(), sub.connect()]);
      assert.equal(await ra.set('k', 'v1'), 'OK');
      assert.equal(await ra.get('k'), 'v1');
      assert.equal(await rb.get('k'), null, 'the two servers share nothing');
      assert.deepEqual(await ra.config('GET', 'save'), ['save', ''], 'no snapshots');
      assert.deepEqual(await ra.config('GET', 'appendonly'), ['appendonly', 'no'], 'no append-only file');

      const got = new Promise<[string, string]>((resolve) => sub.on('message', (channel: string, message: string) => resolve([channel, message])));
      await sub.subscribe('careline:test');
      assert.equal(await ra.publish('careline:test', 'hello'), 1, 'one subscriber heard it');
      assert.deepEqual(await got, ['careline:test', 'hello']);
    } finally {
      ra.disconnect();
      rb.disconnect();
      sub.disconnect();
    }

    await a.stop();
    await assertGone(a);
    assert.ok(alive(b.pid), 'stopping one leaves the other running');
    await b.stop();
    await assertGone(b);
    await b.stop(); // a second stop is harmless
  });
});

describe('Redis restarted', () => {
  test('restart(): the same URL in a new process, empty (nothing is saved); a client reconnects by itself', { timeout: 30_000 }, async () => {
    const s = await startRedis();
    started.push(s);
    const client = new Redis(s.url, { retryStrategy: () => 50 });
    client.on('error', () => {}); // the restart drops the connection; ioredis reconnects
    try {
      await client.set('k', 'v');
      const before = s.pid;
      await s.restart();
      assert.notEqual(s.pid, before);
      assert.equal(alive(before), false, 'the first process is gone');
      assert.equal(await client.get('k'), null, 'a restarted Redis is empty');
      assert.equal(await client.set('k', 'v2'), 'OK');
    } finally {
      client.disconnect();
    }
    await s.stop();
    await assertGone(s);
  });
});

describe('a missing service', () => {
  const empty = mkdtempSync(join(tmpdir(), 'careline-nobin-'));
  after(() => rmSync(empty, { recursive: true, force: true }));

  test('no PostgreSQL: the error names the script that installs it', () => {
    assert.throws(() => locatePostgres({ libRoot: join(empty, 'postgresql'), path: empty }), (err: Error) => {
      assert.match(err.message, /PostgreSQL/);
      assert.ok(err.message.includes(INSTALL_SCRIPT), err.message);
      return true;
    });
  });

  test('a PostgreSQL version folder without the server binaries does not count', () => {
    const lib = join(empty, 'pglib');
    mkdirSync(join(lib, '99', 'bin'), { recursive: true });
    writeFileSync(join(lib, '99', 'bin', 'psql'), '');
    assert.throws(() => locatePostgres({ libRoot: lib, path: empty }), (err: Error) => err.message.includes(INSTALL_SCRIPT));
  });

  test('no Redis: the error names the script that installs it', () => {
    assert.throws(() => locateRedis({ candidates: [join(empty, 'redis-server')], path: empty }), (err: Error) => {
      assert.match(err.message, /Redis/);
      assert.ok(err.message.includes(INSTALL_SCRIPT), err.message);
      return true;
    });
  });

  test('the installed ones are found where Debian puts them', () => {
    assert.match(locatePostgres().binDir, /^\/usr\/lib\/postgresql\/\d+\/bin$/);
    assert.equal(locateRedis(), '/usr/bin/redis-server');
  });
});
