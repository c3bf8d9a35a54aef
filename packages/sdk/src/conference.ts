/**
 * Scheduled video conferences (seed 004, docs/conferences.md) with the seed's names:
 * `initHttpAPI`, `ConferenceModifyAPI`, `ConferenceAccessAPI`, `ConferenceSock`, `APIError`
 * and the page logic `UX` (`UX.ScreenEnum`, `UX.createScreen`, `UX.timer`,
 * `UX.initConfConfigL10n`, `UX.openConference`).
 */
import { createScreen, formatTimer, initConfConfigL10n, openConference, ScreenEnum, screenFor, screenFromState, timer } from './conference-ux.ts';
import { confDir, confLang, confTexts, formatConfText, CONF_LANGS, CONF_VERTICALS } from './conference-l10n.ts';

/** The seed's `MedMe.UX`. */
export const UX = {
  ScreenEnum,
  createScreen,
  screenFor,
  screenFromState,
  timer,
  formatTimer,
  initConfConfigL10n,
  openConference,
  /** The texts, for pages that draw more than the SDK does. */
  texts: confTexts,
  formatText: formatConfText,
  lang: confLang,
  dir: confDir,
  LANGS: CONF_LANGS,
  VERTICALS: CONF_VERTICALS,
} as const;

export {
  APIError,
  ConferenceAccessAPI,
  ConferenceModifyAPI,
  conferenceAccessAPI,
  conferenceModifyAPI,
  initHttpAPI,
  type ConferenceAccessState,
  type ConferenceChange,
  type ConferenceCreated,
  type ConferenceExchangeResult,
  type ConferenceHttpOptions,
  type ConferenceInfoInput,
  type ConferenceParticipantAccess,
} from './conference-api.ts';
export { ConferenceSock, conferenceSockUrl, conferenceWebSocketAPI, initWebSocketAPI, type ConferenceInfoCallback, type ConferenceQueueCallback, type ConferenceStatusCallback } from './conference-sock.ts';
export { JanusError, JanusVideoRoom, type JanusRemoteFeed, type JanusRoomEvents, type JanusRoomJoin } from './conference-janus.ts';
export { ScreenEnum, type ConfConfig, type ConferenceTimer, type OpenConference, type Screen, type ScreenName, type TimerBlock, type TimerValue } from './conference-ux.ts';
export { type ConfLang, type ConfTextKey, type ConfTexts, type ConfVertical } from './conference-l10n.ts';
