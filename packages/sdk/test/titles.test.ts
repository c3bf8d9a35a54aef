/**
 * Conversation titles for the viewer: the server stores one `name` per conversation (seed
 * 000's field: the integrator's, or the participants' names joined and cut to 10
 * characters), the same for everyone; the SDK titles it for the user who looks at it.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { conversationTitle, isDefaultConversationName, type CarelineClient } from '../src/index.ts';
import { Harness } from './support/harness.ts';

const T = { timeout: 20_000 };

describe('conversation titles', () => {
  const h = Harness.forSuite();

  /** The title `client`'s user sees, from what the server returns to that user. */
  async function titleFor(client: CarelineClient, me: string, id: string): Promise<string> {
    const [conv, participants] = await Promise.all([client.api.conversation(id), client.api.participants(id)]);
    return conversationTitle(conv, participants, me);
  }

  test('one-to-one: the other party, whatever the stored name; groups: the given name, else the others', T, async () => {
    const zhang = await h.server.user('u5.zhang', 'patient', 'Zhang Min');
    const wang = await h.server.user('u1.wang', 'doctor', 'Dr. Wang');
    await h.server.user('u2.chen', 'doctor', 'Dr. Chen Jie');
    await h.server.user('u3.li', 'doctor', 'Dr. Li Wei');
    await h.server.user('u4.nurse', 'staff', 'Nurse Li');
    const p = h.client(zhang.token);
    const d = h.client(wang.token);

    // The README's conversation: no name given, stored as seed 000's default.
    const p2p = await h.server.conversation({ participants: ['u1.wang:doctor', 'u5.zhang:patient'] });
    assert.equal((await p.api.conversation(p2p)).name, 'Dr. Wang、Z…');
    assert.equal(await titleFor(p, zhang.id, p2p), 'Dr. Wang');
    assert.equal(await titleFor(d, wang.id, p2p), 'Zhang Min');

    // A one-to-one conversation the integrator named after both: still the other party.
    const named2 = await h.server.conversation({ participants: ['u3.li', 'u5.zhang'], name: 'Zhang Min · Dr. Li' });
    assert.equal(await titleFor(p, zhang.id, named2), 'Dr. Li Wei');

    // A group without a name: the others, two and a count.
    const group = await h.server.conversation({ type: 4, participants: ['u1.wang', 'u5.zhang', 'u2.chen', 'u3.li', 'u4.nurse'] });
    assert.equal(await titleFor(p, zhang.id, group), 'Dr. Wang, Dr. Chen Jie +2');
    assert.equal(await titleFor(d, wang.id, group), 'Dr. Chen Jie, Dr. Li Wei +2');

    // Three others are all named; a group's own name is everyone's title.
    const small = await h.server.conversation({ type: 4, participants: ['u1.wang', 'u5.zhang', 'u2.chen', 'u3.li'] });
    assert.equal(await titleFor(p, zhang.id, small), 'Dr. Wang, Dr. Chen Jie, Dr. Li Wei');
    const club = await h.server.conversation({ type: 4, participants: ['u1.wang', 'u5.zhang', 'u2.chen'], name: 'Hypertension club' });
    assert.equal(await titleFor(p, zhang.id, club), 'Hypertension club');
    assert.equal(await titleFor(d, wang.id, club), 'Hypertension club');
    // A named group of two keeps its name; an unnamed one is the other person.
    const pairGroup = await h.server.conversation({ type: 4, participants: ['u1.wang', 'u5.zhang'], name: 'Diet advice' });
    assert.equal(await titleFor(p, zhang.id, pairGroup), 'Diet advice');
  });

  test('what the server stored is told apart from a name the integrator gave', () => {
    const names = ['Dr. Wang', 'Zhang Min', 'Nurse Li'];
    assert.equal(isDefaultConversationName('Dr. Wang、Z…', names), true);
    assert.equal(isDefaultConversationName('Zhang Min、…', names), true);
    assert.equal(isDefaultConversationName('Dr. Wang、Zhang Min', names.slice(0, 2)), true);
    assert.equal(isDefaultConversationName('Dr. Wang', ['Dr. Wang']), true);
    // Not the default: another name, a name of someone not in it, a name used twice.
    assert.equal(isDefaultConversationName('Cardiology、follow-up', names), false);
    assert.equal(isDefaultConversationName('Dr. Wang、Dr. Wang', names), false);
    assert.equal(isDefaultConversationName('X…', names), false);
    assert.equal(isDefaultConversationName('', names), false);
    assert.equal(isDefaultConversationName('Dr. Wang', []), false);
  });

  test('with little to go on: no participants yet, nobody else, names missing', () => {
    const conv = { id: 'c-1', type: 4, name: 'Dr. Wang、Z…' };
    // Participants not loaded yet: the stored name, or the id.
    assert.equal(conversationTitle(conv, undefined, 'me'), 'Dr. Wang、Z…');
    assert.equal(conversationTitle({ ...conv, name: '' }, undefined, 'me'), 'c-1');
    // Alone in it: the stored name (or the id).
    assert.equal(conversationTitle(conv, [{ user_id: 'me', name: 'Me' }], 'me'), 'Dr. Wang、Z…');
    assert.equal(conversationTitle({ ...conv, name: '' }, [{ user_id: 'me', name: 'Me' }], 'me'), 'c-1');
    // A participant without a name is shown by id.
    assert.equal(conversationTitle({ id: 'c-2', type: 2, name: '' }, [{ user_id: 'me', name: 'Me' }, { user_id: 'dr.x', name: '' }], 'me'), 'dr.x');
    // The viewer not among them (an integrator's view): everyone.
    assert.equal(conversationTitle({ id: 'c-3', type: 2, name: 'A、B' }, [{ user_id: 'a', name: 'A' }, { user_id: 'b', name: 'B' }], undefined), 'A, B');
  });
});
