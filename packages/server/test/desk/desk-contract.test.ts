/** The front desk's store (`DeskStore`) on every backend: one open chat per visitor, claims that exactly one wins, transfers, closes, escalation once. */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Storage } from '../../src/domain/ports.ts';
import type { Chat } from '../../src/desk/types.ts';
import { newChatId, newMid, newVid } from '../../src/desk/ids.ts';
import { onEveryBackend } from '../support/backends.ts';

const T = 'org-1';

function chat(visitor: string, at: number, team = ''): Chat {
  return {
    tenant_id: T, id: newChatId(), visitor_id: visitor, team_id: team, state: 'request', staff_id: null, created_at: at, queued_at: at, queue_round: 1,
    claimed_at: null, first_response_at: null, closed_at: null, outcome: null, note: null, escalated_at: null, session_id: null, topic_id: null,
  };
}

onEveryBackend('desk', (label, open) => {
  describe(`DeskStore on ${label}`, () => {
    let storage: Storage;
    let cleanup: () => Promise<void>;
    before(async () => ({ storage, cleanup } = await open()));
    after(async () => {
      await storage.close();
      await cleanup();
    });

    it('keeps one open chat per visitor; a closed one lets a new one open', async () => {
      const v = newVid();
      const a = await storage.desk.openChat(chat(v, 1000));
      assert.equal(a.created, true);
      const b = await storage.desk.openChat(chat(v, 1001));
      assert.equal(b.created, false);
      assert.equal(b.chat.id, a.chat.id);
      assert.equal((await storage.desk.close(T, a.chat.id, 'abandoned', null, 1002)).ok, true);
      const c = await storage.desk.openChat(chat(v, 1003));
      assert.equal(c.created, true);
      assert.notEqual(c.chat.id, a.chat.id);
    });

    it('lets exactly one of concurrent claims win, and the loser sees the winner', async () => {
      const { chat: c } = await storage.desk.openChat(chat(newVid(), 2000));
      const results = await Promise.all(['s1', 's2', 's3', 's4'].map((s) => storage.desk.claim(T, c.id, s, 2001)));
      const won = results.filter((r) => r.ok);
      assert.equal(won.length, 1);
      const winner = won[0]!.chat!.staff_id;
      for (const r of results.filter((x) => !x.ok)) assert.equal(r.chat?.staff_id, winner);
      assert.equal((await storage.desk.getChat(T, c.id))!.state, 'active');
      assert.equal((await storage.desk.claim('other-org', c.id, 's5', 2002)).chat, null);
    });

    it('orders the queue, transfers to a colleague or back to a team, closes only by the holder', async () => {
      const t0 = 3000;
      const a = (await storage.desk.openChat(chat(newVid(), t0, 'nurses'))).chat;
      const b = (await storage.desk.openChat(chat(newVid(), t0 + 1, 'nurses'))).chat;
      assert.deepEqual((await storage.desk.queue(T, 'nurses')).map((x) => x.id), [a.id, b.id]);
      assert.equal((await storage.desk.claim(T, a.id, 'n1', t0 + 2)).ok, true);
      assert.deepEqual((await storage.desk.queue(T, 'nurses')).map((x) => x.id), [b.id]);
      assert.equal((await storage.desk.transfer(T, a.id, 'n2', { staff: 'n3' }, null, t0 + 3)).ok, false, 'not the holder');
      const moved = await storage.desk.transfer(T, a.id, 'n1', { staff: 'n2' }, 'allergy question', t0 + 3);
      assert.equal(moved.ok, true);
      assert.equal(moved.chat!.staff_id, 'n2');
      assert.equal(moved.chat!.note, 'allergy question');
      const back = await storage.desk.transfer(T, a.id, 'n2', { team: 'doctors' }, 'needs a doctor', t0 + 4);
      assert.equal(back.ok, true);
      assert.equal(back.chat!.state, 'request');
      assert.equal(back.chat!.staff_id, null);
      assert.equal(back.chat!.queue_round, 2);
      assert.equal(back.chat!.queued_at, t0, 'keeps its place');
      assert.deepEqual((await storage.desk.queue(T, 'doctors')).map((x) => x.id), [a.id]);
      const open = (await storage.desk.openChats(T, 1000)).map((x) => x.id);
      assert.ok(open.includes(a.id) && open.includes(b.id));
      assert.deepEqual(await storage.desk.openChats('other-org', 10), []);
      assert.equal((await storage.desk.close(T, b.id, 'spam', null, t0 + 5, 'n1')).ok, false, 'queued: not n1\'s');
      assert.equal((await storage.desk.close(T, b.id, 'spam', null, t0 + 5, null)).ok, true);
      const again = await storage.desk.close(T, b.id, 'spam', null, t0 + 6);
      assert.equal(again.ok, false);
      assert.equal(again.chat!.state, 'closed');
    });

    it('escalates a queue entry once, and not after it moved on', async () => {
      const c = (await storage.desk.openChat(chat(newVid(), 4000))).chat;
      const r = await Promise.all([1, 2, 3].map(() => storage.desk.escalate(T, c.id, 1, 4100)));
      assert.deepEqual(r.filter(Boolean).length, 1);
      assert.equal(await storage.desk.escalate(T, c.id, 2, 4100), false, 'another round');
      await storage.desk.claim(T, c.id, 'n1', 4200);
      const d = (await storage.desk.openChat(chat(newVid(), 4300))).chat;
      await storage.desk.claim(T, d.id, 'n1', 4301);
      assert.equal(await storage.desk.escalate(T, d.id, 1, 4400), false, 'claimed already');
      assert.equal(await storage.desk.firstResponse(T, d.id, 'n1', 4500), true);
      assert.equal(await storage.desk.firstResponse(T, d.id, 'n1', 4600), false);
      assert.equal((await storage.desk.getChat(T, d.id))!.first_response_at, 4500);
    });

    it('keeps the first acknowledgement, events in mid order, visitors, staff, keys and SLAs per tenant', async () => {
      const c = (await storage.desk.openChat(chat(newVid(), 5000))).chat;
      assert.equal((await storage.desk.ack(T, c.id, 'n1', 5001)).at, 5001);
      assert.equal((await storage.desk.ack(T, c.id, 'n1', 5002)).at, 5001);
      await storage.desk.ack(T, c.id, 'n2', 5003);
      assert.deepEqual((await storage.desk.acks(T, [c.id])).map((a) => a.user_id), ['n1', 'n2']);
      const mids = [newMid(), newMid(), newMid()];
      for (const mid of mids.slice().reverse()) await storage.desk.appendEvent({ tenant_id: T, mid, chat_id: c.id, type: 'x', body: { mid }, at: 5004 });
      assert.deepEqual((await storage.desk.events(T, c.id)).map((e) => e.mid), mids);
      assert.deepEqual((await storage.desk.eventsAfter(T, [c.id], mids[0]!, 10)).map((e) => e.body['mid']), mids.slice(1));
      assert.deepEqual((await storage.desk.eventsAfter(T, null, mids[1]!, 10)).map((e) => e.mid), mids.slice(2));
      assert.deepEqual(await storage.desk.eventsAfter('other-org', null, '', 10), []);

      const v = newVid();
      await storage.desk.createVisitor({ tenant_id: T, id: v, fp: 'fp1', created_at: 6000, seen_at: 6000, track_id: null, url: null, title: null, referer: null, os: null, browser: null, patient_id: null });
      assert.equal(await storage.desk.track(T, v, 't'.repeat(53), { url: 'https://clinic.example/prices', title: 'Prices', referer: '', os: 'Linux', browser: 'Firefox' }, 6001), true);
      assert.equal(await storage.desk.track('other-org', v, 'u'.repeat(53), { url: 'x', title: '', referer: '', os: '', browser: '' }, 6002), false);
      const got = await storage.desk.getVisitor(T, v);
      assert.equal(got!.url, 'https://clinic.example/prices');
      assert.equal(got!.seen_at, 6001);
      assert.equal((await storage.desk.recentVisitors(T, 6001, 10)).some((x) => x.id === v), true);

      const s1 = await storage.desk.ensureStaff(T, 'n1', 'A'.repeat(19), 7000);
      const s2 = await storage.desk.ensureStaff(T, 'n1', 'B'.repeat(19), 7001);
      assert.equal(s2.sid, s1.sid);
      assert.equal((await storage.desk.listStaff(T)).length, 1);

      await storage.desk.createKey({ tenant_id: T, id: 'k1', key_hash: 'h1', name: 'site', origins: ['https://clinic.example'], created_at: 8000, revoked_at: null });
      assert.deepEqual((await storage.desk.keyByHash('h1'))!.origins, ['https://clinic.example']);
      assert.equal(await storage.desk.revokeKey(T, 'k1', 8001), true);
      assert.equal(await storage.desk.revokeKey(T, 'k1', 8002), false);
      assert.equal((await storage.desk.keyByHash('h1'))!.revoked_at, 8001);

      await storage.desk.putSla(T, { team_id: '', sla_seconds: 60, lead_id: 'lead' });
      await storage.desk.putSla(T, { team_id: '', sla_seconds: 90, lead_id: 'lead2' });
      assert.deepEqual(await storage.desk.getSla(T, ''), { team_id: '', sla_seconds: 90, lead_id: 'lead2' });
      assert.equal(await storage.desk.getSla(T, 'nope'), null);
      const counts = await storage.desk.openCounts();
      assert.equal(typeof counts.request, 'number');
      assert.ok((await storage.desk.chatsCreated(T, 0, 1e13, undefined, 1000)).length >= 5);
    });
  });
});
