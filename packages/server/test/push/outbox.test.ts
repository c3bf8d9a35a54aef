/**
 * The after-commit outbox (`domain/outbox.ts`) on every backend: an append writes one outbox job
 * per tenant in its own transaction, naming the seqs it added to each conversation; a resend (duplicate) and a
 * refused append write none; a notification writes one, and a notification refused (unknown
 * user) writes none — so a committed fact always has its job and a rolled-back one never does.
 * Then the end-to-end point of it: messages committed while no server runs (a process that died
 * right after its commit) still get their push when a server starts on the same database, and so
 * do jobs written in an older version's shape (one conversation per job).
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { AppError } from '../../src/domain/errors.ts';
import type { Job, Storage } from '../../src/domain/ports.ts';
import type { NewMessage } from '../../src/domain/types.ts';
import { OUTBOX_MESSAGES, OUTBOX_NOTIFICATION, type OutboxMessages, type OutboxMessagesV1 } from '../../src/domain/outbox.ts';
import { createSqliteStorage } from '../../src/storage/sqlite/index.ts';
import { onEveryBackend } from '../support/backends.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { eventually } from '../rest/helpers.ts';
import { startFakeApns, type FakeApns } from './support/fake-apns.ts';

const T = 'outbox-t';
const msg = (conv: string, sender: string, text: string, client: string | null = null): NewMessage => ({
  tenant_id: T, conversation_id: conv, id: `m-${Math.random().toString(36).slice(2)}`, sender_id: sender, type: 1,
  content: { text }, content_json: JSON.stringify({ text }), client_id: client, created_at: Date.now(), forward: null,
});
const outboxJobs = async (s: Storage, kind: string): Promise<Job[]> => {
  const jobs = await s.jobs.claim('test', [kind], 1000, 60_000, Date.now() + 1000);
  for (const j of jobs) await s.jobs.complete(j.id, 'test', Date.now());
  return jobs;
};

onEveryBackend('outbox', (label, open) => {
  describe(`outbox in the append's transaction: ${label}`, () => {
    let s: Storage;
    let cleanup: () => Promise<void>;
    before(async () => {
      ({ storage: s, cleanup } = await open());
      await s.tenants.createTenant({ id: T, name: 'Outbox', created_at: 1 });
      for (const id of ['pat', 'doc']) await s.users.upsertUser(T, { id, role: id === 'pat' ? 'patient' : 'doctor', name: id, avatar: null, disabled: false }, 1);
      for (const id of ['c1', 'c2']) {
        await s.conversations.createConversation({
          tenant_id: T, id, type: 1, business_type: 1, name: '', status: 0, created_by: 'doc', participants: [{ user_id: 'pat', role: 'm' }, { user_id: 'doc', role: 'm' }],
        }, 1);
      }
    });
    after(async () => {
      await s.close();
      await cleanup();
    });

    it('one job per tenant per append, naming each conversation\'s seqs; none for a resend or a refused append', async () => {
      await s.messages.append([msg('c1', 'doc', 'a', 'x1'), msg('c1', 'pat', 'b'), msg('c2', 'doc', 'c')]);
      const jobs = await outboxJobs(s, OUTBOX_MESSAGES);
      assert.equal(jobs.length, 1);
      const p = jobs[0]!.payload as OutboxMessages;
      assert.deepEqual([...p.ranges].sort(), [['c1', 1, 2], ['c2', 1, 1]]);
      assert.equal(typeof p.at, 'number');
      assert.ok(jobs.every((j) => j.tenant_id === T));

      // Two appends: two jobs.
      await s.messages.append([msg('c1', 'doc', 'd')]);
      await s.messages.append([msg('c2', 'pat', 'e')]);
      const two = await outboxJobs(s, OUTBOX_MESSAGES);
      assert.deepEqual(two.map((j) => (j.payload as OutboxMessages).ranges).sort(), [[['c1', 3, 3]], [['c2', 2, 2]]]);

      const [dup] = await s.messages.append([msg('c1', 'doc', 'a again', 'x1')]);
      assert.equal(dup!.ok && dup!.duplicate, true);
      const [missing] = await s.messages.append([{ ...msg('c1', 'doc', 'x'), conversation_id: 'nowhere' }]);
      assert.equal(missing!.ok, false);
      assert.equal((await outboxJobs(s, OUTBOX_MESSAGES)).length, 0);
    });

    it('messages no consumer wants (outbox: false) add no job; one wanted in a conversation names its whole range', async () => {
      const quiet = (conv: string, text: string): NewMessage => ({ ...msg(conv, 'doc', text), outbox: false });
      await s.messages.append([quiet('c1', 'q1'), quiet('c2', 'q2')]);
      assert.equal((await outboxJobs(s, OUTBOX_MESSAGES)).length, 0);
      const [a] = await s.messages.append([quiet('c1', 'q3'), msg('c1', 'pat', 'wanted'), quiet('c2', 'q4')]);
      const jobs = await outboxJobs(s, OUTBOX_MESSAGES);
      assert.equal(jobs.length, 1);
      const seq = a!.ok ? a!.message.seq : 0;
      assert.deepEqual((jobs[0]!.payload as OutboxMessages).ranges, [['c1', seq, seq + 1]]);
    });

    it('a notification writes its job; one refused (unknown user) writes none', async () => {
      const base = { tenant_id: T, kind: 'S2C_SYSTEM_PUSH', mode: 'each' as const, title: 't', body: null, data: null, sender_id: null, audience: 'user' as const, audience_id: null, created_by: 'app', created_at: Date.now() };
      const { notification } = await s.notifications.create({ ...base, id: `n-${Date.now()}` }, { type: 'users', ids: ['pat'] });
      await assert.rejects(s.notifications.create({ ...base, id: `n-${Date.now() + 1}` }, { type: 'users', ids: ['nobody'] }), (e) => e instanceof AppError && e.code === 'user.not_found');
      const jobs = await outboxJobs(s, OUTBOX_NOTIFICATION);
      assert.deepEqual(jobs.map((j) => (j.payload as { notification_id: string }).notification_id), [notification.id]);
    });
  });
});

describe('messages committed while no server ran get their push when one starts', () => {
  let dir: string;
  let apns: FakeApns;
  let s: TestServer | undefined;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'careline-outbox-'));
  });
  after(async () => {
    await s?.stop();
    await apns?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('the outbox job outlives the process', async () => {
    const ec = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    apns = await startFakeApns({ publicKey: ec.publicKey, keyId: 'KEY123ABCD', teamId: 'TEAM123456', topic: 'org.careline.patient' });
    const keyFile = join(dir, 'key.p8');
    writeFileSync(keyFile, ec.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    const caFile = join(dir, 'ca.pem');
    writeFileSync(caFile, apns.ca);
    const path = join(dir, 'careline.db');
    const config = { push: { pollMs: 20, apns: { url: apns.url, keyFile, keyId: 'KEY123ABCD', teamId: 'TEAM123456', topic: 'org.careline.patient', caFile } } };
    // A first server makes the tenant, the users, the install; then stops.
    s = await startTestServer({ config, dataDir: dir });
    const pat = await s.user('pat-o', 'patient');
    const doc = await s.user('doc-o', 'doctor');
    const conv = await s.conversation({ participants: [pat.id, doc.id] });
    const token = 'ab'.repeat(32);
    await s.call('POST', '/api/v2/devices', { token: pat.token, body: { device_id: 'install-1', os_type: 1, vendor: 'apns', push_token: token } });
    const tenant = s.tenantId;
    await s.stop();
    s = undefined;
    // The commit, and then nothing: the process "dies" before any after-commit work.
    const raw = createSqliteStorage({ path, synchronous: 'FULL' });
    const m = { ...msg(conv, doc.id, 'committed just before the crash'), tenant_id: tenant };
    // A message whose job was written in the shape of an older version (one conversation per job).
    const old = { ...msg(conv, doc.id, 'its job written by an older version'), tenant_id: tenant };
    const [ro] = await raw.messages.append([old]);
    assert.equal(ro!.ok, true);
    const oldSeq = ro!.ok ? ro!.message.seq : 0;
    for (const j of await raw.jobs.claim('test', [OUTBOX_MESSAGES], 10, 60_000, Date.now() + 1000)) {
      if ((j.payload as OutboxMessages).ranges.some(([, from]) => from === oldSeq)) await raw.jobs.complete(j.id, 'test', Date.now());
      else await raw.jobs.fail(j.id, 'test', 'put back', Date.now(), Date.now());
    }
    await raw.jobs.enqueue([{ tenant_id: tenant, kind: OUTBOX_MESSAGES, payload: { conversation_id: conv, from_seq: oldSeq, to_seq: oldSeq, at: Date.now() } satisfies OutboxMessagesV1 }], Date.now());
    const [r] = await raw.messages.append([m]);
    assert.equal(r!.ok, true);
    await raw.close();
    assert.equal(apns.delivered.length, 0);
    // A server starts on the same file: the outbox jobs run, the pushes go out.
    s = await startTestServer({ config, dataDir: dir });
    await eventually(async () => [m.id, old.id].every((id) => apns.delivered.some((d) => d.body.careline?.message_id === id)), 10_000);
    assert.equal(apns.delivered.filter((d) => d.body.careline?.message_id === m.id).length, 1);
    assert.equal(apns.delivered.filter((d) => d.body.careline?.message_id === old.id).length, 1);
  });
});
