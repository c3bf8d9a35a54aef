/** The conference page's logic without a server: the screen for each status and role, the countdown, the texts. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ConferenceInfo } from '@careline/protocol';
import { UX, ScreenEnum, type ConfTexts } from '../src/index.ts';

describe('UX.screenFor: the screen for each status and role (seed 004)', () => {
  const table: [string, string, string][] = [
    ['scheduled', 'client', ScreenEnum.PendingClient],
    ['scheduled', 'specialist', ScreenEnum.PendingSpecialist],
    ['open', 'client', ScreenEnum.JoinClient],
    ['open', 'specialist', ScreenEnum.JoinSpecialist],
    ['started', 'client', ScreenEnum.Started],
    ['started', 'specialist', ScreenEnum.Started],
    ['finished', 'client', ScreenEnum.Finish],
    ['finished', 'specialist', ScreenEnum.Finish],
    ['cancelled', 'client', ScreenEnum.Cancelled],
    ['cancelled', 'specialist', ScreenEnum.Cancelled],
  ];
  for (const [status, role, screen] of table) {
    test(`${status} × ${role} → ${screen}`, () => assert.equal(UX.screenFor(status, role), screen));
  }

  test('an unknown status has no screen', () => assert.equal(UX.screenFor('paused', 'client'), null));

  test('the enum keeps the seed names and values', () => {
    assert.deepEqual(Object.keys(UX.ScreenEnum), ['_4xx', 'PendingClient', 'PendingSpecialist', 'JoinClient', 'JoinSpecialist', 'Cancelled', 'Finish', 'Started']);
    assert.equal(UX.ScreenEnum._4xx, '4xx');
  });

  test('screenFromState: the specialist may open a scheduled conference and finish an open or started one; a client never', () => {
    const state = (status: ConferenceInfo['status'], role: 'client' | 'specialist') => UX.screenFromState('at', 'cft', {
      conference: { ...conference(0, 60), status },
      participant: { user_id: role === 'client' ? 'p' : 'd', name: 'N', role },
      queue: null, media: null, serverTime: 1000, clientTime: 900,
    });
    assert.equal(state('scheduled', 'specialist').canOpen, true);
    assert.equal(state('scheduled', 'client').canOpen, false);
    assert.equal(state('open', 'specialist').canFinish, true);
    assert.equal(state('started', 'specialist').canFinish, true);
    assert.equal(state('started', 'client').canFinish, false);
    assert.equal(state('finished', 'specialist').canFinish, false);
    const s = state('started', 'client');
    assert.equal(s.conferenceToken, 'cft');
    assert.equal(s.userRole, 'client');
    assert.deepEqual(s.timerBlock, { serverTime: 1000, clientTime: 900 });
    assert.throws(() => state('paused' as ConferenceInfo['status'], 'client'), { name: 'APIError', code: 'client.invalid_response' });
  });
});

function conference(startsAt: number, durationSeconds: number): ConferenceInfo {
  return {
    id: 'cf_1', status: 'started', title: 'T', starts_at: startsAt, duration_seconds: durationSeconds, ends_at: startsAt + durationSeconds * 1000,
    vertical: 'medicine', language: 'ru', participants: [], created_by: { user_id: 'd', role: 'specialist' }, created_at: 0,
    opened_at: null, started_at: null, ended_at: null, end_reason: null, conversation_id: null, topic_id: null, version: 1, info_version: 1,
  };
}

describe('UX.timer: the countdown to the end', () => {
  test('hours, minutes and seconds left, on a clock that moves', () => {
    let now = 1_000_000;
    const conf = conference(now, 3725); // 1 h 2 min 5 s
    const t = UX.timer(conf, { serverTime: now, clientTime: now, now: () => now });
    assert.deepEqual(t.getCurrent(), { hours: 1, minutes: 2, seconds: 5, timerDelay: 1000, totalRemainSeconds: 3725 });
    now += 250;
    // getCurrent keeps the last value until updateTime.
    assert.equal(t.getCurrent().totalRemainSeconds, 3725);
    assert.deepEqual(t.updateTime(), { hours: 1, minutes: 2, seconds: 5, timerDelay: 750, totalRemainSeconds: 3725 });
    now += 750;
    assert.deepEqual(t.updateTime(), { hours: 1, minutes: 2, seconds: 4, timerDelay: 1000, totalRemainSeconds: 3724 });
    now += 3724 * 1000 - 1;
    assert.deepEqual(t.updateTime(), { hours: 0, minutes: 0, seconds: 1, timerDelay: 1, totalRemainSeconds: 1 });
    now += 1;
    assert.deepEqual(t.updateTime(), { hours: 0, minutes: 0, seconds: 0, timerDelay: 0, totalRemainSeconds: 0 });
    now += 60_000;
    assert.deepEqual(t.updateTime(), { hours: 0, minutes: 0, seconds: 0, timerDelay: 0, totalRemainSeconds: 0 }, 'never negative');
    assert.deepEqual(t.getCurrent(), t.updateTime());
  });

  test("the server's clock corrects the device's", () => {
    const server = 5_000_000;
    const device = server - 90_000; // the device is 90 s behind
    const conf = conference(server, 600);
    const t = UX.timer(conf, { serverTime: server, clientTime: device, now: () => device });
    assert.equal(t.getCurrent().totalRemainSeconds, 600);
    const naive = UX.timer(conf, { serverTime: device, clientTime: device, now: () => device });
    assert.equal(naive.getCurrent().totalRemainSeconds, 690);
  });

  test('the seed loop runs to zero and stops', () => {
    let now = 0;
    const t = UX.timer(conference(0, 3), { serverTime: 0, clientTime: 0, now: () => now });
    const shown: number[] = [];
    let cur = t.updateTime();
    for (let i = 0; i < 10 && cur.totalRemainSeconds > 0; i++) {
      shown.push(cur.totalRemainSeconds);
      now += cur.timerDelay; // as setTimeout(tick, cur.timerDelay) would
      cur = t.updateTime();
    }
    assert.deepEqual(shown, [3, 2, 1]);
    assert.equal(cur.totalRemainSeconds, 0);
  });

  test('formatTimer', () => {
    assert.equal(UX.formatTimer({ hours: 0, minutes: 4, seconds: 9 }), '04:09');
    assert.equal(UX.formatTimer({ hours: 1, minutes: 0, seconds: 5 }), '01:00:05');
  });
});

describe('UX.initConfConfigL10n: texts in four languages and two verticals', () => {
  const keysOf = (t: ConfTexts) => Object.keys(t).sort();
  const reference = keysOf(UX.texts('en', 'medicine'));

  for (const lang of ['ru', 'en', 'he', 'zh'] as const) {
    for (const vertical of ['medicine', 'general'] as const) {
      test(`${lang} / ${vertical}: every text, none empty, none left in another language`, () => {
        const config = UX.initConfConfigL10n({ lang, onJoined() {}, onLeft() {} }, vertical);
        assert.equal(config.lang, lang);
        assert.equal(config.vertical, vertical);
        assert.equal(config.dir, lang === 'he' ? 'rtl' : 'ltr');
        assert.deepEqual(keysOf(config.l10n), reference);
        for (const [key, text] of Object.entries(config.l10n)) {
          assert.ok(text.trim().length > 0, `${key} is empty`);
          if (lang === 'he') assert.match(text, /[\u0590-\u05ff]/, `${key} is Hebrew`);
          if (lang === 'ru') assert.match(text, /[а-яё]/i, `${key} is Russian`);
          if (lang === 'zh') assert.match(text, /[\u4e00-\u9fff]/, `${key} is Chinese`);
          if (lang === 'en') assert.doesNotMatch(text, /[^\u0000-\u024f…·]/, `${key} is English`);
        }
      });
    }
    test(`${lang}: the verticals speak differently (a doctor's appointment / a meeting)`, () => {
      const med = UX.texts(lang, 'medicine');
      const gen = UX.texts(lang, 'general');
      for (const key of ['title', 'pendingClient', 'pendingSpecialist', 'openButton', 'cancelled', 'finish', 'roleSpecialist', 'roleClient'] as const) {
        assert.notEqual(med[key], gen[key], `${lang} ${key}`);
      }
      // The texts shared by both verticals are the same.
      assert.equal(med.leave, gen.leave);
    });
  }

  test('the seed names and regional variants pick the language; unknown → English; unknown vertical → medicine', () => {
    assert.equal(UX.initConfConfigL10n({ lang: 'ru-ru' }, 'general').lang, 'ru');
    assert.equal(UX.initConfConfigL10n({ lang: 'he-IL' }).dir, 'rtl');
    assert.equal(UX.initConfConfigL10n({ lang: 'zh-CN' }).lang, 'zh');
    assert.equal(UX.initConfConfigL10n({ lang: 'fr' }).lang, 'en');
    assert.equal(UX.initConfConfigL10n({}).lang, 'en');
    assert.equal(UX.initConfConfigL10n({ lang: 'en' }, 'dentistry').vertical, 'medicine');
  });

  test('a few texts as people will read them', () => {
    assert.equal(UX.texts('ru', 'medicine').openButton, 'Открыть приём');
    assert.equal(UX.texts('ru', 'general').pendingSpecialist, 'Встреча ещё не открыта.');
    assert.equal(UX.formatText(UX.texts('en'), 'remaining', { time: '04:09' }), '04:09 left');
    assert.equal(UX.formatText(UX.texts('zh'), 'queue', { position: 2 }), '您在队列中排第 2 位');
    assert.equal(UX.formatText(UX.texts('he'), 'queue', {}), 'את/ה במקום {position} בתור', 'a missing value stays visible');
  });

  test('the config object is the one passed (the seed mutates it), callbacks kept', () => {
    const onJoined = () => {};
    const config = { lang: 'en', onJoined };
    const out = UX.initConfConfigL10n(config, 'medicine');
    assert.equal(out, config);
    assert.equal(out.onJoined, onJoined);
  });
});
