/**
 * The member directory (each conversation's participants, kept in memory for the hot path)
 * cannot stay stale after a lost bus event: an entry expires `ttlMs` after its load began,
 * and `clear()` (called when the bus resumes after a loss) drops everything. Over a real
 * SQLite file; the clock is the directory's own, moved by the test.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Storage } from '../../src/domain/ports.ts';
import { MemberDirectory, type DirectoryEntry } from '../../src/domain/directory.ts';
import { createSqliteStorage } from '../../src/storage/sqlite/index.ts';

const T = 't';

describe('member directory cache', () => {
  let dir: string;
  let storage: Storage;
  let reads = 0;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'careline-directory-'));
    storage = createSqliteStorage({ path: join(dir, 'db.sqlite'), synchronous: 'NORMAL' });
    await storage.tenants.createTenant({ id: T, name: 'T', created_at: 1 });
    for (const id of ['doc', 'pat', 'nurse']) await storage.users.upsertUser(T, { id, role: id === 'pat' ? 'patient' : 'doctor', name: id, avatar: null, disabled: false }, 1);
    const real = storage.conversations.memberIds.bind(storage.conversations);
    storage.conversations.memberIds = async (tenantId: string, conversationId: string) => {
      reads++;
      return real(tenantId, conversationId);
    };
  });
  after(async () => {
    await storage.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const conversation = async (id: string) => {
    await storage.conversations.createConversation({
      tenant_id: T, id, type: 2, business_type: 1, name: '', status: 0, created_by: 'doc',
      participants: [{ user_id: 'doc', role: 'm' }, { user_id: 'pat', role: 'm' }, { user_id: 'nurse', role: 'm' }],
    }, 1);
  };
  const clock = () => {
    const c = { t: 1_000_000, now: () => c.t };
    return c;
  };
  const members = async (d: MemberDirectory, conv: string) => [...((await d.get(T, conv)) as DirectoryEntry).members].sort();

  it('a participant removed behind the cache\'s back (no bus event) is seen removed after the TTL, not before', async () => {
    await conversation('c1');
    const c = clock();
    const d = new MemberDirectory(storage.conversations, { ttlMs: 10_000, now: c.now });
    assert.deepEqual(await members(d, 'c1'), ['doc', 'nurse', 'pat']);
    reads = 0;
    // Another node removes the nurse; its conversation.changed never arrives here.
    await storage.conversations.changeParticipants(T, 'c1', { add: [], remove: ['nurse'] }, 2);
    c.t += 9_999;
    assert.deepEqual(await members(d, 'c1'), ['doc', 'nurse', 'pat'], 'fresh: served from memory');
    assert.equal(reads, 0, 'no read while the entry is fresh');
    c.t += 1;
    assert.deepEqual(await members(d, 'c1'), ['doc', 'pat'], 'expired: read again');
    assert.equal(reads, 1);
    assert.deepEqual(await members(d, 'c1'), ['doc', 'pat']);
    assert.equal(reads, 1, 'the new entry is cached again');
  });

  it('serves a fresh entry synchronously (the hot path does not wait)', async () => {
    await conversation('c2');
    const c = clock();
    const d = new MemberDirectory(storage.conversations, { ttlMs: 5_000, now: c.now });
    await d.get(T, 'c2');
    const hit = d.get(T, 'c2');
    assert.ok(hit !== null && !(hit instanceof Promise), 'a cached entry, not a promise');
    c.t += 5_000;
    assert.ok(d.get(T, 'c2') instanceof Promise, 'an expired entry is loaded again');
  });

  it('clear() drops every entry, so the next read sees storage', async () => {
    await conversation('c3');
    await conversation('c4');
    const c = clock();
    const d = new MemberDirectory(storage.conversations, { ttlMs: 60_000, now: c.now });
    await members(d, 'c3');
    await members(d, 'c4');
    assert.equal(d.size, 2);
    await storage.conversations.changeParticipants(T, 'c3', { add: [], remove: ['pat'] }, 2);
    await storage.conversations.changeParticipants(T, 'c4', { add: [], remove: ['doc'] }, 2);
    d.clear();
    assert.equal(d.size, 0);
    assert.deepEqual(await members(d, 'c3'), ['doc', 'nurse']);
    assert.deepEqual(await members(d, 'c4'), ['nurse', 'pat']);
  });

  it('a load in flight when clear() runs is not kept', async () => {
    await conversation('c5');
    const c = clock();
    const d = new MemberDirectory(storage.conversations, { ttlMs: 60_000, now: c.now });
    const pending = d.get(T, 'c5');
    d.clear();
    await pending;
    assert.equal(d.size, 0, 'what was read before the clear may be stale: not cached');
  });
});
