/**
 * One conversation: header (presence, typing, pin), the current consultation, the history
 * (infinite scroll upwards), and the composer. The user's own messages show pending / sent /
 * read / failed (with retry); they can recall a message for two minutes after sending it.
 */
import { Fragment, useEffect, useLayoutEffect, useRef, useState } from 'react';
import { conversationTitle, MessageTypes, type Participant } from '@careline/sdk';
import { useI18n } from '../i18n.ts';
import { clock, dayLabel, DEFAULT_END_NOTICE, fullTime, initials, isRecallNotice, sameDay, shortTime, str, TOPIC_TYPES } from '../format.ts';
import { useStore, type Store, type UiMessage } from '../store.ts';
import { AlertIcon, BackIcon, CheckIcon, ClockIcon, PinIcon } from './Icons.tsx';
import { MessageContent } from './MessageContent.tsx';
import { TopicBar } from './TopicBar.tsx';
import { Composer } from './Composer.tsx';
import { CallButtons } from '../calls/CallButtons.tsx';

/** The server's default recall window. */
const RECALL_WINDOW_MS = 120_000;
const PHONE = '(max-width: 760px)';

/** Whether the screen is phone-sized (one pane at a time), following the window's size. */
function usePhone(): boolean {
  const [phone, setPhone] = useState(() => window.matchMedia(PHONE).matches);
  useEffect(() => {
    const mq = window.matchMedia(PHONE);
    const on = () => setPhone(mq.matches);
    mq.addEventListener('change', on);
    return () => mq.removeEventListener('change', on);
  }, []);
  return phone;
}

/** The type-10 notice written with the type-7 end of the same consultation (one transaction). */
function isEndNoticeOf(notice: UiMessage | undefined, end: UiMessage | undefined): boolean {
  if (!notice || !end || notice.type !== MessageTypes.TOPIC_END_NOTICE || end.type !== MessageTypes.TOPIC_END) return false;
  const a = (notice.content?.data ?? {}) as Record<string, unknown>;
  const b = (end.content?.data ?? {}) as Record<string, unknown>;
  return notice.content?.event === 'topic.end_notice' && a.topic_id !== undefined && a.topic_id === b.topic_id;
}

export function ChatView({ store, conversationId, onBack }: { store: Store; conversationId: string; onBack: () => void }) {
  const { t, lang } = useI18n();
  const me = useStore(store, (s) => s.me);
  const conv = useStore(store, (s) => s.conversations.find((c) => c.id === conversationId));
  const msgs = useStore(store, (s) => s.messages[conversationId]);
  const participants = useStore(store, (s) => s.participants[conversationId]);
  const presence = useStore(store, (s) => s.presence);
  const typing = useStore(store, (s) => s.typing[conversationId]);
  // Presence is only known while connected.
  const connected = useStore(store, (s) => s.connection === 'open');
  useStore(store, (s) => s.names);

  const others = (participants ?? []).filter((p) => p.user_id !== me?.id);
  const peer = others.length === 1 ? others[0] : undefined;
  // Until the participants are known, the stored name may name the viewer: wait for them.
  const name = participants ? conversationTitle(conv, participants, me?.id, conversationId) : '…';
  const peerPresence = peer && connected ? presence[peer.user_id] : undefined;
  const typingNames = Object.keys(typing ?? {}).map((id) => store.nameOf(id));
  const group = others.length > 1;
  const phone = usePhone();
  // A patient writes inside a consultation: once it has ended, until she starts another.
  // (The server would accept more; the care team reads the conversation by consultation.)
  const topic = useStore(store, (s) => s.topics[conversationId]);
  const closedForMe = me?.role === 'patient' && !!topic && topic.status !== 0;
  const Heading = phone ? 'h1' : 'h2';

  const logRef = useRef<HTMLDivElement>(null);
  const atBottom = useRef(true);
  const firstId = useRef<string | null>(null);
  const prevHeight = useRef(0);
  const items = msgs?.items ?? [];

  const onScroll = () => {
    const el = logRef.current;
    if (!el) return;
    atBottom.current = el.scrollHeight - el.scrollTop - el.clientHeight < 80;
    if (el.scrollTop < 150 && msgs?.hasMore && !msgs.loading) void store.loadOlder(conversationId);
  };

  // Keep the view where the reader is: at the bottom for new messages, in place when older ones are prepended.
  useLayoutEffect(() => {
    const el = logRef.current;
    if (!el) return;
    const first = items.find((m) => m.status === undefined)?.id ?? null;
    const prepended = firstId.current !== null && first !== firstId.current && items.some((m) => m.id === firstId.current);
    if (prepended) el.scrollTop += el.scrollHeight - prevHeight.current;
    else if (atBottom.current || items[items.length - 1]?.status === 'pending') el.scrollTop = el.scrollHeight;
    firstId.current = first;
    prevHeight.current = el.scrollHeight;
    // Not enough to scroll yet: fetch more so the reader can go back.
    if (msgs?.loaded && msgs.hasMore && !msgs.loading && el.scrollHeight <= el.clientHeight + 10) void store.loadOlder(conversationId);
  }, [items, msgs?.loaded, msgs?.hasMore, msgs?.loading, store, conversationId]);

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Escape' && window.matchMedia('(max-width: 760px)').matches) onBack();
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [onBack]);

  const readBy = (m: UiMessage) => others.length > 0 && others.every((p) => p.read_seq >= m.seq);

  let subtitle: string;
  if (typingNames.length > 0) subtitle = t('chat.typing', { name: typingNames.join(', ') });
  else if (peerPresence) subtitle = peerPresence.online ? t('chat.online') : peerPresence.last_seen ? t('chat.lastSeen', { time: shortTime(peerPresence.last_seen, lang, t) }) : t('chat.offline');
  else if (group) subtitle = t('chat.participants', { count: others.length + 1 });
  else subtitle = '';

  return (
    <section className="chat" aria-labelledby="chat-title" data-testid="chat">
      <header className="chat-head">
        <button type="button" className="icon-button back" onClick={onBack} aria-label={t('chat.back')}>
          <BackIcon />
        </button>
        <span className={`avatar${peer ? ` role-${peer.user_role}` : ' role-group'}`} aria-hidden="true">
          {initials(peer?.name ?? name)}
          {peerPresence && <span className={`presence-dot ${peerPresence.online ? 'on' : 'off'}`} data-testid="presence-dot" data-online={String(peerPresence.online)} />}
        </span>
        <div className="chat-title">
          <Heading id="chat-title">{name}</Heading>
          <p className={`muted small${typingNames.length ? ' typing' : ''}`} data-testid="chat-subtitle" aria-live="polite">
            {peerPresence && typingNames.length === 0 && <span className="visually-hidden">{peer?.name}: </span>}
            {subtitle}
          </p>
        </div>
        <CallButtons store={store} conversationId={conversationId} />
        {conv && (
          <button
            type="button"
            className={`icon-button${conv.sticky ? ' on' : ''}`}
            aria-pressed={conv.sticky}
            onClick={() => void store.setSticky(conv.id, !conv.sticky)}
            title={conv.sticky ? t('list.unpin') : t('list.pin')}
          >
            <PinIcon size={18} />
            <span className="visually-hidden">{t('list.pin')}</span>
          </button>
        )}
      </header>
      <TopicBar store={store} conversationId={conversationId} />
      <div className="log" ref={logRef} onScroll={onScroll} role="log" aria-label={t('chat.log')} aria-busy={msgs?.loading ?? true} tabIndex={0} data-testid="message-log">
        <div className="log-top">
          {msgs?.loading ? (
            <p className="muted small">{t('chat.loadingOlder')}</p>
          ) : msgs?.hasMore ? (
            <button type="button" className="ghost small" onClick={() => void store.loadOlder(conversationId)}>
              {t('chat.loadOlder')}
            </button>
          ) : msgs?.loaded ? (
            <p className="muted small">{t('chat.beginning')}</p>
          ) : msgs?.error ? (
            <p className="alert">{msgs.error}</p>
          ) : null}
        </div>
        {items.map((m, i) => {
          const prev = items[i - 1];
          const next = items[i + 1];
          const newDay = !prev || !sameDay(prev.created_at, m.created_at);
          // A consultation's end and its closing notice are one line.
          if (isEndNoticeOf(m, prev)) return null;
          const endNote = isEndNoticeOf(next, m) ? str(next!.content?.text) : undefined;
          // Messages of one sender in a row share one avatar (on the last) and one name (on the first).
          const joins = (a: UiMessage | undefined, b: UiMessage | undefined) =>
            !!a && !!b && a.sender_id === b.sender_id && a.content !== null && b.content !== null && !isSystem(a) && !isSystem(b) && sameDay(a.created_at, b.created_at) && Math.abs(b.created_at - a.created_at) < 5 * 60_000;
          return (
            <Fragment key={m.id}>
              {newDay && (
                <p className="day" role="separator">
                  <span>{dayLabel(m.created_at, lang)}</span>
                </p>
              )}
              <MessageRow store={store} m={m} mine={m.sender_id === me?.id} read={readBy(m)} showSender={group && !joins(prev, m)} showAvatar={!joins(m, next)} participants={participants} note={endNote === DEFAULT_END_NOTICE ? undefined : endNote} />
            </Fragment>
          );
        })}
      </div>
      <p className="typing-line" aria-hidden="true">
        {typingNames.length > 0 ? t('chat.typing', { name: typingNames.join(', ') }) : ''}
      </p>
      <Composer store={store} conversationId={conversationId} closed={closedForMe} />
    </section>
  );
}

function isSystem(m: UiMessage): boolean {
  return m.type === MessageTypes.SYSTEM || TOPIC_TYPES.has(m.type);
}

function MessageRow({ store, m, mine, read, showSender, showAvatar, participants, note }: { store: Store; m: UiMessage; mine: boolean; read: boolean; showSender: boolean; showAvatar: boolean; participants: Participant[] | undefined; note?: string | undefined }) {
  const { t, lang } = useI18n();
  const me = store.state.me?.id;
  const [confirmRecall, setConfirmRecall] = useState(false);

  // Recalled: the tombstone stands where the message was; the separate notice is not repeated.
  if (m.content === null) {
    return (
      <p className="system recalled" data-seq={m.seq}>
        {mine ? t('msg.youRecalled') : t('msg.recalledBy', { name: store.nameOf(m.sender_id) })}
      </p>
    );
  }
  if (isRecallNotice(m)) return null;
  if (isSystem(m)) return <SystemLine m={m} note={note} />;

  const sender = participants?.find((p) => p.user_id === m.sender_id);
  const senderName = sender?.name ?? store.nameOf(m.sender_id);
  const canRecall = mine && m.status === undefined && Date.now() - m.created_at < RECALL_WINDOW_MS && m.sender_id === me;

  return (
    <article className={`msg${mine ? ' mine' : ''}${m.status ? ` ${m.status}` : ''}${showAvatar ? '' : ' joined'}`} data-seq={m.seq || undefined} data-status={m.status ?? (mine ? (read ? 'read' : 'sent') : undefined)} aria-label={mine ? t('chat.you') : senderName}>
      {!mine &&
        (showAvatar ? (
          <span className={`avatar small role-${sender?.user_role ?? 'group'}`} aria-hidden="true">
            {initials(senderName)}
          </span>
        ) : (
          <span className="avatar-space" aria-hidden="true" />
        ))}
      <div className="msg-col">
        {showSender && !mine && <p className="sender">{senderName}</p>}
        <div className="bubble">
          <MessageContent type={m.type} content={m.content} files={store.client.files} />
        </div>
        <div className="meta">
          <time dateTime={new Date(m.created_at).toISOString()} title={fullTime(m.created_at, lang)}>
            {clock(m.created_at, lang)}
          </time>
          {mine && <Status m={m} read={read} store={store} />}
          {canRecall && !confirmRecall && (
            <button type="button" className="link-button recall" onClick={() => setConfirmRecall(true)}>
              {t('msg.recall')}
            </button>
          )}
          {canRecall && confirmRecall && (
            <span className="confirm small" role="group" aria-label={t('msg.recall')}>
              <span>{t('msg.recallConfirm')}</span>
              <button
                type="button"
                className="danger small"
                autoFocus
                onClick={() => {
                  setConfirmRecall(false);
                  void store.recall(m);
                }}
              >
                {t('msg.recallYes')}
              </button>
              <button type="button" className="ghost small" onClick={() => setConfirmRecall(false)}>
                {t('topic.cancel')}
              </button>
            </span>
          )}
        </div>
      </div>
    </article>
  );
}

function Status({ m, read, store }: { m: UiMessage; read: boolean; store: Store }) {
  const { t } = useI18n();
  if (m.status === 'pending') {
    return (
      <span className="status pending">
        <ClockIcon /> {t('status.pending')}
      </span>
    );
  }
  if (m.status === 'failed') {
    return (
      <span className="status failed" title={m.error}>
        <AlertIcon /> {t('status.failed')}
        <button type="button" className="link-button" onClick={() => store.retry(m)}>
          {t('status.retry')}
        </button>
        <button type="button" className="link-button" onClick={() => store.discard(m)}>
          {t('status.discard')}
        </button>
      </span>
    );
  }
  return (
    <span className={`status ${read ? 'read' : 'sent'}`}>
      <CheckIcon double={read} /> {read ? t('status.read') : t('status.sent')}
    </span>
  );
}

/** Topic start/end/enter and other system notices: a centred line. */
function SystemLine({ m, note }: { m: UiMessage; note?: string | undefined }) {
  const { t, lang } = useI18n();
  const c = m.content ?? {};
  const data = (c.data ?? {}) as Record<string, unknown>;
  let text: string;
  switch (m.type) {
    case MessageTypes.TOPIC_START:
      text = t('msg.topicStart', { name: str(data.name) ?? str(c.text) ?? '' });
      break;
    case MessageTypes.TOPIC_END:
      // The closing notice's own text, if the care team wrote one, goes on the same line.
      text = note ? `${t('msg.topicEnd')} · ${note}` : t('msg.topicEnd');
      break;
    case MessageTypes.TOPIC_ENTER:
      text = t('msg.topicEnter');
      break;
    default:
      text = str(c.text) ?? t('msg.system');
  }
  return (
    <p className={`system type-${m.type}`} data-seq={m.seq}>
      <span>{text}</span> <time dateTime={new Date(m.created_at).toISOString()}>{clock(m.created_at, lang)}</time>
    </p>
  );
}
