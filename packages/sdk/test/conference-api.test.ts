/**
 * The conference SDK against a real Careline server: the booking system creates, cancels and
 * finishes with the API key; each participant's page exchanges their access token, gets the
 * screen of seed 004 for the status and their role, and hears every change on the conference
 * socket at once.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startTestServer, type TestServer } from '@careline/server/testing';
import {
  APIError,
  ConferenceAccessAPI,
  ConferenceModifyAPI,
  ConferenceSock,
  UX,
  type ConferenceCreated,
  type ConferenceStatus,
} from '../src/index.ts';

const T = { timeout: 20_000 };

/** Resolves when `check` passes (polling), or rejects with its last error after `ms`. */
async function until(check: () => void | Promise<void>, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    try {
      await check();
      return;
    } catch (err) {
      if (Date.now() > end) throw err;
      await new Promise((r) => setTimeout(r, 25));
    }
  }
}

describe('conferences through the SDK', () => {
  let t: TestServer;
  let modify: ConferenceModifyAPI;
  let access: ConferenceAccessAPI;
  const socks: ConferenceSock[] = [];

  before(async () => {
    t = await startTestServer();
    modify = ConferenceModifyAPI.createHttpAPI(t.url);
    access = ConferenceAccessAPI.createHttpAPI(t.url);
  });
  after(async () => {
    for (const s of socks) s.close();
    await t?.stop();
  });

  const book = (title = 'Consultation', durationSeconds = 1800, vertical: 'medicine' | 'general' = 'medicine'): Promise<ConferenceCreated> =>
    modify.create(t.apiKey, 'doc-1', 'specialist', {
      title,
      starts_at: Date.now(),
      duration_seconds: durationSeconds,
      vertical,
      language: 'ru',
      participants: [
        { user_id: 'doc-1', name: 'Anna Petrova', role: 'specialist' },
        { user_id: 'pat-1', name: 'Ivan Ivanov', role: 'client' },
      ],
    });
  const tokenOf = (c: ConferenceCreated, userId: string) => c.participants.find((p) => p.userId === userId)!.accessToken;

  /** A conference socket for `accessToken`, recording every status it hears. */
  async function listen(accessToken: string) {
    const sock = new ConferenceSock(t.url);
    socks.push(sock);
    const statuses: ConferenceStatus[] = [];
    let infos = 0;
    sock.changeConferenceStatusCallback(function (status) {
      assert.equal(this, sock);
      assert.equal(this.at_, accessToken);
      statuses.push(status);
    });
    sock.changeConferenceInfoCallback(() => {
      infos++;
    });
    const hello = await sock.connect(accessToken);
    return { sock, statuses, hello, infos: () => infos };
  }

  test('create gives each participant an access token and a link; the creator\'s token is the seed\'s confRes.accessToken', T, async () => {
    const c = await book();
    assert.equal(c.conference.status, 'scheduled');
    assert.equal(c.participants.length, 2);
    assert.equal(c.accessToken, tokenOf(c, 'doc-1'));
    for (const p of c.participants) {
      assert.match(p.accessToken, /^[A-Za-z0-9_-]{24}$/);
      assert.ok(p.link.endsWith(`/conf/${p.accessToken}`), p.link);
    }
  });

  test('a wrong key, a bad access token: APIError (401 for the token; _4xx screens)', T, async () => {
    await assert.rejects(modify.create('nope', 'doc-1', 'specialist', { title: 'x', starts_at: Date.now(), duration_seconds: 60, participants: [{ user_id: 'doc-1', name: 'A', role: 'specialist' }] }),
      (err: unknown) => err instanceof APIError && err.status === 401);
    await assert.rejects(access.exchange('AAAAAAAAAAAAAAAAAAAAAAAA'), (err: unknown) => {
      assert.ok(err instanceof APIError);
      assert.equal(err.status, 401);
      assert.equal(err.response.status, 401);
      assert.equal(err.code, 'conference.access_denied');
      return true;
    });
    const bad = await UX.createScreen(access, 'AAAAAAAAAAAAAAAAAAAAAAAA');
    assert.equal(bad.name, UX.ScreenEnum._4xx);
    assert.equal(bad.status, 401);
    const none = await UX.createScreen(access, '');
    assert.equal(none.name, UX.ScreenEnum._4xx);
    assert.equal(none.status, 404);
    await assert.rejects(new ConferenceSock(t.url).connect('AAAAAAAAAAAAAAAAAAAAAAAA'), (err: unknown) => err instanceof APIError && err.status === 401);
  });

  test('the screens follow the status and the role; every change reaches both open pages at once', T, async () => {
    const c = await book();
    const doc = tokenOf(c, 'doc-1');
    const pat = tokenOf(c, 'pat-1');
    const docSock = await listen(doc);
    const patSock = await listen(pat);
    assert.equal(patSock.hello.conference.status, 'scheduled');
    assert.equal(patSock.hello.participant.role, 'client');

    const docScreen = await UX.createScreen(access, doc);
    let patScreen = await UX.createScreen(access, pat);
    assert.equal(docScreen.name, UX.ScreenEnum.PendingSpecialist);
    assert.equal(docScreen.canOpen, true);
    assert.equal(patScreen.name, UX.ScreenEnum.PendingClient);
    assert.ok(patScreen.conferenceToken?.startsWith('cft_'));

    // A client may not open; the specialist may.
    await assert.rejects(access.open(patScreen.conferenceToken!), (err: unknown) => err instanceof APIError && err.code === 'conference.not_specialist' && err.status === 403);
    const opened = await access.open(docScreen.conferenceToken!);
    assert.equal(opened.conference.status, 'open');
    await until(() => assert.deepEqual(patSock.statuses, ['open']));
    await until(() => assert.deepEqual(docSock.statuses, ['open']));
    assert.equal((await UX.createScreen(access, doc)).name, UX.ScreenEnum.JoinSpecialist);
    patScreen = await UX.createScreen(access, pat);
    assert.equal(patScreen.name, UX.ScreenEnum.JoinClient);

    const joined = await access.join(patScreen.conferenceToken!);
    assert.equal(joined.conference.status, 'started');
    await until(() => assert.deepEqual(docSock.statuses, ['open', 'started']));
    const started = await UX.createScreen(access, doc);
    assert.equal(started.name, UX.ScreenEnum.Started);
    assert.ok(started.conferenceToken);
    assert.equal(started.canFinish, true);

    // The countdown of a real screen: about the whole duration left.
    const timer = UX.timer(started.confInfo!, started.timerBlock);
    const left = timer.updateTime();
    assert.ok(left.totalRemainSeconds <= 1800 && left.totalRemainSeconds > 1700, JSON.stringify(left));
    assert.equal(left.hours * 3600 + left.minutes * 60 + left.seconds, left.totalRemainSeconds);

    const finished = await modify.finish(t.apiKey, c.conference.id);
    assert.equal(finished.changed, true);
    await until(() => assert.deepEqual(patSock.statuses, ['open', 'started', 'finished']));
    assert.equal((await UX.createScreen(access, pat)).name, UX.ScreenEnum.Finish);
    assert.equal((await UX.createScreen(access, doc)).name, UX.ScreenEnum.Finish);
    // Finishing again is safe.
    assert.equal((await modify.finish(t.apiKey, c.conference.id)).changed, false);
  });

  test('cancel: Cancelled for both roles, pushed to the open pages; info changes reach them too', T, async () => {
    const c = await book('Before', 900, 'general');
    const patSock = await listen(tokenOf(c, 'pat-1'));
    const docSock = await listen(tokenOf(c, 'doc-1'));
    await modify.update(t.apiKey, c.conference.id, { title: 'After' });
    await until(() => assert.equal(patSock.infos(), 1));
    assert.equal(patSock.sock.conference?.title, 'After');
    await modify.cancel(t.apiKey, c.conference.id, 'the patient called');
    await until(() => assert.deepEqual(patSock.statuses, ['cancelled']));
    await until(() => assert.deepEqual(docSock.statuses, ['cancelled']));
    for (const who of ['pat-1', 'doc-1']) assert.equal((await UX.createScreen(access, tokenOf(c, who))).name, UX.ScreenEnum.Cancelled);
    const transitions = await modify.transitions(t.apiKey, c.conference.id);
    assert.deepEqual(transitions.map((x) => x.to), ['scheduled', 'cancelled']);
  });

  test('a revoked participant: 401 on exchange, _4xx on the page', T, async () => {
    const c = await book();
    const pat = tokenOf(c, 'pat-1');
    assert.equal((await UX.createScreen(access, pat)).name, UX.ScreenEnum.PendingClient);
    await modify.revoke(t.apiKey, c.conference.id, 'pat-1');
    await assert.rejects(access.exchange(pat), (err: unknown) => err instanceof APIError && err.status === 401 && err.code === 'conference.access_revoked');
    const s = await UX.createScreen(access, pat);
    assert.equal(s.name, UX.ScreenEnum._4xx);
    assert.equal(s.status, 401);
    const fresh = await modify.reissue(t.apiKey, c.conference.id, 'pat-1');
    assert.equal((await UX.createScreen(access, fresh.accessToken)).name, UX.ScreenEnum.PendingClient);
  });
});
