/**
 * The conversation list: name, last message, time, unread badge, pinned ones first, live.
 * Care-team members can keep to conversations with patients or with colleagues (the
 * `type=patient|doctor` filter of the family-doctor server's recent sessions: with a patient
 * is `business_type` 2).
 */
import { useState } from 'react';
import { BusinessTypes, conversationTitle, type ConversationView } from '@careline/sdk';
import { useI18n } from '../i18n.ts';
import { fullTime, initials, preview, shortTime } from '../format.ts';
import { onLinkClick, routePath } from '../router.ts';
import { useStore, type Store } from '../store.ts';
import { PinIcon } from './Icons.tsx';
import { SearchBox } from '../search/SearchBox.tsx';

type Filter = 'all' | 'patient' | 'doctor';

export function ConversationList({ store, activeId }: { store: Store; activeId: string | null }) {
  const { t } = useI18n();
  const me = useStore(store, (s) => s.me);
  const conversations = useStore(store, (s) => s.conversations);
  const loaded = useStore(store, (s) => s.conversationsLoaded);
  const [filter, setFilter] = useState<Filter>('all');
  const careTeam = me !== null && me.role !== 'patient';

  const shown = conversations.filter((c) =>
    filter === 'all' ? true : filter === 'patient' ? c.business_type === BusinessTypes.WITH_PATIENT : c.business_type !== BusinessTypes.WITH_PATIENT,
  );

  return (
    <section className="list" aria-labelledby="list-title">
      <div className="list-head">
        <h1 id="list-title">{t('list.title')}</h1>
        {careTeam && (
          <div className="segmented" role="group" aria-label={t('list.filter')}>
            {(['all', 'patient', 'doctor'] as const).map((f) => (
              <button key={f} type="button" aria-pressed={filter === f} onClick={() => setFilter(f)} data-filter={f}>
                {f === 'all' ? t('list.all') : f === 'patient' ? t('list.patients') : t('list.colleagues')}
              </button>
            ))}
          </div>
        )}
      </div>
      <SearchBox store={store} activeId={activeId} />
      {!loaded ? (
        <p className="placeholder" role="status">
          {t('list.loading')}
        </p>
      ) : shown.length === 0 ? (
        <p className="placeholder">{t('list.empty')}</p>
      ) : (
        <ul className="conversations" data-testid="conversation-list">
          {shown.map((c) => (
            <li key={c.id}>
              <ConversationItem store={store} c={c} active={c.id === activeId} />
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

function ConversationItem({ store, c, active }: { store: Store; c: ConversationView; active: boolean }) {
  const { t, lang } = useI18n();
  const me = useStore(store, (s) => s.me);
  useStore(store, (s) => s.names);
  const participants = useStore(store, (s) => s.participants[c.id]);
  const presence = useStore(store, (s) => s.presence);
  const connected = useStore(store, (s) => s.connection === 'open');
  const others = (participants ?? []).filter((p) => p.user_id !== me?.id);
  const peer = others.length === 1 ? others[0] : undefined;
  // Until the participants are known, the stored name may name the viewer: wait for them.
  const name = participants ? conversationTitle(c, participants, me?.id) : '…';
  const online = peer && connected ? presence[peer.user_id]?.online : undefined;
  const last = c.last_message;
  const when = c.last_message_at ?? c.updated_at;

  return (
    <a
      href={routePath({ name: 'chat', id: c.id })}
      onClick={onLinkClick}
      className={`conversation${active ? ' active' : ''}${c.unread > 0 ? ' has-unread' : ''}`}
      aria-current={active ? 'true' : undefined}
      data-conversation={c.id}
    >
      <span className={`avatar${peer ? ` role-${peer.user_role}` : ' role-group'}`} aria-hidden="true">
        {initials(peer?.name ?? name)}
        {online !== undefined && <span className={`presence-dot ${online ? 'on' : 'off'}`} />}
      </span>
      <span className="conversation-main">
        <span className="conversation-top">
          <span className="conversation-name">{name}</span>
          {c.sticky && (
            <span className="pin" title={t('list.pinned')}>
              <PinIcon size={14} />
              <span className="visually-hidden">{t('list.pinned')}</span>
            </span>
          )}
          <time className="conversation-time" dateTime={new Date(when).toISOString()} title={fullTime(when, lang)}>
            {shortTime(when, lang, t)}
          </time>
        </span>
        <span className="conversation-bottom">
          <span className="conversation-preview">{last ? preview(last, t, store.nameOf, me?.id) : t('list.noMessages')}</span>
          {c.unread > 0 && (
            <span className="badge" data-testid="unread-badge">
              <span aria-hidden="true">{c.unread > 99 ? '99+' : c.unread}</span>
              <span className="visually-hidden">{t('list.unread', { count: c.unread })}</span>
            </span>
          )}
        </span>
      </span>
    </a>
  );
}
