/**
 * The conversation's current consultation: its name and state; the care team can end it, a
 * patient without an open one can start one.
 */
import { useId, useState, type FormEvent } from 'react';
import type { Topic, TopicState } from '@careline/sdk';
import { useI18n } from '../i18n.ts';
import { shortTime } from '../format.ts';
import { useStore, type Store } from '../store.ts';
import { StethoscopeIcon } from './Icons.tsx';

export function topicState(t: Topic): TopicState {
  if (t.status === 0) return t.reply ? 'in_progress' : 'unreplied';
  return t.reply ? 'replied' : 'ended_unreplied';
}

export function TopicBar({ store, conversationId }: { store: Store; conversationId: string }) {
  const { t, lang } = useI18n();
  const topic = useStore(store, (s) => s.topics[conversationId]);
  const me = useStore(store, (s) => s.me);
  const [confirming, setConfirming] = useState(false);
  const [starting, setStarting] = useState(false);
  const [question, setQuestion] = useState('');
  const [busy, setBusy] = useState(false);
  const inputId = useId();
  if (topic === undefined || !me) return null;
  const careTeam = me.role !== 'patient';
  const open = topic !== null && topic.status === 0;

  const start = async (e: FormEvent) => {
    e.preventDefault();
    if (!question.trim()) return;
    setBusy(true);
    if (await store.startTopic(conversationId, question.trim())) {
      setStarting(false);
      setQuestion('');
    }
    setBusy(false);
  };

  const end = async () => {
    if (!topic) return;
    setBusy(true);
    await store.endTopic(topic);
    setBusy(false);
    setConfirming(false);
  };

  if (!open && careTeam) return null;

  return (
    <div className="topic-bar" data-testid="topic-bar" data-state={topic ? topicState(topic) : 'none'}>
      <StethoscopeIcon />
      {open ? (
        <div className="topic-text">
          <span className="topic-name">{t('topic.title', { name: topic.name })}</span>
          <span className={`chip state-${topicState(topic)}`}>{t(`topic.state.${topicState(topic)}`)}</span>
          <span className="muted small">{t('topic.started', { time: shortTime(topic.created_at, lang, t) })}</span>
        </div>
      ) : (
        <div className="topic-text">
          <span className="muted">{topic ? t('topic.ended') : t('topic.none')}</span>
        </div>
      )}
      {open && careTeam && !confirming && (
        <button type="button" className="danger small" onClick={() => setConfirming(true)}>
          {t('topic.end')}
        </button>
      )}
      {open && careTeam && confirming && (
        <div className="confirm" role="group" aria-label={t('topic.end')}>
          <span>{t('topic.endConfirm')}</span>
          <button type="button" className="danger small" onClick={() => void end()} disabled={busy} autoFocus>
            {t('topic.endYes')}
          </button>
          <button type="button" className="ghost small" onClick={() => setConfirming(false)}>
            {t('topic.cancel')}
          </button>
        </div>
      )}
      {!open && !careTeam && !starting && (
        <button type="button" className="primary small" onClick={() => setStarting(true)}>
          {t('topic.start')}
        </button>
      )}
      {!open && !careTeam && starting && (
        <form className="topic-start" onSubmit={(e) => void start(e)}>
          <label htmlFor={inputId}>{t('topic.startLabel')}</label>
          <input id={inputId} value={question} onChange={(e) => setQuestion(e.target.value)} maxLength={200} autoFocus />
          <button type="submit" className="primary small" disabled={busy || !question.trim()}>
            {t('topic.startSubmit')}
          </button>
          <button type="button" className="ghost small" onClick={() => setStarting(false)}>
            {t('topic.cancel')}
          </button>
        </form>
      )}
    </div>
  );
}
