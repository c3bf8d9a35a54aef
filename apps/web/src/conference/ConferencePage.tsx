/**
 * The conference page, reached from a participant's link `/conf/<access token>` (no Careline
 * sign-in): the SDK's `UX.createScreen` picks the screen (seed 004's `ScreenEnum`) from the
 * conference's status and the user's role; the conference socket (`ConferenceSock`) moves the
 * page on at once when the status changes; on `Started` the page enters the Janus room
 * (`UX.openConference`) and shows the local and remote videos, the countdown and *leave*.
 */
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import {
  APIError,
  ConferenceAccessAPI,
  ConferenceSock,
  UX,
  type ConfLang,
  type ConfTexts,
  type ConferenceInfo,
  type ConferenceQueue,
  type JanusRemoteFeed,
  type OpenConference,
  type Screen,
  type TimerBlock,
} from '@careline/sdk';
import { CONF_LANG_LABELS, initialConfLang } from './i18n.ts';
import './conference.css';

type Texts = ConfTexts;
/** The SDK's screen, plus what this page learnt: the conference is not in a waiting room. */
type PageScreen = Screen & { admitHidden?: boolean };
const fmt = (texts: Texts, key: keyof Texts, vars: Record<string, string | number> = {}) => UX.formatText(texts, key, vars);

export function ConferencePage({ accessToken }: { accessToken: string }) {
  const api = useMemo(() => ConferenceAccessAPI.createHttpAPI(location.origin), []);
  const [screen, setScreen] = useState<PageScreen | null>(null);
  const [failure, setFailure] = useState<string | null>(null);
  const [lang, setLang] = useState<ConfLang | null>(null);
  const [infoChanged, setInfoChanged] = useState(false);
  const [busy, setBusy] = useState(false);
  const [actionError, setActionError] = useState<string | null>(null);
  /** Set when the user pressed *join* (or the page opened on Started): enter the room. */
  const [inRoom, setInRoom] = useState(true);
  const screenRef = useRef<PageScreen | null>(null);
  screenRef.current = screen;

  const shownLang: ConfLang = lang ?? initialConfLang(screen?.confInfo?.language);
  const vertical = screen?.confInfo?.vertical ?? 'medicine';
  const config = useMemo(() => UX.initConfConfigL10n({ lang: shownLang }, vertical), [shownLang, vertical]);
  const texts = config.l10n;

  useEffect(() => {
    document.documentElement.lang = config.lang;
    document.documentElement.dir = config.dir;
    document.title = texts.title;
  }, [config, texts]);

  const load = useCallback(async () => {
    try {
      const s = await UX.createScreen(api, accessToken);
      setScreen(s);
      setFailure(null);
      setInfoChanged(false);
    } catch (err) {
      setFailure(err instanceof Error ? err.message : String(err));
    }
  }, [api, accessToken]);

  /** The conference as it is now on the server (after a status event or an action). */
  const refresh = useCallback(async () => {
    const cur = screenRef.current;
    if (!cur?.conferenceToken) return load();
    try {
      const state = await api.info(cur.conferenceToken);
      setScreen((prev) => ({ ...UX.screenFromState(accessToken, cur.conferenceToken!, state, cur.conferenceTokenExpiresAt), admitHidden: prev?.admitHidden }));
    } catch (err) {
      if (err instanceof APIError && err.status === 401) return load();
      setActionError(err instanceof Error ? err.message : String(err));
    }
  }, [api, accessToken, load]);

  useEffect(() => {
    void load();
  }, [load]);

  // The conference socket: every status change reaches this page at once.
  const hasToken = !!screen?.conferenceToken;
  useEffect(() => {
    if (!hasToken) return;
    const sock = new ConferenceSock(location.origin);
    sock.changeConferenceStatusCallback(() => void refresh());
    sock.changeConferenceInfoCallback(function (conference, frame) {
      setScreen((s) => (s ? { ...s, confInfo: conference } : s));
      // A participant joining or leaving is not news worth a reload.
      if (frame.changed.some((c) => c !== 'participants')) setInfoChanged(true);
    });
    sock.changeQueueCallback((queue) => setScreen((s) => (s ? { ...s, queue } : s)));
    sock.connect(accessToken).then(
      (hello) => {
        // A change between the exchange and the socket's hello.
        if (hello.conference.status !== screenRef.current?.confInfo?.status) void refresh();
      },
      () => {},
    );
    return () => sock.close();
  }, [hasToken, accessToken, refresh]);

  // A waiting-room client takes their place in the queue when the page opens.
  const shouldArrive = !!screen?.conferenceToken && screen.userRole === 'client' && !!screen.queue && screen.queue.position === null && !screen.queue.admitted
    && (screen.name === UX.ScreenEnum.PendingClient || screen.name === UX.ScreenEnum.JoinClient);
  useEffect(() => {
    if (!shouldArrive || !screen?.conferenceToken) return;
    api.arrive(screen.conferenceToken).then(
      (state) => setScreen((s) => (s ? { ...s, queue: state.queue } : s)),
      () => {},
    );
  }, [shouldArrive]);

  const act = async (action: 'open' | 'join' | 'finish') => {
    const cur = screenRef.current;
    if (!cur?.conferenceToken) return;
    setBusy(true);
    setActionError(null);
    try {
      const state = await api[action](cur.conferenceToken);
      if (action === 'join') setInRoom(true);
      setScreen((prev) => ({ ...UX.screenFromState(accessToken, cur.conferenceToken!, state, cur.conferenceTokenExpiresAt), admitHidden: prev?.admitHidden }));
    } catch (err) {
      setActionError(err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };

  /** A waiting-room specialist admits the first client waiting (who may be of another conference of the room). */
  const admitNext = async () => {
    const cur = screenRef.current;
    if (!cur?.conferenceToken) return;
    setBusy(true);
    setActionError(null);
    try {
      await api.admitNext(cur.conferenceToken);
      await refresh();
    } catch (err) {
      if (err instanceof APIError && err.code === 'conference.not_waiting_room') setScreen((s) => (s ? { ...s, admitHidden: true } : s));
      else setActionError(err instanceof APIError && err.code === 'conference.queue_empty' ? texts.queueEmpty : err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };

  const name = screen?.name;
  return (
    <div className="conf-page" dir={config.dir} lang={config.lang} data-screen={name ?? 'loading'} data-testid="conference-page">
      <header className="conf-header">
        <h1>{screen?.confInfo?.title ?? texts.title}</h1>
        <label className="conf-lang">
          <span className="visually-hidden">{texts.langLabel}</span>
          <select value={shownLang} onChange={(e) => setLang(e.target.value as ConfLang)} aria-label={texts.langLabel}>
            {UX.LANGS.map((l) => (
              <option key={l} value={l} lang={l}>
                {CONF_LANG_LABELS[l]}
              </option>
            ))}
          </select>
        </label>
      </header>
      {infoChanged && (
        <div className="conf-notice" role="status" data-testid="conf-info-changed">
          <span>{texts.infoChanged}</span>
          <button type="button" className="small" onClick={() => void load()}>
            {texts.reload}
          </button>
        </div>
      )}
      <main className="conf-main">
        {failure ? (
          <p className="conf-message" role="alert">{fmt(texts, 'errorOther', { reason: failure })}</p>
        ) : !screen ? (
          <p className="conf-message" aria-busy="true">{texts.loading}</p>
        ) : (
          <ScreenView
            screen={screen}
            texts={texts}
            lang={config.lang}
            busy={busy}
            inRoom={inRoom}
            api={api}
            onAction={(a) => void act(a)}
            onAdmit={() => void admitNext()}
            onLeft={() => setInRoom(false)}
            onRejoin={() => setInRoom(true)}
          />
        )}
        {actionError && <p className="conf-error" role="alert">{actionError}</p>}
      </main>
    </div>
  );
}

interface ScreenViewProps {
  screen: PageScreen;
  texts: Texts;
  lang: ConfLang;
  busy: boolean;
  inRoom: boolean;
  api: ConferenceAccessAPI;
  onAction: (a: 'open' | 'join' | 'finish') => void;
  onAdmit: () => void;
  onLeft: () => void;
  onRejoin: () => void;
}

function ScreenView({ screen, texts, lang, busy, inRoom, api, onAction, onAdmit, onLeft, onRejoin }: ScreenViewProps) {
  const S = UX.ScreenEnum;
  const conf = screen.confInfo;
  // A specialist of a conference in a conversation may admit the next client of its waiting room.
  const admit = screen.userRole === 'specialist' && !!conf?.conversation_id && !screen.admitHidden ? (
    <button type="button" disabled={busy} onClick={onAdmit} data-testid="conf-admit-next">
      {texts.admitNext}
    </button>
  ) : null;
  switch (screen.name) {
    case S._4xx:
      return <p className="conf-message" role="alert">{screen.status === 401 ? texts.error401 : texts.error404}</p>;
    case S.PendingClient:
      return (
        <section className="conf-card">
          <p className="conf-message">{texts.pendingClient}</p>
          <QueuePlace queue={screen.queue} texts={texts} />
          {conf && <InfoBlock conf={conf} texts={texts} lang={lang} />}
        </section>
      );
    case S.PendingSpecialist:
      return (
        <section className="conf-card">
          <p className="conf-message">{texts.pendingSpecialist}</p>
          <div className="conf-actions">
            <button type="button" className="primary" disabled={busy} onClick={() => onAction('open')} data-testid="conf-open">
              {texts.openButton}
            </button>
            {admit}
          </div>
          {conf && <InfoBlock conf={conf} texts={texts} lang={lang} />}
        </section>
      );
    case S.JoinClient:
    case S.JoinSpecialist:
      return (
        <section className="conf-card">
          <p className="conf-message">{screen.name === S.JoinClient ? texts.joinClient : texts.joinSpecialist}</p>
          <QueuePlace queue={screen.queue} texts={texts} />
          <div className="conf-actions">
            <button type="button" className="primary" disabled={busy || (!!screen.queue && !screen.queue.admitted)} onClick={() => onAction('join')} data-testid="conf-join">
              {texts.joinButton}
            </button>
            {screen.canFinish && (
              <button type="button" className="danger" disabled={busy} onClick={() => onAction('finish')}>
                {texts.finishButton}
              </button>
            )}
            {admit}
          </div>
          {conf && screen.timerBlock && <Countdown conf={conf} timerBlock={screen.timerBlock} texts={texts} />}
          {conf && <InfoBlock conf={conf} texts={texts} lang={lang} />}
        </section>
      );
    case S.Cancelled:
      return (
        <section className="conf-card">
          <p className="conf-message conf-final">{texts.cancelled}</p>
          {conf && <InfoBlock conf={conf} texts={texts} lang={lang} />}
        </section>
      );
    case S.Finish:
      return (
        <section className="conf-card">
          <p className="conf-message conf-final">{texts.finish}</p>
          {conf && <InfoBlock conf={conf} texts={texts} lang={lang} />}
        </section>
      );
    case S.Started:
      return inRoom ? (
        <Room key={screen.conferenceToken} screen={screen} texts={texts} api={api} busy={busy} onAction={onAction} onLeft={onLeft} />
      ) : (
        <section className="conf-card">
          <p className="conf-message">{texts.left}</p>
          <button type="button" className="primary" onClick={onRejoin} data-testid="conf-rejoin">
            {texts.rejoin}
          </button>
          {conf && screen.timerBlock && <Countdown conf={conf} timerBlock={screen.timerBlock} texts={texts} />}
        </section>
      );
    default:
      return <p className="conf-message" role="alert">{texts.unknownStatus}</p>;
  }
}

function QueuePlace({ queue, texts }: { queue: ConferenceQueue | null | undefined; texts: Texts }) {
  if (!queue || queue.position === null) return null;
  return (
    <p className="conf-queue" data-testid="conf-queue" role="status">
      {fmt(texts, 'queue', { position: queue.position })}
    </p>
  );
}

function InfoBlock({ conf, texts, lang }: { conf: ConferenceInfo; texts: Texts; lang: ConfLang }) {
  const when = new Intl.DateTimeFormat(lang === 'zh' ? 'zh-CN' : lang, { dateStyle: 'medium', timeStyle: 'short' }).format(conf.starts_at);
  return (
    <dl className="conf-info" data-testid="conf-info">
      <div>
        <dt className="visually-hidden">{texts.scheduledAt}</dt>
        <dd>{fmt(texts, 'scheduledAt', { time: when })}</dd>
      </div>
      <div>
        <dt className="visually-hidden">{texts.duration}</dt>
        <dd>{fmt(texts, 'duration', { minutes: Math.round(conf.duration_seconds / 60) })}</dd>
      </div>
      <div>
        <dt>{texts.participants}</dt>
        <dd>
          <ul>
            {conf.participants.map((p) => (
              <li key={p.user_id}>
                {p.name} <span className="muted">({p.role === 'specialist' ? texts.roleSpecialist : texts.roleClient})</span>
              </li>
            ))}
          </ul>
        </dd>
      </div>
    </dl>
  );
}

/** The countdown to the end, on the server's clock (the SDK's `UX.timer`, ticking on each second). */
function Countdown({ conf, timerBlock, texts }: { conf: ConferenceInfo; timerBlock: TimerBlock; texts: Texts }) {
  const timer = useMemo(() => UX.timer(conf, timerBlock), [conf.ends_at, timerBlock]);
  const [value, setValue] = useState(() => timer.getCurrent());
  useEffect(() => {
    let handle: ReturnType<typeof setTimeout> | undefined;
    const tick = () => {
      const cur = timer.updateTime();
      setValue(cur);
      if (cur.totalRemainSeconds > 0) handle = setTimeout(tick, cur.timerDelay);
    };
    tick();
    return () => clearTimeout(handle);
  }, [timer]);
  const time = UX.formatTimer(value);
  return (
    <p className="conf-timer" data-testid="conf-timer" data-remaining={value.totalRemainSeconds} aria-live="off">
      {fmt(texts, 'remaining', { time })}
    </p>
  );
}

interface RoomProps {
  screen: Screen;
  texts: Texts;
  api: ConferenceAccessAPI;
  busy: boolean;
  onAction: (a: 'open' | 'join' | 'finish') => void;
  onLeft: () => void;
}

/** In the room: this page's camera, the others' videos, the countdown, leave (and finish for the specialist). */
function Room({ screen, texts, api, busy, onAction, onLeft }: RoomProps) {
  const [local, setLocal] = useState<MediaStream | null>(null);
  const [feeds, setFeeds] = useState<JanusRemoteFeed[]>([]);
  const [state, setState] = useState<'connecting' | 'joined' | 'error'>('connecting');
  const [error, setError] = useState<string | null>(null);
  const [mediaError, setMediaError] = useState<string | null>(null);
  const session = useRef<OpenConference | null>(null);
  const onLeftRef = useRef(onLeft);
  onLeftRef.current = onLeft;

  useEffect(() => {
    let cancelled = false;
    let leftByUs = false;
    const opened = UX.openConference(api, screen, {
      onLocalStream: (s) => !cancelled && setLocal(s),
      onRemoteFeed: (f) => !cancelled && setFeeds((list) => [...list.filter((x) => String(x.id) !== String(f.id)), f]),
      onRemoteFeedGone: (id) => !cancelled && setFeeds((list) => list.filter((x) => String(x.id) !== String(id))),
      onMediaError: (e) => !cancelled && setMediaError(e instanceof Error ? e.message : String(e)),
      onJoined: () => !cancelled && setState('joined'),
      onLeft: () => {
        if (!cancelled && !leftByUs) onLeftRef.current();
      },
    });
    opened.then(
      (s) => {
        session.current = s;
        if (cancelled) void s.leave();
        else (window as unknown as { careline_conference?: OpenConference }).careline_conference = s;
      },
      (err: unknown) => {
        if (cancelled) return;
        setState('error');
        setError(err instanceof Error ? err.message : String(err));
      },
    );
    return () => {
      cancelled = true;
      leftByUs = true;
      void session.current?.leave();
    };
  }, [api, screen.conferenceToken]);

  const leave = async () => {
    await session.current?.leave();
    onLeft();
  };

  return (
    <section className="conf-room" data-testid="conf-room" data-room-state={state}>
      <div className="conf-room-bar">
        <span className="conf-live">{texts.started}</span>
        {screen.confInfo && screen.timerBlock && <Countdown conf={screen.confInfo} timerBlock={screen.timerBlock} texts={texts} />}
        <div className="conf-actions">
          {screen.canFinish && (
            <button type="button" className="danger" disabled={busy} onClick={() => onAction('finish')} data-testid="conf-finish">
              {texts.finishButton}
            </button>
          )}
          <button type="button" className="danger" onClick={() => void leave()} data-testid="conf-leave">
            {texts.leave}
          </button>
        </div>
      </div>
      {state === 'connecting' && <p className="conf-message">{texts.connecting}</p>}
      {error && <p className="conf-error" role="alert">{fmt(texts, 'errorOther', { reason: error })}</p>}
      {mediaError && <p className="conf-error" role="alert">{fmt(texts, 'mediaError', { reason: mediaError })}</p>}
      <div className="conf-videos" data-testid="conf-videos">
        {local && <Video stream={local} label={texts.you} muted testId="conf-local-video" />}
        {feeds.map((f) => (
          <Video key={String(f.id)} stream={f.stream} label={f.display} testId="conf-remote-video" />
        ))}
      </div>
      {state === 'joined' && feeds.length === 0 && <p className="conf-message muted">{texts.waitingOthers}</p>}
    </section>
  );
}

function Video({ stream, label, muted = false, testId }: { stream: MediaStream; label: string; muted?: boolean; testId: string }) {
  const ref = useRef<HTMLVideoElement>(null);
  useEffect(() => {
    if (ref.current && ref.current.srcObject !== stream) ref.current.srcObject = stream;
  }, [stream]);
  return (
    <figure className="conf-video" data-testid={testId}>
      <video ref={ref} autoPlay playsInline muted={muted} />
      <figcaption>{label}</figcaption>
    </figure>
  );
}
