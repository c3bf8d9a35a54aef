/**
 * The signed-in layout: top bar, the connection banner, navigation (a side rail on a desktop,
 * a tab bar on a phone) and the screen of the current route.
 */
import { useEffect, useMemo, useState } from 'react';
import { hasKey, useI18n, type MsgKey } from '../i18n.ts';
import { initials } from '../format.ts';
import { navigate, onLinkClick, routePath, useRoute, type Route } from '../router.ts';
import { useStore, type Store } from '../store.ts';
import { BellIcon, ChatIcon, Logo, OfflineIcon, StethoscopeIcon } from './Icons.tsx';
import { LangSwitch } from './LangSwitch.tsx';
import { roleLabel } from './SignIn.tsx';
import { ConversationList } from './ConversationList.tsx';
import { ChatView } from './ChatView.tsx';
import { Consultations } from './Consultations.tsx';
import { Inbox, useInboxUnread } from './Inbox.tsx';
import { DeskConsole, DeskNavLink } from '../desk/index.ts';
import { CallLayer } from '../calls/CallLayer.tsx';

export function Shell({ store, ready, onSignOut }: { store: Store; ready: boolean; onSignOut: () => void }) {
  const { t } = useI18n();
  const route = useRoute();
  const me = useStore(store, (s) => s.me);
  const transport = useStore(store, (s) => s.transport);
  const conversations = useStore(store, (s) => s.conversations);
  const unread = useMemo(() => conversations.reduce((n, c) => n + c.unread, 0), [conversations]);
  const inboxUnread = useInboxUnread(store);
  const waiting = useWaitingTopics(store, ready);

  useEffect(() => {
    document.title = unread > 0 ? `(${unread}) ${t('app.name')}` : t('app.name');
  }, [unread, t]);

  const activeId = route.name === 'chat' ? route.id : null;
  useEffect(() => {
    if (ready) void store.open(activeId);
  }, [store, ready, activeId]);

  const view = route.name === 'chat' ? 'chat' : route.name;

  return (
    <div className="app" data-view={view} data-testid="shell" data-transport={transport}>
      <a className="skip-link" href="#main">
        {t('app.skip')}
      </a>
      <header className="topbar">
        <div className="topbar-brand">
          <Logo />
          <span className="brand">{t('app.name')}</span>
        </div>
        {me && (
          <div className="me">
            {/* Said once to screen readers (an aria-label on a plain div is not read reliably). */}
            <span className="visually-hidden">{t('me.label', { name: me.name, role: roleLabel(me.role, t) })}</span>
            <span className={`avatar small role-${me.role}`} aria-hidden="true">
              {initials(me.name)}
            </span>
            <span className="me-text" aria-hidden="true">
              <span className="me-name">{me.name}</span>
              <span className="muted small">{roleLabel(me.role, t)}</span>
            </span>
          </div>
        )}
        <LangSwitch />
        <button type="button" className="ghost" onClick={onSignOut}>
          {t('signout')}
        </button>
      </header>
      <ConnectionBanner store={store} onSignOut={onSignOut} />
      <div className="body">
        <nav className="rail" aria-label={t('nav.main')}>
          <NavLink route={{ name: 'chats' }} current={route.name === 'chats' || route.name === 'chat'} icon={<ChatIcon />} label={t('nav.chats')} count={unread} testId="nav-chats" />
          <NavLink route={{ name: 'consultations' }} current={route.name === 'consultations'} icon={<StethoscopeIcon />} label={t('nav.consultations')} count={waiting} countLabel={t('nav.waiting', { count: waiting })} testId="nav-consultations" />
          <NavLink route={{ name: 'inbox' }} current={route.name === 'inbox'} icon={<BellIcon />} label={t('nav.inbox')} count={inboxUnread} testId="nav-inbox" />
          <DeskNavLink store={store} current={route.name === 'desk'} />
        </nav>
        <main id="main" className="content" tabIndex={-1}>
          {!ready ? (
            <p className="placeholder" role="status">
              {t('conn.connecting')}
            </p>
          ) : route.name === 'consultations' ? (
            <Consultations store={store} />
          ) : route.name === 'inbox' ? (
            <Inbox store={store} />
          ) : route.name === 'desk' ? (
            <DeskConsole store={store} />
          ) : (
            <div className="split">
              <ConversationList store={store} activeId={activeId} />
              {activeId ? (
                <ChatView key={activeId} store={store} conversationId={activeId} onBack={() => navigate('/')} />
              ) : (
                <section className="chat chat-empty" aria-label={t('chat.log')}>
                  <p className="placeholder">{t('chat.choose')}</p>
                </section>
              )}
            </div>
          )}
        </main>
      </div>
      <Toasts store={store} />
      {ready && <CallLayer store={store} />}
    </div>
  );
}

/** For the care team: how many consultations wait for a first reply. */
function useWaitingTopics(store: Store, ready: boolean): number {
  const me = useStore(store, (s) => s.me);
  const version = useStore(store, (s) => s.topicsVersion);
  const careTeam = me !== null && me.role !== 'patient';
  const [waiting, setWaiting] = useState(0);
  useEffect(() => {
    if (!ready || !careTeam) return;
    let cancelled = false;
    store.client.topics.counts().then(
      (c) => {
        if (!cancelled) setWaiting(c.unreplied);
      },
      () => undefined,
    );
    return () => {
      cancelled = true;
    };
  }, [store, ready, careTeam, version]);
  return careTeam ? waiting : 0;
}

function NavLink({ route, current, icon, label, count, countLabel, testId }: { route: Route; current: boolean; icon: React.ReactNode; label: string; count: number; countLabel?: string; testId: string }) {
  const { t } = useI18n();
  return (
    <a href={routePath(route)} onClick={onLinkClick} aria-current={current ? 'page' : undefined} className="nav-link" data-testid={testId}>
      {icon}
      <span className="nav-label">{label}</span>
      {count > 0 && (
        <span className="badge" data-testid={`${testId}-badge`}>
          <span aria-hidden="true">{count > 99 ? '99+' : count}</span>
          <span className="visually-hidden">{countLabel ?? t('nav.unread', { count })}</span>
        </span>
      )}
    </a>
  );
}

/** Offline, reconnecting, or stopped for good: said at the top, politely. */
function ConnectionBanner({ store, onSignOut }: { store: Store; onSignOut: () => void }) {
  const { t } = useI18n();
  const online = useStore(store, (s) => s.online);
  const connection = useStore(store, (s) => s.connection);
  const everOpened = useStore(store, (s) => s.everOpened);
  const closedBy = useStore(store, (s) => s.closedBy);
  const elsewhere = useStore(store, (s) => s.elsewhere);

  let text: string | null = null;
  let action: 'retry' | 'signin' | null = null;
  let kind = 'warn';
  if (!online) text = t('conn.offline');
  else if (closedBy) {
    const auth = closedBy.code.startsWith('auth.') || closedBy.code === 'user.disabled';
    text = auth ? t('conn.expired') : closedBy.code === 'connection.replaced' ? t('conn.replaced') : t('conn.closed', { reason: closedBy.message });
    action = auth ? 'signin' : 'retry';
    kind = 'error';
  } else if (connection === 'reconnecting' || (connection !== 'open' && everOpened)) text = t('conn.reconnecting');
  else if (connection === 'connecting') text = t('conn.connecting');

  return (
    <div className="banner-slot" role="status" aria-live="polite">
      {!text && elsewhere !== null && (
        <div className="banner info" data-testid="elsewhere-banner">
          <span>{t('conn.elsewhere', { device: hasKey(`platform.${elsewhere}`) ? t(`platform.${elsewhere}` as MsgKey) : elsewhere })}</span>
          <button type="button" onClick={() => store.dismissElsewhere()}>
            {t('dismiss')}
          </button>
        </div>
      )}
      {text && (
        <div className={`banner ${kind}`} data-testid="connection-banner" data-state={online ? connection : 'offline'}>
          <OfflineIcon />
          <span>{text}</span>
          {action === 'retry' && (
            <button type="button" onClick={() => store.reconnect()}>
              {t('conn.retry')}
            </button>
          )}
          {action === 'signin' && (
            <button type="button" onClick={onSignOut}>
              {t('conn.signIn')}
            </button>
          )}
        </div>
      )}
    </div>
  );
}

function Toasts({ store }: { store: Store }) {
  const { t } = useI18n();
  const toasts = useStore(store, (s) => s.toasts);
  return (
    <div className="toasts" role="alert" aria-live="assertive">
      {toasts.map((x) => (
        <div key={x.id} className="toast">
          <span>{t('error.generic', { reason: x.text })}</span>
          <button type="button" className="ghost small" onClick={() => store.dismiss(x.id)} aria-label={t('dismiss')}>
            ×
          </button>
        </div>
      ))}
    </div>
  );
}
