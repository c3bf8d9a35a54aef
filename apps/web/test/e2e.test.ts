/**
 * End to end, in a real browser (Debian's Chromium driven by playwright-core) against a real
 * Careline server: a doctor and a patient, each in their own browser context, sign in as the
 * demo users and chat in real time; unread counts and read receipts change; the patient goes
 * offline and back and gets what was missed (and loses nothing typed); the doctor ends a
 * consultation; every message type renders; a phone-sized screen; the Chinese UI.
 * Screenshots of the main screens go to apps/web/screenshots/ with `npm run screenshots`.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, BrowserContext, Locator, Page } from 'playwright-core';
import { startTestServer, type TestServer } from '@careline/server/testing';
import { launchChromium, screenshot, waitUntil, type DemoUser } from './support/browser.ts';
import { assertAccessible } from './support/axe.ts';

const DESKTOP = { width: 1280, height: 800 };
const TIMEOUT = 10_000;

const until = (check: () => Promise<void> | void, timeout = TIMEOUT) => waitUntil(check, timeout, 50);

const text = async (l: Locator) => (await l.count()) === 0 ? '' : (await l.first().innerText()).trim();

describe('the web client in a browser', () => {
  let t: TestServer;
  let browser: Browser;
  let demo: { conversation_id: string; users: DemoUser[] };
  let doctorCtx: BrowserContext;
  let patientCtx: BrowserContext;
  let doctor: Page;
  let patient: Page;
  const pageErrors: string[] = [];

  const token = (id: string) => demo.users.find((u) => u.id === id)!.token;
  const conversation = () => demo.conversation_id;
  const track = (page: Page, who: string) => {
    page.on('pageerror', (e) => pageErrors.push(`${who}: ${e.message}`));
    // The server's Content-Security-Policy must not block anything the client does.
    page.on('console', (m) => {
      if (/Content Security Policy/i.test(m.text())) pageErrors.push(`${who}: ${m.text()}`);
    });
  };

  /** Sends a message through REST as a demo user (as another app of the integrator would). */
  async function sendAs(userId: string, type: number, content: Record<string, unknown>): Promise<{ id: string; seq: number }> {
    const r = await t.call('POST', `/api/v2/sessions/${encodeURIComponent(conversation())}/messages`, { token: token(userId), body: { type, content } });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body.message;
  }

  async function newPage(opts: Parameters<Browser['newContext']>[0] = {}): Promise<{ ctx: BrowserContext; page: Page }> {
    // Reduced motion: no transitions half-way through in the screenshots.
    const ctx = await browser.newContext({ viewport: DESKTOP, locale: 'en-US', reducedMotion: 'reduce', ...opts });
    ctx.setDefaultTimeout(TIMEOUT);
    const page = await ctx.newPage();
    return { ctx, page };
  }

  const log = (page: Page) => page.getByTestId('message-log');
  const ownStatus = (page: Page, body: string) => log(page).locator('article.msg.mine', { hasText: body }).last();

  before(async () => {
    t = await startTestServer({ config: { demo: true } });
    browser = await launchChromium();
    const res = await fetch(`${t.url}/api/v2/demo/users`);
    demo = (await res.json()) as typeof demo;
  });

  after(async () => {
    await browser?.close();
    await t?.stop();
  });

  it('a doctor and a patient sign in as demo users and chat in real time', async () => {
    [{ ctx: doctorCtx, page: doctor }, { ctx: patientCtx, page: patient }] = await Promise.all([newPage(), newPage()]);
    track(doctor, 'doctor');
    track(patient, 'patient');

    await Promise.all([doctor.goto(t.url), patient.goto(t.url)]);
    await doctor.getByRole('button', { name: 'Sign in as Dr. Li Wei' }).waitFor();
    await screenshot(doctor, 'sign-in');
    await Promise.all([
      doctor.getByRole('button', { name: 'Sign in as Dr. Li Wei' }).click(),
      patient.getByRole('button', { name: 'Sign in as Zhang Min' }).click(),
    ]);

    const doctorItem = doctor.locator(`[data-conversation="${conversation()}"]`);
    await doctorItem.waitFor();
    // Titles are the viewer's: the doctor sees the patient's name, not the stored "Zhang Min · Dr. Li".
    await until(async () => assert.match(await text(doctorItem), /Zhang Min[\s\S]*Hello Dr\. Li/));
    await until(async () => assert.equal(await text(doctorItem.locator('.conversation-name')), 'Zhang Min'));
    // The patient's question and the consultation start are unread for the doctor.
    await until(async () => assert.match(await text(doctorItem.getByTestId('unread-badge')), /^2/));
    // Filters, as recent sessions of the family-doctor server: patients / colleagues.
    await doctor.getByRole('button', { name: 'Colleagues' }).click();
    await until(async () => assert.equal(await doctorItem.count(), 0));
    assert.match(await text(doctor.getByTestId('conversation-list')), /Dr\. Chen Jie/);
    assert.doesNotMatch(await text(doctor.getByTestId('conversation-list')), /Dr\. Li · Dr\. Chen/);
    await doctor.getByRole('button', { name: 'Patients' }).click();
    await doctorItem.waitFor();
    await doctor.getByRole('button', { name: 'All' }).click();
    await screenshot(doctor, 'conversation-list');

    // Keyboard: focus the conversation and open it with Enter.
    await doctorItem.focus();
    await doctor.keyboard.press('Enter');
    await doctor.waitForURL(`**/c/${encodeURIComponent(conversation())}`);
    await until(async () => assert.equal(await doctorItem.getByTestId('unread-badge').count(), 0));
    // The patient sees the doctor's name, never her own, in the list and the chat's title.
    const patientItem = patient.locator(`[data-conversation="${conversation()}"]`);
    await until(async () => assert.equal(await text(patientItem.locator('.conversation-name')), 'Dr. Li Wei'));
    await patientItem.click();
    await log(patient).getByText('Hello Dr. Li').waitFor();
    await until(async () => assert.equal(await text(patient.locator('#chat-title')), 'Dr. Li Wei'));
    await until(async () => assert.equal(await text(doctor.locator('#chat-title')), 'Zhang Min'));

    // Presence: each sees the other online.
    await doctor.locator('[data-testid="presence-dot"][data-online="true"]').waitFor();
    await patient.locator('[data-testid="presence-dot"][data-online="true"]').waitFor();

    // Typing indicator, then the message, live.
    await patient.getByTestId('composer').pressSequentially('I also feel dizzy');
    await until(async () => assert.match(await text(doctor.getByTestId('chat-subtitle')), /Zhang Min is typing/));
    await patient.getByTestId('composer').press('Enter');
    await log(doctor).getByText('I also feel dizzy').waitFor();
    await until(async () => assert.doesNotMatch(await text(doctor.getByTestId('chat-subtitle')), /typing/));
    // The doctor has the conversation open: the patient sees it read.
    await until(async () => assert.equal(await ownStatus(patient, 'I also feel dizzy').getAttribute('data-status'), 'read'));

    await doctor.getByTestId('composer').fill('Please measure it twice a day and send me the numbers.');
    await doctor.getByTestId('send').click();
    await log(patient).getByText('Please measure it twice a day').waitFor();
    await until(async () => assert.equal(await ownStatus(doctor, 'Please measure it twice a day').getAttribute('data-status'), 'read'));
    // Replying moved the consultation to "in progress".
    await until(async () => assert.equal(await doctor.getByTestId('topic-bar').getAttribute('data-state'), 'in_progress'));
    await screenshot(doctor, 'chat-desktop');
    await assertAccessible(doctor, 'doctor: chat');
    await assertAccessible(patient, 'patient: chat');
  });

  it('titles group conversations for the viewer: the given name, else the others\' names', async () => {
    const { api_key: apiKey } = await t.server.core.auth.createApp('demo', 'e2e-titles');
    for (const [id, role, name] of [['dr.wang', 'doctor', 'Dr. Wang'], ['nurse.li', 'staff', 'Nurse Li']]) {
      const r = await t.call('PUT', `/api/v2/management/users/${id}`, { apiKey, body: { role, name } });
      assert.equal(r.status, 200, JSON.stringify(r.body));
    }
    const open = async (body: Record<string, unknown>) => {
      const r = await t.call('POST', '/api/v2/sessions', { apiKey, body });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      return r.body.session as { id: string; name: string };
    };
    // No name given: the server stores seed 000's default ("Dr. Wang、Z…"), the same for all.
    const unnamed = await open({ session_type: 4, participants: ['dr.wang:doctor', 'pt.zhang:patient', 'dr.li:doctor', 'dr.chen:doctor', 'nurse.li:staff'] });
    assert.equal(unnamed.name, 'Dr. Wang、Z…');
    const named = await open({ session_type: 4, session_name: 'Hypertension club', participants: ['dr.li:doctor', 'pt.zhang:patient', 'dr.chen:doctor'] });
    // A one-to-one conversation opened as in the README: the other party's name.
    const p2p = await open({ session_type: 2, participants: ['dr.wang:doctor', 'pt.zhang:patient'] });
    const nameIn = (page: Page, id: string) => text(page.locator(`[data-conversation="${id}"] .conversation-name`));
    await until(async () => assert.equal(await nameIn(patient, unnamed.id), 'Dr. Chen Jie, Dr. Li Wei +2'));
    await until(async () => assert.equal(await nameIn(doctor, unnamed.id), 'Dr. Chen Jie, Dr. Wang +2'));
    await until(async () => assert.equal(await nameIn(patient, named.id), 'Hypertension club'));
    await until(async () => assert.equal(await nameIn(doctor, named.id), 'Hypertension club'));
    await until(async () => assert.equal(await nameIn(patient, p2p.id), 'Dr. Wang'));
    // Open in the chat: the same title in the header.
    await patient.locator(`[data-conversation="${unnamed.id}"]`).click();
    await until(async () => assert.equal(await text(patient.locator('#chat-title')), 'Dr. Chen Jie, Dr. Li Wei +2'));
    await patient.locator(`[data-conversation="${conversation()}"]`).click();
    await log(patient).getByText('Please measure it twice a day').waitFor();
  });

  it('unread counts and read receipts follow what each side has seen', async () => {
    // The patient leaves the conversation; the doctor writes twice.
    await patient.getByTestId('nav-consultations').click();
    await patient.getByTestId('consultations').waitFor();
    // Her own card names her doctor, not herself.
    const card = patient.locator('[data-topic="demo-consult-1"]');
    await until(async () => assert.match(await text(card), /Blood pressure follow-up[\s\S]*Doctor: Dr\. Li Wei/));
    assert.doesNotMatch(await text(card), /Zhang Min/);
    await assertAccessible(patient, 'patient: consultations');
    await sendAs('dr.li', 1, { text: 'Did you take your medicine today?' });
    await doctor.getByTestId('composer').fill('And how did you sleep?');
    await doctor.getByTestId('composer').press('Enter');
    await until(async () => assert.match(await text(patient.getByTestId('nav-chats-badge')), /^2/));
    await until(async () => assert.equal(await ownStatus(doctor, 'And how did you sleep?').getAttribute('data-status'), 'sent'));
    assert.equal(await patient.title(), '(2) Careline');

    await patient.getByTestId('nav-chats').click();
    const item = patient.locator(`[data-conversation="${conversation()}"]`);
    await until(async () => assert.match(await text(item.getByTestId('unread-badge')), /^2/));
    assert.match(await text(item), /Dr\. Li Wei: And how did you sleep\?/);
    await item.click();
    await log(patient).getByText('And how did you sleep?').waitFor();
    await until(async () => assert.equal(await item.getByTestId('unread-badge').count(), 0));
    assert.equal(await patient.getByTestId('nav-chats-badge').count(), 0);
    // The doctor's receipts turn to "read".
    await until(async () => assert.equal(await ownStatus(doctor, 'And how did you sleep?').getAttribute('data-status'), 'read'));
  });

  it('the patient goes offline and back: gets what was missed, in order, and loses nothing typed', async () => {
    await patientCtx.setOffline(true);
    const banner = patient.getByTestId('connection-banner');
    await until(async () => assert.match(await text(banner), /You are offline/));
    await sendAs('dr.li', 1, { text: 'Missed message one' });
    await sendAs('dr.li', 1, { text: 'Missed message two' });
    await patient.getByTestId('composer').fill('Written while offline');
    await patient.getByTestId('composer').press('Enter');
    await until(async () => assert.equal(await ownStatus(patient, 'Written while offline').getAttribute('data-status'), 'pending'));
    await patient.getByTestId('composer').fill('A draft I have not sent');
    await screenshot(patient, 'offline-banner');
    assert.equal(await log(patient).getByText('Missed message one').count(), 0);

    await patientCtx.setOffline(false);
    await until(async () => assert.equal(await banner.count(), 0));
    await log(patient).getByText('Missed message two').waitFor();
    const texts = await log(patient).locator('article.msg').allInnerTexts();
    const one = texts.findIndex((s) => s.includes('Missed message one'));
    const two = texts.findIndex((s) => s.includes('Missed message two'));
    assert.ok(one >= 0 && two > one, 'missed messages in order');
    assert.equal(texts.filter((s) => s.includes('Missed message one')).length, 1, 'each once');
    await log(doctor).getByText('Written while offline').waitFor();
    await until(async () => assert.equal(await ownStatus(patient, 'Written while offline').getAttribute('data-status'), 'read'));
    assert.equal(await patient.getByTestId('composer').inputValue(), 'A draft I have not sent');

    // A reload (or a shared link) opens the same conversation, with the draft.
    await patient.reload();
    await log(patient).getByText('Missed message two').waitFor();
    assert.equal(await patient.getByTestId('composer').inputValue(), 'A draft I have not sent');
    await patient.getByTestId('composer').fill('');
  });

  it('a doctor sees consultations by state and ends one; the patient sees it end and starts another', async () => {
    await doctor.getByTestId('nav-consultations').click();
    const panel = doctor.getByTestId('consultations');
    await panel.waitFor();
    await until(async () => assert.equal(await text(panel.getByTestId('count-in_progress')), '1'));
    assert.equal(await text(panel.getByTestId('count-unreplied')), '0');
    await panel.getByRole('tab', { name: /In progress/ }).click();
    const topic = panel.locator('[data-topic="demo-consult-1"]');
    await topic.waitFor();
    assert.match(await text(topic), /Blood pressure follow-up[\s\S]*Patient: Zhang Min/);
    await screenshot(doctor, 'consultations');

    await topic.getByRole('button', { name: /End consultation/ }).click();
    await topic.getByRole('button', { name: 'Yes, end it' }).click();
    await until(async () => assert.equal(await text(panel.getByTestId('count-in_progress')), '0'));
    assert.equal(await text(panel.getByTestId('count-replied')), '1');

    // The patient, in the conversation, sees it end.
    await log(patient).getByText('Consultation ended').waitFor();
    await until(async () => assert.equal(await patient.getByTestId('topic-bar').getAttribute('data-state'), 'replied'));
    // One line says so (the server's end message and its closing notice are shown as one).
    assert.equal(await log(patient).locator('.system', { hasText: /ended/ }).count(), 1);
    assert.equal(await log(patient).getByText('This consultation has ended.').count(), 0);
    assert.equal(await text(patient.locator(`[data-conversation="${conversation()}"] .conversation-preview`)), 'Consultation ended');
    // The patient cannot write into an ended consultation; a notice says why and how to go on.
    assert.equal(await patient.getByTestId('composer').isDisabled(), true);
    assert.equal(await patient.getByTestId('send').isDisabled(), true);
    assert.match(await text(patient.getByTestId('composer-closed')), /consultation has ended[\s\S]*Start a consultation/i);
    await assertAccessible(patient, 'patient: ended consultation');

    // …and starts a new one; the doctor's "waiting for reply" count goes up, live.
    await patient.getByRole('button', { name: 'Start a consultation' }).click();
    await patient.getByLabel('What would you like to ask about?').fill('Dizziness in the morning');
    await patient.getByRole('button', { name: 'Start', exact: true }).click();
    await log(patient).getByText('Consultation started: Dizziness in the morning').waitFor();
    await until(async () => assert.equal(await patient.getByTestId('composer').isDisabled(), false));
    assert.equal(await patient.getByTestId('composer-closed').count(), 0);
    await until(async () => assert.equal(await text(panel.getByTestId('count-unreplied')), '1'));
    await until(async () => assert.match(await text(doctor.getByTestId('nav-consultations-badge')), /^1/));
  });

  it('renders every kind of message, and a recalled one as a notice', async () => {
    // The doctor goes back to the conversation.
    await doctor.getByTestId('nav-chats').click();
    await doctor.locator(`[data-conversation="${conversation()}"]`).click();
    await log(doctor).getByText('Dizziness in the morning').waitFor();
    await until(async () => assert.match(await text(doctor.getByTestId('nav-consultations-badge')), /^1/));
    const img = '/favicon.svg';
    await sendAs('dr.li', 2, { storageId: 'img-1', url: img, thumbnail: img, thumbnailWidth: 120, thumbnailHeight: 120 });
    await sendAs('dr.li', 3, { storageId: 'voice-1', duration: 12 });
    await sendAs('dr.li', 12, { storageId: 'video-1', duration: 75, fileName: 'exercise.mp4', thumbnail: img });
    await sendAs('dr.li', 1000, { storageId: 'file-1', fileName: 'lab-results.pdf', fileSize: 254_000, mimeType: 'application/pdf', url: '/lab-results.pdf' });
    await sendAs('dr.li', 1001, { title: 'Living with hypertension', content: 'A guide from the clinic.', url: 'https://example.org/guide', appName: 'Clinic library' });
    await sendAs('dr.li', 24, { title: 'Diagnosis', content: 'Essential hypertension, grade 1', data: { code: 'I10', doctor: 'Dr. Li Wei' } });
    await sendAs('dr.li', 18, { user_id: 'dr.chen', name: 'Dr. Chen Jie', role: 'doctor', title: 'Cardiologist' });
    await sendAs('dr.li', 1100, { kind: 'bp_chart', data: { week: 47 } });
    await sendAs('dr.li', 5, { title: 'Not a real link', url: 'javascript:alert(1)' });

    const l = log(patient);
    await l.getByText('Custom message: bp_chart').waitFor();
    // The doctor replied: nothing waits for a reply any more.
    await until(async () => assert.equal(await doctor.getByTestId('nav-consultations-badge').count(), 0));
    await l.locator('img.image').first().waitFor();
    assert.match(await text(l.locator('.voice').last()), /Voice message · 0:12/);
    assert.match(await text(l.locator('.video').last()), /Video · 1:15 · exercise\.mp4/);
    assert.match(await text(l.locator('.file-card').last()), /lab-results\.pdf[\s\S]*248 KB · application\/pdf/);
    assert.match(await text(l.locator('.link-card', { hasText: 'Living with' })), /Clinic library[\s\S]*Living with hypertension[\s\S]*A guide from the clinic/i);
    // The article card opens its page (a new tab), from its title.
    const article = l.locator('.link-card', { hasText: 'Living with' });
    await patientCtx.route('https://example.org/**', (r) => r.fulfill({ contentType: 'text/plain', body: 'ok' }));
    const [tab] = await Promise.all([patient.waitForEvent('popup'), article.getByRole('link', { name: /Living with hypertension/ }).first().click()]);
    assert.equal(tab.url(), 'https://example.org/guide');
    await tab.close();
    for (const a of await article.locator('a').all()) {
      assert.equal(await a.getAttribute('href'), 'https://example.org/guide');
      assert.equal(await a.getAttribute('target'), '_blank');
      assert.equal(await a.getAttribute('rel'), 'noopener noreferrer');
    }
    assert.match(await text(l.locator('.business-card').last()), /Diagnosis[\s\S]*Essential hypertension[\s\S]*I10/i);
    assert.match(await text(l.locator('.contact-card').last()), /Contact card[\s\S]*Dr\. Chen Jie[\s\S]*Cardiologist/i);
    assert.match(await text(l.locator('.system.type-6').last()), /Consultation started/);
    // Only http(s) links are followed.
    await l.getByText('Not a real link').waitFor();
    assert.equal(await l.locator('.link-card', { hasText: 'Not a real link' }).locator('a').count(), 0);

    // Links in text are links: http(s) only, to a new tab, never HTML from the message.
    await sendAs('dr.li', 1, { text: 'Read https://example.org/bp?week=47&x=1. Not javascript:alert(1) nor <b>bold</b> <a href="https://evil.example">x</a> or ftp://example.org/f' });
    const linked = l.locator('article.msg', { hasText: 'Read https://example.org/bp' }).last();
    await linked.waitFor();
    const links = linked.locator('.bubble a');
    assert.equal(await links.count(), 1);
    assert.equal(await links.getAttribute('href'), 'https://example.org/bp?week=47&x=1');
    assert.equal(await links.innerText(), 'https://example.org/bp?week=47&x=1');
    assert.equal(await links.getAttribute('target'), '_blank');
    assert.equal(await links.getAttribute('rel'), 'noopener noreferrer');
    assert.equal(await linked.locator('b').count(), 0, 'no HTML from a message');
    assert.match(await text(linked.locator('.bubble')), /<b>bold<\/b> <a href="https:\/\/evil\.example">x<\/a>/);

    // Emoji are drawn in colour (a colour emoji font is installed), not as empty boxes.
    await sendAs('dr.li', 1, { text: 'Well done 👍😀' });
    await l.getByText('Well done 👍😀').waitFor();
    const coloured = await patient.evaluate(async () => {
      const font = `32px ${getComputedStyle(document.body).fontFamily}`;
      await document.fonts.load(font, '😀');
      const c = document.createElement('canvas');
      c.width = c.height = 40;
      const g = c.getContext('2d')!;
      g.font = font;
      g.textBaseline = 'top';
      g.fillText('😀', 2, 2);
      const d = g.getImageData(0, 0, 40, 40).data;
      let n = 0;
      for (let i = 0; i < d.length; i += 4) if (d[i + 3]! > 0 && Math.max(d[i]!, d[i + 1]!, d[i + 2]!) - Math.min(d[i]!, d[i + 1]!, d[i + 2]!) > 60) n++;
      return n;
    });
    assert.ok(coloured > 50, `emoji drawn in colour (${coloured} coloured pixels)`);

    // Recall: the patient takes a message back; the doctor sees a notice in its place.
    await patient.getByTestId('composer').fill('Sent to the wrong person');
    await patient.getByTestId('composer').press('Enter');
    await log(doctor).getByText('Sent to the wrong person').waitFor();
    await until(async () => assert.equal(await ownStatus(patient, 'Sent to the wrong person').getAttribute('data-status'), 'read'));
    // It asks first; cancelling keeps the message.
    await ownStatus(patient, 'Sent to the wrong person').getByRole('button', { name: 'Recall' }).click();
    await ownStatus(patient, 'Sent to the wrong person').getByRole('button', { name: 'Cancel' }).click();
    assert.equal(await log(doctor).getByText('Sent to the wrong person').count(), 1);
    assert.equal(await l.getByText('You recalled a message').count(), 0);
    await ownStatus(patient, 'Sent to the wrong person').getByRole('button', { name: 'Recall' }).click();
    await ownStatus(patient, 'Sent to the wrong person').getByRole('button', { name: 'Yes, recall it' }).click();
    await l.getByText('You recalled a message').waitFor();
    await log(doctor).getByText('Zhang Min recalled a message').waitFor();
    assert.equal(await log(doctor).getByText('Sent to the wrong person').count(), 0);
    // A tall window, to see every kind at once.
    await patient.setViewportSize({ width: 1280, height: 1900 });
    await l.evaluate((el) => el.scrollTo(0, el.scrollHeight));
    await screenshot(patient, 'message-types');
    await patient.setViewportSize(DESKTOP);
  });

  it('shows notifications in an inbox, live, with the unread count', async () => {
    const { api_key: apiKey } = await t.server.core.auth.createApp('demo', 'e2e');
    const notify = async (kind: string, title: string, body: string, data?: Record<string, unknown>) => {
      const r = await t.call('POST', '/api/v2/management/notifications', { apiKey, body: { kind, target: { user: 'pt.zhang' }, title, body, ...(data ? { data } : {}) } });
      assert.equal(r.status, 200, JSON.stringify(r.body));
    };
    await notify('S2C_SIGNED_PUSH', 'Your family-doctor contract is signed', 'Dr. Li Wei is now your family doctor.');
    await until(async () => assert.match(await text(patient.getByTestId('nav-inbox-badge')), /^1/));
    await patient.getByTestId('nav-inbox').click();
    const inbox = patient.getByTestId('inbox');
    await inbox.locator('.notification-title', { hasText: 'Your family-doctor contract is signed' }).waitFor();
    await notify('S2C_RESERVATION_PUSH', 'Appointment confirmed', 'Tuesday 9:30, Room 204, Community Health Centre.', { url: 'https://example.org/appointments/1' });
    await inbox.locator('.notification-title', { hasText: 'Appointment confirmed' }).waitFor();
    await until(async () => assert.match(await text(inbox.getByTestId('inbox-unread')), /^2/));
    const items = await inbox.locator('[data-notification]').allInnerTexts();
    assert.match(items[0]!, /Appointment[\s\S]*Appointment confirmed/, 'newest first');
    assert.match(items[1]!, /Care contract signed[\s\S]*Your family-doctor contract is signed/);
    // A kind of the integrator's own shows a readable name, not its code.
    for (const kind of ['LAB_RESULT_PUSH', 'FOLLOW_UP_CALL']) {
      const r = await t.call('PUT', `/api/v2/management/notification-kinds/${kind}`, { apiKey, body: { mode: 'each' } });
      assert.equal(r.status, 200, JSON.stringify(r.body));
    }
    await notify('LAB_RESULT_PUSH', 'Your HbA1c result is ready', '6.1 %');
    await notify('FOLLOW_UP_CALL', 'We will call you on Friday', 'About your blood pressure.');
    await inbox.locator('.notification-title', { hasText: 'We will call you on Friday' }).waitFor();
    const lab = await text(inbox.locator('[data-notification]', { hasText: 'HbA1c' }));
    assert.match(lab, /Lab result ·/);
    assert.doesNotMatch(lab, /LAB_RESULT_PUSH/);
    const call = await text(inbox.locator('[data-notification]', { hasText: 'call you on Friday' }));
    assert.match(call, /Follow up call ·/);
    assert.doesNotMatch(call, /FOLLOW_UP_CALL/);
    // A kind registered with names shows the name in the reader's language, from the server.
    const named = await t.call('PUT', '/api/v2/management/notification-kinds/VACCINE_DUE_PUSH', {
      apiKey, body: { mode: 'each', display_name: 'Vaccination', display_names: { en: 'Vaccination reminder', 'zh-CN': '疫苗接种提醒' } },
    });
    assert.equal(named.status, 200, JSON.stringify(named.body));
    await notify('VACCINE_DUE_PUSH', 'Your flu shot is due', 'Any weekday morning.');
    const vaccine = inbox.locator('[data-notification]', { hasText: 'flu shot' });
    await vaccine.waitFor();
    await until(async () => assert.match(await text(vaccine), /Vaccination reminder ·/));
    assert.doesNotMatch(await text(vaccine), /VACCINE_DUE_PUSH|Vaccine due/, 'not the code, nor the code in words');
    await screenshot(patient, 'inbox');
    await assertAccessible(patient, 'patient: inbox');

    await inbox.locator('[data-notification]', { hasText: 'contract is signed' }).getByRole('button', { name: /Mark as read/ }).click();
    await until(async () => assert.match(await text(inbox.getByTestId('inbox-unread')), /^4/));
    await inbox.getByRole('button', { name: 'Mark all as read' }).click();
    await until(async () => assert.equal(await patient.getByTestId('nav-inbox-badge').count(), 0));
    assert.equal(await inbox.locator('[data-unread="true"]').count(), 0);

    // Back to the conversation for what follows.
    await patient.getByTestId('nav-chats').click();
    await patient.locator(`[data-conversation="${conversation()}"]`).click();
    await log(patient).getByText('Not a real link').waitFor();
  });

  it('pages back through history as the reader scrolls up', async () => {
    for (let i = 1; i <= 45; i++) await sendAs('dr.li', 1, { text: `History line ${i}` });
    // A reload shows only the newest page; scrolling up brings the older ones, down to the first.
    await patient.reload();
    const l = log(patient);
    await l.getByText('History line 45').waitFor();
    assert.equal(await l.getByText('History line 1', { exact: true }).count(), 0, 'only the newest page at first');
    await until(async () => {
      await l.evaluate((el) => el.scrollTo(0, 0));
      assert.equal(await l.getByText('Hello Dr. Li').count(), 1);
    }, 15_000);
    assert.equal(await l.getByText('This is the beginning of the conversation.').count(), 1);
    const lines = (await l.locator('article.msg').allInnerTexts()).flatMap((s) => /History line (\d+)/.exec(s)?.[1] ?? []).map(Number);
    assert.deepEqual(lines, Array.from({ length: 45 }, (_, i) => i + 1), 'every line once, in order');
  });

  it('works on a phone-sized screen, opened from the host\'s page with #token=…', async () => {
    const { ctx, page } = await newPage({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 });
    track(page, 'patient (phone)');
    // A deep link to the conversation, signed in by the host's page.
    await page.goto(`${t.url}/c/${encodeURIComponent(conversation())}#token=${token('pt.zhang')}`);
    await log(page).getByText('History line 45').waitFor();
    assert.equal(new URL(page.url()).hash, '', 'the token is taken out of the address');
    assert.equal(await page.getByTestId('conversation-list').isVisible(), false, 'the chat alone on a phone');
    await page.getByTestId('composer').fill('Typed on my phone');
    await page.getByTestId('send').tap();
    await log(patient).getByText('Typed on my phone').waitFor();
    // The patient's older window is told that the account signed in again on a device of its
    // kind (the tenant's default `notify` policy), stays connected, and the notice goes away.
    const elsewhere = patient.getByTestId('elsewhere-banner');
    await elsewhere.waitFor();
    assert.match(await elsewhere.innerText(), /signed in on another/);
    await elsewhere.getByRole('button', { name: 'Dismiss' }).click();
    await until(async () => assert.equal(await elsewhere.count(), 0));
    assert.equal(await patient.getByTestId('connection-banner').count(), 0, 'still connected');
    // The chat alone on a phone has the page's heading: the conversation's title.
    const heading = page.getByRole('heading', { level: 1 });
    assert.equal(await heading.count(), 1);
    await until(async () => assert.equal(await text(heading), 'Dr. Li Wei'));
    assert.equal(await heading.isVisible(), true);
    // The composer's focus ring is the accent colour, not the error-like orange.
    await page.getByTestId('composer').focus();
    const ring = await page.getByTestId('composer').evaluate((el) => {
      const s = getComputedStyle(el);
      return { outline: s.outlineColor, accent: getComputedStyle(document.documentElement).getPropertyValue('--primary').trim() };
    });
    assert.equal(ring.outline, 'rgb(15, 95, 168)', `focus ring ${ring.outline}, accent ${ring.accent}`);
    await assertAccessible(page, 'patient (phone): chat');
    await screenshot(page, 'phone-chat');
    await page.getByRole('button', { name: 'Back to chats' }).tap();
    const item = page.locator(`[data-conversation="${conversation()}"]`);
    await item.waitFor();
    assert.equal(await page.getByTestId('chat').count(), 0, 'the list alone on a phone');
    await screenshot(page, 'phone-list');
    await ctx.close();
  });

  it('speaks Chinese to a Chinese browser, and switches language', async () => {
    const { ctx, page } = await newPage({ locale: 'zh-CN' });
    track(page, 'doctor (zh)');
    await page.goto(t.url);
    await page.getByRole('heading', { name: '登录' }).waitFor();
    assert.equal(await page.locator('html').getAttribute('lang'), 'zh-CN');
    await page.getByRole('button', { name: '以 Dr. Li Wei 登录' }).click();
    await page.getByRole('heading', { name: '会话' }).waitFor();
    await page.locator(`[data-conversation="${conversation()}"]`).click();
    await log(page).getByText('Typed on my phone').waitFor();
    await page.getByText('问诊：Dizziness in the morning').waitFor();
    await screenshot(page, 'chinese');
    // Pinning a conversation puts it first.
    const colleagues = page.locator('[data-conversation]').filter({ has: page.locator('.conversation-name', { hasText: /^Dr\. Chen Jie$/ }) });
    await colleagues.click();
    await page.getByRole('button', { name: '置顶' }).click();
    await until(async () => assert.match(await text(page.locator('[data-conversation]').first()), /Dr\. Chen Jie[\s\S]*已置顶/));
    assert.equal(await page.getByRole('button', { name: '置顶' }).getAttribute('aria-pressed'), 'true');
    await page.getByLabel('语言').selectOption('en');
    await page.getByRole('heading', { name: 'Chats' }).waitFor();
    assert.equal(await page.locator('html').getAttribute('lang'), 'en');
    // Signing out ends the session: back to the sign-in page, in the language chosen.
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    await ctx.close();
  });

  it('refuses a bad token and says why', async () => {
    const { ctx, page } = await newPage();
    await page.goto(`${t.url}/#token=not-a-token`);
    await until(async () => assert.match(await text(page.getByRole('alert')), /not valid/));
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    await ctx.close();
  });

  it('raised no errors in any page (nor Content-Security-Policy violations)', () => {
    assert.deepEqual(pageErrors, []);
  });
});
