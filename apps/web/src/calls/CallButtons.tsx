/** The voice and video call buttons of a chat's header. */
import { useSyncExternalStore } from 'react';
import { useI18n } from '../i18n.ts';
import { useStore, type Store } from '../store.ts';
import { callsOf } from './controller.ts';
import { PhoneIcon, VideoIcon } from './icons.tsx';

export function CallButtons({ store, conversationId }: { store: Store; conversationId: string }) {
  const { t } = useI18n();
  const ctrl = callsOf(store);
  const view = useSyncExternalStore(ctrl.subscribe, () => ctrl.view);
  const connected = useStore(store, (s) => s.connection === 'open');
  const busy = view.phase !== 'idle' || !connected;
  return (
    <span className="call-buttons">
      <button type="button" className="icon-button" disabled={busy} onClick={() => void ctrl.start(conversationId, false)} title={t('calls.startAudio')} data-testid="call-audio">
        <PhoneIcon size={18} />
        <span className="visually-hidden">{t('calls.startAudio')}</span>
      </button>
      <button type="button" className="icon-button" disabled={busy} onClick={() => void ctrl.start(conversationId, true)} title={t('calls.startVideo')} data-testid="call-video">
        <VideoIcon size={18} />
        <span className="visually-hidden">{t('calls.startVideo')}</span>
      </button>
    </span>
  );
}
