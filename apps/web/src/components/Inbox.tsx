/**
 * The notification inbox (`client.notifications` and the client's `notification` events):
 * what the clinic's systems sent the user — contract signed, appointment, announcements… —
 * newest first, with the unread count; items are marked read one by one or all at once.
 */
import { useEffect } from 'react';
import { kindDisplayName, type Notification } from '@careline/sdk';
import { hasKey, useI18n } from '../i18n.ts';
import { fullTime, safeUrl, shortTime } from '../format.ts';
import { useStore, type Store } from '../store.ts';

/** The unread total for the navigation badge. */
export function useInboxUnread(store: Store): number {
  return useStore(store, (s) => s.inboxUnread?.total ?? 0);
}

export function Inbox({ store }: { store: Store }) {
  const { t } = useI18n();
  const inbox = useStore(store, (s) => s.inbox);
  const cursor = useStore(store, (s) => s.inboxCursor);
  const unread = useStore(store, (s) => s.inboxUnread?.total ?? 0);
  const available = useStore(store, (s) => s.inboxAvailable);

  useEffect(() => {
    void store.loadInbox();
  }, [store]);

  return (
    <section className="panel" aria-labelledby="inbox-title" data-testid="inbox">
      <div className="notification-head">
        <h1 id="inbox-title">
          {t('inbox.title')}{' '}
          {unread > 0 && (
            <span className="badge" data-testid="inbox-unread">
              <span aria-hidden="true">{unread}</span>
              <span className="visually-hidden">{t('inbox.unreadCount', { count: unread })}</span>
            </span>
          )}
        </h1>
        {unread > 0 && (
          <button type="button" className="small" onClick={() => void store.markNotificationsRead('all')}>
            {t('inbox.markAll')}
          </button>
        )}
      </div>
      {!available ? (
        <p className="placeholder">{t('inbox.unavailable')}</p>
      ) : inbox === null ? (
        <p className="placeholder" role="status">
          {t('inbox.loading')}
        </p>
      ) : inbox.length === 0 ? (
        <p className="placeholder">{t('inbox.empty')}</p>
      ) : (
        <>
          <ul className="notifications" aria-live="polite">
            {inbox.map((n) => (
              <NotificationItem key={n.id} store={store} n={n} />
            ))}
          </ul>
          {cursor && (
            <button type="button" className="ghost" onClick={() => void store.loadMoreInbox()}>
              {t('inbox.more')}
            </button>
          )}
        </>
      )}
    </section>
  );
}

/**
 * A readable name for a kind the integrator registered without giving it names: its code in
 * words, without the catalogue's `_PUSH` suffix (`LAB_RESULT_PUSH` → "Lab result").
 */
export function kindName(kind: string): string {
  const words = kind.replace(/_PUSH$/, '').split('_').filter(Boolean).join(' ').toLowerCase();
  return words ? words[0]!.toUpperCase() + words.slice(1) : kind;
}

function NotificationItem({ store, n }: { store: Store; n: Notification }) {
  const { t, lang } = useI18n();
  const info = useStore(store, (s) => s.notificationKinds[n.kind]);
  const key = `kind.${n.kind}`;
  // The name the server gives in the reader's language, else the dictionary's, else the code in words.
  const kind = (info && kindDisplayName(info, lang)) ?? (hasKey(key) ? t(key) : kindName(n.kind));
  const url = safeUrl(n.data?.url);
  const unread = n.read_at === null;
  return (
    <li className={`notification${unread ? ' unread' : ''}`} data-notification={n.id} data-unread={String(unread)}>
      <div className="notification-main">
        <p className="muted small">
          {unread && <span className="visually-hidden">{t('inbox.unread')}: </span>}
          {kind} ·{' '}
          <time dateTime={new Date(n.created_at).toISOString()} title={fullTime(n.created_at, lang)}>
            {shortTime(n.created_at, lang, t)}
          </time>
        </p>
        <p className="notification-title">{n.title}</p>
        {n.body && <p className="notification-body">{n.body}</p>}
      </div>
      {url && (
        <a href={url} target="_blank" rel="noopener noreferrer" className="button small" onClick={() => unread && void store.markNotificationsRead([n.id])}>
          {t('inbox.open')}
          <span className="visually-hidden">: {n.title}</span>
        </a>
      )}
      {unread && (
        <button type="button" className="small" onClick={() => void store.markNotificationsRead([n.id])}>
          {t('inbox.markRead')}
          <span className="visually-hidden">: {n.title}</span>
        </button>
      )}
    </li>
  );
}
