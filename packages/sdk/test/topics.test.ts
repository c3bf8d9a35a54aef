/** Consultation helpers: a patient starts a topic, the doctor sees it unreplied, answers, ends it. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CarelineError, MessageTypes, type Message } from '../src/index.ts';
import { Harness, text, waitFor } from './support/harness.ts';

const T = { timeout: 20_000 };

describe('topics', () => {
  const h = Harness.forSuite();

  test('start, counts by state, reply, end — and the topic messages arrive live', T, async () => {
    const { patient, doctor, conv } = await h.pair();
    const p = h.client(patient.token);
    const d = h.client(doctor.token);
    await Promise.all([p.connect(), d.connect()]);
    const live: Message[] = [];
    d.on('message', (m) => live.push(m));

    const { topic, created } = await p.topics.start(conv, { topic_id: `consult-${conv.slice(0, 6)}`, name: 'Dizziness', doctor_id: doctor.id });
    assert.equal(created, true);
    assert.deepEqual([topic.status, topic.reply, topic.patient_id], [0, 0, patient.id]);
    assert.deepEqual((await d.topics.counts()).unreplied, 1);
    assert.deepEqual((await d.topics.byState('unreplied')).topics.map((t) => t.id), [topic.id]);

    await p.send(conv, text('I feel dizzy in the mornings'));
    await d.send(conv, text('Since when?'));
    assert.equal((await d.topics.get(topic.id)).reply, 1);
    assert.deepEqual((await d.topics.byState('in_progress')).topics.map((t) => t.id), [topic.id]);

    await assert.rejects(p.topics.end(conv, 'current'), (e: unknown) => e instanceof CarelineError && e.code === 'auth.forbidden');
    const ended = await d.topics.end(conv, 'current', 'Take care');
    assert.deepEqual([ended.status, ended.reply], [10, 1]);
    assert.equal((await p.topics.ended(conv)).ended, true);

    const types = await waitFor(() => {
      const t = live.filter((m) => m.conversation_id === conv).map((m) => m.type);
      return t.includes(MessageTypes.TOPIC_END_NOTICE) ? t : null;
    });
    assert.deepEqual(types, [MessageTypes.TOPIC_START, MessageTypes.TEXT, MessageTypes.TOPIC_END, MessageTypes.TOPIC_END_NOTICE]);
    const msgs = await p.topics.messages(topic.id, { limit: 50 });
    assert.deepEqual(msgs.messages.map((m) => m.type), [6, 1, 1, 7, 10]);
    assert.equal((await p.topics.list()).topics[0]?.id, topic.id);
  });
});
