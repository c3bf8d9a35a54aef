/**
 * A call's record in the history (message type 1002, written by the server when the call
 * ended): voice or video, answered with its duration, or missed (and why).
 */
import type { T } from '../i18n.ts';
import { PhoneIcon, VideoIcon } from './icons.tsx';

type Content = Record<string, unknown>;

/** Seconds as m:ss or h:mm:ss (format.ts's `duration`; not imported, as format.ts imports this file). */
function duration(seconds: unknown): string {
  const s = typeof seconds === 'number' && Number.isFinite(seconds) ? Math.max(0, Math.round(seconds)) : 0;
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${r}` : `${m}:${r}`;
}

const REASONS: Record<string, Parameters<T>[0]> = {
  cancel: 'calls.record.cancelled', refuse: 'calls.record.refused', busy: 'calls.record.busy', timeout: 'calls.record.noAnswer', lost: 'calls.record.noAnswer',
};

/** One line for the conversation list. */
export function callPreview(c: Content, t: T): string {
  const video = c.avType === 'video';
  if (c.answered === true) return `[${t(video ? 'calls.record.video' : 'calls.record.audio')}] ${duration(c.duration)}`;
  return `[${t(video ? 'calls.record.missedVideo' : 'calls.record.missedAudio')}]`;
}

export function CallRecord({ content, t }: { content: Content; t: T }) {
  const video = content.avType === 'video';
  const answered = content.answered === true;
  const reason = typeof content.status === 'string' ? REASONS[content.status] : undefined;
  return (
    <div className={`call-record${answered ? '' : ' missed'}`} data-testid="call-record" data-answered={String(answered)} data-av={video ? 'video' : 'audio'}>
      {video ? <VideoIcon /> : <PhoneIcon />}
      <span>
        <strong>{t(answered ? (video ? 'calls.record.video' : 'calls.record.audio') : video ? 'calls.record.missedVideo' : 'calls.record.missedAudio')}</strong>
        {' · '}
        {answered ? t('calls.record.duration', { time: duration(content.duration) }) : reason ? t(reason) : null}
      </span>
    </div>
  );
}
