/**
 * The call screens, over the rest of the client: an incoming call (ringing, accept or
 * decline), an outgoing call (calling…, cancel), and the call in progress (the other side's
 * video or an avatar, this side's preview, mute, camera, hang up, the call time).
 */
import { useEffect, useRef, useState, useSyncExternalStore } from 'react';
import { duration, initials } from '../format.ts';
import { useI18n, type MsgKey } from '../i18n.ts';
import type { Store } from '../store.ts';
import { callsOf, type CallView } from './controller.ts';
import { HangupIcon, MicIcon, MicOffIcon, PhoneIcon, VideoIcon, VideoOffIcon } from './icons.tsx';
import './calls.css';

function Media({ stream, muted, className, testId }: { stream: MediaStream; muted: boolean; className: string; testId: string }) {
  const ref = useRef<HTMLVideoElement>(null);
  useEffect(() => {
    if (ref.current && ref.current.srcObject !== stream) ref.current.srcObject = stream;
  }, [stream]);
  return <video ref={ref} autoPlay playsInline muted={muted} className={className} data-testid={testId} />;
}

function useNow(on: boolean): number {
  const [now, setNow] = useState(Date.now);
  useEffect(() => {
    if (!on) return;
    const t = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(t);
  }, [on]);
  return now;
}

/** The other participants' names. */
function peerNames(store: Store, v: CallView): string {
  const me = store.state.me?.id;
  const ids = v.call ? v.call.participants.map((p) => p.user_id).filter((u) => u !== me) : [];
  if (ids.length === 0 && v.conversationId) {
    const others = (store.state.participants[v.conversationId] ?? []).filter((p) => p.user_id !== me);
    return others.map((p) => p.name).join(', ') || '…';
  }
  return ids.map((u) => store.nameOf(u)).join(', ');
}

export function CallLayer({ store }: { store: Store }) {
  const { t } = useI18n();
  const ctrl = callsOf(store);
  const v = useSyncExternalStore(ctrl.subscribe, () => ctrl.view);
  const now = useNow(v.phase === 'active');
  useEffect(() => {
    void ctrl.restore();
  }, [ctrl]);

  if (v.phase === 'idle') {
    return v.notice ? (
      <div className="call-notice" role="status" data-testid="call-notice">
        {t(v.notice as MsgKey)}
      </div>
    ) : null;
  }
  const names = peerNames(store, v);
  const callerId = v.call?.caller_id;

  if (v.phase === 'incoming') {
    const caller = callerId ? store.nameOf(callerId) : names;
    return (
      <div className="call-overlay" role="dialog" aria-modal="true" aria-labelledby="call-title" data-testid="call-incoming">
        <div className="call-card ringing">
          <span className="avatar call-avatar" aria-hidden="true">
            {initials(caller)}
          </span>
          <p className="muted">{t('calls.incoming')}</p>
          <h2 id="call-title">{t(v.video ? 'calls.incomingVideo' : 'calls.incomingAudio', { name: caller })}</h2>
          <div className="call-actions">
            <button type="button" className="call-round refuse" onClick={() => void ctrl.refuse()} data-testid="call-refuse">
              <HangupIcon size={26} />
              <span>{t('calls.refuse')}</span>
            </button>
            <button type="button" className="call-round accept" onClick={() => void ctrl.accept()} data-testid="call-accept" autoFocus>
              {v.video ? <VideoIcon size={26} /> : <PhoneIcon size={26} />}
              <span>{t('calls.accept')}</span>
            </button>
          </div>
        </div>
      </div>
    );
  }

  const remote = v.remotes[0];
  const active = v.phase === 'active';
  const elapsed = v.answeredAt !== null ? duration((now - v.answeredAt) / 1000) : '0:00';
  return (
    <div className="call-overlay in-call" role="dialog" aria-modal="true" aria-labelledby="call-title" data-testid="call-view" data-phase={v.phase}>
      <div className="call-stage">
        {v.remotes.length > 0 && v.video ? (
          <div className={`call-remotes n${Math.min(v.remotes.length, 4)}`}>
            {v.remotes.map((r) => (
              <Media key={r.userId} stream={r.stream} muted={false} className="call-remote" testId="call-remote-video" />
            ))}
          </div>
        ) : (
          <div className="call-audio-only">
            <span className="avatar call-avatar" aria-hidden="true">
              {initials(names)}
            </span>
            {/* Voice only: the other side's sound plays through hidden media elements. */}
            {v.remotes.map((r) => (
              <Media key={r.userId} stream={r.stream} muted={false} className="visually-hidden" testId="call-remote-audio" />
            ))}
          </div>
        )}
        {v.local && v.video && <Media stream={v.local} muted className={`call-local${v.camOn ? '' : ' off'}`} testId="call-local-video" />}
      </div>
      <div className="call-bar">
        <div className="call-info">
          <h2 id="call-title">{active ? t('calls.inCall', { name: names }) : t('calls.calling', { name: names })}</h2>
          <p className="muted" data-testid="call-status">
            {active ? (remote ? <span data-testid="call-timer">{t('calls.duration', { time: elapsed })}</span> : t('calls.connecting')) : t('calls.connecting')}
          </p>
        </div>
        <div className="call-actions">
          <button type="button" className={`call-round${v.micOn ? '' : ' off'}`} aria-pressed={!v.micOn} onClick={() => ctrl.toggleMic()} data-testid="call-mute">
            {v.micOn ? <MicIcon size={22} /> : <MicOffIcon size={22} />}
            <span>{v.micOn ? t('calls.mute') : t('calls.unmute')}</span>
          </button>
          {v.video && (
            <button type="button" className={`call-round${v.camOn ? '' : ' off'}`} aria-pressed={!v.camOn} onClick={() => ctrl.toggleCam()} data-testid="call-camera">
              {v.camOn ? <VideoIcon size={22} /> : <VideoOffIcon size={22} />}
              <span>{v.camOn ? t('calls.cameraOff') : t('calls.cameraOn')}</span>
            </button>
          )}
          <button type="button" className="call-round refuse" onClick={() => void ctrl.hangup()} data-testid="call-hangup">
            <HangupIcon size={22} />
            <span>{active ? t('calls.hangup') : t('calls.cancel')}</span>
          </button>
        </div>
      </div>
    </div>
  );
}
