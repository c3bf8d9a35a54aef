/**
 * Who reads a file, and when it stops being served: a recalled message's file (original,
 * thumbnail, a signed link made before the recall), every kind of read audit-logged in a
 * patient conversation, links refused to non-members, and the orphan cleanup racing a
 * message that attaches the file.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { startTestServer, type TestServer } from '../support/server.ts';

let s: TestServer;
let patient: { id: string; token: string };
let doctor: { id: string; token: string };
let outsider: { id: string; token: string };
let conv: string;

const png = (c: string) => sharp({ create: { width: 400, height: 300, channels: 3, background: c } }).png().toBuffer();

async function upload(token: string, body: Buffer, name: string) {
  const res = await fetch(`${s.url}/api/v2/sessions/${encodeURIComponent(conv)}/files?name=${encodeURIComponent(name)}`, {
    method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream' }, body: new Uint8Array(body),
  });
  const json = (await res.json()) as any;
  assert.equal(res.status, 200, JSON.stringify(json));
  return json.file as { storageId: string };
}

async function get(path: string, headers: Record<string, string> = {}, method = 'GET') {
  const res = await fetch(s.url + path, { headers, method });
  const bytes = Buffer.from(await res.arrayBuffer());
  let code: string | undefined;
  try {
    code = JSON.parse(bytes.toString()).code;
  } catch {
    code = undefined;
  }
  return { status: res.status, code };
}

const bearer = (u: { token: string }) => ({ authorization: `Bearer ${u.token}` });

async function fileReads(fileId: string): Promise<any[]> {
  const audit = await s.call('GET', `/api/v2/management/audit?conversation_id=${encodeURIComponent(conv)}&limit=500`);
  assert.equal(audit.status, 200, JSON.stringify(audit.body));
  return audit.body.records.filter((r: any) => r.action === 'files.read' && JSON.stringify(r.detail).includes(fileId));
}

before(async () => {
  s = await startTestServer({ config: { files: { signedUrlTtlSeconds: 60 } } });
  patient = await s.user('pat-a', 'patient');
  doctor = await s.user('doc-a', 'doctor');
  outsider = await s.user('doc-b', 'doctor');
  conv = await s.conversation({ participants: [patient.id, doctor.id] });
});
after(async () => {
  await s?.stop();
});

describe('file access', () => {
  it('a recalled message\'s file, its thumbnail and a link made before the recall are no longer served', async () => {
    const f = await upload(patient.token, await png('red'), 'rash.png');
    const sent = await s.call('POST', `/api/v2/sessions/${conv}/messages`, { token: patient.token, body: { type: 2, content: { storageId: f.storageId } } });
    assert.equal(sent.status, 200, JSON.stringify(sent.body));
    const link = await s.call('POST', `/api/v2/files/${f.storageId}/link`, { token: doctor.token });
    const thumbLink = await s.call('POST', `/api/v2/files/${f.storageId}/link?variant=thumbnail`, { token: doctor.token });
    for (const path of [`/api/v2/files/${f.storageId}`, `/api/v2/files/${f.storageId}/thumbnail`]) assert.equal((await get(path, bearer(doctor))).status, 200);
    assert.equal((await get(link.body.url)).status, 200);
    assert.equal((await get(thumbLink.body.url)).status, 200);

    const r = await s.call('POST', `/api/v2/sessions/${conv}/messages/${sent.body.message.id}/recall`, { token: patient.token });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    for (const who of [doctor, patient]) {
      assert.equal((await get(`/api/v2/files/${f.storageId}`, bearer(who))).code, 'file.not_found');
      assert.equal((await get(`/api/v2/files/${f.storageId}/thumbnail`, bearer(who))).code, 'file.not_found');
    }
    assert.equal((await get(`/api/v2/files/${f.storageId}`, { 'x-api-key': s.apiKey })).code, 'file.not_found');
    assert.equal((await get(link.body.url)).code, 'file.not_found');
    assert.equal((await get(thumbLink.body.url)).code, 'file.not_found');
    assert.equal((await s.call('POST', `/api/v2/files/${f.storageId}/link`, { token: doctor.token })).body.code, 'file.not_found');
  });

  it('every read of a file in a patient conversation is audit-logged: download, range, HEAD, thumbnail, signed link, API key', async () => {
    const f = await upload(doctor.token, await png('blue'), 'plan.png');
    await s.call('POST', `/api/v2/sessions/${conv}/messages`, { token: doctor.token, body: { type: 2, content: { storageId: f.storageId } } });
    const n0 = (await fileReads(f.storageId)).length;
    assert.equal(n0, 0);
    assert.equal((await get(`/api/v2/files/${f.storageId}`, bearer(patient))).status, 200);
    assert.equal((await get(`/api/v2/files/${f.storageId}`, { ...bearer(patient), range: 'bytes=0-3' })).status, 206);
    assert.equal((await get(`/api/v2/files/${f.storageId}`, bearer(patient), 'HEAD')).status, 200);
    assert.equal((await get(`/api/v2/files/${f.storageId}/thumbnail`, bearer(patient))).status, 200);
    const link = await s.call('POST', `/api/v2/files/${f.storageId}/link`, { token: patient.token });
    assert.equal((await get(link.body.url)).status, 200);
    assert.equal((await get(`/api/v2/files/${f.storageId}`, { 'x-api-key': s.apiKey, 'x-on-behalf-of': patient.id })).status, 200);
    assert.equal((await get(`/api/v2/files/${f.storageId}`, { 'x-api-key': s.apiKey })).status, 200);
    const reads = await fileReads(f.storageId);
    assert.equal(reads.length, 7, JSON.stringify(reads));
    assert.equal(reads.filter((r) => r.actor_id === patient.id).length, 6);
    assert.ok(reads.some((r) => r.actor_kind === 'app'));
    // A refused read records nothing.
    assert.equal((await get(`/api/v2/files/${f.storageId}`, bearer(outsider))).code, 'file.not_found');
    assert.equal((await fileReads(f.storageId)).length, 7);
  });

  it('a non-member gets no signed link (the same answer as no file)', async () => {
    const f = await upload(doctor.token, await png('green'), 'g.png');
    await s.call('POST', `/api/v2/sessions/${conv}/messages`, { token: doctor.token, body: { type: 2, content: { storageId: f.storageId } } });
    const r = await s.call('POST', `/api/v2/files/${f.storageId}/link`, { token: outsider.token });
    assert.equal(r.status, 404);
    assert.equal(r.body.code, 'file.not_found');
  });

  it('orphan cleanup racing an attach: a message that claimed the file keeps it; a file the cleanup took is refused, nothing stored', async () => {
    const core = s.server.core;
    const later = () => Date.now() + (core.config.files.orphanTtlSeconds + 5) * 1000;
    const p = { kind: 'user' as const, tenantId: s.tenantId, userId: patient.id, role: 'patient' as const, sessionId: 'test' };

    // The message is checked (the file claimed), then the cleanup runs, then the commit.
    const a = await upload(patient.token, await png('yellow'), 'a.png');
    const prepared = await core.messages.prepare(p, conv, { type: 2, content: { storageId: a.storageId } });
    // Claimed, the message not yet stored: the sender's own client shows it (its link and bytes
    // are served to the sender); nobody else is told of it.
    const own = await s.call('POST', `/api/v2/files/${a.storageId}/link?variant=thumbnail`, { token: patient.token });
    assert.equal(own.status, 200, JSON.stringify(own.body));
    assert.equal((await get(own.body.url)).status, 200);
    assert.equal((await get(`/api/v2/files/${a.storageId}`, bearer(patient))).status, 200);
    assert.equal((await s.call('POST', `/api/v2/files/${a.storageId}/link`, { token: doctor.token })).body.code, 'file.not_found');
    assert.equal((await get(`/api/v2/files/${a.storageId}`, bearer(doctor))).code, 'file.not_found');
    assert.equal(await core.files.cleanupOrphans(500, later()), 0, 'a claimed file is no orphan');
    const r = await core.messages.commit(prepared);
    assert.equal((r.message.content as any).storageId, a.storageId);
    assert.equal((await get(`/api/v2/files/${a.storageId}`, bearer(doctor))).status, 200);

    // The cleanup runs first: the message is refused and nothing is stored.
    const b = await upload(patient.token, await png('purple'), 'b.png');
    const headBefore = (await s.call('GET', `/api/v2/sessions/${conv}/session`, { token: patient.token })).body.session.last_seq;
    assert.ok((await core.files.cleanupOrphans(500, later())) >= 1);
    const refused = await s.call('POST', `/api/v2/sessions/${conv}/messages`, { token: patient.token, body: { type: 2, content: { storageId: b.storageId } } });
    assert.equal(refused.body.code, 'file.not_found');
    const headAfter = (await s.call('GET', `/api/v2/sessions/${conv}/session`, { token: patient.token })).body.session.last_seq;
    assert.equal(headAfter, headBefore);

    // Many at once: each file ends either attached and served, or deleted and its message refused.
    const ups = await Promise.all(Array.from({ length: 6 }, (_, i) => png(`#${(i * 40).toString(16).padStart(2, '0')}3366`).then((b) => upload(patient.token, b, `r${i}.png`))));
    const sends = ups.map((u) => s.call('POST', `/api/v2/sessions/${conv}/messages`, { token: patient.token, body: { type: 2, content: { storageId: u.storageId } } }));
    const cleaned = core.files.cleanupOrphans(500, later());
    const results = await Promise.all(sends);
    await cleaned;
    for (const [i, res] of results.entries()) {
      const served = await get(`/api/v2/files/${ups[i]!.storageId}`, bearer(doctor));
      if (res.status === 200) assert.equal(served.status, 200, `message ${i} was stored: its file is served`);
      else {
        assert.equal(res.body.code, 'file.not_found');
        assert.equal(served.code, 'file.not_found');
      }
    }
  });

  it('a resend of a file message (same client_id) is answered as a duplicate; another message with the file is refused; a refused message releases it', async () => {
    const f = await upload(patient.token, await png('orange'), 'o.png');
    const body = { type: 2, client_id: 'c-file-1', content: { storageId: f.storageId } };
    const first = await s.call('POST', `/api/v2/sessions/${conv}/messages`, { token: patient.token, body });
    assert.equal(first.status, 200, JSON.stringify(first.body));
    const again = await s.call('POST', `/api/v2/sessions/${conv}/messages`, { token: patient.token, body });
    assert.equal(again.status, 200, JSON.stringify(again.body));
    assert.equal(again.body.message.id, first.body.message.id);
    const other = await s.call('POST', `/api/v2/sessions/${conv}/messages`, { token: patient.token, body: { ...body, client_id: 'c-file-2' } });
    assert.equal(other.body.code, 'file.not_attachable');

    // A voice message naming an image: refused after the claim (its content does not fit), and the file is free again.
    const g = await upload(patient.token, await png('pink'), 'p.png');
    const bad = await s.call('POST', `/api/v2/sessions/${conv}/messages`, { token: patient.token, body: { type: 1, content: { text: 'x', storageId: g.storageId } } });
    assert.equal(bad.status, 400);
    const row = await s.server.core.storage.files.get(s.tenantId, g.storageId);
    assert.equal(row?.state, 'uploaded');
    const ok = await s.call('POST', `/api/v2/sessions/${conv}/messages`, { token: patient.token, body: { type: 2, content: { storageId: g.storageId } } });
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
  });
});
