/**
 * The conference page's logic (seed 004's `UX`): which screen to show for the conference's
 * status and the user's role, the countdown, the texts, and entering the media room.
 *
 * ```ts
 * const screen = await UX.createScreen(accessAPI, accessToken);
 * if (screen.name === UX.ScreenEnum.Started) {
 *   const config = UX.initConfConfigL10n({ lang: 'ru', onJoined() {}, onLeft() {} }, 'medicine');
 *   await UX.openConference(accessAPI, screen, config);
 * }
 * ```
 */
import type {
  ConferenceInfo,
  ConferenceMedia,
  ConferenceParticipantView,
  ConferenceQueue,
  ConferenceRole,
  ConferenceStatus,
} from '@careline/protocol';
import { APIError, type ConferenceAccessAPI, type ConferenceAccessState } from './conference-api.ts';
import { JanusVideoRoom, type JanusRemoteFeed } from './conference-janus.ts';
import { confDir, confLang, confTexts, confVertical, type ConfLang, type ConfTexts, type ConfVertical } from './conference-l10n.ts';

/** The pages of a conference link (seed 004's `UX.ScreenEnum`). */
export const ScreenEnum = {
  /** The link is wrong, expired or revoked (401), or there is none (404). */
  _4xx: '4xx',
  /** Not opened yet; the user is a client: "the meeting has not started yet". */
  PendingClient: 'pending-client',
  /** Not opened yet; the user is a specialist: "not open yet" and the *open* button. */
  PendingSpecialist: 'pending-specialist',
  /** Open for joining; the user is a client. */
  JoinClient: 'join-client',
  /** Open for joining; the user is a specialist. */
  JoinSpecialist: 'join-specialist',
  /** Cancelled. */
  Cancelled: 'cancelled',
  /** Finished (by the specialist, the booking system, or at the end of its time). */
  Finish: 'finish',
  /** In progress: open the conference (`openConference`). */
  Started: 'started',
} as const;

export type ScreenName = (typeof ScreenEnum)[keyof typeof ScreenEnum];

/** The screen for a status and a role; `null` for a status this SDK does not know. */
export function screenFor(status: ConferenceStatus | string, role: ConferenceRole | string): ScreenName | null {
  const specialist = role === 'specialist';
  switch (status) {
    case 'scheduled':
      return specialist ? ScreenEnum.PendingSpecialist : ScreenEnum.PendingClient;
    case 'open':
      return specialist ? ScreenEnum.JoinSpecialist : ScreenEnum.JoinClient;
    case 'started':
      return ScreenEnum.Started;
    case 'finished':
      return ScreenEnum.Finish;
    case 'cancelled':
      return ScreenEnum.Cancelled;
    default:
      return null;
  }
}

/** What the countdown needs besides the conference: the server's clock when the page learnt it. */
export interface TimerBlock {
  /** The server's clock (ms) at `clientTime`. */
  serverTime: number;
  /** This device's `Date.now()` when the server's answer arrived. */
  clientTime: number;
  /** This device's clock (default `Date.now`). */
  now?: () => number;
}

/** The page of a conference link. */
export interface Screen {
  name: ScreenName;
  /** For `_4xx`: 401 (bad link) or 404 (no link or no conference). */
  status?: number;
  /** The error behind `_4xx`. */
  error?: APIError;
  accessToken: string;
  /** The conference token (every screen but `_4xx`): opens, joins, finishes; it enters a started conference. */
  conferenceToken?: string;
  conferenceTokenExpiresAt?: number;
  /** The conference as the server gave it (the seed's `confInfo`). */
  confInfo?: ConferenceInfo;
  participant?: ConferenceParticipantView;
  userRole?: ConferenceRole;
  queue?: ConferenceQueue | null;
  media?: ConferenceMedia | null;
  timerBlock?: TimerBlock;
  /** Specialist's controls: open (PendingSpecialist) and finish (Join/Started). */
  canOpen?: boolean;
  canFinish?: boolean;
}

/** The screen for a conference as a participant sees it (after exchange, info or an action). */
export function screenFromState(accessToken: string, conferenceToken: string, state: ConferenceAccessState, expiresAt?: number): Screen {
  const { conference, participant } = state;
  const name = screenFor(conference.status, participant.role);
  if (!name) throw new APIError('client.invalid_response', `Unknown conference status ${JSON.stringify(conference.status)}`);
  const specialist = participant.role === 'specialist';
  return {
    name,
    accessToken,
    conferenceToken,
    ...(expiresAt !== undefined ? { conferenceTokenExpiresAt: expiresAt } : {}),
    confInfo: conference,
    participant,
    userRole: participant.role,
    queue: state.queue,
    media: state.media,
    timerBlock: { serverTime: state.serverTime, clientTime: state.clientTime },
    canOpen: specialist && conference.status === 'scheduled',
    canFinish: specialist && (conference.status === 'open' || conference.status === 'started'),
  };
}

/**
 * Exchanges the access token and gives the screen to show (seed: `UX.createScreen`).
 * A missing token: `_4xx` 404; a refused one: `_4xx` 401. Other failures (network, 5xx) throw.
 */
export async function createScreen(accessAPI: ConferenceAccessAPI, accessToken: string): Promise<Screen> {
  if (!accessToken) return { name: ScreenEnum._4xx, status: 404, accessToken: '' };
  try {
    const r = await accessAPI.exchange(accessToken);
    return screenFromState(accessToken, r.conferenceToken, r, r.expiresAt);
  } catch (err) {
    if (err instanceof APIError && (err.status === 401 || err.status === 404)) {
      return { name: ScreenEnum._4xx, status: err.status, error: err, accessToken };
    }
    throw err;
  }
}

/** The remaining time as the seed's timer gives it. */
export interface TimerValue {
  hours: number;
  minutes: number;
  seconds: number;
  /** When to call `updateTime()` next (ms): at the next change of the seconds; 0 once over. */
  timerDelay: number;
  totalRemainSeconds: number;
}

export interface ConferenceTimer {
  /** Recomputes the remaining time from the clock and returns it. */
  updateTime(): TimerValue;
  /** The value of the last `updateTime()`. */
  getCurrent(): TimerValue;
}

/**
 * The countdown to the end of the conference (`confInfo.ends_at`), on the server's clock
 * (`timerBlock` corrects this device's): seed `UX.timer(uxScreen.confInfo, uxScreen.timerBlock)`.
 */
export function timer(confInfo: Pick<ConferenceInfo, 'ends_at'>, timerBlock?: TimerBlock): ConferenceTimer {
  const now = timerBlock?.now ?? (() => Date.now());
  const offset = timerBlock ? timerBlock.serverTime - timerBlock.clientTime : 0;
  let current: TimerValue;
  const compute = (): TimerValue => {
    const remainMs = Math.max(0, confInfo.ends_at - (now() + offset));
    const total = Math.ceil(remainMs / 1000);
    return {
      hours: Math.floor(total / 3600),
      minutes: Math.floor((total % 3600) / 60),
      seconds: total % 60,
      timerDelay: total === 0 ? 0 : remainMs % 1000 || 1000,
      totalRemainSeconds: total,
    };
  };
  current = compute();
  return {
    updateTime() {
      current = compute();
      return current;
    },
    getCurrent() {
      return current;
    },
  };
}

/** `01:05:09`, or `05:09` under an hour. */
export function formatTimer(v: Pick<TimerValue, 'hours' | 'minutes' | 'seconds'>): string {
  const two = (n: number) => String(n).padStart(2, '0');
  return v.hours > 0 ? `${two(v.hours)}:${two(v.minutes)}:${two(v.seconds)}` : `${two(v.minutes)}:${two(v.seconds)}`;
}

/** How the conference opens (seed's `confConfig`). */
export interface ConfConfig {
  /** `ru`, `en`, `he` or `zh` (`ru-RU`, `he-IL`, `zh-CN`… accepted). */
  lang?: string;
  /** Set by `initConfConfigL10n`. */
  l10n?: ConfTexts;
  dir?: 'ltr' | 'rtl';
  vertical?: ConfVertical;
  /** This user joined the room (their media is being sent). */
  onJoined?: () => void;
  /** This user left the room (by `leave()`, or the room ended). */
  onLeft?: () => void;
  /** This page's camera and microphone, once they are on. */
  onLocalStream?: (stream: MediaStream) => void;
  /** Another participant's media started. */
  onRemoteFeed?: (feed: JanusRemoteFeed) => void;
  /** Another participant left. */
  onRemoteFeedGone?: (id: number | string) => void;
  /** The camera or microphone could not be used: the page joins to watch and listen only. */
  onMediaError?: (error: unknown) => void;
  /** What to ask the camera and microphone for (default: both). */
  mediaConstraints?: MediaStreamConstraints;
  /** Where the SDK draws the videos itself (optional: an app may draw them from the callbacks). */
  container?: HTMLElement;
}

/**
 * Puts the texts of `config.lang` and `vertical` into `config.l10n`, and the writing direction
 * (`rtl` for Hebrew) into `config.dir` (seed: `UX.initConfConfigL10n(confConfig, vertical)`).
 */
export function initConfConfigL10n<C extends ConfConfig>(config: C, vertical: ConfVertical | string = 'medicine'): C & { l10n: ConfTexts; dir: 'ltr' | 'rtl'; lang: ConfLang; vertical: ConfVertical } {
  const lang = confLang(config.lang);
  const v = confVertical(vertical);
  return Object.assign(config, { lang, vertical: v, l10n: confTexts(lang, v), dir: confDir(lang) });
}

/** This page in a started conference. */
export interface OpenConference {
  room: JanusVideoRoom;
  localStream: MediaStream | undefined;
  /** Leaves the room (hangs up, stops the camera, tells the server); calls `onLeft`. */
  leave(): Promise<void>;
}

/**
 * Enters a started conference (seed: `UX.openConference(accessAPI, uxScreen, confConfig)`):
 * joins it on the server (which gives the Janus room, PIN and token of this participant),
 * turns the camera and microphone on, publishes them in the room and receives the others'.
 */
export async function openConference(accessAPI: ConferenceAccessAPI, screen: Screen, config: ConfConfig = {}): Promise<OpenConference> {
  if (screen.name !== ScreenEnum.Started || !screen.conferenceToken) {
    throw new APIError('conference.invalid_state', `openConference needs the Started screen (this is ${screen.name}).`, { status: 409 });
  }
  const token = screen.conferenceToken;
  const joined = await accessAPI.join(token);
  const media = joined.media;
  if (!media) throw new APIError('conference.media_unavailable', 'The server gave no media room for this conference.', { status: 503 });
  if (!media.janus.ws_url) {
    throw new APIError('conference.media_unavailable', 'The server gives no WebSocket URL of its media server (conferences.janusPublicWsUrl).', { status: 503 });
  }

  let localStream: MediaStream | undefined;
  try {
    localStream = await navigator.mediaDevices.getUserMedia(config.mediaConstraints ?? { audio: true, video: true });
    config.onLocalStream?.(localStream);
  } catch (err) {
    config.onMediaError?.(err);
  }

  const view = config.container ? new ContainerView(config.container, config.l10n) : undefined;
  if (localStream) view?.local(localStream);
  let left = false;
  let joinedRoom = false;
  const finish = () => {
    if (left) return;
    left = true;
    for (const t of localStream?.getTracks() ?? []) t.stop();
    view?.clear();
    config.onLeft?.();
  };
  let room: JanusVideoRoom;
  try {
    // The listeners go on before the room joins: a feed may start while this page's own
    // publishing is still being answered.
    room = await JanusVideoRoom.join(
      {
        url: media.janus.ws_url,
        room: media.room,
        pin: media.pin,
        token: media.token,
        display: media.display,
        iceServers: media.ice_servers as RTCIceServer[],
        stream: localStream,
      },
      (r) => {
        r.on('feed', (f) => {
          view?.remote(f);
          config.onRemoteFeed?.(f);
        });
        r.on('feedGone', ({ id }) => {
          view?.gone(id);
          config.onRemoteFeedGone?.(id);
        });
        r.on('closed', () => {
          // A failed join is reported by the throw below, not as a departure.
          if (!joinedRoom) return;
          finish();
          void accessAPI.leave(token).catch(() => {});
        });
      },
    );
    joinedRoom = true;
  } catch (err) {
    for (const t of localStream?.getTracks() ?? []) t.stop();
    view?.clear();
    throw err;
  }
  config.onJoined?.();
  return {
    room,
    localStream,
    async leave() {
      await room.leave();
      finish();
      await accessAPI.leave(token).catch(() => {});
    },
  };
}

/** Draws the videos into an element when the app gives one (`config.container`). */
class ContainerView {
  readonly #el: HTMLElement;
  readonly #texts: ConfTexts | undefined;
  readonly #videos = new Map<string, HTMLVideoElement>();

  constructor(el: HTMLElement, texts: ConfTexts | undefined) {
    this.#el = el;
    this.#texts = texts;
  }

  local(stream: MediaStream): void {
    this.#add('local', stream, this.#texts?.you ?? '', true);
  }

  remote(f: JanusRemoteFeed): void {
    this.#add(`feed-${String(f.id)}`, f.stream, f.display, false);
  }

  gone(id: number | string): void {
    const v = this.#videos.get(`feed-${String(id)}`);
    v?.parentElement?.remove();
    this.#videos.delete(`feed-${String(id)}`);
  }

  clear(): void {
    for (const v of this.#videos.values()) v.parentElement?.remove();
    this.#videos.clear();
  }

  #add(key: string, stream: MediaStream, label: string, muted: boolean): void {
    const doc = this.#el.ownerDocument;
    const figure = doc.createElement('figure');
    figure.dataset.feed = key;
    const video = doc.createElement('video');
    video.autoplay = true;
    video.playsInline = true;
    video.muted = muted;
    video.srcObject = stream;
    const caption = doc.createElement('figcaption');
    caption.textContent = label;
    figure.append(video, caption);
    this.#el.append(figure);
    this.#videos.set(key, video);
  }
}
