/** The triage queue on a real server: positions, transfer with a note, close with an outcome, acknowledge ≠ read, SLA escalation, statistics, consultation. */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../support/server.ts';
import { pullUntil, requestChat, seedText, visitor, widgetKey } from './support.ts';

async function until<T>(what: string, f: () => Promise<T | undefined | null | false>, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const v = await f();
    if (v) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out: ${what}`);
}

describe('front desk triage', () => {
  let s: TestServer;
  let key: string;
  let cid: string;
  let li: { id: string; token: string };
  let wang: { id: string; token: string };
  let drZhao: { id: string; token: string };
  let lead: { id: string; token: string };

  before(async () => {
    s = await startTestServer({ config: { desk: { visitorsPerIp: 1000, visitorsPerFingerprint: 1000, pollMs: 50 } } });
    cid = s.tenantId;
    key = await widgetKey(s);
    li = await s.user('li', 'staff', 'Nurse Li');
    wang = await s.user('wang', 'staff', 'Nurse Wang');
    drZhao = await s.user('zhao', 'doctor', 'Dr. Zhao');
    lead = await s.user('lead', 'staff', 'Head Nurse');
    await s.call('PUT', '/api/v2/management/teams/nurses', { body: { name: 'Nurses', members: ['li', 'wang', 'lead'] } });
    await s.call('PUT', '/api/v2/management/teams/doctors', { body: { name: 'Doctors', members: ['zhao'] } });
    // Staff members are known to the desk once they used it.
    for (const u of [li, wang, drZhao, lead]) await s.call('GET', '/api/staff/info', { token: u.token });
  });
  after(async () => s.stop());

  it('queues per team in order; visitors see their position; claiming moves the others up', async () => {
    const a = await visitor(s, key);
    const b = await visitor(s, key);
    const ca = await requestChat(s, cid, a, { team_id: 'nurses' });
    const cb = await requestChat(s, cid, b, { team_id: 'nurses' });
    const q = await s.call('GET', '/api/desk/queue?team_id=nurses', { token: li.token });
    assert.equal(q.status, 200);
    const ids = q.body.data.map((x: any) => x.chat_id);
    assert.ok(ids.indexOf(ca.chatId) < ids.indexOf(cb.chatId));
    const pb = await s.call('GET', `/api/desk/chats/${cb.chatId}/position`, { token: b.token });
    assert.equal(pb.body.position, ids.indexOf(cb.chatId) + 1);
    assert.equal(q.body.data[0].position, 1);
    assert.equal(typeof q.body.data[0].waiting_ms, 'number');
    const before = pb.body.position as number;
    const init = await s.call('GET', `/api/state/init`, { token: b.token });
    const news = pullUntil(s, b.token, (d) => d.some((x) => x.type === 'queue_position' && x.event.position === before - 1), { version: init.body.state.version });
    await new Promise((r) => setTimeout(r, 150));
    assert.equal((await s.call('POST', `/api/desk/chats/${ca.chatId}/claim`, { token: li.token })).status, 200);
    await news;
    assert.equal((await s.call('GET', `/api/desk/chats/${cb.chatId}/position`, { token: b.token })).body.position, before - 1);
    // The other visitor's chat is not b's to see.
    assert.equal((await s.call('GET', `/api/desk/chats/${ca.chatId}/position`, { token: b.token })).body.code, 'desk.chat_not_found');
    await s.call('POST', `/api/desk/chats/${cb.chatId}/close`, { token: b.token });
    await s.call('POST', `/api/desk/chats/${ca.chatId}/close`, { token: li.token, body: { outcome: 'resolved' } });
  });

  it('acknowledge is not read and not a claim: the queue shows who acknowledged, the chat stays queued', async () => {
    const v = await visitor(s, key);
    const { chatId } = await requestChat(s, cid, v);
    await s.call('POST', '/api/message', { token: v.token, body: seedText(cid, { id: v.uid, role: 'user' }, chatId, 'Do you take walk-ins?') });
    const ack = await s.call('POST', `/api/desk/chats/${chatId}/ack`, { token: wang.token });
    assert.equal(ack.status, 200);
    assert.equal(ack.body.code, 0);
    const again = await s.call('POST', `/api/desk/chats/${chatId}/ack`, { token: wang.token });
    assert.equal(again.body.at, ack.body.at, 'the first acknowledgement stays');
    const q = await s.call('GET', '/api/desk/queue', { token: li.token });
    const item = q.body.data.find((x: any) => x.chat_id === chatId);
    assert.equal(item.state, 'request');
    assert.deepEqual(item.acked_by, [{ uid: 'wang', at: ack.body.at }]);
    // Not a claim: Wang is no member of the conversation.
    const participants = await s.call('GET', `/api/v2/sessions/${chatId}/participants`, {});
    assert.deepEqual(participants.body.participants.map((p: any) => p.user_id).sort(), [v.uid]);
    // Not a read: the holder's unread count stays what it was after acknowledging.
    await s.call('POST', `/api/desk/chats/${chatId}/claim`, { token: wang.token });
    await s.call('POST', '/api/message', { token: v.token, body: seedText(cid, { id: v.uid, role: 'user' }, chatId, 'And on Sundays?') });
    const unread = async () => (await s.call('GET', `/api/v2/sessions/${chatId}/messages/unread`, { token: wang.token })).body;
    const before = JSON.stringify(await unread());
    assert.ok(before.includes('And on Sundays?'), before);
    await s.call('POST', `/api/desk/chats/${chatId}/ack`, { token: wang.token });
    assert.equal(JSON.stringify(await unread()), before);
    await s.call('POST', `/api/desk/chats/${chatId}/close`, { token: wang.token, body: { outcome: 'resolved' } });
  });

  it('transfers to a colleague with a note, then back to a team\'s queue; only the holder may; the visitor never sees the note', async () => {
    const v = await visitor(s, key);
    const { chatId } = await requestChat(s, cid, v, { team_id: 'nurses' });
    assert.equal((await s.call('POST', `/api/desk/chats/${chatId}/claim`, { token: li.token })).status, 200);
    const vInit = await s.call('GET', '/api/state/init', { token: v.token });
    const notHolder = await s.call('POST', `/api/desk/chats/${chatId}/transfer`, { token: wang.token, body: { to_staff: 'zhao' } });
    assert.equal(notHolder.status, 409);
    assert.equal(notHolder.body.code, 'desk.not_holder');
    for (const body of [{}, { to_staff: 'zhao', to_team: 'doctors' }, { to_staff: 'li' }]) {
      const bad = await s.call('POST', `/api/desk/chats/${chatId}/transfer`, { token: li.token, body });
      assert.equal(bad.body.code, 'desk.invalid_transfer', JSON.stringify(body));
    }
    assert.equal((await s.call('POST', `/api/desk/chats/${chatId}/transfer`, { token: li.token, body: { to_staff: v.uid } })).body.code, 'desk.staff_not_found');
    assert.equal((await s.call('POST', `/api/desk/chats/${chatId}/transfer`, { token: li.token, body: { to_team: 'nope' } })).body.code, 'desk.team_not_found');
    assert.equal((await s.call('GET', `/api/desk/chats/${chatId}`, { token: li.token })).body.chat.staff_id, 'li', 'nothing changed');

    const t = await s.call('POST', `/api/desk/chats/${chatId}/transfer`, { token: li.token, body: { to_staff: 'zhao', note: 'Asks about a rash, photo attached' } });
    assert.equal(t.status, 200);
    const chat = (await s.call('GET', `/api/desk/chats/${chatId}`, { token: drZhao.token })).body.chat;
    assert.equal(chat.staff_id, 'zhao');
    assert.equal(chat.note, 'Asks about a rash, photo attached');
    const members = (await s.call('GET', `/api/v2/sessions/${chatId}/participants`, {})).body.participants.map((p: any) => p.user_id).sort();
    assert.deepEqual(members, [v.uid, 'zhao'].sort());
    assert.equal((await s.call('POST', '/api/message', { token: li.token, body: seedText(cid, { id: 'li', role: 'staff' }, chatId, 'still here?') })).body.code, 'desk.not_in_chat');
    assert.equal((await s.call('POST', '/api/message', { token: drZhao.token, body: seedText(cid, { id: 'zhao', role: 'staff' }, chatId, 'Dr. Zhao here.') })).body.code, 0);

    const back = await s.call('POST', `/api/desk/chats/${chatId}/transfer`, { token: drZhao.token, body: { to_team: 'doctors', note: 'for the on-call doctor' } });
    assert.equal(back.status, 200);
    const q = await s.call('GET', '/api/desk/queue?team_id=doctors', { token: li.token });
    assert.ok(q.body.data.some((x: any) => x.chat_id === chatId));
    const data = await pullUntil(s, v.token, (d) => d.filter((x) => x.type === 'transfer_chat').length >= 2, { version: vInit.body.state.version });
    for (const x of data.filter((d) => d.type === 'transfer_chat')) assert.equal(x.event.note, undefined, 'no note for the visitor');
    await s.call('POST', `/api/desk/chats/${chatId}/close`, { token: li.token, body: { outcome: 'spam' } });
  });

  it('closes with an outcome; closing twice or writing after is desk.chat_closed; a bad outcome changes nothing', async () => {
    const v = await visitor(s, key);
    const { chatId } = await requestChat(s, cid, v);
    await s.call('POST', `/api/desk/chats/${chatId}/claim`, { token: li.token });
    const bad = await s.call('POST', `/api/desk/chats/${chatId}/close`, { token: li.token, body: { outcome: 'whatever' } });
    assert.equal(bad.body.code, 'desk.invalid_message');
    assert.equal((await s.call('POST', `/api/desk/chats/${chatId}/close`, { token: wang.token, body: { outcome: 'resolved' } })).body.code, 'desk.not_holder');
    assert.equal((await s.call('GET', `/api/desk/chats/${chatId}`, { token: li.token })).body.chat.state, 'active');
    const ok = await s.call('POST', `/api/desk/chats/${chatId}/close`, { token: li.token, body: { outcome: 'booked', note: 'Booked for Monday 9:00' } });
    assert.equal(ok.status, 200);
    const chat = (await s.call('GET', `/api/desk/chats/${chatId}`, { token: li.token })).body.chat;
    assert.equal(chat.state, 'closed');
    assert.equal(chat.outcome, 'booked');
    assert.match(chat.ended_at, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
    assert.equal((await s.call('POST', `/api/desk/chats/${chatId}/close`, { token: li.token, body: { outcome: 'booked' } })).body.code, 'desk.chat_closed');
    assert.equal((await s.call('POST', '/api/message', { token: v.token, body: seedText(cid, { id: v.uid, role: 'user' }, chatId, 'thanks') })).body.code, 'desk.chat_closed');
    // A closed chat lets the visitor ask again: a new chat.
    const next = await requestChat(s, cid, v);
    assert.notEqual(next.chatId, chatId);
    const left = await s.call('POST', `/api/desk/chats/${next.chatId}/close`, { token: v.token });
    assert.equal(left.status, 200);
    assert.equal((await s.call('GET', `/api/desk/chats/${next.chatId}`, { token: li.token })).body.chat.outcome, 'abandoned');
  });

  it('escalates a chat unclaimed past its SLA once, notifying the team lead (the job port)', async () => {
    const sla = await s.call('PUT', '/api/desk/sla', { body: { team_id: 'nurses', sla_seconds: 1, lead_id: 'lead' } });
    assert.equal(sla.status, 200);
    assert.deepEqual(sla.body, { team_id: 'nurses', sla_seconds: 1, lead_id: 'lead' });
    assert.equal((await s.call('PUT', '/api/desk/sla', { body: { team_id: 'nurses', sla_seconds: 1, lead_id: 'nobody' } })).body.code, 'desk.staff_not_found');
    const leadInit = await s.call('GET', '/api/state/init', { token: lead.token });
    const v = await visitor(s, key);
    const { chatId } = await requestChat(s, cid, v, { team_id: 'nurses' });
    const claimedFast = await requestChat(s, cid, await visitor(s, key), { team_id: 'nurses' });
    await s.call('POST', `/api/desk/chats/${claimedFast.chatId}/claim`, { token: wang.token });
    const item = await until('escalated', async () => {
      const q = await s.call('GET', '/api/desk/queue?team_id=nurses', { token: li.token });
      const x = q.body.data.find((d: any) => d.chat_id === chatId);
      return x?.escalated_at ? x : null;
    });
    assert.ok(item.escalated_at >= item.created_at + 1000);
    const inbox = await until('notified', async () => {
      const r = await s.call('GET', '/api/v2/notifications', { token: lead.token });
      const n = (r.body.notifications ?? []).filter((x: any) => x.kind === 'DESK_ESCALATED');
      return n.length ? n : null;
    });
    assert.equal(inbox.length, 1);
    assert.equal(inbox[0].data.chat_id, chatId);
    const events = await pullUntil(s, lead.token, (d) => d.some((x) => x.type === 'chat_escalated' && x.chat.id === chatId), { version: leadInit.body.state.version });
    assert.equal(events.filter((x) => x.type === 'chat_escalated' && x.chat.id === chatId).length, 1);
    assert.ok(!events.some((x) => x.type === 'chat_escalated' && x.chat.id === claimedFast.chatId), 'a claimed chat does not escalate');
    await new Promise((r) => setTimeout(r, 1200));
    const later = await s.call('GET', '/api/v2/notifications', { token: lead.token });
    assert.equal(later.body.notifications.filter((x: any) => x.kind === 'DESK_ESCALATED').length, 1, 'once');
    await s.call('POST', `/api/desk/chats/${chatId}/close`, { token: li.token, body: { outcome: 'no_response' } });
    await s.call('POST', `/api/desk/chats/${claimedFast.chatId}/close`, { token: wang.token, body: { outcome: 'resolved' } });
  });

  it('statistics: waiting p50/p90, first response, per staff member, abandoned', async () => {
    const since = Date.now();
    const chats = [];
    for (let i = 0; i < 3; i++) {
      const v = await visitor(s, key);
      chats.push({ v, ...(await requestChat(s, cid, v)) });
    }
    await s.call('POST', `/api/desk/chats/${chats[0]!.chatId}/claim`, { token: li.token });
    await s.call('POST', '/api/message', { token: li.token, body: seedText(cid, { id: 'li', role: 'staff' }, chats[0]!.chatId, 'Hello!') });
    await s.call('POST', `/api/desk/chats/${chats[1]!.chatId}/claim`, { token: wang.token });
    await s.call('POST', `/api/desk/chats/${chats[2]!.chatId}/close`, { token: chats[2]!.v.token });
    const r = await s.call('GET', `/api/desk/stats?since=${since}`, {});
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const st = r.body.stats;
    assert.equal(st.chats, 3);
    assert.equal(st.claimed, 2);
    assert.equal(st.abandoned, 1);
    assert.equal(st.waiting.count, 2);
    assert.ok(st.waiting.p50_ms >= 0 && st.waiting.p90_ms >= st.waiting.p50_ms);
    assert.equal(st.first_response.count, 1);
    assert.deepEqual(st.per_staff.map((x: any) => [x.uid, x.claimed]), [['li', 1], ['wang', 1]]);
    const byStaff = await s.call('GET', `/api/desk/stats?since=${since}`, { token: li.token });
    assert.equal(byStaff.body.stats.chats, 3);
    const v = await visitor(s, key);
    assert.equal((await s.call('GET', '/api/desk/stats', { token: v.token })).body.code, 'desk.not_staff');
    for (const c of chats.slice(0, 2)) {
      const holder = c === chats[0] ? li : wang;
      await s.call('POST', `/api/desk/chats/${c.chatId}/close`, { token: holder.token, body: { outcome: 'resolved' } });
    }
  });

  it('an identified visitor\'s chat goes on as a consultation topic in the patient\'s session with the family doctor', async () => {
    const patient = await s.user('pat-1', 'patient', 'Wang Fang');
    const family = await s.user('fd-1', 'doctor', 'Dr. Sun');
    const session = await s.conversation({ participants: ['pat-1', 'fd-1'], type: 2 });
    const v = await visitor(s, key);
    const { chatId } = await requestChat(s, cid, v);
    await s.call('POST', '/api/message', { token: v.token, body: seedText(cid, { id: v.uid, role: 'user' }, chatId, 'My cough is back') });
    await s.call('POST', `/api/desk/chats/${chatId}/claim`, { token: li.token });
    assert.equal((await s.call('POST', `/api/desk/chats/${chatId}/consultation`, { token: li.token, body: { session_id: session, topic_id: 'desk-c1' } })).body.code, 'desk.not_identified');
    assert.equal((await s.call('POST', '/api/desk/identify', { token: v.token, body: { token: 'forged' } })).body.code, 'desk.identify_failed');
    const id = await s.call('POST', '/api/desk/identify', { token: v.token, body: { token: patient.token } });
    assert.equal(id.status, 200);
    assert.equal(id.body.patient_id, 'pat-1');
    const r = await s.call('POST', `/api/desk/chats/${chatId}/consultation`, { token: li.token, body: { session_id: session, topic_id: 'desk-c1' } });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.topic_id, 'desk-c1');
    const history = await s.call('GET', `/api/v2/sessions/${session}/messages`, { token: family.token });
    const texts = JSON.stringify(history.body);
    assert.ok(texts.includes('My cough is back'), 'the transcript is in the session');
    assert.equal((await s.call('GET', `/api/desk/chats/${chatId}`, { token: li.token })).body.chat.outcome, 'consultation');
  });
});
