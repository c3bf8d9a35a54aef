/**
 * Voice notes: recorded with the browser's MediaRecorder (Opus in WebM where the browser has
 * it, else its default) and sent as a voice message (type 3, seed 000's 语音消息) with its
 * duration. Two ways to record: click (or Enter/Space) to start and again to send, or hold
 * the button down and let go to send. While recording, the time runs and the recording can
 * be discarded. At most five minutes; a recording shorter than half a second is dropped.
 */
import { useEffect, useRef, useState } from 'react';
import { MessageTypes } from '@careline/sdk';
import { useI18n } from '../i18n.ts';
import { duration as clockOf } from '../format.ts';
import type { Store } from '../store.ts';
import { extOf, sendFile, stampName } from './uploads.ts';

const MAX_MS = 5 * 60_000;
const MIN_MS = 500;
/** A press longer than this is a hold: letting go sends. */
const HOLD_MS = 400;
const TYPES = ['audio/webm;codecs=opus', 'audio/ogg;codecs=opus', 'audio/webm', 'audio/mp4'];

interface Recording {
  recorder: MediaRecorder;
  stream: MediaStream;
  chunks: Blob[];
  started: number;
}

export function VoiceRecorder({ store, conversationId, disabled }: { store: Store; conversationId: string; disabled: boolean }) {
  const { t } = useI18n();
  const [state, setState] = useState<'idle' | 'starting' | 'recording'>('idle');
  const [elapsed, setElapsed] = useState(0);
  const [error, setError] = useState<string | null>(null);
  const rec = useRef<Recording | null>(null);
  const press = useRef<{ at: number; startedHere: boolean } | null>(null);
  const skipClick = useRef(false);
  /** Let go of a hold before the microphone opened: send as soon as it has. */
  const stopWhenStarted = useRef(false);
  /** False once the recorder has left the page (a microphone opened after that is closed at once). */
  const alive = useRef(true);

  const supported = typeof window !== 'undefined' && 'MediaRecorder' in window && !!navigator.mediaDevices?.getUserMedia;

  const start = async (): Promise<void> => {
    if (rec.current || state !== 'idle') return;
    stopWhenStarted.current = false;
    setError(null);
    setState('starting');
    try {
      const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
      if (!alive.current) {
        for (const track of stream.getTracks()) track.stop();
        return;
      }
      const mimeType = TYPES.find((m) => MediaRecorder.isTypeSupported(m));
      const recorder = new MediaRecorder(stream, mimeType ? { mimeType } : undefined);
      const r: Recording = { recorder, stream, chunks: [], started: performance.now() };
      recorder.ondataavailable = (e) => {
        if (e.data.size > 0) r.chunks.push(e.data);
      };
      recorder.start(250);
      rec.current = r;
      setElapsed(0);
      setState('recording');
      if (stopWhenStarted.current) {
        stopWhenStarted.current = false;
        stop(true);
      }
    } catch (err) {
      setState('idle');
      setError(t('files.micDenied', { reason: (err as Error).message || String(err) }));
    }
  };

  const stop = (send: boolean): void => {
    const r = rec.current;
    if (!r) return;
    rec.current = null;
    setState('idle');
    const ms = performance.now() - r.started;
    r.recorder.onstop = () => {
      for (const track of r.stream.getTracks()) track.stop();
      if (!send || ms < MIN_MS) return;
      const type = r.recorder.mimeType || r.chunks[0]?.type || 'audio/webm';
      const blob = new Blob(r.chunks, { type: type.split(';')[0] });
      void sendFile(store, conversationId, blob, { name: stampName('voice', extOf(type)), type: MessageTypes.VOICE, duration: ms / 1000 });
    };
    r.recorder.stop();
  };

  // The clock, and the longest recording.
  useEffect(() => {
    if (state !== 'recording') return;
    const timer = setInterval(() => {
      const r = rec.current;
      if (!r) return;
      const ms = performance.now() - r.started;
      setElapsed(ms);
      if (ms >= MAX_MS) stop(true);
    }, 250);
    return () => clearInterval(timer);
  });

  // Leaving the conversation discards a recording in progress.
  useEffect(() => {
    alive.current = true;
    return () => {
      alive.current = false;
      stop(false);
    };
  }, []); // eslint-disable-line react-hooks/exhaustive-deps

  if (!supported) return null;
  const recording = state === 'recording';

  return (
    <span className={`voice-recorder${recording ? ' recording' : ''}`}>
      <button
        type="button"
        className={`icon-button record-button${recording ? ' on' : ''}`}
        disabled={disabled}
        aria-pressed={recording}
        title={recording ? t('files.stopSend') : `${t('files.record')} — ${t('files.recordHint')}`}
        data-testid="voice-record"
        onPointerDown={(e) => {
          if (e.button !== 0) return;
          // Letting go is seen by this button even if the pointer moved off it.
          e.currentTarget.setPointerCapture?.(e.pointerId);
          press.current = { at: performance.now(), startedHere: !rec.current };
          if (!rec.current) void start();
        }}
        onPointerUp={() => {
          const p = press.current;
          press.current = null;
          if (!p) return;
          skipClick.current = true;
          // Held: letting go sends. A short press that started it leaves it running (toggle);
          // a short press while recording sends.
          if (!p.startedHere || performance.now() - p.at >= HOLD_MS) {
            if (rec.current) stop(true);
            else stopWhenStarted.current = true;
          }
        }}
        onPointerCancel={() => {
          press.current = null;
        }}
        onClick={() => {
          // Pointer presses were handled above; this is the keyboard (Enter, Space).
          if (skipClick.current) {
            skipClick.current = false;
            return;
          }
          if (rec.current) stop(true);
          else void start();
        }}
      >
        <MicOrStop recording={recording} />
        <span className="visually-hidden">{recording ? t('files.stopSend') : t('files.record')}</span>
      </button>
      {recording && (
        <>
          <span className="rec-dot" aria-hidden="true" />
          <span className="rec-time" data-testid="voice-time">
            {t('files.recording', { time: clockOf(elapsed / 1000) })}
          </span>
          <button type="button" className="ghost small" onClick={() => stop(false)} data-testid="voice-discard">
            {t('files.discard')}
          </button>
        </>
      )}
      {error && (
        <span className="upload-error" role="alert">
          {error}
        </span>
      )}
    </span>
  );
}

function MicOrStop({ recording }: { recording: boolean }) {
  return recording ? (
    <svg width={20} height={20} viewBox="0 0 24 24" aria-hidden="true" focusable="false">
      <rect x="6" y="6" width="12" height="12" rx="2" fill="currentColor" />
    </svg>
  ) : (
    <svg width={20} height={20} viewBox="0 0 24 24" fill="none" stroke="currentColor" strokeWidth="2" strokeLinecap="round" strokeLinejoin="round" aria-hidden="true" focusable="false">
      <rect x="9" y="2" width="6" height="12" rx="3" />
      <path d="M5 10a7 7 0 0 0 14 0M12 17v4M8 21h8" />
    </svg>
  );
}
