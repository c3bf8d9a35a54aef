/**
 * Consultations. A care-team member sees the topics of their sessions by state (waiting for a
 * reply / in progress / replied / ended without reply), with counts, and can end open ones.
 * A patient sees their own consultations, the current one first.
 */
import { useEffect, useState } from 'react';
import { conversationTitle, type Topic, type TopicState } from '@careline/sdk';
import { useI18n } from '../i18n.ts';
import { fullTime, shortTime } from '../format.ts';
import { onLinkClick, routePath } from '../router.ts';
import { errorText, useStore, type Store } from '../store.ts';
import { topicState } from './TopicBar.tsx';

const STATES: TopicState[] = ['unreplied', 'in_progress', 'replied', 'ended_unreplied'];

export function Consultations({ store }: { store: Store }) {
  const me = useStore(store, (s) => s.me);
  if (!me) return null;
  return me.role === 'patient' ? <PatientConsultations store={store} /> : <CareTeamConsultations store={store} />;
}

function CareTeamConsultations({ store }: { store: Store }) {
  const { t } = useI18n();
  const version = useStore(store, (s) => s.topicsVersion);
  const [state, setState] = useState<TopicState>('unreplied');
  const [counts, setCounts] = useState<Record<TopicState, number> | null>(null);
  const [topics, setTopics] = useState<Topic[] | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    let cancelled = false;
    Promise.all([store.client.topics.counts(), store.client.topics.byState(state, { limit: 100 })]).then(
      ([c, page]) => {
        if (cancelled) return;
        setCounts(c);
        setTopics(page.topics);
        setError(null);
      },
      (err: unknown) => {
        if (!cancelled) setError(errorText(err));
      },
    );
    return () => {
      cancelled = true;
    };
  }, [store, state, version]);

  return (
    <section className="panel" aria-labelledby="cons-title" data-testid="consultations">
      <h1 id="cons-title">{t('cons.title')}</h1>
      <div className="tabs" role="tablist" aria-label={t('cons.byState')}>
        {STATES.map((s) => (
          <button
            key={s}
            type="button"
            role="tab"
            id={`tab-${s}`}
            aria-selected={state === s}
            aria-controls="cons-list"
            tabIndex={state === s ? 0 : -1}
            onClick={() => setState(s)}
            onKeyDown={(e) => {
              const i = STATES.indexOf(s);
              const next = e.key === 'ArrowRight' ? STATES[(i + 1) % STATES.length] : e.key === 'ArrowLeft' ? STATES[(i + STATES.length - 1) % STATES.length] : undefined;
              if (next) {
                setState(next);
                document.getElementById(`tab-${next}`)?.focus();
              }
            }}
            data-state={s}
          >
            {t(`topic.state.${s}`)}
            {counts && <span className="count" data-testid={`count-${s}`}>{counts[s]}</span>}
          </button>
        ))}
      </div>
      <div id="cons-list" role="tabpanel" aria-labelledby={`tab-${state}`}>
        {error && <p className="alert">{error}</p>}
        {topics === null ? (
          <p className="placeholder" role="status">
            {t('cons.loading')}
          </p>
        ) : topics.length === 0 ? (
          <p className="placeholder">{t('cons.empty')}</p>
        ) : (
          <ul className="topics">
            {topics.map((topic) => (
              <TopicItem key={topic.id} store={store} topic={topic} canEnd />
            ))}
          </ul>
        )}
      </div>
    </section>
  );
}

function PatientConsultations({ store }: { store: Store }) {
  const { t } = useI18n();
  const version = useStore(store, (s) => s.topicsVersion);
  const [topics, setTopics] = useState<Topic[] | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    let cancelled = false;
    store.client.topics.list({ limit: 50 }).then(
      (page) => {
        if (!cancelled) setTopics(page.topics);
      },
      (err: unknown) => {
        if (!cancelled) setError(errorText(err));
      },
    );
    return () => {
      cancelled = true;
    };
  }, [store, version]);

  const current = topics?.filter((x) => x.status === 0) ?? [];
  const past = topics?.filter((x) => x.status !== 0) ?? [];

  return (
    <section className="panel" aria-labelledby="cons-title" data-testid="consultations">
      <h1 id="cons-title">{t('cons.mine')}</h1>
      {error && <p className="alert">{error}</p>}
      {topics === null ? (
        <p className="placeholder" role="status">
          {t('cons.loading')}
        </p>
      ) : (
        <>
          <h2>{t('cons.current')}</h2>
          {current.length === 0 ? (
            <p className="placeholder">{t('topic.none')}</p>
          ) : (
            <ul className="topics">
              {current.map((topic) => (
                <TopicItem key={topic.id} store={store} topic={topic} canEnd={false} />
              ))}
            </ul>
          )}
          {past.length > 0 && (
            <ul className="topics past">
              {past.map((topic) => (
                <TopicItem key={topic.id} store={store} topic={topic} canEnd={false} />
              ))}
            </ul>
          )}
        </>
      )}
    </section>
  );
}

function TopicItem({ store, topic, canEnd }: { store: Store; topic: Topic; canEnd: boolean }) {
  const { t, lang } = useI18n();
  useStore(store, (s) => s.names);
  const conv = useStore(store, (s) => s.conversations.find((c) => c.id === topic.session_id));
  const [confirming, setConfirming] = useState(false);
  const [busy, setBusy] = useState(false);
  const state = topicState(topic);
  const me = useStore(store, (s) => s.me);
  const participants = useStore(store, (s) => s.participants[topic.session_id]);
  // Who the consultation is with, for the viewer: the patient for the care team; the doctor
  // (or else the conversation's title: the care team) for the patient.
  const forPatient = me?.role === 'patient';
  const other = forPatient
    ? topic.doctor_id && topic.doctor_id !== me?.id ? t('cons.doctor', { name: store.nameOf(topic.doctor_id) }) : null
    : topic.patient_id ? t('cons.patient', { name: store.nameOf(topic.patient_id) }) : null;
  const otherName = forPatient ? (topic.doctor_id ? store.nameOf(topic.doctor_id) : null) : topic.patient_id ? store.nameOf(topic.patient_id) : null;
  const title = conv ? conversationTitle(conv, participants, me?.id) : null;

  return (
    <li className="topic" data-topic={topic.id} data-state={state}>
      <div className="topic-main">
        <p className="topic-name">{topic.name}</p>
        <p className="muted small">
          {/* The conversation's title is often the same person: say them once. */}
          {[other, title && !(otherName && title.includes(otherName)) ? title : null]
            .filter(Boolean)
            .join(' · ')}
        </p>
        <p className="muted small">
          <time dateTime={new Date(topic.created_at).toISOString()} title={fullTime(topic.created_at, lang)}>
            {t('topic.started', { time: shortTime(topic.created_at, lang, t) })}
          </time>
        </p>
      </div>
      <span className={`chip state-${state}`}>{t(`topic.state.${state}`)}</span>
      <div className="topic-actions">
        <a href={routePath({ name: 'chat', id: topic.session_id })} onClick={onLinkClick} className="button small">
          {t('topic.openChat')}
          <span className="visually-hidden">: {topic.name}</span>
        </a>
        {canEnd && topic.status === 0 && !confirming && (
          <button type="button" className="danger small" onClick={() => setConfirming(true)}>
            {t('topic.end')}
            <span className="visually-hidden">: {topic.name}</span>
          </button>
        )}
        {confirming && (
          <span className="confirm" role="group" aria-label={t('topic.end')}>
            <span>{t('topic.endConfirm')}</span>
            <button
              type="button"
              className="danger small"
              disabled={busy}
              autoFocus
              onClick={async () => {
                setBusy(true);
                await store.endTopic(topic);
                setBusy(false);
                setConfirming(false);
              }}
            >
              {t('topic.endYes')}
            </button>
            <button type="button" className="ghost small" onClick={() => setConfirming(false)}>
              {t('topic.cancel')}
            </button>
          </span>
        )}
      </div>
    </li>
  );
}
